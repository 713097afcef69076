import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { FrameInbox, INBOX_HIGH_WATER } from './frame-inbox.js';
import { transferable } from '../thread-protocol.js';

/** A WebSocket's message events, and whether it reads its connection. */
class FakeSocket extends EventEmitter {
  paused = false;
  pauses = 0;
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
}

test('messages wait in order; the connection stops being read at the high-water mark and resumes once half are taken', async () => {
  const socket = new FakeSocket();
  const inbox = new FrameInbox(socket);
  const it = inbox[Symbol.asyncIterator]();
  for (let i = 0; i < INBOX_HIGH_WATER - 1; i++) socket.emit('message', Buffer.from(`m${i}`), i % 2 === 1);
  assert.equal(socket.paused, false, 'below the mark');
  socket.emit('message', Buffer.from(`m${INBOX_HIGH_WATER - 1}`), (INBOX_HIGH_WATER - 1) % 2 === 1);
  assert.equal(socket.paused, true);
  const taken: { text: string; binary: boolean }[] = [];
  while (socket.paused) {
    const next = await it.next();
    taken.push({ text: Buffer.from(next.value!.data).toString(), binary: next.value!.binary });
  }
  assert.equal(taken.length, Math.ceil(INBOX_HIGH_WATER / 2), 'resumed once half were taken');
  while (taken.length < INBOX_HIGH_WATER) {
    const next = await it.next();
    taken.push({ text: Buffer.from(next.value!.data).toString(), binary: next.value!.binary });
  }
  assert.deepEqual(
    taken,
    Array.from({ length: INBOX_HIGH_WATER }, (_, i) => ({ text: `m${i}`, binary: i % 2 === 1 })),
  );
  assert.equal(socket.pauses, 1);
});

test('a reader waiting for a message gets it at once; fragments and ArrayBuffers arrive as one byte array', async () => {
  const socket = new FakeSocket();
  const it = new FrameInbox(socket)[Symbol.asyncIterator]();
  const waiting = it.next();
  socket.emit('message', [Buffer.from('ab'), Buffer.from('cd')], true);
  assert.equal(Buffer.from((await waiting).value!.data).toString(), 'abcd');
  socket.emit('message', new Uint8Array([1, 2]).buffer, true);
  assert.deepEqual([...(await it.next()).value!.data], [1, 2]);
  assert.equal(socket.paused, false);
});

test('the client closing ends the messages after those already received; nothing is read after', async () => {
  const socket = new FakeSocket();
  const it = new FrameInbox(socket)[Symbol.asyncIterator]();
  socket.emit('message', Buffer.from('last'), false);
  socket.emit('close');
  socket.emit('message', Buffer.from('after close'), false);
  assert.equal(Buffer.from((await it.next()).value!.data).toString(), 'last');
  assert.equal((await it.next()).done, true);
  const pending = new FrameInbox(new FakeSocket())[Symbol.asyncIterator]();
  const waiting = pending.next();
  await pending.return!();
  assert.equal((await waiting).done, true, 'return() releases a waiting reader');
});

test('each empty message gets a buffer of its own: moving one to the inference thread leaves the next readable', async () => {
  const socket = new FakeSocket();
  const it = new FrameInbox(socket)[Symbol.asyncIterator]();
  // ws hands every empty message the one Buffer it keeps for them.
  const shared = Buffer.alloc(0);
  socket.emit('message', shared, false);
  socket.emit('message', shared, true);
  const first = (await it.next()).value!.data;
  // What the inference worker does with a message that owns its whole buffer: it moves the buffer.
  structuredClone(first, { transfer: transferable(first) });
  const second = (await it.next()).value!.data;
  // What an invocation per message reads it as. Before, the shared buffer was detached: every later
  // empty message of every stream of the process failed here (4500 ERR_INTERNAL).
  assert.doesNotThrow(() => Buffer.from(second.buffer, second.byteOffset, second.byteLength));
  assert.doesNotThrow(() => new Uint8Array(shared.buffer), "ws's own buffer stays whole");
});
