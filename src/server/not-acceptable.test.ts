/**
 * An answer the negotiated type cannot carry (top-k labels as NPY, CSV or raw bytes) is a 406 whose
 * message says once what to ask for instead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { createApp } from './app.js';
import { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';

const modelDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/iris-pipeline');
const log = createLogger('silent');
let backend: InProcessBackend;
let app: RequestListener;

before(async () => {
  backend = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
    log,
  );
  await backend.loaded;
  app = createApp({ settings: { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' }, backend, log });
});
after(() => backend.close());

test('labels asked for as NPY, CSV or raw bytes: 406 naming application/json once', async () => {
  for (const accept of ['application/x-npy', 'text/csv', 'application/octet-stream']) {
    const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', accept).send('5.1,3.5,1.4,0.2');
    assert.equal(res.status, 406, accept);
    assert.equal(res.body.code, 'ERR_NOT_ACCEPTABLE');
    assert.equal(res.body.message.split('ask for application/json').length, 2, `${accept}: ${res.body.message}`);
  }
});
