import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Cancellation, type ClientConnection } from './cancellation.js';
import { ToolkitError } from '../errors/catalogue.js';

/** A stand-in for a `ServerResponse`: destroyed when its connection closes, finished once answered. */
class FakeResponse extends EventEmitter implements ClientConnection {
  destroyed = false;
  writableFinished = false;
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

test('a cancellation starts uncancelled; the first reason wins and aborts the signal', () => {
  const c = new Cancellation();
  assert.equal(c.cancelled, false);
  assert.equal(c.reason, undefined);
  const signal = c.signal;
  assert.equal(signal.aborted, false);
  const first = new Error('first');
  c.cancel(first);
  c.cancel(new Error('second'));
  assert.equal(c.cancelled, true);
  assert.equal(c.reason, first);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, first);
});

test('a signal asked for after the cancellation is already aborted, with its reason', () => {
  const c = new Cancellation();
  const reason = new Error('late');
  c.cancel(reason);
  assert.equal(c.signal.aborted, true);
  assert.equal(c.signal.reason, reason);
  assert.equal(c.signal, c.signal);
});

test('a client whose connection was destroyed before its answer counts as gone (ERR_CLIENT_GONE)', () => {
  const res = new FakeResponse();
  const c = new Cancellation(res);
  assert.equal(c.cancelled, false);
  res.destroyed = true;
  assert.equal(c.cancelled, true);
  assert.ok(c.reason instanceof ToolkitError);
  assert.equal(c.reason.code, 'ERR_CLIENT_GONE');
  assert.equal(c.reason.status, 499);
});

test('a connection closed after the answer was sent is not a cancellation', () => {
  const res = new FakeResponse();
  const c = new Cancellation(res);
  res.writableFinished = true;
  res.destroyed = true;
  assert.equal(c.cancelled, false);
});

test('the connection is listened to only once user code asks for the signal, which then aborts when the client leaves', () => {
  const res = new FakeResponse();
  const c = new Cancellation(res);
  assert.equal(res.listenerCount('close'), 0);
  const signal = c.signal;
  assert.equal(res.listenerCount('close'), 1);
  res.close();
  assert.equal(signal.aborted, true);
  assert.equal((signal.reason as ToolkitError).code, 'ERR_CLIENT_GONE');
});

test('Cancellation.signalOf gives a signal that never aborts when there is no cancellation', () => {
  assert.equal(Cancellation.signalOf(undefined).aborted, false);
  const c = new Cancellation();
  assert.equal(Cancellation.signalOf(c), c.signal);
});

test('asking for the signal twice listens to the connection once', () => {
  const res = new FakeResponse();
  const c = new Cancellation(res);
  void c.signal;
  void c.signal;
  assert.equal(res.listenerCount('close'), 1);
  res.writableFinished = true;
  res.close();
  assert.equal(c.cancelled, false, 'a connection closed after its answer is not a cancellation');
});
