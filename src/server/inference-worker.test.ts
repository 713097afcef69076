import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ABANDONED_MAX, InferenceWorker } from './inference-worker.js';
import { loadFailureReason } from './load-failure.js';
import { createLogger } from '../logging/logger.js';
import type { InferenceThreadData } from './thread-protocol.js';
import request from 'supertest';
import { createApp } from './app.js';
import { loadModelInProcess } from '../../test/helpers/in-process-app.js';
import type { ServerLogger } from '../logging/server-logger.js';
import { until } from '../../test/helpers/until.js';
import { Cancellation, clientGoneError } from '../core/cancellation.js';

/**
 * A stand-in inference thread whose model load is synchronous work, as ONNX Runtime's native
 * session set-up is: it cannot answer a message until the load is over. The load writes
 * `<workerData.gate>.loading` and goes on until the file `workerData.gate` exists (a minute at most).
 */
const SLOW_LOADING_THREAD = `
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync, writeFileSync } from 'node:fs';
parentPort.on('message', (msg) => { if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' }); });
writeFileSync(workerData.gate + '.loading', '');
const until = Date.now() + 60_000;
while (!existsSync(workerData.gate) && Date.now() < until);
parentPort.postMessage({ type: 'ready', loadMs: 400, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
`;

test('stopping a thread that is loading its model lets the load end first (terminating mid-load can abort the process)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-slow-thread-'));
  const gate = path.join(dir, 'gate');
  // Opened before the folder goes (after hooks run in order), should the test fail before it does.
  t.after(() => writeFileSync(gate, ''));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, SLOW_LOADING_THREAD);
  const worker = new InferenceWorker(pathToFileURL(file), { gate } as unknown as InferenceThreadData, 1, createLogger('silent'));
  // The load ends when the test says: a fixed 400 ms load, checked 50 ms in, could be over before a
  // loaded machine woke this thread for the check.
  await until('the thread to start its load', () => existsSync(`${gate}.loading`), { timeoutMs: 30_000 });
  assert.equal(worker.state(), 'loading');
  const closing = worker.close();
  // The load goes on past the 200 ms after which close() used to give up on the flush (any delay here only lengthens it).
  await new Promise((r) => setTimeout(r, 400));
  writeFileSync(gate, '');
  await closing;
  // Without the wait, close() gave up on the flush after 200 ms and terminated the thread mid-load.
  assert.equal(worker.state(), 'ready', 'the load finished before the thread was stopped');
});

/**
 * A stand-in inference thread whose invocations are 600 ms of synchronous work, as an ONNX
 * Runtime run is; it notes in DONE_FILE that the run ended before it answers.
 */
const SLOW_RUNNING_THREAD = `
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync, writeFileSync } from 'node:fs';
parentPort.on('message', (msg) => {
  if (msg.type === 'flush') return parentPort.postMessage({ type: 'flushed' });
  if (msg.type === 'ping') return parentPort.postMessage({ type: 'pong', id: msg.id });
  if (msg.type !== 'invoke') return;
  // The run ends when the test opens the gate. It waits without blocking the thread: a 600 ms
  // synchronous run took past the second a timed-out call gives the thread to answer its ping on a
  // loaded machine, and the thread was replaced as blocked mid-run (1 in 6 runs of the file under load).
  const poll = () => {
    if (!existsSync(workerData.gate)) return void setTimeout(poll, 10);
    writeFileSync(workerData.doneFile, 'done');
    const body = new Uint8Array([123, 125]);
    parentPort.postMessage({ type: 'result', id: msg.id, response: { contentType: 'application/json', body } }, [body.buffer]);
  };
  poll();
});
parentPort.postMessage({ type: 'ready', loadMs: 1, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
`;

