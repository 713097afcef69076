import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { MessageBytes } from './message-bytes.js';
import { BodyBudget } from '../body-budget.js';

/** A budget that counts what is given back: each message kept track of gives its bytes (maybe 0) once read. */
class CountingBudget extends BodyBudget {
  gives = 0;
  override give(bytes: number): void {
    this.gives++;
    super.give(bytes);
  }
}

test('messages that arrive once the stream is closed (its close completing) are not kept track of: a client sending tiny frames meanwhile cannot grow the memory', () => {
  const budget = new CountingBudget(1024 * 1024);
  const socket = new EventEmitter();
  let open = true;
  const bytes = new MessageBytes(budget, socket, () => undefined, () => open);
  socket.emit('data', Buffer.alloc(100));
  bytes.messageArrived();
  assert.equal(budget.held, 100);
  open = false;
  // The first chunk after the close gives back every byte the stream held.
  socket.emit('data', Buffer.alloc(6));
  assert.equal(budget.held, 0);
  const gives = budget.gives;
  // An empty frame is 6 bytes: millions of them are what a client sends in seconds, and ws reads them
  // while it waits (up to 30 s) for the client's close frame. Before, each left an entry (0 bytes),
  // which reading the messages would give back one by one.
  for (let i = 0; i < 1000; i++) bytes.messageArrived();
  for (let i = 0; i < 1000; i++) bytes.messageRead();
  assert.equal(budget.gives - gives, 0, 'no message after the close was kept track of');
  assert.equal(budget.held, 0);
});
