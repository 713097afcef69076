import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onnxRuntimeFactory } from '../runtimes/onnx/factory.js';
import type { ModelRuntime } from '../runtimes/runtime.js';
import { createLogger } from '../logging/logger.js';
import type { TensorMap } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { withBatching } from './batched-runtime.js';
import { batchedRuntime } from '../pipeline/steps/predict.js';
import { batchKey, concatInputs, splitOutputs } from './tensor-batch.js';
import { setTensor } from '../codecs/tensor-map.js';
import { transferable } from '../server/thread-protocol.js';
import { buildGraphModel, ELEM, graphNode, valueInfo } from '../../test/helpers/onnx-graph.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const log = createLogger('silent');

function rows(values: number[][], dtype: 'float32' | 'float64' = 'float32'): TensorMap {
  const data = dtype === 'float32' ? Float32Array.from(values.flat()) : Float64Array.from(values.flat());
  return { '': { dtype, shape: [values.length, values[0]!.length], data } };
}

test('batch keys: same names, dtypes and trailing shape batch; scalars and ragged row counts do not', () => {
  assert.equal(batchKey(rows([[1, 2]])), batchKey(rows([[3, 4], [5, 6]])));
  assert.notEqual(batchKey(rows([[1, 2]])), batchKey(rows([[1, 2, 3]])));
  assert.notEqual(batchKey(rows([[1, 2]])), batchKey(rows([[1, 2]], 'float64')));
  assert.equal(batchKey({ x: { dtype: 'float32', shape: [], data: new Float32Array(1) } }), undefined);
  assert.equal(batchKey({ a: { dtype: 'float32', shape: [1, 2], data: new Float32Array(2) }, b: { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) } }), undefined);
  assert.equal(batchKey({}), undefined);
  // Data in another array than its dtype's would be converted by the concatenation: such a request runs alone, as without batching.
  assert.equal(batchKey({ x: { dtype: 'float32', shape: [1, 2], data: Uint8Array.of(1, 2) as unknown as Float32Array } }), undefined);
  assert.notEqual(batchKey({ x: { dtype: 'uint8', shape: [1, 2], data: Buffer.from([1, 2]) } }), undefined);
});