test('stopping a thread waits for a run whose request was answered without it (stopping mid-run can abort the process)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-slow-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  const doneFile = path.join(dir, 'done');
  const gate = path.join(dir, 'gate');
  writeFileSync(file, SLOW_RUNNING_THREAD);
  const worker = new InferenceWorker(pathToFileURL(file), { doneFile, gate } as unknown as InferenceThreadData, 1, createLogger('silent'));
  await worker.whenSettled();
  assert.equal(worker.state(), 'ready');
  const answered = worker.invoke({ requestId: 'r1', body: Buffer.from('1'), headers: {} }, 100);
  await assert.rejects(answered, (err: Error & { code?: string }) => err.code === 'ERR_TIMEOUT');
  // The thread is still inside its run: close() lets it end before stopping the thread.
  const closing = worker.close(25_000);
  // Opened past the 200 ms close() gives the thread's log flush, which the waiting thread answers:
  // a close() that did not wait for the run would have stopped the thread by then (any delay here only lengthens the run).
  await new Promise((r) => setTimeout(r, 400));
  writeFileSync(gate, '');
  await closing;
  assert.ok(existsSync(doneFile), 'the thread was stopped in the middle of a run');
});

/** A stand-in inference thread whose handler module throws from a timer while the model loads. */
const ENDS_WHILE_LOADING_THREAD = `
import { parentPort, workerData } from 'node:worker_threads';
import { appendFileSync } from 'node:fs';
parentPort.on('message', (msg) => { if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' }); });
appendFileSync(workerData.startsFile, 'x');
if (workerData.exit) process.exit(3);
setTimeout(() => { throw new Error('bucket not found'); }, 0);
`;

test('a thread that ends while it loads the model (process.exit, an uncaught error) fails the load with the reason, once: no restart loop', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-ends-loading-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, ENDS_WHILE_LOADING_THREAD);
  for (const [exit, reason] of [
    [false, /an uncaught error: bucket not found/],
    [true, /process\.exit\(3\) was called/],
  ] as const) {
    const startsFile = path.join(dir, `starts-${exit}`);
    const worker = new InferenceWorker(pathToFileURL(file), { startsFile, exit } as unknown as InferenceThreadData, 1, createLogger('silent'));
    t.after(() => worker.close());
    await worker.whenSettled();
    assert.equal(worker.state(), 'failed');
    assert.equal(worker.failure()?.code, 'ERR_MODEL_LOAD');
    assert.match(worker.failure()!.message, reason);
    assert.match(worker.failure()!.message, /modelFn/);
    // What the uncaught error said is for the log: clients are told the code and where to look.
    await assert.rejects(worker.invoke({ requestId: 'r', body: Buffer.from('{}'), headers: {} }, 1000), (err: Error & { code?: string }) => err.code === 'ERR_NOT_READY' && !err.message.includes('bucket not found'));
    await worker.close();
    assert.equal(readFileSync(startsFile, 'utf8'), 'x', 'the thread was started once, not again and again');
  }
});

test('a predictFn that never settles holds nothing per request once the requests time out (thread and HTTP side)', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-hung-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), 'export function modelFn() { return {}; }\nexport function predictFn() { return new Promise(() => {}); }\n');
  const data: InferenceThreadData = {
    engine: { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } },
    logLevel: 'silent',
    workerIndex: 0,
  };
  const calls = ABANDONED_MAX + 36;
  // On a loaded machine (load average 45-60) the thread may not answer a ping within the second the
  // worker gives it: threadHeld() was then undefined, and the test failed. It is asked again until
  // it answers. A timed-out call pings the thread too, and one left unanswered replaces the thread
  // (as a blocked one), whose successor holds nothing whatever the old one did: a round in which
  // that happened tells nothing and is run again (three rounds at most).
  for (let round = 1; ; round++) {
    let replaced = false;
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (...args: unknown[]) => void (replaced ||= args.some((a) => typeof a === 'string' && a.includes('replacing it'))) };
    const worker = new InferenceWorker(new URL('./inference-thread.js', import.meta.url), data, calls, log);
    t.after(() => worker.close());
    await worker.whenSettled();
    assert.equal(worker.state(), 'ready', worker.failure()?.message);
    const answers = Array.from({ length: calls }, (_, i) => worker.invoke({ requestId: `r${i}`, body: Buffer.from('[[1]]'), contentType: 'application/json', headers: {} }, 30));
    const settled = await Promise.allSettled(answers);
    assert.deepEqual(new Set(settled.map((s) => s.status === 'rejected' && (s.reason as { code?: string }).code)), new Set(['ERR_TIMEOUT']));
    const threadHeld = await until('the thread to answer a ping', () => worker.threadHeld().then((n) => (n === undefined ? undefined : { n })), { timeoutMs: 60_000 });
    if (replaced && round < 3) {
      await worker.close();
      continue;
    }
    assert.equal(replaced, false, 'the thread was replaced as blocked in three rounds in a row');
    // Before: the thread kept each call's Cancellation until user code settled, and this side each id.
    assert.equal(threadHeld.n, 0, 'the thread let go of the timed-out calls');
    assert.ok(worker.held <= ABANDONED_MAX, `this side holds ${worker.held} of ${calls} timed-out calls`);
    return;
  }
});

