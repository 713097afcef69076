/**
 * An invocation that reaches a worker still loading its model (another worker's `/ping` already
 * said 200) waits for the load instead of failing, within its timeout; over real HTTP, with the
 * real app and a backend whose load the test ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppSettings } from './app.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import type { InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import { until } from '../../test/helpers/until.js';

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

async function serve(backend: InferenceBackend, timeoutSeconds = 30): Promise<{ base: string; close: () => Promise<void> }> {
  const settings: AppSettings = { maxPayloadMb: 1, timeoutSeconds, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' };
  const server = http.createServer(createApp({ settings, backend, log: createLogger('silent') }));
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
