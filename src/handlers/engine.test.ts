import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceEngine } from './engine.js';
import { CodecRegistry } from '../codecs/registry.js';
import { createDefaultCodecs } from '../codecs/defaults.js';
import { jsonCodec } from '../codecs/json.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import { createDefaultSteps } from '../pipeline/default-steps.js';
import { StepRegistry } from '../pipeline/registry.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import { createLogger } from '../logging/logger.js';
import { ToolkitError } from '../errors/catalogue.js';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';
import { engineOptions } from '../../test/helpers/engine-options.js';

const log = createLogger('silent');
const IRIS = path.join(REPO_ROOT, 'models', 'iris-onnx');
const IRIS_PIPELINE = path.join(REPO_ROOT, 'models', 'iris-pipeline');

const ROW = '5.1,3.5,1.4,0.2\n';
const invokeCsv = (engine: InferenceEngine, id: string, accept?: string) =>
  engine.invoke({ requestId: id, body: Buffer.from(ROW), contentType: 'text/csv', accept, headers: {} }, log);

// First in this file: the codecs load after the model, so these invocations arrive before them.
test('invocations that arrive before the codecs have loaded wait for them and are answered in full', async () => {
  const engine = await InferenceEngine.load(engineOptions(IRIS));
  try {
    const answers = await Promise.all([invokeCsv(engine, 'a'), invokeCsv(engine, 'b', 'text/csv'), invokeCsv(engine, 'c', 'application/x-npy')]);
    const json = JSON.parse(answers[0].body.toString('utf8')) as number[][];
    assert.equal(answers[0].contentType, 'application/json');
    assert.equal(json.length, 1);
    assert.equal(json[0]!.length, 3, 'three class scores for one row');
    assert.equal(answers[1].contentType, 'text/csv');
    assert.equal(answers[1].body.toString('utf8').trim().split(',').length, 3);
    assert.equal(answers[2].contentType, 'application/x-npy');
    assert.equal(answers[2].body.subarray(1, 6).toString('latin1'), 'NUMPY');
    // Once loaded, the same engine answers without waiting, and refuses what no codec can write.
    await engine.whenCodecsReady();
    assert.deepEqual(JSON.parse((await invokeCsv(engine, 'd')).body.toString('utf8')), json);
    await assert.rejects(invokeCsv(engine, 'e', 'image/gif'), { code: 'ERR_NOT_ACCEPTABLE' });
  } finally {
    await engine.dispose();
  }
});

test('an engine given its own registries uses their codecs, not the built-in ones', async () => {
  const custom = new CodecRegistry().register(jsonCodec).register({
    mediaType: 'application/x-rows',
    decode: (body) => ({ tensors: { '': { dtype: 'float32', shape: [1, 4], data: Float32Array.from(body.toString('utf8').split(';').map(Number)) } }, form: 'tensor' }),
    encode: (prediction) => Buffer.from(`rows:${JSON.stringify(prediction)}`),
  });
  const engine = await InferenceEngine.load(engineOptions(IRIS, { registries: { codecs: custom, runtimes: createDefaultRuntimes(), steps: createDefaultSteps() } }));
  try {
    const answer = await engine.invoke({ requestId: 'u', body: Buffer.from('5.1;3.5;1.4;0.2'), contentType: 'application/x-rows', accept: 'application/x-rows', headers: {} }, log);
    assert.equal(answer.contentType, 'application/x-rows');
    assert.match(answer.body.toString('utf8'), /^rows:/);
    // CSV is a built-in codec this registry does not hold.
    await assert.rejects(invokeCsv(engine, 'v'), { code: 'ERR_UNSUPPORTED_MEDIA_TYPE' });
    await assert.rejects(invokeCsv(engine, 'w', 'text/csv'), { code: 'ERR_NOT_ACCEPTABLE' });
  } finally {
    await engine.dispose();
  }
});

test('a pipeline file loads its step kinds on demand, and an engine given step kinds uses those', async () => {
  const engine = await InferenceEngine.load(engineOptions(IRIS_PIPELINE));
  try {
    assert.ok(engine.describe().pipelineFile);
    const answer = await invokeCsv(engine, 'p');
    assert.equal(answer.contentType, 'application/json');
  } finally {
    await engine.dispose();
  }
  const withoutSteps = { codecs: createDefaultCodecs(), runtimes: createDefaultRuntimes(), steps: new StepRegistry() };
  await assert.rejects(InferenceEngine.load(engineOptions(IRIS_PIPELINE, { registries: withoutSteps })), { code: 'ERR_PIPELINE_INVALID', message: /^preprocess\[0\]:cast: unknown step "cast"; known steps: $/ });
});

