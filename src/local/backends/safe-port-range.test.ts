import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../config/settings.js';
import { findFreePort } from '../../net/ports.js';
import type { ContainerBackend } from './backend.js';
import { adjacentPortRange, formatPortRange, SAFE_PORT_RANGE_SIZE, safePortRangeFor } from './safe-port-range.js';

const backendNamed = (name: ContainerBackend['name']): ContainerBackend => ({ name, start: () => Promise.reject(new Error('not started in this test')) });

test('process backend: the containers of a pipeline, started at once, get disjoint ranges of free ports that hold no bound port', async () => {
  const onHost = backendNamed('process');
  // As launchContainer does for each container of a pipeline of 15 (SageMaker's most), all at once: its port, then its range.
  const containers = await Promise.all(
    Array.from({ length: 15 }, async () => {
      const port = await findFreePort();
      return { port, range: await safePortRangeFor(onHost, port) };
    }),
  );
  const bound = new Set(containers.map((c) => c.port));
  const inRanges = new Set<number>();
  for (const { range } of containers) {
    const [low, high] = range;
    assert.equal(high - low + 1, SAFE_PORT_RANGE_SIZE);
    assert.ok(low >= 1 && high <= 65535, `${formatPortRange(range)} is within 1-65535`);
    for (let p = low; p <= high; p++) {
      assert.equal(bound.has(p), false, `${formatPortRange(range)} holds no container's bound port (${p})`);
      assert.equal(inRanges.has(p), false, `${formatPortRange(range)} overlaps another container's range at ${p}`);
      inRanges.add(p);
    }
  }
  // A port handed out later is not in any of them either.
  assert.equal(inRanges.has(await findFreePort()), false);
});

test('docker backend: the ports next to the bound one, inside the container, never the bound port itself', async () => {
  assert.deepEqual(await safePortRangeFor(backendNamed('docker'), 41000), [41001, 41010]);
  assert.deepEqual(adjacentPortRange(65530), [65520, 65529], 'below the bound port when above would pass 65535');
  assert.deepEqual(adjacentPortRange(65525), [65526, 65535]);
  for (const port of [1025, 65525, 65526, 65535]) {
    const [low, high] = adjacentPortRange(port);
    assert.ok(low >= 1 && high <= 65535 && (port < low || port > high), `${port}: ${low}-${high}`);
  }
});

test('the value written is the inclusive "LOW-HIGH" that smkit serve reads back', () => {
  assert.equal(formatPortRange([41001, 41010]), '41001-41010');
  assert.deepEqual(loadSettings({ SAGEMAKER_SAFE_PORT_RANGE: formatPortRange([41001, 41010]) }, {}, 1).safePortRange, [41001, 41010]);
});
