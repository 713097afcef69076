import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePipelineSpec, readPipelineFile } from './pipeline-file.js';
import { ToolkitError } from '../errors/catalogue.js';

const invalid = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_PIPELINE_INVALID' && pattern.test(err.message));

test('stages are flattened in order with kinds, names and options', () => {
  const spec = parsePipelineSpec({
    preprocess: [{ cast: { dtype: 'float32' } }],
    predict: [{ model: 'a.onnx' }, { model: 'b.onnx', runtime: 'onnx' }],
    postprocess: [{ softmax: null }, { topk: { k: 2 } }],
  });
  assert.deepEqual(
    spec.steps.map((s) => [s.stage, s.kind, s.name]),
    [
      ['preprocess', 'cast', 'preprocess[0]:cast'],
      ['predict', 'predict', 'predict[0]:a.onnx'],
      ['predict', 'predict', 'predict[1]:b.onnx'],
      ['postprocess', 'softmax', 'postprocess[0]:softmax'],
      ['postprocess', 'topk', 'postprocess[1]:topk'],
    ],
  );
  assert.deepEqual(spec.steps[2]!.options, { model: 'b.onnx', runtime: 'onnx' });
  assert.deepEqual(spec.steps[3]!.options, {});
});

test('mistakes are refused with a message naming the place', () => {
  invalid(() => parsePipelineSpec([]), /must be a mapping/);
  invalid(() => parsePipelineSpec({ steps: [] }), /unknown top-level key\(s\) steps/);
  invalid(() => parsePipelineSpec({ preprocess: [] }), /predict needs at least one step/);
  invalid(() => parsePipelineSpec({ predict: [{ model: '' }] }), /predict\[0\]\.model/);
  invalid(() => parsePipelineSpec({ predict: [{ model: 'm.onnx' }], postprocess: [{ softmax: {}, topk: {} }] }), /postprocess\[0\] must have exactly one key/);
  invalid(() => parsePipelineSpec({ predict: [{ model: 'm.onnx' }], postprocess: [{ topk: 3 }] }), /postprocess\[0\]\.topk options must be a mapping/);
  invalid(() => parsePipelineSpec({ version: 2, predict: [{ model: 'm.onnx' }] }), /version must be 1/);
});

test('readPipelineFile finds YAML in a model directory and reports parse errors', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(readPipelineFile(dir), undefined);
  writeFileSync(path.join(dir, 'pipeline.yaml'), 'predict:\n  - model: model.onnx\n');
  assert.equal(readPipelineFile(dir)!.steps[0]!.kind, 'predict');
  writeFileSync(path.join(dir, 'pipeline.yaml'), 'predict: [\n');
  invalid(() => readPipelineFile(dir), /pipeline\.yaml: cannot be parsed/);
});

test('a JSON pipeline file that does not parse is refused with the line and column of the mistake', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-json-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'pipeline.json'), '{\n  "predict": [\n    { "model": "scaler.onnx" },\n  ]\n}\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.json: cannot be parsed: line 4, column 3: Unexpected token/);
});
