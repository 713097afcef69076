import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../logging/logger.js';
import type { ServerLogger } from '../logging/server-logger.js';
import type { InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import { until } from '../../test/helpers/until.js';
import { INLINE_BLOCKED_CHECKS, INLINE_MAX_BYTES, INLINE_MAX_BLOCK_MS, SizeRoutedBackend } from './size-routed-backend.js';
import supertest from 'supertest';
import { createApp } from './app.js';
import { EventEmitter } from 'node:events';
import { Cancellation } from '../core/cancellation.js';
import { ToolkitError } from '../errors/catalogue.js';

const log = createLogger('silent');

/** A backend that answers with its own name, so the test sees where a request went. */
function named(name: string, state: BackendState = 'ready'): InferenceBackend & { closed: boolean } {
  return {
    closed: false,
    state: () => state,
    failure: () => undefined,
    describe: () => ({ hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1, handler: name }),
    invoke: async (): Promise<InvocationResponse> => ({ body: Buffer.from(name), contentType: 'text/plain' }),
    whenSettled: async () => undefined,
    async close() {
      this.closed = true;
    },
  };
}

const request = (bytes: number, parts = false): InvocationRequest => ({ requestId: 'r', body: Buffer.alloc(bytes), headers: {}, ...(parts ? { parts: [] } : {}) });
const where = async (b: SizeRoutedBackend, r: InvocationRequest) => (await b.invoke(r, 1000)).body.toString();

/** A thread factory that counts the threads it starts. */
function countedThreads(make: () => InferenceBackend | Promise<InferenceBackend> = () => named('thread')): { thread: () => InferenceBackend | Promise<InferenceBackend>; count: () => number } {
  let n = 0;
  return {
    thread: () => {
      n++;
      return make();
    },
    count: () => n,
  };
}

/** A model-run probe for which the model's runs account for any block of the loop. */
const modelBlamed = () => Number.POSITIVE_INFINITY;

/** A probe that answers a scripted series of loop delays (0 after it), counting its calls. */
function scripted(delays: number[]): { probe: () => number; calls: () => number } {
  let calls = 0;
  return { probe: () => delays[calls++] ?? 0, calls: () => calls };
}


test('inline-capable models: small plain bodies run inline, large bodies and multipart go to the thread, which the first of them starts', async () => {
  const { thread, count } = countedThreads();
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread, log, loopDelay: () => 0 });
  await b.whenSettled();
  assert.equal(b.state(), 'ready');
  assert.equal(b.servesInline, true);
  assert.equal(await where(b, request(100)), 'inline');
  assert.equal(await where(b, request(INLINE_MAX_BYTES)), 'inline');
  assert.equal(b.threadStarted, false, 'small bodies alone never start the thread (nor load the model a second time)');
  assert.equal(count(), 0);
  // Two large bodies at once: one thread, and both wait for it.
  assert.deepEqual(await Promise.all([where(b, request(INLINE_MAX_BYTES + 1)), where(b, request(INLINE_MAX_BYTES + 1))]), ['thread', 'thread']);
  assert.equal(count(), 1);
  assert.equal(b.threadStarted, true);
  assert.equal(await where(b, request(100)), 'inline', 'small bodies still run inline');
  assert.equal(await where(b, request(10, true)), 'thread');
  await b.close();
});

