import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { MAX_PIPELINE_FILE_BYTES, parsePipelineSpec, readPipelineFile } from './pipeline-file.js';
import { ToolkitError } from '../errors/catalogue.js';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { countScalarValueReads } from '../../test/helpers/yaml-key-reads.js';

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

test('a pipeline file that is not a regular file, or is over the size read, stops start-up saying so, before a byte is read: a FIFO held the start for good', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pipeline.yaml');
  mkdirSync(file);
  invalid(() => readPipelineFile(dir), /^pipeline\.yaml: cannot be read: it is a directory, expected a regular file$/);
  rmSync(file, { recursive: true });
  // Sparse: its size is over the limit without writing it.
  writeFileSync(file, '');
  truncateSync(file, MAX_PIPELINE_FILE_BYTES + 1);
  invalid(() => readPipelineFile(dir), new RegExp(`^pipeline\\.yaml: cannot be read: it is ${MAX_PIPELINE_FILE_BYTES + 1} bytes, over the ${MAX_PIPELINE_FILE_BYTES} bytes read$`));
  rmSync(file);
  if (process.platform === 'win32') return;
  execFileSync('mkfifo', [file]);
  invalid(() => readPipelineFile(dir), /^pipeline\.yaml: cannot be read: it is a FIFO \(named pipe\), expected a regular file$/);
});

test('a JSON pipeline file that does not parse is refused with the line and column of the mistake', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-json-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'pipeline.json'), '{\n  "predict": [\n    { "model": "scaler.onnx" },\n  ]\n}\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.json: cannot be parsed: line 4, column 3: Unexpected token/);
  writeFileSync(path.join(dir, 'pipeline.json'), '\uFEFF{ "predict": [{ "model": "scaler.onnx" }] }');
  assert.equal(readPipelineFile(dir)!.steps.length, 1, 'a UTF-8 byte order mark is skipped');
});

test('a JSON pipeline file with a key written twice is refused naming the key and both places, as a YAML one is', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-dup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pipeline.json');
  writeFileSync(file, '{\n  "predict": [{ "model": "a.onnx" }],\n  "predict": [{ "model": "b.onnx" }]\n}\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.json: cannot be parsed: line 3, column 3: duplicate key "predict" \(first at line 2, column 3\)/);
  // In a step, and spelled with an escape: JSON.parse would have kept "b.onnx".
  writeFileSync(file, '{ "predict": [{ "model": "a.onnx", "runtime": "onnx", "mo\\u0064el": "b.onnx" }] }');
  invalid(() => readPipelineFile(dir), /^pipeline\.json: cannot be parsed: line 1, column 55: duplicate key "model" \(first at line 1, column 17\)/);
  writeFileSync(file, '{ "predict": [{ "model": "a.onnx" }], "__proto__": 1, "__proto__": 2 }');
  invalid(() => readPipelineFile(dir), /line 1, column 55: duplicate key "__proto__" \(first at line 1, column 39\)/);
  // The same key in two objects is not a repeat, nor are strings with colons and quotes in them; and
  // JSON-only files stay JSON: YAML syntax is still refused.
  writeFileSync(file, '{\n\t"predict": [{ "model": "a.onnx", "x": [":", "\\":", "\\\\"] }, { "model": "b.onnx" }]\n}');
  assert.deepEqual(readPipelineFile(dir)!.steps.map((s) => s.name), ['predict[0]:a.onnx', 'predict[1]:b.onnx']);
  writeFileSync(file, 'predict:\n  - model: a.onnx\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.json: cannot be parsed: line 1, column 1: Unexpected token/);
});

test('the examples in the messages about a JSON pipeline file are written in JSON, not YAML', () => {
  invalid(() => parsePipelineSpec({ preprocess: [] }, 'pipeline.json'), /^pipeline\.json: predict needs at least one step \(for example "predict": \[\{ "model": "model\.onnx" \}\]\)$/);
  invalid(() => parsePipelineSpec({ predict: ['softmax'] }, 'pipeline.json'), /^pipeline\.json: predict\[0\] must be a mapping such as \{ "softmax": \{\} \}$/);
  invalid(() => parsePipelineSpec({ preprocess: [] }), /^pipeline\.yaml: predict needs at least one step \(for example "- model: model\.onnx"\)$/);
  invalid(() => parsePipelineSpec({ predict: ['softmax'] }), /^pipeline\.yaml: predict\[0\] must be a mapping such as \{ softmax: \{\} \}$/);
});

test('a YAML pipeline file of two documents (a --- line) is refused in the file\'s terms, with where the second begins, not with the YAML package\'s "use YAML.parseAllDocuments()"', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-docs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'pipeline.yaml'), 'predict:\n  - model: a.onnx\n---\npostprocess:\n  - softmax: {}\n');
  assert.throws(() => readPipelineFile(dir), {
    code: 'ERR_PIPELINE_INVALID',
    message:
      'pipeline.yaml: cannot be parsed: it holds more than one YAML document (a second one begins at line 3, column 1: a "---" line starts one, a "..." line ends one): ' +
      "a pipeline file is one document; list every step under its preprocess:, predict: and postprocess: keys, and remove the second document's marker",
  });
  // A leading --- (one document) is fine.
  writeFileSync(path.join(dir, 'pipeline.yaml'), '---\npredict:\n  - model: a.onnx\n');
  assert.equal(readPipelineFile(dir)!.steps[0]!.kind, 'predict');
});

