import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { settledWithin, untilAborted } from './settling.js';

/** Runs `body`, then fails if a promise rejection went unhandled meanwhile. */
async function noUnhandledRejection(body: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const note = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', note);
  try {
    await body();
    // Node reports unhandled rejections once the microtasks have run: a turn of the loop later.
    await nextTurn();
    await nextTurn();
  } finally {
    process.off('unhandledRejection', note);
  }
  assert.deepEqual(unhandled, []);
}

test('untilAborted: a promise that settles first gives its value or its error', async () => {
  const signal = new AbortController().signal;
  assert.equal(await untilAborted(Promise.resolve(7), signal), 7);
  await assert.rejects(untilAborted(Promise.reject(new Error('S3 said no')), signal), /S3 said no/);
});

test('untilAborted: an abort rejects at once with its reason, and the promise rejecting after it is handled', async () => {
  await noUnhandledRejection(async () => {
    const stop = new AbortController();
    let fail!: (err: Error) => void;
    const request = new Promise<never>((_, reject) => (fail = reject));
    const waiting = untilAborted(request, stop.signal);
    stop.abort(new Error('the job was stopped'));
    await assert.rejects(waiting, /the job was stopped/);
    fail(new Error('Request aborted'));
  });
});

test('untilAborted: a signal already aborted rejects with its reason, and the request started with it, rejecting after, is handled', async () => {
  await noUnhandledRejection(async () => {
    const signal = AbortSignal.abort(new Error('the job was stopped'));
    let fail!: (err: Error) => void;
    const request = new Promise<never>((_, reject) => (fail = reject));
    await assert.rejects(untilAborted(request, signal), /the job was stopped/);
    fail(new Error('Request aborted'));
  });
});

test('untilAborted: a value that comes after the abort goes to discard (a body no one reads is closed); one that came before goes to the caller only', async () => {
  const discarded: string[] = [];
  const discard = (late: string): void => void discarded.push(late);
  const stop = new AbortController();
  let answer!: (value: string) => void;
  const waiting = untilAborted(new Promise<string>((resolve) => (answer = resolve)), stop.signal, discard);
  stop.abort(new Error('the job was stopped'));
  await assert.rejects(waiting, /the job was stopped/);
  answer('late body');
  const early = new AbortController();
  assert.equal(await untilAborted(Promise.resolve('body'), early.signal, discard), 'body');
  early.abort();
  await untilAborted(Promise.resolve('answered to a stopped job'), AbortSignal.abort(), discard).catch(() => {});
  await nextTurn();
  assert.deepEqual(discarded, ['late body', 'answered to a stopped job']);
});

test('settledWithin: how the promise settled, or undefined when it has not in time', async () => {
  assert.deepEqual(await settledWithin(Promise.resolve('a'), 1_000), { ok: true, value: 'a' });
  const err = new Error('b');
  assert.deepEqual(await settledWithin(Promise.reject(err), 1_000), { ok: false, error: err });
  assert.equal(await settledWithin(new Promise(() => {}), 1), undefined);
});
