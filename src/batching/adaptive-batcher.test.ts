import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveBatcher, GATHER_LIMIT_MS, type BatchRun, type BatchRunner } from './adaptive-batcher.js';
import { Cancellation } from '../core/cancellation.js';

/** Lets the event loop go round `n` times (runs start on the next turn). */
async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Runs `fn` with `performance.now()` (the batcher's clock) reading `clock.ahead` ms past the real
 * one, so a test can let a run last seconds, or a pause end, without waiting for them.
 */
async function runWithClock(t: TestContext, fn: (clock: { ahead: number }) => Promise<void>): Promise<void> {
  const real = performance.now.bind(performance);
  const clock = { ahead: 0 };
  t.mock.method(performance, 'now', () => real() + clock.ahead);
  await fn(clock);
}

interface Deferred {
  resolve(): void;
  promise: Promise<void>;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { resolve, promise };
}

/** A model that doubles numbers; every run waits for the test to release it. */
function gatedRunner(keyOf: (x: number) => string | undefined = () => 'k') {
  const runs: number[][] = [];
  const gates: Deferred[] = [];
  const runner: BatchRunner<number, number> = {
    keyOf,
    async runOne(x) {
      runs.push([x]);
      const g = deferred();
      gates.push(g);
      await g.promise;
      if (x < 0) throw new Error(`negative ${x}`);
      return x * 2;
    },
    async runBatch(xs) {
      runs.push([...xs]);
      const g = deferred();
      gates.push(g);
      await g.promise;
      if (xs.some((x) => x < 0)) throw new Error('a negative input in the batch');
      return xs.map((x) => x * 2);
    },
  };
  /** Releases the oldest run still waiting, and lets the next one start. */
  const release = async () => {
    const g = gates.shift();
    assert.ok(g, 'a run is waiting');
    g.resolve();
    await turns(3);
  };
  return { runner, runs, release };
}

test('a call that finds the model idle runs at once, whatever maxDelayMs says', async () => {
  const { runner, runs, release } = gatedRunner();
  const sizes: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 60_000 }, (r) => sizes.push(r.size));
  const p = b.submit(3);
  // It starts on the next turn of the event loop: no timer stands between the request and the model.
  await turns(1);
  assert.deepEqual(runs, [[3]]);
  await release();
  assert.equal(await p, 6);
  assert.deepEqual(sizes, [1]);
});

test('calls arriving during a run form the next batch, each gets its own output', async () => {
  const { runner, runs, release } = gatedRunner();
  const sizes: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => sizes.push(r.size));
  const first = b.submit(1);
  await turns(1);
  const later = [b.submit(2), b.submit(3), b.submit(4)];
  assert.equal(b.waiting, 3);
  await release();
  assert.deepEqual(runs, [[1], [2, 3, 4]]);
  await release();
  assert.deepEqual(await Promise.all([first, ...later]), [2, 4, 6, 8]);
  assert.deepEqual(sizes, [1, 3]);
});

test('each run is reported once it ends: its size, how long each request queued, and how long it ran', async () => {
  const { runner, release } = gatedRunner();
  const reported: BatchRun[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => reported.push(r));
  // Upper bounds are the test's own clock readings around what it awaits, not fixed times: a loaded
  // machine may pause the process anywhere (a fixed "under 30 ms" failed at 86 ms under load).
  const submitted = performance.now();
  const first = b.submit(1);
  await turns(1);
  const firstTurnMs = performance.now() - submitted;
  const queued = [b.submit(2), b.submit(3)];
  // The first run is held for at least 30 ms: it ran that long, and the two behind it queued that long.
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(reported.length, 0, 'nothing is reported while the run is in flight');
  const releasedFirst = performance.now();
  await release();
  assert.equal(reported.length, 1);
  assert.equal(reported[0]!.size, 1);
  assert.equal(reported[0]!.waitSeconds.length, 1);
  // The run began within the one turn the test let go by (the second test shows it in flight then).
  assert.ok(reported[0]!.waitSeconds[0]! * 1000 <= firstTurnMs, `the idle model took the first call at once (${reported[0]!.waitSeconds[0]} s, the turn took ${firstTurnMs} ms)`);
  assert.ok(reported[0]!.runSeconds >= 0.025, `the first run took ${reported[0]!.runSeconds} s`);
  await release();
  await Promise.all([first, ...queued]);
  const secondRunMs = performance.now() - releasedFirst;
  assert.equal(reported.length, 2);
  assert.equal(reported[1]!.size, 2);
  assert.equal(reported[1]!.waitSeconds.length, 2);
  for (const wait of reported[1]!.waitSeconds) assert.ok(wait >= 0.025, `a call queued behind the first run waited ${wait} s`);
  // Its own run, begun once the first was released, not counted from the first run's start.
  assert.ok(reported[1]!.runSeconds >= 0 && reported[1]!.runSeconds * 1000 <= secondRunMs, `the second run took ${reported[1]!.runSeconds} s of ${secondRunMs} ms`);
});