/** A stand-in inference thread that loads, then ends (as a timer the handler module set would end it), every time. */
const ENDS_AFTER_LOAD_THREAD = `
import { parentPort } from 'node:worker_threads';
parentPort.on('message', (msg) => { if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' }); });
parentPort.postMessage({ type: 'ready', loadMs: 1, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
setImmediate(() => process.exit(3));
`;

test('a thread that ends after every load is replaced after 0.1 s, then 0.2 s, 0.4 s...: not reloaded back to back for good', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-ends-after-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, ENDS_AFTER_LOAD_THREAD);
  const delays: unknown[] = [];
  let third: () => void;
  const thirdExit = new Promise<void>((resolve) => (third = resolve));
  const record = (obj: object | string) => {
    if (typeof obj === 'object' && 'restartInMs' in obj && delays.push(obj.restartInMs) === 3) third();
  };
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: record };
  const worker = new InferenceWorker(pathToFileURL(file), {} as InferenceThreadData, 1, log);
  await thirdExit;
  assert.deepEqual(delays, [100, 200, 400]);
  assert.equal(worker.state(), 'loading', '/ping says loading while the replacement waits');
  // Stopping while the replacement waits neither starts it nor waits for a load that is not under way.
  await worker.close();
  assert.equal(delays.length, 3);
});

/**
 * A stand-in inference thread that counts its starts in `workerData.starts`: the first four end
 * after their load (so the replacements are spaced out more each time), the fifth ends when told a
 * request timed out (as one whose ctx.signal listener throws does), before it answers the ping that follows.
 */
const ENDS_ON_CANCEL_THREAD = `
import { parentPort, workerData } from 'node:worker_threads';
import { appendFileSync, readFileSync } from 'node:fs';
appendFileSync(workerData.starts, 'x');
const start = readFileSync(workerData.starts, 'utf8').length;
parentPort.on('message', (msg) => {
  if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' });
  if (msg.type === 'cancel') process.exit(3);
  if (msg.type === 'ping') parentPort.postMessage({ type: 'pong', id: msg.id, running: 0 });
});
parentPort.postMessage({ type: 'ready', loadMs: 1, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
if (start <= 4) setImmediate(() => process.exit(3));
`;

test('a thread that ends as a request times out, while its replacement is 1.6 s away, is replaced once: its unanswered liveness ping does not start a second thread', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-ends-on-cancel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  const starts = path.join(dir, 'starts');
  writeFileSync(file, ENDS_ON_CANCEL_THREAD);
  writeFileSync(starts, '');
  const errors: string[] = [];
  const record = (obj: object | string, msg?: string) => void errors.push(typeof obj === 'string' ? obj : String(msg));
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: record };
  const worker = new InferenceWorker(pathToFileURL(file), { starts } as unknown as InferenceThreadData, 1, log);
  t.after(() => worker.close());
  // 3.1 s of back-offs, and six thread starts: 7.5 s on a loaded 2-core machine.
  await until('the fifth thread, which stays up', () => readFileSync(starts, 'utf8').length === 5 && worker.state() === 'ready', { timeoutMs: 20_000 });
  await assert.rejects(worker.invoke({ requestId: 'r', body: Buffer.from('{}'), headers: {} }, 20), { code: 'ERR_TIMEOUT' });
  // Replaced 1.6 s after it ended (its fifth crash in a row); the liveness ping gives up after 1 s.
  await until('its replacement', () => readFileSync(starts, 'utf8').length >= 6 && worker.state() === 'ready', { timeoutMs: 15_000 });
  assert.deepEqual(
    errors.filter((m) => /blocked/.test(m)),
    [],
    'the ended thread was not taken for a blocked one (which started a thread the respawn then left running)',
  );
  assert.equal(readFileSync(starts, 'utf8').length, 6);
});

