/**
 * TF.js through `smkit serve`: layers and graph models compared with direct TF.js execution, the
 * vision pipeline on a JPEG, multipart batches, and an ONNX + TF.js pipeline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { loadTfjs } from '../../src/runtimes/tfjs/backend.js';
import { fileModelHandler } from '../../src/runtimes/tfjs/model-files.js';
import { IRIS_MEAN, IRIS_STD } from '../../scripts/make-example-models.js';
import { buildDenseOnnxModel } from '../../src/runtimes/onnx/build-model.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/tfjs');
const SAMPLE = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.1, 4.4, 1.4],
  [-1, 0, 2, 9],
];
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const cleanups: (() => Promise<void> | void)[] = [];
const servers: Record<string, ServeProcess> = {};

/** Starts `smkit serve` on a temporary /opt/ml whose model/ is filled by `fill`. */
async function serve(fill: (modelDir: string) => void, env: Record<string, string> = {}): Promise<ServeProcess> {
  const base = makeOptMl();
  fill(path.join(base, 'model'));
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env });
  cleanups.push(() => server.stop(), () => removeDir(base));
  await waitForPing(server, 200, 60_000);
  return server;
}

/** What TF.js itself computes for the layers model at `modelJson`. */
async function direct(modelJson: string, rows: number[][]): Promise<number[]> {
  const { tf } = await loadTfjs('auto', quiet);
  const model = await tf.loadLayersModel(fileModelHandler(tf, modelJson));
  const out = tf.tidy(() => Array.from((model.predict(tf.tensor2d(rows)) as ReturnType<typeof tf.tensor>).dataSync()));
  model.dispose();
  return out;
}

function assertClose(actual: unknown, expected: number[], what: string): void {
  const flat = (actual as number[][]).flat();
  assert.equal(flat.length, expected.length, `${what}: ${JSON.stringify(actual)}`);
  flat.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `${what}[${i}]: ${v} vs ${expected[i]}`));
}

async function post(server: ServeProcess, body: string | Buffer | FormData, contentType?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: contentType ? { 'Content-Type': contentType, Accept: 'application/json' } : { Accept: 'application/json' } });
  return { status: res.status, json: await res.json() };
}

const solid = (r: number, g: number, b: number, width = 96, height = 80) => sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();

