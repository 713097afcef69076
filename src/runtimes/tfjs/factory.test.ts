import { test } from 'node:test';
import fsPromises from 'node:fs/promises';
import { checkSignatureName } from '../../handlers/signature.js';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/context.js';
import { tensor, UNNAMED, type Tensor } from '../../core/tensor.js';
import { isToolkitError } from '../../errors/catalogue.js';
import type { RuntimeOptions } from '../runtime.js';
import { loadTfjs, type TfjsBackendDeps, systemBackendDeps } from './backend.js';
import { loadTfjsRuntime, tfjsRuntimeFactory } from './factory.js';
import { fileModelHandler, fileModelSaver } from './model-files.js';
import { loadGraphExecutor, loadSavedModelExecutor } from './executors.js';
import { TfjsModelRuntime } from './model-runtime.js';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'tfjs');

function recordingLog(): Logger & { lines: { level: string; obj: unknown; msg?: string }[] } {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function options(log: Logger = recordingLog(), extra?: Record<string, unknown>): RuntimeOptions {
  return { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log, ...(extra ? { extra } : {}) };
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isToolkitError(err), `expected a ToolkitError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

const SAMPLE = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.1, 4.4, 1.4],
  [-1, 0, 2, 9],
];

/** The graph-mlp fixture, which the tests that edit a copy of it compare the copy's answers with. */
const GRAPH_MLP = path.join(FIXTURES, 'graph-mlp');

/** The `probabilities` the graph model in `dir` answers for SAMPLE as `features`, loaded for that one request. */
async function sampleProbabilities(dir: string): Promise<Tensor> {
  const runtime = await loadTfjsRuntime(dir, options());
  try {
    return (await runtime.predict({ features: tensor('float32', [3, 4], Float32Array.from(SAMPLE.flat())) }))['probabilities']!;
  } finally {
    await runtime.dispose();
  }
}

test('detect finds model.json (layers and graph), SavedModels, and ignores other JSON', async () => {
  assert.equal(await tfjsRuntimeFactory.detect(path.join(FIXTURES, 'layers-mlp')), path.join(FIXTURES, 'layers-mlp', 'model.json'));
  assert.equal(await tfjsRuntimeFactory.detect(path.join(FIXTURES, 'graph-mlp', 'model.json')), path.join(FIXTURES, 'graph-mlp', 'model.json'));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({ hello: 'not a model' }));
    assert.equal(await tfjsRuntimeFactory.detect(dir), undefined);
    await mkdir(path.join(dir, '3'));
    await writeFile(path.join(dir, '3', 'saved_model.pb'), 'x');
    assert.equal(await tfjsRuntimeFactory.detect(dir), path.join(dir, '3'));
    // No tfjs-node here: a SavedModel is a clear start-up error naming the package it needs.
    await rejectsWith(loadTfjsRuntime(path.join(dir, '3'), options()), 'ERR_RUNTIME_UNAVAILABLE', /@tensorflow\/tfjs-node/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('layers model: same outputs as direct TF.js execution, backend logged and exposed', async () => {
  const log = recordingLog();
  const runtime = await loadTfjsRuntime(path.join(FIXTURES, 'layers-mlp'), options(log));
  try {
    assert.equal(runtime.name, 'tfjs');
    assert.ok(['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'].includes(runtime.backend));
    assert.ok(log.lines.some((l) => l.msg === `loaded TF.js layers model on ${runtime.backend}`));
    assert.deepEqual(runtime.inputs, [{ name: 'features', dtype: 'float32', shape: [-1, 4] }]);
    assert.deepEqual(runtime.outputs.map((o) => o.name), ['probabilities']);

    const out = await runtime.predict({ [UNNAMED]: tensor('float64', [3, 4], Float64Array.from(SAMPLE.flat())) });
    const probs = out['probabilities']!;
    assert.deepEqual(probs.shape, [3, 3]);

    const { tf } = await loadTfjs('auto', log);
    const direct = await tf.loadLayersModel(fileModelHandler(tf, path.join(FIXTURES, 'layers-mlp', 'model.json')));
    const expected = tf.tidy(() => (direct.predict(tf.tensor2d(SAMPLE)) as ReturnType<typeof tf.tensor>).dataSync());
    direct.dispose();
    assert.equal(probs.data.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(Number(probs.data[i]) - expected[i]!) < 1e-4, `value ${i}`);
    // Named input works too; wrong shapes and names are 400s that say what the model wants.
    const named = await runtime.predict({ features: tensor('float32', [1, 4], Float32Array.from(SAMPLE[0]!)) });
    assert.ok(Math.abs(Number(named['probabilities']!.data[0]) - expected[0]!) < 1e-4);
    await rejectsWith(runtime.predict({ [UNNAMED]: tensor('float32', [1, 5], new Float32Array(5)) }), 'ERR_INPUT_MISMATCH', /\[\?, 4\]/);
    await rejectsWith(runtime.predict({ a: tensor('float32', [1, 4], new Float32Array(4)), b: tensor('float32', [1, 4], new Float32Array(4)) }), 'ERR_INPUT_MISMATCH', /features/);
  } finally {
    await runtime.dispose();
  }
});

test('layers model with two inputs and two outputs: inputs and outputs by name', async () => {
  const runtime = await loadTfjsRuntime(path.join(FIXTURES, 'layers-two-inputs', 'model.json'), options());
  try {
    assert.deepEqual(runtime.inputs.map((i) => i.name), ['a', 'b']);
    assert.deepEqual(runtime.outputs.map((o) => o.name), ['out', 'score']);
    const a = tensor('float32', [2, 2], Float32Array.from([1, 2, 3, 4]));
    const b = tensor('int64', [2, 3], BigInt64Array.from([1n, 0n, -1n, 2n, 2n, 2n]));
    const out = await runtime.predict({ b, a });
    assert.deepEqual(out['out']!.shape, [2, 2]);
    assert.deepEqual(out['score']!.shape, [2, 1]);
    const { tf } = await loadTfjs('auto', recordingLog());
    const direct = await tf.loadLayersModel(fileModelHandler(tf, path.join(FIXTURES, 'layers-two-inputs', 'model.json')));
    const [eo, es] = tf.tidy(() => (direct.predict([tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, 0, -1], [2, 2, 2]])]) as ReturnType<typeof tf.tensor>[]).map((t) => t.dataSync()));
    direct.dispose();
    eo!.forEach((v, i) => assert.ok(Math.abs(Number(out['out']!.data[i]) - v) < 1e-4));
    es!.forEach((v, i) => assert.ok(Math.abs(Number(out['score']!.data[i]) - v) < 1e-4));
    await rejectsWith(runtime.predict({ [UNNAMED]: a }), 'ERR_INPUT_MISMATCH', /a, b/);
  } finally {
    await runtime.dispose();
  }
});

test('a layers model loaded again in the same process keeps its input names (a pipeline of two layers models, a reload): requests naming them are served by every copy', async () => {
  const runtimes = [];
  try {
    for (let i = 0; i < 3; i++) runtimes.push(await loadTfjsRuntime(path.join(FIXTURES, 'layers-mlp', 'model.json'), options()));
    runtimes.push(await loadTfjsRuntime(path.join(FIXTURES, 'layers-two-inputs', 'model.json'), options()));
    runtimes.push(await loadTfjsRuntime(path.join(FIXTURES, 'layers-two-inputs', 'model.json'), options()));
    const features = tensor('float32', [3, 4], Float32Array.from(SAMPLE.flat()));
    const first = await runtimes[0]!.predict({ features });
    for (const runtime of runtimes.slice(0, 3)) {
      // Before: the second copy's input was "features_1", the third's "features_2" (TF.js's unique tensor names).
      assert.deepEqual(runtime.inputs.map((s) => s.name), ['features']);
      assert.deepEqual(await runtime.predict({ features }), first);
    }
    const a = tensor('float32', [1, 2], Float32Array.from([1, 2]));
    const b = tensor('int64', [1, 3], BigInt64Array.from([1n, 0n, -1n]));
    for (const runtime of runtimes.slice(3)) {
      assert.deepEqual(runtime.inputs.map((s) => s.name), ['a', 'b']);
      assert.deepEqual(Object.keys(await runtime.predict({ a, b })).sort(), ['out', 'score']);
    }
  } finally {
    for (const runtime of runtimes) await runtime.dispose();
  }
});

test('graph model: signature names, and outputs equal softmax(x·W + b) computed by hand', async () => {
  const runtime = await loadTfjsRuntime(path.join(FIXTURES, 'graph-mlp'), options());
  try {
    assert.deepEqual(runtime.inputs.map((i) => i.name), ['features']);
    assert.deepEqual(runtime.outputs.map((o) => o.name), ['probabilities']);
    const out = await runtime.predict({ features: tensor('float32', [3, 4], Float32Array.from(SAMPLE.flat())) });
    const { readFile } = await import('node:fs/promises');
    const bin = await readFile(path.join(FIXTURES, 'graph-mlp', 'weights.bin'));
    const f = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    const w = f.subarray(0, 12);
    const b = f.subarray(12, 15);
    SAMPLE.forEach((row, r) => {
      const logits = [0, 1, 2].map((j) => row.reduce((s, x, i) => s + x * w[i * 3 + j]!, b[j]!));
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const sum = e.reduce((s, v) => s + v, 0);
      e.forEach((v, j) => assert.ok(Math.abs(Number(out['probabilities']!.data[r * 3 + j]) - v / sum) < 1e-4, `row ${r} col ${j}`));
    });
  } finally {
    await runtime.dispose();
  }
});

test('memory stays flat: tensor count equal and RSS bounded over 1000 predictions', async () => {
  const runtime = await loadTfjsRuntime(path.join(FIXTURES, 'layers-mlp'), options());
  const graph = await loadTfjsRuntime(path.join(FIXTURES, 'graph-mlp'), options());
  try {
    const { tf } = await loadTfjs('auto', recordingLog());
    const input = { [UNNAMED]: tensor('float32', [16, 4], Float32Array.from({ length: 64 }, (_, i) => (i % 7) - 3)) };
    // Warm up: first calls allocate caches (kernels, WASM heap) that are not per-request growth.
    for (let i = 0; i < 50; i++) {
      await runtime.predict(input);
      await graph.predict({ features: input[UNNAMED]! });
    }
    const before = tf.memory().numTensors;
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      await runtime.predict(input);
      await graph.predict({ features: input[UNNAMED]! });
      await runtime.predict({ [UNNAMED]: tensor('float32', [1, 3], new Float32Array(3)) }).catch(() => undefined);
    }
    assert.equal(tf.memory().numTensors, before, 'every request released its tensors, including failed ones');
    const growth = process.memoryUsage().rss - rssBefore;
    assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MB over 1000 predictions`);
  } finally {
    await runtime.dispose();
    await graph.dispose();
  }
});

