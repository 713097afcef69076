import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseExecutionProviders } from './execution-providers.js';

test('cpu request never probes GPUs and uses cpu only', () => {
  const c = chooseExecutionProviders({ requested: ['cpu'], supported: ['cpu', 'cuda'], workerIndex: 0, gpus: [0] });
  assert.deepEqual(c.providers, ['cpu']);
  assert.equal(c.label, 'cpu');
  assert.deepEqual(c.warnings, []);
});

test('cuda with GPUs and a CUDA build spreads workers round-robin', () => {
  const picks = [0, 1, 2, 3].map((w) => chooseExecutionProviders({ requested: ['cuda'], supported: ['cpu', 'cuda'], workerIndex: w, gpus: [0, 1] }).label);
  assert.deepEqual(picks, ['cuda:0', 'cuda:1', 'cuda:0', 'cuda:1']);
});

test('cuda asked for without a GPU falls back to cpu with a warning', () => {
  const c = chooseExecutionProviders({ requested: ['cuda'], supported: ['cpu', 'cuda'], workerIndex: 0, gpus: [] });
  assert.deepEqual(c.providers, ['cpu']);
  assert.match(c.warnings.join(' '), /no GPU is visible/);
});

test('cuda asked for on a CPU-only build warns and falls back', () => {
  const c = chooseExecutionProviders({ requested: ['cuda'], supported: ['cpu'], workerIndex: 0, gpus: [0] });
  assert.deepEqual(c.providers, ['cpu']);
  assert.match(c.warnings.join(' '), /no cuda execution provider/);
});

test('tensorrt prefers TensorRT then CUDA then CPU', () => {
  const c = chooseExecutionProviders({ requested: ['tensorrt'], supported: ['cpu', 'cuda', 'tensorrt'], workerIndex: 1, gpus: [3, 5] });
  assert.deepEqual(c.providers, [{ name: 'tensorrt', deviceId: 5 }, { name: 'cuda', deviceId: 5 }, 'cpu']);
  assert.equal(c.label, 'tensorrt:5');
});

test('auto without GPUs is quiet cpu', () => {
  const c = chooseExecutionProviders({ requested: ['auto'], supported: ['cpu'], workerIndex: 0, gpus: [] });
  assert.deepEqual(c.providers, ['cpu']);
  assert.deepEqual(c.warnings, []);
});
