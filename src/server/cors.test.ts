/**
 * `SMKIT_CORS_ALLOW_ORIGINS`: a page of an origin it names may call the server from a browser
 * (preflights answered, its answers readable); every other site is still refused, and a request
 * without an Origin (SageMaker, SDKs, curl) gets no CORS header at all.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { createApp } from './app.js';
import { IN_PROCESS_SETTINGS, loadModelInProcess } from '../../test/helpers/in-process-app.js';
import type { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';

const modelDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/iris-onnx');
const APP = 'https://app.example.com';
const ROW = '5.1,3.5,1.4,0.2';

describe('CORS for the origins SMKIT_CORS_ALLOW_ORIGINS names', () => {
  let backend: InProcessBackend;
  let app: ReturnType<typeof createApp>;
  let anyPage: ReturnType<typeof createApp>;
  let plain: ReturnType<typeof createApp>;

  before(async () => {
    backend = await loadModelInProcess(modelDir);
    const log = createLogger('silent');
    app = createApp({ settings: { ...IN_PROCESS_SETTINGS, corsAllowOrigins: [APP, 'http://localhost:3000'] }, backend, log });
    anyPage = createApp({ settings: { ...IN_PROCESS_SETTINGS, corsAllowOrigins: 'any' }, backend, log });
    plain = createApp({ settings: IN_PROCESS_SETTINGS, backend, log });
  });
  after(() => backend?.close());

  test('a preflight from an allowed origin is a 204 granting the methods and the headers asked for', async () => {
    const res = await request(app)
      .options('/invocations')
      .set('Origin', APP)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type, x-amzn-sagemaker-custom-attributes');
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, POST');
    assert.equal(res.headers['access-control-allow-headers'], 'content-type, x-amzn-sagemaker-custom-attributes');
    assert.equal(res.headers['access-control-max-age'], '600');
    assert.match(String(res.headers['vary']), /Origin/);
    assert.equal(res.headers['access-control-allow-credentials'], undefined, 'the server takes no credentials');
  });

  test('a preflight asking for a header list that is not one grants no headers', async () => {
    const res = await request(app).options('/invocations').set('Origin', APP).set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'content-type, a b');
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-headers'], undefined);
  });

  test("an allowed page's invocation is answered with headers that let it read the answer, its errors too", async () => {
    const ok = await request(app).post('/invocations').set('Origin', APP).set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Custom-Attributes', 'a=1').send(ROW);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-expose-headers'], '*');
    assert.equal(ok.headers['vary'], 'Origin');
    const bad = await request(app).post('/invocations').set('Origin', APP).set('Content-Type', 'application/x-unknown').send('x');
    assert.equal(bad.status, 415);
    assert.equal(bad.headers['access-control-allow-origin'], APP);
    const ping = await request(app).get('/ping').set('Origin', APP);
    assert.equal(ping.status, 200);
    assert.equal(ping.headers['access-control-allow-origin'], APP);
    const local = await request(app).post('/invocations').set('Origin', 'http://localhost:3000').set('Content-Type', 'text/csv').send(ROW);
    assert.equal(local.headers['access-control-allow-origin'], 'http://localhost:3000');
  });

  test('another site is still refused with 403 ERR_FOREIGN_ORIGIN, and gets no CORS grant, nor does a preflight of its', async () => {
    const res = await request(app).post('/invocations').set('Origin', 'https://evil.example').set('Content-Type', 'text/plain').send(ROW);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'ERR_FOREIGN_ORIGIN');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await request(app).options('/invocations').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  test('a page of this machine the setting does not name passes, but without CORS headers; a request without Origin gets none', async () => {
    const local = await request(app).post('/invocations').set('Origin', 'http://localhost:5173').set('Content-Type', 'text/csv').send(ROW);
    assert.equal(local.status, 200);
    assert.equal(local.headers['access-control-allow-origin'], undefined);
    const sdk = await request(app).post('/invocations').set('Content-Type', 'text/csv').send(ROW);
    assert.equal(sdk.status, 200);
    assert.equal(sdk.headers['access-control-allow-origin'], undefined);
    assert.equal(sdk.headers['vary'], undefined);
  });

  test('an OPTIONS without Access-Control-Request-Method is no preflight: the route answers it as before', async () => {
    const res = await request(app).options('/invocations').set('Origin', APP);
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'POST');
  });

  test('with * any page may call, and is answered with its own origin', async () => {
    const res = await request(anyPage).post('/invocations').set('Origin', 'https://anyone.example').set('Content-Type', 'text/csv').send(ROW);
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://anyone.example');
  });

  test('without the setting a preflight from another site is refused, as before', async () => {
    const res = await request(plain).options('/invocations').set('Origin', APP).set('Access-Control-Request-Method', 'POST');
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'ERR_FOREIGN_ORIGIN');
  });
});
