import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chooseInferenceMode } from './inference-mode.js';

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'smkit-mode-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    writeFileSync(path.join(d, name), content);
  }
  return d;
}

const choose = (d: string, requested: 'auto' | 'thread' | 'inline' = 'auto') => chooseInferenceMode(requested, d, path.join(d, 'code'), 'inference').mode;

test('an ONNX model with no user code runs inline', () => {
  assert.equal(choose(dir({ 'model.onnx': 'x' })), 'inline');
  assert.equal(choose(dir({ 'a.onnx': 'x', 'b.onnx': 'y', 'pipeline.yaml': 'predict:\n  - model: a.onnx\n  - model: b.onnx\n' })), 'inline');
});

test('user code, custom steps, TF.js models and invalid files run in a thread', () => {
  assert.equal(choose(dir({ 'model.onnx': 'x', 'code/inference.mjs': 'export {}' })), 'thread');
  assert.equal(choose(dir({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\npostprocess:\n  - custom: { module: s.mjs }\n' })), 'thread');
  assert.equal(choose(dir({ 'model.json': '{}' })), 'thread');
  assert.equal(choose(dir({ 'm.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: tfjs/model.json\n' })), 'thread');
  assert.equal(choose(dir({ 'pipeline.yaml': 'predict: [' })), 'thread');
  assert.equal(choose('/does/not/exist'), 'thread');
});

test('SMKIT_INFERENCE_MODE forces the mode', () => {
  assert.equal(choose(dir({ 'model.onnx': 'x' }), 'thread'), 'thread');
  assert.equal(choose(dir({ 'code/inference.mjs': '' }), 'inline'), 'inline');
});
