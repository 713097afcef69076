import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { WorkerMetricsGatherer, type MetricsWorker, type StartBound } from './cluster-metrics.js';
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

test('concurrent scrapes each get their own answers, whatever order they come in', async () => {
  const { startBound } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, asked } = fakeWorkers(1, 2);
  const a = gatherer.gather(workers);
  const b = gatherer.gather(workers);
  const [idA, idB] = asked.get(1)!;
  assert.notEqual(idA, idB);
  assert.deepEqual(asked.get(2), [idA, idB], 'one id per scrape, the same for every worker');
  gatherer.report(1, idB!, counter(20));
  gatherer.report(2, idB!, counter(21));
  assert.deepEqual(await b, [counter(20), counter(21)]);
  assert.equal(await settled(a), false, "b's answers did not answer a");
  gatherer.report(2, idA!, counter(11));
  gatherer.report(1, idA!, counter(10));
  assert.deepEqual(await a, [counter(10), counter(11)], 'in the order the workers were asked');
});

test('a worker that exits mid-scrape is no longer waited for nor counted, not even with its last answer', async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1, 2);
  const warm = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(1));
  gatherer.report(2, lastId(2), counter(2));
  await warm;

  const scrape = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(3));
  await new Promise(setImmediate);
  assert.equal(started.length, 1, 'the bound runs');
  gatherer.forget(2);
  assert.deepEqual(await scrape, [counter(3)], 'resolved when the last worker it waited for exited, before the bound');
  assert.equal(started[0]!.cancelled, true);
  // An answer it sent before it exited, read after: ignored.
  gatherer.report(2, lastId(2), counter(99));
  const next = gatherer.gather(workers.slice(0, 1));
  gatherer.report(1, lastId(1), counter(4));
  assert.deepEqual(await next, [counter(4)]);
});

test('an answer that comes after its scrape\'s bound answers no other scrape: it only becomes the worker\'s last answer, unless a newer one is', async () => {
  const { started, startBound, expire } = manualBounds();
  const gatherer = new WorkerMetricsGatherer(startBound);
  const { workers, lastId } = fakeWorkers(1, 2);

  const first = gatherer.gather(workers);
  const firstId = lastId(2);
  gatherer.report(1, lastId(1), counter(1));
  await expire();
  assert.deepEqual(await first, [counter(1)]);

  const second = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(2));
  gatherer.report(2, firstId, counter(7));
  assert.equal(await settled(second), false, 'the late answer to the first scrape does not count as worker 2 answering the second');
  await expire();
  assert.deepEqual(await second, [counter(2), counter(7)], 'but it is worker 2\'s last answer');

  const third = gatherer.gather(workers);
  const thirdId = lastId(2);
  gatherer.report(1, lastId(1), counter(3));
  gatherer.report(2, thirdId, counter(9));
  assert.deepEqual(await third, [counter(3), counter(9)]);
  // The answer to the second scrape, later still: older than the last one kept.
  gatherer.report(2, thirdId - 1, counter(8));
  const fourth = gatherer.gather(workers);
  gatherer.report(1, lastId(1), counter(4));
  await expire();
  assert.deepEqual(await fourth, [counter(4), counter(9)]);
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