test('a failed batch is reported once, with the failed run; its one-by-one retries are not', async () => {
  const { runner, release } = gatedRunner();
  const reported: BatchRun[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => reported.push(r));
  const first = b.submit(1);
  await turns(1);
  const rest = Promise.allSettled([b.submit(2), b.submit(-3)]);
  for (let i = 0; i < 4; i++) await release(); // [1], [2, -3] fails, [2], [-3]
  await first;
  assert.deepEqual((await rest).map((r) => r.status), ['fulfilled', 'rejected']);
  assert.deepEqual(reported.map((r) => r.size), [1, 2]);
});

test('with maxSize 1 every call is reported as a run of one that did not queue', async () => {
  const { runner, release } = gatedRunner();
  const reported: BatchRun[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 1, maxDelayMs: 0 }, (r) => reported.push(r));
  const all = Promise.allSettled([b.submit(1), b.submit(-2)]);
  await release();
  await release();
  assert.deepEqual((await all).map((r) => r.status), ['fulfilled', 'rejected']);
  assert.deepEqual(reported.map((r) => [r.size, r.waitSeconds]), [[1, [0]], [1, [0]]]);
});

test('an observer that throws changes no answer and runs nothing twice', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, () => {
    throw new Error('metrics broke');
  });
  const first = b.submit(1);
  await turns(1);
  const rest = [b.submit(2), b.submit(3)];
  await release();
  await release();
  assert.deepEqual(await Promise.all([first, ...rest]), [2, 4, 6]);
  assert.deepEqual(runs, [[1], [2, 3]]);
});

test('maxSize caps a batch; the rest form the one after', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 2, maxDelayMs: 0 });
  const all = [b.submit(1)];
  await turns(1);
  all.push(...[2, 3, 4].map((x) => b.submit(x)));
  await release();
  await release();
  await release();
  assert.deepEqual(runs, [[1], [2, 3], [4]]);
  assert.deepEqual(await Promise.all(all), [2, 4, 6, 8]);
});

test('incompatible calls do not share a run; calls without a key run alone at once', async () => {
  const { runner, runs, release } = gatedRunner((x) => (x === 99 ? undefined : x % 2 === 0 ? 'even' : 'odd'));
  const reported: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => reported.push(r.size));
  const all = [b.submit(1)];
  await turns(1);
  all.push(...[2, 3, 4, 5].map((x) => b.submit(x)));
  const loner = b.submit(99);
  // 99 cannot batch: it runs now, beside the run in flight.
  assert.deepEqual(runs, [[1], [99]]);
  await release();
  await release();
  assert.deepEqual(runs.slice(2), [[2, 4]]);
  await release();
  assert.deepEqual(runs.slice(3), [[3, 5]]);
  await release();
  assert.deepEqual(await Promise.all([...all, loner]), [2, 4, 6, 8, 10, 198]);
  assert.deepEqual(reported.sort(), [1, 1, 2, 2], 'the lone run of 99 is reported as a run of one, as the others are');
});

test('a failed batch is retried one by one, so only the bad call fails', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 });
  const first = b.submit(1);
  await turns(1);
  const good = b.submit(2);
  const bad = b.submit(-3);
  const badOutcome = bad.then(
    () => 'resolved',
    (e: Error) => e.message,
  );
  const good2 = b.submit(4);
  await release(); // [1]
  await release(); // [2, -3, 4] fails
  await release(); // [2]
  await release(); // [-3]
  await release(); // [4]
  assert.deepEqual(runs, [[1], [2, -3, 4], [2], [-3], [4]]);
  assert.equal(await first, 2);
  assert.equal(await good, 4);
  assert.equal(await badOutcome, 'negative -3');
  assert.equal(await good2, 8);
});

