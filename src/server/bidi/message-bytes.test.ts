import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { MessageBytes } from './message-bytes.js';
import { BodyBudget } from '../body-budget.js';

test('messages that arrive once the stream is closed (its close completing) are not kept track of: a client sending tiny frames meanwhile cannot grow the memory', () => {
  const budget = new BodyBudget(1024 * 1024);
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
  // An empty frame is 6 bytes: 4 million of them are 24 MB a client sends in seconds, and ws reads
  // them while it waits (up to 30 s) for the client's close frame. Before, each left an entry.
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 4_000_000; i++) bytes.messageArrived();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 8 * 1024 * 1024, `the heap grew by ${grown} bytes`);
  bytes.messageRead();
  assert.equal(budget.held, 0);
});