test("a Buffer the handler keeps and returns again (a cached answer) is answered every time: the thread copies user code's bytes, never moves them", { timeout: 120_000 }, async (t) => {
  // Buffers over 4 KB own their whole ArrayBuffer: a transfer would detach CACHED in the thread.
  const worker = await threadWithHandler(
    t,
    `const CACHED = Buffer.from('x'.repeat(10000));
     const BYTES = new Uint8Array(8192).fill(121);
     export function transformFn(model, body) {
       const mode = body.toString();
       return mode === 'bytes' ? BYTES : mode === 'wrapped' ? { body: CACHED, contentType: 'text/plain' } : CACHED;
     }`,
  );
  for (const mode of ['cached', 'cached', 'wrapped', 'cached', 'bytes', 'bytes']) {
    const answer = await worker.invoke({ requestId: mode, body: Buffer.from(mode), contentType: 'text/plain', headers: {} }, 60_000);
    assert.equal(answer.body.toString(), (mode === 'bytes' ? 'y' : 'x').repeat(mode === 'bytes' ? 8192 : 10000), `${mode}: the body the handler returned again`);
  }
});

/** A stand-in inference thread that Node ends at its heap limit, as it ends a real one (ERR_WORKER_OUT_OF_MEMORY), after or during the load. */
const RUNS_OUT_OF_MEMORY_THREAD = `
import { parentPort, workerData } from 'node:worker_threads';
parentPort.on('message', (msg) => { if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' }); });
if (workerData.loaded) parentPort.postMessage({ type: 'ready', loadMs: 1, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
parentPort.on('message', (msg) => {
  if (msg.type === 'invoke' || !workerData.loaded) throw Object.assign(new Error('Worker terminated due to reaching memory limit: JS heap out of memory'), { code: 'ERR_WORKER_OUT_OF_MEMORY' });
});
if (!workerData.loaded) setImmediate(() => { throw Object.assign(new Error('Worker terminated due to reaching memory limit: JS heap out of memory'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }); });
`;

test('a thread that runs out of memory is reported as that, not as user code that threw: its requests get 500 ERR_WORKER_CRASHED saying so, a load fails saying so', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-oom-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, RUNS_OUT_OF_MEMORY_THREAD);
  const serving = new InferenceWorker(pathToFileURL(file), { loaded: true } as unknown as InferenceThreadData, 1, createLogger('silent'));
  t.after(() => serving.close());
  await serving.whenSettled();
  await assert.rejects(serving.invoke({ requestId: 'r', body: Buffer.from('{}'), headers: {} }, 60_000), {
    code: 'ERR_WORKER_CRASHED',
    message: /^the inference thread ended while this request ran: it ran out of memory \(its JavaScript heap: .*\); it is being replaced and the model reloaded, so retry once GET \/ping answers 200\. Send smaller requests, or give the container more memory$/,
  });
  const loading = new InferenceWorker(pathToFileURL(file), { loaded: false } as unknown as InferenceThreadData, 1, createLogger('silent'));
  t.after(() => loading.close());
  await loading.whenSettled();
  assert.equal(loading.state(), 'failed');
  assert.equal(loadFailureReason(loading.failure()), 'the inference thread ran out of memory (its JavaScript heap) while loading the model; give the container more memory, or load a smaller model');
});

test("a multi-model endpoint's thread (onOutOfMemory given) that runs out of memory while serving is not replaced: the request it ran gets 507, the one queued behind it and later ones 404, and the owner is told once", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-oom-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, RUNS_OUT_OF_MEMORY_THREAD);
  let told = 0;
  const worker = new InferenceWorker(pathToFileURL(file), { loaded: true } as unknown as InferenceThreadData, 1, createLogger('silent'), undefined, { heapMb: 64, onOutOfMemory: () => told++ });
  t.after(() => worker.close());
  await worker.whenSettled();
  const request = (id: string) => worker.invoke({ requestId: id, body: Buffer.from('{}'), headers: {} }, 60_000);
  const [running, queued] = await Promise.allSettled([request('running'), request('queued')]);
  assert.equal(running.status, 'rejected');
  assert.deepEqual([(running as PromiseRejectedResult).reason.code, (running as PromiseRejectedResult).reason.status], ['ERR_INSUFFICIENT_RESOURCES', 507]);
  assert.match((running as PromiseRejectedResult).reason.message, /limited to 64 MB by SMKIT_INFERENCE_THREAD_HEAP_MB.*the model was unloaded\. Send smaller requests, or raise SMKIT_INFERENCE_THREAD_HEAP_MB \(64 MB now\)/);
  assert.equal(queued.status, 'rejected');
  assert.deepEqual([(queued as PromiseRejectedResult).reason.code, (queued as PromiseRejectedResult).reason.status], ['ERR_MODEL_NOT_LOADED', 404]);
  await assert.rejects(request('later'), { code: 'ERR_MODEL_NOT_LOADED' });
  assert.equal(told, 1);
  assert.equal(worker.state(), 'failed', 'no new thread is loading the model');
});

