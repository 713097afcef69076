import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { WORKER_METRICS_WAIT_MS, WorkerMetricsGatherer, realBound, type MetricsWorker, type StartBound } from './cluster-metrics.js';
import { aggregateMetrics } from './metrics.js';
import type { MetricJson } from './cluster-protocol.js';

/** A counter as a worker's registry gives it. */
const counter = (value: number, name = 'smkit_invocations_total'): MetricJson[] => [{ name, help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: { model: 'm' }, value }] }];

/** Bounds that pass only when the test says so. */
function manualBounds() {
  const started: { expire: () => void; cancelled: boolean }[] = [];
  const startBound: StartBound = (expire) => {
    const bound = { expire, cancelled: false };
    started.push(bound);
    return () => void (bound.cancelled = true);
  };
  /** Passes the bound of the newest scrape (started once the primary's library is loaded, a turn later). */
  const expire = async () => {
    await new Promise(setImmediate);
    started.at(-1)!.expire();
  };
  return { started, startBound, expire };
}

/** Fake workers that record the requests sent to them. */
function fakeWorkers(...ids: number[]) {
  const asked = new Map<number, number[]>(ids.map((id) => [id, []]));
  const workers: MetricsWorker[] = ids.map((id) => ({ id, ask: (requestId) => (asked.get(id)!.push(requestId), true) }));
  return { workers, asked, lastId: (id: number) => asked.get(id)!.at(-1)! };
}

