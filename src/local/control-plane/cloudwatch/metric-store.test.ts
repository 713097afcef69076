import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';
import { MAX_SAMPLES_PER_AGGREGATE, addRepeatedValue, emptyAggregate, mergeAggregate, percentileValue } from './statistics.js';

const dims = [
  { Name: 'EndpointName', Value: 'ep' },
  { Name: 'VariantName', Value: 'v1' },
];

test('invocations become the SageMaker endpoint metrics, per period', () => {
  let now = 600_000;
  const store = new MetricStore(createMetricClock(60, () => now));
  store.record({ endpoint: 'ep', variant: 'v1', at: 600_500, outcome: 'ok', modelLatencyMicros: 1000, overheadLatencyMicros: 10, instanceCount: 2 });
  store.record({ endpoint: 'ep', variant: 'v1', at: 610_000, outcome: '5xx', modelLatencyMicros: 3000, instanceCount: 2 });
  store.record({ endpoint: 'ep', variant: 'v1', at: 660_000, outcome: '4xx', instanceCount: 1 });
  const period = (metricName: string) => store.periods({ namespace: 'AWS/SageMaker', metricName, dimensions: dims }, 10, 12, 60);
  const inv = period('Invocations');
  assert.deepEqual(inv.map((p) => [p.index, p.aggregate.sum]), [[10, 2], [11, 1]]);
  assert.deepEqual(period('Invocation5XXErrors').map((p) => p.aggregate.sum), [1, 0]);
  assert.deepEqual(period('Invocation4XXErrors').map((p) => p.aggregate.sum), [0, 1]);
  assert.deepEqual(period('InvocationsPerInstance').map((p) => p.aggregate.sum), [1, 1]);
  const latency = period('ModelLatency');
  assert.equal(latency[0]!.unit, 'Microseconds');
  assert.equal(latency[0]!.aggregate.sum / latency[0]!.aggregate.count, 2000);
  assert.equal(period('OverheadLatency')[0]!.aggregate.count, 1);
  // Dimension order does not matter; a different dimension set is another series.
  assert.equal(store.periods({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensions: [...dims].reverse() }, 10, 11, 60).length, 1);
  assert.equal(store.periods({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensions: dims.slice(0, 1) }, 10, 11, 60).length, 0);
  assert.equal(store.periods({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensions: dims }, 10, 11, 60, 'Count').length, 0);
  now = 0;
});

test("an inference component's invocations are also its own series by InferenceComponentName, with InvocationsPerCopy", () => {
  const store = new MetricStore(createMetricClock(60, () => 600_000));
  store.record({ endpoint: 'ep', variant: 'v1', at: 600_500, outcome: 'ok', modelLatencyMicros: 1000, overheadLatencyMicros: 10, instanceCount: 1, inferenceComponent: { name: 'ic', copies: 4 } });
  store.record({ endpoint: 'ep', variant: 'v1', at: 601_000, outcome: '4xx', instanceCount: 1, inferenceComponent: { name: 'ic', copies: 4 } });
  store.record({ endpoint: 'ep', variant: 'v1', at: 602_000, outcome: '5xx', instanceCount: 1, inferenceComponent: { name: 'ic', copies: 2 } });
  store.record({ endpoint: 'ep', variant: 'v1', at: 603_000, outcome: 'ok', instanceCount: 1 });
  const byComponent = (metricName: string) => store.periods({ namespace: 'AWS/SageMaker', metricName, dimensions: [{ Name: 'InferenceComponentName', Value: 'ic' }] }, 10, 11, 60)[0];
  assert.equal(byComponent('Invocations')?.aggregate.sum, 3);
  assert.equal(byComponent('Invocation4XXErrors')?.aggregate.sum, 1);
  assert.equal(byComponent('Invocation5XXErrors')?.aggregate.sum, 1);
  assert.equal(byComponent('InvocationsPerCopy')?.aggregate.sum, 1, '1/4 + 1/4 + 1/2');
  assert.equal(byComponent('InvocationsPerInstance'), undefined);
  assert.deepEqual([byComponent('ModelLatency')?.aggregate.count, byComponent('ModelLatency')?.unit, byComponent('OverheadLatency')?.aggregate.count], [1, 'Microseconds', 1]);
  // The endpoint and variant still count every invocation, the component's included.
  assert.equal(store.periods({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensions: dims }, 10, 11, 60)[0]?.aggregate.sum, 4);
});

test('InvocationModelErrors is 1 for each invocation the model container did not answer with a 2xx (4xx, 5xx, timeout), else 0, by variant and by component; a request the front door refused is 0; an asynchronous or a serverless endpoint publishes none', () => {
  // Before, it was never published: an alarm on it (an endpoint file's, an auto-rollback's) stayed INSUFFICIENT_DATA for good.
  const store = new MetricStore(createMetricClock(60, () => 600_000));
  const records = [{ outcome: 'ok' }, { outcome: '4xx', modelError: true }, { outcome: '5xx', modelError: true }, { outcome: 'ok' }, { outcome: '4xx' }] as const;
  for (const r of records) store.record({ endpoint: 'ep', variant: 'v1', at: 600_500, ...r, instanceCount: 1, inferenceComponent: { name: 'ic', copies: 1 } });
  store.record({ endpoint: 'async', variant: 'v1', at: 600_500, outcome: '5xx', modelError: true, instanceCount: 1, asynchronous: true });
  store.record({ endpoint: 'sls', variant: 'v1', at: 600_500, outcome: '5xx', modelError: true, instanceCount: 1, serverless: true });
  const errors = (dimensions: { Name: string; Value: string }[], metricName = 'InvocationModelErrors') => store.periods({ namespace: 'AWS/SageMaker', metricName, dimensions }, 10, 11, 60)[0];
  const byVariant = errors(dims);
  assert.deepEqual([byVariant?.aggregate.sum, byVariant?.aggregate.count, byVariant?.unit], [2, 5, 'None']);
  assert.equal(errors(dims, 'Invocation4XXErrors')?.aggregate.sum, 2, 'the refused request is a 4xx all the same');
  const byComponent = errors([{ Name: 'InferenceComponentName', Value: 'ic' }]);
  assert.deepEqual([byComponent?.aggregate.sum, byComponent?.aggregate.count], [2, 5]);
  for (const endpoint of ['async', 'sls']) assert.equal(errors([{ Name: 'EndpointName', Value: endpoint }, { Name: 'VariantName', Value: 'v1' }]), undefined, endpoint);
});

