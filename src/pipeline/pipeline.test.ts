import { test } from 'node:test';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import type { InvocationContext } from '../core/context.js';
import { buildPipeline, Pipeline } from './pipeline.js';
import { parsePipelineSpec } from './pipeline-file.js';
import { createDefaultSteps } from './default-steps.js';
import { stepFailure, type Step } from './step.js';
import { CANCELLATION, Cancellation } from '../core/cancellation.js';
import { customStep } from './steps/custom.js';
import type { StepBuildEnv } from './step.js';
import { checkPredictStep } from './steps/predict.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import { tfjsRuntimeFactory } from '../runtimes/tfjs/factory.js';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';

const ctx = { requestId: 'r', contentType: 'text/csv', accept: 'application/json', modelDir: '/m', log: createLogger('silent'), setCustomAttributes: () => undefined, signal: new AbortController().signal } as InvocationContext;

const failing = (name: string, err: unknown): Step => ({
  name,
  stage: 'preprocess',
  run: () => {
    throw err;
  },
});

async function failure(step: Step): Promise<ToolkitError> {
  try {
    await new Pipeline([step]).run({ tensors: {} }, ctx);
  } catch (err) {
    return err as ToolkitError;
  }
  assert.fail('the pipeline should have failed');
}

test('a step error is attributed to its step as data: details.step, and the name once in the message', async () => {
  const plain = await failure(failing('preprocess[0]:scale', new ToolkitError('ERR_INPUT_MISMATCH', 'bad width')));
  assert.equal(plain.code, 'ERR_INPUT_MISMATCH');
  assert.equal(plain.status, 400);
  assert.equal(plain.message, 'preprocess[0]:scale: bad width');
  assert.equal(plain.details?.['step'], 'preprocess[0]:scale');

  const named = await failure(failing('preprocess[0]:scale', stepFailure('preprocess[0]:scale', 'ERR_INPUT_MISMATCH', 'bad width')));
  assert.equal(named.message, 'preprocess[0]:scale: bad width');

  // A message that merely starts like the step name is still attributed (no text matching).
  const lookalike = await failure(failing('resize', new ToolkitError('ERR_INPUT_MISMATCH', 'resize needs an image')));
  assert.equal(lookalike.message, 'resize: resize needs an image');

  const thrown = await failure(failing('postprocess[1]:custom', new TypeError('x is undefined')));
  assert.equal(thrown.code, 'ERR_STEP_FAILED');
  assert.equal(thrown.details?.['step'], 'postprocess[1]:custom');
  assert.match(thrown.message, /^postprocess\[1\]:custom failed: x is undefined$/);

  // instanceof throws on it: before, the trap's own error escaped unattributed (a 500 ERR_INTERNAL quoting it).
  const proxy = await failure(failing('postprocess[1]:custom', new Proxy({}, { get: () => { throw new Error('not this get'); }, getPrototypeOf: () => { throw new Error('not this prototype'); } })));
  assert.equal(proxy.code, 'ERR_STEP_FAILED');
  assert.equal(proxy.details?.['step'], 'postprocess[1]:custom');
  assert.equal(proxy.message, 'postprocess[1]:custom failed: a thrown object that cannot be turned into text');
});

test("a custom step that returns a tensor whose data is another typed array than its dtype's fails, naming the step and the tensor", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-custom-storage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'steps.mjs'),
    `export const wrong = () => ({ scores: { dtype: 'float32', shape: [2], data: Int32Array.of(1, 2) } });
     export const right = () => ({ tensors: { scores: { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) } } });`,
  );
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), stage: 'postprocess', name: 'postprocess[0]:custom' } as StepBuildEnv;
  const wrong = await customStep({ module: 'steps.mjs', export: 'wrong' }, env);
  const err = await failure(wrong);
  assert.equal(err.code, 'ERR_USER_CODE');
  assert.equal(err.message, 'postprocess[0]:custom: the custom step returned tensor "scores" with dtype float32 but its data is an Int32Array: put float32 data in a Float32Array, or give the dtype of the data');
  const right = await customStep({ module: 'steps.mjs', export: 'right' }, env);
  const out = await new Pipeline([right]).run({ tensors: {} }, ctx);
  assert.deepEqual(Array.from(out.tensors['scores']!.data as Float32Array), [1, 2]);
});

