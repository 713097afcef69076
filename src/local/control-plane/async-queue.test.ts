import { test } from 'node:test';
import { getEventListeners, getMaxListeners } from 'node:events';
import assert from 'node:assert/strict';
import { until } from '../../../test/helpers/until.js';
import { AsyncInvocationQueue, AsyncQueueFullError, MAX_CONCURRENT_ASYNC_FAILURE_WRITES, MAX_QUEUED_ASYNC_INVOCATIONS, NOT_YET, type QueuedInvocation } from './async-inference.js';

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

test('a request whose run resolves NOT_YET goes back to the head of the queue and is tried again when another request ends, not at once; closing the queue drops it', async () => {
  // A wake period far beyond the test, so only a request ending retries the waiting one.
  const queue = new AsyncInvocationQueue('ep', () => 2, Date.now, 3_600_000);
  const log: string[] = [];
  const holder = job('holder', log);
  queue.add(holder);
  let room = false;
  let dropped = 0;
  queue.add({
    expiresAt: Number.POSITIVE_INFINITY,
    run: async () => {
      log.push(`try waiter${room ? '' : ' (no room)'}`);
      return room ? undefined : NOT_YET;
    },
    expire: async () => void log.push('expire waiter'),
    drop: () => void (dropped += 1),
  });
  await until('the waiter back in the queue', () => queue.waiting === 1 && queue.running === 1);
  const other = job('other', log);
  queue.add(other);
  // The free slot went to the waiter, at the head, which found no room again; `other` waits behind it.
  await until('the waiter tried again', () => log.length === 3 && queue.waiting === 2);
  assert.deepEqual(log, ['run holder', 'try waiter (no room)', 'try waiter (no room)']);
  room = true;
  await holder.finish();
  await until('the waiter ran', () => log.includes('try waiter'));
  assert.deepEqual(log, ['run holder', 'try waiter (no room)', 'try waiter (no room)', 'try waiter', 'run other']);
  await other.finish();
  assert.deepEqual([queue.running, queue.waiting, dropped], [0, 0, 0]);

  const closing = new AsyncInvocationQueue('ep', () => 1, Date.now, 3_600_000);
  closing.add({ expiresAt: Number.POSITIVE_INFINITY, run: async () => NOT_YET, expire: async () => {}, drop: () => void (dropped += 1) });
  await until('the request back in the queue', () => closing.waiting === 1);
  closing.close();
  assert.equal(dropped, 1);
});

test('a request whose input is held already (an inline Body) starts past one at the head that waits for memory, which may be what it holds', async () => {
  // A wake period far beyond the test, so only a request ending retries the waiting one.
  const queue = new AsyncInvocationQueue('ep', () => 2, Date.now, 3_600_000);
  const log: string[] = [];
  const holder = job('holder', log);
  queue.add(holder);
  let tries = 0;
  queue.add({
    expiresAt: Number.POSITIVE_INFINITY,
    run: async () => {
      tries += 1;
      return NOT_YET;
    },
    expire: async () => {},
  });
  await until('the waiter back in the queue', () => tries === 1 && queue.waiting === 1 && queue.running === 1);
  const needsMemory = job('needs-memory', log);
  const inline = { ...job('inline', log), inputHeld: true };
  queue.add(needsMemory);
  queue.add(inline);
  // Adding pumps the queue: the waiter (at the head) is tried again, finds no room, and the inline
  // request goes past it into the free slot; the one that needs memory too stays behind it.
  await until('the waiter tried again', () => tries === 2);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual([log, queue.running, queue.waiting], [['run holder', 'run inline'], 2, 2]);
  await inline.finish();
  await holder.finish();
  queue.close();
});