/** Starts the real inference thread on a handler module written to a temporary directory. */
async function threadWithHandler(t: TestContext, source: string): Promise<InferenceWorker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-user-memory-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), source);
  const data: InferenceThreadData = {
    engine: { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } },
    logLevel: 'silent',
    workerIndex: 0,
  };
  const worker = new InferenceWorker(new URL('./inference-thread.js', import.meta.url), data, 1, createLogger('silent'));
  t.after(() => worker.close());
  await worker.whenSettled();
  assert.equal(worker.state(), 'ready', worker.failure()?.message);
  return worker;
}

test('a streamed answer of large chunks whose reader stops holds a chunk or two in flight, not the 8 its window of chunks allows: the thread stops once 1 MiB waits for the HTTP side', { timeout: 120_000 }, async (t) => {
  // 4 MiB chunks, counted as the thread produces them; 'count' answers how many it has.
  const worker = await threadWithHandler(
    t,
    `let produced = 0;
     export async function* transformFn(model, body) {
       if (body.toString() === 'count') { yield String(produced); return; }
       for (let i = 0; i < 40; i++) { produced++; yield Buffer.alloc(4 * 1024 * 1024, 97 + (i % 26)); }
     }`,
  );
  const produced = async (): Promise<number> => {
    const answer = await worker.invoke({ requestId: 'count', body: Buffer.from('count'), contentType: 'text/plain', headers: {} }, 60_000);
    const chunks: Uint8Array[] = [];
    for await (const chunk of answer.stream!) chunks.push(chunk);
    return Number(Buffer.concat(chunks).toString());
  };
  const answer = await worker.invoke({ requestId: 'big', body: Buffer.from('big'), contentType: 'text/plain', headers: {} }, 60_000);
  const chunks = answer.stream![Symbol.asyncIterator]();
  const first = await chunks.next();
  assert.equal(first.value.length, 4 * 1024 * 1024);
  // The reader stops here: the thread may send one more chunk (the first was taken), then waits.
  let count = 0;
  await until('the thread to produce the next chunk', async () => (count = await produced()) >= 2, { timeoutMs: 10_000 });
  for (let i = 0; i < 5; i++) count = Math.max(count, await produced());
  assert.ok(count <= 3, `the thread produced ${count} chunks of 4 MiB for a reader that took one`);
  // Read on: every chunk comes, in order.
  let n = 1;
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
    assert.equal(next.value[0], 97 + (n % 26));
    n++;
  }
  assert.equal(n, 40);
});

