import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tensorSteps } from './tensor-ops.js';
import { setTensor } from '../../codecs/tensor-map.js';
import { isToolkitError } from '../../errors/catalogue.js';
import { tensor, toNested, type TensorMap } from '../../core/tensor.js';
import type { StepBuildEnv, StepData, StepStage } from '../step.js';
import type { InvocationContext } from '../../core/context.js';
import { createDefaultRuntimes } from '../../runtimes/defaults.js';

const noopLog = { debug() {}, info() {}, warn() {}, error() {} };
const modelDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-steps-'));
describe('tensor ops', () => {
  after(() => rmSync(modelDir, { recursive: true, force: true }));
  const env = (name: string, stage: StepStage = 'postprocess'): StepBuildEnv => ({
    modelDir,
    codeDir: path.join(modelDir, 'code'),
    stage,
    name,
    runtimes: createDefaultRuntimes(),
    runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: noopLog },
  });
  const ctx = { log: noopLog, requestId: 't' } as unknown as InvocationContext;

  async function run(kind: string, options: Record<string, unknown>, tensors: TensorMap, stage?: StepStage): Promise<StepData> {
    const step = await tensorSteps[kind]!(options, env(kind, stage));
    return step.run({ tensors }, ctx);
  }

  test('softmax normalises each row and keeps the shape', async () => {
    const out = await run('softmax', {}, { x: tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 0, 0, 0])) });
    const rows = toNested(out.tensors['x']!) as number[][];
    assert.deepEqual(out.tensors['x']!.shape, [2, 3]);
    for (const row of rows) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    assert.ok(rows[0]![2]! > rows[0]![1]! && rows[0]![1]! > rows[0]![0]!);
    assert.ok(Math.abs(rows[1]![0]! - 1 / 3) < 1e-6);
  });

  test('normalize applies per-channel mean and std on the last axis', async () => {
    const out = await run('normalize', { mean: [1, 10], std: [2, 5] }, { x: tensor('float64', [2, 2], Float64Array.from([3, 20, 1, 10])) });
    assert.deepEqual(toNested(out.tensors['x']!), [[1, 2], [0, 0]]);
  });

  test('scale multiplies then adds, only on the named tensor', async () => {
    const out = await run('scale', { factor: 2, offset: 1, tensor: 'a' }, { a: tensor('int32', [2], Int32Array.from([1, 2])), b: tensor('int32', [1], Int32Array.from([5])) });
    assert.deepEqual(toNested(out.tensors['a']!), [3, 5]);
    assert.deepEqual(toNested(out.tensors['b']!), [5]);
  });

  test('a step given tensor names none of its tensors has fails naming them and what there is (400 for the request, 500 after a model), not left undone; a lone unnamed tensor is the named one', async () => {
    const unnamed = (): TensorMap => ({ '': tensor('float32', [1, 2], Float32Array.from([1, 2])) });
    // A CSV request's lone tensor is unnamed (its client cannot name it): normalize with tensor: input
    // was skipped for it, and the model got raw values. It is the named one, as it is the model's input.
    for (const options of [{ tensor: 'input' }, { tensors: ['input', 'mask'] }]) {
      const csv = await run('normalize', { mean: 1, std: 2, ...options }, unnamed(), 'preprocess');
      assert.deepEqual(toNested(csv.tensors['']!), [[0, 0.5]]);
    }
    const top = await run('topk', { k: 1, tensor: 'input' }, unnamed(), 'preprocess');
    assert.deepEqual(top.value, [[{ label: 1, score: 2 }]]);
    // A tensor the client named otherwise is not taken for it: the request is told what it lacks.
    await assert.rejects(async () => run('normalize', { mean: 1, std: 2, tensor: 'input' }, { x: tensor('float32', [1, 2], Float32Array.from([1, 2])) }, 'preprocess'), {
      code: 'ERR_INPUT_MISMATCH',
      status: 400,
      message: 'normalize: no tensor named "input"; the request has "x" [1, 2]',
    });
    // Among several tensors, the unnamed one is not.
    await assert.rejects(async () => run('scale', { factor: 2, tensor: 'input' }, { '': tensor('float32', [1], Float32Array.of(1)), y: tensor('float32', [1], Float32Array.of(1)) }, 'preprocess'), {
      code: 'ERR_INPUT_MISMATCH',
      message: 'scale: no tensor named "input"; the request has (unnamed) [1], "y" [1]',
    });
    // A misspelt output name: softmax answered the logits as they were.
    await assert.rejects(async () => run('softmax', { tensors: ['logit', 'prob'] }, { logits: tensor('float32', [1, 2], Float32Array.from([1, 2])) }), {
      code: 'ERR_STEP_FAILED',
      status: 500,
      message: 'softmax: no tensor named "logit", "prob"; the tensors here are "logits" [1, 2]',
    });
    // One of them there is enough: the others may be inputs a request leaves out.
    const out = await run('scale', { factor: 2, tensors: ['a', 'gone'] }, { a: tensor('float32', [1], Float32Array.of(3)) }, 'preprocess');
    assert.deepEqual(toNested(out.tensors['a']!), [6]);
  });

  test('reshape resolves -1 and refuses sizes that do not fit', async () => {
    const out = await run('reshape', { shape: [-1, 2] }, { x: tensor('float32', [4], new Float32Array(4)) });
    assert.deepEqual(out.tensors['x']!.shape, [2, 2]);
    await assert.rejects(run('reshape', { shape: [3, -1] }, { x: tensor('float32', [4], new Float32Array(4)) }), /cannot be reshaped/);
  });

  test('argmax gives indices, or labels when given', async () => {
    const x = tensor('float32', [2, 3], Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.2, 0.3]));
    assert.deepEqual(toNested((await run('argmax', {}, { x })).tensors['x']!), [1, 0]);
    assert.deepEqual(toNested((await run('argmax', { labels: ['a', 'b', 'c'] }, { x })).tensors['x']!), ['b', 'a']);
  });

  test('topk returns labelled scores per row, labels read from a file in the model dir', async () => {
    writeFileSync(path.join(modelDir, 'labels.txt'), 'cat\ndog\nbird\n');
    const x = tensor('float32', [1, 3], Float32Array.from([0.2, 0.5, 0.3]));
    const out = await run('topk', { k: 2, labels: 'labels.txt' }, { probs: x });
    assert.deepEqual(
      (out.value as { label: string; score: number }[][]).map((r) => r.map((e) => [e.label, Math.round(e.score * 10) / 10])),
      [[['dog', 0.5], ['bird', 0.3]]],
    );
    await assert.rejects(async () => run('topk', { k: 1, labels: '../outside.txt' }, { probs: x }), /must be inside the model directory/);
  });

  test('topk and argmax rank NaN below every number, and keep ties of infinities in index order', async () => {
    const x = tensor('float32', [2, 5], Float32Array.from([0.3, NaN, 0.9, 0.5, 0.7, -Infinity, -Infinity, 0.2, NaN, -Infinity]));
    const top = (await run('topk', { k: 5 }, { x })).value as { label: number; score: number }[][];
    assert.deepEqual(top.map((row) => row.map((e) => e.label)), [[2, 4, 3, 0, 1], [2, 0, 1, 4, 3]]);
    assert.deepEqual(toNested((await run('argmax', {}, { x })).tensors['x']!), [2, 2]);
    assert.deepEqual(toNested((await run('argmax', {}, { x: tensor('float32', [3], Float32Array.from([NaN, 1, 3])) })).tensors['x']!), 2);
    assert.deepEqual(toNested((await run('argmax', {}, { x: tensor('float32', [2], Float32Array.from([NaN, NaN])) })).tensors['x']!), 0);
  });

  test("a request's tensor that does not fit a preprocess step (strings, too few channels, too low a rank) is a 400 naming the step; a model's output that does not fit a postprocess step is a 500", async () => {
    const misfits = [
      ['scale', { factor: 2 }, { x: tensor('string', [1], ['a']) }, /^scale: tensor "x" holds strings; cast it first$/],
      ['normalize', { mean: [1, 2, 3] }, { x: tensor('float32', [2, 2], new Float32Array(4)) }, /^normalize: mean\/std have 3 values but axis -1 of "x" has 2$/],
      ['softmax', { axis: 2 }, { x: tensor('float32', [2, 3], new Float32Array(6)) }, /^softmax: axis 2 is out of range for a rank-2 tensor$/],
      ['reshape', { shape: [4] }, { x: tensor('float32', [3], new Float32Array(3)) }, /^reshape: tensor "x" with 3 values cannot be reshaped to \[4\]$/],
    ] as const;
    for (const [kind, options, tensors, message] of misfits) {
      await assert.rejects(async () => run(kind, options, tensors, 'preprocess'), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INPUT_MISMATCH' && e.status === 400 && message.test(e.message));
      await assert.rejects(async () => run(kind, options, tensors, 'postprocess'), (e: unknown) => isToolkitError(e) && e.code === 'ERR_STEP_FAILED' && e.status === 500 && message.test(e.message));
    }
  });

  test('a normalize whose mean and std have different counts of values (neither one) is refused when built: no tensor fits both', async () => {
    await assert.rejects(async () => run('normalize', { mean: [1, 2, 3], std: [1, 2] }, {}), (e: unknown) => isToolkitError(e) && e.code === 'ERR_PIPELINE_INVALID' && e.message === 'normalize: "mean" has 3 values and "std" 2: give each one value or one per channel');
    const out = await run('normalize', { mean: [1, 2, 3], std: [2] }, { x: tensor('float32', [1, 3], Float32Array.of(3, 4, 5)) });
    assert.deepEqual([...(out.tensors['x']!.data as Float32Array)], [1, 1, 1]);
  });

  test('rows of no scores: topk answers an empty list for each, argmax refuses an empty axis instead of answering index 0', async () => {
    const empty = tensor('float32', [2, 0], new Float32Array(0));
    assert.deepEqual((await run('topk', {}, { x: empty })).value, [[], []]);
    await assert.rejects(async () => run('argmax', { labels: ['a'] }, { x: empty }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_STEP_FAILED' && /^argmax: axis -1 of "x" \(shape \[2, 0\]\) is empty/.test(e.message));
    await assert.rejects(async () => run('argmax', {}, { x: empty }, 'preprocess'), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INPUT_MISMATCH');
    assert.deepEqual((await run('argmax', {}, { x: tensor('float32', [0, 3], new Float32Array(0)) })).tensors['x']!.shape, [0]);
  });

  test('cast and select', async () => {
    const out = await run('cast', { dtype: 'int64' }, { x: tensor('float32', [2], Float32Array.from([1.7, -2.2])) });
    assert.deepEqual([...(out.tensors['x']!.data as BigInt64Array)], [1n, -2n]);
    const sel = await run('select', { output: 'b', as: 'y' }, { a: tensor('int32', [1], Int32Array.of(1)), b: tensor('int32', [1], Int32Array.of(2)) });
    assert.deepEqual(Object.keys(sel.tensors), ['y']);
    await assert.rejects(async () => run('select', { output: 'zzz' }, { a: tensor('int32', [1], Int32Array.of(1)) }), /no tensor "zzz"/);
  });

  test('a tensor the request names __proto__ stays a tensor of that name through each step, and select takes only own tensors', async () => {
    const request = (): TensorMap => {
      const map: TensorMap = {};
      setTensor(map, '__proto__', tensor('float32', [2], Float32Array.from([1, 2])));
      setTensor(map, 'b', tensor('float32', [1], Float32Array.of(3)));
      return map;
    };
    for (const [kind, options] of [['cast', { dtype: 'float64' }], ['scale', { factor: 2 }], ['softmax', {}], ['select', { outputs: ['__proto__', 'b'] }]] as const) {
      const out = await run(kind, options, request());
      assert.deepEqual(Object.keys(out.tensors), ['__proto__', 'b'], kind);
      assert.equal(Object.getPrototypeOf(out.tensors), Object.prototype, kind);
    }
    await assert.rejects(async () => run('select', { output: 'toString' }, request()), /no tensor "toString"/);
  });

  test('bad options are refused at build time', async () => {
    await assert.rejects(async () => tensorSteps['cast']!({ dtype: 'complex' }, env('cast')), /"dtype" must be one of/);
    await assert.rejects(async () => tensorSteps['normalize']!({ std: [0] }, env('normalize')), /must not be 0/);
  });

  test('an axis that is not a whole number is refused at build time: 0.5 passed the range check and softmax answered all zeros', async () => {
    for (const kind of ['softmax', 'normalize', 'argmax']) {
      await assert.rejects(async () => tensorSteps[kind]!({ axis: 0.5 }, env(kind)), { code: 'ERR_PIPELINE_INVALID', message: `${kind}: "axis" must be a whole number (-1 for the last axis), not 0.5` }, kind);
      await assert.rejects(async () => tensorSteps[kind]!({ axis: -1.5 }, env(kind)), { code: 'ERR_PIPELINE_INVALID' }, kind);
    }
    const out = await run('softmax', { axis: 0 }, { x: tensor('float32', [2, 1], Float32Array.from([0, 0])) });
    assert.deepEqual(Array.from(out.tensors['x']!.data as Float32Array), [0.5, 0.5]);
  });
});
