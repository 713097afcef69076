// Loading an ONNX model file that is broken on disk: the refusal says what is wrong with the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { createRequire } from 'node:module';
import type * as ort from 'onnxruntime-node';
import { createSessionFallingBack, loadOnnxModel } from './session.js';
import { onnxProviderLibraryPresent } from '../../devices/onnx-providers.js';
import { inspectGpus } from '../../devices/gpus.js';
import { REPO_ROOT } from '../../../test/helpers/serve-process.js';
import onnxProto from 'onnx-proto';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('a model file that is a loop of links, a link to nothing, a directory, empty, a FIFO or a device is ERR_MODEL_LOAD saying so and what to do, not ONNX Runtime\'s "system error number 40"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-onnx-file-'));
  const writers: ChildProcess[] = [];
  try {
    const cases: [string, () => void, RegExp][] = [
      ['loop.onnx', () => symlinkSync('loop.onnx', path.join(dir, 'loop.onnx')), /a symbolic link that leads back to itself \(a loop of links, ELOOP\); point it at the model file$/],
      ['dangling.onnx', () => symlinkSync('/nonexistent/m.onnx', path.join(dir, 'dangling.onnx')), /a symbolic link to \/nonexistent\/m\.onnx, which does not exist; point it at the model file/],
      ['folder.onnx', () => mkdirSync(path.join(dir, 'folder.onnx')), /it is a directory, not an ONNX file; put the model file there/],
      ['empty.onnx', () => writeFileSync(path.join(dir, 'empty.onnx'), ''), /the file is empty \(0 bytes\): it was not written completely; export or copy the model again$/],
      // ONNX Runtime reads the file on the event loop: a FIFO held the process for good, /dev/zero filled its memory.
      [
        'fifo.onnx',
        () => {
          execFileSync('mkfifo', [path.join(dir, 'fifo.onnx')]);
          // A writer waiting on it: were the FIFO opened, it would read an empty file and fail, not hang the test.
          writers.push(spawn('sh', ['-c', 'exec 3>"$0"', path.join(dir, 'fifo.onnx')], { stdio: 'ignore' }));
        },
        /it is not a regular file \(a FIFO, a device or a socket\)/,
      ],
      ['zero.onnx', () => symlinkSync('/dev/zero', path.join(dir, 'zero.onnx')), /it is not a regular file \(a FIFO, a device or a socket\)/],
    ];
    for (const [name, make, why] of cases) {
      make();
      const file = path.join(dir, name);
      await assert.rejects(loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet }), (err: unknown) => {
        assert.ok(err instanceof ToolkitError && err.code === 'ERR_MODEL_LOAD', String(err));
        assert.ok(err.message.startsWith(`cannot load ONNX model ${file}: `), err.message);
        assert.match(err.message, why);
        return true;
      });
    }
  } finally {
    for (const writer of writers) writer.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a GPU execution provider that ONNX Runtime cannot start falls back to the next one, then CPU, each failure a warning; a CPU failure is the error, alone', async () => {
  const warnings: string[] = [];
  const tried: string[] = [];
  const create = (providers: readonly (string | { name: string; deviceId: number })[]) => {
    tried.push(providers.map((p) => (typeof p === 'string' ? p : `${p.name}:${p.deviceId}`)).join(','));
    return typeof providers[0] === 'string' ? Promise.resolve('session') : Promise.reject(new Error(`no ${providers[0]!.name} library`));
  };
  const got = await createSessionFallingBack(create, [{ name: 'tensorrt', deviceId: 1 }, { name: 'cuda', deviceId: 1 }, 'cpu'], (w) => warnings.push(w));
  assert.deepEqual(got, { session: 'session', label: 'cpu' });
  assert.deepEqual(tried, ['tensorrt:1,cuda:1,cpu', 'cuda:1,cpu', 'cpu']);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /could not start the tensorrt:1 execution provider \(no tensorrt library\); trying cuda:1/);
  assert.match(warnings[1]!, /could not start the cuda:1 execution provider \(no cuda library\); trying cpu/);
  // A model that fails everywhere (a broken file) is the CPU attempt's error alone, no GPU warnings.
  await assert.rejects(createSessionFallingBack((p) => Promise.reject(new Error(`bad model on ${p.length}`)), [{ name: 'cuda', deviceId: 0 }, 'cpu'], (w) => warnings.push(w)), /^Error: bad model on 1$/);
  assert.equal(warnings.length, 2);
});