test('a model step after a step that returned a value instead of tensors (a custom step\'s string) fails naming both; a step that returns nothing passes the tensors on', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-custom-value-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'steps.mjs'), `export const text = () => 'hello';\nexport const nothing = () => undefined;\nexport const rows = () => [[1, 2]];\nexport const uncalled = () => text;\nexport const symbol = () => Symbol('x');\nexport const nil = () => null;`);
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), stage: 'preprocess', name: 'preprocess[0]:custom' } as StepBuildEnv;
  const ran: unknown[] = [];
  const model = {
    name: 'predict[0]:model.onnx',
    stage: 'predict',
    runtime: {},
    run: async (data: { tensors: Record<string, unknown> }) => {
      ran.push(Object.keys(data.tensors));
      return { ...data, value: undefined };
    },
  } as unknown as Step;
  const input = { tensors: { x: { dtype: 'float32' as const, shape: [1], data: Float32Array.of(1) } } };
  for (const [exported, kind] of [['text', 'a string'], ['rows', 'an array'], ['nil', 'null']]) {
    const custom = await customStep({ module: 'steps.mjs', export: exported }, env);
    await assert.rejects(new Pipeline([custom, model]).run(input, ctx), {
      code: 'ERR_STEP_FAILED',
      message: `predict[0]:model.onnx: preprocess[0]:custom before it returned ${kind}, not tensors, so the model has nothing to run on: return named tensors or { tensors } from preprocess[0]:custom, or move it after the model`,
    });
  }
  assert.deepEqual(ran, [], 'the model did not run on the tensors from before the step');
  const passThrough = await customStep({ module: 'steps.mjs', export: 'nothing' }, env);
  await new Pipeline([passThrough, model]).run(input, ctx);
  assert.deepEqual(ran, [['x']]);
  // After the model, a value is the answer.
  const last = await customStep({ module: 'steps.mjs', export: 'text' }, { ...env, stage: 'postprocess', name: 'postprocess[0]:custom' });
  assert.equal((await new Pipeline([model, last]).run(input, ctx)).value, 'hello');
  // But not a function (one not called) or a symbol, which no codec writes: JSON answered 200 "null".
  for (const [exported, kind] of [['uncalled', 'a function'], ['symbol', 'a symbol']]) {
    const step = await customStep({ module: 'steps.mjs', export: exported }, { ...env, stage: 'postprocess', name: 'postprocess[0]:custom' });
    await assert.rejects(new Pipeline([model, step]).run(input, ctx), {
      code: 'ERR_USER_CODE',
      message: `postprocess[0]:custom: the custom step returned ${kind}: return named tensors, { tensors }, or a value for smkit to encode (undefined passes the tensors on)`,
    });
  }
});

test('a pipeline stops before its next step once nobody waits for the answer (a timeout during an earlier step)', async () => {
  const cancellation = new Cancellation();
  const timedOut = new ToolkitError('ERR_TIMEOUT', 'the invocation ran past SAGEMAKER_MODEL_SERVER_TIMEOUT');
  const ran: string[] = [];
  const step = (name: string, during?: () => void): Step => ({
    name,
    stage: 'preprocess',
    run: (data) => {
      ran.push(name);
      during?.();
      return data;
    },
  });
  const pipeline = new Pipeline([step('preprocess[0]:slow', () => cancellation.cancel(timedOut)), step('predict[0]:model.onnx')]);
  await assert.rejects(pipeline.run({ tensors: {} }, { ...ctx, [CANCELLATION]: cancellation } as InvocationContext), (err: unknown) => err === timedOut);
  assert.deepEqual(ran, ['preprocess[0]:slow']);
});

test('a built-in step after a step that answered a value (softmax after topk) fails naming both; a custom step there gets the value', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-step-value-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'steps.mjs'), 'export const count = (data) => data.value.length;');
  const env = (name: string) => ({ modelDir: dir, codeDir: path.join(dir, 'code'), stage: 'postprocess', name }) as StepBuildEnv;
  const steps = createDefaultSteps();
  const topk = await steps.get('topk')({ k: 1 }, env('postprocess[0]:topk'));
  const input = { tensors: { x: { dtype: 'float32' as const, shape: [1, 3], data: Float32Array.of(1, 3, 2) } } };
  await assert.rejects(new Pipeline([topk, await steps.get('softmax')({}, env('postprocess[1]:softmax'))]).run(input, ctx), {
    code: 'ERR_STEP_FAILED',
    message: 'postprocess[1]:softmax: postprocess[0]:topk before it returned an array, not tensors, so it has nothing to run on: return named tensors or { tensors } from postprocess[0]:topk, or move it after postprocess[1]:softmax',
  });
  const custom = await customStep({ module: 'steps.mjs', export: 'count' }, env('postprocess[1]:custom'));
  assert.equal((await new Pipeline([topk, custom]).run(input, ctx)).value, 1);
});

