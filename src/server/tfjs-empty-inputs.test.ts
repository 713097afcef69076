/**
 * Empty inputs through TF.js models over HTTP: zero rows (a batch dimension of 0, as NPY and v2 can
 * send) are answered with zero rows, as ONNX Runtime answers them, never a 500 from TF.js; an image
 * with no pixels is a 400, not an image the resize step makes up.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { createApp } from './app.js';
import { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';
import { encodeNpy } from '../codecs/npy.js';
import { tensor } from '../core/tensor.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const log = createLogger('silent');
const settings = { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const };

async function serve(modelDir: string): Promise<{ app: RequestListener; backend: InProcessBackend }> {
  const backend = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
    log,
  );
  await backend.loaded;
  return { app: createApp({ settings, backend, log }), backend };
}

describe('empty inputs through TF.js models', () => {
  let layers: Awaited<ReturnType<typeof serve>>;
  let vision: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    layers = await serve(path.join(repo, 'test/fixtures/tfjs/layers-mlp'));
    vision = await serve(path.join(repo, 'models/tfjs-image'));
  });
  after(async () => {
    await layers.backend.close();
    await vision.backend.close();
  });

  test('a layers model given [0, 4] answers zero rows (v2: shape [0, 3]); one row still answers one', async () => {
    const npy = await request(layers.app).post('/invocations').set('Content-Type', 'application/x-npy').send(encodeNpy(tensor('float32', [0, 4], new Float32Array(0))));
    assert.equal(npy.status, 200, JSON.stringify(npy.body));
    assert.deepEqual(npy.body, []);
    const v2 = await request(layers.app)
      .post('/invocations')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ inputs: [{ name: 'features', shape: [0, 4], datatype: 'FP32', data: [] }] }));
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    assert.equal(v2.body.outputs.length, 1);
    assert.equal(v2.body.outputs[0].shape[0], 0);
    assert.deepEqual(v2.body.outputs[0].data, []);
    const one = await request(layers.app).post('/invocations').set('Content-Type', 'text/csv').send('5.1,3.5,1.4,0.2');
    assert.equal(one.status, 200);
    assert.equal(one.body.length, 1);
  });

  test('the vision pipeline given a batch of zero images answers zero results', async () => {
    const res = await request(vision.app).post('/invocations').set('Content-Type', 'application/x-npy').send(encodeNpy(tensor('uint8', [0, 8, 8, 3], new Uint8Array(0))));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, []);
  });

  test('an image of height or width 0 is a 400 from the resize step, not a made-up image', async () => {
    for (const shape of [[0, 8, 3], [8, 0, 3], [2, 0, 8, 3]]) {
      const res = await request(vision.app).post('/invocations').set('Content-Type', 'application/x-npy').send(encodeNpy(tensor('uint8', shape, new Uint8Array(0))));
      assert.equal(res.status, 400, `${JSON.stringify(shape)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'ERR_INPUT_MISMATCH');
      assert.match(res.body.message, /nothing to resize/);
    }
  });
});
