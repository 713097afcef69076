import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { holdMessagesUntil } from './cluster-protocol.js';

/** A promise and its resolve/reject, settled by the test. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (err: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('messages sent while the code loads reach the listeners start() adds, once each, in order, before later ones', async () => {
  const channel = new EventEmitter();
  const code = deferred<string>();
  const got: unknown[] = [];
  let startedWith: string | undefined;
  const done = holdMessagesUntil(channel, code.promise, (value) => {
    startedWith = value;
    channel.on('message', (msg: unknown) => got.push(msg));
  });
  channel.emit('message', { n: 1 });
  channel.emit('message', { n: 2 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(startedWith, undefined, 'start waits for the code');
  code.resolve('mme code');
  await done;
  assert.equal(startedWith, 'mme code');
  channel.emit('message', { n: 3 });
  assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  assert.equal(channel.listenerCount('message'), 1, 'only the listener start() added is left');
});

test('nothing is held, and start() is not called, when the code fails to load', async () => {
  const channel = new EventEmitter();
  const code = deferred<string>();
  let started = false;
  const done = holdMessagesUntil(channel, code.promise, () => {
    started = true;
  });
  channel.emit('message', { n: 1 });
  code.reject(new Error('missing module'));
  await assert.rejects(done, /missing module/);
  assert.equal(started, false);
  assert.equal(channel.listenerCount('message'), 0);
});
