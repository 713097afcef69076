import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { spawnSync } from 'node:child_process';
import { createMetrics } from './metrics.js';

const MODULE = new URL('./metrics.js', import.meta.url).href;

test("collect() gives this process's registry as JSON for the primary to merge (prom-client loaded first), its gauges read now", async () => {
  const metrics = createMetrics();
  metrics.observe('collect-test', 200, 0.01);
  metrics.trackPending(() => 2);
  // This test process is a cluster primary, where prom-client's AggregatorRegistry installs its listener.
  const listeners = cluster.listenerCount('message');
  const list = await metrics.collect();
  const find = (name: string) => list.find((m) => m.name === name);
  assert.deepEqual(find('smkit_invocations_total')?.values.find((v) => v.labels.model === 'collect-test'), { labels: { model: 'collect-test', status: '200' }, value: 1 });
  assert.equal(find('smkit_invocations_total')?.aggregator, 'sum');
  assert.deepEqual(find('smkit_pending_invocations')?.values.map((v) => v.value), [2]);
  assert.equal(find('smkit_pending_invocations')?.type, 'gauge');
  assert.ok(find('smkit_process_resident_memory_bytes'), "prom-client's default metrics are there");
  assert.equal(cluster.listenerCount('message'), listeners, 'no cluster listener of prom-client');
});

test("collect() whose registry fails (a gauge's reader throws) answers with smkit's own instruments, never rejects", async () => {
  const metrics = createMetrics();
  metrics.observe('collect-fails', 200, 0.01);
  metrics.trackPending(() => {
    throw new Error('reader failed');
  });
  try {
    const list = await metrics.collect();
    const names = list.map((m) => m.name);
    assert.deepEqual(list.find((m) => m.name === 'smkit_invocations_total')?.values.find((v) => v.labels.model === 'collect-fails')?.value, 1);
    assert.ok(!names.includes('smkit_pending_invocations'), names.join(' '));
    assert.ok(!names.includes('smkit_process_resident_memory_bytes'), names.join(' '));
  } finally {
    metrics.trackPending(() => 0);
  }
});

test('collect() with no file descriptor to load prom-client answers with smkit\'s own instruments; once free, with the whole registry', { skip: process.platform !== 'linux' }, () => {
  const script = `
import { openSync, closeSync } from 'node:fs';
import { createMetrics } from ${JSON.stringify(MODULE)};
const taken = [];
const metrics = createMetrics();
metrics.observe('m', 200, 0.01);
try { for (;;) taken.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
const names = (list) => list.map((m) => m.name);
const first = await metrics.collect();
for (const fd of taken.splice(0)) closeSync(fd);
const second = await metrics.collect();
const count = (list) => list.find((m) => m.name === 'smkit_invocations_total')?.values[0]?.value;
console.log(JSON.stringify({ first: names(first), firstCount: count(first), second: names(second), secondCount: count(second) }));
`;
  // POSIX sh sets the limit, then runs Node in its place.
  const r = spawnSync('sh', ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { first: string[]; firstCount: number; second: string[]; secondCount: number };
  assert.equal(result.firstCount, 1, 'what was recorded, without prom-client');
  assert.ok(!result.first.includes('smkit_process_resident_memory_bytes'), result.first.join(' '));
  assert.ok(!result.first.includes('smkit_pending_invocations'), "prom-client's gauges are not there");
  assert.equal(result.secondCount, 1);
  assert.ok(result.second.includes('smkit_process_resident_memory_bytes'), 'loaded once descriptors are free');
});