test("a predict step's key its runtime does not take (a misspelt batching) fails the load naming it; a runtime that lists no step options gets any key", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-predict-options-'));
  try {
    writeFileSync(path.join(dir, 'model.onnx'), readFileSync(path.join(IRIS, 'model.onnx')));
    writeFileSync(path.join(dir, 'pipeline.yaml'), 'predict:\n  - model: model.onnx\n    batchng: { maxSize: 8 }\n');
    await assert.rejects(InferenceEngine.load(engineOptions(dir)), {
      code: 'ERR_PIPELINE_INVALID',
      message: 'predict[0]:model.onnx: batchng (did you mean "batching"?) is not a predict step option for runtime onnx; use model, runtime, batching',
    });
    // A runtime registered without stepOptions (one written before they existed) still receives its keys.
    const onnx = createDefaultRuntimes().get('onnx');
    const seen: Record<string, unknown>[] = [];
    const runtimes = new RuntimeRegistry().register({ name: 'onnx', detect: onnx.detect, load: (file, options) => (seen.push({ ...options.extra }), onnx.load(file, options)) });
    const engine = await InferenceEngine.load(engineOptions(dir, { registries: { codecs: createDefaultCodecs(), runtimes, steps: createDefaultSteps() } }));
    await engine.dispose();
    assert.equal(seen[0]?.['batchng'] !== undefined, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a TF.js predict step's signature for a graph model fails the load before the model (or TF.js) loads, with the check smkit package runs", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-predict-signature-'));
  try {
    mkdirSync(path.join(dir, 'graph'));
    for (const f of ['model.json', 'weights.bin']) writeFileSync(path.join(dir, 'graph', f), readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'tfjs', 'graph-mlp', f)));
    writeFileSync(path.join(dir, 'pipeline.yaml'), 'predict:\n  - model: graph\n    signature: other\n');
    const tfjs = createDefaultRuntimes().get('tfjs');
    let loads = 0;
    const runtimes = new RuntimeRegistry().register({ ...tfjs, load: (file, options) => (loads++, tfjs.load(file, options)) });
    await assert.rejects(InferenceEngine.load(engineOptions(dir, { registries: { codecs: createDefaultCodecs(), runtimes, steps: createDefaultSteps() } })), (err: unknown) => {
      assert.ok(err instanceof ToolkitError && err.code === 'ERR_PIPELINE_INVALID', String(err));
      // The step named once.
      assert.match(err.message, /^predict\[0\]:graph: the predict step's "signature" option \("other"\) picks a TensorFlow SavedModel's signature, but \S+\/graph\/model\.json is a TF\.js graph model: .*; remove "signature" from the step$/);
      return true;
    });
    // Before, the refusal came from inside the load, after TF.js and its backend were loaded.
    assert.equal(loads, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('describe() reports the largest batch a run takes: the batching maxSize for a model that batches, 1 without batching', async () => {
  const batched = await InferenceEngine.load(engineOptions(IRIS, { batching: { maxSize: 8, maxDelayMs: 0 } }));
  const plain = await InferenceEngine.load(engineOptions(IRIS));
  try {
    assert.equal(batched.describe().maxBatchSize, 8);
    assert.equal(plain.describe().maxBatchSize, 1);
    // The batched engine still answers one request on its own.
    assert.equal(JSON.parse((await invokeCsv(batched, 'one')).body.toString('utf8')).length, 1);
  } finally {
    await Promise.all([batched.dispose(), plain.dispose()]);
  }
});

test('describe() counts the batch size of a context.loadDefaultModel() pipeline that modelFn returns inside a value of its own', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-wrapped-pipeline-'));
  try {
    mkdirSync(path.join(dir, 'code'));
    writeFileSync(path.join(dir, 'model.onnx'), readFileSync(path.join(IRIS, 'model.onnx')));
    writeFileSync(
      path.join(dir, 'code', 'inference.mjs'),
      `export async function modelFn(dir, context) { return { pipeline: await context.loadDefaultModel() }; }
export function predictFn(input, model, context) { return model.pipeline.run({ tensors: input.tensors }, context); }
`,
    );
    const engine = await InferenceEngine.load(engineOptions(dir, { batching: { maxSize: 8, maxDelayMs: 0 } }));
    try {
      // The inference thread takes twice this many requests at once; 1 kept it at SMKIT_WORKER_CONCURRENCY (4).
      assert.equal(engine.describe().maxBatchSize, 8);
      assert.equal(JSON.parse((await invokeCsv(engine, 'one')).body.toString('utf8')).length, 1);
    } finally {
      await engine.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pipelines context.loadDefaultModel() made are released when the engine is disposed (a modelFn holding one in a value of its own) and when the load fails after them (modelWarmupFn throws), and only those made while the model loaded, not one a handler makes per request', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-release-pipelines-'));
  const disposed: string[] = [];
  let loads = 0;
  const runtimes = new RuntimeRegistry().register({
    name: 'probe',
    detect: async (where) => path.join(where, 'model.probe'),
    load: async () => {
      const id = `model ${++loads}`;
      return {
        name: 'probe',
        backend: 'cpu',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
        predict: async (inputs) => ({ y: Object.values(inputs)[0]! }),
        dispose: async () => void disposed.push(id),
      };
    },
  });
  let handlers = 0;
  // A module of its own each time: a module imported once is not read again.
  const load = (handler: string) => {
    const program = `handler${++handlers}`;
    writeFileSync(path.join(dir, 'code', `${program}.mjs`), handler);
    return InferenceEngine.load(engineOptions(dir, { program, registries: { codecs: createDefaultCodecs(), runtimes, steps: createDefaultSteps() } }));
  };
  try {
    mkdirSync(path.join(dir, 'code'));
    writeFileSync(path.join(dir, 'model.probe'), '');
    // Wrapped in a value of the handler's own, and one made twice (both are released, the model once).
    const wrapped = await load('export async function modelFn(dir, context) { await context.loadDefaultModel(); return { pipeline: await context.loadDefaultModel() }; }\nexport function predictFn(input, model, context) { return model.pipeline.run({ tensors: input.tensors }, context); }');
    assert.equal(JSON.parse((await invokeCsv(wrapped, 'wrapped')).body.toString('utf8')).length, 1);
    await wrapped.dispose();
    assert.deepEqual(disposed.sort(), ['model 1', 'model 2']);
    disposed.length = 0;
    const returned = await load('export function modelFn(dir, context) { return context.loadDefaultModel(); }');
    await returned.dispose();
    assert.deepEqual(disposed, ['model 3']);
    disposed.length = 0;
    await assert.rejects(load('export function modelFn(dir, context) { return context.loadDefaultModel(); }\nexport function modelWarmupFn() { throw new Error("warm-up failed"); }'), {
      code: 'ERR_MODEL_LOAD',
      message: /modelWarmupFn in .* failed: warm-up failed/,
    });
    assert.deepEqual(disposed, ['model 4']);
    disposed.length = 0;
    // One made per request, by a handler that kept the function, is the handler's, not the engine's (fb6f56a6).
    const perRequest = await load(
      'let load;\nexport async function modelFn(dir, context) { load = context.loadDefaultModel; return load(); }\nexport async function predictFn(input, model, context) { const own = await load(); return own.run({ tensors: input.tensors }, context); }',
    );
    assert.equal(JSON.parse((await invokeCsv(perRequest, 'per-request')).body.toString('utf8')).length, 1);
    await perRequest.dispose();
    assert.deepEqual(disposed, ['model 5']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a predict step's batching overrides the settings: on with SMKIT_BATCH_MAX_SIZE 1, off with it 8, and a missing key falls back to the setting", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-step-batching-'));
  const withPipeline = (name: string, batching: string) => {
    const modelDir = path.join(dir, name);
    mkdirSync(modelDir);
    writeFileSync(path.join(modelDir, 'model.onnx'), readFileSync(path.join(IRIS, 'model.onnx')));
    writeFileSync(path.join(modelDir, 'pipeline.yaml'), `predict:\n  - model: model.onnx\n    batching: ${batching}\n`);
    return modelDir;
  };
  const engines = await Promise.all([
    InferenceEngine.load(engineOptions(withPipeline('on', '{ maxSize: 16 }'))),
    InferenceEngine.load(engineOptions(withPipeline('off', '{ maxSize: 1 }'), { batching: { maxSize: 8, maxDelayMs: 0 } })),
    InferenceEngine.load(engineOptions(withPipeline('delay', '{ maxDelayMs: 5 }'), { batching: { maxSize: 8, maxDelayMs: 0 } })),
  ]);
  try {
    assert.deepEqual(
      engines.map((e) => e.describe().maxBatchSize),
      [16, 1, 8],
    );
    for (const e of engines) assert.equal(JSON.parse((await invokeCsv(e, 'one')).body.toString('utf8')).length, 1);
  } finally {
    await Promise.all(engines.map((e) => e.dispose()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a pipeline's steps get SMKIT_MAX_DECODED_MB: a resize past it is a 413 before its pixels are allocated", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-step-budget-'));
  writeFileSync(path.join(dir, 'model.onnx'), readFileSync(path.join(IRIS, 'model.onnx')));
  writeFileSync(path.join(dir, 'pipeline.yaml'), 'preprocess:\n  - resize: { size: 64 }\npredict:\n  - model: model.onnx\n');
  const engine = await InferenceEngine.load(engineOptions(dir, { maxDecodedBytes: 1024 * 1024 }));
  try {
    // A 1×300 image with one channel (JSON numbers: float64), resized to 64×19 200 pixels: 9.38 MB.
    const body = Buffer.from(JSON.stringify([[Array.from({ length: 300 }, () => [0.5])]][0]));
    await assert.rejects(engine.invoke({ requestId: 'r', body, contentType: 'application/json', headers: {} }, log), { code: 'ERR_DECODED_TOO_LARGE', status: 413, message: /^preprocess\[0\]:resize: the 1×300 image would be resized to 64×19200 \(9\.38 MB\), more than the 1 MB/ });
  } finally {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A handler whose transformFn misbehaves as the request body says (throws odd values, returns odd answers). */
const MISBEHAVING_HANDLER = `
export function transformFn(model, body, contentType, accept, context) {
  switch (body.toString('utf8')) {
    case 'string': throw 'disk full';
    case 'undefined': throw undefined;
    case 'symbol': throw Symbol('boom');
    case 'no-prototype': throw Object.assign(Object.create(null), { reason: 'x' });
    case 'throwing-toString': throw { toString() { throw new Error('not this one'); } };
    case 'proxy': throw new Proxy({}, { get() { throw new Error('not this get'); }, getPrototypeOf() { throw new Error('not this prototype'); } });
    case 'throwing-message': throw { get message() { throw new Error('not this one'); }, status: 400 };
    case 'huge': throw new Error('y'.repeat(10 * 1024 * 1024));
    case 'huge-4xx': throw Object.assign(new Error('z'.repeat(10 * 1024 * 1024)), { status: 422 });
    case 'crlf-content-type': return { body: 'x', contentType: 'text/plain\\r\\nSet-Cookie: session=evil' };
    case 'crlf-attributes': context.setCustomAttributes('a=1\\r\\nSet-Cookie: session=evil'); return 'x';
    case 'long-attributes': context.setCustomAttributes('a'.repeat(1025)); return 'x';
    case 'longest-attributes': context.setCustomAttributes('a'.repeat(1024)); return 'x';
    case 'long-content-type': return { body: 'x', contentType: 'text/plain; p=' + 'a'.repeat(20000) };
    case 'undefined-body': return { body: undefined, contentType: 'text/plain' };
    case 'null-body': return { body: null, contentType: 'text/plain' };
    case 'forgotten-return': return undefined;
    case 'function': return () => 'x';
    case 'plain-value': return { value: 1 };
    case 'object-body': return { body: { a: 1 }, contentType: 'application/json' };
    case 'attributes': context.setCustomAttributes('a=1; b=ü'); return { body: 'x', contentType: 'text/plain; charset=utf-8' };
    case 'ascii-attributes': context.setCustomAttributes('a=1;\\tb=~'); return { body: 'x', contentType: 'text/plain; charset=utf-8' };
    case 'emoji-content-type': return { body: 'x', contentType: 'text/plain; charset=utf-8\u{1F600}' };
    case 'empty-content-type': return { body: 'x', contentType: '' };
  }
  return 'ok';
}
`;

/** An engine serving `handler` as code/inference.mjs of an otherwise empty model directory. */
async function engineWithHandler(t: { after(fn: () => unknown): void }, handler: string): Promise<InferenceEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), handler);
  const engine = await InferenceEngine.load(engineOptions(dir));
  t.after(() => engine.dispose());
  return engine;
}

const invokeText = (engine: InferenceEngine, body: string, accept = 'text/plain') =>
  engine.invoke({ requestId: body, body: Buffer.from(body), contentType: 'text/plain', accept, headers: {} }, log);

test('whatever a hook throws is a 500 ERR_USER_CODE naming the hook, its message at most 4 KB; a thrown status is kept', async (t) => {
  const engine = await engineWithHandler(t, MISBEHAVING_HANDLER);
  const named = /^transformFn in .*inference\.mjs failed: /;
  for (const [mode, text] of [
    ['string', 'disk full'],
    ['undefined', 'undefined'],
    ['symbol', 'Symbol(boom)'],
    ['no-prototype', 'a thrown object that cannot be turned into text'],
    ['throwing-toString', 'a thrown object that cannot be turned into text'],
    // instanceof throws on it: before, the Proxy trap's own error escaped as a 500 ERR_INTERNAL quoting it.
    ['proxy', 'a thrown object that cannot be turned into text'],
  ] as const) {
    await assert.rejects(invokeText(engine, mode), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_USER_CODE', mode);
      assert.equal(err.status, 500, mode);
      assert.match(err.message, named, mode);
      assert.ok(err.message.endsWith(text), `${mode}: ${err.message}`);
      return true;
    });
  }
  await assert.rejects(invokeText(engine, 'throwing-message'), { code: 'ERR_USER_CODE', status: 400, message: 'a thrown object that cannot be turned into text' });
  for (const [mode, status] of [
    ['huge', 500],
    ['huge-4xx', 422],
  ] as const) {
    await assert.rejects(invokeText(engine, mode), (err: ToolkitError) => {
      assert.equal(err.status, status, mode);
      // Measured without the hook's name and file, whose length is the temporary folder's (TMPDIR).
      const said = err.message.replace(named, '');
      assert.ok(said.length < 4200, `${mode}: ${said.length} characters`);
      assert.ok(err.message.endsWith('…'), mode);
      return true;
    });
  }
  assert.equal((await invokeText(engine, 'fine')).body.toString('utf8'), 'ok', 'the engine keeps serving');
});