test('a failed batch is told to batchFailed once, with its error and size; not its retries, nor a batch that succeeds', async () => {
  const { runner, release } = gatedRunner();
  const failed: [string, number][] = [];
  const b = new AdaptiveBatcher({ ...runner, batchFailed: (err, size) => failed.push([(err as Error).message, size]) }, { maxSize: 8, maxDelayMs: 0 });
  const first = b.submit(1);
  await turns(1);
  const rest = [b.submit(2), b.submit(-3), b.submit(4)].map((p) => p.catch((e: Error) => e.message));
  await release(); // [1]
  await release(); // [2, -3, 4] fails
  for (let i = 0; i < 3; i++) await release(); // each alone, -3 failing again
  assert.deepEqual(await Promise.all([first, ...rest]), [2, 4, 'negative -3', 8]);
  const ok = [b.submit(5), b.submit(6)];
  await turns(2);
  await release(); // [5, 6]
  assert.deepEqual(await Promise.all(ok), [10, 12]);
  assert.deepEqual(failed, [['a negative input in the batch', 3]]);
});

test('an answer of the wrong length is treated as a failed batch', async () => {
  const runs: number[][] = [];
  let slow: () => void = () => undefined;
  const b = new AdaptiveBatcher<number, number>(
    {
      keyOf: () => 'k',
      runOne: async (x) => {
        runs.push([x]);
        if (x === 0) await new Promise<void>((r) => (slow = r));
        return x + 1;
      },
      runBatch: async (xs) => {
        runs.push(xs);
        return [1];
      },
    },
    { maxSize: 4, maxDelayMs: 0 },
  );
  const first = b.submit(0);
  await turns(1);
  const rest = [b.submit(5), b.submit(6)];
  slow();
  assert.deepEqual(await Promise.all([first, ...rest]), [1, 6, 7]);
  assert.deepEqual(runs, [[0], [5, 6], [5], [6]]);
});

test('maxDelayMs: a batch that formed during a run waits for more, and runs once full', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 3, maxDelayMs: 60_000 });
  const all = [b.submit(1)];
  await turns(1);
  all.push(b.submit(2), b.submit(3));
  await release();
  // Two are waiting, the batch is not full and its delay has not passed.
  assert.deepEqual(runs, [[1]]);
  all.push(b.submit(4));
  await turns(1);
  assert.deepEqual(runs, [[1], [2, 3, 4]]);
  await release();
  assert.deepEqual(await Promise.all(all), [2, 4, 6, 8]);
});

test('maxDelayMs: a partial batch runs once its oldest call has waited that long', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 20 });
  const all = [b.submit(1)];
  await turns(1);
  all.push(b.submit(2), b.submit(3));
  await release();
  const deadline = Date.now() + 30_000;
  while (runs.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(runs, [[1], [2, 3]]);
  await release();
  assert.deepEqual(await Promise.all(all), [2, 4, 6]);
});

test('calls that arrive in the same turn as one that found the model idle join its run', async () => {
  const { runner, runs, release } = gatedRunner();
  const sizes: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => sizes.push(r.size));
  const all = [1, 2, 3].map((x) => b.submit(x));
  // 2 and 3 came after 1 started the run, so it takes one more turn to see whether more follow.
  await turns(2);
  assert.deepEqual(runs, [[1, 2, 3]]);
  await release();
  assert.deepEqual(await Promise.all(all), [2, 4, 6]);
  assert.deepEqual(sizes, [3]);
});

/**
 * Submits `xs` one per turn of the event loop, as requests read by successive turns arrive; each
 * arrival first holds the loop for `busyMs` (reading and decoding a request takes time).
 */
function arriveTurnByTurn(b: AdaptiveBatcher<number, number>, xs: number[], out: Promise<number>[], busyMs = 0): void {
  let i = 0;
  const next = (): void => {
    if (i >= xs.length) return;
    setImmediate(() => {
      const until = performance.now() + busyMs;
      while (performance.now() < until);
      out.push(b.submit(xs[i++]!));
      next();
    });
  };
  next();
}