test('over HTTP: small image and NPZ bodies, whose decoded size the body does not bound, go to the thread; small CSV and JSON run inline', async () => {
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay: () => 0 });
  await b.whenSettled();
  const app = createApp({ settings: { maxPayloadMb: 6, timeoutSeconds: 10, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' }, backend: b, log });
  const served = async (type: string) => (await supertest(app).post('/invocations').set('Content-Type', type).send(Buffer.alloc(100, 0x31))).text;
  for (const type of ['image/png', 'image/jpeg', 'Image/WebP; channels=1', 'application/x-npz']) assert.equal(await served(type), 'thread', type);
  for (const type of ['text/csv', 'application/json', 'application/x-npy', 'application/octet-stream']) assert.equal(await served(type), 'inline', type);
  await b.close();
});

test('a model that keeps blocking the event loop moves to the thread; a lone delay does not move it', async () => {
  const over = INLINE_MAX_BLOCK_MS + 1;
  // A lone delay, then the loop held check after check: the model moves at the last of those.
  const series = [over, 0, ...Array.from({ length: INLINE_BLOCKED_CHECKS }, () => over)];
  const { probe, calls } = scripted(series);
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay: probe, modelRuns: modelBlamed, checkEveryMs: 2 });
  await b.whenSettled();
  // The loop is watched once the inline engine is ready; the thread starts when the model moves.
  await until('the model to move to the thread', () => calls() > 0 && !b.servesInline, { timeoutMs: 30_000 });
  assert.equal(b.servesInline, false);
  await until('the thread to start', () => b.threadStarted);
  // It stopped watching at the check that moved it.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls(), series.length);
  assert.equal(await where(b, request(100)), 'thread');
  await b.close();

  // One block past the whole 2 s limit moves it at once.
  const once = scripted([0, 2 * INLINE_MAX_BLOCK_MS]);
  const c = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay: once.probe, modelRuns: modelBlamed, checkEveryMs: 2 });
  await c.whenSettled();
  await until('the model to move to the thread', () => once.calls() > 0 && !c.servesInline, { timeoutMs: 30_000 });
  assert.equal(once.calls(), 2);
  await c.close();
});

test('a loop held by something other than the model (a burst of connections accepted) does not move the model to the thread', async () => {
  // The loop held 2.3 s at every check, while the model's own runs took 1 ms.
  let checks = 0;
  const loopDelay = () => (checks++, 2300);
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay, modelRuns: () => 1, checkEveryMs: 2 });
  await b.whenSettled();
  await until('the loop to be checked many times', () => checks >= 5 * INLINE_BLOCKED_CHECKS, { timeoutMs: 30_000 });
  assert.equal(b.servesInline, true);
  assert.equal(b.threadStarted, false);
  assert.equal(await where(b, request(100)), 'inline');
  await b.close();

  // A run that itself lasted 2 s moves it at once, though the loop delay monitor saw the block a check later.
  // (The first run probe is read as watching starts, before the first check.)
  const runs = [0, 2 * INLINE_MAX_BLOCK_MS];
  const delays = [0, 2 * INLINE_MAX_BLOCK_MS];
  let run = 0;
  let check = 0;
  const c = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay: () => delays[check++] ?? 0, modelRuns: () => runs[run++] ?? 0, checkEveryMs: 2 });
  await c.whenSettled();
  await until('the model to move to the thread', () => !c.servesInline, { timeoutMs: 30_000 });
  assert.equal(check, 2, 'moved at the second check');
  await c.close();
});

test('models that must not run inline use the thread only; nothing is served before the mode is known', async () => {
  let decide!: (v: { mode: 'thread'; reason: string }) => void;
  const inline = named('inline');
  const b = new SizeRoutedBackend({ mode: new Promise((r) => (decide = r)), inline: () => inline, thread: () => named('thread'), log });
  assert.equal(b.state(), 'loading');
  await assert.rejects(b.invoke(request(1), 1000), /still loading/);
  decide({ mode: 'thread', reason: 'user code' });
  await b.whenSettled();
  assert.equal(await where(b, request(1)), 'thread');
  assert.equal(b.describe()?.handler, 'thread');
  await b.close();
});

for (const state of ['failed', 'loading'] as const) {
  test(`an inline engine ${state === 'failed' ? 'that failed to load' : 'still loading'} is what /ping reports; a large body goes to it and starts no thread`, async () => {
    const { thread, count } = countedThreads();
    const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline', state), thread, log });
    await b.whenSettled();
    assert.equal(b.state(), state);
    // The engine that /ping reports answers it (a real one refuses it, 503).
    assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'inline');
    assert.equal(count(), 0);
    await b.close();
  });
}