test("the contentType of { body, contentType } is read once: a getter that gives 'text/plain' and then something else (7, a value whose text has CR LF) is answered in 'text/plain', not checked as one value and sent as another", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function transformFn(model, body) {
       let reads = 0;
       const later = body.toString() === 'number' ? 7 : { toString: () => 'text/plain\\r\\nX-Injected: 1' };
       return { body: 'answer', get contentType() { return reads++ === 0 ? 'text/plain' : later; } };
     }`,
  );
  for (const mode of ['number', 'object']) {
    const response = await invokeText(engine, mode);
    assert.equal(response.contentType, 'text/plain', mode);
    assert.equal(response.body.toString(), 'answer', mode);
  }
});

test('a content type or custom attributes from user code with CR, LF or another control character, a character outside ASCII, or over 1024 characters, is a 500 ERR_USER_CODE naming the hook, before any header is written', async (t) => {
  const engine = await engineWithHandler(t, MISBEHAVING_HANDLER);
  const file = '.*inference\\.mjs';
  await assert.rejects(invokeText(engine, 'crlf-content-type'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: new RegExp(`^the contentType transformFn in ${file} returned has a character an HTTP header cannot carry \\(U\\+000D at index 10\\) for Content-Type: use printable ASCII, without CR or LF$`),
  });
  await assert.rejects(invokeText(engine, 'crlf-attributes'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: new RegExp(`^the value transformFn in ${file} gave context\\.setCustomAttributes has a character an HTTP header cannot carry \\(U\\+000D at index 3\\) for X-Amzn-SageMaker-Custom-Attributes: use printable ASCII, without CR or LF$`),
  });
  await assert.rejects(invokeText(engine, 'long-attributes'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: new RegExp(`^the value transformFn in ${file} gave context\\.setCustomAttributes is 1025 characters long, more than the 1024 SageMaker carries in X-Amzn-SageMaker-Custom-Attributes: shorten it$`),
  });
  assert.equal((await invokeText(engine, 'longest-attributes')).customAttributes?.length, 1024);
  await assert.rejects(invokeText(engine, 'long-content-type'), {
    code: 'ERR_USER_CODE',
    message: new RegExp(`^the contentType transformFn in ${file} returned is 20014 characters long, more than the 1024 SageMaker carries in Content-Type: shorten it$`),
  });
  // Latin-1 is a valid HTTP header value, but SageMaker's InvokeEndpoint output takes ASCII only
  // (\p{ASCII}*): a character past it (one past Latin-1 too, named by its code point) is refused.
  await assert.rejects(invokeText(engine, 'attributes'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: new RegExp(`^the value transformFn in ${file} gave context\\.setCustomAttributes has a character outside ASCII \\(U\\+00FC at index 7\\), which SageMaker does not carry in X-Amzn-SageMaker-Custom-Attributes \\(at most 1024 ASCII characters\\): use printable ASCII, percent-encoding other text$`),
  });
  await assert.rejects(invokeText(engine, 'emoji-content-type'), {
    code: 'ERR_USER_CODE',
    message: new RegExp(`^the contentType transformFn in ${file} returned has a character outside ASCII \\(U\\+1F600 at index 25\\), which SageMaker does not carry in Content-Type `),
  });
  await assert.rejects(invokeText(engine, 'empty-content-type'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: new RegExp(`^transformFn in ${file} returned \\{ body, contentType \\} with a contentType that is empty: contentType must be a media type \\(such as 'application/json'\\), or left out to answer in the type the request accepts$`),
  });
  const fine = await invokeText(engine, 'ascii-attributes');
  assert.deepEqual([fine.contentType, fine.customAttributes], ['text/plain; charset=utf-8', 'a=1;\tb=~'], 'printable ASCII and a tab are carried');
});

test('a fetch Response returned by a hook (return fetch(upstream)) is its 500 ERR_USER_CODE saying to read it, not its body answered 200 in the Accept type with its status and Content-Type lost', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function transformFn(model, body) {
  const upstream = new Response('<h1>not found</h1>', { status: 404, headers: { 'content-type': 'text/html' } });
  if (body.toString() === 'wrapped') return { body: upstream, contentType: 'text/html' };
  if (body.toString() === 'request') return new Request('http://localhost/x', { method: 'POST', body: 'x' });
  return upstream;
}`,
  );
  const file = path.join('.*', 'code', 'inference\\.mjs');
  for (const body of ['direct', 'wrapped']) {
    // Before, the 404's page was answered 200 as application/json.
    await assert.rejects(invokeText(engine, body, 'application/json'), {
      code: 'ERR_USER_CODE',
      status: 500,
      message: new RegExp(`^transformFn in ${file} returned a fetch Response, whose status and Content-Type an answer would lose: read it first \\(check res\\.ok, then return Buffer\\.from\\(await res\\.arrayBuffer\\(\\)\\)`),
    });
  }
  await assert.rejects(invokeText(engine, 'request', 'application/json'), { code: 'ERR_USER_CODE', message: /returned a fetch Request: read it first/ });
});

