import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceEngine } from './engine.js';
import { RuntimeRegistry } from '../runtimes/registry.js';
import { createDefaultCodecs } from '../codecs/defaults.js';
import { createDefaultSteps } from '../pipeline/default-steps.js';
import { encodeNpy } from '../codecs/npy.js';
import { UNNAMED, tensor, type DType, type Tensor } from '../core/tensor.js';
import { createLogger } from '../logging/logger.js';
import { engineOptions } from '../../test/helpers/engine-options.js';

const log = createLogger('silent');
const dirs: string[] = [];
describe('engine decode hints', () => {
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A model directory holding `model.probe` and the given extra files. */
  function modelDir(files: Record<string, string> = {}): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'smkit-hints-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'model.probe'), '');
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return dir;
  }

  /** Runtimes with one: a model whose input `x` takes `dtype`, which records what it is fed and answers it as `y`. */
  function probeRuntimes(dtype: DType, fed: Tensor[]): RuntimeRegistry {
    return new RuntimeRegistry().register({
      name: 'probe',
      detect: async (where) => {
        const file = where.endsWith('.probe') ? where : path.join(where, 'model.probe');
        return existsSync(file) ? file : undefined;
      },
      load: async () => ({
        name: 'probe',
        backend: 'cpu',
        inputs: [{ name: 'x', dtype, shape: [-1, 2] }],
        outputs: [{ name: 'y', dtype, shape: [-1, 2] }],
        predict: async (inputs) => {
          const t = inputs[UNNAMED] ?? inputs['x']!;
          fed.push(t);
          return { y: t };
        },
        dispose: async () => undefined,
      }),
    });
  }

  async function engineFor(dir: string, dtype: DType, fed: Tensor[]): Promise<InferenceEngine> {
    return InferenceEngine.load(engineOptions(dir, { registries: { codecs: createDefaultCodecs(), runtimes: probeRuntimes(dtype, fed), steps: createDefaultSteps() } }));
  }

  const invoke = async (engine: InferenceEngine, body: string | Buffer, contentType: string): Promise<unknown> => {
    const answer = await engine.invoke({ requestId: 'r', body: Buffer.isBuffer(body) ? body : Buffer.from(body), contentType, headers: {} }, log);
    return JSON.parse(answer.body.toString('utf8'));
  };

  const ROW = [0.1, 16777217];
  const BODIES: [string, string | Buffer, string][] = [
    ['CSV', '0.1,16777217\n', 'text/csv'],
    ['bare JSON', '[[0.1, 16777217]]', 'application/json'],
    ['TF Serving instances', '{"instances": [[0.1, 16777217]]}', 'application/json'],
    ['TF Serving inputs by name (general JSON path)', '{"inputs": {"x": [[0.1, 16777217]]}}', 'application/json'],
    ['v2 FP64', '{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 16777217]}]}', 'application/json'],
    ['JSON lines', '[0.1, 16777217]\n', 'application/jsonlines'],
    ['NPY float64', encodeNpy(tensor('float64', [1, 2], Float64Array.from(ROW))), 'application/x-npy'],
  ];

  test('a float32 model without user code is fed float32 from every form, each value rounded once from the number sent', async () => {
    const fed: Tensor[] = [];
    const engine = await engineFor(modelDir(), 'float32', fed);
    try {
      for (const [form, body, type] of BODIES) {
        fed.length = 0;
        await invoke(engine, body, type);
        assert.equal(fed.length, 1, form);
        assert.equal(fed[0]!.dtype, 'float32', `${form}: one dtype for every form, so the requests can share a batch`);
        assert.deepEqual(Array.from(fed[0]!.data as Float32Array), ROW.map(Math.fround), form);
      }
    } finally {
      await engine.dispose();
    }
  });

  test('a finite number beyond float32 keeps float64 to the model, whose conversion then reports it', async () => {
    const fed: Tensor[] = [];
    const engine = await engineFor(modelDir(), 'float32', fed);
    try {
      for (const [body, type] of [
        ['3.5e38,1\n', 'text/csv'],
        ['[[3.5e38, 1]]', 'application/json'],
        ['{"inputs": {"x": [[3.5e38, 1]]}}', 'application/json'],
        ['[1, 2]\n[3.5e38, 1]\n', 'application/jsonlines'],
      ] as const) {
        fed.length = 0;
        await invoke(engine, body, type);
        assert.equal(fed[0]!.dtype, 'float64', body);
        assert.ok((fed[0]!.data as Float64Array).includes(3.5e38), body);
      }
      // Infinity itself is a float32 value.
      fed.length = 0;
      await invoke(engine, 'inf,-1\n', 'text/csv');
      assert.equal(fed[0]!.dtype, 'float32');
      assert.deepEqual(Array.from(fed[0]!.data as Float32Array), [Infinity, -1]);
    } finally {
      await engine.dispose();
    }
  });

  test('user code that sees the decoded request (predictFn, a custom step) still gets float64, and so does a model that takes other dtypes', async () => {
    const cases: { files: Record<string, string>; dtype: DType; answer: unknown; fedAs?: DType }[] = [
      { files: { 'code/inference.mjs': 'export function predictFn(input) { return { seen: input.tensors[""].dtype }; }\n' }, dtype: 'float32', answer: { seen: 'float64' } },
      {
        files: {
          'pipeline.yaml': 'version: 1\npredict:\n  - model: model.probe\n    runtime: probe\npostprocess:\n  - custom: { module: steps.mjs }\n',
          'code/steps.mjs': 'export default function (data) { return { seen: data.request.tensors[""].dtype }; }\n',
        },
        dtype: 'float32',
        answer: { seen: 'float64' },
        fedAs: 'float64',
      },
      { files: {}, dtype: 'float64', answer: [[0.1, 16777217]], fedAs: 'float64' },
      { files: {}, dtype: 'int32', answer: [[0.1, 16777217]], fedAs: 'float64' },
    ];
    for (const { files, dtype, answer, fedAs } of cases) {
      const fed: Tensor[] = [];
      const engine = await engineFor(modelDir(files), dtype, fed);
      try {
        assert.deepEqual(await invoke(engine, '0.1,16777217\n', 'text/csv'), answer, JSON.stringify(files));
        if (fedAs) assert.equal(fed[0]!.dtype, fedAs, JSON.stringify(files));
      } finally {
        await engine.dispose();
      }
    }
  });
});
