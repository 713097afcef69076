import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TF_GPU_GROWTH_SWITCH, defaultTensorFlowGpuMemoryGrowth } from './tensorflow-gpu-memory.js';

test('TensorFlow takes GPU memory as it needs it when nobody chose: the variable unset or empty becomes true', () => {
  for (const env of [{}, { [TF_GPU_GROWTH_SWITCH]: '' }] as NodeJS.ProcessEnv[]) {
    assert.equal(defaultTensorFlowGpuMemoryGrowth(env), true);
    assert.equal(env[TF_GPU_GROWTH_SWITCH], 'true');
    assert.equal(defaultTensorFlowGpuMemoryGrowth(env), false);
    assert.equal(env[TF_GPU_GROWTH_SWITCH], 'true');
  }
});

test("a user's own TF_FORCE_GPU_ALLOW_GROWTH wins, including false (TensorFlow's default)", () => {
  for (const value of ['false', 'true']) {
    const env: NodeJS.ProcessEnv = { [TF_GPU_GROWTH_SWITCH]: value };
    assert.equal(defaultTensorFlowGpuMemoryGrowth(env), false);
    assert.equal(env[TF_GPU_GROWTH_SWITCH], value);
  }
});
