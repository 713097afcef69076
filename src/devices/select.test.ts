import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectGpus, type GpuProbes } from './gpus.js';
import { selectOnnxProviders, selectTfjsBinding } from './select.js';

const smi = (n: number) => Array.from({ length: n }, (_, i) => `GPU ${i}: Tesla T4 (UUID: GPU-${i})`).join('\n');
const inv = (n: number, cvd?: string) =>
  inspectGpus({ listDevFiles: () => [], nvidiaSmiList: () => (n > 0 ? smi(n) : undefined), cudaVisibleDevices: () => cvd } satisfies GpuProbes);
const GPU_BUILD = ['cpu', 'cuda', 'tensorrt'];
const CPU_BUILD = ['cpu'];

test('auto on a GPU image with a GPU: CUDA on the worker\'s round-robin GPU, no warning', () => {
  const c = selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 3, inventory: inv(2) });
  assert.deepEqual(c.providers, [{ name: 'cuda', deviceId: 1 }, 'cpu']);
  assert.equal(c.label, 'cuda:1');
  assert.deepEqual(c.warnings, []);
});

test('auto on the CPU build: CPU, quietly without a GPU; with one visible (the CPU image run with --gpus), one warning that it stays unused', () => {
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(0) }), { providers: ['cpu'], label: 'cpu', warnings: [] });
  const withGpu = selectOnnxProviders({ requested: ['auto'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(1) });
  assert.deepEqual(withGpu.providers, ['cpu']);
  assert.deepEqual(withGpu.warnings, ['SMKIT_DEVICE=auto: a GPU is visible but this onnxruntime-node build has no CUDA execution provider (the CPU image, or onnxruntime-node installed without its CUDA libraries): use the GPU image; using CPU']);
  assert.match(selectOnnxProviders({ requested: ['auto'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(4) }).warnings.join('\n'), /^SMKIT_DEVICE=auto: 4 GPUs are visible but/);
  // And the worker-count warnings, which are about GPUs in use, do not join it.
  assert.equal(selectOnnxProviders({ requested: ['auto'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 6 }).warnings.length, 1);
});

test('auto on the GPU build (the GPU image) without a GPU: CPU, with a warning naming the cause', () => {
  const none = selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(0) });
  assert.deepEqual(none.providers, ['cpu']);
  assert.equal(none.warnings.length, 1);
  assert.match(none.warnings[0]!, /^SMKIT_DEVICE=auto: .*CUDA execution provider \(the GPU image\) but no GPU is visible \(no nvidia-smi, no \/dev\/nvidiaN: run with --gpus all on a GPU host\); using CPU$/);
  const hidden = selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2, '') });
  assert.match(hidden.warnings[0]!, /CUDA_VISIBLE_DEVICES="" hides the 2 present/);
});