test('a thread whose code is still loading: the body that needs it waits for it while small ones run inline; closing first closes the thread when it comes', async () => {
  let giveThread!: (b: InferenceBackend) => void;
  const b = new SizeRoutedBackend({
    mode: Promise.resolve({ mode: 'inline', reason: 't' }),
    inline: () => named('inline'),
    thread: () => new Promise<InferenceBackend>((r) => (giveThread = r)),
    log,
    loopDelay: () => 0,
  });
  await b.whenSettled();
  assert.equal(b.state(), 'ready', '/ping follows the inline engine');
  const large = where(b, request(INLINE_MAX_BYTES + 1));
  await until('the thread to be asked for', () => giveThread !== undefined);
  assert.equal(await where(b, request(100)), 'inline', 'small bodies do not wait for the thread');
  giveThread(named('thread'));
  assert.equal(await large, 'thread');
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'thread');
  await b.close();

  let lateThread!: (b: InferenceBackend) => void;
  const c = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'thread', reason: 't' }), inline: () => named('inline'), thread: () => new Promise<InferenceBackend>((r) => (lateThread = r)), log });
  await until('the thread to be asked for', () => lateThread !== undefined);
  let closed = false;
  const closing = c.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(closed, false, 'close() waits for a thread that is still starting');
  const thread = named('thread');
  lateThread(thread);
  await closing;
  assert.equal(thread.closed, true, 'a thread that arrives after close() is closed, not leaked');
});

/** A logger that keeps each line's message. */
function recording(): { log: ServerLogger; lines: string[] } {
  const lines: string[] = [];
  const keep = (_obj: unknown, msg?: string) => void lines.push(msg ?? '');
  const logger = { debug: keep, info: keep, warn: keep, error: keep, isLevelEnabled: () => true, child: () => logger } as unknown as ServerLogger;
  return { log: logger, lines };
}

test('a thread that cannot start: the bodies that needed it run inline, and the failure is logged once', async () => {
  const { log: recordingLog, lines } = recording();
  const { thread, count } = countedThreads(() => {
    throw new Error('no threads here');
  });
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread, log: recordingLog, loopDelay: () => 0 });
  await b.whenSettled();
  assert.deepEqual(await Promise.all([where(b, request(INLINE_MAX_BYTES + 1)), where(b, request(10, true)), where(b, request(INLINE_MAX_BYTES + 1))]), ['inline', 'inline', 'inline']);
  assert.equal(count(), 1, 'one attempt');
  // Later ones run inline without waiting: no watch on their client is set up.
  const client = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
  assert.equal(await where(b, { ...request(INLINE_MAX_BYTES + 1), cancellation: new Cancellation(client) }), 'inline');
  assert.equal(client.listenerCount('close'), 0);
  assert.equal(lines.filter((l) => l.includes('could not start the inference thread')).length, 1);
  await b.close();
});

test('a thread whose code cannot be loaded now for want of file descriptors (503 ERR_SERVER_BUSY): the bodies that needed it run inline, and a later one starts it', async () => {
  const { log: recordingLog, lines } = recording();
  let busy = true;
  const { thread, count } = countedThreads(() => {
    if (busy) throw new ToolkitError('ERR_SERVER_BUSY', 'the inference thread code cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly');
    return named('thread');
  });
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread, log: recordingLog, loopDelay: () => 0 });
  await b.whenSettled();
  assert.deepEqual(await Promise.all([where(b, request(INLINE_MAX_BYTES + 1)), where(b, request(10, true))]), ['inline', 'inline']);
  assert.equal(count(), 1, 'one attempt for the requests waiting together');
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'inline', 'tried again, refused again');
  assert.equal(count(), 2);
  busy = false;
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'thread');
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'thread');
  assert.equal(count(), 3, 'started once it could be');
  assert.equal(lines.filter((l) => l.includes('could not start the inference thread now')).length, 2);
  assert.equal(lines.filter((l) => l.includes('every request of this model runs inline')).length, 0);
  await b.close();
});

