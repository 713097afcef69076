/**
 * Multipart files of every non-image type through the real inference thread (as `smkit serve` runs
 * them): parts cross the thread boundary as plain Uint8Arrays, and every decoder must still read them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { zipSync } from 'fflate';
import { createApp } from './app.js';
import { InferenceWorker } from './inference-worker.js';
import { createLogger } from '../logging/logger.js';
import { encodeNpy } from '../codecs/npy.js';
import { tensor } from '../core/tensor.js';

const modelDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/iris-onnx');
const log = createLogger('silent');
let backend: InferenceWorker;
let app: RequestListener;

before(async () => {
  backend = new InferenceWorker(
    new URL('./inference-thread.js', import.meta.url),
    {
      engine: { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } },
      logLevel: 'silent',
      workerIndex: 0,
    },
    1,
    log,
  );
  await backend.whenSettled();
  assert.equal(backend.state(), 'ready');
  app = createApp({ settings: { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' }, backend, log });
});
after(() => backend.close());

test('NPY, NPZ, CSV and JSON files in a multipart form decode in the inference thread (unnamed and named after the input)', async () => {
  const rows = tensor('float32', [1, 4], Float32Array.of(5.1, 3.5, 1.4, 0.2));
  const files: [string, Buffer, string][] = [
    ['rows.npy', encodeNpy(rows), 'application/x-npy'],
    ['rows.npz', Buffer.from(zipSync({ 'input.npy': new Uint8Array(encodeNpy(rows)) })), 'application/x-npz'],
    ['rows.csv', Buffer.from('5.1,3.5,1.4,0.2\n'), 'text/csv'],
    ['rows.json', Buffer.from('[[5.1,3.5,1.4,0.2]]'), 'application/json'],
  ];
  for (const [filename, data, contentType] of files) {
    for (const field of ['file', 'input']) {
      const res = await request(app).post('/invocations').attach(field, data, { filename, contentType });
      assert.equal(res.status, 200, `${filename} as "${field}": ${JSON.stringify(res.body)}`);
      assert.equal(res.body.length, 1);
      assert.equal(res.body[0].length, 3);
    }
  }
});
