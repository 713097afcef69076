import { test } from 'node:test';
import assert from 'node:assert/strict';
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

test('a slots() of 0 (no instance in service yet) still runs one request at a time', () => {
  const queue = new AsyncInvocationQueue('ep', () => 0);
  const log: string[] = [];
  queue.add(job('a', log));
  queue.add(job('b', log));
  assert.deepEqual(log, ['run a']);
});

test('a full queue refuses the next request and keeps the ones it holds', () => {
  const queue = new AsyncInvocationQueue('ep', () => 1);
  const log: string[] = [];
  queue.add(job('running', log));
  for (let i = 0; i < MAX_QUEUED_ASYNC_INVOCATIONS; i++) queue.add(job(String(i), log));
  assert.throws(() => queue.add(job('one too many', log)), (err: Error) => err instanceof AsyncQueueFullError && /retry once some have run/.test(err.message));
  assert.deepEqual([queue.running, queue.waiting], [1, MAX_QUEUED_ASYNC_INVOCATIONS]);
});
