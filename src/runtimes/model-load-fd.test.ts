/**
 * The code a model load (or an image request) loads on first use, asked for while the process has
 * no file descriptors to spare: each load answers 503 `ERR_SERVER_BUSY` without trying (Node would
 * keep a module it could not open failed for good, and TF.js would settle on a slower backend for
 * the process), and loads once descriptors are free. A multi-model endpoint meets these while it
 * serves. Run in a child process whose open files limit is low, holding every descriptor but a few.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LOAD_DESCRIPTORS } from '../core/free-descriptors.js';

const execFileAsync = promisify(execFile);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIST = new URL('../', import.meta.url).href;

/** A 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const SCRIPT = `
  import { closeSync, openSync } from 'node:fs';
  const dist = ${JSON.stringify(DIST)};
  const repo = ${JSON.stringify(REPO)};
  const m = (p) => import(new URL(p, dist).href);
  const { onnxRuntimeFactory } = await m('runtimes/onnx/factory.js');
  const { tfjsRuntimeFactory } = await m('runtimes/tfjs/factory.js');
  const { batchedRuntime } = await m('pipeline/steps/predict.js');
  const { loadDefaultSteps } = await m('pipeline/pipeline.js');
  const { readPipelineFile } = await m('pipeline/pipeline-file.js');
  const { decodeImage, decodeImageSync } = await m('codecs/image.js');
  const { createLogger } = await m('logging/logger.js');
  const log = createLogger('silent');
  const options = { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log, extra: { backend: 'cpu' } };
  const png = Buffer.from(${JSON.stringify(PNG)}, 'base64');
  const runtime = { name: 'fake', backend: 'cpu', inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }], predict: async () => ({}), dispose: async () => undefined };
  const outcome = (f) => Promise.resolve().then(f).then(() => 'loaded', (err) => err.code ?? err.message);
  const loads = {
    onnx: () => onnxRuntimeFactory.load(repo + '/models/iris-onnx/model.onnx', options),
    tfjs: async () => tfjsRuntimeFactory.load(await tfjsRuntimeFactory.detect(repo + '/models/tfjs-image'), options),
    batching: () => batchedRuntime(runtime, { batching: { maxSize: 4, maxDelayMs: 1 }, runtimeOptions: options }, 'predict'),
    stepKinds: () => loadDefaultSteps(),
    yaml: () => readPipelineFile(repo + '/models/iris-pipeline'),
    // The decoder thread (its own copy of sharp), then sharp on this thread (decodeImage, for async callers).
    decoderThread: () => decodeImageSync(png, 3, 'image/png'),
    sharp: () => decodeImage(png, 3, 'image/png'),
  };
  const held = [];
  try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
  for (const fd of held.splice(-${LOAD_DESCRIPTORS / 2})) closeSync(fd);
  const short = {};
  for (const [name, load] of Object.entries(loads)) short[name] = await outcome(load);
  for (const fd of held.splice(0)) closeSync(fd);
  const freed = {};
  for (const [name, load] of Object.entries(loads)) freed[name] = await outcome(load);
  console.log(JSON.stringify({ short, freed }));
  process.exit(0);
`;

test('runtimes, batching, step kinds, the YAML package and sharp are not loaded without file descriptors to spare: 503 ERR_SERVER_BUSY, then they load', async () => {
  // A file, not -e: a worker thread inherits --input-type=module, which its own entry file refuses.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-model-load-fd-'));
  let stdout: string;
  let stderr: string;
  try {
    writeFileSync(path.join(dir, 'loads.mjs'), SCRIPT);
    ({ stdout, stderr } = await execFileAsync('sh', ['-c', 'ulimit -n 256 && exec "$0" "$1"', process.execPath, path.join(dir, 'loads.mjs')], {
      timeout: 120_000,
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { short, freed } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { short: Record<string, string>; freed: Record<string, string> };
  const names = ['onnx', 'tfjs', 'batching', 'stepKinds', 'yaml', 'decoderThread', 'sharp'];
  assert.deepEqual(short, Object.fromEntries(names.map((n) => [n, 'ERR_SERVER_BUSY'])), stderr);
  assert.deepEqual(freed, Object.fromEntries(names.map((n) => [n, 'loaded'])), stderr);
});