function fakeDeps(available: Record<string, unknown>, gpus = 0): TfjsBackendDeps {
  return {
    importModule: async (name) => {
      if (name in available) return available[name];
      throw new Error(`Cannot find package '${name}'`);
    },
    isInstalled: (name) => name in available,
    gpuCount: async () => gpus,
    wasmDir: systemBackendDeps.wasmDir,
  };
}

/** {@link fakeDeps} with tfjs-node-gpu installed, and whether anything imported it. */
function gpuBuildDeps(available: Record<string, unknown>, gpus: number): { deps: TfjsBackendDeps; gpuImported: () => boolean } {
  let imported = false;
  const deps = fakeDeps({ ...available, '@tensorflow/tfjs-node-gpu': {} }, gpus);
  const importModule = deps.importModule;
  deps.importModule = async (name) => {
    if (name === '@tensorflow/tfjs-node-gpu') imported = true;
    return importModule(name);
  };
  return { deps, gpuImported: () => imported };
}

test('backend choice: best available first, forced choices honoured, failures explained', async () => {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const log = recordingLog();
  // A GPU build that is installed but sees no GPU is skipped before it is imported.
  const noGpu = gpuBuildDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm }, 0);
  assert.equal((await loadTfjs('auto', log, noGpu.deps)).backend, 'wasm');
  assert.equal(noGpu.gpuImported(), false);
  assert.match(JSON.stringify(log.lines.at(-1)?.obj), /no GPU is visible/);
  const auto = await loadTfjs('auto', log, fakeDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm }, 1));
  assert.equal(auto.backend, 'wasm');
  const chosen = log.lines.findLast((l) => l.msg === 'TF.js backend: wasm');
  assert.ok(chosen, 'the chosen backend is logged');
  assert.match(JSON.stringify(chosen.obj), /tfjs-node-gpu/);
  assert.equal((await loadTfjs('cpu', log, fakeDeps({ '@tensorflow/tfjs': tf }))).backend, 'cpu');
  // WASM package missing: auto falls through to the pure-JS CPU backend.
  assert.equal((await loadTfjs('auto', log, fakeDeps({ '@tensorflow/tfjs': tf }))).backend, 'cpu');
  await rejectsWith(loadTfjs('tensorflow', log, fakeDeps({ '@tensorflow/tfjs': tf })), 'ERR_RUNTIME_UNAVAILABLE', /install @tensorflow\/tfjs-node/);
  await rejectsWith(loadTfjs('wasm', log, fakeDeps({ '@tensorflow/tfjs': tf })), 'ERR_RUNTIME_UNAVAILABLE', /wasm/);
  // Put the process back on the backend the other tests share.
  await tf.setBackend((await loadTfjs('auto', log)).backend);
});