test('calls that keep arriving turn after turn join the run about to start', async () => {
  const { runner, runs, release } = gatedRunner();
  // No time limit here: a slow turn on a loaded machine must not end the gathering early.
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, 60_000);
  const all: Promise<number>[] = [];
  arriveTurnByTurn(b, [2, 3, 4], all);
  all.unshift(b.submit(1));
  await turns(8);
  // Without the extra turns the run would have started with [1, 2], and 3 and 4 would wait for it.
  assert.deepEqual(runs, [[1, 2, 3, 4]]);
  await release();
  assert.deepEqual(await Promise.all(all), [2, 4, 6, 8]);
});

test('gathering stops once the batch is full', async () => {
  const { runner, runs, release } = gatedRunner();
  const all: Promise<number>[] = [];
  // How many calls had been submitted when the first run started: a full batch must not wait for more.
  const submittedAtRun: number[] = [];
  const runBatch = runner.runBatch.bind(runner);
  runner.runBatch = (xs) => {
    submittedAtRun.push(all.length);
    return runBatch(xs);
  };
  const b = new AdaptiveBatcher(runner, { maxSize: 3, maxDelayMs: 0 }, undefined, 60_000);
  arriveTurnByTurn(b, [2, 3, 4, 5], all);
  all.unshift(b.submit(1));
  await turns(8);
  assert.deepEqual(runs, [[1, 2, 3]]);
  assert.deepEqual(submittedAtRun, [3]);
  await release();
  await release();
  assert.deepEqual(runs, [[1, 2, 3], [4, 5]]);
  assert.deepEqual(await Promise.all(all), [2, 4, 6, 8, 10]);
});

test('gathering stops after its time limit when calls never stop arriving', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 1000, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS);
  const all: Promise<number>[] = [];
  const xs = Array.from({ length: 60 }, (_, i) => i + 2);
  // 60 arrivals, each a fifth of the limit apart.
  arriveTurnByTurn(b, xs, all, GATHER_LIMIT_MS / 5);
  all.unshift(b.submit(1));
  while (all.length < 61) await turns(1);
  assert.ok(runs.length >= 1, 'the run started while calls were still arriving');
  assert.ok(runs[0]!.length >= 2 && runs[0]!.length < 30, `first run took ${runs[0]!.length} calls`);
  await release();
  assert.equal(runs.length, 2);
  await release();
  assert.equal(runs.flat().length, 61);
  assert.deepEqual(await Promise.all(all), [1, ...xs].map((x) => x * 2));
});

test('maxSize 1 turns batching off: every call runs alone at once', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 1, maxDelayMs: 0 });
  const all = [b.submit(1), b.submit(2)];
  assert.deepEqual(runs, [[1], [2]]);
  await release();
  await release();
  assert.deepEqual(await Promise.all(all), [2, 4]);
});

test('a runner that throws synchronously fails only that call, and the batcher keeps working', async () => {
  const b = new AdaptiveBatcher<number, number>(
    {
      keyOf: () => 'k',
      runOne: (x) => {
        if (x < 0) throw new Error(`sync failure ${x}`);
        return Promise.resolve(x);
      },
      runBatch: () => {
        throw new Error('sync batch failure');
      },
    },
    { maxSize: 4, maxDelayMs: 0 },
  );
  const outcomes = await Promise.allSettled([b.submit(1), b.submit(-2), b.submit(3)]);
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
    [1, 'sync failure -2', 3],
  );
  assert.equal(await b.submit(5), 5);
});

test('a call whose caller gave up while it waited is dropped with the reason, and the rest of its batch runs', async () => {
  const { runner, runs, release } = gatedRunner();
  const sizes: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => sizes.push(r.size));
  const first = b.submit(1);
  await turns(1);
  const gaveUp = new Cancellation();
  const waiting = Promise.allSettled([b.submit(2), b.submit(3, gaveUp), b.submit(4)]);
  const timeout = new Error('timed out');
  gaveUp.cancel(timeout);
  await release();
  assert.deepEqual(runs, [[1], [2, 4]]);
  await release();
  assert.equal(await first, 2);
  const [two, three, four] = await waiting;
  assert.deepEqual(two, { status: 'fulfilled', value: 4 });
  assert.deepEqual(three, { status: 'rejected', reason: timeout });
  assert.deepEqual(four, { status: 'fulfilled', value: 8 });
  assert.deepEqual(sizes, [1, 2]);
});