test('a pipeline file with a step that works on tensors after topk or threshold with labels is refused at start-up, naming both; a custom step may follow them', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-after-value-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // No model in dir: a pipeline that passes the check fails later, loading it (ERR_MODEL_DIR).
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), runtimes: createDefaultRuntimes(), runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: createLogger('silent') } } as Omit<StepBuildEnv, 'stage' | 'name'>;
  const build = (spec: Record<string, unknown>) => buildPipeline(parsePipelineSpec({ predict: [{ model: 'model.onnx' }], ...spec }), env);
  await assert.rejects(build({ postprocess: [{ topk: { k: 1 } }, { softmax: {} }] }), {
    code: 'ERR_PIPELINE_INVALID',
    message: 'postprocess[1]:softmax: postprocess[0]:topk before it answers a list of { label, score } per row, not tensors, so postprocess[1]:softmax would have nothing to run on: move postprocess[1]:softmax before postprocess[0]:topk, or format the answer with a custom step',
  });
  await assert.rejects(build({ postprocess: [{ threshold: { labels: ['a', 'b'] } }, { argmax: {} }] }), { code: 'ERR_PIPELINE_INVALID', message: /^postprocess\[1\]:argmax: postprocess\[0\]:threshold before it answers/ });
  await assert.rejects(build({ preprocess: [{ topk: {} }] }), { code: 'ERR_PIPELINE_INVALID', message: /^predict\[0\]:model\.onnx: preprocess\[0\]:topk before it answers .* so the model would have nothing/ });
  // A threshold without labels answers tensors (masks); a custom step takes a value.
  await assert.rejects(build({ postprocess: [{ threshold: {} }, { softmax: {} }] }), { code: 'ERR_MODEL_DIR' });
  await assert.rejects(build({ postprocess: [{ topk: {} }, { custom: { module: 'steps.mjs' } }] }), { code: 'ERR_MODEL_DIR' });
});

test("a step option its kind does not take fails the build naming it and the options the kind has; every built-in kind lists them", async () => {
  const env = {} as Omit<StepBuildEnv, 'stage' | 'name'>;
  const build = (preprocess: unknown[]) => buildPipeline(parsePipelineSpec({ preprocess, predict: [{ model: 'model.onnx' }] }), env);
  await assert.rejects(build([{ softmax: { axs: 0 } }]), {
    code: 'ERR_PIPELINE_INVALID',
    message: 'preprocess[0]:softmax: "axs" (did you mean "axis"?) is not an option of softmax; it takes axis, tensor, tensors',
  });
  await assert.rejects(build([{ scale: { factor: 2 } }, { resize: { hight: 8, widht: 8 } }]), {
    code: 'ERR_PIPELINE_INVALID',
    message: 'preprocess[1]:resize: "hight" (did you mean "height"?), "widht" (did you mean "width"?) are not options of resize; it takes height, width, size, method, interpolation, layout, tensor, tensors',
  });
  const registry = createDefaultSteps();
  assert.deepEqual(registry.kinds().filter((k) => k !== 'predict' && registry.traits(k).options === undefined), []);
});

test("checkPredictStep's refusals name the step, the runtime's own (TF.js's signature for a model.json) as those of checkPredictOptions, for smkit serve and smkit package alike", async () => {
  const tfjs = createDefaultRuntimes().get('tfjs');
  const graph = path.join(REPO_ROOT, 'test', 'fixtures', 'tfjs', 'graph-mlp');
  await assert.rejects(checkPredictStep({ model: 'graph', backnd: 'cpu' }, tfjs, graph, 'predict[0]:graph'), (err: Error) => err.message.startsWith('predict[0]:graph: backnd (did you mean "backend"?) is not a predict step option for runtime tfjs; '));
  await assert.rejects(checkPredictStep({ model: 'graph', signature: 'other' }, tfjs, graph, 'predict[0]:graph'), (err: unknown) => {
    assert.ok(err instanceof ToolkitError && err.code === 'ERR_PIPELINE_INVALID', String(err));
    // Before: "the predict step's "signature" option ...", no step named.
    assert.match(err.message, /^predict\[0\]:graph: the predict step's "signature" option \("other"\) picks a TensorFlow SavedModel's signature, but \S+graph-mlp\/model\.json is a TF\.js graph model: /);
    assert.equal(err.details?.['step'], 'predict[0]:graph');
    return true;
  });
});