test('TF.js off the GPU is a warning when SMKIT_DEVICE asks for a GPU, or when tfjs-node-gpu is there with a GPU but fails to load; otherwise an info line', async () => {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const model = path.join(FIXTURES, 'layers-mlp');
  const warningsOf = async (devices: string[], deps: TfjsBackendDeps, backend?: string) => {
    const log = recordingLog();
    const runtime = await loadTfjsRuntime(model, { ...options(log, backend ? { backend } : undefined), devices }, deps);
    await runtime.dispose();
    return log.lines.filter((l) => l.level === 'warn').map((l) => l.msg ?? '');
  };
  const noGpuBuild = fakeDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm }, 1);
  // smkit's GPU image: no tfjs-node-gpu. The docs promise a warning when a GPU is asked for explicitly.
  const asked = await warningsOf(['cuda'], noGpuBuild);
  assert.equal(asked.length, 1, JSON.stringify(asked));
  assert.match(asked[0]!, /^TF\.js runs on wasm, not on a GPU: @tensorflow\/tfjs-node-gpu is not installed \(/);
  assert.match((await warningsOf(['gpu', 'cpu'], noGpuBuild, 'wasm'))[0]!, /not on a GPU: SMKIT_TFJS_BACKEND \(or the predict step's backend option\) asks for wasm/);
  // The same for every worker: said once, by worker 0; worker 1 logs it at debug.
  const worker1 = recordingLog();
  await (await loadTfjsRuntime(model, { ...options(worker1), devices: ['cuda'], workerIndex: 1 }, noGpuBuild)).dispose();
  assert.deepEqual(worker1.lines.filter((l) => /not on a GPU/.test(l.msg ?? '')).map((l) => l.level), ['debug']);
  // And once by worker 0, not at each model it loads (a multi-model endpoint, a load after an eviction).
  assert.deepEqual(await warningsOf(['cuda'], noGpuBuild), []);
  for (const devices of [['cpu'], ['auto'], ['cpu', 'cuda']]) assert.deepEqual(await warningsOf(devices, noGpuBuild), [], devices.join(','));
  // The GPU build installed, a GPU visible, and its load fails: a fall back to CPU, a warning even with SMKIT_DEVICE=auto.
  const broken = fakeDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm, '@tensorflow/tfjs-node-gpu': {} }, 1);
  broken.importModule = async (name) => {
    if (name === '@tensorflow/tfjs-node-gpu') throw new Error('libcudart.so.11.0: cannot open shared object file');
    return fakeDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm }).importModule(name);
  };
  const failed = await warningsOf(['auto'], broken);
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.match(failed[0]!, /^TF\.js runs on wasm, not on a GPU: @tensorflow\/tfjs-node-gpu failed to load \(libcudart\.so\.11\.0: cannot open shared object file\)/);
  // SMKIT_DEVICE=cpu (or cpu first) keeps TF.js off the GPU build: not even imported, so no warning.
  const working = gpuBuildDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-backend-wasm': wasm }, 1);
  for (const devices of [['cpu'], ['cpu', 'cuda']]) assert.deepEqual(await warningsOf(devices, working.deps), [], devices.join(','));
  assert.equal(working.gpuImported(), false, 'tfjs-node-gpu is left alone with SMKIT_DEVICE=cpu');
  await tf.setBackend((await loadTfjs('auto', recordingLog())).backend);
});

test('tfjs-node-gpu loads with TF_FORCE_GPU_ALLOW_GROWTH=true unless the user set it: TensorFlow would take the whole GPU in the first process to load', async () => {
  const tf = await import('@tensorflow/tfjs');
  const saved = process.env.TF_FORCE_GPU_ALLOW_GROWTH;
  try {
    for (const [before, expected] of [[undefined, 'true'], ['false', 'false']] as const) {
      if (before === undefined) delete process.env.TF_FORCE_GPU_ALLOW_GROWTH;
      else process.env.TF_FORCE_GPU_ALLOW_GROWTH = before;
      let seen: string | undefined = 'not imported';
      const deps = fakeDeps({ '@tensorflow/tfjs': tf, '@tensorflow/tfjs-node-gpu': {} }, 1);
      const importModule = deps.importModule;
      deps.importModule = async (name) => {
        if (name === '@tensorflow/tfjs-node-gpu') seen = process.env.TF_FORCE_GPU_ALLOW_GROWTH;
        return importModule(name);
      };
      await loadTfjs('auto', recordingLog(), deps);
      assert.equal(seen, expected, `with the variable ${before ?? 'unset'} before the load`);
    }
  } finally {
    if (saved === undefined) delete process.env.TF_FORCE_GPU_ALLOW_GROWTH;
    else process.env.TF_FORCE_GPU_ALLOW_GROWTH = saved;
  }
  await tf.setBackend((await loadTfjs('auto', recordingLog())).backend);
});

test('a backend whose package could not be loaded for want of file descriptors: 503 ERR_SERVER_BUSY (not a fall back to a slower backend), and 500 ERR_INTERNAL once Node gives the same failure back', async () => {
  const log = recordingLog();
  const emfile = (): Error => Object.assign(new Error("EMFILE: too many open files, open '/x/tf.node.js'"), { code: 'EMFILE' });
  const tf = await import('@tensorflow/tfjs');
  // A fresh failure each time (a require tried afresh): busy each time, then it loads.
  let fresh = 2;
  const retried = fakeDeps({ '@tensorflow/tfjs': tf });
  retried.importModule = async (name) => {
    if (fresh > 0) throw (fresh--, emfile());
    return tf;
  };
  await rejectsWith(loadTfjs('cpu', log, retried), 'ERR_SERVER_BUSY', /^TF\.js \(its cpu backend\) cannot be loaded now: this process has no file descriptors to spare/);
  await rejectsWith(loadTfjs('cpu', log, retried), 'ERR_SERVER_BUSY');
  assert.equal((await loadTfjs('cpu', log, retried)).backend, 'cpu');
  // The very same failure again (an import() Node kept failed): no retry can load it.
  const kept = emfile();
  const keptDeps = fakeDeps({});
  keptDeps.importModule = async () => {
    throw kept;
  };
  await rejectsWith(loadTfjs('auto', log, keptDeps), 'ERR_SERVER_BUSY', /its tensorflow backend/);
  await rejectsWith(loadTfjs('auto', log, keptDeps), 'ERR_INTERNAL', /^TF\.js \(its tensorflow backend\) could not be loaded for want of file descriptors \(EMFILE.*restart the server, and raise its open files limit/);
  assert.equal(log.lines.filter((l) => /TF\.js backend: (wasm|cpu)/.test(l.msg ?? '') && JSON.stringify(l.obj).includes('EMFILE')).length, 0, 'never fell back past the failed backend');
});

test('an unknown backend name is a configuration error naming the choices', async () => {
  await rejectsWith(loadTfjsRuntime(path.join(FIXTURES, 'layers-mlp'), options(recordingLog(), { backend: 'gpu-please' })), 'ERR_CONFIG_INVALID', /auto, tensorflow, wasm or cpu/);
});

test('a model directory copied elsewhere loads (weights resolved beside model.json)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    const runtime = await tfjsRuntimeFactory.load((await tfjsRuntimeFactory.detect(dir))!, options());
    assert.deepEqual((await runtime.predict({ [UNNAMED]: tensor('float32', [1, 4], new Float32Array(4)) }))['probabilities']!.shape, [1, 3]);
    await runtime.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loading a layers or graph model reads and parses its model.json once (a model.json of hundreds of MB took twice the time and memory)', async (t) => {
  const readFileSpy = t.mock.method(fsPromises, 'readFile');
  for (const fixture of ['layers-mlp', 'graph-mlp']) {
    readFileSpy.mock.resetCalls();
    const runtime = await loadTfjsRuntime(path.join(FIXTURES, fixture), options());
    await runtime.dispose();
    const reads = readFileSpy.mock.calls.filter((c) => String(c.arguments[0]).endsWith('model.json'));
    assert.equal(reads.length, 1, `${fixture}: model.json read ${reads.length} times`);
  }
});