test('ONNX Runtime itself, asked for CUDA where its provider library cannot load, runs the model on CPU with a warning instead of failing the load', { skip: onnxProviderLibraryPresent('cuda') && 'the CUDA provider library is installed here' }, async () => {
  const onnx = createRequire(import.meta.url)('onnxruntime-node') as typeof ort;
  const model = path.join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx');
  const create = (providers: readonly (string | { name: string; deviceId: number })[]) =>
    onnx.InferenceSession.create(model, { executionProviders: providers as ort.InferenceSession.ExecutionProviderConfig[] });
  // The binding refuses the session outright: it does not fall back by itself.
  await assert.rejects(create([{ name: 'cuda', deviceId: 0 }, 'cpu']));
  const warnings: string[] = [];
  const { session, label } = await createSessionFallingBack(create, [{ name: 'cuda', deviceId: 0 }, 'cpu'], (w) => warnings.push(w));
  try {
    assert.equal(label, 'cpu');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /could not start the cuda:0 execution provider \(.+\); trying cpu/);
    const out = await session.run({ [session.inputNames[0]!]: new onnx.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]) });
    assert.equal(Object.keys(out).length > 0, true);
  } finally {
    await session.release();
  }
});

/**
 * A scikit-learn classifier as skl2onnx exports it by default: `output_label` (int64 tensor) and
 * `output_probability`, a sequence of maps (ZipMap) from each class to its probability.
 */