test('when every waiting call was given up, no run starts, and the next call finds the model idle', async () => {
  const { runner, runs, release } = gatedRunner();
  const sizes: number[] = [];
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, (r) => sizes.push(r.size));
  const first = b.submit(1);
  await turns(1);
  const gone = [new Cancellation(), new Cancellation()];
  const waiting = Promise.allSettled(gone.map((c, i) => b.submit(10 + i, c)));
  for (const c of gone) c.cancel(new Error('client left'));
  await release();
  assert.equal(await first, 2);
  assert.deepEqual((await waiting).map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(b.waiting, 0);
  const next = b.submit(5);
  await turns(1);
  assert.deepEqual(runs, [[1], [5]]);
  await release();
  assert.equal(await next, 10);
  assert.deepEqual(sizes, [1, 1]);
});

test('a call cancelled before it is submitted never runs, even with batching off', async () => {
  for (const maxSize of [1, 8]) {
    const { runner, runs } = gatedRunner();
    const b = new AdaptiveBatcher(runner, { maxSize, maxDelayMs: 0 });
    const c = new Cancellation();
    const reason = new Error('already late');
    c.cancel(reason);
    await assert.rejects(b.submit(1, c), (err) => err === reason);
    await turns(2);
    assert.deepEqual(runs, [], `maxSize ${maxSize}`);
  }
});

test('retrying a failed batch one by one skips the calls given up meanwhile', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 });
  const first = b.submit(1);
  await turns(1);
  const c = new Cancellation();
  const waiting = Promise.allSettled([b.submit(-1), b.submit(2, c), b.submit(3)]);
  await release();
  assert.deepEqual(runs, [[1], [-1, 2, 3]]);
  // The batch fails (a negative input); while it ran, the caller of 2 gave up.
  c.cancel(new Error('timed out'));
  await release();
  await release();
  await release();
  assert.deepEqual(runs, [[1], [-1, 2, 3], [-1], [3]]);
  assert.equal(await first, 2);
  assert.deepEqual((await waiting).map((r) => r.status), ['rejected', 'rejected', 'fulfilled']);
});

test('a run whose every caller gave up (it never ends) is left behind when the next call comes: its calls fail with their reasons, and the next run starts', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 0);
  const callers = [new Cancellation(), new Cancellation()];
  const stuck = Promise.allSettled(callers.map((c, i) => b.submit(1 + i, c)));
  await turns(3);
  assert.deepEqual(runs, [[1, 2]]);
  const timeout = new Error('timed out');
  for (const c of callers) c.cancel(timeout);
  // A call that comes while the run is still going, but someone waits for it, does not leave it behind.
  const patient = new Cancellation();
  const next = b.submit(3, patient);
  await turns(3);
  assert.deepEqual(runs, [[1, 2], [3]], 'the next run started although the stuck one never ended');
  assert.deepEqual((await stuck).map((r) => (r.status === 'rejected' ? r.reason : r)), [timeout, timeout]);
  const later = b.submit(4);
  await turns(3);
  assert.deepEqual(runs, [[1, 2], [3]], 'a run with a caller still waiting is not left behind');
  // The stuck run ending at last changes nothing for the runs since.
  await release();
  assert.equal(b.waiting, 1);
  await release();
  assert.equal(await next, 6);
  await release();
  assert.equal(await later, 8);
});

test('a failed batch whose one-by-one retry never ends is left behind once its callers still waiting gave up: those its retries already answered do not hold the model for good', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 0);
  const first = b.submit(1);
  await turns(3);
  const c = new Cancellation();
  const good = b.submit(2);
  const bad = b.submit(-3, c).catch((e: unknown) => e);
  await release();
  assert.equal(await first, 2);
  assert.deepEqual(runs, [[1], [2, -3]]);
  // The batch fails; 2 is retried alone and answered, then -3's retry starts and never ends.
  await release();
  await release();
  assert.equal(await good, 4);
  assert.deepEqual(runs, [[1], [2, -3], [2], [-3]]);
  const timeout = new Error('timed out');
  c.cancel(timeout);
  const next = b.submit(5);
  await turns(3);
  assert.deepEqual(runs.at(-1), [5], 'the next call runs: the stuck retry was left behind');
  assert.equal(await bad, timeout);
  await release();
  await release();
  assert.equal(await next, 10);
});