test('a loaded graph model keeps neither model.json\'s parse nor a second copy of its weight bytes (TF.js keeps both for save(), for the model\'s life)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const settle = async (): Promise<void> => {
    // WeakRefs read in this turn keep their targets until it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  };
  // V8 frees the memory of collected ArrayBuffers on a background thread, after gc() returns: on a
  // loaded machine the count lags (a CI run read 64 MB of freed weights as still held), so it is read
  // once it stops falling.
  const arrayBuffersSettled = async (): Promise<number> => {
    let last = Infinity;
    for (let round = 0; round < 50; round++) {
      await settle();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const now = process.memoryUsage().arrayBuffers;
      if (now >= last) return now;
      last = now;
    }
    return last;
  };
  const { tf } = await loadTfjs('auto', recordingLog());
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    type Graph = { modelTopology: { node: object[] }; weightsManifest: { paths: string[]; weights: object[] }[] };
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Graph;
    // A weight the outputs do not read, 64 MB, appended to the one shard.
    const n = 16 * 1024 * 1024;
    const bytes = n * 4;
    json.modelTopology.node.push({ name: 'ballast', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: String(n) }] } } } } });
    json.weightsManifest[0]!.weights.push({ name: 'ballast', shape: [n], dtype: 'float32' });
    const shard = path.join(dir, json.weightsManifest[0]!.paths[0]!);
    await writeFile(shard, Buffer.concat([await readFile(shard), Buffer.alloc(bytes)]));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));

    const before = await arrayBuffersSettled();
    let parse: WeakRef<object> | undefined;
    let topology: WeakRef<object> | undefined;
    const executor = await (async () => {
      const parsed = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Graph;
      [parse, topology] = [new WeakRef(parsed), new WeakRef(parsed.modelTopology)];
      return loadGraphExecutor(tf, path.join(dir, 'model.json'), parsed);
    })();
    try {
      await settle();
      const grown = (await arrayBuffersSettled()) - before;
      assert.equal(parse!.deref(), undefined, 'the parsed model.json is still referenced');
      assert.equal(topology!.deref(), undefined, 'the parsed modelTopology is still referenced');
      // The CPU backend keeps tensors in ArrayBuffers (the weights once); WASM and tfjs-node keep them outside.
      // The backend in use, not the one loadTfjs chose: tf is one per process, and a test before may have set another.
      const inUse = tf.getBackend();
      const tensors = inUse === 'cpu' ? bytes : 0;
      assert.ok(grown < tensors + bytes / 2, `${inUse}: ArrayBuffers grew ${grown} bytes for ${bytes} bytes of weights`);
    } finally {
      executor.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a weightsManifest that does not match its shards fails the load naming the weight and the fix, before TF.js allocates or loops on it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    const original = JSON.parse(await readFile(path.join(FIXTURES, 'layers-mlp', 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: Record<string, unknown>[] }[] };
    const weights = await readFile(path.join(FIXTURES, 'layers-mlp', 'weights.bin'));
    type Manifest = typeof original;
    const cases: [string, (j: Manifest) => void, Buffer, RegExp][] = [
      // Each of the first three loaded before: random weights, bytes past the weights ignored, NaN weights.
      ['no manifest', (j) => delete (j as Partial<Manifest>).weightsManifest, weights, /"weightsManifest" is missing/],
      ['a longer shard', () => {}, Buffer.concat([weights, Buffer.alloc(100)]), /weights\.bin holds 368 bytes but the weights model\.json lists for it need 268/],
      ['a quantization without a scale', (j) => void (j.weightsManifest[0]!.weights[0]!['quantization'] = { dtype: 'uint8', min: 0 }), weights, /"hidden\/kernel"\) is uint8-quantized but its quantization\.scale/],
      ['a shorter shard', () => {}, weights.subarray(0, 10), /holds 10 bytes but .* need 268/],
      ['a huge shape', (j) => void (j.weightsManifest[0]!.weights[0]!['shape'] = [1e9, 1e9]), weights, /need 4000000000000000000/],
      ['a string weight of 1e12 values', (j) => Object.assign(j.weightsManifest[0]!.weights[0]!, { shape: [1e6, 1e6], dtype: 'string' }), weights, /need at least/],
      ['a negative dimension', (j) => void (j.weightsManifest[0]!.weights[0]!['shape'] = [-1]), weights, /has shape \[-1\]; a shape is a list of whole numbers/],
      ['no shape', (j) => delete j.weightsManifest[0]!.weights[0]!['shape'], weights, /has shape undefined/],
      ['an unknown dtype', (j) => void (j.weightsManifest[0]!.weights[0]!['dtype'] = 'float99'), weights, /dtype "float99"; TF\.js weights are/],
      ['weights not a list', (j) => void ((j.weightsManifest[0] as unknown as Record<string, unknown>)['weights'] = 'x'), weights, /weightsManifest\[0\]\.weights must be a list/],
    ];
    for (const [what, edit, shard, message] of cases) {
      const json = structuredClone(original);
      edit(json);
      await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      await writeFile(path.join(dir, 'weights.bin'), shard);
      await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', message).catch((err: Error) => {
        throw new Error(`${what}: ${err.message}`);
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a weightsManifest path outside the model's directory (../x, an absolute path) fails the load saying so: a model from S3 reads no other file of this machine", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    const model = path.join(dir, 'model');
    await mkdir(model);
    const original = JSON.parse(await readFile(path.join(FIXTURES, 'layers-mlp', 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    // The weights themselves, outside the model's folder: without the check the model would load from them.
    await cp(path.join(FIXTURES, 'layers-mlp', 'weights.bin'), path.join(dir, 'outside.bin'));
    for (const weightPath of ['../outside.bin', path.join(dir, 'outside.bin'), 'sub/../../outside.bin']) {
      const json = structuredClone(original);
      json.weightsManifest[0]!.paths = [weightPath];
      await writeFile(path.join(model, 'model.json'), JSON.stringify(json));
      await rejectsWith(loadTfjsRuntime(model, options()), 'ERR_MODEL_LOAD', new RegExp(`weight path "${weightPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" points outside the model directory`));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the weightsManifest check passes every layout TF.js decodes: shards splitting weights, two groups, float16/uint8/uint16 quantization, string, scalar, empty, bool, int32 and complex64 weights', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    const { tf } = await loadTfjs('auto', recordingLog());
    const json = JSON.parse(await readFile(path.join(FIXTURES, 'layers-mlp', 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[] };
    const bin = await readFile(path.join(FIXTURES, 'layers-mlp', 'weights.bin'));
    const specs = json.weightsManifest[0]!.weights;
    // Two groups (kernel+bias each), each in 7-byte shards, so weights straddle shard boundaries; the uint16/uint8/float16 copies quantize the first group.
    const split = (specs[0]!.shape[0]! * specs[0]!.shape[1]! + specs[1]!.shape[0]!) * 4;
    const groups = [bin.subarray(0, split), bin.subarray(split)].map((buf, g) => ({ paths: [] as string[], weights: g === 0 ? specs.slice(0, 2) : specs.slice(2), buf }));
    for (const [g, { buf, paths }] of groups.entries()) {
      for (let o = 0; o < buf.length; o += 7) {
        paths.push(`g${g}-${o}.bin`);
        await writeFile(path.join(dir, paths.at(-1)!), buf.subarray(o, o + 7));
      }
    }
    const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + split));
    await writeFile(path.join(dir, 'u16.bin'), Buffer.from(Uint16Array.from(floats, (v) => Math.round((v + 4) * 8192)).buffer));
    await writeFile(path.join(dir, 'u8.bin'), Buffer.from(Uint8Array.from(floats, (v) => Math.round((v + 4) * 32))));
    await writeFile(path.join(dir, 'f16.bin'), Buffer.from(Uint16Array.from(floats, () => 0x3c00).buffer)); // every value 1.0
    const rest = groups[1]!;
    const layouts = {
      sharded: groups.map(({ paths, weights }) => ({ paths, weights })),
      uint16: [{ paths: ['u16.bin'], weights: specs.slice(0, 2).map((w) => ({ ...w, quantization: { dtype: 'uint16', scale: 1 / 8192, min: -4 } })) }, { paths: rest.paths, weights: rest.weights }],
      uint8: [{ paths: ['u8.bin'], weights: specs.slice(0, 2).map((w) => ({ ...w, quantization: { dtype: 'uint8', scale: 1 / 32, min: -4 } })) }, { paths: rest.paths, weights: rest.weights }],
      float16: [{ paths: ['f16.bin'], weights: specs.slice(0, 2).map((w) => ({ ...w, quantization: { dtype: 'float16' } })) }, { paths: rest.paths, weights: rest.weights }],
    };
    const original = await tf.loadLayersModel(fileModelHandler(tf, path.join(FIXTURES, 'layers-mlp', 'model.json')));
    const x = tf.tensor2d(SAMPLE);
    const expected = (original.predict(x) as ReturnType<typeof tf.tensor2d>).arraySync().flat();
    for (const [name, manifest] of Object.entries(layouts)) {
      await writeFile(path.join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: manifest }));
      const model = await tf.loadLayersModel(fileModelHandler(tf, path.join(dir, 'model.json')));
      const got = (model.predict(x) as ReturnType<typeof tf.tensor2d>).arraySync().flat();
      const tolerance = { sharded: 0, uint16: 1e-3, uint8: 0.1, float16: 1 }[name]!;
      assert.ok(got.every((v, i) => Math.abs(v - expected[i]!) <= tolerance), `${name}: ${got.join(',')} vs ${expected.join(',')}`);
      model.dispose();
    }
    // The other dtypes through the handler and TF.js's own decoder; a string weight is each value's 4-byte length, then its bytes.
    const strings = ['héllo', '', 'x'].map((v) => Buffer.from(v));
    const data = Buffer.concat([
      ...strings.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]),
      Buffer.from(Float32Array.of(3.5).buffer), Buffer.from([1, 0]), Buffer.from(Int32Array.of(7, -8).buffer), Buffer.from([1, 5]), Buffer.from(Float32Array.of(1, 2).buffer),
    ]);
    await writeFile(path.join(dir, 'a.bin'), data.subarray(0, 10));
    await writeFile(path.join(dir, 'b.bin'), data.subarray(10));
    const weights = [
      { name: 's', shape: [3], dtype: 'string' }, { name: 'scalar', shape: [], dtype: 'float32' }, { name: 'empty', shape: [0, 5], dtype: 'float32' },
      { name: 'b', shape: [2], dtype: 'bool' }, { name: 'i', shape: [2], dtype: 'int32' }, { name: 'iq', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 1, min: -3 } },
      { name: 'c', shape: [1], dtype: 'complex64' },
    ];
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights }, { paths: [], weights: [] }] }));
    const artifacts = await fileModelHandler(tf, path.join(dir, 'model.json')).load!();
    // The handler passes the complex64 weight (last); the wasm backend cannot make complex tensors, so TF.js decodes the rest.
    const decoded = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!.slice(0, -1));
    const values = Object.fromEntries(Object.entries(decoded).map(([k, t]) => [k, k === 's' ? (t.arraySync() as unknown as Uint8Array[]).map((b) => Buffer.from(b).toString()) : t.arraySync()]));
    assert.deepEqual(values, { s: ['héllo', '', 'x'], scalar: 3.5, empty: [], b: [1, 0], i: [7, -8], iq: [-2, 2] });
    tf.dispose([x, ...Object.values(decoded)]);
    original.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a model.json nested thousands of levels deep fails the load saying so and how to fix it, not "Maximum call stack size exceeded"', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'layers-mlp'), dir, { recursive: true });
    const json = await readFile(path.join(dir, 'model.json'), 'utf8');
    const deep = json.replace('"modelTopology":{', `"modelTopology":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)},`);
    await writeFile(path.join(dir, 'model.json'), deep);
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /model\.json: it nests lists or objects too deeply for TF\.js to read .* re-export the model$/);
    // A SavedModel has no model.json: its stack overflow (here from a stand-in binding) keeps the runtime's message.
    const saved = path.join(dir, 'saved');
    await mkdir(saved);
    await writeFile(path.join(saved, 'saved_model.pb'), '');
    const node = { getMetaGraphsFromSavedModel: async () => { throw new RangeError('Maximum call stack size exceeded'); }, loadSavedModel: async () => undefined };
    const deps = fakeDeps({ '@tensorflow/tfjs-node': { ready: async () => undefined, getBackend: () => 'tensorflow', enableProdMode: () => undefined, node } });
    await rejectsWith(loadTfjsRuntime(saved, options(recordingLog(), { backend: 'tensorflow' }), deps), 'ERR_MODEL_LOAD', /saved: Maximum call stack size exceeded$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a graph model whose signature names tensors the graph lacks fails the load naming the signature keys', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    const original = await readFile(path.join(dir, 'model.json'), 'utf8');
    type Sig = { signature: { inputs: Record<string, { name: string }>; outputs: Record<string, { name: string }> } };
    const edits: [(j: Sig) => void, RegExp][] = [
      // Loaded before with no inputs at all, so every request bound to nothing.
      [(j) => void (j.signature.inputs['features']!.name = 'nothere:0'), /signature's input "features" \(nothere:0\) names no node of the graph/],
      // Loaded before; every request then failed inside TF.js.
      [(j) => void (j.signature.outputs['probabilities']!.name = 'gone:0'), /signature's output "probabilities" \(gone:0\) names no node/],
      // TF.js keeps one entry per node: the message said this one named no node of the graph, though Softmax is there.
      [(j) => void (j.signature.outputs['again'] = { name: 'Softmax:0' }), /signature's output "probabilities" \(Softmax:0\) reads the same graph node as "again", and TF.js serves one signature entry per node/],
    ];
    for (const [edit, message] of edits) {
      const json = JSON.parse(original) as Sig;
      edit(json);
      await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', message);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a graph model whose outputs need an op TF.js does not implement fails the load naming the op, its node and the fix; one registered with tf.registerOp loads and serves', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  const { tf } = await loadTfjs('auto', recordingLog());
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    type Graph = { modelTopology: { node: { name: string; op: string; input?: string[] }[] } };
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Graph;
    json.modelTopology.node.find((n) => n.name === 'dense/add')!.op = 'SmkitTestAdd';
    // A node the outputs do not read: TF.js never runs it, so its unknown op is no reason to refuse the model.
    json.modelTopology.node.push({ name: 'unused', op: 'SmkitTestUnused', input: ['x'] });
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    // Loaded before, and then every request failed with TF.js's "Unknown op".
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /depend on op TF\.js does not implement: "SmkitTestAdd" \(node "dense\/add"\), so every request would fail; re-export the model using only ops TF\.js supports \(https:\/\/github\.com\/tensorflow\/tfjs\/blob\/master\/tfjs-converter\/docs\/supported_ops\.md\) and convert it with tensorflowjs_converter, or register the op with tf\.registerOp\(\)/);
    await assert.rejects(loadTfjsRuntime(dir, options()), (err: Error) => !/SmkitTestUnused/.test(err.message));

    tf.registerOp('SmkitTestAdd', (node) => tf.add(node.inputs[0]!, node.inputs[1]!));
    const [got, want] = [await sampleProbabilities(dir), await sampleProbabilities(GRAPH_MLP)];
    assert.deepEqual(got.shape, [3, 3]);
    assert.deepEqual(Array.from(got.data as Float32Array), Array.from(want.data as Float32Array));
  } finally {
    tf.deregisterOp('SmkitTestAdd');
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unknown op TF.js never runs for the outputs (a control input of a weight, ops before a signature input) does not fail the load: the model serves', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    type Node = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };
    type Graph = { modelTopology: { node: Node[] }; signature: { inputs: Record<string, { name: string }> } };
    const original = await readFile(path.join(dir, 'model.json'), 'utf8');
    const byName = (json: Graph, name: string): Node => json.modelTopology.node.find((n) => n.name === name)!;
    const edits: ((json: Graph) => void)[] = [
      // TF.js has a weight's value, so it never runs the weight's inputs, control ones included.
      (json) => {
        json.modelTopology.node.push({ name: 'before_bias', op: 'SmkitTestUnknown', input: ['x'] });
        byName(json, 'dense/bias').input = ['^before_bias'];
      },
      // Requests feed the signature's input (here a PlaceholderWithDefault): TF.js never runs what computes its default.
      (json) => {
        json.modelTopology.node.push(
          { name: 'decode', op: 'SmkitTestDecode', input: ['x'] },
          { name: 'x_or_decoded', op: 'PlaceholderWithDefault', input: ['decode'], attr: { dtype: { type: 'DT_FLOAT' } } },
        );
        byName(json, 'dense/MatMul').input = ['x_or_decoded', 'dense/kernel'];
        json.signature.inputs['features']!.name = 'x_or_decoded:0';
      },
    ];
    const want = await sampleProbabilities(GRAPH_MLP);
    for (const edit of edits) {
      const json = JSON.parse(original) as Graph;
      edit(json);
      await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      // Refused before as depending on the unknown op.
      const got = await sampleProbabilities(dir);
      assert.deepEqual(Array.from(got.data as Float32Array), Array.from(want.data as Float32Array));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unknown op in a TF1 cond branch a request may skip does not fail the load (TF.js serves the other branch); one after the branches join still does', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    type Node = { name: string; op: string; input?: string[] };
    type Graph = { modelTopology: { node: Node[] } };
    const original = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Graph;
    // softmax(cond(pred, SmkitTestUnknown(z), z)) with z = x·W + b and pred = all(z == z), true for every row: the unknown op's branch is never taken.
    const cond = (after: string): Graph => {
      const json = structuredClone(original);
      json.modelTopology.node.push(
        { name: 'pred', op: 'Equal', input: ['dense/add', 'dense/add'] },
        { name: 'switch', op: 'Switch', input: ['dense/add', 'pred'] },
        { name: 'untaken', op: 'SmkitTestUnknown', input: ['switch'] },
        { name: 'taken', op: 'Identity', input: ['switch:1'] },
        { name: 'merge', op: 'Merge', input: ['untaken', 'taken'] },
        { name: 'after', op: after, input: ['merge'] },
      );
      json.modelTopology.node.find((n) => n.name === 'Softmax')!.input = ['after'];
      return json;
    };
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(cond('Identity')));
    // Refused before as depending on SmkitTestUnknown.
    const [got, want] = [await sampleProbabilities(dir), await sampleProbabilities(GRAPH_MLP)];
    assert.deepEqual(Array.from(got.data as Float32Array), Array.from(want.data as Float32Array));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(cond('SmkitTestAfter')));
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /depend on op TF\.js does not implement: "SmkitTestAfter" \(node "after"\), so/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an index outside an embedding table is the request\'s 400 ERR_INPUT_VALUE naming the valid range, and the model keeps serving', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    const { tf } = await loadTfjs('auto', recordingLog());
    const ids = tf.input({ shape: [3], dtype: 'int32', name: 'ids' });
    const out = tf.layers.flatten({ name: 'flat' }).apply(tf.layers.embedding({ inputDim: 10, outputDim: 2, name: 'emb' }).apply(ids)) as ReturnType<typeof tf.input>;
    const built = tf.model({ inputs: ids, outputs: out });
    await built.save(fileModelSaver(tf, dir));
    built.dispose();
    const runtime = await loadTfjsRuntime(dir, options());
    try {
      for (const bad of [10, -1]) {
        // Was a 500 ERR_PREDICT ("TF.js failed to run the model: GatherV2: ..."), as if the server were at fault.
        await rejectsWith(runtime.predict({ [UNNAMED]: tensor('int32', [1, 3], Int32Array.from([1, bad, 2])) }), 'ERR_INPUT_VALUE', new RegExp(`value ${bad} indexes a table .* 10 rows; send indices from 0 to 9`));
      }
      assert.deepEqual((await runtime.predict({ [UNNAMED]: tensor('int32', [1, 3], Int32Array.from([0, 9, 2])) }))['flat']!.shape, [1, 6]);
    } finally {
      await runtime.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an out-of-table index the model computes itself (not a request value) stays the server\'s 500 ERR_PREDICT', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    const { tf } = await loadTfjs('auto', recordingLog());
    // The dense layer turns every request value into 20 * (sum of the row): an index the table lacks, made by the model's weights.
    const x = tf.input({ shape: [3], name: 'x' });
    const idx = tf.layers.dense({ units: 3, useBias: false, kernelInitializer: tf.initializers.constant({ value: 20 }), name: 'idx' }).apply(x);
    const out = tf.layers.flatten({ name: 'flat' }).apply(tf.layers.embedding({ inputDim: 10, outputDim: 2, name: 'emb' }).apply(idx)) as ReturnType<typeof tf.input>;
    const built = tf.model({ inputs: x, outputs: out });
    await built.save(fileModelSaver(tf, dir));
    built.dispose();
    const runtime = await loadTfjsRuntime(dir, options());
    try {
      // Was a 400 ERR_INPUT_VALUE 'a request value 20 indexes a table', a value the request never held.
      await rejectsWith(runtime.predict({ [UNNAMED]: tensor('float32', [1, 3], Float32Array.from([1, 0, 0])) }), 'ERR_PREDICT', /GatherV2: the index value 20 is not in \[0, 9\]/);
    } finally {
      await runtime.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SavedModel (through a stand-in for the tfjs-node binding): serving_default, names by signature key, nothing leaked', async () => {
  const { tf } = await loadTfjs('auto', recordingLog());
  let loadedWith: unknown[] = [];
  const info = (name: string, shape: number[]) => ({ dtype: 'float32', name, shape });
  const node = {
    getMetaGraphsFromSavedModel: async () => [
      {
        tags: ['serve'],
        signatureDefs: {
          other: { inputs: { q: info('q:0', [-1]) }, outputs: { r: info('r:0', [-1]) } },
          serving_default: { inputs: { x: info('serving_default_x:0', [-1, 2]) }, outputs: { y: info('Identity:0', [-1, 2]), z: info('Identity_1:0', [-1]) } },
        },
      },
    ],
    loadSavedModel: async (...args: unknown[]) => {
      loadedWith = args;
      return {
        predict: (feed: Record<string, ReturnType<typeof tf.tensor>>) => ({ z: tf.sum(feed['x']!, 1), y: tf.mul(feed['x']!, 2), unused: tf.scalar(1) }),
        dispose() {},
      };
    },
  };
  const executor = await loadSavedModelExecutor({ ...tf, node } as unknown as typeof tf, '/models/sm');
  assert.deepEqual(loadedWith, ['/models/sm', ['serve'], 'serving_default']);
  const runtime = new TfjsModelRuntime({ tf, backend: 'tensorflow' }, executor);
  assert.deepEqual(runtime.inputs, [{ name: 'x', dtype: 'float32', shape: [-1, 2] }]);
  const before = tf.memory().numTensors;
  const out = await runtime.predict({ [UNNAMED]: tensor('float32', [2, 2], Float32Array.from([1, 2, 3, 4])) });
  assert.deepEqual(Object.keys(out), ['y', 'z']);
  assert.deepEqual([...out['y']!.data], [2, 4, 6, 8]);
  assert.deepEqual([...out['z']!.data], [3, 7]);
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(loadSavedModelExecutor({ ...tf, node } as unknown as typeof tf, '/models/sm', 'nope'), /"nope" not found; the SavedModel has other, serving_default/);
  // The signature served is what TF Serving requests may name in signature_name.
  assert.equal(runtime.signature, 'serving_default');
  const other = new TfjsModelRuntime({ tf, backend: 'tensorflow' }, await loadSavedModelExecutor({ ...tf, node } as unknown as typeof tf, '/models/sm', 'other'));
  assert.equal(other.signature, 'other');
  checkSignatureName({ tensors: {}, form: 'tfs-instances', signatureName: 'other' }, other.signature);
  assert.throws(() => checkSignatureName({ tensors: {}, form: 'tfs-instances', signatureName: 'serving_default' }, other.signature), /this model serves "other"/);
});

test('a predict step\'s signature option is a start-up error for a TF.js graph or layers model (only a SavedModel has signatures to pick), and must be a string', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    // Ignored before: the graph model served the signature its model.json holds, whatever the option named.
    await rejectsWith(
      loadTfjsRuntime(path.join(FIXTURES, 'graph-mlp'), options(recordingLog(), { signature: 'other' })),
      'ERR_PIPELINE_INVALID',
      /the predict step's "signature" option \("other"\) picks a TensorFlow SavedModel's signature, but \S+graph-mlp\/model\.json is a TF\.js graph model: a TF\.js graph model serves the one signature model\.json holds \(tensorflowjs_converter --signature_name picks it when converting\); remove "signature" from the step$/,
    );
    await rejectsWith(
      loadTfjsRuntime(path.join(FIXTURES, 'layers-mlp'), options(recordingLog(), { signature: 'serving_default' })),
      'ERR_PIPELINE_INVALID',
      /"signature" option \("serving_default"\) .* is a TF\.js layers model: a TF\.js layers model has no signatures; remove "signature" from the step$/,
    );
    // A SavedModel's signature that is not a string was dropped for serving_default.
    await writeFile(path.join(dir, 'saved_model.pb'), 'x');
    await rejectsWith(loadTfjsRuntime(dir, options(recordingLog(), { signature: 7 })), 'ERR_PIPELINE_INVALID', /"signature" option must be a string naming a SavedModel signature \(for example serving_default\), found 7$/);
    // A string still reaches the SavedModel load (which needs tfjs-node, absent here).
    await rejectsWith(loadTfjsRuntime(dir, options(recordingLog(), { signature: 'other' })), 'ERR_RUNTIME_UNAVAILABLE', /@tensorflow\/tfjs-node/);
    // null (YAML's `signature:` with nothing after it) is left out, as before for a SavedModel and as a null backend is.
    await rejectsWith(loadTfjsRuntime(dir, options(recordingLog(), { signature: null })), 'ERR_RUNTIME_UNAVAILABLE', /@tensorflow\/tfjs-node/);
    const graph = await loadTfjsRuntime(path.join(FIXTURES, 'graph-mlp'), options(recordingLog(), { signature: null }));
    await graph.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('TF2 control flow: an unknown op in a While condition or in both branches of an If (a function of model.json\'s library) fails the load naming op, node and function; one only in a branch a request may skip, or in a While body, loads and serves', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-tfjs-'));
  try {
    await cp(path.join(FIXTURES, 'graph-mlp'), dir, { recursive: true });
    type Node = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };
    type Fn = { signature: { name: string; inputArg: { name: string; type: string }[]; outputArg: { name: string; type: string }[] }; nodeDef: Node[]; ret: Record<string, string> };
    type Graph = { modelTopology: { node: Node[]; library?: { function?: Fn[] } } };
    const original = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Graph;
    const func = (name: string) => ({ func: { name } });
    /** A function of one float argument `a` whose output is one node, `op` of `inputs`. */
    const fn = (name: string, op: string, inputs = ['a'], attr: Record<string, unknown> = {}): Fn => ({
      signature: { name, inputArg: [{ name: 'a', type: 'DT_FLOAT' }], outputArg: [{ name: 'out', type: 'DT_FLOAT' }] },
      nodeDef: [{ name: 'result', op, input: inputs, attr }],
      ret: { out: 'result:0' },
    });
    const ifOf = (then: string, otherwise: string) => ({ then_branch: func(then), else_branch: func(otherwise) });
    // softmax(flow(z)) with z = x·W + b: an If on pred = (z == z), true for every row, or a While.
    const write = async (flow: Node, functions: Fn[]) => {
      const json = structuredClone(original);
      json.modelTopology.node.push({ name: 'pred', op: 'Equal', input: ['dense/add', 'dense/add'] }, flow);
      json.modelTopology.node.find((n) => n.name === 'Softmax')!.input = ['flow'];
      json.modelTopology.library = { function: functions };
      await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    };
    const ifNode: Node = { name: 'flow', op: 'StatelessIf', input: ['pred', 'dense/add'], attr: ifOf('then_fn', 'else_fn') };
    const whileNode: Node = { name: 'flow', op: 'StatelessWhile', input: ['dense/add'], attr: { cond: func('cond_fn'), body: func('body_fn') } };
    // Each loaded before, and then every request failed with TF.js's "Unknown op".
    await write(whileNode, [fn('cond_fn', 'SmkitTestCond'), fn('body_fn', 'Identity')]);
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /depend on op TF\.js does not implement: "SmkitTestCond" \(node "result" in function "cond_fn"\), so every request would fail/);
    await write(ifNode, [fn('then_fn', 'SmkitTestThen'), fn('else_fn', 'SmkitTestElse')]);
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /depend on ops TF\.js does not implement: "SmkitTestThen" \(node "result" in function "then_fn"\); "SmkitTestElse" \(node "result" in function "else_fn"\), so/);
    // Followed into a function a function calls: the While's condition is an If whose branches both fail.
    await write(whileNode, [
      fn('cond_fn', 'StatelessIf', ['a', 'a'], ifOf('bad_then', 'bad_else')),
      fn('body_fn', 'Identity'),
      fn('bad_then', 'SmkitTestNested'),
      fn('bad_else', 'SmkitTestNested'),
    ]);
    await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /"SmkitTestNested" \(nodes "result" in function "bad_then", "result" in function "bad_else"\)/);
    // Many If nodes calling the same two functions (an AddN sums them): each function is named once, and the
    // load fails so, where before the names of the functions they call, one per call, overflowed push(...)'s
    // arguments (a RangeError out of the load) and each call listed the same node again.
    {
      const json = structuredClone(original);
      const count = 100_000;
      for (let k = 0; k < count; k++) json.modelTopology.node.push({ name: `if${k}`, op: 'StatelessIf', input: ['pred', 'dense/add'], attr: ifOf('then_fn', 'else_fn') });
      json.modelTopology.node.push({ name: 'pred', op: 'Equal', input: ['dense/add', 'dense/add'] });
      json.modelTopology.node.push({ name: 'flow', op: 'AddN', input: Array.from({ length: count }, (_, k) => `if${k}`), attr: { N: { i: String(count) } } });
      json.modelTopology.node.find((n) => n.name === 'Softmax')!.input = ['flow'];
      json.modelTopology.library = { function: [fn('then_fn', 'SmkitTestThen'), fn('else_fn', 'SmkitTestElse')] };
      await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      await rejectsWith(loadTfjsRuntime(dir, options()), 'ERR_MODEL_LOAD', /depend on ops TF\.js does not implement: "SmkitTestThen" \(node "result" in function "then_fn"\); "SmkitTestElse" \(node "result" in function "else_fn"\), so/);
    }

    // A request takes the If's then branch, and the While (its condition z != z, false) makes no turn: neither unknown op runs.
    const want = await sampleProbabilities(GRAPH_MLP);
    const servable: [Node, Fn[]][] = [
      [ifNode, [fn('then_fn', 'Identity'), fn('else_fn', 'SmkitTestElse')]],
      [whileNode, [fn('cond_fn', 'NotEqual', ['a', 'a']), fn('body_fn', 'SmkitTestBody')]],
    ];
    for (const [flow, functions] of servable) {
      await write(flow, functions);
      const got = await sampleProbabilities(dir);
      assert.deepEqual(Array.from(got.data as Float32Array), Array.from(want.data as Float32Array));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
