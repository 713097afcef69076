import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertValidModelDir, validateModelDir } from './validate.js';
import { ToolkitError } from '../errors/catalogue.js';

async function modelDir(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-validate-'));
  for (const [rel, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), text);
  }
  return dir;
}

async function check(files: Record<string, string>, opts = {}) {
  const dir = await modelDir(files);
  try {
    return await validateModelDir(dir, opts);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('an ONNX model with a handler passes and lists the hooks', async () => {
  const r = await check({ 'model.onnx': 'x', 'code/inference.mjs': 'export function inputFn() {}\nexport const output_fn = () => 1;' });
  assert.deepEqual(r.errors, []);
  assert.equal(r.ok, true);
  assert.deepEqual(r.model, { runtime: 'onnx', file: 'model.onnx' });
  assert.equal(r.handlerFile, path.join('code', 'inference.mjs'));
  assert.deepEqual(r.hooks.sort(), ['inputFn', 'outputFn']);
});

test('one *.onnx, model.json and saved_model.pb are found', async () => {
  assert.deepEqual((await check({ 'iris.onnx': 'x' })).model, { runtime: 'onnx', file: 'iris.onnx' });
  assert.deepEqual((await check({ 'model.json': '{"format": "layers-model", "modelTopology": {"class_name": "Sequential"}}' })).model, { runtime: 'tfjs', file: 'model.json' });
  assert.deepEqual((await check({ 'saved_model.pb': 'x' })).model, { runtime: 'tensorflow', file: 'saved_model.pb' });
});

test('no model and no pipeline is an error naming what to add', async () => {
  const r = await check({ 'readme.txt': 'x' });
  assert.equal(r.ok, false);
  assert.match(r.errors.join('\n'), /no model found.*model\.onnx.*pipeline/);
});

test('a folder whose only entry is a folder with the model (an archive packed with its folder) is an error that names that folder and its model', async () => {
  const r = await check({ 'mymodel/model.onnx': 'x' });
  assert.equal(r.ok, false);
  assert.match(r.errors.join('\n'), /no model found in .*\. Its only entry is the folder mymodel\/, which holds a model \(mymodel\/model\.onnx\): the model must be at the top: move the folder's contents up, or point at the folder itself/);
  assert.doesNotMatch((await check({ 'readme.txt': 'x' })).errors.join('\n'), /only entry/);
  // The folder's name as one shell word in the tar commands, whatever it holds.
  const spaced = (await check({ "my model's/model.onnx": 'x' })).errors.join('\n');
  assert.match(spaced, /Its only entry is the folder my model's\/, which holds a model \(my model's\/model\.onnx\)/);
  assert.ok(spaced.endsWith(`tar -czf model.tar.gz 'my model'\\''s', extracts so; pack its contents instead: tar -czf model.tar.gz -C 'my model'\\''s' .)`), spaced);
  assert.match((await check({ '-m/model.onnx': 'x' })).errors.join('\n'), /tar -czf model\.tar\.gz -C \.\/-m \.\)$/);
});

test("a pipeline step of an unknown kind, or with an option its kind does not take, is an error naming it, as smkit serve's load would be", async () => {
  const r = await check({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\npostprocess:\n  - softmax: { axs: 0 }\n  - sofmax: {}\n  - topk: { k: 2 }\n' });
  assert.equal(r.ok, false);
  assert.deepEqual(r.errors, [
    'pipeline.yaml: postprocess[0]:softmax: "axs" (did you mean "axis"?) is not an option of softmax; it takes axis, tensor, tensors',
    `pipeline.yaml: postprocess[1]:sofmax: unknown step "sofmax" (did you mean "softmax"?); known steps: ${['add-batch-dim', 'argmax', 'cast', 'center-crop', 'channel-order', 'custom', 'image-normalize', 'normalize', 'predict', 'reshape', 'resize', 'scale', 'select', 'softmax', 'threshold', 'topk'].join(', ')}`,
  ]);
});

test("a predict step key its runtime does not take, a bad batching or an unknown runtime is an error naming it, as smkit serve's load would be", async () => {
  const pipeline = [
    'predict:',
    '  - model: a.onnx',
    '    batch: 8',
    '  - model: b.onnx',
    '    backend: wasm',
    '  - model: a.onnx',
    '    batching: { size: 8 }',
    '  - model: b.onnx',
    '    runtime: onx',
    '  - model: tf/model.json',
    '    runtime: tfjs',
    '    backend: wasm',
    '    signature: serving_default',
    '    batching: { maxSize: 8, maxDelayMs: 1 }',
    '  - model: a.onnx',
    '    batching: [8]',
    '',
  ].join('\n');
  const r = await check({ 'a.onnx': 'x', 'b.onnx': 'y', 'tf/model.json': '{}', 'pipeline.yaml': pipeline });
  assert.deepEqual(r.errors, [
    'pipeline.yaml: predict[0]:a.onnx: batch is not a predict step option for runtime onnx; use model, runtime, batching',
    'pipeline.yaml: predict[1]:b.onnx: backend is not a predict step option for runtime onnx; use model, runtime, batching',
    'pipeline.yaml: predict[2]:a.onnx: batching.size is not an option; use maxSize and maxDelayMs',
    'pipeline.yaml: predict[3]:b.onnx: unknown runtime "onx"; known runtimes: onnx, tfjs',
    'pipeline.yaml: predict[5]:a.onnx: batching must be a mapping such as { maxSize: 32, maxDelayMs: 2 }, not an array',
  ]);
});

test("a pipeline step's option values smkit serve refuses are refused here too (an axis of 0.5, a k of 0, a dtype it lacks, a custom step's export that is no name), not only unknown keys", async () => {
  const pipeline = [
    'preprocess:',
    '  - cast: { dtype: flot32 }',
    '  - custom: { module: steps.mjs, export: 5 }',
    'predict:',
    '  - model: a.onnx',
    'postprocess:',
    '  - softmax: { axis: 0.5 }',
    '  - topk: { k: 0 }',
    '',
  ].join('\n');
  const r = await check({ 'a.onnx': 'x', 'code/steps.mjs': 'export default (d) => d;', 'pipeline.yaml': pipeline });
  assert.deepEqual(r.errors, [
    'pipeline.yaml: preprocess[0]:cast: "dtype" must be one of float32, float64, float16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, string',
    'pipeline.yaml: preprocess[1]:custom: "export" must be the name of the function steps.mjs exports (leave it out for its default export)',
    'pipeline.yaml: postprocess[0]:softmax: "axis" must be a whole number (-1 for the last axis), not 0.5',
    'pipeline.yaml: postprocess[1]:topk: "k" must be a whole number of at least 1',
  ]);
  const good = await check({ 'a.onnx': 'x', 'labels.txt': 'a\nb\n', 'code/steps.mjs': 'export default (d) => d;', 'pipeline.yaml': 'predict:\n  - model: a.onnx\npostprocess:\n  - custom: { module: steps.mjs }\n  - argmax: { labels: labels.txt }\n' });
  assert.deepEqual(good.errors, []);
});

test('several .onnx files need a pipeline file', async () => {
  assert.match((await check({ 'a.onnx': 'x', 'b.onnx': 'y' })).errors.join(), /several \.onnx/);
  const ok = await check({ 'a.onnx': 'x', 'b.onnx': 'y', 'pipeline.yaml': 'predict:\n  - model: a.onnx\n  - model: b.onnx\n' });
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.pipelineFile, 'pipeline.yaml');
});

test('a pipeline file that does not parse, or names a missing model, fails', async () => {
  assert.match((await check({ 'pipeline.yaml': 'predict: [\n' })).errors.join(), /pipeline\.yaml/);
  assert.match((await check({ 'pipeline.json': '{"predict":[{"model":"gone.onnx"}]}' })).errors.join(), /gone\.onnx.*does not exist/);
  assert.match((await check({ 'pipeline.yml': 'bogus: 1\n' })).errors.join(), /unknown top-level/);
});

test('a handler only in TypeScript (code/inference.ts) is refused as smkit serve refuses it; beside its compiled module it is fine', async () => {
  const ts = await check({ 'model.onnx': 'x', 'code/inference.ts': 'export const outputFn = (p: unknown): string => "x";' });
  assert.deepEqual(ts.errors, ['handler code/inference.ts is TypeScript, which smkit does not load: compile it to JavaScript as code/inference.mjs (or .js, .cjs), with tsc for example, and ship that']);
  const compiled = await check({ 'model.onnx': 'x', 'code/inference.ts': 'export const outputFn = (p: unknown): string => "x";', 'code/inference.mjs': 'export const outputFn = (p) => "x";' });
  assert.deepEqual(compiled.errors, []);
});

test('transformFn with predictFn is refused; a handler that throws on import is refused', async () => {
  const clash = await check({ 'model.onnx': 'x', 'code/inference.js': 'export const transformFn = () => 1; export const predictFn = () => 2;' });
  assert.match(clash.errors.join(), /transformFn together with predictFn/);
  const broken = await check({ 'model.onnx': 'x', 'code/inference.mjs': 'throw new Error("boom at import")' });
  assert.match(broken.errors.join(), /does not load: boom at import/);
});

test('a handler whose top-level code never finishes (a top-level await on a connection that never comes) fails the check after the time limit, naming what to do, not holding smkit package for good', async () => {
  const r = await check({ 'model.onnx': 'x', 'code/inference.mjs': 'await new Promise(() => {});\nexport function inputFn() {}' }, { handlerImportTimeoutMs: 200 });
  assert.equal(r.ok, false);
  assert.deepEqual(r.errors, ['handler code/inference.mjs does not load: its top-level code did not finish within 0.2 s (a top-level await still waits): move slow start-up work into modelFn, which runs when the model loads']);
});

test('SAGEMAKER_PROGRAM picks the module; a modelFn handler may stand in for the model', async () => {
  const r = await check({ 'code/serve.cjs': 'exports.modelFn = () => ({});' }, { program: 'serve' });
  assert.equal(r.ok, true);
  assert.match(r.warnings.join(), /must provide the model itself/);
  const missing = await check({ 'model.onnx': 'x', 'code/serve.cjs': 'exports.modelFn = () => ({});' });
  assert.equal(missing.ok, true);
  assert.match(missing.warnings.join(), /no inference\.\{js,mjs,cjs\}/);
});

test('a pipeline custom step\'s module in code/ is no misnamed handler: no SAGEMAKER_PROGRAM warning for it, one for other scripts', async () => {
  const pipeline = 'predict:\n  - model: model.onnx\npostprocess:\n  - custom: { module: post.mjs }\n  - custom: { module: ./steps/more.mjs }\n';
  const r = await check({ 'model.onnx': 'x', 'pipeline.yaml': pipeline, 'code/post.mjs': 'export default (d) => d;', 'code/steps/more.mjs': 'export default (d) => d;' });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
  const misnamed = await check({ 'model.onnx': 'x', 'pipeline.yaml': pipeline, 'code/post.mjs': 'export default (d) => d;', 'code/steps/more.mjs': 'export default (d) => d;', 'code/infrence.mjs': 'export function inputFn() {}' });
  assert.deepEqual(misnamed.warnings, ['code/ has infrence.mjs but no inference.{js,mjs,cjs}: set SAGEMAKER_PROGRAM (or --program) to the handler\'s name']);
  // A Python handler, made for the Python toolkit's containers, is never run: no setting helps.
  const python = await check({ 'model.onnx': 'x', 'code/inference.py': 'def predict_fn(data, model):\n    return data\n' });
  assert.deepEqual(python.warnings, ['code/ has inference.py but no inference.{js,mjs,cjs}: write the hooks in JavaScript, in code/inference.mjs (a .py handler, made for the Python inference toolkit, is never called: smkit runs handlers written in JavaScript only)']);
});

test('smkit package refuses a handler whose exports only look like hooks (outputfn, a function as module.exports), which serve would have passed over for the default hooks, and warns of a near name (predict)', async () => {
  const typo = await check({ 'model.onnx': 'x', 'code/inference.mjs': 'export function outputfn() {}' });
  assert.deepEqual(typo.errors, ['code/inference.mjs exports outputfn, which is not a hook\'s name (did you mean "outputFn"?): hook names are case-sensitive, and smkit would never call it; rename it']);
  const fnExport = await check({ 'model.onnx': 'x', 'code/inference.cjs': 'module.exports = function predict_fn() {};' });
  assert.match(fnExport.errors.join(), /^code\/inference\.cjs exports a function \(predict_fn\) as its default export/);
  const near = await check({ 'model.onnx': 'x', 'code/inference.mjs': 'export function predict() {}' });
  assert.equal(near.ok, true);
  assert.deepEqual(near.warnings, ['code/inference.mjs exports predict, which is not a hook\'s name (did you mean "predictFn"?): smkit does not call it; rename it if it is meant as that hook']);
  // The handler module named as the pipeline's custom step: its default export is the step's.
  const step = await check({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\npostprocess:\n  - custom: { module: inference.mjs }\n', 'code/inference.mjs': 'export default (d) => d;' });
  assert.deepEqual([step.errors, step.warnings], [[], []]);
});

test('assertValidModelDir throws ERR_PACKAGE_INVALID listing the problems', async () => {
  const dir = await modelDir({ 'x.txt': '' });
  try {
    await assert.rejects(assertValidModelDir(dir), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_PACKAGE_INVALID' && /no model found/.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a handler module that is a FIFO or a folder is an error naming it, and is never imported (a FIFO would hold the check forever)', { timeout: 10_000 }, async () => {
  const dir = await modelDir({ 'model.onnx': 'x' });
  const handler = path.join(dir, 'code', 'inference.mjs');
  try {
    await fs.mkdir(path.join(dir, 'code'));
    execFileSync('mkfifo', [handler]);
    const fifo = await validateModelDir(dir);
    assert.deepEqual(fifo.errors, ['handler code/inference.mjs is neither a file nor a directory (a FIFO, socket or device): make it the handler module\'s file']);
    await fs.rm(handler);
    await fs.mkdir(handler);
    const folder = await validateModelDir(dir);
    assert.deepEqual(folder.errors, ['handler code/inference.mjs is a directory: make it the handler module\'s file']);
  } finally {
    // Were the FIFO opened for reading, a writer that closes at once lets that open end.
    await fs.open(handler, constants.O_WRONLY | constants.O_NONBLOCK).then((h) => h.close(), () => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a pipeline file that is a FIFO or a folder is an error naming it, as smkit serve's load refuses it: the check passed it over, as if there were none", { timeout: 10_000 }, async (t) => {
  if (process.platform === 'win32') return t.skip('no mkfifo');
  const dir = await modelDir({ 'model.onnx': 'x' });
  const file = path.join(dir, 'pipeline.yaml');
  try {
    execFileSync('mkfifo', [file]);
    const fifo = await validateModelDir(dir);
    assert.deepEqual(fifo.errors, ['pipeline.yaml: cannot be read: it is a FIFO (named pipe), expected a regular file']);
    assert.equal(fifo.ok, false);
    await fs.rm(file);
    await fs.mkdir(file);
    // serve finds pipeline.yaml first, whatever it is, so a valid pipeline.json after it is not used.
    await fs.writeFile(path.join(dir, 'pipeline.json'), '{"predict":[{"model":"model.onnx"}]}');
    const folder = await validateModelDir(dir);
    assert.deepEqual(folder.errors, ['pipeline.yaml: cannot be read: it is a directory, expected a regular file']);
  } finally {
    await fs.open(file, constants.O_WRONLY | constants.O_NONBLOCK).then((h) => h.close(), () => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a labels file that is a FIFO or a folder is refused unopened, by the check as by smkit serve's load: read at once, a FIFO held the check for good", { timeout: 60_000 }, async (t) => {
  if (process.platform === 'win32') return t.skip('no mkfifo');
  const dir = await modelDir({ 'a.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: a.onnx\npostprocess:\n  - argmax: { labels: labels.txt }\n' });
  const fifo = path.join(dir, 'labels.txt');
  execFileSync('mkfifo', [fifo]);
  // A writer waiting for a reader: were the FIFO opened, this lets the read end (with no labels)
  // instead of blocking the event loop, so the test fails rather than hangs.
  const writer = spawn('sh', ['-c', 'exec 3>"$0"', fifo], { stdio: 'ignore' });
  try {
    assert.deepEqual((await validateModelDir(dir)).errors, ['pipeline.yaml: postprocess[0]:argmax: labels file labels.txt cannot be read: it is a FIFO (named pipe), expected a regular file']);
    await fs.rm(fifo);
    await fs.mkdir(fifo);
    assert.deepEqual((await validateModelDir(dir)).errors, ['pipeline.yaml: postprocess[0]:argmax: labels file labels.txt cannot be read: it is a directory, expected a regular file']);
  } finally {
    writer.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a custom step's module that code/ does not hold, or that is a FIFO or a folder, is refused as smkit serve's load refuses it; the module is not imported", { timeout: 60_000 }, async (t) => {
  if (process.platform === 'win32') return t.skip('no mkfifo');
  const pipeline = 'predict:\n  - model: a.onnx\npostprocess:\n  - custom: { module: steps.mjs }\n';
  const dir = await modelDir({ 'a.onnx': 'x', 'pipeline.yaml': pipeline });
  const file = path.join(dir, 'code', 'steps.mjs');
  try {
    assert.deepEqual((await validateModelDir(dir)).errors, [`pipeline.yaml: postprocess[0]:custom: module steps.mjs is not in code/ (${path.join(dir, 'code')}): put it there, or name the file code/ holds`]);
    await fs.mkdir(path.join(dir, 'code'));
    execFileSync('mkfifo', [file]);
    assert.deepEqual((await validateModelDir(dir)).errors, ["pipeline.yaml: postprocess[0]:custom: module steps.mjs in code/ is neither a file nor a directory (a FIFO, socket or device): make it the step's JavaScript file"]);
    await fs.rm(file);
    await fs.mkdir(file);
    assert.deepEqual((await validateModelDir(dir)).errors, ["pipeline.yaml: postprocess[0]:custom: module steps.mjs in code/ is a directory: make it the step's JavaScript file"]);
    await fs.rm(file, { recursive: true });
    // Not imported: its top-level code does not run in the check.
    await fs.writeFile(file, 'throw new Error("imported");\nexport default (d) => d;\n');
    assert.deepEqual((await validateModelDir(dir)).errors, []);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a misspelt pipeline step, step option, predict key, batching key or top-level key names the one meant, as a misspelt flag or SMKIT_ variable does', async () => {
  const steps = await check({
    'model.onnx': 'x',
    'pipeline.yaml': ['version: 1', 'preprocess:', '  - reshap: { shape: [-1, 4] }', '  - add_batch_dim: {}', 'predict:', '  - model: model.onnx', '    batchng: { maxSize: 2 }', 'postprocess:', '  - softmax: { axs: 1 }', '  - topk: { k: 2, lables: x, zzzzzz: 1 }', ''].join('\n'),
  });
  assert.deepEqual(steps.errors.map((e) => e.replace(/; (known steps:|it takes|use) .*/, '')), [
    'pipeline.yaml: preprocess[0]:reshap: unknown step "reshap" (did you mean "reshape"?)',
    'pipeline.yaml: preprocess[1]:add_batch_dim: unknown step "add_batch_dim" (did you mean "add-batch-dim"?)',
    'pipeline.yaml: predict[0]:model.onnx: batchng (did you mean "batching"?) is not a predict step option for runtime onnx',
    'pipeline.yaml: postprocess[0]:softmax: "axs" (did you mean "axis"?) is not an option of softmax',
    'pipeline.yaml: postprocess[1]:topk: "lables" (did you mean "labels"?), "zzzzzz" are not options of topk',
  ]);
  const batching = await check({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\n    batching: { maxsize: 2 }\n' });
  assert.deepEqual(batching.errors, ['pipeline.yaml: predict[0]:model.onnx: batching.maxsize (did you mean "maxSize"?) is not an option; use maxSize and maxDelayMs']);
  const topLevel = await check({ 'model.onnx': 'x', 'pipeline.yaml': 'predict:\n  - model: model.onnx\npostproces:\n  - softmax: {}\n' });
  assert.deepEqual(topLevel.errors, ['pipeline.yaml: unknown top-level key(s) postproces (did you mean "postprocess"?); allowed: version, preprocess, predict, postprocess']);
});

test('models of two runtimes, or several .onnx beside a model.json, without a pipeline file fail as smkit serve fails them (ERR_MODEL_DIR); a modelFn or a pipeline file picks', async () => {
  const tfjs = JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { layers: [] } }, weightsManifest: [] });
  const both = await check({ 'model.onnx': 'x', 'model.json': tfjs });
  assert.equal(both.ok, false);
  assert.match(both.errors.join(), /holds models for several runtimes \(onnx: .*model\.onnx; tfjs: .*model\.json\); add a pipeline file/);
  const severalOnnx = await check({ 'a.onnx': 'x', 'b.onnx': 'y', 'model.json': tfjs });
  assert.match(severalOnnx.errors.join(), /holds several ONNX models \(a\.onnx, b\.onnx\)/);
  assert.deepEqual((await check({ 'model.onnx': 'x', 'model.json': tfjs, 'code/inference.mjs': 'export const modelFn = () => ({});\nexport const predictFn = (x) => x;' })).errors, []);
  assert.deepEqual((await check({ 'model.onnx': 'x', 'model.json': tfjs, 'pipeline.yaml': 'predict:\n  - model: model.onnx\n' })).errors, []);
  // A model.json of something else (a config file) beside model.onnx is no TF.js model: nothing to choose.
  assert.deepEqual((await check({ 'model.onnx': 'x', 'model.json': '{"labels": ["a"]}' })).errors, []);
});

test('a model.json that is no TF.js model (a config file) is no model, as smkit serve finds none (ERR_MODEL_NOT_FOUND): the error says why; one that is not JSON is named', async () => {
  const config = await check({ 'model.json': '{"labels": ["a", "b"]}' });
  assert.equal(config.model, undefined);
  assert.equal(config.ok, false);
  assert.match(config.errors.join(), /no model found in .*\(the model\.json here is not a TF\.js model: it has no modelTopology of a layers or a graph model\)/);
  // A handler that does the work itself needs none, as in smkit serve.
  const handled = await check({ 'model.json': '{}', 'code/inference.mjs': 'export const predictFn = (x) => x;' });
  assert.deepEqual(handled.errors, []);
  assert.match(handled.warnings.join(), /no model file or pipeline file/);
  assert.match((await check({ 'model.json': '{not json' })).errors.join(), /model\.json/);
});

test('a model.json that is not JSON beside model.onnx (or the one *.onnx), no pipeline file and no modelFn, fails as smkit serve fails it (ERR_MODEL_LOAD: its TF.js runtime reads the file to tell a model), not packed as an ONNX model', async () => {
  for (const onnx of ['model.onnx', 'iris.onnx']) {
    const r = await check({ [onnx]: 'x', 'model.json': '{"labels": [' });
    assert.equal(r.ok, false, onnx);
    assert.match(r.errors.join('\n'), /model\.json is not valid JSON/, onnx);
  }
  // A modelFn loads the model itself: serve asks no runtime, so neither does the check.
  assert.deepEqual((await check({ 'model.onnx': 'x', 'model.json': '{"labels": [', 'code/inference.mjs': 'export const modelFn = () => ({});\nexport const predictFn = (x) => x;' })).errors, []);
});