test('a thread whose model load met the process short of file descriptors (503 ERR_SERVER_BUSY): the bodies that needed it run inline, that thread is closed, and a later one starts a new thread', async () => {
  const { log: recordingLog, lines } = recording();
  let busy = true;
  const started: (InferenceBackend & { closed: boolean })[] = [];
  const { thread, count } = countedThreads(() => {
    const t = busy
      ? {
          ...named('thread', 'failed'),
          failure: () => new ToolkitError('ERR_SERVER_BUSY', 'ONNX Runtime (onnxruntime-node) cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly'),
        }
      : named('thread');
    started.push(t);
    return t;
  });
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread, log: recordingLog, loopDelay: () => 0 });
  await b.whenSettled();
  assert.deepEqual(await Promise.all([where(b, request(INLINE_MAX_BYTES + 1)), where(b, request(10, true))]), ['inline', 'inline']);
  assert.equal(count(), 1, 'one thread for the requests waiting together');
  assert.equal(started[0]!.closed, true, 'the thread that could not load was closed');
  busy = false;
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'thread');
  assert.equal(await where(b, request(INLINE_MAX_BYTES + 1)), 'thread');
  assert.equal(count(), 2, 'a new thread, once');
  assert.equal(lines.filter((l) => l.includes('could not load the model now')).length, 1);
  assert.equal(lines.filter((l) => l.includes('every request of this model runs inline')).length, 0);
  await b.close();
  assert.equal(started[1]!.closed, true);
});

test("a thread whose model fails to load: the bodies that needed it run inline, and it is logged once; later ones run inline without waiting", async () => {
  const { log: recordingLog, lines } = recording();
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread', 'failed'), log: recordingLog, loopDelay: () => 0 });
  await b.whenSettled();
  assert.deepEqual(await Promise.all([where(b, request(INLINE_MAX_BYTES + 1)), where(b, request(INLINE_MAX_BYTES + 1))]), ['inline', 'inline']);
  assert.equal(await where(b, request(10, true)), 'inline');
  // A wait would watch the client (a close listener through the cancellation's signal); none is set up.
  const client = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
  assert.equal(await where(b, { ...request(INLINE_MAX_BYTES + 1), cancellation: new Cancellation(client) }), 'inline');
  assert.equal(client.listenerCount('close'), 0);
  assert.equal(lines.filter((l) => l.includes('could not load the model')).length, 1);
  await b.close();
});

test('waiting for the thread counts against the request timeout: a thread slower than it is a 504, a quicker one gets the time left', async () => {
  let giveThread: ((b: InferenceBackend) => void) | undefined;
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => new Promise<InferenceBackend>((r) => (giveThread = r)), log, loopDelay: () => 0 });
  await b.whenSettled();
  await assert.rejects(b.invoke(request(INLINE_MAX_BYTES + 1), 50), (err: Error & { code?: string }) => err.code === 'ERR_TIMEOUT' && /inference thread/.test(err.message));
  const given: number[] = [];
  const thread: InferenceBackend = { ...named('thread'), invoke: async (_r, timeoutMs) => (given.push(timeoutMs), { body: Buffer.from('thread'), contentType: 'text/plain' }) };
  const answer = b.invoke(request(INLINE_MAX_BYTES + 1), 10_000);
  // Read once invoke's synchronous part (where the backend notes its start) is over: building the
  // request's large body before it took 4.7 ms once under load, which the backend rightly did not count.
  const asked = performance.now();
  // Timers may fire up to a millisecond early by performance.now(): the wait is measured, not assumed.
  await new Promise((r) => setTimeout(r, 30));
  const waited = performance.now() - asked;
  giveThread!(thread);
  assert.equal((await answer).body.toString(), 'thread');
  assert.equal(given.length, 1);
  assert.ok(given[0]! <= 10_000 - Math.floor(waited) + 1, `the thread got the time left (${given[0]} ms after ${waited.toFixed(1)} ms)`);
  await b.close();
});