describe('TF.js models through smkit serve', () => {
  before(async () => {
    // Start the servers side by side: model loading dominates and overlaps well.
    const [layers, graph, vision, mixed, onnxVision] = await Promise.all([
      serve((m) => cpSync(path.join(FIXTURES, 'layers-mlp'), m, { recursive: true })),
      serve((m) => cpSync(path.join(FIXTURES, 'graph-mlp'), m, { recursive: true })),
      serve((m) => cpSync(path.join(REPO_ROOT, 'models/tfjs-image'), m, { recursive: true })),
      serve((m) => {
        cpSync(path.join(REPO_ROOT, 'models/iris-pipeline/scaler.onnx'), path.join(m, 'scaler.onnx'));
        mkdirSync(path.join(m, 'tfjs'));
        cpSync(path.join(FIXTURES, 'layers-mlp'), path.join(m, 'tfjs'), { recursive: true });
        writeFileSync(path.join(m, 'pipeline.yaml'), 'predict:\n  - model: scaler.onnx\n  - model: tfjs/model.json\n    runtime: tfjs\n');
      }),
      serve((m) => {
        // The image steps are runtime-neutral: the same colour idea as an ONNX dense layer on 2×2 pixels.
        const weights = Array.from({ length: 12 }, (_, i) => [0, 1, 2].map((k) => (i % 3 === k ? 1.5 : -0.75)));
        writeFileSync(path.join(m, 'model.onnx'), buildDenseOnnxModel({ inputName: 'pixels', outputName: 'probabilities', layers: [{ weights, bias: [0, 0, 0], activation: 'softmax' }] }));
        writeFileSync(path.join(m, 'labels.txt'), 'red\ngreen\nblue\n');
        writeFileSync(
          path.join(m, 'pipeline.yaml'),
          'preprocess:\n  - resize: { height: 2, width: 2, method: nearest }\n  - image-normalize: { preset: unit }\n  - reshape: { shape: [-1, 12] }\n' +
            'predict:\n  - model: model.onnx\npostprocess:\n  - topk: { k: 1, labels: labels.txt }\n',
        );
      }),
    ]);
    Object.assign(servers, { layers, graph, vision, mixed, onnxVision });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('/ping names the TF.js backend, and the start-up log says which was chosen', async () => {
    const ping = (await (await fetchWithTimeout(`${servers['layers']!.url}/ping`)).json()) as { runtimes: { name: string; backend: string }[] };
    assert.equal(ping.runtimes[0]?.name, 'tfjs');
    // tfjs-node is absent here, so the WASM fallback is what runs.
    assert.equal(ping.runtimes[0]?.backend, 'wasm');
    // A server holds its start-up lines for up to a second (they are written once pino loads), so
    // /ping can answer before the line is out: wait for it.
    const output = () => servers['layers']!.output();
    await until('the TF.js backend line', () => /TF\.js backend: wasm/.test(output()), { timeoutMs: 15_000, detail: output });
  });

  test('a layers model answers as direct TF.js execution does (JSON and CSV)', async () => {
    const expected = await direct(path.join(FIXTURES, 'layers-mlp/model.json'), SAMPLE);
    const json = await post(servers['layers']!, JSON.stringify(SAMPLE), 'application/json');
    assert.equal(json.status, 200, JSON.stringify(json.json));
    assertClose(json.json, expected, 'json');
    const csv = await post(servers['layers']!, SAMPLE.map((r) => r.join(',')).join('\n'), 'text/csv');
    assert.equal(csv.status, 200);
    assertClose(csv.json, expected, 'csv');
    const wrong = await post(servers['layers']!, JSON.stringify([[1, 2, 3]]), 'application/json');
    assert.equal(wrong.status, 400);
    assert.equal((wrong.json as { code: string }).code, 'ERR_INPUT_MISMATCH');
  });

  test('a graph model answers by signature name, as softmax(x·W + b) computed directly', async () => {
    const { tf } = await loadTfjs('auto', quiet);
    const model = await tf.loadGraphModel(fileModelHandler(tf, path.join(FIXTURES, 'graph-mlp/model.json')));
    const expected = tf.tidy(() => Array.from((model.execute({ x: tf.tensor2d(SAMPLE) }) as ReturnType<typeof tf.tensor>).dataSync()));
    model.dispose();
    const v2 = await post(
      servers['graph']!,
      JSON.stringify({ inputs: [{ name: 'features', shape: [3, 4], datatype: 'FP32', data: SAMPLE.flat() }] }),
      'application/json',
    );
    assert.equal(v2.status, 200, JSON.stringify(v2.json));
    const out = (v2.json as { outputs: { name: string; shape: number[]; data: number[] }[] }).outputs;
    assert.equal(out[0]?.name, 'probabilities');
    assert.deepEqual(out[0]?.shape, [3, 3]);
    assertClose([out[0]!.data], expected, 'v2');
    const bare = await post(servers['graph']!, JSON.stringify(SAMPLE), 'application/json');
    assertClose(bare.json, expected, 'bare');
  });

  test('a JPEG through the vision pipeline returns top-k labels', async () => {
    const res = await post(servers['vision']!, await solid(220, 30, 20), 'image/jpeg');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const rows = res.json as { label: string; score: number }[][];
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.map((r) => r.label).sort(), ['blue', 'green', 'red']);
    assert.equal(rows[0]![0]!.label, 'red');
    assert.ok(rows[0]![0]!.score > 0.9);
    const png = await post(servers['vision']!, await sharp(await solid(10, 40, 230)).png().toBuffer(), 'image/png');
    assert.equal((png.json as { label: string }[][])[0]![0]!.label, 'blue');
    const broken = await post(servers['vision']!, Buffer.from('not a jpeg'), 'image/jpeg');
    assert.equal(broken.status, 400);
    assert.equal((broken.json as { code: string }).code, 'ERR_IMAGE_DECODE');
  });

  test('a multipart request with two images returns two results, in order', async () => {
    const form = new FormData();
    form.append('images', new Blob([await solid(20, 200, 30)], { type: 'image/jpeg' }), 'green.jpg');
    form.append('images', new Blob([await solid(30, 20, 210)], { type: 'image/jpeg' }), 'blue.jpg');
    const res = await post(servers['vision']!, form);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const rows = res.json as { label: string; score: number }[][];
    assert.equal(rows.length, 2);
    assert.equal(rows[0]![0]!.label, 'green');
    assert.equal(rows[1]![0]!.label, 'blue');

    const mixed = new FormData();
    mixed.append('a', new Blob([await solid(1, 2, 3, 96, 80)], { type: 'image/jpeg' }), 'a.jpg');
    mixed.append('b', new Blob([await solid(1, 2, 3, 64, 64)], { type: 'image/jpeg' }), 'b.jpg');
    const refused = await post(servers['vision']!, mixed);
    assert.equal(refused.status, 400);
    assert.equal((refused.json as { code: string }).code, 'ERR_IMAGE_SIZE_MISMATCH');
  });

  test('an ONNX model and a TF.js model run in one pipeline', async () => {
    const standardised = SAMPLE.map((row) => row.map((x, i) => (x - IRIS_MEAN[i]!) / IRIS_STD[i]!));
    const expected = await direct(path.join(FIXTURES, 'layers-mlp/model.json'), standardised);
    const res = await post(servers['mixed']!, JSON.stringify(SAMPLE), 'application/json');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assertClose(res.json, expected, 'onnx → tfjs');
    const ping = (await (await fetchWithTimeout(`${servers['mixed']!.url}/ping`)).json()) as { runtimes: { name: string }[] };
    assert.deepEqual(ping.runtimes.map((r) => r.name), ['onnx', 'tfjs']);
  });

  test('the image steps work in front of an ONNX model too (multipart batch of two)', async () => {
    const form = new FormData();
    form.append('images', new Blob([await solid(230, 20, 20)], { type: 'image/jpeg' }), 'red.jpg');
    form.append('images', new Blob([await sharp(await solid(20, 220, 20)).png().toBuffer()], { type: 'image/png' }), 'green.png');
    const res = await post(servers['onnxVision']!, form);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual((res.json as { label: string }[][]).map((r) => r[0]!.label), ['red', 'green']);
  });
});
