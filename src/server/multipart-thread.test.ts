/**
 * Multipart forms through the real inference thread (as `smkit serve` runs them): parts cross the
 * thread boundary as plain Uint8Arrays, and every decoder must still read them; files sent without
 * a Content-Type (as Python requests sends them) are recognised by their bytes.
 */
import { after, before, describe, test } from 'node:test';
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
import sharp from 'sharp';

const models = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models');
const log = createLogger('silent');
const backends: InferenceWorker[] = [];
let app: RequestListener;
let vision: RequestListener;

/** createApp in front of a real inference thread serving `models/<name>`. */
async function serve(name: string): Promise<RequestListener> {
  const modelDir = path.join(models, name);
  const backend = new InferenceWorker(
    new URL('./inference-thread.js', import.meta.url),
    {
      engine: { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } },
      logLevel: 'silent',
      workerIndex: 0,
    },
    1,
    log,
  );
  backends.push(backend);
  await backend.whenSettled();
  assert.equal(backend.state(), 'ready');
  return createApp({ settings: { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' }, backend, log });
}

describe('multipart thread', () => {
  before(async () => {
    [app, vision] = await Promise.all([serve('iris-onnx'), serve('tfjs-image')]);
  });
  after(() => Promise.all(backends.map((b) => b.close())));

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

  test('a file part without a Content-Type (Python requests files=) is read by its bytes: an image decodes, anything else is a 415 saying so', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toBuffer();
    const form = (field: string, filename: string, data: Buffer) =>
      Buffer.from(`--b0\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n\r\n${data.toString('latin1')}\r\n--b0--\r\n`, 'latin1');
    for (const field of ['image', 'file']) {
      const res = await request(vision).post('/invocations').set('Content-Type', 'multipart/form-data; boundary=b0').send(form(field, 'red.png', png));
      assert.equal(res.status, 200, `${field}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.length, 1);
      assert.equal(res.body[0][0].label, 'red');
    }
    const csv = await request(app).post('/invocations').set('Content-Type', 'multipart/form-data; boundary=b0').send(form('file', 'rows.csv', Buffer.from('5.1,3.5,1.4,0.2')));
    assert.equal(csv.status, 415, JSON.stringify(csv.body));
    assert.match(csv.body.message, /has no recognisable type \(text\/plain, what a part without a Content-Type is\): send it with a Content-Type/);
  });

  test('text fields named after the input are read as JSON in any form (TF Serving, v2), and other fields as parameters', async () => {
    for (const value of ['[[5.1,3.5,1.4,0.2]]', '{"instances": [[5.1, 3.5, 1.4, 0.2]]}', '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}']) {
      const res = await request(app).post('/invocations').field('input', value).field('note', 'x');
      assert.equal(res.status, 200, `${value}: ${JSON.stringify(res.body)}`);
      const rows = (res.body.predictions ?? res.body.outputs?.[0]?.data ?? res.body) as unknown[];
      assert.ok(rows.length === 1 || rows.length === 3, `${value}: ${JSON.stringify(res.body)}`);
    }
  });
});
