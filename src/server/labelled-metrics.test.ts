import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './labelled-metrics.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
type Observation = { model: string; status: string; value: number };
const observations = fc.array(
  fc.record({
    model: fc.constantFrom('model', 'a', 'b"quoted"', 'x\\y'),
    status: fc.constantFrom('200', '400', '503'),
    // Values on the bounds themselves belong to that bucket (le is "less than or equal").
    value: fc.oneof(fc.constantFrom(...BOUNDS, 0, 5), fc.double({ min: 0, max: 5, noNaN: true })),
  }),
  { maxLength: 60 },
);

/** The exposition prom-client's own instruments write for the same observations. */
async function promClientText(obs: Observation[]): Promise<string> {
  const registry = new Registry();
  const counter = new Counter({ name: 'c_total', help: 'h', labelNames: ['model', 'status'], registers: [registry] });
  const histogram = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['model'], buckets: BOUNDS, registers: [registry] });
  for (const o of obs) {
    counter.inc({ model: o.model, status: o.status });
    histogram.observe({ model: o.model }, o.value);
  }
  return registry.metrics();
}

async function ourText(obs: Observation[]): Promise<string> {
  const registry = new Registry();
  const counter = new LabelledCounter('c_total', 'h', ['model', 'status']);
  const histogram = new LabelledHistogram('h_seconds', 'h', ['model'], BOUNDS);
  for (const metric of [counter, histogram]) registry.registerMetric(metric as never);
  for (const o of obs) {
    counter.inc([o.model, o.status]);
    histogram.observe([o.model], o.value);
  }
  return registry.metrics();
}

/** The lines of an exposition, sorted: label sets may come in another order. */
const lines = (text: string) => text.split('\n').filter(Boolean).sort();

test('counters and histograms write exactly what prom-client writes for the same observations', async () => {
  await fc.assert(
    fc.asyncProperty(observations, async (obs) => {
      assert.deepEqual(lines(await ourText(obs)), lines(await promClientText(obs)));
    }),
    { numRuns: 200 },
  );
});

test('cluster aggregation sums every worker\'s counts, buckets, sums and counts', async () => {
  const worker = (values: number[]) => {
    const registry = new Registry();
    const histogram = new LabelledHistogram('h_seconds', 'h', ['model'], BOUNDS);
    registry.registerMetric(histogram as never);
    for (const v of values) histogram.observe(['model'], v);
    return registry.getMetricsAsJSON();
  };
  const merged = AggregatorRegistry.aggregate([await worker([0.005, 0.5]), await worker([0.005, 2])]);
  const text = await merged.metrics();
  assert.match(text, /^h_seconds_bucket\{le="0.01",model="model"\} 2$/m);
  assert.match(text, /^h_seconds_bucket\{le="1",model="model"\} 3$/m);
  assert.match(text, /^h_seconds_bucket\{le="\+Inf",model="model"\} 4$/m);
  assert.match(text, /^h_seconds_count\{model="model"\} 4$/m);
  assert.match(text, /^h_seconds_sum\{model="model"\} 2.51$/m);
});

test('reset forgets every label set', async () => {
  const counter = new LabelledCounter('c_total', 'h', ['model']);
  counter.inc(['a'], 3);
  assert.equal((await counter.get()).values[0]?.value, 3);
  counter.reset();
  assert.deepEqual((await counter.get()).values, []);
  counter.inc(['a']);
  assert.equal((await counter.get()).values[0]?.value, 1);
});

test('forget(value) drops the series whose first label is value, and only those; one recorded again starts anew', async () => {
  const counter = new LabelledCounter('c_total', 'h', ['model', 'status']);
  const histogram = new LabelledHistogram('h_seconds', 'h', ['model'], BOUNDS);
  for (const model of ['a', 'b', 'a']) {
    counter.inc([model, '200']);
    histogram.observe([model], 0.05);
  }
  counter.inc(['a', '500']);
  counter.forget('a');
  histogram.forget('a');
  assert.deepEqual((await counter.get()).values, [{ labels: { model: 'b', status: '200' }, value: 1 }]);
  assert.deepEqual(new Set((await histogram.get()).values.map((v) => v.labels['model'])), new Set(['b']));
  counter.inc(['a', '200']);
  assert.deepEqual((await counter.get()).values.map((v) => [v.labels['model'], v.value]), [['b', 1], ['a', 1]]);
});