test('a streamed answer whose first chunk does not come within the timeout is a 504 naming the hook, in the thread and inline; ctx.signal aborts with it; that 504, like an error before the first chunk, carries none of the custom attributes the handler set for the stream', { timeout: 120_000 }, async (t) => {
  // 'signal:<file>': waits for ctx.signal (an upstream call given it, say) and writes why it aborted,
  // renamed into place whole: the test, on another thread than the handler's, could otherwise see
  // the file between its creation and its write and read '' (a Node 22 run under load did).
  const handler = `
import { renameSync, writeFileSync } from 'node:fs';
export function transformFn(model, body, contentType, accept, context) {
  context.setCustomAttributes('trace=7');
  return (async function* () {
    const mode = body.toString();
    if (mode === 'never') await new Promise(() => {});
    if (mode === 'fail-early') throw Object.assign(new Error('prompt too long'), { status: 422 });
    if (mode.startsWith('signal:')) {
      const file = mode.slice('signal:'.length);
      writeFileSync(file + '.waiting', '');
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      writeFileSync(file + '.part', String(context.signal.reason?.code));
      renameSync(file + '.part', file);
      return;
    }
    yield 'chunk';
  })();
}`;
  const thread = await threadWithHandler(t, handler);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-stream-timeout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), handler);
  const inline = await loadModelInProcess(dir);
  t.after(() => inline.close());
  const settings = { maxPayloadMb: 6, timeoutSeconds: 0.2, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const };
  for (const [mode, backend] of [['thread', thread], ['inline', inline]] as const) {
    const app = createApp({ settings, backend, log: createLogger('silent') });
    // The same backend behind a timeout a loaded machine cannot miss: it still streams after the 504s.
    const patientApp = createApp({ settings: { ...settings, timeoutSeconds: 60 }, backend, log: createLogger('silent') });
    const call = (body: string, to = app) => request(to).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'text/plain').send(body);
    // Before: the request was held for good, with no answer and no headers.
    const res = await call('never').expect(504);
    const error = JSON.parse(res.text) as { code: string; message: string };
    // It once read code '' in a loaded full suite run (Node 22): the whole answer says which 504 it was.
    assert.equal(error.code, 'ERR_TIMEOUT', `${mode}: ${res.text}`);
    assert.match(error.message, /took longer than 0\.2 s .* in the handler's transformFn/, mode);
    // Before: the 504 carried the attributes set for the stream that never came, as did any error before its first chunk.
    assert.equal(res.headers['x-amzn-sagemaker-custom-attributes'], undefined, mode);
    const failed = await call('fail-early', patientApp).expect(422);
    assert.equal((JSON.parse(failed.text) as { message: string }).message, 'prompt too long', mode);
    assert.equal(failed.headers['x-amzn-sagemaker-custom-attributes'], undefined, mode);
    const soon = await call('soon', patientApp).expect(200);
    assert.equal(soon.text, 'chunk', mode);
    assert.equal(soon.headers['x-amzn-sagemaker-custom-attributes'], 'trace=7', mode);
    // Before: return() waited behind the generator's pending await, and nothing told it to stop.
    const aborted = path.join(dir, `aborted-${mode}`);
    await call(`signal:${aborted}`).expect(504);
    await until(`ctx.signal to abort (${mode})`, () => existsSync(aborted), { timeoutMs: 10_000 });
    assert.equal(readFileSync(aborted, 'utf8'), 'ERR_TIMEOUT', mode);
    // Before: a client that left before the first chunk stopped the producer only once the timeout
    // (60 s here) ran out, in the thread with ERR_TIMEOUT, and its 504 went to nobody.
    const left = path.join(dir, `left-${mode}`);
    const server = http.createServer(patientApp);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const req = http.request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/invocations', headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' } });
    req.on('error', () => undefined);
    req.end(`signal:${left}`);
    // In the thread, until the HTTP side holds the stream (waiting for its first chunk), not the invocation.
    await until(`the stream to wait for its first chunk (${mode})`, () => existsSync(`${left}.waiting`) && (mode === 'inline' || thread.held === 0), { timeoutMs: 10_000 });
    req.destroy();
    await until(`ctx.signal to abort once the client left (${mode})`, () => existsSync(left), { timeoutMs: 10_000 });
    assert.equal(readFileSync(left, 'utf8'), 'ERR_CLIENT_GONE', mode);
  }
});