test('concat then split gives each request its own rows back (numbers and strings)', () => {
  const joined = concatInputs([rows([[1, 2]]), rows([[3, 4], [5, 6]])]);
  assert.deepEqual(joined['']!.shape, [3, 2]);
  assert.deepEqual([...(joined['']!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  const [a, b] = splitOutputs({ y: joined['']!, s: { dtype: 'string', shape: [3], data: ['p', 'q', 'r'] } }, [1, 2]);
  assert.deepEqual([...(a!['y']!.data as Float32Array)], [1, 2]);
  assert.deepEqual(b!['y']!.shape, [2, 2]);
  assert.deepEqual(b!['s']!.data, ['q', 'r']);
  assert.throws(() => splitOutputs({ total: { dtype: 'float32', shape: [1], data: new Float32Array(1) } }, [1, 2]), /not the batch's 3 rows first: the model does not answer one row per input row, so its requests are not batched together from now on/);
});

test('a tensor a request names __proto__ is joined and split as one of that name, not taken as the map\'s prototype', () => {
  const request = (): TensorMap => {
    const map: TensorMap = {};
    setTensor(map, '__proto__', { dtype: 'float32', shape: [1, 1], data: Float32Array.of(1) });
    setTensor(map, 'x', { dtype: 'float32', shape: [1, 1], data: Float32Array.of(2) });
    return map;
  };
  const joined = concatInputs([request(), request()]);
  assert.deepEqual(Object.keys(joined), ['__proto__', 'x']);
  assert.equal(Object.getPrototypeOf(joined), Object.prototype);
  const parts = splitOutputs(joined, [1, 1]);
  for (const part of parts) {
    assert.deepEqual(Object.keys(part), ['__proto__', 'x']);
    assert.equal(Object.getPrototypeOf(part), Object.prototype);
  }
});

/** Counts the runs that reach the model. */
function counted(inner: ModelRuntime): { runtime: ModelRuntime; runs: number[] } {
  const runs: number[] = [];
  const runtime: ModelRuntime = {
    name: inner.name,
    backend: inner.backend,
    inputs: inner.inputs,
    outputs: inner.outputs,
    predict: (inputs) => {
      runs.push(Object.values(inputs)[0]!.shape[0]!);
      return inner.predict(inputs);
    },
    dispose: () => inner.dispose(),
  };
  return { runtime, runs };
}

test('concurrent predicts on the iris ONNX model are batched and give the same answers as one by one', async () => {
  const model = await onnxRuntimeFactory.load(path.join(repo, 'models/iris-onnx/model.onnx'), { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log });
  try {
    const requests = Array.from({ length: 24 }, (_, i) => rows(Array.from({ length: 1 + (i % 3) }, (_, r) => [5 + r, 3, 1 + (i % 5), 0.2 + r / 10])));
    const expected = await Promise.all(requests.map((r) => model.predict(r)));
    const { runtime, runs } = counted(model);
    const sizes: number[] = [];
    const batched = withBatching(runtime, { maxSize: 16, maxDelayMs: 0 }, (r) => sizes.push(r.size));
    const got = await Promise.all(requests.map((r) => batched.predict(r)));
    got.forEach((g, i) => {
      assert.deepEqual(g['probabilities']!.shape, expected[i]!['probabilities']!.shape);
      const want = [...(expected[i]!['probabilities']!.data as Float32Array)];
      [...(g['probabilities']!.data as Float32Array)].forEach((v, j) => assert.ok(Math.abs(v - want[j]!) < 1e-6, `request ${i} value ${j}`));
    });
    // All 24 arrived in one turn of the event loop: a full batch, then the rest.
    assert.deepEqual(sizes, [16, 8]);
    assert.equal(runs.length, 2);
    // One request with the wrong width fails alone, the others in its batch still answer.
    const first = batched.predict(rows([[1, 2, 3, 4]]));
    const mixed = [rows([[5, 3, 1, 0.2]]), rows([[1, 2, 3, 4]]), rows([[6, 3, 5, 2]])];
    const bad = batched.predict(rows([[1, 2, 3, 4, 5]]));
    const outcomes = await Promise.allSettled([first, ...mixed.map((r) => batched.predict(r)), bad]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.match(String((outcomes[4] as PromiseRejectedResult).reason), /shape|input/);
  } finally {
    await model.dispose();
  }
});

test('models without a dynamic first dimension are not wrapped', async () => {
  const fixed: ModelRuntime = {
    name: 'fake',
    backend: 'cpu',
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1] }],
    predict: async () => ({}),
    dispose: async () => undefined,
  };
  assert.equal(withBatching(fixed, { maxSize: 8, maxDelayMs: 0 }), fixed);
});

test('batching asked for a model whose shapes do not allow it is said once at the load (warn: step, why), not left for the user to guess; a model that batches logs nothing', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const capture = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: typeof obj === 'string' ? obj : (msg ?? '') });
  const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  const model = (inputs: ModelRuntime['inputs'], outputs: ModelRuntime['outputs']): ModelRuntime => ({ name: 'fake', backend: 'cpu', inputs, outputs, predict: async (x) => x, dispose: async () => undefined });
  const env = { batching: { maxSize: 8, maxDelayMs: 0 }, runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: logger } };
  const cases: [ModelRuntime, RegExp][] = [
    [model([{ name: 'image', dtype: 'float32', shape: [1, 3, 224, 224] }], [{ name: 'y', dtype: 'float32', shape: [-1, 10] }]), /input "image" has a fixed first dimension \(\[1, 3, 224, 224\]\)/],
    [model([{ name: 'x', dtype: 'float32', shape: ['batch', 4] }], [{ name: 'total', dtype: 'float32', shape: [4] }]), /output "total" has a fixed first dimension \(\[4\]\)/],
    [model([{ name: 'x', dtype: 'float32', shape: ['batch', 4] }], [{ name: 'gram', dtype: 'float32', shape: ['batch', 'batch'] }]), /output "gram" \(\[batch, batch\]\) has the batch dimension beyond its first/],
    [model([{ name: 'x', dtype: 'float32', shape: [] }], [{ name: 'y', dtype: 'float32', shape: [] }]), /input "x" has no declared shape/],
  ];
  for (const [runtime, why] of cases) {
    lines.length = 0;
    assert.equal(await batchedRuntime(runtime, env, 'predict:fake'), runtime);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]!.level, 'warn');
    assert.deepEqual(lines[0]!.obj, { step: 'predict:fake', batchMaxSize: 8 });
    assert.match(lines[0]!.msg, /^predict:fake: requests are not batched together \(batching maxSize 8\): /);
    assert.match(lines[0]!.msg, why);
  }
  lines.length = 0;
  const batchable = model([{ name: 'x', dtype: 'float32', shape: ['batch', 4] }], [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }]);
  assert.notEqual(await batchedRuntime(batchable, env, 'predict:fake'), batchable);
  // Batching off: nothing asked, nothing said.
  assert.equal(await batchedRuntime(cases[0]![0], { ...env, batching: { maxSize: 1, maxDelayMs: 0 } }, 'predict:fake'), cases[0]![0]);
  assert.deepEqual(lines, []);
});