test('a pipeline whose later predict step gives an option its model refuses (a signature for a TF.js model.json) fails before any model loads', async () => {
  const loaded: string[] = [];
  // The real TF.js runtime, its loads recorded (none is expected, so none runs).
  const runtimes = new RuntimeRegistry().register({ ...tfjsRuntimeFactory, load: (modelPath, options) => (loaded.push(modelPath), tfjsRuntimeFactory.load(modelPath, options)) });
  const env = { modelDir: path.join(REPO_ROOT, 'test', 'fixtures', 'tfjs'), codeDir: '/nonexistent', runtimes, runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: createLogger('silent') } } as Omit<StepBuildEnv, 'stage' | 'name'>;
  const spec = parsePipelineSpec({ predict: [{ model: 'graph-mlp' }, { model: 'layers-mlp', signature: 'serving_default' }] });
  await assert.rejects(buildPipeline(spec, env), (err: unknown) => {
    assert.ok(err instanceof ToolkitError && err.code === 'ERR_PIPELINE_INVALID', String(err));
    assert.match(err.message, /^predict\[1\]:\S+: the predict step's "signature" option \("serving_default"\) picks a TensorFlow SavedModel's signature, but \S+layers-mlp\/model\.json is a TF\.js layers model: /);
    return true;
  });
  // Before: the first step's model loaded, then the second step was refused.
  assert.deepEqual(loaded, []);
});

test("a predict step's batching delay (its own batching.maxDelayMs, or SMKIT_BATCH_MAX_DELAY_MS it takes) not below the invocation timeout is refused before any model loads; with its batching off it is not", async () => {
  const loaded: string[] = [];
  const runtimes = new RuntimeRegistry().register({ ...tfjsRuntimeFactory, load: (modelPath, options) => (loaded.push(modelPath), tfjsRuntimeFactory.load(modelPath, options)) });
  // The server's batching: off, a delay of 5 s (unused), a timeout of 2 s (what `smkit serve` passes).
  const env = {
    modelDir: path.join(REPO_ROOT, 'test', 'fixtures', 'tfjs'),
    codeDir: '/nonexistent',
    runtimes,
    runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: createLogger('silent') },
    batching: { maxSize: 1, maxDelayMs: 5000, timeoutMs: 2000 },
  } as Omit<StepBuildEnv, 'stage' | 'name'>;
  // Its own delay: before, its batches waited 2 s, past every request's deadline.
  await assert.rejects(buildPipeline(parsePipelineSpec({ predict: [{ model: 'graph-mlp' }, { model: 'layers-mlp', batching: { maxSize: 8, maxDelayMs: 2000 } }] }), env), {
    code: 'ERR_PIPELINE_INVALID',
    message: /^predict\[1\]:layers-mlp: batching\.maxDelayMs \(2000\) is not below the invocation timeout \(2000 ms, SAGEMAKER_MODEL_SERVER_TIMEOUT\): .*set batching\.maxDelayMs below it$/,
  });
  // The server's delay, which a step that turns batching on takes.
  await assert.rejects(buildPipeline(parsePipelineSpec({ predict: [{ model: 'graph-mlp' }, { model: 'layers-mlp', batching: { maxSize: 8 } }] }), env), {
    code: 'ERR_PIPELINE_INVALID',
    message: /^predict\[1\]:layers-mlp: the delay its batching takes from SMKIT_BATCH_MAX_DELAY_MS \(5000\) is not below the invocation timeout/,
  });
  assert.deepEqual(loaded, []);
  // Below the timeout, or batching off for the step: built.
  for (const batching of [{ maxSize: 8, maxDelayMs: 1999 }, { maxSize: 1 }, undefined]) {
    const pipeline = await buildPipeline(parsePipelineSpec({ predict: [{ model: 'layers-mlp', ...(batching ? { batching } : {}) }] }), env);
    await pipeline.dispose();
  }
  assert.equal(loaded.length, 3);
});