test('a stream given up while the thread set it up (its cancel crossing the stream-start) still has its ctx.signal abort, with the reason', { timeout: 120_000 }, async (t) => {
  // transformFn holds the thread until the test says: the invocation's cancel waits behind it.
  const thread = await threadWithHandler(
    t,
    `
import { existsSync, renameSync, writeFileSync } from 'node:fs';
export function transformFn(model, body, contentType, accept, context) {
  const file = body.toString();
  writeFileSync(file + '.running', '');
  while (!existsSync(file + '.go'));
  return (async function* () {
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
    writeFileSync(file + '.part', String(context.signal.reason?.code));
    renameSync(file + '.part', file);
  })();
}`,
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-stream-crossing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'reason');
  const cancellation = new Cancellation();
  const answer = thread.invoke({ requestId: 'r', body: Buffer.from(file), contentType: 'text/plain', accept: 'text/plain', headers: {}, cancellation }, 60_000);
  await until('transformFn to run', () => existsSync(`${file}.running`), { timeoutMs: 10_000 });
  cancellation.cancel(clientGoneError());
  // Rejected by the gone-client check, which has posted the cancel by then.
  await assert.rejects(answer, { code: 'ERR_CLIENT_GONE' });
  writeFileSync(`${file}.go`, '');
  // Before: the thread had let go of the invocation's cancellation once transformFn answered with a
  // stream, so the cancel found nothing, and the stream's cancel carries no reason: the producer waited for good.
  await until('ctx.signal to abort', () => existsSync(file), { timeoutMs: 10_000 });
  assert.equal(readFileSync(file, 'utf8'), 'ERR_CLIENT_GONE');
  // Nothing of the stream stays held, on either side.
  await until('the thread to let the stream go', async () => (await thread.threadHeld()) === 0 && thread.held === 0, { timeoutMs: 10_000 });
});

test('a streamed answer whose producer blocks the thread before its first chunk is a 504, and the blocked thread is replaced then, as for a whole answer', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-stream-spin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'inference.mjs'),
    `export function transformFn(model, body) {
  return (async function* () {
    if (body.toString() === 'spin') for (;;);
    yield 'chunk';
  })();
}`,
  );
  const data: InferenceThreadData = {
    engine: { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } },
    logLevel: 'silent',
    workerIndex: 0,
  };
  const errors: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error: (obj: object | string, msg?: string) => void errors.push(msg ?? String(obj)) };
  const thread = new InferenceWorker(new URL('./inference-thread.js', import.meta.url), data, 1, log);
  t.after(() => thread.close());
  await thread.whenSettled();
  // Long enough that the request reaches transformFn before it times out on a loaded machine: a
  // cancellation that arrived first would end the producer before it ever ran, and nothing would block.
  const settings = { maxPayloadMb: 6, timeoutSeconds: 2, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const };
  const app = createApp({ settings, backend: thread, log: createLogger('silent') });
  // The answers that should come are asked through an app of the same thread with a timeout of a
  // minute: a fresh thread's first stream took past 2 s on a loaded machine (504, 3 in 22 runs of
  // the test under load), which is not what the test is about.
  const patient = createApp({ settings: { ...settings, timeoutSeconds: 60 }, backend: thread, log: createLogger('silent') });
  const call = (body: string, through = app) => request(through).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'text/plain').send(body);
  assert.equal((await call('soon', patient).expect(200)).text, 'chunk');
  await call('spin').expect(504);
  // Before: nothing looked at the thread until another request timed out behind the loop.
  await until('the blocked thread to be replaced', () => errors.some((m) => /blocked past the timeout; replacing it/.test(m)), { timeoutMs: 60_000 });
  await until('the new thread to answer', async () => (await call('soon', patient)).status === 200, { timeoutMs: 60_000 });
});

test("typed arrays predictFn or modelFn's model keeps and returns again, answered as application/octet-stream, are answered every time: the raw encoder's view of user code's memory is copied to the HTTP thread, never moved", { timeout: 120_000 }, async (t) => {
  // Each owns its whole ArrayBuffer: moving the raw encoder's view of it would detach it in the thread.
  const kept = `const SCORES = new Float32Array([0.25, 0.5, 0.75]);
     const TENSOR = { dtype: 'int32', shape: [2], data: new Int32Array([7, 8]) };`;
  const expected = { array: Buffer.from(new Float32Array([0.25, 0.5, 0.75]).buffer), tensor: Buffer.from(new Int32Array([7, 8]).buffer), map: Buffer.from(new Int32Array([7, 8]).buffer) };
  const predictFn = await threadWithHandler(
    t,
    `${kept}
     export function inputFn(body) { return body.toString(); }
     export function predictFn(mode) { return mode === 'array' ? SCORES : mode === 'tensor' ? TENSOR : { y: TENSOR }; }`,
  );
  for (const mode of ['array', 'array', 'tensor', 'map', 'tensor', 'map', 'array'] as const) {
    const answer = await predictFn.invoke({ requestId: mode, body: Buffer.from(mode), contentType: 'text/plain', accept: 'application/octet-stream', headers: {} }, 60_000);
    assert.deepEqual(answer.body, expected[mode], `predictFn, ${mode}: the bytes it returned again`);
  }
  // The model modelFn made keeps its answer between calls (its state); no predictFn: smkit runs it.
  const modelFn = await threadWithHandler(t, `${kept}\n export function modelFn() { return { predict: async () => ({ y: TENSOR }) }; }`);
  for (let i = 0; i < 3; i++) {
    const answer = await modelFn.invoke({ requestId: `m${i}`, body: Buffer.from([1]), contentType: 'application/octet-stream', accept: 'application/octet-stream', headers: {} }, 60_000);
    assert.deepEqual(answer.body, expected.tensor, `modelFn's model, call ${i + 1}: the bytes it returned again`);
  }
});