test('an InputLocation input with no room in the budget yet is not read from S3 again before the budget has room for as much as it was found to hold', async () => {
  const { Readable } = await import('node:stream');
  const { BodyBudget } = await import('../../server/body-budget.js');
  const { startAsyncInvocation } = await import('./async-inference.js');
  const queue = new AsyncInvocationQueue('ep', () => 2, Date.now, 3_600_000);
  const budget = new BodyBudget(1000);
  // Other requests hold 600 of the 1000 bytes.
  assert.ok(budget.take(600));
  let reads = 0;
  const written = new Map<string, number>();
  const s3 = {
    get: async () => {
      reads += 1;
      return Readable.from(Array.from({ length: 5 }, () => Buffer.alloc(100, 'a')));
    },
    list: async () => [],
    put: async (bucket: string, key: string, body: Buffer) => void written.set(`s3://${bucket}/${key}`, body.length),
    putFile: () => Promise.reject(new Error('no file uploads here')),
    delete: () => Promise.reject(new Error('no deletes here')),
  };
  const accepted = startAsyncInvocation(
    {
      endpoint: 'ep',
      config: { OutputConfig: { S3OutputPath: 's3://out/r' } },
      queue,
      s3: () => s3,
      invoke: async (r, _timeoutMs, _maxAnswerBytes, _inferenceId, answerBudget) => {
        // The answer takes its bytes from the budget as it arrives; the run gives them back.
        const body = Buffer.from(`${r.body.length}`);
        assert.ok(answerBudget?.take(body.length));
        return { variant: 'AllTraffic', response: { body, contentType: 'text/plain' } };
      },
    },
    { invocation: { contentType: 'text/plain' }, inputLocation: 's3://in/x', budget },
  );
  // Read as far as the 400 bytes left, then back in the queue.
  await until('the input found no room', () => reads === 1 && queue.waiting === 1 && queue.running === 0);
  assert.equal(budget.held, 600, 'what it read was given back');
  // Another request ending retries it: still no room for 500 bytes, so S3 is not read again.
  const other = job('other', []);
  queue.add(other);
  await other.finish();
  assert.deepEqual([reads, queue.waiting, queue.running], [1, 1, 0]);
  budget.give(600);
  const another = job('another', []);
  queue.add(another);
  await another.finish();
  await until('the result', () => written.get(accepted.outputLocation));
  assert.deepEqual([reads, written.get(accepted.outputLocation), budget.held], [2, 3, 0]);
});

test('an inline Body queued behind an InputLocation input that waits for the memory that Body holds runs, and then the input does', async () => {
  const { Readable } = await import('node:stream');
  const { BodyBudget } = await import('../../server/body-budget.js');
  const { startAsyncInvocation } = await import('./async-inference.js');
  // One slot, and a wake period far beyond the test: only a request ending retries the waiting one.
  const queue = new AsyncInvocationQueue('ep', () => 1, Date.now, 3_600_000);
  const budget = new BodyBudget(1000);
  const written = new Map<string, string>();
  const s3 = {
    get: async () => Readable.from(Array.from({ length: 5 }, () => Buffer.alloc(100, 'a'))),
    list: async () => [],
    put: async (bucket: string, key: string, body: Buffer) => void written.set(`s3://${bucket}/${key}`, body.toString()),
    putFile: () => Promise.reject(new Error('no file uploads here')),
    delete: () => Promise.reject(new Error('no deletes here')),
  };
  const ctx = {
    endpoint: 'ep',
    config: { OutputConfig: { S3OutputPath: 's3://out/r' } },
    queue,
    s3: () => s3,
    invoke: async (r: { body: Buffer }, _timeoutMs: number, _maxAnswerBytes: number, _inferenceId: string, answerBudget?: InstanceType<typeof BodyBudget>) => {
      // The answer takes its bytes from the budget as it arrives; the run gives them back.
      const body = Buffer.from(`${r.body.length}`);
      assert.ok(answerBudget?.take(body.length));
      return { variant: 'AllTraffic', response: { body, contentType: 'text/plain' } };
    },
  };
  // The front door holds an inline Body's 600 bytes from its arrival until its request has run.
  assert.ok(budget.take(600));
  const fromS3 = startAsyncInvocation(ctx, { invocation: { contentType: 'text/plain' }, inputLocation: 's3://in/x', budget });
  await until('the input found no room', () => queue.waiting === 1 && queue.running === 0);
  const inline = startAsyncInvocation(ctx, { invocation: { contentType: 'text/plain' }, body: Buffer.alloc(600, 'b'), release: () => budget.give(600), budget });
  await until('both results', () => written.has(inline.outputLocation) && written.has(fromS3.outputLocation), { timeoutMs: 10_000 });
  assert.deepEqual([written.get(inline.outputLocation), written.get(fromS3.outputLocation), budget.held, queue.waiting], ['600', '500', 0, 0]);
});

test('requests whose RequestTTLSeconds pass at the same wake leave the queue at once, and their expiries (failure writes) run at most MAX_CONCURRENT_ASYNC_FAILURE_WRITES at a time', async () => {
  let now = 0;
  const queue = new AsyncInvocationQueue('ep', () => 0, () => now, 5);
  const total = 3 * MAX_CONCURRENT_ASYNC_FAILURE_WRITES;
  let under = 0;
  let peak = 0;
  let ended = 0;
  const writing: Array<() => void> = [];
  for (let i = 0; i < total; i++) {
    queue.add({
      expiresAt: 1_000,
      run: () => assert.fail('a request at 0 slots is not run'),
      expire: () => {
        peak = Math.max(peak, ++under);
        return new Promise<void>((resolve) => writing.push(() => (under--, ended++, resolve())));
      },
    });
  }
  now = 2_000;
  await until('the first expiries', () => writing.length > 0, { timeoutMs: 5_000, intervalMs: 5 });
  assert.equal(queue.waiting, 0, 'every expired request left the queue (and the backlog) at once');
  while (ended < total) {
    await until('the next expiries', () => writing.length > 0, { timeoutMs: 5_000, intervalMs: 1 });
    for (const finish of writing.splice(0)) finish();
  }
  assert.equal(peak, MAX_CONCURRENT_ASYNC_FAILURE_WRITES);
  queue.close();
});