test("custom attributes a stream sets before its first chunk (an async generator before its first yield) are taken with that chunk; one set after it is not sent, which one warning says", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function transformFn(model, body, contentType, accept, context) {
  if (body.toString() === 'before') context.setCustomAttributes('set=before');
  return (async function* () {
    if (body.toString() === 'inside') context.setCustomAttributes('set=inside');
    yield 'a';
    if (body.toString() === 'inside') context.setCustomAttributes('set=after-first');
    yield 'b';
    if (body.toString() === 'inside') context.setCustomAttributes('set=after-second, josé');
  })();
}`,
  );
  const warnings: [object | string, string | undefined][] = [];
  const capture = { debug() {}, info() {}, error() {}, warn: (obj: object | string, msg?: string) => void warnings.push([obj, msg]) };
  // As the server does: the custom attributes are taken once the first chunk is in hand.
  const run = async (body: string) => {
    const response = await engine.invoke({ requestId: body, body: Buffer.from(body), contentType: 'text/plain', accept: 'text/plain', headers: {} }, capture);
    const iterator = response.stream![Symbol.asyncIterator]();
    const chunks: Uint8Array[] = [];
    let next = await iterator.next();
    const taken = response.takeCustomAttributes!();
    for (; !next.done; next = await iterator.next()) chunks.push(next.value);
    assert.equal(Buffer.concat(chunks).toString(), 'ab', body);
    return [response.customAttributes, taken];
  };
  assert.deepEqual(await run('before'), ['set=before', 'set=before']);
  assert.deepEqual(warnings, []);
  assert.deepEqual(await run('inside'), [undefined, 'set=inside'], 'set before the first yield, taken with the first chunk');
  assert.equal(warnings.length, 1, 'one warning for the two values set after the first chunk, the one SageMaker could not carry not refused: the stream goes on');
  assert.deepEqual(warnings[0]![0], { code: 'ERR_USER_CODE' });
  assert.match(warnings[0]![1]!, /^context\.setCustomAttributes was called after the first chunk of the stream that transformFn in .*inference\.mjs returned: custom attributes are taken with that chunk \(an HTTP answer's headers go out with it; a bidirectional stream's message carries none\), so this value is not sent; call it before the stream's first chunk \(before an async generator's first yield\)$/);
});

test("a modelFn that throws a Proxy whose prototype cannot be read fails the load as modelFn's error, which clients are not quoted", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-proxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'inference.mjs'),
    "export function modelFn() { throw new Proxy({}, { getPrototypeOf() { throw new Error('secret=hunter2'); } }); }\nexport function transformFn() { return 'x'; }\n",
  );
  // Before: instanceof threw the trap's error, which failed the load as it was, /ping quoting 'secret=hunter2'.
  await assert.rejects(InferenceEngine.load(engineOptions(dir)), (err: ToolkitError) => {
    assert.equal(err.code, 'ERR_MODEL_LOAD');
    assert.deepEqual(err.details, { hook: 'modelFn', handler: path.join(dir, 'code', 'inference.mjs') });
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
});

test("a handler module that throws a Proxy at its top level, or whose export throws when read, fails the load as its top-level code's error, which clients are not quoted", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-exports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  const trap = "{ get() { throw new Error('secret=hunter2'); }, getPrototypeOf() { throw new Error('secret=hunter2'); } }";
  const sources = [`throw new Proxy({}, ${trap});`, `export default new Proxy({}, ${trap});`, "export default { get modelFn() { throw new Error('secret=hunter2'); } };"];
  for (const [i, source] of sources.entries()) {
    // A module of its own each (SAGEMAKER_PROGRAM): Node keeps a module it loaded, or failed to, by its URL.
    const file = path.join(dir, 'code', `inference${i}.mjs`);
    writeFileSync(file, source);
    // Before: the trap's or getter's error failed the load as it was, /ping quoting 'secret=hunter2'.
    await assert.rejects(InferenceEngine.load(engineOptions(dir, { program: `inference${i}` })), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_HANDLER_LOAD', source);
      assert.deepEqual(err.details, { hook: 'its top-level code', handler: file }, source);
      return true;
    });
  }
  // A custom step's module likewise.
  const steps = path.join(dir, 'code', 'steps.mjs');
  writeFileSync(steps, `export default new Proxy({}, ${trap});`);
  writeFileSync(path.join(dir, 'pipeline.json'), JSON.stringify({ predict: [{ custom: { module: 'steps.mjs', export: 'scale' } }] }));
  await assert.rejects(InferenceEngine.load(engineOptions(dir, { program: 'none' })), (err: ToolkitError) => {
    assert.equal(err.code, 'ERR_HANDLER_LOAD');
    assert.deepEqual(err.details, { hook: 'its top-level code', handler: steps });
    return true;
  });
});

test('a handler module with a syntax error fails the load naming the line and column, which the import error does not carry', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-syntax-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), 'export function transformFn(model, body) {\n  const text = body.toString();\n  return text +;\n}\n');
  await assert.rejects(InferenceEngine.load(engineOptions(dir)), {
    code: 'ERR_HANDLER_LOAD',
    message: `cannot load handler ${path.join(dir, 'code', 'inference.mjs')} (line 3, column 16: return text +;): Unexpected token ';'`,
  });
});

test("a { body, contentType } answer whose body smkit cannot write in the handler's own contentType is the handler's 500, not the client's 406", async (t) => {
  const engine = await engineWithHandler(t, MISBEHAVING_HANDLER);
  await assert.rejects(invokeText(engine, 'undefined-body'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: /^transformFn in .*inference\.mjs returned \{ body, contentType \} with a body that is undefined: return the body as a Buffer, a Uint8Array or a string, or plain data for smkit to encode$/,
  });
  await assert.rejects(invokeText(engine, 'null-body'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: /^transformFn in .*inference\.mjs returned \{ body, contentType: 'text\/plain' \} with a body that is null: return the body as a Buffer, a Uint8Array or a string, or use a contentType smkit encodes \(application\/json, /,
  });
  assert.equal((await invokeText(engine, 'object-body')).body.toString('utf8'), '{"a":1}', 'a value in a type smkit encodes is encoded');
  // With no contentType of its own, the client's Accept is what cannot be answered: still a 406,
  // whose hint does not tell a handler that has its transformFn to export an outputFn.
  await assert.rejects(invokeText(engine, 'plain-value', 'image/gif'), {
    code: 'ERR_NOT_ACCEPTABLE',
    status: 406,
    message: /^Cannot answer in 'image\/gif'\. Accept one of: application\/json, .*; transformFn returned an object for smkit to encode: to answer in other types, return the body already encoded from transformFn \(a Buffer, a Uint8Array or a string\), or \{ body, contentType \}$/,
  });
});

test('a hook that returns undefined, a symbol or a function (a forgotten return) where the answer or prediction is due is a 500 naming it; JSON would have answered 200 "null"', async (t) => {
  const transform = await engineWithHandler(t, MISBEHAVING_HANDLER);
  for (const [body, kind] of [['forgotten-return', 'undefined'], ['function', 'a function']]) {
    for (const accept of ['application/json', 'text/plain']) {
      await assert.rejects(invokeText(transform, body, accept), {
        code: 'ERR_USER_CODE',
        status: 500,
        message: new RegExp(`^transformFn in .*inference\\.mjs returned ${kind}: return the answer \\(a Buffer, a Uint8Array or a string, \\{ body, contentType \\}, or a value for smkit to encode as ${accept.replace('/', '\\/')}\\)$`),
      });
    }
  }
  const predict = await engineWithHandler(
    t,
    `export function inputFn(body) { return body.toString(); }
     export function predict_fn(mode) { if (mode === 'symbol') return Symbol('x'); if (mode !== 'null') return undefined; return null; }`,
  );
  for (const accept of ['application/json', 'text/csv']) {
    await assert.rejects(invokeText(predict, 'forgotten', accept), {
      code: 'ERR_USER_CODE',
      status: 500,
      message: /^predict_fn in .*inference\.mjs returned undefined: return the prediction \(a tensor \{ dtype, shape, data \}, named tensors, or plain data for smkit to encode\)$/,
    });
  }
  await assert.rejects(invokeText(predict, 'symbol', 'application/json'), { code: 'ERR_USER_CODE', message: /^predict_fn in .* returned a symbol: / });
  assert.equal((await invokeText(predict, 'null', 'application/json')).body.toString(), 'null', 'null is a value: JSON null');
  // An outputFn is given what predictFn returned, whatever it is.
  const withOutput = await engineWithHandler(t, `export function inputFn(body) { return body.toString(); }\nexport function predictFn() { return undefined; }\nexport function outputFn(p) { return String(p); }`);
  assert.equal((await invokeText(withOutput, '[1]', 'text/plain')).body.toString(), 'undefined');
});

test('a value a hook returns that JSON cannot hold (a circular object) is a 500 ERR_ENCODE naming the hook', async (t) => {
  const circular = 'const o = {}; o.self = o;';
  const predict = await engineWithHandler(t, `export function inputFn(body) { return body.toString(); }\nexport function predict_fn() { ${circular} return o; }`);
  const transform = await engineWithHandler(t, `export function transformFn(model, body) { ${circular} return body.toString() === 'wrapped' ? { body: o, contentType: 'application/json' } : o; }`);
  for (const [engine, body, hook] of [[predict, 'x', 'predict_fn'], [transform, 'x', 'transformFn'], [transform, 'wrapped', 'transformFn']] as const) {
    await assert.rejects(invokeText(engine, body, 'application/json'), {
      code: 'ERR_ENCODE',
      status: 500,
      message: new RegExp(`^${hook} in .*inference\\.mjs returned what smkit cannot answer as application/json: the prediction cannot be written as JSON \\(Converting circular structure`),
    });
  }
});

test('a value a hook returns that throws when smkit reads it (a getter, a Proxy; also what inputFn returns for the model) is a 500 ERR_USER_CODE naming the hook, not an ERR_INTERNAL quoting the getter', async (t) => {
  const getter = "{ get a() { throw new Error('not this getter'); } }";
  const proxy = "new Proxy({}, { ownKeys() { throw new Error('not this proxy'); } })";
  const predict = await engineWithHandler(t, `export function inputFn(body) { return body.toString(); }\nexport function predict_fn(mode) { return mode === 'proxy' ? { tensors: ${proxy} } : ${getter}; }`);
  const transform = await engineWithHandler(t, `export function transformFn(model, body) { return body.toString() === 'proxy' ? ${proxy} : ${getter}; }`);
  // No predictFn: smkit reads what input_fn returned for the model (a getter on `instances`, say).
  const input = await engineWithHandler(
    t,
    `export function modelFn() { return { predict: (t) => t }; }\nexport function input_fn(body) { return body.toString() === 'proxy' ? ${proxy} : { get instances() { throw new Error('not this getter'); } }; }`,
  );
  for (const [engine, body, hook, thrown] of [
    [input, 'getter', 'input_fn', 'not this getter'],
    [input, 'proxy', 'input_fn', 'not this proxy'],
    [predict, 'getter', 'predict_fn', 'not this getter'],
    [predict, 'proxy', 'predict_fn', 'not this proxy'],
    [transform, 'getter', 'transformFn', 'not this getter'],
    [transform, 'proxy', 'transformFn', 'not this proxy'],
  ] as const) {
    await assert.rejects(invokeText(engine, body, 'application/json'), {
      code: 'ERR_USER_CODE',
      status: 500,
      message: new RegExp(`^${hook} in .*inference\\.mjs returned a value smkit could not read or encode \\(${thrown}\\): return plain data`),
    });
  }
});

test('a streamed answer chunk that is no bytes, text or JSON value is an error naming the hook that yielded it', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export async function* transform_fn(model, body) {
       const mode = body.toString();
       yield 'first';
       if (mode === 'undefined') yield undefined;
       if (mode === 'circular') { const o = {}; o.self = o; yield o; }
       if (mode === 'map') yield { seen: new Set([1]) };
       if (mode === 'blob') yield new Blob(['image bytes']);
       yield { n: 1, scores: new Float32Array([0.25, 1]), big: 2n };
     }`,
  );
  const read = async (mode: string) => {
    const chunks: string[] = [];
    for await (const chunk of (await invokeText(engine, mode)).stream!) chunks.push(Buffer.from(chunk).toString());
    return chunks;
  };
  // Written as a JSON answer is: a typed array as an array, not {"0":0.25,"1":1}; a bigint as a number.
  assert.deepEqual(await read('plain'), ['first', '{"n":1,"scores":[0.25,1.0],"big":2}']);
  await assert.rejects(read('undefined'), {
    code: 'ERR_USER_CODE',
    message: 'transform_fn yielded undefined as a chunk of its streamed answer: yield Buffers, Uint8Arrays, strings or plain data (written as JSON)',
  });
  await assert.rejects(read('circular'), { code: 'ERR_USER_CODE', message: /^transform_fn yielded a chunk JSON cannot hold \(Converting circular structure/ });
  // Not written as {}.
  await assert.rejects(read('map'), { code: 'ERR_USER_CODE', message: /^transform_fn yielded a chunk JSON cannot hold \(it holds a Set, whose content JSON cannot hold\)/ });
  // A Blob went out as {} with its bytes lost.
  await assert.rejects(read('blob'), { code: 'ERR_USER_CODE', message: /^transform_fn yielded a chunk JSON cannot hold \(it holds a Blob \(bytes: read them with await blob\.arrayBuffer\(\)/ });
});

test('a streamed answer chunk that is a typed array other than Uint8Array, a DataView or an ArrayBuffer goes out as its bytes, not as JSON of its indexes', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export async function* transformFn() {
       yield new Float32Array([1.5, -2]);
       yield new DataView(new Uint16Array([0x6968]).buffer);
       yield new Uint8Array([0x21, 0x3f]).buffer;
       // A view of part of a larger buffer: only its own bytes.
       yield new Int16Array(new Int16Array([7, 8, 9]).buffer, 2, 1);
     }`,
  );
  const chunks: Buffer[] = [];
  for await (const chunk of (await invokeText(engine, 'x')).stream!) chunks.push(Buffer.from(chunk));
  assert.deepEqual(chunks, [
    Buffer.from(new Float32Array([1.5, -2]).buffer),
    Buffer.from(new Uint16Array([0x6968]).buffer),
    Buffer.from([0x21, 0x3f]),
    Buffer.from(new Int16Array([8]).buffer),
  ]);
});

test("a 406 for a value an outputFn left to smkit to encode (an array, named as one) tells it to encode the body itself, not to export the outputFn it has", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function inputFn(body) { return body.toString(); }
     export function predictFn(mode) { return { mode }; }
     export function outputFn(prediction) { return prediction.mode === 'wrapped' ? { body: [1, 2] } : [1, 2]; }`,
  );
  for (const mode of ['plain', 'wrapped']) {
    await assert.rejects(invokeText(engine, mode, 'application/x-unknown'), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_NOT_ACCEPTABLE', mode);
      assert.equal(err.status, 406, mode);
      assert.match(err.message, /^Cannot answer in 'application\/x-unknown'\. Accept one of: application\/json, /, mode);
      assert.ok(err.message.endsWith('; outputFn returned an array for smkit to encode: to answer in other types, return the body already encoded from outputFn (a Buffer, a Uint8Array or a string), or { body, contentType }'), err.message);
      assert.doesNotMatch(err.message, /export an outputFn/, mode);
      return true;
    });
  }
  assert.equal((await invokeText(engine, 'plain', 'application/json')).body.toString('utf8'), '[1,2]', 'a type smkit encodes is answered');
});

