import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chooseInferenceMode } from './inference-mode.js';

const made: string[] = [];
describe('inference mode', () => {
  after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  function dir(files: Record<string, string>): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'smkit-mode-'));
    made.push(d);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
      writeFileSync(path.join(d, name), content);
    }
    return d;
  }

  // smkit's own runtimes and step kinds, as the server uses them (no registries given).
  const choose = async (d: string, requested: 'auto' | 'thread' | 'inline' = 'auto') => (await chooseInferenceMode(requested, d, path.join(d, 'code'), 'inference')).mode;

  test('an ONNX model with no user code runs inline', async () => {
    assert.equal(await choose(dir({ 'model.onnx': 'x' })), 'inline');
    assert.equal(await choose(dir({ 'a.onnx': 'x', 'b.onnx': 'y', 'pipeline.yaml': 'predict:\n  - model: a.onnx\n  - model: b.onnx\n' })), 'inline');
  });

  test('user code, custom steps, TF.js models and invalid files run in a thread', async () => {
    assert.equal(await choose(dir({ 'model.onnx': 'x', 'code/inference.mjs': 'export {}' })), 'thread');
    assert.equal(await choose(dir({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\npostprocess:\n  - custom: { module: s.mjs }\n' })), 'thread');
    assert.equal(await choose(dir({ 'model.json': '{}' })), 'thread');
    assert.equal(await choose(dir({ 'm.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: tfjs/model.json\n' })), 'thread');
    assert.equal(await choose(dir({ 'pipeline.yaml': 'predict: [' })), 'thread');
    assert.equal(await choose('/does/not/exist'), 'thread');
  });

  test('the runtime registry decides, not file names: a runtime not flagged inlineSafe runs in a thread', async () => {
    const { RuntimeRegistry } = await import('../runtimes/registry.js');
    const { onnxRuntimeFactory } = await import('../runtimes/onnx/factory.js');
    const onJsThread = new RuntimeRegistry().register({ ...onnxRuntimeFactory, inlineSafe: false });
    const d = dir({ 'model.onnx': 'x' });
    assert.equal((await chooseInferenceMode('auto', d, path.join(d, 'code'), 'inference', { runtimes: onJsThread })).mode, 'thread');
    const { StepRegistry } = await import('../pipeline/registry.js');
    const userCodeSteps = new StepRegistry().register('scale', () => ({ name: 's', stage: 'preprocess', run: (x) => x }), { runsUserCode: true });
    const piped = dir({ 'model.onnx': 'x', 'pipeline.yaml': 'preprocess:\n  - scale: {}\npredict:\n  - model: model.onnx\n' });
    assert.equal((await chooseInferenceMode('auto', piped, path.join(piped, 'code'), 'inference', { steps: userCodeSteps })).mode, 'thread');
    assert.equal(await choose(piped), 'inline');
  });

  test('SMKIT_INFERENCE_MODE forces the mode', async () => {
    assert.equal(await choose(dir({ 'model.onnx': 'x' }), 'thread'), 'thread');
    assert.equal(await choose(dir({ 'code/inference.mjs': '' }), 'inline'), 'inline');
  });
});