test('a run whose callers all gave up is kept while it is young (overload: the next run does not start beside it)', async () => {
  const { runner, runs, release } = gatedRunner();
  const young = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 60_000);
  const gone = new Cancellation();
  const first = young.submit(1, gone).catch((e: unknown) => e);
  await turns(3);
  gone.cancel(new Error('timed out'));
  const next = young.submit(2);
  await turns(3);
  assert.deepEqual(runs, [[1]], 'the next run waits for the young run');
  await release();
  await turns(3);
  assert.deepEqual(runs, [[1], [2]]);
  await release();
  assert.equal(await next, 4);
  await first;
});

test('runs that keep getting stuck (a handler that hangs on some requests) are each left behind: the model is never held for good, a later call runs and is answered', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 0);
  const settled: Promise<unknown>[] = [];
  const stuck = 12;
  for (let i = 0; i < stuck; i++) {
    const c = new Cancellation();
    settled.push(b.submit(10 + i, c).catch((e: unknown) => e));
    await turns(3);
    c.cancel(new Error('timed out'));
  }
  assert.equal(runs.length, stuck, `each stuck run was left behind for the next: ${JSON.stringify(runs)}`);
  const patient = b.submit(7);
  await turns(3);
  assert.deepEqual(runs.at(-1), [7], 'the call after them runs although none of the stuck runs ended');
  // Every stuck run's callers got their reasons already.
  for (const p of settled) assert.equal(((await p) as Error).message, 'timed out');
  // The stuck runs ending at last (oldest first) changes nothing for the run since.
  for (let i = 0; i < stuck; i++) await release();
  await release();
  assert.equal(await patient, 14);
  assert.equal(b.waiting, 0);
});

test('while a run that may never end holds the model, calls whose callers gave up leave the queue as the next call comes, not when it ends', async () => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 0);
  // A run that may never end and that someone still waits for (no cancellation): it holds the model.
  const holding = b.submit(10);
  await turns(3);
  const held = runs.length;
  assert.equal(held, 1);
  // Each of these times out while it waits: none may keep its input (a request's tensors) for as
  // long as the model is held.
  const timeout = new Error('timed out');
  const waiting = Array.from({ length: 20 }, (_, i) => {
    const c = new Cancellation();
    const p = b.submit(100 + i, c);
    c.cancel(timeout);
    return p;
  });
  const last = b.submit(200);
  assert.equal(b.waiting, 1, 'only the call someone still waits for is queued');
  for (const p of waiting) await assert.rejects(p, (err) => err === timeout);
  assert.equal(runs.length, held, 'nothing more ran');
  await release();
  assert.equal(await holding, 20);
  await release();
  assert.equal(await last, 400);
});