test('a queue with more requests running and ending than Node\'s default of 10 listeners per signal, each waiting on its signal, is not reported as a listener leak, and their listeners go with them', async () => {
  const queue = new AsyncInvocationQueue('ep', () => 12, Date.now, 3_600_000);
  const releases: Array<() => void> = [];
  /** What each request's S3 call does with the queue's signal: listens to it until the call ends. */
  const waitOnSignal = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const onAbort = (): void => undefined;
      queue.signal.addEventListener('abort', onAbort, { once: true });
      releases.push(() => {
        queue.signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as Error & { target?: unknown }).target === queue.signal) warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 40; i++) queue.add({ expiresAt: Number.POSITIVE_INFINITY, run: waitOnSignal, expire: async () => {}, drop: waitOnSignal });
    assert.equal(queue.running, 12);
    // DeleteEndpoint: the 28 still waiting leave and write their failures, MAX_CONCURRENT_ASYNC_FAILURE_WRITES at a time.
    queue.close('deleted');
    assert.equal(getEventListeners(queue.signal, 'abort').length, 12 + MAX_CONCURRENT_ASYNC_FAILURE_WRITES);
    while (releases.length > 0) {
      for (const release of releases.splice(0)) release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await queue.idle();
    assert.equal(getEventListeners(queue.signal, 'abort').length, 0);
    // Node emits the warning on the next tick after the listener that passed the limit.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => w.name), []);
  } finally {
    process.off('warning', onWarning);
  }
});

/**
 * A request's run that listens twice on `queue`'s signal, as the AWS SDK's S3 call does (its HTTP
 * request's listener, and its retry's wait for the next attempt); `releases` gets the function that
 * removes both listeners and ends the run.
 */
function listeningTwice(queue: AsyncInvocationQueue, releases: Array<() => void>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const request = (): void => undefined;
      const retry = (): void => undefined;
      queue.signal.addEventListener('abort', request, { once: true });
      queue.signal.addEventListener('abort', retry, { once: true });
      releases.push(() => {
        queue.signal.removeEventListener('abort', request);
        queue.signal.removeEventListener('abort', retry);
        resolve();
      });
    });
}

/** The messages of the process warnings about `queue`'s signal from now until `stop()`. */
function signalWarnings(queue: AsyncInvocationQueue): { messages: string[]; stop(): void } {
  const messages: string[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as Error & { target?: unknown }).target === queue.signal) messages.push(warning.message);
  };
  process.on('warning', onWarning);
  return { messages, stop: () => process.off('warning', onWarning) };
}

test('a request whose S3 call listens twice on the queue\'s signal, as the AWS SDK\'s does (its handler and its retry), is not reported as a listener leak on any Node version', async () => {
  const queue = new AsyncInvocationQueue('ep', () => 1, Date.now, 3_600_000);
  const before = getMaxListeners(queue.signal);
  const releases: Array<() => void> = [];
  const warnings = signalWarnings(queue);
  try {
    queue.add({ expiresAt: Number.POSITIVE_INFINITY, run: listeningTwice(queue, releases), expire: async () => {}, drop: async () => {} });
    assert.equal(queue.running, 1);
    // Node 22 and later: no limit (0) stays no limit; Node 20: its default of 10 is kept.
    assert.equal(getMaxListeners(queue.signal), before);
    for (const release of releases.splice(0)) release();
    await queue.idle();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.messages, []);
  } finally {
    warnings.stop();
    queue.close();
  }
});

test('more than ten requests running whose S3 calls each listen twice on the queue\'s signal, as the AWS SDK\'s does retrying a dropped connection, are not reported as a listener leak on any Node version', async () => {
  const queue = new AsyncInvocationQueue('ep', () => 12, Date.now, 3_600_000);
  const releases: Array<() => void> = [];
  const warnings = signalWarnings(queue);
  try {
    for (let i = 0; i < 12; i++) queue.add({ expiresAt: Number.POSITIVE_INFINITY, run: listeningTwice(queue, releases), expire: async () => {}, drop: async () => {} });
    assert.equal(queue.running, 12);
    assert.equal(getEventListeners(queue.signal, 'abort').length, 24);
    for (const release of releases.splice(0)) release();
    await queue.idle();
    assert.equal(getEventListeners(queue.signal, 'abort').length, 0);
    // Node emits the warning on the next tick after the listener that passed the limit.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.messages, []);
  } finally {
    warnings.stop();
    queue.close();
  }
});
