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

test('whenCancelled listeners hear the reason once: at cancel, at once when already cancelled, or when the client leaves', () => {
  const c = new Cancellation();
  const heard: unknown[] = [];
  c.whenCancelled((r) => heard.push(r));
  const reason = new Error('timed out');
  c.cancel(reason);
  c.cancel(new Error('again'));
  c.whenCancelled((r) => heard.push(r));
  assert.deepEqual(heard, [reason, reason]);

  const res = new FakeResponse();
  const gone = new Cancellation(res);
  const codes: string[] = [];
  gone.whenCancelled((r) => codes.push((r as ToolkitError).code));
  assert.equal(res.listenerCount('close'), 1);
  res.close();
  assert.deepEqual(codes, ['ERR_CLIENT_GONE']);

  const answered = new FakeResponse();
  const done = new Cancellation(answered);
  done.whenCancelled(() => codes.push('unexpected'));
  void done.signal;
  assert.equal(answered.listenerCount('close'), 1, 'one listener on the connection, however many ask');
  answered.writableFinished = true;
  answered.close();
  assert.equal(done.cancelled, false);
  assert.deepEqual(codes, ['ERR_CLIENT_GONE']);
});