test("a predict step's model that an earlier step's build puts in place (a custom step's module) still loads: the pre-check leaves a model it cannot find to the builder", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-late-model-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  const source = path.join(REPO_ROOT, 'test', 'fixtures', 'tfjs', 'graph-mlp');
  writeFileSync(
    path.join(dir, 'code', 'steps.mjs'),
    `import { cpSync } from 'node:fs';\ncpSync(${JSON.stringify(source)}, ${JSON.stringify(path.join(dir, 'late'))}, { recursive: true });\nexport default (data) => data;\n`,
  );
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), runtimes: createDefaultRuntimes(), runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: createLogger('silent') } } as Omit<StepBuildEnv, 'stage' | 'name'>;
  assert.equal(existsSync(path.join(dir, 'late')), false);
  const pipeline = await buildPipeline(parsePipelineSpec({ preprocess: [{ custom: { module: 'steps.mjs' } }], predict: [{ model: 'late' }] }), env);
  try {
    assert.equal(pipeline.steps.length, 2);
  } finally {
    await pipeline.dispose();
  }
  // What does not depend on the model is still refused before any step is built.
  const other = parsePipelineSpec({ preprocess: [{ custom: { module: 'steps.mjs' } }], predict: [{ model: 'later', batching: { maxSize: 0 } }] });
  await assert.rejects(buildPipeline(other, env), { code: 'ERR_PIPELINE_INVALID', message: /^predict\[0\]:later: batching\.maxSize must be/ });
});

test("a custom step's export that is no name, or a module code/ does not hold, fails the build naming the step before any model loads; what it throws with a 4xx status keeps it", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-custom-options-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'steps.mjs'), `export default () => 'the default';\nexport const check = () => { throw Object.assign(new Error('needs 4 columns'), { statusCode: 422 }); };\nexport const plain = () => { throw Object.assign(new Error('oops'), { status: 200 }); };`);
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), runtimes: createDefaultRuntimes(), runtimeOptions: {} } as unknown as Omit<StepBuildEnv, 'stage' | 'name'>;
  // A model that is not there: the custom step's mistake is found first, in the check of every step.
  const build = (custom: string) => buildPipeline(parsePipelineSpec({ predict: [{ model: 'missing.onnx' }], postprocess: [{ custom: JSON.parse(custom) }] }), env);
  // export: 5 ran the default export, another function than the one meant.
  for (const bad of ['5', '["check"]', '""']) {
    await assert.rejects(build(`{ "module": "steps.mjs", "export": ${bad} }`), {
      code: 'ERR_PIPELINE_INVALID',
      message: 'postprocess[0]:custom: "export" must be the name of the function steps.mjs exports (leave it out for its default export)',
    });
  }
  await assert.rejects(build('{ "module": 7 }'), { code: 'ERR_PIPELINE_INVALID', message: /^postprocess\[0\]:custom: "module" must name a file in code\// });
  // Node's "Cannot find module" named smkit's own file as the importer.
  const step = async (options: Record<string, unknown>) => customStep(options, { ...env, stage: 'postprocess', name: 'postprocess[0]:custom' } as StepBuildEnv);
  await assert.rejects(step({ module: 'stpes.mjs' }), {
    code: 'ERR_PIPELINE_INVALID',
    message: `postprocess[0]:custom: module stpes.mjs is not in code/ (${path.join(dir, 'code')}): put it there, or name the file code/ holds`,
  });
  const input = { tensors: { x: { dtype: 'float32' as const, shape: [1], data: Float32Array.of(1) } } };
  await assert.rejects(new Pipeline([await step({ module: 'steps.mjs', export: 'check' })]).run(input, ctx), {
    code: 'ERR_USER_CODE',
    status: 422,
    message: 'postprocess[0]:custom: needs 4 columns',
    details: { step: 'postprocess[0]:custom' },
  });
  // A status outside 400-599 is no answer's: the step's 500.
  await assert.rejects(new Pipeline([await step({ module: 'steps.mjs', export: 'plain' })]).run(input, ctx), { code: 'ERR_STEP_FAILED', status: 500, message: 'postprocess[0]:custom failed: oops' });
  assert.equal((await new Pipeline([await step({ module: 'steps.mjs' })]).run(input, ctx)).value, 'the default');
});

