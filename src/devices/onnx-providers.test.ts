import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { onnxBindingDir, usableOnnxProviders } from './onnx-providers.js';

// What onnxruntime-node 1.30's Linux x64 binding answers, with or without the CUDA libraries installed.
const LINUX_X64 = [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];

test('CUDA and TensorRT count when their provider libraries are installed (the GPU image), though the binding calls them not bundled', () => {
  assert.deepEqual(usableOnnxProviders(LINUX_X64, () => true), ['cpu', 'webgpu', 'cuda', 'tensorrt']);
  assert.deepEqual(usableOnnxProviders(LINUX_X64, (name) => name === 'cuda'), ['cpu', 'webgpu', 'cuda']);
});

test('without their libraries (the CPU image, a plain npm install) CUDA and TensorRT do not count', () => {
  assert.deepEqual(usableOnnxProviders(LINUX_X64, () => false), ['cpu', 'webgpu']);
});

test('the provider libraries are looked for where the binding is loaded from', () => {
  assert.ok(existsSync(path.join(onnxBindingDir(), 'onnxruntime_binding.node')), onnxBindingDir());
});