test('a model with an output whose first dimension is fixed (a reduction over the rows) is not batched: each request gets its own answer', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-reduce-'));
  // y = the largest value of each column over the rows ([batch, 2] -> [2]); z keeps the rows. Two
  // one-row requests run together would give an output of 2 rows, which split back as if it kept them.
  const file = path.join(dir, 'model.onnx');
  writeFileSync(
    file,
    buildGraphModel(
      [graphNode('ReduceMax', ['x'], ['y'], { axes: [0], keepdims: 0 }), graphNode('Identity', ['x'], ['z'])],
      [valueInfo('x', ELEM.float32, ['batch', 2])],
      [valueInfo('y', ELEM.float32, null), valueInfo('z', ELEM.float32, null)],
    ),
  );
  const model = await onnxRuntimeFactory.load(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log });
  try {
    const requests = [rows([[1, 8]]), rows([[5, 2]])];
    const expected = await Promise.all(requests.map((r) => model.predict(r)));
    const batched = withBatching(model, { maxSize: 8, maxDelayMs: 0 });
    const got = await Promise.all(requests.map((r) => batched.predict(r)));
    got.forEach((g, i) => {
      for (const name of ['y', 'z']) {
        assert.deepEqual(g[name]!.shape, expected[i]![name]!.shape, `request ${i} output ${name}`);
        assert.deepEqual([...(g[name]!.data as Float32Array)], [...(expected[i]![name]!.data as Float32Array)], `request ${i} output ${name}`);
      }
    });
    assert.equal(batched, model);
  } finally {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model with an output indexed by the batch axis beyond its first dimension (x times its transpose, [batch, batch]) is not batched: no request gets values of another', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-gram-'));
  // y = x · xᵀ, the dot products of every pair of rows: run together, two requests would each get a
  // row holding the dot product of its row with the other request's.
  const file = path.join(dir, 'model.onnx');
  writeFileSync(
    file,
    buildGraphModel(
      [graphNode('Transpose', ['x'], ['xt'], { perm: [1, 0] }), graphNode('MatMul', ['x', 'xt'], ['y'])],
      [valueInfo('x', ELEM.float32, ['batch', 2])],
      [valueInfo('y', ELEM.float32, null)],
    ),
  );
  const model = await onnxRuntimeFactory.load(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log });
  try {
    const requests = [rows([[1, 2]]), rows([[3, 4]])];
    const expected = await Promise.all(requests.map((r) => model.predict(r)));
    const batched = withBatching(model, { maxSize: 8, maxDelayMs: 0 });
    const got = await Promise.all(requests.map((r) => batched.predict(r)));
    got.forEach((g, i) => {
      assert.deepEqual(g['y']!.shape, expected[i]!['y']!.shape, `request ${i}`);
      assert.deepEqual([...(g['y']!.data as Float32Array)], [...(expected[i]!['y']!.data as Float32Array)], `request ${i}`);
    });
    assert.equal(batched, model);
  } finally {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('requests whose output has no elements (a [rows, 0] output) each get a buffer of their own, so moving one answer to another thread leaves the others readable', () => {
  const [a, b] = splitOutputs({ y: { dtype: 'float32', shape: [3, 0], data: new Float32Array(0) } }, [1, 2]);
  assert.deepEqual(a!['y']!.shape, [1, 0]);
  assert.deepEqual(b!['y']!.shape, [2, 0]);
  // What the inference thread does with an answer that owns its whole buffer: it moves the buffer.
  const first = a!['y']!.data as Float32Array;
  assert.deepEqual(transferable(new Uint8Array(first.buffer, first.byteOffset, first.byteLength)).length, 1);
  structuredClone(first.buffer, { transfer: [first.buffer as ArrayBuffer] });
  const second = b!['y']!.data as Float32Array;
  assert.doesNotThrow(() => new Uint8Array(second.buffer, second.byteOffset, second.byteLength));
});

test('each request\'s output owns its whole buffer, as a model\'s answer to it alone does (Buffer.from(data.buffer) is its own rows), a Buffer output too', () => {
  const parts = splitOutputs(
    {
      y: { dtype: 'float32', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
      b: { dtype: 'uint8', shape: [3], data: Buffer.from([7, 8, 9]) },
    },
    [1, 2],
  );
  for (const part of parts) {
    for (const t of Object.values(part)) {
      const data = t.data as Uint8Array;
      assert.equal(data.byteOffset, 0);
      assert.equal(data.byteLength, data.buffer.byteLength);
    }
  }
  assert.deepEqual([...new Float32Array((parts[1]!['y']!.data as Float32Array).buffer)], [3, 4, 5, 6]);
  assert.deepEqual([...new Uint8Array((parts[0]!['b']!.data as Uint8Array).buffer)], [7]);
});

test('a model whose output turns out not to keep the rows (its shape undeclared) answers each request alone, says why in the failed batch\'s warning, and batches no more', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const capture = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: typeof obj === 'string' ? obj : (msg ?? '') });
  const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  const runs: number[] = [];
  // Sums each column over the rows: 3 values whatever the rows, a shape the model does not declare
  // (two one-row requests make 2 rows, so it cannot pass for them).
  const summing: ModelRuntime = {
    name: 'fake',
    backend: 'cpu',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 3] }],
    outputs: [{ name: 'total', dtype: 'float32', shape: [] }],
    predict: async (inputs) => {
      const x = Object.values(inputs)[0]!;
      const d = x.data as Float32Array;
      runs.push(x.shape[0]!);
      const total = Float32Array.of(0, 0, 0);
      for (let i = 0; i < d.length; i++) total[i % 3]! += d[i]!;
      return { total: { dtype: 'float32', shape: [3], data: total } };
    },
    dispose: async () => undefined,
  };
  const batched = await batchedRuntime(summing, { batching: { maxSize: 8, maxDelayMs: 0 }, runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: logger } }, 'predict:fake');
  const answers = await Promise.all([rows([[1, 2, 3]]), rows([[10, 20, 30]])].map((r) => batched.predict(r)));
  assert.deepEqual(answers.map((a) => [...(a['total']!.data as Float32Array)]), [[1, 2, 3], [10, 20, 30]]);
  assert.deepEqual(runs, [2, 1, 1]);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.match(lines[0]!.msg, /output "total" has shape \[3\], not the batch's 2 rows first: the model does not answer one row per input row, so its requests are not batched together from now on/);
  runs.length = 0;
  await Promise.all([rows([[1, 2, 3]]), rows([[4, 5, 6]]), rows([[7, 8, 9]])].map((r) => batched.predict(r)));
  assert.deepEqual(runs, [1, 1, 1]);
});