test('a custom step that returns tensors one of which does not hold (data shorter than its shape, a shape of -1, an unknown dtype) fails naming that tensor, not answered as a JSON value nor refused as "an object"', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-custom-tensors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'steps.mjs'),
    [
      "export const short = () => ({ tensors: { x: { dtype: 'float32', shape: [5], data: new Float32Array(2) } } });",
      "export const negative = () => ({ x: { dtype: 'float32', shape: [-2], data: new Float32Array(2) } });",
      "export const complex = () => ({ ok: { dtype: 'int32', shape: [1], data: Int32Array.of(1) }, y: { dtype: 'complex', shape: [2], data: new Float32Array(2) } });",
      "export const plain = () => ({ tensors: { x: [1, 2] } });",
      "export const described = () => ({ scores: { dtype: 'float32', shape: [1, 3], data: [0.1, 0.2, 0.7] }, labels: { dtype: 'string', shape: [2], data: ['a'] } });",
      "export const nested = () => ({ tensors: { x: { dtype: 'float32', shape: [2], data: [1] } } });",
    ].join('\n'),
  );
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), stage: 'postprocess', name: 'postprocess[0]:custom' } as StepBuildEnv;
  const input = { tensors: { x: { dtype: 'float32' as const, shape: [1], data: Float32Array.of(1) } } };
  for (const [exported, problem] of [
    ['short', '"x" has shape [5], which holds 5 values, but its data has 2'],
    ['negative', '"x" has shape [-2]: give a list of whole numbers of at least 0'],
    ['complex', '"y" has dtype "complex", which is none of float32, float64, float16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, string'],
  ]) {
    const step = await customStep({ module: 'steps.mjs', export: exported }, env);
    await assert.rejects(new Pipeline([step]).run(input, ctx), { code: 'ERR_USER_CODE', status: 500, message: `postprocess[0]:custom: the custom step returned tensors of which ${problem}` }, exported);
  }
  // A value whose "tensors" are no tensor-like objects is the step's answer, as before.
  const plain = await customStep({ module: 'steps.mjs', export: 'plain' }, env);
  assert.deepEqual((await new Pipeline([plain]).run(input, ctx)).value, { tensors: { x: [1, 2] } });
  // So is a JSON answer that describes tensors, its data in plain arrays: no typed array, no tensors meant.
  for (const exported of ['described', 'nested']) {
    const step = await customStep({ module: 'steps.mjs', export: exported }, env);
    const out = await new Pipeline([step]).run(input, ctx);
    assert.equal(typeof out.value, 'object', exported);
    assert.ok(JSON.stringify(out.value).includes('"data":['), exported);
  }
});

test("a custom step's module that is a FIFO or a folder fails the load naming it: import() of a FIFO waited for a writer for good", { timeout: 60_000 }, async (t) => {
  if (process.platform === 'win32') return t.skip('no mkfifo');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-custom-fifo-'));
  mkdirSync(path.join(dir, 'code'));
  const fifo = path.join(dir, 'code', 'steps.mjs');
  execFileSync('mkfifo', [fifo]);
  // A writer waiting for a reader: were the FIFO imported, the import ends (an empty module) instead of waiting.
  const writer = spawn('sh', ['-c', 'exec 3>"$0"', fifo], { stdio: 'ignore' });
  t.after(() => {
    writer.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { modelDir: dir, codeDir: path.join(dir, 'code'), stage: 'postprocess', name: 'postprocess[0]:custom' } as StepBuildEnv;
  await assert.rejects(async () => customStep({ module: 'steps.mjs' }, env), {
    code: 'ERR_PIPELINE_INVALID',
    message: "postprocess[0]:custom: module steps.mjs in code/ is neither a file nor a directory (a FIFO, socket or device): make it the step's JavaScript file",
  });
  mkdirSync(path.join(dir, 'code', 'dir.mjs'));
  await assert.rejects(async () => customStep({ module: 'dir.mjs' }, env), { code: 'ERR_PIPELINE_INVALID', message: "postprocess[0]:custom: module dir.mjs in code/ is a directory: make it the step's JavaScript file" });
});