function zipMapClassifier(withLabel: boolean): Uint8Array {
  const { onnx } = onnxProto;
  const tensorInfo = (name: string, elemType: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType,
          shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) }),
        }),
      }),
    });
  const mapsInfo = onnx.ValueInfoProto.create({
    name: 'output_probability',
    type: onnx.TypeProto.create({
      sequenceType: onnx.TypeProto.Sequence.create({
        elemType: onnx.TypeProto.create({ mapType: onnx.TypeProto.Map.create({ keyType: 7, valueType: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: 1 }) }) }) }),
      }),
    }),
  });
  const zipMap = onnx.NodeProto.create({
    opType: 'ZipMap',
    domain: 'ai.onnx.ml',
    input: ['probabilities'],
    output: ['output_probability'],
    name: 'zipmap',
    attribute: [onnx.AttributeProto.create({ name: 'classlabels_int64s', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1, 2] })],
  });
  const argMax = onnx.NodeProto.create({
    opType: 'ArgMax',
    input: ['probabilities'],
    output: ['output_label'],
    name: 'argmax',
    attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }), onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 })],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit-test',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 }), onnx.OperatorSetIdProto.create({ domain: 'ai.onnx.ml', version: 1 })],
    graph: onnx.GraphProto.create({
      name: 'classifier',
      node: withLabel ? [argMax, zipMap] : [zipMap],
      input: [tensorInfo('probabilities', 1, ['n', 3])],
      output: withLabel ? [tensorInfo('output_label', 7, ['n']), mapsInfo] : [mapsInfo],
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

test('an ONNX model with an output that is not a tensor (skl2onnx\'s ZipMap probabilities) answers its tensor outputs with a warning at load, instead of failing every request with "Non tensor type is temporarily not supported"; one with no tensor output is refused at load', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-onnx-zipmap-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, zipMapClassifier(true));
    const warnings: string[] = [];
    const logged: unknown[] = [];
    const log = { ...quiet, info: (o: unknown) => void logged.push(o), warn: (_: unknown, m?: string) => void warnings.push(String(m)) };
    const model = await loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log });
    try {
      assert.deepEqual(
        model.outputs.map((s) => s.name),
        ['output_label'],
      );
      // The load's log line names the outputs answered, not the one left out.
      assert.deepEqual((logged.at(-1) as { outputs: string[] }).outputs, ['output_label']);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /cannot return the model's outputs "output_probability" \(sequence or map\): they are left out of every answer \(for skl2onnx's ZipMap probabilities, export with options=\{'zipmap': False\}/);
      const out = await model.predict({ probabilities: { dtype: 'float32', shape: [2, 3], data: Float32Array.of(0.1, 0.7, 0.2, 0.6, 0.3, 0.1) } });
      assert.deepEqual(Object.keys(out), ['output_label']);
      assert.deepEqual(out['output_label']!.shape, [2]);
      assert.deepEqual(Array.from(out['output_label']!.data as BigInt64Array), [1n, 0n]);
    } finally {
      await model.dispose();
    }
    writeFileSync(file, zipMapClassifier(false));
    await assert.rejects(loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet }), {
      code: 'ERR_MODEL_LOAD',
      message: `cannot load ONNX model ${file}: onnxruntime-node cannot return any of its outputs, "output_probability" (sequence or map); export it with tensor outputs of the types smkit takes (for skl2onnx, options={'zipmap': False})`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an ONNX model with an input that is not a tensor (a sequence) is refused at load saying so, instead of loading and failing every request with "expected to be of type: 3 but received a tensor"', async () => {
  const { onnx } = onnxProto;
  const sequenceOfFloats = onnx.TypeProto.create({ sequenceType: onnx.TypeProto.Sequence.create({ elemType: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: 1 }) }) }) });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'smkit-test',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph: onnx.GraphProto.create({
      name: 'concat',
      node: [
        onnx.NodeProto.create({
          opType: 'ConcatFromSequence',
          input: ['parts'],
          output: ['joined'],
          name: 'concat',
          attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 })],
        }),
      ],
      input: [onnx.ValueInfoProto.create({ name: 'parts', type: sequenceOfFloats })],
      output: [onnx.ValueInfoProto.create({ name: 'joined', type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: 1 }) }) })],
    }),
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-onnx-sequence-input-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    await assert.rejects(loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet }), {
      code: 'ERR_MODEL_LOAD',
      message: /^cannot load ONNX model .*: onnxruntime-node cannot feed the model's inputs "parts" \(sequence or map\); export it with tensor inputs of the types smkit feeds \(bool, int8 to int64, .*for a scikit-learn DictVectorizer, vectorize before the model\)$/,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an ONNX model with an int4 or uint4 output answers its other outputs, that one left out with a warning, instead of every run ending the process with a fatal "process out of memory" in onnxruntime-node; an int4 input is refused at load', async () => {
  const { onnx } = onnxProto;
  const info = (name: string, elemType: number) =>
    onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape: onnx.TensorShapeProto.create({ dim: [{ dimParam: 'n' }] }) }) }) });
  const cast = (from: string, to: string, type: number) =>
    onnx.NodeProto.create({ opType: 'Cast', input: [from], output: [to], name: to, attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type })] });
  const model = (nodes: ReturnType<typeof cast>[], inputs: ReturnType<typeof info>[], outputs: ReturnType<typeof info>[]) =>
    onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 10,
        producerName: 'smkit-test',
        opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 21 })],
        graph: onnx.GraphProto.create({ name: 'packed', node: nodes, input: inputs, output: outputs }),
      }),
    ).finish();
  const INT4 = 22;
  const UINT4 = 21;
  const FLOAT = 1;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-onnx-int4-'));
  try {
    const file = path.join(dir, 'model.onnx');
    // x → packed (int4) → back (float32) and x → unsigned (uint4): both packed tensors are outputs.
    writeFileSync(file, model([cast('x', 'packed', INT4), cast('packed', 'back', FLOAT), cast('x', 'unsigned', UINT4)], [info('x', FLOAT)], [info('packed', INT4), info('back', FLOAT), info('unsigned', UINT4)]));
    const warnings: string[] = [];
    const loaded = await loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: { ...quiet, warn: (_: unknown, m?: string) => void warnings.push(String(m)) } });
    try {
      assert.deepEqual(
        loaded.outputs.map((s) => s.name),
        ['back'],
      );
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /cannot return the model's outputs "packed" \(int4 tensor\), "unsigned" \(uint4 tensor\): they are left out of every answer/);
      const out = await loaded.predict({ x: { dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, -3) } });
      assert.deepEqual(Object.keys(out), ['back']);
      assert.deepEqual(Array.from(out['back']!.data as Float32Array), [1, 2, -3]);
    } finally {
      await loaded.dispose();
    }
    writeFileSync(file, model([cast('x', 'y', FLOAT)], [info('x', INT4)], [info('y', FLOAT)]));
    await assert.rejects(loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet }), {
      code: 'ERR_MODEL_LOAD',
      message: /^cannot load ONNX model .*: onnxruntime-node cannot feed the model's inputs "x" \(int4 tensor\); export it with tensor inputs of the types smkit feeds/,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a GPU asked for that cannot be had is one warning for the server, from worker 0, not one per worker or per model it loads: the rest log it at debug', { skip: inspectGpus().visible.length > 0 && 'this machine has a GPU' }, async () => {
  const file = path.join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx');
  const linesOf = async (workerIndex: number) => {
    const lines: { level: string; msg: string }[] = [];
    const log = { ...quiet, warn: (_: unknown, m?: string) => void lines.push({ level: 'warn', msg: String(m) }), debug: (_: unknown, m?: string) => void lines.push({ level: 'debug', msg: String(m) }) };
    const model = await loadOnnxModel(file, { devices: ['cuda'], intraOpThreads: 1, workerIndex, log });
    await model.dispose();
    assert.equal(model.backend, 'cpu');
    return lines.filter((l) => /cuda was asked for \(SMKIT_DEVICE\) but no GPU is visible/.test(l.msg)).map((l) => l.level);
  };
  assert.deepEqual(await linesOf(0), ['warn']);
  assert.deepEqual(await linesOf(1), ['debug']);
  assert.deepEqual(await linesOf(5), ['debug']);
  // Worker 0's next model (a multi-model endpoint loads one per model, again after an eviction).
  assert.deepEqual(await linesOf(0), ['debug']);
});