test('tensorrt keeps cuda behind it and cpu last', () => {
  const c = selectOnnxProviders({ requested: ['tensorrt'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(1) });
  assert.deepEqual(c.providers, [{ name: 'tensorrt', deviceId: 0 }, { name: 'cuda', deviceId: 0 }, 'cpu']);
  assert.equal(c.label, 'tensorrt:0');
});

test('an explicit GPU request without a GPU falls back to CPU with a warning naming the cause', () => {
  const none = selectOnnxProviders({ requested: ['cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(0) });
  assert.equal(none.label, 'cpu');
  assert.match(none.warnings[0]!, /cuda was asked for .* no GPU is visible .*--gpus all/);
  const hidden = selectOnnxProviders({ requested: ['gpu'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2, '') });
  assert.match(hidden.warnings[0]!, /CUDA_VISIBLE_DEVICES="" hides the 2 present/);
});

test('tensorrt missing from the build: warn, use cuda; CPU build: warn twice, use cpu', () => {
  const noTrt = selectOnnxProviders({ requested: ['tensorrt'], supported: ['cpu', 'cuda'], workerIndex: 1, inventory: inv(2) });
  assert.deepEqual(noTrt.providers, [{ name: 'cuda', deviceId: 1 }, 'cpu']);
  assert.equal(noTrt.warnings.length, 1);
  const cpuBuild = selectOnnxProviders({ requested: ['tensorrt'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(1) });
  assert.deepEqual(cpuBuild.providers, ['cpu']);
  assert.equal(cpuBuild.warnings.length, 2);
});

test('cpu first ends the list even when a GPU is there', () => {
  assert.deepEqual(selectOnnxProviders({ requested: ['cpu', 'cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(1) }).providers, ['cpu']);
});

test('TF.js: tfjs-node-gpu only with a GPU and the binding installed; otherwise CPU binding', () => {
  assert.deepEqual(selectTfjsBinding({ requested: ['auto'], inventory: inv(1), gpuBindingInstalled: true }).packages, ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
  assert.deepEqual(selectTfjsBinding({ requested: ['auto'], inventory: inv(1), gpuBindingInstalled: false }), { packages: ['@tensorflow/tfjs-node'], warnings: [] });
  assert.deepEqual(selectTfjsBinding({ requested: ['cpu'], inventory: inv(1), gpuBindingInstalled: true }).packages, ['@tensorflow/tfjs-node']);
  const asked = selectTfjsBinding({ requested: ['cuda'], inventory: inv(1), gpuBindingInstalled: false });
  assert.match(asked.warnings[0]!, /tfjs-node-gpu is not installed .*CUDA 11.2/);
  assert.match(selectTfjsBinding({ requested: ['gpu'], inventory: inv(0), gpuBindingInstalled: true }).warnings[0]!, /no GPU is visible/);
});

test('what GPU detection noted (a CUDA_VISIBLE_DEVICES entry CUDA ignores, with the rest) is a warning when a GPU is considered, not when cpu comes first', () => {
  const partly = selectOnnxProviders({ requested: ['cuda'], supported: GPU_BUILD, workerIndex: 1, inventory: inv(2, '0,5,1') });
  // Only GPU 0 is visible: both workers use it, and the warning says why the others are not.
  assert.deepEqual(partly.providers, [{ name: 'cuda', deviceId: 0 }, 'cpu']);
  assert.deepEqual(partly.warnings, ['CUDA_VISIBLE_DEVICES entry "5" names no usable GPU; CUDA ignores it and every entry after it ("5,1")']);
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2, '0,5') }).warnings.length, 1);
  assert.deepEqual(selectOnnxProviders({ requested: ['cpu', 'cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2, '0,5') }).warnings, []);
  // Said once, whatever the list holds after it.
  assert.equal(selectOnnxProviders({ requested: ['tensorrt', 'cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2, '0,5') }).warnings.length, 1);
});

test('fewer workers than visible GPUs: worker 0 warns which GPUs stay unused, naming SAGEMAKER_MODEL_SERVER_WORKERS; enough workers, CPU, or another worker: no warning', () => {
  const one = selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 1 });
  assert.deepEqual(one.providers, [{ name: 'cuda', deviceId: 0 }, 'cpu']);
  assert.deepEqual(one.warnings, [
    '4 GPUs are visible but only 1 worker serves (SAGEMAKER_MODEL_SERVER_WORKERS or --workers), one GPU each: GPUs 1, 2, 3 stay unused; set SAGEMAKER_MODEL_SERVER_WORKERS to 4 (or a multiple of it)',
  ]);
  assert.match(selectOnnxProviders({ requested: ['cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 3 }).warnings[0]!, /only 3 workers serve .*GPU 3 stays unused/);
  for (const workers of [4, 8, undefined]) assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), ...(workers ? { workers } : {}) }).warnings, [], String(workers));
  // Said once, by worker 0; and not at all when the model does not run on a GPU.
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 1, inventory: inv(4), workers: 2 }).warnings, []);
  assert.deepEqual(selectOnnxProviders({ requested: ['cpu'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 1 }).warnings, []);
  // The CPU build uses no GPU: only the warning that the GPUs stay unused, none about the workers.
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: CPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 1 }).warnings.filter((w) => /worker/.test(w)), []);
});

test('more workers than visible GPUs but not a multiple of them: worker 0 warns which GPUs get a worker more, naming SAGEMAKER_MODEL_SERVER_WORKERS; a multiple, CPU, or another worker: no warning', () => {
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 6 }).warnings, [
    '6 workers (SAGEMAKER_MODEL_SERVER_WORKERS or --workers) do not spread evenly over 4 visible GPUs: GPUs 0, 1 get 2 workers (a model copy and its memory each), the others 1; set SAGEMAKER_MODEL_SERVER_WORKERS to a multiple of 4 (4 or 8)',
  ]);
  assert.match(selectOnnxProviders({ requested: ['cuda'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(2), workers: 3 }).warnings[0]!, /^3 workers .* over 2 visible GPUs: GPU 0 gets 2 workers .* the others 1; .* multiple of 2 \(2 or 4\)$/);
  for (const workers of [8, 12]) assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers }).warnings, [], String(workers));
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(1), workers: 3 }).warnings, []);
  assert.deepEqual(selectOnnxProviders({ requested: ['auto'], supported: GPU_BUILD, workerIndex: 1, inventory: inv(4), workers: 6 }).warnings, []);
  assert.deepEqual(selectOnnxProviders({ requested: ['cpu'], supported: GPU_BUILD, workerIndex: 0, inventory: inv(4), workers: 6 }).warnings, []);
});