test('a 406 for what predictFn returned tells it to return what the type holds (or export an outputFn), not to add a pipeline step it skips', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function inputFn(body) { return body.toString(); }
     export function predictFn(mode) {
       if (mode === 'labels') return [{ label: 'a', score: 1 }];
       return { a: { dtype: 'float32', shape: [1], data: Float32Array.of(1) }, b: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } };
     }`,
  );
  await assert.rejects(invokeText(engine, 'x', 'text/csv'), {
    code: 'ERR_NOT_ACCEPTABLE',
    status: 406,
    message: "text/csv holds one array but predictFn returned 2 outputs ('a', 'b'); ask for application/json (Accept header), or return one of them from predictFn (or export an outputFn to encode them)",
  });
  await assert.rejects(invokeText(engine, 'labels', 'application/x-npy'), {
    code: 'ERR_NOT_ACCEPTABLE',
    status: 406,
    message: /; ask for application\/json \(Accept\) or return from predictFn what application\/x-npy can hold \(or export an outputFn to encode it\)$/,
  });
});

test('a 406 for several outputs an outputFn returned, in a type that holds one array, tells it to return one, not to select one in a pipeline', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function inputFn(body) { return body.toString(); }
     export function predictFn() { return 1; }
     export function outputFn() {
       return { a: { dtype: 'float32', shape: [1], data: Float32Array.of(1) }, b: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } };
     }`,
  );
  await assert.rejects(invokeText(engine, 'x', 'text/csv'), {
    code: 'ERR_NOT_ACCEPTABLE',
    status: 406,
    message: "text/csv holds one array but outputFn returned 2 outputs ('a', 'b'); ask for application/json (Accept header), or return one of them from outputFn (or the body already encoded)",
  });
});

