import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp } from './app.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import { checkFreeMemory, freeMemoryBytes, ModelStore } from './model-store.js';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import { tempDirForSync, type Cleanup } from '../../test/helpers/temp-dir.js';
import { keptFailed } from '../core/retrying-load.js';

const MB = 1024 * 1024;

test('a model load is refused with 507 below SMKIT_MME_MIN_FREE_MB of free memory, and allowed at it', () => {
  assert.throws(
    () => checkFreeMemory(256, 255 * MB),
    (err: unknown) => err instanceof ToolkitError && err.status === 507 && err.code === 'ERR_INSUFFICIENT_RESOURCES' && /only 255 MB of memory is free \(SMKIT_MME_MIN_FREE_MB=256\)/.test(err.message),
  );
  assert.doesNotThrow(() => checkFreeMemory(256, 256 * MB));
  assert.doesNotThrow(() => checkFreeMemory(0, 0));
});

test('free memory is what the process may still use: more than nothing, less than the machine has', () => {
  const free = freeMemoryBytes();
  assert.ok(free > 0 && free <= os.totalmem(), `${free} bytes`);
});

/** A model backend that loads when `settle` is called (at once unless told to wait), and echoes invocations with its name. */
function fakeBackend(name: string, opts: { wait?: boolean } = {}): InferenceBackend & { settle(state: BackendState): void } {
  let state: BackendState = 'loading';
  let settled!: () => void;
  const whenSettled = new Promise<void>((resolve) => (settled = resolve));
  const settle = (to: BackendState) => {
    if (state !== 'loading') return;
    state = to;
    settled();
  };
  if (!opts.wait) queueMicrotask(() => settle('ready'));
  return {
    state: () => state,
    failure: () => (state === 'failed' ? new ToolkitError('ERR_MODEL_LOAD', 'stopped') : undefined),
    describe: () => undefined,
    whenSettled: () => whenSettled,
    close: async () => settle('failed'),
    invoke: async (r) => ({ body: Buffer.from(`${name}:${r.body.toString()}`), contentType: 'text/plain' }),
    settle,
  };
}

/** A multi-model app on a {@link ModelStore} of fake backends, with model folders `a`, `b`, `c` under a temporary directory. */
function multiModelApp(t: Cleanup, isDraining = () => false) {
  const dir = tempDirForSync(t, 'smkit-mme-');
  for (const name of ['a', 'b', 'c']) mkdirSync(path.join(dir, name));
  const store = new ModelStore((name) => fakeBackend(name), 0);
  const settings = { maxPayloadMb: 6, timeoutSeconds: 5, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 5 };
  const app = createApp({ settings, models: store, log: createLogger('silent'), isDraining });
  return { app, store, url: (name: string) => path.join(dir, name) };
}

test('a load while the server drains is refused with 503 ERR_SHUTTING_DOWN (it would start a model shutdown is about to stop); unloads still go through', async (t) => {
  let draining = false;
  const { app, url } = multiModelApp(t, () => draining);
  await request(app).post('/models').send({ model_name: 'a', url: url('a') }).expect(200);
  draining = true;
  const res = await request(app).post('/models').send({ model_name: 'b', url: url('b') }).expect(503);
  assert.equal(res.body.code, 'ERR_SHUTTING_DOWN');
  assert.equal(res.headers['connection'], 'close');
  draining = false;
  assert.deepEqual((await request(app).get('/models').expect(200)).body, { models: [{ modelName: 'a', modelUrl: url('a') }] }, 'b was not loaded');
  draining = true;
  await request(app).delete('/models/a').expect(200);
});