test('property: whatever the mix of keys, bad inputs, cancellations, run lengths and arrival turns, every call settles with its own answer (or its own error, or its reason when given up before its run), and no run mixes keys or exceeds maxSize', async () => {
  const { default: fc } = await import('fast-check');
  interface Call {
    readonly key: 'a' | 'b' | undefined;
    readonly bad: boolean;
    /** Turns of the event loop before it arrives, after the call before it. */
    readonly after: number;
    /** Turns after its arrival when its caller gives up; undefined: never. */
    readonly giveUpAfter: number | undefined;
  }
  const call = fc.record({
    key: fc.constantFrom<'a' | 'b' | undefined>('a', 'a', 'b', undefined),
    bad: fc.boolean(),
    after: fc.nat({ max: 3 }),
    giveUpAfter: fc.option(fc.nat({ max: 4 }), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 14 }), fc.integer({ min: 2, max: 5 }), fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 8 }), fc.constantFrom(0, 0, 1, 3), async (calls, maxSize, runTurns, delay) => {
      let runIndex = 0;
      const runs: { inputs: number[]; keys: (string | undefined)[] }[] = [];
      const started = new Set<number>();
      /** Call i: its input is i, its answer i * 10, and a bad call's error names it. */
      const runner: BatchRunner<number, number> = {
        keyOf: (i) => calls[i]!.key,
        async runOne(i) {
          runs.push({ inputs: [i], keys: [calls[i]!.key] });
          started.add(i);
          await turns(runTurns[runIndex++ % runTurns.length]!);
          if (calls[i]!.bad) throw new Error(`bad ${i}`);
          return i * 10;
        },
        async runBatch(inputs) {
          runs.push({ inputs: [...inputs], keys: inputs.map((i) => calls[i]!.key) });
          for (const i of inputs) started.add(i);
          await turns(runTurns[runIndex++ % runTurns.length]!);
          if (inputs.some((i) => calls[i]!.bad)) throw new Error('a bad input in the batch');
          return inputs.map((i) => i * 10);
        },
      };
      const batcher = new AdaptiveBatcher(runner, { maxSize, maxDelayMs: delay });
      const outcomes: Promise<{ ok: true; value: number } | { ok: false; error: unknown }>[] = [];
      const givingUp: Promise<void>[] = [];
      const reasons = new Map<number, Error>();
      for (let i = 0; i < calls.length; i++) {
        await turns(calls[i]!.after);
        const cancellation = calls[i]!.giveUpAfter === undefined ? undefined : new Cancellation();
        if (cancellation) {
          const reason = new Error(`gave up ${i}`);
          reasons.set(i, reason);
          givingUp.push(turns(calls[i]!.giveUpAfter!).then(() => cancellation.cancel(reason)));
        }
        outcomes.push(
          batcher.submit(i, cancellation).then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
        );
      }
      const settled = await Promise.all(outcomes);
      await Promise.all(givingUp);
      settled.forEach((o, i) => {
        const c = calls[i]!;
        if (o.ok) {
          assert.ok(!c.bad, `call ${i} is bad yet answered ${o.value}`);
          assert.equal(o.value, i * 10, `call ${i} got another call's answer`);
          return;
        }
        if (o.error === reasons.get(i)) {
          // Given up: only a call dropped before any run of it, or one whose retry alone was skipped.
          return;
        }
        assert.ok(c.bad, `call ${i} (good) failed: ${String(o.error)}`);
        assert.equal((o.error as Error).message, `bad ${i}`, `call ${i} failed with another call's error`);
      });
      for (const run of runs) {
        assert.ok(run.inputs.length <= maxSize, `a run of ${run.inputs.length} over maxSize ${maxSize}`);
        if (run.inputs.length > 1) assert.ok(run.keys.every((k) => k !== undefined && k === run.keys[0]), `a run mixed keys: ${JSON.stringify(run.keys)}`);
      }
      assert.equal(batcher.waiting, 0);
    }),
    { numRuns: 200 },
  );
});

test("a one-by-one retry's age counts from its own start: one that just began after a long failed batch is not left behind beside the next run", (t) => runWithClock(t, async (clock) => {
  const { runner, runs, release } = gatedRunner();
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 1000);
  const first = b.submit(1);
  await turns(3);
  const gone = new Cancellation();
  const good = b.submit(2);
  const bad = b.submit(-3, gone).catch((e: unknown) => e);
  await release(); // [1]
  assert.equal(await first, 2);
  assert.deepEqual(runs, [[1], [2, -3]]);
  clock.ahead += 5000; // the batched run takes 5 s, then fails
  await release();
  await release(); // [2] alone, answered; [-3]'s retry starts now
  assert.equal(await good, 4);
  assert.deepEqual(runs, [[1], [2, -3], [2], [-3]]);
  clock.ahead += 10; // 10 ms into the retry, its caller gives up
  gone.cancel(new Error('timed out'));
  const next = b.submit(5);
  await turns(3);
  assert.deepEqual(runs.at(-1), [-3], 'the young retry still holds the model: the next run does not start beside it');
  await release(); // [-3] ends
  assert.equal(((await bad) as Error).message, 'negative -3', 'the retry ran to its end (it was not left behind)');
  await release(); // [5]
  assert.equal(await next, 10);
}));

