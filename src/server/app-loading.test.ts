/**
 * An invocation that reaches a worker still loading its model (another worker's `/ping` already
 * said 200) waits for the load instead of failing, within its timeout; over real HTTP, with the
 * real app and a backend whose load the test ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppSettings, type ServerReadiness } from './app.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import type { InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import { until } from '../../test/helpers/until.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceWorker } from './inference-worker.js';
import { InProcessBackend } from './in-process-backend.js';
import type { InferenceThreadData } from './thread-protocol.js';
import { engineOptions } from '../../test/helpers/engine-options.js';

/** A backend that loads until the test calls {@link LoadingBackend.finish}; it answers only once ready, as the real ones do. */
class LoadingBackend implements InferenceBackend {
  #state: BackendState = 'loading';
  #failure: ToolkitError | undefined;
  #settle!: () => void;
  readonly #settled = new Promise<void>((resolve) => (this.#settle = resolve));
  waits = 0;
  invocations = 0;
  state() {
    return this.#state;
  }
  failure() {
    return this.#failure;
  }
  describe() {
    return { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 };
  }
  whenSettled() {
    this.waits++;
    return this.#settled;
  }
  close() {
    return Promise.resolve();
  }
  invoke(request: InvocationRequest): Promise<InvocationResponse> {
    this.invocations++;
    if (this.#state !== 'ready') return Promise.reject(new ToolkitError('ERR_NOT_READY', 'the model is still loading'));
    return Promise.resolve({ body: Buffer.from(JSON.stringify({ got: request.body.toString() })), contentType: 'application/json' });
  }
  finish(failure?: ToolkitError): void {
    this.#state = failure ? 'failed' : 'ready';
    this.#failure = failure;
    this.#settle();
  }
}

async function serve(backend: InferenceBackend, timeoutSeconds = 30, serverReadiness?: () => ServerReadiness): Promise<{ base: string; close: () => Promise<void> }> {
  const settings: AppSettings = { maxPayloadMb: 1, timeoutSeconds, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' };
  const server = http.createServer(createApp({ settings, backend, log: createLogger('silent'), serverReadiness }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const post = (base: string, body: string) =>
  fetch(`${base}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/csv' }, signal: AbortSignal.timeout(20_000) });

/** Sends an invocation; resolves once the app holds it, waiting for the load, with its answer to come. */
async function postWhileLoading(backend: LoadingBackend, base: string): Promise<{ answer: Promise<Response> }> {
  const answer = post(base, '1,2');
  await until('the invocation to wait for the load', () => backend.waits === 1, { timeoutMs: 10_000, intervalMs: 5 });
  return { answer };
}

test('an invocation that arrives while the model loads is held, then answered once the load ends; /ping still answers 503 meanwhile', async () => {
  const backend = new LoadingBackend();
  const { base, close } = await serve(backend);
  try {
    const { answer } = await postWhileLoading(backend, base);
    assert.equal(backend.invocations, 0, 'not run before the model is ready');
    const ping = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) });
    assert.equal(ping.status, 503);
    assert.equal(((await ping.json()) as { status: string }).status, 'Loading');
    backend.finish();
    const res = await answer;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { got: '1,2' });
    assert.equal(backend.invocations, 1);
  } finally {
    await close();
  }
});

test("a worker whose model is ready answers /ping 503 until every worker's is (serverReadiness), and serves invocations meanwhile; another worker's failure makes it Unhealthy", async () => {
  const backend = new LoadingBackend();
  let server: ServerReadiness = { ready: false, failure: 'worker process 1 could not load the model: out of memory' };
  const { base, close } = await serve(backend, 30, () => server);
  try {
    // Still loading itself: another's failure is what /ping says.
    const failed = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) });
    assert.equal(failed.status, 503);
    assert.deepEqual(await failed.json(), { status: 'Unhealthy', code: 'ERR_NOT_READY', message: 'worker process 1 could not load the model: out of memory' });
    server = { ready: false };
    backend.finish();
    const ping = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) });
    assert.equal(ping.status, 503);
    const body = (await ping.json()) as { status: string; code: string; message: string };
    assert.deepEqual([body.status, body.code], ['Loading', 'ERR_NOT_READY']);
    assert.match(body.message, /this worker process has loaded the model, but not every worker process has yet/);
    const res = await post(base, '3');
    assert.equal(res.status, 200, 'an invocation is not refused for another worker still loading');
    assert.deepEqual(await res.json(), { got: '3' });
    server = { ready: true };
    const ready = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) });
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { status: string }).status, 'Healthy');
  } finally {
    await close();
  }
});

test('a load that fails while an invocation waits answers it 503 ERR_NOT_READY with the reason', async () => {
  const backend = new LoadingBackend();
  const { base, close } = await serve(backend);
  try {
    const { answer } = await postWhileLoading(backend, base);
    backend.finish(new ToolkitError('ERR_MODEL_LOAD', 'model.onnx is not an ONNX model'));
    const res = await answer;
    assert.equal(res.status, 503);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_NOT_READY');
    assert.match(body.message, /failed to load: model\.onnx is not an ONNX model/);
    assert.equal(backend.invocations, 0);
  } finally {
    await close();
  }
});

test('a load that outlasts the invocation timeout: the backend answers as it would without the wait (503 ERR_NOT_READY)', async () => {
  const backend = new LoadingBackend();
  const { base, close } = await serve(backend, 0.2);
  try {
    const res = await post(base, '1,2');
    assert.equal(res.status, 503);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'ERR_NOT_READY');
    assert.match(body.message, /still loading/);
    assert.equal(backend.waits, 1, 'it waited for the load first');
  } finally {
    backend.finish();
    await close();
  }
});

/** A model directory whose handler module is `handler`. */
function handlerModel(t: { after(fn: () => unknown): void }, handler: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-load-failure-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), handler);
  return dir;
}

/** A model directory whose pipeline file runs one custom step from code/steps.mjs, which is `code`. */
function stepModel(t: { after(fn: () => unknown): void }, code: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-load-failure-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'steps.mjs'), code);
  writeFileSync(path.join(dir, 'pipeline.json'), JSON.stringify({ predict: [{ custom: { module: 'steps.mjs' } }] }));
  return dir;
}

const SECRET = 'postgres://admin:hunter2@db.internal/prod';

test("a load hook's error reaches /ping and refused invocations as its code and the hook, not its message (it may quote a secret); the message stays in the failure the log writes", async (t) => {
  const dir = handlerModel(t, `export function model_fn() { throw new Error('cannot connect to ${SECRET}'); }`);
  const engine = { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } };
  const data: InferenceThreadData = { engine, logLevel: 'silent', workerIndex: 0 };
  const thread = new InferenceWorker(new URL('./inference-thread.js', import.meta.url), data, 1, createLogger('silent'));
  t.after(() => thread.close());
  const cases: [InferenceBackend, RegExp, string?][] = [
    [thread, /^model failed to load: ERR_MODEL_LOAD: model_fn in .*inference\.mjs failed; its error is in the server log/],
    [new InProcessBackend(engineOptions(handlerModel(t, `throw new Error('${SECRET}');`)), createLogger('silent')), /ERR_HANDLER_LOAD: its top-level code in .*inference\.mjs failed; its error is in the server log/],
    [new InProcessBackend(engineOptions(stepModel(t, `throw new Error('${SECRET}');`)), createLogger('silent')), /ERR_HANDLER_LOAD: its top-level code in .*steps\.mjs failed; its error is in the server log/],
    // A syntax error: the place, not the line there (nor V8's message, which can quote an identifier).
    [new InProcessBackend(engineOptions(handlerModel(t, `export function modelFn() {}\nconst url = '${SECRET}' +;\n`)), createLogger('silent')), /^model failed to load: ERR_HANDLER_LOAD: .*inference\.mjs has a syntax error at line 2, column 58; the error and the line are in the server log/],
    [new InProcessBackend(engineOptions(stepModel(t, `export const config = { url: '${SECRET}' +};\n`)), createLogger('silent')), /ERR_HANDLER_LOAD: .*steps\.mjs has a syntax error at line 1, column 75; the error and the line are in the server log/],
    // A SyntaxError the top-level code threw (JSON.parse's message quotes the text it read).
    [new InProcessBackend(engineOptions(handlerModel(t, `JSON.parse('hunter2');`)), createLogger('silent')), /ERR_HANDLER_LOAD: its top-level code \(or a module it imports\) in .*inference\.mjs failed; its error is in the server log/, 'hunter2'],
  ];
  for (const [backend, reason, logged = SECRET] of cases) {
    await backend.whenSettled();
    assert.equal(backend.state(), 'failed');
    assert.ok(backend.failure()!.message.includes(logged), `the log of the load has the whole message: ${backend.failure()!.message}`);
    const { base, close } = await serve(backend);
    try {
      const ping = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) });
      const pingBody = (await ping.json()) as { message: string };
      assert.equal(ping.status, 503);
      assert.match(pingBody.message, reason);
      assert.ok(!pingBody.message.includes('hunter2'), pingBody.message);
      const res = await post(base, '1,2');
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 503);
      assert.equal(body.code, 'ERR_NOT_READY');
      assert.ok(!body.message.includes('hunter2'), body.message);
    } finally {
      await close();
    }
  }
  // smkit's and Node's own errors say what to fix, and quote nothing user code threw.
  for (const [handler, reason] of [
    [`import 'no-such-package-smkit';`, /Cannot find package 'no-such-package-smkit'/],
    // require() of a missing package, as a CommonJS handler calls it: MODULE_NOT_FOUND, not ERR_*.
    [`import { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('no-such-package-smkit');`, /^model failed to load: cannot load handler .*inference\.mjs: Cannot find module 'no-such-package-smkit'/],
    [`export function modelFn(modelDir, context) { return context.loadDefaultModel(); }`, /^model failed to load: modelFn in .*inference\.mjs failed: .*model/],
  ] as const) {
    const backend = new InProcessBackend(engineOptions(handlerModel(t, handler)), createLogger('silent'));
    await backend.whenSettled();
    const { base, close } = await serve(backend);
    try {
      const { message } = (await (await fetch(`${base}/ping`, { signal: AbortSignal.timeout(5000) })).json()) as { message: string };
      assert.match(message, reason);
      assert.doesNotMatch(message, /server log/);
    } finally {
      await close();
    }
  }
});

test('an invocation that waited for the load, then timed out, quotes the timeout it arrived with, not what was left of it', async (t) => {
  let open!: () => void;
  (globalThis as Record<string, unknown>)['smkitTestLoadGate'] = new Promise<void>((resolve) => (open = resolve));
  t.after(() => delete (globalThis as Record<string, unknown>)['smkitTestLoadGate']);
  const dir = handlerModel(t, 'export async function modelFn() { await globalThis.smkitTestLoadGate; return {}; }\nexport function predictFn() { return new Promise(() => {}); }\n');
  const backend = new InProcessBackend(engineOptions(dir), createLogger('silent'));
  const settled = backend.whenSettled.bind(backend);
  let waits = 0;
  // The load ends as soon as the invocation waits for it: the wait need only take some time, and
  // the rest of the load has the whole timeout to end in (a poll for the wait took a loaded machine's time).
  backend.whenSettled = () => {
    waits++;
    const loaded = settled();
    open();
    return loaded;
  };
  const { base, close } = await serve(backend, 1);
  try {
    const res = await post(base, '1,2');
    assert.equal(waits, 1, 'the invocation waited for the load');
    assert.equal(res.status, 504);
    // Before: "took longer than 0.9987... s", the time left once the load had ended.
    assert.match(((await res.json()) as { message: string }).message, /^the invocation took longer than 1 s \(SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS/);
  } finally {
    await close();
    await backend.close();
  }
});