test("a tensor from predictFn whose data is another typed array than its dtype's is a 500 ERR_USER_CODE, not other numbers", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function inputFn(body) { return body.toString(); }
     export function predictFn(mode) {
       if (mode === 'int32-as-float32') return { scores: { dtype: 'float32', shape: [2], data: Int32Array.of(1, 2) } };
       if (mode === 'float64-as-int64') return { tensors: { ids: { dtype: 'int64', shape: [1], data: Float64Array.of(7) } } };
       return { scores: { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) }, flags: { dtype: 'bool', shape: [1], data: Buffer.from([1]) } };
     }`,
  );
  for (const accept of ['application/json', 'text/csv']) {
    await assert.rejects(invokeText(engine, 'int32-as-float32', accept), {
      code: 'ERR_USER_CODE',
      status: 500,
      message: 'predictFn returned tensor "scores" with dtype float32 but its data is an Int32Array: put float32 data in a Float32Array, or give the dtype of the data',
    });
  }
  await assert.rejects(invokeText(engine, 'float64-as-int64', 'application/json'), { code: 'ERR_USER_CODE', message: /tensor "ids" with dtype int64 but its data is a Float64Array: put int64 data in a BigInt64Array/ });
  assert.deepEqual(JSON.parse((await invokeText(engine, 'fine', 'application/json')).body.toString('utf8')), { scores: [1, 2], flags: [true] });
});

test("a handler module's load errors name its hooks as it exports them (the Python toolkit's snake_case names too)", async () => {
  const { pickHooks } = await import('./user-module.js');
  assert.throws(() => pickHooks({ input_fn: 3 }, 'inference.mjs'), { code: 'ERR_HANDLER_LOAD', message: 'inference.mjs: input_fn is exported but is not a function' });
  assert.throws(() => pickHooks({ default: { inputFn: 'x' } }, 'inference.mjs'), { code: 'ERR_HANDLER_LOAD', message: 'inference.mjs: inputFn is exported but is not a function' });
  const fn = () => undefined;
  assert.throws(() => pickHooks({ transform_fn: fn, predict_fn: fn, outputFn: fn }, 'inference.mjs'), {
    code: 'ERR_HANDLER_CONFLICT',
    message: 'inference.mjs exports transform_fn together with predict_fn, outputFn: export either transform_fn alone, or any of inputFn/predictFn/predictBatchFn/outputFn',
  });
  // Both spellings as two functions: the snake_case one never ran, and nothing said so.
  assert.throws(() => pickHooks({ inputFn: fn, input_fn: () => 1 }, 'inference.mjs'), {
    code: 'ERR_HANDLER_CONFLICT',
    message: 'inference.mjs exports both inputFn and input_fn, as different functions: only one would run; export one of them',
  });
  assert.equal(pickHooks({ inputFn: fn, input_fn: fn }, 'inference.mjs').inputFn, fn, 'one function under both names (an alias) is fine');
});

test("a handler module whose exports only look like hooks (predictfn, outputFN, a function as module.exports) fails the load naming them, not served with the default hooks, answers and all; a near name (predict) is a warning", async (t) => {
  const { loadHandlerHooks, pickHooks } = await import('./user-module.js');
  const fn = () => undefined;
  assert.throws(() => pickHooks({ predictfn: fn }, 'inference.mjs'), {
    code: 'ERR_HANDLER_LOAD',
    message: 'inference.mjs exports predictfn, which is not a hook\'s name (did you mean "predictFn"?): hook names are case-sensitive, and smkit would never call it; rename it',
  });
  assert.throws(() => pickHooks({ inputFn: fn, default: { Output_Fn: fn } }, 'inference.mjs'), { code: 'ERR_HANDLER_LOAD', message: /exports Output_Fn, which is not a hook's name \(did you mean "output_fn"\?\)/ });
  // A near name is only a warning: it may be a helper; none when the hook it is near is exported.
  assert.deepEqual(pickHooks({ predict: fn }, 'inference.mjs').warnings, ['inference.mjs exports predict, which is not a hook\'s name (did you mean "predictFn"?): smkit does not call it; rename it if it is meant as that hook']);
  assert.deepEqual(pickHooks({ predict: fn, predictFn: fn, model: {} }, 'inference.mjs').warnings, []);
  assert.deepEqual(pickHooks({ VERSION: 1 }, 'inference.mjs').warnings, [
    'inference.mjs exports no hook (preModelFn, modelFn, modelWarmupFn, inputFn, predictFn, predictBatchFn, outputFn, transformFn, bidiFn, or their snake_case names): the default hooks serve the model',
  ]);
  // The module is a pipeline custom step's too: its default export is that step's.
  assert.deepEqual(pickHooks({ default: fn }, 'inference.mjs', { stepModule: true }).warnings, []);

  const codeDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-exports-'));
  t.after(() => rmSync(codeDir, { recursive: true, force: true }));
  const defaultFunction = (file: string) => ({
    code: 'ERR_HANDLER_LOAD',
    message: `${file} exports a function (predictFn) as its default export (export default, or module.exports =) and no hook: smkit never calls a default export; export each hook by its name (export async function predictFn(input, model, context), or module.exports = { predictFn })`,
  });
  writeFileSync(path.join(codeDir, 'cjs.cjs'), 'module.exports = async function predictFn(input) { return "mine"; };\n');
  await assert.rejects(loadHandlerHooks(codeDir, 'cjs'), defaultFunction(path.join(codeDir, 'cjs.cjs')));
  writeFileSync(path.join(codeDir, 'esm.mjs'), 'export default async function predictFn(input) { return "mine"; }\n');
  await assert.rejects(loadHandlerHooks(codeDir, 'esm'), defaultFunction(path.join(codeDir, 'esm.mjs')));
  writeFileSync(path.join(codeDir, 'typo.mjs'), 'export function inputFn(body) { return body; }\nexport function outputfn(p) { return "mine"; }\n');
  await assert.rejects(loadHandlerHooks(codeDir, 'typo'), { code: 'ERR_HANDLER_LOAD', message: /typo\.mjs exports outputfn, which is not a hook's name \(did you mean "outputFn"\?\)/ });
  // A function as module.exports that carries the hooks as its properties is fine.
  writeFileSync(path.join(codeDir, 'props.cjs'), 'module.exports = function helper() {};\nmodule.exports.predictFn = () => "mine";\n');
  assert.equal(typeof (await loadHandlerHooks(codeDir, 'props')).predictFn, 'function');
  // A custom step's module of the pipeline file served as the handler module too.
  writeFileSync(path.join(codeDir, 'step.mjs'), 'export default (data) => data;\n');
  assert.equal((await loadHandlerHooks(codeDir, 'step', ['step.mjs'])).predictFn, undefined);

  // Loaded as serving loads it: the warning reaches the log, the load error fails the load.
  const modelDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-exports-model-'));
  t.after(() => rmSync(modelDir, { recursive: true, force: true }));
  cpSync(path.join(IRIS, 'model.onnx'), path.join(modelDir, 'model.onnx'));
  mkdirSync(path.join(modelDir, 'code'));
  writeFileSync(path.join(modelDir, 'code', 'inference.mjs'), 'export function predict(input) { return "mine"; }\n');
  const warnings: string[] = [];
  const captured = { debug() {}, info() {}, error() {}, warn: (_obj: object | string, msg?: string) => void warnings.push(String(msg)) };
  const engine = await InferenceEngine.load(engineOptions(modelDir, { log: captured }));
  await engine.dispose();
  assert.deepEqual(warnings, [`${path.join(modelDir, 'code', 'inference.mjs')} exports predict, which is not a hook's name (did you mean "predictFn"?): smkit does not call it; rename it if it is meant as that hook`]);
  // Another file name: the module cache would hand the first one back.
  writeFileSync(path.join(modelDir, 'code', 'serve.cjs'), 'module.exports = async function predictFn(input) { return "mine"; };\n');
  await assert.rejects(InferenceEngine.load(engineOptions(modelDir, { program: 'serve' })), defaultFunction(path.join(modelDir, 'code', 'serve.cjs')));
});

