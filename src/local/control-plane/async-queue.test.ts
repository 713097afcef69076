import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../../../test/helpers/until.js';
import { AsyncInvocationQueue, AsyncQueueFullError, MAX_QUEUED_ASYNC_INVOCATIONS, type QueuedInvocation } from './async-inference.js';

/** A queued request the test finishes by hand; it records whether it ran or expired. */
function job(name: string, log: string[], expiresAt = Number.POSITIVE_INFINITY): QueuedInvocation & { finish(): Promise<void> } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    expiresAt,
    run: () => {
      log.push(`run ${name}`);
      return done;
    },
    expire: async () => {
      log.push(`expire ${name}`);
    },
    finish: async () => {
      finish();
      // Let the queue's settle callbacks start the next request.
      await done;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

test('the queue runs at most slots() requests at once, in arrival order, and starts the next as one ends', async () => {
  let slots = 2;
  const queue = new AsyncInvocationQueue('ep', () => slots);
  const log: string[] = [];
  const jobs = ['a', 'b', 'c', 'd'].map((n) => job(n, log));
  for (const j of jobs) queue.add(j);
  assert.deepEqual(log, ['run a', 'run b']);
  assert.deepEqual([queue.running, queue.waiting], [2, 2]);
  await jobs[1]!.finish();
  assert.deepEqual(log, ['run a', 'run b', 'run c']);
  // More instances (a scale-out) give more slots from the next turn on.
  slots = 3;
  await jobs[0]!.finish();
  assert.deepEqual(log, ['run a', 'run b', 'run c', 'run d']);
  assert.deepEqual([queue.running, queue.waiting], [2, 0]);
  await jobs[2]!.finish();
  await jobs[3]!.finish();
  assert.deepEqual([queue.running, queue.waiting], [0, 0]);
});

test('a request whose RequestTTLSeconds passed while it waited is expired instead of run; one still in time runs', async () => {
  let now = 0;
  const queue = new AsyncInvocationQueue('ep', () => 1, () => now);
  const log: string[] = [];
  const first = job('first', log);
  queue.add(first);
  queue.add(job('stale', log, 1_000));
  const fresh = job('fresh', log, 5_000);
  queue.add(fresh);
  now = 2_000;
  await first.finish();
  assert.deepEqual(log, ['run first', 'expire stale', 'run fresh']);
  await fresh.finish();
});

test('with slots() at 0 (scaled to zero) requests wait; they start once capacity is back, without a new request to wake the queue', async () => {
  let slots = 0;
  let looks = 0;
  const queue = new AsyncInvocationQueue('ep', () => (looks++, slots), Date.now, 5);
  const log: string[] = [];
  const a = job('a', log);
  const b = job('b', log);
  queue.add(a);
  queue.add(b);
  // The queue looked for capacity several times on its own (its wake timer) and found none.
  await until('the queue to look for capacity again', () => looks >= 5, { timeoutMs: 5_000, intervalMs: 5 });
  assert.deepEqual(log, []);
  assert.deepEqual([queue.running, queue.waiting], [0, 2]);
  slots = 1;
  await until('the first request to start', () => log.length === 1, { timeoutMs: 5_000, intervalMs: 5 });
  assert.deepEqual(log, ['run a']);
  await a.finish();
  await b.finish();
  assert.deepEqual(log, ['run a', 'run b']);
  assert.deepEqual([queue.running, queue.waiting], [0, 0]);
});

test('at 0 slots a request is expired once its RequestTTLSeconds pass, while one still in time keeps waiting', async () => {
  let now = 0;
  const queue = new AsyncInvocationQueue('ep', () => 0, () => now, 5);
  const log: string[] = [];
  queue.add(job('short', log, 1_000));
  queue.add(job('long', log, 60_000));
  now = 2_000;
  await until('the short request to expire', () => log.length === 1, { timeoutMs: 5_000, intervalMs: 5 });
  assert.deepEqual(log, ['expire short']);
  assert.deepEqual([queue.running, queue.waiting], [0, 1]);
  queue.close();
  assert.equal(queue.waiting, 0);
});

test('a request past its RequestTTLSeconds is expired while every slot stays busy: it leaves the queue (and the backlog) without waiting for a turn', async () => {
  let now = 0;
  const queue = new AsyncInvocationQueue('ep', () => 1, () => now, 5);
  const log: string[] = [];
  const long = job('long', log);
  queue.add(long);
  queue.add(job('stale', log, 1_000));
  now = 2_000;
  await until('the waiting request to expire', () => log.length === 2, { timeoutMs: 5_000, intervalMs: 5 });
  assert.deepEqual(log, ['run long', 'expire stale']);
  assert.deepEqual([queue.running, queue.waiting, queue.oldestWaitSeconds()], [1, 0, 0]);
  await long.finish();
});

test('a full queue refuses the next request and keeps the ones it holds', () => {
  const queue = new AsyncInvocationQueue('ep', () => 1);
  const log: string[] = [];
  queue.add(job('running', log));
  for (let i = 0; i < MAX_QUEUED_ASYNC_INVOCATIONS; i++) queue.add(job(String(i), log));
  assert.throws(() => queue.add(job('one too many', log)), (err: Error) => err instanceof AsyncQueueFullError && /retry once some have run/.test(err.message));
  assert.deepEqual([queue.running, queue.waiting], [1, MAX_QUEUED_ASYNC_INVOCATIONS]);
});