/** Whether `promise` has settled once pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise(setImmediate);
  return done;
}

test('a worker that never answers does not fail the scrape: once the bound passes the others are counted, and the silent one with its last answer', async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1, 2);

  const first = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(3));
  assert.equal(await settled(first), false, 'waits for worker 2');
  await expire();
  assert.deepEqual(await first, [counter(3)], 'worker 2 never answered: left out');

  const second = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(4));
  gatherer.report(2, lastId(2), counter(10));
  assert.deepEqual(await second, [counter(4), counter(10)], 'both answered: no bound needed');
  assert.equal(started.length, 1, 'none started for a scrape already answered');

  const third = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(5));
  await expire();
  assert.deepEqual(await third, [counter(5), counter(10)], 'worker 2 silent: its last answer, so the sum does not dip');
  assert.equal(gatherer.pending, 0);
});

test('a worker has at most one request outstanding: a scrape that finds one asks no other, and its next answer completes every scrape waiting for it', async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, asked, lastId } = fakeWorkers(1, 2);
  const a = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(10));
  const b = gatherer.gather(workers);
  assert.equal(asked.get(1)!.length, 2, 'worker 1 answered: asked again');
  assert.equal(asked.get(2)!.length, 1, 'worker 2 silent: not asked again');
  gatherer.report(1, lastId(1), counter(11));
  assert.equal(await settled(b), false, 'b waits for worker 2 as a does');
  gatherer.report(2, asked.get(2)![0]!, counter(20));
  assert.deepEqual(await a, [counter(11), counter(20)], "a: each worker's newest answer");
  assert.deepEqual(await b, [counter(11), counter(20)], "b: worker 2's answer to a's request");
  assert.deepEqual(started.map((bound) => bound.cancelled), [true, true], 'both ended by the answer, their bounds not passed');
  // Once answered, worker 2 is asked again, and a late answer to nothing outstanding is not taken.
  gatherer.report(2, lastId(2), counter(99));
  const c = gatherer.gather(workers);
  assert.equal(asked.get(2)!.length, 2);
  gatherer.report(1, lastId(1), counter(12));
  await expire();
  assert.deepEqual(await c, [counter(12), counter(20)]);
  assert.equal(gatherer.pending, 0);
});

test('a worker that exits mid-scrape is no longer waited for (the scrape ends before its bound) nor asked, and only its counters stay counted (with its last answer)', async () => {
  const { started, startBound } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1, 2, 3);
  const warm = gatherer.gather(workers);
  for (const id of [1, 2, 3]) gatherer.report(id, lastId(id), counter(id));
  await warm;
  assert.equal(gatherer.workersHeld, 3);

  const scrape = gatherer.gather(workers);
  gatherer.report(3, lastId(3), counter(30));
  gatherer.report(1, lastId(1), counter(10));
  await new Promise(setImmediate);
  assert.equal(started.length, 1, 'the bound runs');
  // Worker 3 answered this scrape, worker 2 did not: once exited, each counts with its last answer, retired.
  gatherer.forget(3);
  gatherer.forget(2);
  assert.equal(await settled(scrape), true, 'ended when the last worker it waited for exited');
  assert.deepEqual(await scrape, [counter(10), counter(32)]);
  assert.equal(started[0]!.cancelled, true);
  assert.equal(gatherer.workersHeld, 1, 'no last answer nor request outstanding kept for a worker gone');
  // An answer it sent before it exited, read after: not taken.
  gatherer.report(2, lastId(2), counter(99));
  assert.equal(gatherer.workersHeld, 1);
  const next = gatherer.gather(workers.slice(0, 1));
  gatherer.report(1, lastId(1), counter(4));
  assert.deepEqual(await next, [counter(4), counter(32)]);
  gatherer.forget(1);
  assert.equal(gatherer.workersHeld, 0);
  assert.deepEqual(await gatherer.gather([]), [counter(36)], 'no worker left: what they counted');
});

test("a worker's counters and histograms outlive it, its gauges do not: the merged totals never go backwards when a worker is replaced", async () => {
  const { startBound } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const histogram = (count: number, sum: number): MetricJson => ({
    name: 'smkit_invocation_seconds',
    help: 'h',
    type: 'histogram',
    aggregator: 'sum',
    values: [
      { labels: { le: 0.1, model: 'm' }, value: count, metricName: 'smkit_invocation_seconds_bucket' },
      { labels: { le: '+Inf', model: 'm' }, value: count, metricName: 'smkit_invocation_seconds_bucket' },
      { labels: { model: 'm' }, value: sum, metricName: 'smkit_invocation_seconds_sum' },
      { labels: { model: 'm' }, value: count, metricName: 'smkit_invocation_seconds_count' },
    ],
  });
  const gauge = (worker: string, value: number): MetricJson => ({ name: 'smkit_http_connections', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ labels: { worker }, value }] });
  const perWorker = (worker: string, value: number): MetricJson => ({ name: 'smkit_connections_rebalanced_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: { worker }, value }] });
  const answer = (worker: string, n: number) => [...counter(n), histogram(n, n / 10), gauge(worker, 1), perWorker(worker, n)];
  const totals = async (workers: MetricsWorker[], answers: Map<number, MetricJson[]>, lastId: (id: number) => number) => {
    const scrape = gatherer.gather(workers);
    for (const w of workers) gatherer.report(w.id, lastId(w.id), answers.get(w.id));
    const text = await aggregateMetrics(await scrape);
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    return {
      invocations: value(/^smkit_invocations_total\{model="m"\} (\S+)$/m),
      count: value(/^smkit_invocation_seconds_count\{model="m"\} (\S+)$/m),
      inf: value(/^smkit_invocation_seconds_bucket\{le="\+Inf",model="m"\} (\S+)$/m),
      rebalanced0: value(/^smkit_connections_rebalanced_total\{worker="0"\} (\S+)$/m),
      connections: [...text.matchAll(/^smkit_http_connections\{worker="(\d)"\} (\S+)$/gm)].map((m) => `${m[1]}:${m[2]}`),
    };
  };
  // Worker 1 (index 0) and worker 2 (index 1).
  const first = fakeWorkers(1, 2);
  const before = await totals(first.workers, new Map([[1, answer('0', 5)], [2, answer('1', 7)]]), first.lastId);
  assert.deepEqual(before, { invocations: 12, count: 12, inf: 12, rebalanced0: 5, connections: ['0:1', '1:1'] });
  // Worker 1 crashes; worker 3 replaces it as index 0 and has counted 2 so far.
  gatherer.forget(1);
  const second = fakeWorkers(3, 2);
  const after = await totals(second.workers, new Map([[3, answer('0', 2)], [2, answer('1', 8)]]), second.lastId);
  assert.deepEqual(after, { invocations: 15, count: 15, inf: 15, rebalanced0: 7, connections: ['0:1', '1:1'] }, 'worker 1\'s 5 stay counted; only its gauge went');
  // Another death adds to what is retired.
  gatherer.forget(2);
  const third = fakeWorkers(3);
  const last = await totals(third.workers, new Map([[3, answer('0', 3)]]), third.lastId);
  assert.deepEqual(last, { invocations: 16, count: 16, inf: 16, rebalanced0: 8, connections: ['0:1'] });
});

test("a multi-model endpoint: what an exited worker counted for a model goes once the model is unloaded, and is not kept for one unloaded before it exited", async () => {
  const { startBound } = manualBounds();
  const held = new Set(['a', 'b']);
  const gatherer = new WorkerMetricsGatherer(startBound, (name) => held.has(name));
  const byModel = (values: Record<string, number>): MetricJson[] => [
    { name: 'smkit_invocations_total', help: 'h', type: 'counter', aggregator: 'sum', values: Object.entries(values).map(([model, value]) => ({ labels: { model, status: '200' }, value })) },
  ];
  const { workers, lastId } = fakeWorkers(1, 2);
  const warm = gatherer.gather(workers);
  gatherer.report(1, lastId(1), byModel({ a: 1, b: 2, '': 3 }));
  gatherer.report(2, lastId(2), byModel({ a: 10 }));
  await warm;
  // Model b is unloaded; worker 1 exits before it answered again: its b series is not kept.
  held.delete('b');
  gatherer.forget(1);
  assert.deepEqual(gatherer.retiredMetrics, byModel({ a: 1, '': 3 }));
  // Model a is unloaded: what worker 1 counted for it goes; invocations of no model held stay.
  held.delete('a');
  gatherer.forgetModel('a');
  assert.deepEqual(gatherer.retiredMetrics, byModel({ '': 3 }));
  gatherer.forgetModel('');
  assert.deepEqual(gatherer.retiredMetrics, [], 'nothing left of a metric whose series all went');
});

test('a malformed series in an exited worker\'s last answer is skipped, never thrown on in the primary', async () => {
  const { startBound } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1);
  const warm = gatherer.gather(workers);
  const values = [null, 5, { value: 1 }, { labels: null, value: 1 }, { labels: { model: 'm' }, value: '2' }, { labels: { model: 'm' }, value: 3 }];
  gatherer.report(1, lastId(1), [{ name: 'smkit_invocations_total', help: 'h', type: 'counter', aggregator: 'sum', values }, { name: 'x', type: 'counter', aggregator: 'sum' }]);
  await warm;
  gatherer.forget(1);
  assert.deepEqual(gatherer.retiredMetrics, counter(3));
});

test('a malformed answer is not taken: an id never given, or no list', async () => {
  const { startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1);
  const warm = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(1));
  assert.deepEqual(await warm, [counter(1)]);

  const scrape = gatherer.gather(workers);
  const id = lastId(1);
  for (const [requestId, metrics] of [
    [id + 1, counter(2)],
    [0, counter(2)],
    [-1, counter(2)],
    [1.5, counter(2)],
    ['2', counter(2)],
    [Number.MAX_SAFE_INTEGER + 2, counter(2)],
    [id, { name: 'x' }],
    [id, null],
    [undefined, undefined],
  ] as [unknown, unknown][]) {
    gatherer.report(1, requestId, metrics);
  }
  assert.equal(await settled(scrape), false, 'none answered the scrape');
  await expire();
  assert.deepEqual(await scrape, [counter(1)], 'the last good answer stays');
  // The worker still has its request outstanding: its good answer is taken.
  const next = gatherer.gather(workers);
  gatherer.report(1, id, counter(3));
  assert.deepEqual(await next, [counter(3)]);
});

test('no worker to ask, or none whose channel is open: the scrape resolves at once, without a bound', async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  assert.deepEqual(await gatherer.gather([]), []);
  assert.deepEqual(await gatherer.gather([{ id: 1, ask: () => false }]), []);
  assert.equal(started.length, 0);
  // Never asked: its report is ignored, and never counted as a last answer.
  gatherer.report(1, 2, counter(5));
  const { workers } = fakeWorkers(1);
  const scrape = gatherer.gather(workers);
  await expire();
  assert.deepEqual(await scrape, []);
});

test('a worker with a kept answer whose channel has closed counts with its counters only (its gauges are no longer true), and the lists come in the order of the workers given', async () => {
  const { startBound } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1, 2);
  const first = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(1));
  gatherer.report(2, lastId(2), counter(2));
  assert.deepEqual(await first, [counter(1), counter(2)]);
  const reversed = gatherer.gather([...workers].reverse());
  gatherer.report(2, lastId(2), counter(20));
  gatherer.report(1, lastId(1), counter(10));
  assert.deepEqual(await reversed, [counter(20), counter(10)]);
  // Worker 1's channel has closed (it is exiting; its exit not yet seen): its kept counters stay counted, its gauge goes.
  const gauge: MetricJson = { name: 'smkit_pending_invocations', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: 3 }] };
  const again = gatherer.gather(workers);
  gatherer.report(1, lastId(1), [...counter(11), gauge]);
  gatherer.report(2, lastId(2), counter(20));
  await again;
  const closing = gatherer.gather([{ id: 1, ask: () => false }, workers[1]!]);
  gatherer.report(2, lastId(2), counter(21));
  assert.deepEqual(await closing, [counter(21), counter(11)]);
  // Left out of the workers given (the primary passes connected ones only): the same.
  const without = gatherer.gather([workers[1]!]);
  gatherer.report(2, lastId(2), counter(22));
  assert.deepEqual(await without, [counter(22), counter(11)]);
  gatherer.forget(1);
  const after = gatherer.gather([workers[1]!]);
  gatherer.report(2, lastId(2), counter(23));
  assert.deepEqual(await after, [counter(23), counter(11)], 'once exited: retired, the same count');
});

test('a real scrape waits WORKER_METRICS_WAIT_MS (1 s) for its workers, no less', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  assert.equal(WORKER_METRICS_WAIT_MS, 1000);
  let expired = false;
  const cancel = realBound(() => (expired = true));
  t.mock.timers.tick(999);
  assert.equal(expired, false);
  t.mock.timers.tick(1);
  assert.equal(expired, true);
  cancel();
  let cancelledExpired = false;
  realBound(() => (cancelledExpired = true))();
  t.mock.timers.tick(1000);
  assert.equal(cancelledExpired, false);
});

test("the bound starts once the primary's metrics library has loaded (or failed to)", async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers } = fakeWorkers(1);
  let loaded!: () => void;
  const scrape = gatherer.gather(workers, new Promise<void>((resolve) => (loaded = resolve)));
  await new Promise(setImmediate);
  assert.equal(started.length, 0, 'the workers load theirs meanwhile');
  loaded();
  await expire();
  assert.equal(started.length, 1);
  assert.deepEqual(await scrape, []);
  const failed = gatherer.gather(workers, Promise.reject(new Error('no descriptors')));
  await expire();
  assert.deepEqual(await failed, []);
});

test("aggregateMetrics sums the workers' series by label set, without installing prom-client's cluster listener in the primary", async () => {
  const before = cluster.listenerCount('message');
  const gauge = (worker: string, value: number): MetricJson => ({ name: 'smkit_http_connections', help: 'Open.', type: 'gauge', aggregator: 'sum', values: [{ labels: { worker }, value }] });
  const text = await aggregateMetrics([
    [...counter(3), gauge('0', 2)],
    [...counter(4), gauge('1', 5)],
  ]);
  assert.match(text, /^# TYPE smkit_invocations_total counter\nsmkit_invocations_total\{model="m"\} 7$/m);
  assert.match(text, /^smkit_http_connections\{worker="0"\} 2\nsmkit_http_connections\{worker="1"\} 5$/m);
  assert.equal(await aggregateMetrics([]), '', 'no worker: no text, as prom-client gave');
  assert.equal(cluster.listenerCount('message'), before);
});