test('a handler module that is a folder or a FIFO (code/inference.mjs/) fails the load naming it, as smkit package does: not imported (a FIFO held start-up for good) nor passed over for the next name', async (t) => {
  const { loadHandlerHooks } = await import('./user-module.js');
  const codeDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-handler-find-'));
  t.after(() => rmSync(codeDir, { recursive: true, force: true }));
  mkdirSync(path.join(codeDir, 'inference.mjs'));
  writeFileSync(path.join(codeDir, 'inference.js'), 'export function inputFn() {}');
  await assert.rejects(loadHandlerHooks(codeDir, 'inference'), {
    code: 'ERR_HANDLER_LOAD',
    message: `handler ${path.join(codeDir, 'inference.mjs')} is a directory: make it the handler module's file`,
  });
  if (process.platform !== 'win32') {
    execFileSync('mkfifo', [path.join(codeDir, 'piped.mjs')]);
    await assert.rejects(loadHandlerHooks(codeDir, 'piped'), { code: 'ERR_HANDLER_LOAD', message: /piped\.mjs is neither a file nor a directory \(a FIFO, socket or device\)/ });
  }
  symlinkSync(path.join(codeDir, 'inference.js'), path.join(codeDir, 'linked.mjs'));
  assert.equal(typeof (await loadHandlerHooks(codeDir, 'linked')).inputFn, 'function', 'a link to a file is one');
});

test('a modelFn that returns undefined (a forgotten return) is a 500 naming modelFn, not one asking for the model file it replaces', async (t) => {
  const engine = await engineWithHandler(t, `export async function modelFn(modelDir, context) { context.loadDefaultModel; }`);
  await assert.rejects(invokeCsv(engine, 'no-model'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: /^modelFn in .*inference\.mjs returned undefined: return the model \(context\.loadDefaultModel\(\) loads the model directory's\), or export predictFn to predict without one$/,
  });
});

test("an inputFn that returns undefined (a forgotten return) is the handler's 500 naming it, not a 400 telling the client to fix its JSON", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function modelFn() { return { predict: (tensors) => tensors }; }
     export function inputFn(body) { if (body.toString() === 'rows') return [[1, 2]]; }`,
  );
  await assert.rejects(invokeText(engine, 'anything', 'application/json'), {
    code: 'ERR_USER_CODE',
    status: 500,
    message: /^inputFn in .*inference\.mjs returned undefined: return what the model takes/,
  });
  // JSON numbers decode as float64, which a float answer writes as floats.
  assert.equal((await invokeText(engine, 'rows', 'application/json')).body.toString('utf8'), '[[1.0,2.0]]');
});

test("an inputFn value in none of the JSON forms (null, an object of other keys) is named as what the hook returned, not as a JSON body the client should fix", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function modelFn() { return { predict: (tensors) => tensors }; }
     export function input_fn(body) { return body.toString() === 'null' ? null : { rows: [[1, 2]] }; }`,
  );
  const fix = 'return a nested array, {"instances": [...]}, {"inputs": {...}}, a v2 request, a tensor { dtype, shape, data } or named tensors, or export predictFn to take what input_fn returns';
  for (const [body, what] of [['null', 'is null'], ['object', 'is an object with keys "rows"']]) {
    await assert.rejects(invokeText(engine, body, 'application/json'), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_JSON_PARSE');
      assert.match(err.message, /^what input_fn in .*inference\.mjs returned /);
      assert.ok(err.message.endsWith(`returned ${what}; ${fix}`), err.message);
      return true;
    });
  }
});

test("errors name a hook as the handler module exports it (input_fn, predict_fn, output_fn, model_fn), not by smkit's camelCase name", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function model_fn() { return null; }
     export function input_fn(body) { const mode = body.toString(); if (mode === 'throw-input') throw new Error('bad row'); if (mode === 'undefined') return undefined; return mode; }
     export function predict_fn(mode) {
       if (mode === 'throw-predict') throw new Error('no GPU');
       return { a: { dtype: 'float32', shape: [1], data: Float32Array.of(1) }, b: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } };
     }`,
  );
  await assert.rejects(invokeText(engine, 'throw-input', 'application/json'), { code: 'ERR_USER_CODE', message: /^input_fn in .*inference\.mjs failed: bad row$/ });
  await assert.rejects(invokeText(engine, 'throw-predict', 'application/json'), { code: 'ERR_USER_CODE', message: /^predict_fn in .*inference\.mjs failed: no GPU$/ });
  await assert.rejects(invokeText(engine, 'multi', 'text/csv'), { code: 'ERR_NOT_ACCEPTABLE', message: /^text\/csv holds one array but predict_fn returned 2 outputs .*, or return one of them from predict_fn \(or export an outputFn to encode them\)$/ });
  const noPredict = await engineWithHandler(t, `export function model_fn() { return null; }\nexport function input_fn() { return undefined; }\nexport const output_fn = (p) => String(p);`);
  await assert.rejects(invokeText(noPredict, 'x'), { code: 'ERR_USER_CODE', message: /^input_fn in .*inference\.mjs returned undefined: .* to take what input_fn returns$/ });
  const batched = await engineWithHandler(t, `export function input_fn(body) { return body.toString(); }\nexport function predict_batch_fn() { return []; }`);
  await assert.rejects(invokeText(batched, 'x', 'application/json'), { code: 'ERR_USER_CODE', message: /^predict_batch_fn must return an array with one prediction per input \(1\), got 0 items$/ });
  const bidi = await engineWithHandler(t, `export function bidi_fn() { return undefined; }`);
  const replies = bidi.openBidi({ requestId: 'b', path: '/invocations-bidirectional-stream', query: {}, headers: {} }, (async function* () {})(), log);
  await assert.rejects((async () => { for await (const _ of replies) void _; })(), { code: 'ERR_USER_CODE', message: /^bidi_fn in .*inference\.mjs failed: bidi_fn must return \(or be\) an async iterable/ });
  const broken = await engineWithHandler(t, `export function transform_fn() { throw new Error('disk full'); }`);
  await assert.rejects(invokeText(broken, 'x'), { code: 'ERR_USER_CODE', message: /^transform_fn in .*inference\.mjs failed: disk full$/ });
  await assert.rejects(engineWithHandler(t, `export function model_fn() { throw new Error('no weights'); }`), { code: 'ERR_MODEL_LOAD', message: /^model_fn in .*inference\.mjs failed: no weights$/ });
});

test("context.invoke from bidiFn with a contentType or accept that is not a string, or a body that is not bytes or a string, rejects with a 500 ERR_USER_CODE naming bidiFn and the option, not a TypeError from smkit's insides (req.contentType.trim is not a function)", async (t) => {
  const engine = await engineWithHandler(
    t,
    `export async function* bidiFn(messages, model, context) {
       const calls = { contentType: [7, new String('application/json'), ['application/json']], accept: [7, {}], body: [{}, 7, null] };
       for (const [name, values] of Object.entries(calls)) {
         for (const value of values) {
           try {
             const answer = name === 'body' ? await context.invoke(value) : await context.invoke('[1,2]', { [name]: value });
             yield 'answered ' + answer.contentType;
           } catch (err) {
             yield { name: err.constructor.name, code: err.code ?? null, status: err.status ?? null, message: err.message };
           }
         }
       }
       for (const options of [{ contentType: null, accept: null }, { contentType: 'application/json', accept: undefined }]) yield JSON.parse((await context.invoke(new TextEncoder().encode('[1,2]'), options)).body.toString());
       // Bytes in any form, as a reply or a streamed chunk may be: an ArrayBuffer, a DataView.
       const bytes = new TextEncoder().encode('_[1,2,3]_');
       yield JSON.parse((await context.invoke(bytes.slice(1, 8).buffer)).body.toString());
       yield JSON.parse((await context.invoke(new DataView(bytes.buffer, 1, 7))).body.toString());
     }
     export const inputFn = (body) => JSON.parse(body.toString('utf8'));
     export const predictFn = (input) => ({ sum: input.reduce((a, b) => a + b, 0) });
     export const outputFn = (prediction) => ({ body: JSON.stringify(prediction), contentType: 'application/json' });`,
  );
  const replies: unknown[] = [];
  for await (const frame of engine.openBidi({ requestId: 'b', path: '/invocations-bidirectional-stream', query: {}, headers: {} }, (async function* () {})(), log)) {
    replies.push(JSON.parse(Buffer.from(frame.data).toString('utf8')));
  }
  const refused = (what: string, kind: string, must: string) => ({ name: 'ToolkitError', code: 'ERR_USER_CODE', status: 500, message: `bidiFn in FILE called context.invoke with ${what} ${kind}: ${must}` });
  const file = (replies[0] as { message?: string }).message?.match(/^bidiFn in (.*?) called/)?.[1] ?? '(no file)';
  const withFile = (r: ReturnType<typeof refused>) => ({ ...r, message: r.message.replace('FILE', file) });
  const contentType = "contentType must be a string (a media type such as 'application/json'), or left out";
  const accept = "accept must be a string (an Accept value such as 'application/json'), or left out";
  const body = 'give bytes (a Buffer, a typed array, an ArrayBuffer) or a string';
  assert.match(file, /inference\.mjs$/);
  assert.deepEqual(replies, [
    withFile(refused('contentType set to', 'a number', contentType)),
    withFile(refused('contentType set to', 'an object', contentType)),
    withFile(refused('contentType set to', 'an array', contentType)),
    withFile(refused('accept set to', 'a number', accept)),
    withFile(refused('accept set to', 'an object', accept)),
    withFile(refused('a body that is', 'an object', body)),
    withFile(refused('a body that is', 'a number', body)),
    withFile(refused('a body that is', 'null', body)),
    { sum: 3 },
    { sum: 3 },
    { sum: 6 },
    { sum: 6 },
  ]);
});

test("a load hook that meets code not loadable for want of file descriptors (context.loadDefaultModel()'s runtime: 503 ERR_SERVER_BUSY) fails the load with that error, for a later load to retry; another smkit error is still ERR_MODEL_LOAD naming the hook", async (t) => {
  const catalogue = JSON.stringify(new URL('../errors/catalogue.js', import.meta.url).href);
  const handler = (code: string) => `import { ToolkitError } from ${catalogue};