test('a batched run that fails is logged once (warn: step, batch size, error code), never with the requests\' values; its retries one by one are not batch lines', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const capture = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: typeof obj === 'string' ? obj : (msg ?? '') });
  const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  const runs: number[] = [];
  // Fails any run that holds a negative value, as a model fails on an index out of range.
  const failing: ModelRuntime = {
    name: 'fake',
    backend: 'cpu',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }],
    predict: async (inputs) => {
      const x = Object.values(inputs)[0]!;
      runs.push(x.shape[0]!);
      if ((x.data as Float32Array).some((v) => v < 0)) throw new ToolkitError('ERR_PREDICT', 'the model failed on an index out of range');
      return { y: x };
    },
    dispose: async () => undefined,
  };
  // As a predict step wraps its runtime, logging to the runtime's logger.
  const batched = await batchedRuntime(failing, { batching: { maxSize: 8, maxDelayMs: 0 }, runtimeOptions: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: logger } }, 'predict:fake');
  const outcomes = await Promise.allSettled([rows([[1234.5, 2]]), rows([[-6789.25, 2]]), rows([[3, 4]])].map((r) => batched.predict(r)));
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.deepEqual(runs, [3, 1, 1, 1]);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]!.level, 'warn');
  assert.deepEqual(lines[0]!.obj, { step: 'predict:fake', batchSize: 3, code: 'ERR_PREDICT' });
  assert.match(lines[0]!.msg, /a batched run of 3 requests of predict:fake failed \(ERR_PREDICT: the model failed on an index out of range\); each request is retried alone/);
  assert.doesNotMatch(JSON.stringify(lines), /1234|6789/);
});
