import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { createApp } from './app.js';
import { InProcessBackend } from './in-process-backend.js';
import { createLogger } from '../logging/logger.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const modelDir = path.join(repo, 'models/iris-onnx');
const log = createLogger('silent');
const settings = { maxPayloadMb: 0.01, timeoutSeconds: 5, debug: false, maxConcurrentTransforms: 3, batchStrategy: 'SINGLE_RECORD' as const, bodyTimeoutSeconds: 30 };

describe('the HTTP front (supertest, in-process engine on the iris model)', () => {
  let backend: InProcessBackend;
  let draining = false;
  let leaving: string | undefined;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    backend = new InProcessBackend(
      { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
      log,
    );
    app = createApp({ settings, backend, log, isDraining: () => draining, leavingReason: () => leaving });
  });
  after(() => backend.close());

  test('/ping is 503 while loading, then 200', async () => {
    const early = await request(app).get('/ping');
    assert.ok(early.status === 503 || early.status === 200);
    if (early.status === 503) assert.equal(early.body.status, 'Loading');
    await backend.loaded;
    const ready = await request(app).get('/ping').expect(200);
    assert.equal(ready.body.status, 'Healthy');
  });

  test('an invocation round trip with Custom-Attributes passing through untouched when user code sets none', async () => {
    const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', 'text/csv').send('5.1,3.5,1.4,0.2\n').expect(200);
    assert.equal(res.headers['content-type'], 'text/csv');
    assert.equal(res.headers['x-amzn-sagemaker-custom-attributes'], undefined);
    const values = res.text.trim().split(',').map(Number);
    assert.equal(values.length, 3);
    assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  });

  test('a whole answer gets its headers in one writeHead, Content-Type first, Content-Length after', async () => {
    // res.setHeader per header validated, lower-cased and stored each before node:http walked them
    // again: a few thousand instructions per one-row request (docs/benchmarks.md).
    const original = ServerResponse.prototype.setHeader;
    let set = 0;
    ServerResponse.prototype.setHeader = function (this: ServerResponse, ...args: Parameters<ServerResponse['setHeader']>) {
      set++;
      return original.apply(this, args);
    };
    try {
      const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', 'text/csv').send('5.1,3.5,1.4,0.2\n').expect(200);
      const raw = (res as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
      assert.deepEqual(raw.slice(0, 4), ['Content-Type', 'text/csv', 'Content-Length', String(res.text.length)]);
    } finally {
      ServerResponse.prototype.setHeader = original;
    }
    assert.equal(set, 0);
  });

  test('a small answer leaves in one socket write, not a writev of the answer and an empty end chunk', async () => {
    // end(chunk) queued an empty chunk behind the answer on the corked socket: one writev of two
    // per answer, some 6 700 instructions more than a write (docs/benchmarks.md).
    const proto = Socket.prototype as unknown as { _writev: (...args: unknown[]) => unknown; _write: (...args: unknown[]) => unknown };
    const [writev, write] = [proto._writev, proto._write];
    const counts = { writev: 0, write: 0 };
    proto._writev = function (this: Socket & { server?: unknown }, ...args: unknown[]) {
      if (this.server) counts.writev++;
      return writev.apply(this, args);
    };
    proto._write = function (this: Socket & { server?: unknown }, ...args: unknown[]) {
      if (this.server) counts.write++;
      return write.apply(this, args);
    };
    try {
      const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', 'application/json').send('5.1,3.5,1.4,0.2\n').expect(200);
      assert.equal(res.text.length, Number(res.headers['content-length']));
    } finally {
      [proto._writev, proto._write] = [writev, write];
    }
    assert.deepEqual(counts, { writev: 0, write: 1 });
  });

  test('an Accept that ranks JSON below everything else (application/json;q=0.1, */*) is answered in another type', async () => {
    const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').set('Accept', 'application/json;q=0.1, */*').send('5.1,3.5,1.4,0.2\n').expect(200);
    assert.notEqual(res.headers['content-type'], 'application/json');
  });

  test('POST /invocations in the spellings express routes (another case, a trailing slash) is an invocation', async () => {
    for (const route of ['/invocations/', '/Invocations', '/INVOCATIONS/?x=1']) {
      const res = await request(app).post(route).set('Content-Type', 'text/csv').set('Accept', 'text/csv').send('5.1,3.5,1.4,0.2\n');
      assert.equal(res.status, 200, `${route}: ${res.text}`);
      assert.equal(res.text.trim().split(',').length, 3, route);
    }
  });

  test('GET /ping in the spellings express routes is a ping, not a 405', async () => {
    await backend.loaded;
    for (const route of ['/ping/', '/Ping', '/PING/?x=1']) {
      const res = await request(app).get(route);
      assert.equal(res.status, 200, `${route}: ${res.text}`);
      assert.equal(res.body.status, 'Healthy', route);
    }
  });

  test('a body over SAGEMAKER_MAX_PAYLOAD_IN_MB is 413 and names the setting', async () => {
    const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').send('1,2,3,4\n'.repeat(2000)).expect(413);
    assert.equal(res.body.code, 'ERR_PAYLOAD_TOO_LARGE');
    assert.match(res.body.message, /SAGEMAKER_MAX_PAYLOAD_IN_MB/);
  });

  test('/execution-parameters mirrors the settings', async () => {
    const res = await request(app).get('/execution-parameters').expect(200);
    assert.deepEqual(res.body, { MaxConcurrentTransforms: 3, BatchStrategy: 'SINGLE_RECORD', MaxPayloadInMB: 0.01 });
  });

  test('while draining, /ping and /invocations answer 503 and ask the client to close', async () => {
    draining = true;
    try {
      const ping = await request(app).get('/ping').expect(503);
      assert.deepEqual(ping.body, { status: 'ShuttingDown', code: 'ERR_SHUTTING_DOWN', message: 'the server is shutting down (SIGTERM)' });
      assert.equal(ping.headers['connection'], 'close');
      const res = await request(app).post('/invocations').set('Content-Type', 'text/csv').send('5.1,3.5,1.4,0.2').expect(503);
      assert.equal(res.body.code, 'ERR_SHUTTING_DOWN');
      assert.equal(res.body.message, 'the server is shutting down (SIGTERM); retry on another instance');
      assert.equal(res.headers['connection'], 'close');
    } finally {
      draining = false;
    }
  });

  test('a worker process leaving on its own (no SIGTERM) answers the same 503s, saying why it leaves and that a retry is served', async () => {
    draining = true;
    leaving = 'its model could not be loaded again after its inference thread ended';
    try {
      const ping = await request(app).get('/ping').expect(503);
      assert.equal(ping.headers['connection'], 'close');
      assert.deepEqual(Object.keys(ping.body), ['status', 'code', 'message']);
      assert.equal(ping.body.status, 'ShuttingDown');
      assert.equal(ping.body.code, 'ERR_SHUTTING_DOWN');
      assert.doesNotMatch(ping.body.message, /SIGTERM/);
      assert.match(ping.body.message, /^this worker process is leaving \(its model could not be loaded again after its inference thread ended\); retry: another worker process serves/);
      // The native path and express's (another spelling of the route) refuse alike.
      for (const route of ['/invocations', '/Invocations/']) {
        const res = await request(app).post(route).set('Content-Type', 'text/csv').send('5.1,3.5,1.4,0.2').expect(503);
        assert.equal(res.body.code, 'ERR_SHUTTING_DOWN', route);
        assert.equal(res.headers['connection'], 'close', route);
        assert.doesNotMatch(res.body.message, /SIGTERM/, route);
        assert.match(res.body.message, /^this worker process is leaving \(its model could not be loaded again/, route);
      }
    } finally {
      draining = false;
      leaving = undefined;
    }
  });
});
