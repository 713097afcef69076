import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from './metrics.js';

test("collect() gives this process's registry as JSON for the primary to merge (prom-client loaded first), its gauges read now", async () => {
  const metrics = createMetrics();
  metrics.observe('collect-test', 200, 0.01);
  metrics.trackPending(() => 2);
  const listeners = process.listenerCount('message');
  const list = await metrics.collect();
  const find = (name: string) => list.find((m) => m.name === name);
  assert.deepEqual(find('smkit_invocations_total')?.values.find((v) => v.labels.model === 'collect-test'), { labels: { model: 'collect-test', status: '200' }, value: 1 });
  assert.equal(find('smkit_invocations_total')?.aggregator, 'sum');
  assert.deepEqual(find('smkit_pending_invocations')?.values.map((v) => v.value), [2]);
  assert.equal(find('smkit_pending_invocations')?.type, 'gauge');
  assert.ok(find('smkit_process_resident_memory_bytes'), "prom-client's default metrics are there");
  assert.equal(process.listenerCount('message'), listeners, 'no cluster listener of prom-client');
});
