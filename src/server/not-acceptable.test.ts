/**
 * An answer the negotiated type cannot carry (top-k labels as NPY, CSV or raw bytes) is a 406 whose
 * message says once what to ask for instead.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { serveModelInProcess, type InProcessApp } from '../../test/helpers/in-process-app.js';

const modelDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/iris-pipeline');
let served: InProcessApp;
let app: RequestListener;

describe('not acceptable', () => {
  before(async () => {
    served = await serveModelInProcess(modelDir, { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' });
    app = served.app;
  });
  after(() => served?.close());

  test('labels asked for as NPY, CSV or raw bytes: 406 naming application/json once', async () => {
    for (const accept of ['application/x-npy', 'text/csv', 'application/octet-stream']) {
      const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', accept).send('5.1,3.5,1.4,0.2');
      assert.equal(res.status, 406, accept);
      assert.equal(res.body.code, 'ERR_NOT_ACCEPTABLE');
      assert.equal(res.body.message.split('ask for application/json').length, 2, `${accept}: ${res.body.message}`);
    }
  });
});
