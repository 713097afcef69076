import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cudaVisibleDevicesForWorker, gpuForWorker, planWorkerGpus } from './assign.js';
import { inspectGpus, type GpuProbes } from './gpus.js';

const smi = (n: number) => Array.from({ length: n }, (_, i) => `GPU ${i}: Tesla T4 (UUID: GPU-${i}${i}${i}${i})`).join('\n');
const probes = (n: number, cvd?: string): GpuProbes => ({ listDevFiles: () => [], nvidiaSmiList: () => smi(n), cudaVisibleDevices: () => cvd });

test('workers are spread over GPUs round-robin, not all on GPU 0', () => {
  const plan = planWorkerGpus(5, inspectGpus(probes(2)));
  assert.deepEqual(plan.map((w) => w.gpu?.ordinal), [0, 1, 0, 1, 0]);
});

test('round-robin uses CUDA ordinals after CUDA_VISIBLE_DEVICES narrowing', () => {
  const inv = inspectGpus(probes(4, '3,1'));
  assert.deepEqual(planWorkerGpus(3, inv).map((w) => [w.gpu?.ordinal, w.gpu?.physical.index]), [[0, 3], [1, 1], [0, 3]]);
});

test('no visible GPU: no assignment', () => {
  assert.equal(gpuForWorker(0, []), undefined);
  assert.deepEqual(planWorkerGpus(2, inspectGpus(probes(0))), [{ worker: 0 }, { worker: 1 }]);
  assert.equal(cudaVisibleDevicesForWorker(1, inspectGpus(probes(2, ''))), undefined);
});

test('a negative worker index is a programming error', () => {
  const inv = inspectGpus(probes(2));
  assert.throws(() => gpuForWorker(-1, inv.visible), RangeError);
});

test('per-process pinning names the physical GPU (UUID when known, else the visible entry)', () => {
  assert.equal(cudaVisibleDevicesForWorker(3, inspectGpus(probes(2))), 'GPU-1111');
  const devOnly: GpuProbes = { listDevFiles: () => ['nvidia0', 'nvidia1', 'nvidia2'], nvidiaSmiList: () => undefined, cudaVisibleDevices: () => '2,0' };
  assert.equal(cudaVisibleDevicesForWorker(0, inspectGpus(devOnly)), '2');
  assert.equal(cudaVisibleDevicesForWorker(1, inspectGpus(devOnly)), '0');
});