test('a scaled clock shortens periods: 1 real second per minute', () => {
  const store = new MetricStore(createMetricClock(1, () => 0));
  store.record({ endpoint: 'ep', variant: 'v1', at: 1_500, outcome: 'ok', instanceCount: 1 });
  assert.equal(store.periodIndex(1_500, 60), 1);
  assert.equal(store.periodStart(1, 60), 1000);
  assert.equal(store.periods({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensions: dims }, 1, 2, 60)[0]!.aggregate.sum, 1);
});

test('memory stays bounded: old buckets and least recent series are dropped', () => {
  const store = new MetricStore(createMetricClock(60, () => 0), { retentionSeconds: 600, hourlyRetentionSeconds: 3 * 3600, maxSeries: 12 });
  for (let i = 0; i < 2000; i++) store.record({ endpoint: 'ep', variant: 'v1', at: i * 10_000, outcome: 'ok', modelLatencyMicros: i, instanceCount: 1 });
  // 6 series, each at most retention/10 + 2 fine buckets and hourly retention + 2 hours.
  assert.ok(store.bucketCount() <= 6 * (62 + 5), `buckets: ${store.bucketCount()}`);
  for (let e = 0; e < 10; e++) store.record({ endpoint: `other-${e}`, variant: 'v', at: 20_000_000, outcome: 'ok', instanceCount: 1 });
  assert.ok(store.list().length <= 12);
  assert.equal(store.list({ metricName: 'Invocations', dimensions: [{ Name: 'EndpointName', Value: 'other-9' }] }).length, 1);
});

test('a serverless cold start becomes ModelSetupTime, in microseconds, per endpoint and variant', () => {
  const store = new MetricStore(createMetricClock(60, () => 600_000));
  store.recordModelSetup('ep', 'v1', 1_500_000, 600_500);
  store.recordModelSetup('ep', 'v1', 500_000, 610_000);
  const [p] = store.periods({ namespace: 'AWS/SageMaker', metricName: 'ModelSetupTime', dimensions: dims }, 10, 11, 60);
  assert.equal(p!.unit, 'Microseconds');
  assert.deepEqual([p!.aggregate.count, p!.aggregate.sum], [2, 2_000_000]);
});

test('data older than the fine retention is rolled into hourly buckets, which periods of whole hours read', () => {
  let now = 0;
  const store = new MetricStore(createMetricClock(60, () => now), { retentionSeconds: 600, hourlyRetentionSeconds: 7200 });
  const id = { namespace: 'MyApp', metricName: 'm', dimensions: [] };
  store.put(id, 1, 'None', 5_000);
  store.put(id, 4, 'None', 3_605_000);
  now = 4 * 3_600_000;
  store.put(id, 10, 'None', now);
  // The first hour is past the hourly retention by now; the second is kept as one hourly bucket.
  assert.deepEqual(store.periods(id, 0, 5, 3600).map((p) => [p.index, p.aggregate.sum, p.aggregate.count]), [[1, 4, 1], [4, 10, 1]]);
  assert.deepEqual(store.periods(id, 0, 2, 7200).map((p) => [p.index, p.aggregate.sum]), [[0, 4]]);
  assert.deepEqual(store.periods(id, 0, 241, 60).map((p) => [p.index, p.aggregate.sum]), [[240, 10]], 'a minute period cannot split an hour: only the fine data');
  // Old data put now lands in its hour, and data past the hourly retention is not kept.
  store.put(id, 2, 'None', 3_700_000);
  store.put(id, 2, 'None', 1_000);
  assert.deepEqual(store.periods(id, 1, 2, 3600).map((p) => p.aggregate.sum), [6]);
  assert.equal(store.bucketCount(), 2);
});

test('a period merged from full buckets keeps a percentile sample from all of them, by their share of the values', () => {
  const store = new MetricStore(createMetricClock(60, () => 600_000));
  const id = { namespace: 'MyApp', metricName: 'latency', dimensions: [] };
  // A busy minute: 300 fast values in its first 10 seconds, 300 slow ones in each of the next five.
  for (let b = 0; b < 6; b++) for (let i = 0; i < 300; i++) store.put(id, b === 0 ? 1 : 100, 'None', 600_000 + b * 10_000 + i);
  const [minute] = store.periods(id, 10, 11, 60);
  assert.equal(minute!.aggregate.count, 1800);
  assert.equal(minute!.aggregate.samples.length, MAX_SAMPLES_PER_AGGREGATE);
  assert.equal(percentileValue(minute!.aggregate, 50), 100, 'five sixths of the values are slow');
  // The split is by counts, whichever samples are drawn.
  const a = emptyAggregate();
  const b = emptyAggregate();
  addRepeatedValue(a, 1, 1000);
  addRepeatedValue(b, 2, 3000);
  mergeAggregate(a, b, () => 0.5);
  assert.deepEqual([a.samples.filter((x) => x === 1).length, a.samples.filter((x) => x === 2).length], [64, 192]);
});
