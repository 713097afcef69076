import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkQueue } from './chunk-queue.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (u: Uint8Array | undefined) => Buffer.from(u ?? new Uint8Array()).toString();

test('each chunk taken is acknowledged once, whether it was waiting or arrived later', async () => {
  const flow = { consumed: 0, cancelled: 0 };
  const queue = new ChunkQueue({ consumed: () => flow.consumed++, cancel: () => flow.cancelled++ });
  const it = queue[Symbol.asyncIterator]();
  queue.push(bytes('a'));
  queue.push(bytes('b'));
  assert.equal(flow.consumed, 0, 'nothing is acknowledged before the response takes it');
  assert.equal(text((await it.next()).value), 'a');
  const waiting = it.next();
  assert.equal(text((await waiting).value), 'b');
  const later = it.next();
  queue.push(bytes('c'));
  assert.equal(text((await later).value), 'c');
  queue.end();
  assert.equal((await it.next()).done, true);
  assert.deepEqual(flow, { consumed: 3, cancelled: 0 });
});

test('return() cancels the producer at once, even while a next() waits', async () => {
  const flow = { consumed: 0, cancelled: 0 };
  const queue = new ChunkQueue({ consumed: () => flow.consumed++, cancel: () => flow.cancelled++ });
  const it = queue[Symbol.asyncIterator]();
  const pending = it.next();
  await it.return!();
  assert.equal((await pending).done, true);
  assert.equal(flow.cancelled, 1);
  queue.push(bytes('late'));
  queue.fail(new Error('late failure'));
  assert.equal((await it.next()).done, true, 'late chunks and failures are ignored after cancel');
  await it.return!();
  assert.equal(flow.cancelled, 1, 'cancelled once');
});

test('a failure reaches the consumer after the chunks before it', async () => {
  const queue = new ChunkQueue({ consumed: () => undefined, cancel: () => undefined });
  const it = queue[Symbol.asyncIterator]();
  queue.push(bytes('x'));
  queue.fail(new Error('boom'));
  assert.equal(text((await it.next()).value), 'x');
  await assert.rejects(it.next(), /boom/);
  const waiting = new ChunkQueue({ consumed: () => undefined, cancel: () => undefined });
  const w = waiting[Symbol.asyncIterator]();
  const pending = w.next();
  waiting.fail(new Error('while waiting'));
  await assert.rejects(pending, /while waiting/);
});