test('typed arrays, tensors and ArrayBuffers transformFn keeps and returns again for smkit to encode as application/octet-stream are answered every time: copied to the HTTP thread, never moved', { timeout: 120_000 }, async (t) => {
  const worker = await threadWithHandler(
    t,
    `const SCORES = new Float32Array([0.25, 0.5, 0.75]);
     const TENSOR = { dtype: 'int32', shape: [2], data: new Int32Array([7, 8]) };
     const BYTES = new Uint8Array([1, 2, 3]).buffer;
     export function transformFn(model, body) {
       const mode = body.toString();
       return mode === 'array' ? SCORES : mode === 'tensor' ? TENSOR : mode === 'arraybuffer' ? BYTES : { body: SCORES, contentType: 'application/octet-stream' };
     }`,
  );
  const scores = Buffer.from(new Float32Array([0.25, 0.5, 0.75]).buffer);
  const expected = { array: scores, tensor: Buffer.from(new Int32Array([7, 8]).buffer), arraybuffer: Buffer.from([1, 2, 3]), wrapped: scores };
  for (const mode of ['array', 'array', 'tensor', 'tensor', 'arraybuffer', 'arraybuffer', 'wrapped', 'array'] as const) {
    const answer = await worker.invoke({ requestId: mode, body: Buffer.from(mode), contentType: 'text/plain', accept: 'application/octet-stream', headers: {} }, 60_000);
    assert.deepEqual(answer.body, expected[mode], `${mode}: the bytes transformFn returned again`);
  }
});

test("the invocation line at debug level gives the size of a body that moved to the inference thread, not 0: its length is read before the move empties the HTTP thread's Buffer", { timeout: 120_000 }, async (t) => {
  const worker = await threadWithHandler(t, `export function transformFn(model, body) { return String(body.length); }`);
  const lines: Record<string, unknown>[] = [];
  const log = { debug: (obj: object) => lines.push(obj as Record<string, unknown>), info: () => undefined, warn: () => undefined, error: () => undefined, isLevelEnabled: () => true } as unknown as ServerLogger;
  const app = createApp({ settings: { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' }, backend: worker, log });
  // Over 4 KB: a Buffer of its own (not from Node's pool), so the HTTP thread moves it rather than copy it.
  const body = 'x'.repeat(20_000);
  const res = await request(app).post('/invocations').set('Content-Type', 'text/plain').send(body);
  assert.equal(res.status, 200);
  assert.equal(res.text, '20000', 'the thread got the whole body');
  const line = lines.find((l) => 'bytesIn' in l);
  assert.deepEqual([line?.['bytesIn'], line?.['bytesOut']], [20_000, 5]);
});

test("a thread whose code could not be opened for want of file descriptors (EMFILE) fails its load with 503 ERR_SERVER_BUSY, not an ERR_MODEL_LOAD blaming the handler: a multi-model load answers it and may be retried", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-emfile-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, `throw Object.assign(new Error("EMFILE: too many open files, open '/x/inference-thread.js'"), { code: 'EMFILE', errno: -24, syscall: 'open' });`);
  const worker = new InferenceWorker(pathToFileURL(file), {} as InferenceThreadData, 1, createLogger('silent'));
  await worker.whenSettled();
  assert.equal(worker.state(), 'failed');
  assert.equal(worker.failure()?.code, 'ERR_SERVER_BUSY');
  assert.equal(worker.failure()?.status, 503);
  assert.match(worker.failure()!.message, /^the inference thread's code cannot be loaded now: this process has no file descriptors to spare/);
  await worker.close();
});