test('an unload during a load, then a new load of the same name: the first load failing late leaves the new model loaded (it removed the entry of whichever backend held the name)', async (t) => {
  const backends: ReturnType<typeof fakeBackend>[] = [];
  const store = new ModelStore((name) => {
    const b = fakeBackend(name, { wait: backends.length === 0 });
    backends.push(b);
    return b;
  }, 0);
  const url = tempDirForSync(t, 'smkit-mme-');
  const first = store.load('a', url);
  // The unload stops the first backend; its load is still going (a thread ends its load before it stops).
  const stopFirst = backends[0]!.close;
  backends[0]!.close = async () => undefined;
  await store.unload('a');
  await store.load('a', url);
  await stopFirst();
  await assert.rejects(first, (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_MODEL_LOAD');
  assert.deepEqual(store.get('a'), { modelName: 'a', modelUrl: url }, 'the second load is still there');
  assert.equal(store.backend('a'), backends[1]);
});

test('POST /models/{name}/invoke in the spellings express routes (another case, a trailing slash) reaches the model, as GET /models/{name} does', async (t) => {
  const { app, url } = multiModelApp(t);
  await request(app).post('/models').send({ model_name: 'a', url: url('a') }).expect(200);
  for (const route of ['/models/a/invoke', '/models/a/invoke/', '/Models/a/Invoke', '/models/%61/invoke?x=1']) {
    const res = await request(app).post(route).set('Content-Type', 'text/plain').send('hi');
    assert.equal(res.status, 200, `${route}: ${res.text}`);
    assert.equal(res.text, 'a:hi', route);
  }
});

test('another method on a /models resource is 405 ERR_METHOD_NOT_ALLOWED, not 404 "no route", as on /ping and /invocations', async (t) => {
  const { app, url } = multiModelApp(t);
  await request(app).post('/models').send({ model_name: 'a', url: url('a') }).expect(200);
  for (const [method, route, allow] of [
    ['put', '/models/a', 'GET, DELETE'],
    ['post', '/models/a', 'GET, DELETE'],
    ['delete', '/models', 'GET, POST'],
    ['patch', '/models', 'GET, POST'],
    ['get', '/models/a/invoke', 'POST'],
    ['delete', '/models/a/invoke', 'POST'],
    ['post', '/PING', 'GET, HEAD'],
    ['get', '/invocations/', 'POST'],
  ] as const) {
    const res = await request(app)[method](route);
    assert.equal(res.status, 405, `${method} ${route}: ${res.text}`);
    assert.equal(res.body.code, 'ERR_METHOD_NOT_ALLOWED');
    assert.equal(res.headers['allow'], allow, `${method} ${route}: a 405 lists the methods the resource takes (RFC 9110 §15.5.6)`);
  }
  await request(app).get('/models/a/nope').expect(404);
});

test('POST /models takes any absolute directory as url (as MMS with model_store=/) but not one with a ".." segment (MMS refuses those too), which would name another directory than the modelUrl it lists', async (t) => {
  const { app, url } = multiModelApp(t);
  for (const bad of [`${url('a')}/../b`, `${url('a')}/..`, '/..']) {
    const res = await request(app).post('/models').send({ model_name: 'a', url: bad });
    assert.equal(res.status, 400, `${bad}: ${res.text}`);
    assert.equal(res.body.code, 'ERR_BAD_REQUEST');
    assert.match(res.body.message, /has a "\.\." segment: send the model directory's own path/);
  }
  await request(app).post('/models').send({ model_name: 'a', url: `${url('a')}/./` }).expect(200);
  await request(app).post('/models').send({ model_name: 'b', url: path.dirname(url('a')) }).expect(200);
});

test('a POST /models body over its 1 MB is a 413 that says so, not one telling to raise SAGEMAKER_MAX_PAYLOAD_IN_MB (the limit of invocations, which does not change it)', async (t) => {
  const { app } = multiModelApp(t);
  const body = `{"model_name": "a", "url": "${'x'.repeat(1024 * 1024)}"}`;
  const server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    // With a Content-Length (refused before reading) and chunked (refused once 1 MB has arrived).
    for (const chunked of [false, true]) {
      const answer = await new Promise<{ status: number; body: { code: string; message: string } }>((resolve, reject) => {
        const req = httpRequest({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: 'POST', path: '/models', headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': Buffer.byteLength(body) }) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(answer.status, 413, `chunked ${chunked}`);
      assert.equal(answer.body.code, 'ERR_PAYLOAD_TOO_LARGE');
      assert.equal(answer.body.message, 'POST /models takes a JSON body of at most 1 MB, {"model_name": ..., "url": ...}; this one is larger');
    }
  } finally {
    server.close();
  }
});

test('a model whose load fails for lack of memory is a 507 (SageMaker then unloads unused models and retries), ONNX Runtime\'s and TensorFlow\'s allocation failures included; another load failure is a 500, one whose model path holds memory words (OutOfMemoryNet) too', async (t) => {
  const dir = tempDirForSync(t, 'smkit-mme-');
  const failures: Record<string, string> = {
    ort: '[ErrorCode:RuntimeException] onnxruntime::BFCArena::AllocateRawInternal Failed to allocate memory for requested buffer of size 4294967296',
    tf: 'OOM when allocating tensor with shape[65536,65536] and type float on /job:localhost/replica:0/task:0/device:CPU:0',
    v8: 'Worker terminated due to reaching memory limit: JS heap out of memory',
    trt: 'cannot load ONNX model m.onnx: [virtualMemoryBuffer.cpp::resizePhysical::140] Error Code 2: OutOfMemory (no further information)',
    other: 'no such file model.onnx',
    // Memory words in the model's path are names, not what happened.
    named: 'cannot load ONNX model /opt/ml/models/OutOfMemoryNet/model/enomem.onnx: Load model from /opt/ml/models/OutOfMemoryNet/model/enomem.onnx failed:Protobuf parsing failed.',
  };
  const store = new ModelStore((name) => {
    const backend = fakeBackend(name, { wait: true });
    backend.failure = () => new ToolkitError('ERR_MODEL_LOAD', failures[name]!);
    queueMicrotask(() => backend.settle('failed'));
    return backend;
  }, 0);
  const settings = { maxPayloadMb: 6, timeoutSeconds: 5, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 5 };
  const app = createApp({ settings, models: store, log: createLogger('silent'), isDraining: () => false });
  for (const [name, status] of [['ort', 507], ['tf', 507], ['v8', 507], ['trt', 507], ['other', 500], ['named', 500]] as const) {
    const res = await request(app).post('/models').send({ model_name: name, url: dir });
    assert.equal(res.status, status, `${name}: ${res.text}`);
    assert.equal(res.body.code, status === 507 ? 'ERR_INSUFFICIENT_RESOURCES' : 'ERR_MODEL_LOAD');
  }
  assert.deepEqual((await request(app).get('/models').expect(200)).body, { models: [] });
});

test('GET /models pages by name: next_page_token is the last model of the page before, so a model unloaded between pages does not make the next page skip one', async (t) => {
  const { app, url } = multiModelApp(t);
  for (const name of ['c', 'a', 'b']) await request(app).post('/models').send({ model_name: name, url: url(name) }).expect(200);
  const first = (await request(app).get('/models?limit=2').expect(200)).body as { models: { modelName: string }[]; nextPageToken?: string };
  assert.deepEqual(first.models.map((m) => m.modelName), ['a', 'b']);
  assert.equal(typeof first.nextPageToken, 'string');
  await request(app).delete('/models/a').expect(200);
  const second = (await request(app).get(`/models?limit=2&next_page_token=${encodeURIComponent(first.nextPageToken!)}`).expect(200)).body;
  assert.deepEqual(second, { models: [{ modelName: 'c', modelUrl: url('c') }] }, 'c is still listed, and no token follows the last page');
  assert.equal((await request(app).get('/models?limit=0').expect(400)).body.code, 'ERR_BAD_REQUEST');
});

test('a multi-model invocation the runtime cannot run for lack of memory (CUDA, cuBLAS, cuDNN, TensorRT, ONNX Runtime\'s allocator) is a 507, which has SageMaker unload unused models; another runtime failure stays a 500', async (t) => {
  const dir = tempDirForSync(t, 'smkit-mme-');
  const failures: Record<string, string> = {
    oom: 'ONNX Runtime failed: Failed to allocate memory for requested buffer of size 1073741824',
    cuda: 'ONNX Runtime failed: CUDA failure 2: out of memory',
    cublas: 'ONNX Runtime failed: CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0 ; hostname=h ; expr=cublasCreate(&cublas_handle_);',
    cudnn: 'ONNX Runtime failed: CUDNN failure 4: CUDNN_STATUS_ALLOC_FAILED ; GPU=0',
    trt: 'ONNX Runtime failed: [executionContext.cpp::initializeExecutionContext::625] Error Code 2: OutOfMemory (Requested size was 20132809216 bytes.)',
    trtGpu: 'ONNX Runtime failed: Requested amount of GPU memory (57662592 bytes) could not be allocated. There may not be enough free memory for allocation to succeed.',
    shape: 'ONNX Runtime failed: Got invalid dimensions for input: x',
  };
  const store = new ModelStore((name) => ({ ...fakeBackend(name), invoke: async () => Promise.reject(new ToolkitError('ERR_PREDICT', failures[name]!)) }), 0);
  const settings = { maxPayloadMb: 6, timeoutSeconds: 5, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 5 };
  const app = createApp({ settings, models: store, log: createLogger('silent') });
  for (const name of Object.keys(failures)) {
    mkdirSync(path.join(dir, name));
    await request(app).post('/models').send({ model_name: name, url: path.join(dir, name) }).expect(200);
  }
  for (const name of ['oom', 'cuda', 'cublas', 'cudnn', 'trt', 'trtGpu']) {
    const res = await request(app).post(`/models/${name}/invoke`).set('Content-Type', 'text/plain').send('x');
    assert.equal(res.status, 507, res.text);
    assert.equal(res.body.code, 'ERR_INSUFFICIENT_RESOURCES');
    assert.ok(res.body.message.startsWith(`${failures[name]} (not enough memory for this invocation`), res.body.message);
  }
  const other = await request(app).post('/models/shape/invoke').set('Content-Type', 'text/plain').send('x');
  assert.equal(other.status, 500, other.text);
  assert.equal(other.body.code, 'ERR_PREDICT');
});

/** A multi-model app on `store`, with the model folder `a` under a temporary directory. */
function appOn(t: Cleanup, store: ModelStore) {
  const dir = tempDirForSync(t, 'smkit-mme-');
  mkdirSync(path.join(dir, 'a'));
  const settings = { maxPayloadMb: 6, timeoutSeconds: 5, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 5 };
  return { app: createApp({ settings, models: store, log: createLogger('silent'), isDraining: () => false }), url: path.join(dir, 'a') };
}

/** SageMaker's answer for a load short of memory "or other resources": 507, on which it unloads unused models and retries. */
function assertShortOfDescriptors(res: request.Response, message: RegExp): void {
  assert.equal(res.status, 507, res.text);
  assert.equal(res.body.code, 'ERR_INSUFFICIENT_RESOURCES');
  assert.match(res.body.message, message);
}

test('a load while the process has no file descriptors to spare is not started: 507 ERR_INSUFFICIENT_RESOURCES (the contract answer for a load short of other resources), and the model loads once descriptors are free', async (t) => {
  let free = false;
  let created = 0;
  const { app, url } = appOn(t, new ModelStore((name) => (created++, fakeBackend(name)), 0, undefined, () => free));
  assertShortOfDescriptors(await request(app).post('/models').send({ model_name: 'a', url }), /^model "a" cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\); retry shortly$/);
  assert.equal(created, 0, 'no backend was started');
  await request(app).get('/models/a').expect(404);
  free = true;
  await request(app).post('/models').send({ model_name: 'a', url }).expect(200);
  assert.deepEqual((await request(app).get('/models').expect(200)).body, { models: [{ modelName: 'a', modelUrl: url }] });
});

test('a load whose code could not be loaded for want of descriptors (the thread not started, or the runtime refused in it) is 507 ERR_INSUFFICIENT_RESOURCES and leaves the model unloaded: the next load loads it, not 409', async (t) => {
  const busy = new ToolkitError('ERR_SERVER_BUSY', 'ONNX Runtime (onnxruntime-node) cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly');
  let attempt = 0;
  const closed: number[] = [];
  const { app, url } = appOn(
    t,
    new ModelStore((name) => {
      const n = ++attempt;
      const b = fakeBackend(name, { wait: n < 3 });
      const close = b.close;
      b.close = async () => (closed.push(n), close());
      // 1: the backend's start rejects (the thread's code); 2: the load in the thread fails with the busy error.
      if (n === 1) return { ...b, whenSettled: () => Promise.reject(busy) };
      if (n === 2) queueMicrotask(() => b.settle('failed'));
      if (n === 2) return { ...b, failure: () => busy };
      return b;
    }, 0),
  );
  for (let i = 0; i < 2; i++) {
    assertShortOfDescriptors(await request(app).post('/models').send({ model_name: 'a', url }), /^model "a" failed to load from .*: ONNX Runtime \(onnxruntime-node\) cannot be loaded now/);
    await request(app).get('/models/a').expect(404);
  }
  assert.deepEqual(closed, [1, 2], 'each failed backend was closed');
  await request(app).post('/models').send({ model_name: 'a', url }).expect(200);
  await request(app).post('/models/a/invoke').set('Content-Type', 'text/plain').send('hi').expect(200, 'a:hi');
});

test('a load whose code Node kept failed (an import() that met EMFILE, given back failed) is a 500 saying to restart and raise ulimit -n, not a 507 to retry for ever; the model is left unloaded', async (t) => {
  const emfile = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
  const { app, url } = appOn(
    t,
    new ModelStore((name) => {
      const b = fakeBackend(name, { wait: true });
      queueMicrotask(() => b.settle('failed'));
      return { ...b, failure: () => keptFailed('ONNX Runtime (onnxruntime-node)', emfile) };
    }, 0),
  );
  const res = await request(app).post('/models').send({ model_name: 'a', url });
  assert.equal(res.status, 500, res.text);
  assert.equal(res.headers['retry-after'], undefined);
  assert.equal(res.body.code, 'ERR_MODEL_LOAD');
  assert.match(res.body.message, /^model "a" failed to load from .*: ONNX Runtime \(onnxruntime-node\) could not be loaded for want of file descriptors \(EMFILE: too many open files\).*restart the server, and raise its open files limit \(ulimit -n\)$/);
  await request(app).get('/models/a').expect(404);
});

test("POST /models with no body takes model_name and url from the query, as MMS's management API does (its docs' curl -X POST \"/models?url=...\"); with neither, a 400 that names both forms", async (t) => {
  const { app, url } = multiModelApp(t);
  const res = await request(app).post(`/models?model_name=q1&url=${encodeURIComponent(url('a'))}`);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { status: 'Model "q1" registered' });
  assert.equal((await request(app).get('/models/q1').expect(200)).body.modelUrl, url('a'));
  // The query's values are checked as a body's are.
  const bad = await request(app).post(`/models?model_name=..&url=${encodeURIComponent(url('a'))}`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /^model_name must be/);
  // So is the url: a ".." segment, a relative path, or no directory, as the body form's.
  for (const dir of [`${url('a')}/..`, 'relative/dir', '/does/not/exist']) {
    const refused = await request(app).post(`/models?model_name=q3&url=${encodeURIComponent(dir)}`);
    assert.equal(refused.status, 400, dir);
    assert.match(refused.body.message, /^url /, dir);
  }
  await request(app).get('/models/q3').expect(404);
  // A JSON body wins over the query.
  await request(app).post('/models?model_name=ignored').send({ model_name: 'q2', url: url('a') }).expect(200);
  await request(app).get('/models/ignored').expect(404);
  const neither = await request(app).post('/models');
  assert.equal(neither.status, 400);
  assert.equal(neither.body.code, 'ERR_BAD_REQUEST');
  assert.match(neither.body.message, /needs a JSON body \{"model_name": \.\.\., "url": \.\.\.\} \(or, with no body, \?model_name=\.\.\.&url=\.\.\. as MMS takes it\)/);
});