export async function modelFn() { throw new ToolkitError('${code}', 'ONNX Runtime (onnxruntime-node) cannot be loaded now'); }
export function predictFn() { return 1; }`;
  await assert.rejects(engineWithHandler(t, handler('ERR_SERVER_BUSY')), (err: unknown) => {
    assert.ok(err instanceof ToolkitError);
    assert.equal(err.code, 'ERR_SERVER_BUSY');
    assert.equal(err.status, 503);
    assert.equal(err.message, 'ONNX Runtime (onnxruntime-node) cannot be loaded now');
    return true;
  });
  await assert.rejects(engineWithHandler(t, handler('ERR_MODEL_NOT_FOUND')), { code: 'ERR_MODEL_LOAD', message: /^modelFn in .*inference\.mjs failed: ONNX Runtime/ });
});

test('what predictFn returns answers the request as the built-in path does: v2 with its id, outputs and classifications, TF Serving in predictions, NPY bytes as |S', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function predictFn(input, model, context) {
       const out = { y: { dtype: 'float32', shape: [1, 3], data: Float32Array.of(0.25, 0.5, 0.125) }, n: { dtype: 'int32', shape: [1], data: Int32Array.of(7) } };
       // Bytes as they came (one character per byte) go back as the client sent them.
       return context.contentType === 'application/x-npy' ? input.tensors[''] : out;
     }`,
  );
  const invoke = async (body: Buffer | string, contentType: string, accept = 'application/json') =>
    (await engine.invoke({ requestId: 'r', body: Buffer.from(body), contentType, accept, headers: {} }, log)).body;
  const v2 = { id: 'req-7', inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] };
  assert.deepEqual(JSON.parse((await invoke(JSON.stringify({ ...v2, outputs: [{ name: 'y' }] }), 'application/json')).toString()), {
    model_name: 'model',
    id: 'req-7',
    outputs: [{ name: 'y', shape: [1, 3], datatype: 'FP32', data: [0.25, 0.5, 0.125] }],
  });
  // One output asked for comes back alone as CSV too; a classification as its top-k strings.
  assert.equal((await invoke(JSON.stringify({ ...v2, outputs: [{ name: 'n' }] }), 'application/json', 'text/csv')).toString(), '7\n');
  assert.equal((await invoke(JSON.stringify({ ...v2, outputs: [{ name: 'y', parameters: { classification: 1 } }] }), 'application/json', 'text/csv')).toString(), '0.500000:1\n');
  assert.equal((await invoke('{"instances": [[1]]}', 'application/json')).toString(), '{"predictions":[{"y":[0.25,0.5,0.125],"n":7}]}');
  const bytes = Buffer.concat([Buffer.from("\x93NUMPY\x01\x00v\x00{'descr': '|S2', 'fortran_order': False, 'shape': (2,), }" + ' '.repeat(60) + '\n', 'latin1'), Buffer.from([0xff, 0x01, 0x61, 0x62])]);
  const npy = await invoke(bytes, 'application/x-npy', 'application/x-npy');
  assert.match(npy.toString('latin1'), /'descr': '\|S2'/);
  assert.deepEqual([...npy.subarray(-4)], [0xff, 0x01, 0x61, 0x62]);
});

test('a lone tensor predictFn returns answers a v2 request as its one output (output0), and a plain JSON request bare', async (t) => {
  const engine = await engineWithHandler(t, `export function predictFn() { return { dtype: 'int32', shape: [2], data: Int32Array.of(3, 4) }; }`);
  const invoke = async (body: string) => (await engine.invoke({ requestId: 'r', body: Buffer.from(body), contentType: 'application/json', accept: 'application/json', headers: {} }, log)).body.toString();
  assert.deepEqual(JSON.parse(await invoke('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}')), {
    model_name: 'model',
    outputs: [{ name: 'output0', shape: [2], datatype: 'INT32', data: [3, 4] }],
  });
  assert.equal(await invoke('[1]'), '[3,4]');
});

test('outputs of several batch sizes from predictFn answering a TF Serving {"instances"} request: the error says to return one batch size from predictFn, not to select outputs in a pipeline it skips', async (t) => {
  const engine = await engineWithHandler(
    t,
    `export function predictFn() { return { a: { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, b: { dtype: 'float32', shape: [], data: Float32Array.of(7) } }; }`,
  );
  const invoke = (accept: string) => engine.invoke({ requestId: 'r', body: Buffer.from('{"instances": [[1, 2]]}'), contentType: 'application/json', accept, headers: {} }, log);
  await assert.rejects(invoke('application/json'), (err: ToolkitError) => {
    assert.equal(err.code, 'ERR_ENCODE');
    assert.match(err.message, /^predictFn in .*inference\.mjs returned what smkit cannot answer as application\/json: Cannot answer one object per row: the 2 outputs predictFn returned \('a' \[2, 2\], 'b' \[\]\) do not share their first \(batch\) dimension; return outputs of one batch size \(or export an outputFn to encode them\), or send \{"inputs": \.\.\.\} for the columnar form$/);
    assert.doesNotMatch(err.message, /pipeline/);
    return true;
  });
  await assert.rejects(invoke('application/jsonlines'), (err: ToolkitError) => {
    assert.equal(err.code, 'ERR_NOT_ACCEPTABLE');
    assert.match(err.message, /do not share their first \(batch\) dimension; ask for application\/json \(Accept\) or return from predictFn what application\/jsonlines can hold/);
    assert.doesNotMatch(err.message, /pipeline|"inputs"/);
    return true;
  });
});