test('a client that leaves while its body waits for the thread stops waiting at once; the thread still starts for the others', { timeout: 10_000 }, async () => {
  let giveThread: ((b: InferenceBackend) => void) | undefined;
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => new Promise<InferenceBackend>((r) => (giveThread = r)), log, loopDelay: () => 0 });
  await b.whenSettled();
  const client = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
  const leaving = new Cancellation(client);
  const waiting = b.invoke({ ...request(INLINE_MAX_BYTES + 1), cancellation: leaving }, 60_000);
  const staying = b.invoke(request(INLINE_MAX_BYTES + 1), 60_000);
  await new Promise((r) => setTimeout(r, 20));
  client.destroyed = true;
  client.emit('close');
  await assert.rejects(waiting, (err: Error & { code?: string }) => err.code === 'ERR_CLIENT_GONE');
  assert.equal(client.listenerCount('close'), 1, "only the cancellation's own listener is left");
  const gone = new Cancellation();
  gone.cancel(new Error('gone before it asked'));
  await assert.rejects(b.invoke({ ...request(INLINE_MAX_BYTES + 1), cancellation: gone }, 60_000), /gone before it asked/);
  giveThread!(named('thread'));
  assert.equal((await staying).body.toString(), 'thread', 'the request that stayed runs in the thread');
  await b.close();
});

test('close() while a request waits for the thread: the thread is closed with the grace time, and no thread starts after close', async () => {
  let giveThread: ((b: InferenceBackend) => void) | undefined;
  const starting = countedThreads(() => new Promise<InferenceBackend>((r) => (giveThread = r)));
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: starting.thread, log, loopDelay: () => 0 });
  await b.whenSettled();
  const waiting = b.invoke(request(INLINE_MAX_BYTES + 1), 10_000);
  await until('the thread to be asked for', () => giveThread !== undefined);
  const thread = named('thread');
  const closing = b.close(1000);
  giveThread!(thread);
  await closing;
  assert.equal(thread.closed, true);
  assert.equal((await waiting).body.toString(), 'thread', 'the waiting request went to the thread (which answers or refuses it as it closes)');

  assert.equal(starting.count(), 1);
  const { thread: never, count } = countedThreads();
  const c = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: never, log, loopDelay: () => 0 });
  await c.whenSettled();
  await c.close();
  await c.invoke(request(INLINE_MAX_BYTES + 1), 1000);
  assert.equal(count(), 0, 'no thread started after close()');
});

test('close() stops watching the event loop', async () => {
  const { probe, calls } = scripted([]);
  const b = new SizeRoutedBackend({ mode: Promise.resolve({ mode: 'inline', reason: 't' }), inline: () => named('inline'), thread: () => named('thread'), log, loopDelay: probe, checkEveryMs: 2 });
  await b.whenSettled();
  await until('the loop to be watched', () => calls() > 0);
  await b.close();
  const after = calls();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls(), after);
});

const threadOnly = Promise.resolve({ mode: 'thread' as const, reason: 't' });
const busyError = () => new ToolkitError('ERR_SERVER_BUSY', "the inference thread's code cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly");

test('a model that runs only in the thread, whose thread cannot start: the backend settles failed with the reason (no rejection for nothing to handle), and invocations are refused with it', async () => {
  const { thread, count } = countedThreads(() => {
    throw new Error('no threads here');
  });
  const b = new SizeRoutedBackend({ mode: threadOnly, inline: () => named('inline'), thread, log });
  await b.whenSettled();
  assert.equal(b.state(), 'failed');
  assert.equal(b.failure()?.code, 'ERR_MODEL_LOAD');
  assert.match(b.failure()?.message ?? '', /inference thread could not be started: no threads here/);
  await assert.rejects(b.invoke(request(10), 1000), (err: ToolkitError) => err.code === 'ERR_NOT_READY' && /failed to load/.test(err.message));
  assert.equal(count(), 1);
  await b.close();

  // A shortage of descriptors fails it with ERR_SERVER_BUSY: a multi-model load answers 507, a single model's worker process is replaced.
  const busy = new SizeRoutedBackend({ mode: threadOnly, inline: () => named('inline'), thread: () => Promise.reject(busyError()), log });
  await busy.whenSettled();
  assert.equal(busy.state(), 'failed');
  assert.equal(busy.failure()?.code, 'ERR_SERVER_BUSY');
  await busy.close();
});

