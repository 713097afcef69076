// How an asynchronous invocation's InputLocation body is read against SMKIT_LOCAL_BODY_MEMORY_MB:
// readAtMost on streams made here, so the budget can be read between chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyBudget } from '../../server/body-budget.js';
import { NoRoomYet, readAtMost } from './async-inference.js';

/** Yields `parts` in order, noting the bytes `budget` holds as each is about to be handed over; throws `failAfter` past the last. */
async function* body(parts: readonly string[], budget: BodyBudget, heldAt: number[], failAfter?: Error): AsyncGenerator<Uint8Array> {
  for (const p of parts) {
    heldAt.push(budget.held);
    yield Buffer.from(p);
  }
  if (failAfter) throw failAfter;
}

test('with the length S3 announced, all of it is taken from the budget before the first byte is read, and the body comes whole and in order', async () => {
  const budget = new BodyBudget(100);
  const heldAt: number[] = [];
  const out = await readAtMost(body(['abc', 'defg', 'h'], budget, heldAt), 1_000, 's3://in/x', budget, 8);
  assert.equal(out.toString(), 'abcdefgh');
  // Two inputs read at once cannot both allocate their length while only one of them fits.
  assert.deepEqual(heldAt, [8, 8, 8]);
  assert.equal(budget.held, 8, 'the caller holds the body\'s bytes');
});

test('a body longer than announced is read whole, each byte past the length taken as it comes; a shorter one gives the rest back', async () => {
  const budget = new BodyBudget(100);
  const heldAt: number[] = [];
  const longer = await readAtMost(body(['abc', 'defg'], budget, heldAt), 1_000, 's3://in/x', budget, 4);
  assert.equal(longer.toString(), 'abcdefg');
  assert.deepEqual(heldAt, [4, 4]);
  assert.equal(budget.held, 7);
  budget.give(7);
  const shorter = await readAtMost(body(['ab'], budget, []), 1_000, 's3://in/x', budget, 6);
  assert.equal(shorter.toString(), 'ab');
  assert.equal(budget.held, 2);
});

test('a length the budget has no room for now is read chunk by chunk until it does not fit: NoRoomYet, and every byte given back', async () => {
  const budget = new BodyBudget(10);
  assert.ok(budget.take(5));
  await assert.rejects(readAtMost(body(['abc', 'def'], budget, []), 1_000, 's3://in/x', budget, 6), (err: unknown) => err instanceof NoRoomYet && err.needs === 6);
  assert.equal(budget.held, 5, 'only what another body holds');
});

test('a stream that fails part-way gives back the whole announced length', async () => {
  const budget = new BodyBudget(100);
  await assert.rejects(readAtMost(body(['abc'], budget, [], new Error('socket reset')), 1_000, 's3://in/x', budget, 9), /socket reset/);
  assert.equal(budget.held, 0);
});

test('without a budget, or with no length, the body is read as it comes', async () => {
  const budget = new BodyBudget(100);
  assert.equal((await readAtMost(body(['ab', 'cd'], budget, []), 1_000, 's3://in/x', undefined, 4)).toString(), 'abcd');
  assert.equal((await readAtMost(body(['ab', 'cd'], budget, []), 1_000, 's3://in/x', budget)).toString(), 'abcd');
  assert.equal(budget.held, 4);
  await assert.rejects(readAtMost(body(['abc', 'def'], budget, []), 5, 's3://in/x', budget, 4), /holds more than 5 bytes/);
  assert.equal(budget.held, 4, 'the refused body gave its bytes back');
});