test('after batched runs keep failing while their requests succeed alone, calls run one by one for a while, then batching is tried again', (t) => runWithClock(t, async (clock) => {
  const runs: number[][] = [];
  const paused: [number, number][] = [];
  let batchFailures = 0;
  // A model that fails every batched run, as one that only takes one row at a time does.
  const runner: BatchRunner<number, number> = {
    keyOf: () => 'k',
    runOne: async (x) => (runs.push([x]), x * 2),
    runBatch: async (xs) => {
      runs.push([...xs]);
      throw new Error('cannot batch');
    },
    batchFailed: () => batchFailures++,
    batchingPaused: (n, ms) => paused.push([n, ms]),
  };
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 1000, 2, 60_000);
  // Two calls in one turn form a batch of two; it fails and both succeed alone.
  const round = async (x: number) => {
    const out = await Promise.all([b.submit(x), b.submit(x + 1)]);
    assert.deepEqual(out, [2 * x, 2 * (x + 1)]);
  };
  await round(1);
  assert.equal(b.paused, false, 'one such failure does not pause batching');
  await round(3);
  assert.deepEqual(paused, [[2, 60_000]], 'told once, with the failures in a row and the pause');
  assert.equal(b.paused, true);
  runs.length = 0;
  await round(5);
  assert.deepEqual(runs, [[5], [6]], 'paused: each call runs alone, no batched run is tried');
  assert.equal(batchFailures, 2);
  clock.ahead += 60_000;
  assert.equal(b.paused, false, 'the pause ends');
  runs.length = 0;
  await round(7);
  assert.deepEqual(runs, [[7, 8], [7], [8]], 'batching is tried again');
  assert.equal(paused.length, 2, 'and one more such failure pauses it again at once');
  assert.equal(b.paused, true);
}));

test('a failed batch whose requests also fail alone (bad requests) does not count towards pausing batching; a successful batch resets the count', async () => {
  const runs: number[][] = [];
  const paused: number[] = [];
  const runner: BatchRunner<number, number> = {
    keyOf: () => 'k',
    runOne: async (x) => {
      runs.push([x]);
      if (x < 0) throw new Error('bad');
      return x;
    },
    runBatch: async (xs) => {
      runs.push([...xs]);
      if (xs.some((x) => x < 0) || xs[0]! >= 100) throw new Error('batch failed');
      return xs;
    },
    batchingPaused: (n) => paused.push(n),
  };
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 1000, 2, 60_000);
  const pair = (x: number, y: number) => Promise.allSettled([b.submit(x), b.submit(y)]);
  await pair(100, 101); // batching failed (both fine alone): 1
  await pair(1, -1); // a bad request: resets
  await pair(100, 101); // 1
  await pair(1, 2); // a batch that succeeds: resets
  await pair(100, 101); // 1
  assert.deepEqual(paused, []);
  assert.equal(b.paused, false);
  await pair(100, 101); // 2: paused
  assert.deepEqual(paused, [2]);
});

test('a failed batch one of whose callers had given up by then (its failure may be the give-up\'s) does not count towards pausing batching', async () => {
  const paused: number[] = [];
  let batches = 0;
  let running = deferred();
  let leave = deferred();
  // A predictBatchFn whose upstream call takes its callers' signals: one caller giving up aborts it.
  const runner: BatchRunner<{ x: number; c: Cancellation }, number> = {
    keyOf: () => 'k',
    runOne: async ({ x }) => x,
    runBatch: async (items) => {
      batches++;
      running.resolve();
      await leave.promise;
      if (items.some((i) => i.c.cancelled)) throw new Error('aborted');
      return items.map((i) => i.x);
    },
    batchingPaused: (n) => paused.push(n),
  };
  const b = new AdaptiveBatcher(runner, { maxSize: 8, maxDelayMs: 0 }, undefined, GATHER_LIMIT_MS, 1000, 2, 60_000);
  for (let round = 0; round < 3; round++) {
    const leaving = new Cancellation();
    const staying = new Cancellation();
    const gone = b.submit({ x: 1, c: leaving }, leaving);
    const kept = b.submit({ x: 2, c: staying }, staying);
    await running.promise;
    leaving.cancel(new Error('client gone'));
    leave.resolve();
    assert.equal(await kept, 2, 'the caller still waiting is answered by its retry');
    await gone.catch(() => undefined);
    running = deferred();
    leave = deferred();
  }
  assert.equal(batches, 3, 'each round was a batched run that failed');
  assert.deepEqual(paused, [], 'batching is not paused for the callers that left');
  assert.equal(b.paused, false);
});