test('a YAML pipeline file with a key written twice is refused naming the key and both places, found in one pass: the YAML package compares each key with every one before it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-ydup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pipeline.yaml');
  writeFileSync(file, 'predict:\n  - model: a.onnx\npredict:\n  - model: b.onnx\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.yaml: cannot be parsed: line 3, column 1: duplicate key "predict" \(first at line 1, column 1\); a key may appear once in a mapping$/);
  writeFileSync(file, 'predict:\n  - {model: a.onnx, "model": b.onnx}\n');
  invalid(() => readPipelineFile(dir), /^pipeline\.yaml: cannot be parsed: line 2, column 21: duplicate key "model" \(first at line 2, column 6\)/);
  // Counted, not timed: 2 000 keys in one step's options, the package's check read about 4 million values.
  const keys = 2_000;
  writeFileSync(file, `predict:\n  - model: a.onnx\npostprocess:\n  - topk:\n${Array.from({ length: keys }, (_, i) => `      k${i}: 1`).join('\n')}\n      k5: 2\n`);
  const { reads, outcome } = await countScalarValueReads(() => readPipelineFile(dir));
  assert.equal(outcome.status, 'rejected');
  const err = (outcome as PromiseRejectedResult).reason as Error;
  assert.ok(err instanceof ToolkitError && err.code === 'ERR_PIPELINE_INVALID', String(err));
  assert.match(err.message, new RegExp(`^pipeline\\.yaml: cannot be parsed: line ${keys + 5}, column 7: duplicate key "k5" \\(first at line 10, column 7\\)`));
  assert.ok(reads >= keys && reads <= 10 * keys, `${reads} reads of ${keys + 1} keys' values`);
  // Legal files read as before: the same key in two mappings, merge-free anchors, a BOM.
  writeFileSync(file, '\uFEFFpreprocess:\n  - scale: &s {factor: 2}\npredict:\n  - model: a.onnx\npostprocess:\n  - scale: *s\n');
  assert.deepEqual(readPipelineFile(dir)!.steps.map((s) => [s.name, s.options]), [['preprocess[0]:scale', { factor: 2 }], ['predict[0]:a.onnx', { model: 'a.onnx' }], ['postprocess[0]:scale', { factor: 2 }]]);
});

test('a YAML pipeline file nested more than 512 levels deep stops start-up with ERR_PIPELINE_INVALID saying so, before the YAML package parses it: in a thread with a 64 MB heap, 2 MB of [[[[...]]]] ran the package out of memory', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-deep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const levels = 1_000_000;
  writeFileSync(path.join(dir, 'pipeline.yaml'), `predict: ${'['.repeat(levels)}${']'.repeat(levels)}\n`);
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.moduleUrl).then((m) => m.readPipelineFile(workerData.dir)).then(
       () => parentPort.postMessage({ read: true }),
       (err) => parentPort.postMessage({ code: err.code, message: err.message }),
     );`,
    { eval: true, workerData: { moduleUrl: new URL('./pipeline-file.js', import.meta.url).href, dir }, resourceLimits: { maxOldGenerationSizeMb: 64 } },
  );
  try {
    const [answer] = (await Promise.race([once(worker, 'message'), once(worker, 'error').then(([err]) => Promise.reject(err))])) as [{ code?: string; message?: string }];
    assert.equal(answer.code, 'ERR_PIPELINE_INVALID', JSON.stringify(answer).slice(0, 300));
    assert.equal(answer.message, 'pipeline.yaml: cannot be parsed: it nests its mappings and lists more than 512 levels deep, far more than a pipeline file has: remove the extra nesting');
  } finally {
    await worker.terminate();
  }
});

test('a mapping or list written as a key in a YAML pipeline file is refused naming its place: the YAML package turns it into text, at a cost that grows steeply with its depth', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-pf-ckey-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'pipeline.yaml'), `predict:\n  - model: a.onnx\npostprocess:\n  - topk: {${'[? '.repeat(64)}x${']'.repeat(64)}: 1}\n`);
  invalid(() => readPipelineFile(dir), /^pipeline\.yaml: cannot be parsed: line 4, column 12: a mapping or list is used as a key, where a key is a name$/);
});
