/**
 * Bidirectional streams through the real inference thread: the client's messages cross as the
 * handler takes them (never more than a window ahead), a stream whose reader gives up ends the
 * handler's `bidiFn`, and a thread that dies fails its open streams and is replaced.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceWorker } from './inference-worker.js';
import { BIDI_INPUT_WINDOW } from './thread-protocol.js';
import { createLogger } from '../logging/logger.js';
import { Cancellation } from '../core/cancellation.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';

// The done file is written to a .part file and renamed into place: the test reads it on the main
// thread once it exists, and could otherwise see it between its creation and its write ('').
const HANDLER = `
import { renameSync, writeFileSync } from 'node:fs';
export async function* bidiFn(messages, model, ctx) {
  try {
    for await (const m of messages) {
      const text = m.text();
      if (text === 'exit') process.exit(3);
      if (text === 'hold') await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      yield 'got ' + text;
    }
  } finally {
    if (ctx.query.done) {
      writeFileSync(ctx.query.done + '.part', String(ctx.signal.aborted));
      renameSync(ctx.query.done + '.part', ctx.query.done);
    }
  }
}
`;

let dir: string;
let worker: InferenceWorker;

describe('bidi thread', () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bidi-thread-'));
    mkdirSync(path.join(dir, 'code'));
    writeFileSync(path.join(dir, 'code', 'inference.mjs'), HANDLER);
    worker = new InferenceWorker(
      new URL('./inference-thread.js', import.meta.url),
      { engine: { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } }, logLevel: 'silent', workerIndex: 0 },
      1,
      createLogger('silent'),
    );
    await worker.whenSettled();
    assert.equal(worker.state(), 'ready');
    assert.ok(worker.describe()?.hooks.includes('bidiFn'));
  });
  after(async () => {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (query: Record<string, string> = {}): BidiRequest => ({ requestId: 'r-1', path: '/invocations-bidirectional-stream', query, headers: {} });
  const text = (data: string): BidiFrame => ({ data: Buffer.from(data), binary: false });

  /** Frames from a list, then (if `endless`) "hold" followed by frames for as long as they are pulled; counts the pulls. */
  function source(first: string[], endless = false): { frames: AsyncIterable<BidiFrame>; pulled: () => number; released: () => boolean } {
    let pulled = 0;
    let released = false;
    async function* frames(): AsyncIterable<BidiFrame> {
      try {
        for (const f of first) {
          pulled++;
          yield text(f);
        }
        for (let i = 0; endless; i++) {
          pulled++;
          yield text(`more-${i}`);
          // A client's messages arrive over time: without this an unbounded reader would never let timers run.
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        released = true;
      }
    }
    return { frames: frames(), pulled: () => pulled, released: () => released };
  }

  test('messages go to bidiFn and its replies come back, in order', async () => {
    const { frames } = source(['a', 'b', 'c']);
    const replies: string[] = [];
    for await (const f of worker.openBidi(request(), frames, new Cancellation())) replies.push(Buffer.from(f.data).toString());
    assert.deepEqual(replies, ['got a', 'got b', 'got c']);
  });

  test('messages cross only as bidiFn takes them: a window ahead at most, however fast the client sends', async () => {
    const done = path.join(dir, 'held-done');
    const { frames, pulled } = source(['first', 'hold'], true);
    const replies = worker.openBidi(request({ done }), frames, new Cancellation())[Symbol.asyncIterator]();
    assert.equal(Buffer.from((await replies.next()).value!.data).toString(), 'got first');
    // bidiFn now waits on "hold": whatever it does not take must stay with the sender.
    let last = -1;
    const steadyBy = Date.now() + 10_000;
    while (pulled() !== last && Date.now() < steadyBy) {
      last = pulled();
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(pulled() <= 2 + BIDI_INPUT_WINDOW + 1, `${pulled()} messages were pulled from a client whose handler took 2`);
    // The reader gives up (the client left): bidiFn's signal aborts and its finally block runs.
    await replies.return!();
    const deadline = Date.now() + 10_000;
    while (!existsSync(done) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(done, 'utf8'), 'true');
  });

  test('a thread that dies fails its open streams with ERR_WORKER_CRASHED and lets go of their clients; the replacement serves new ones', async () => {
    // The client keeps sending, faster than the window: its sender must not wait forever for acks
    // from the dead thread.
    const { frames, released } = source(['exit', ...Array.from({ length: 8 * BIDI_INPUT_WINDOW }, (_, i) => `queued-${i}`)], true);
    await assert.rejects(
      (async () => {
        for await (const f of worker.openBidi(request(), frames, new Cancellation())) void f;
      })(),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_WORKER_CRASHED',
    );
    const releasedBy = Date.now() + 10_000;
    while (!released() && Date.now() < releasedBy) await new Promise((r) => setTimeout(r, 20));
    assert.ok(released(), "the stream's sender stopped reading the client's messages");
    await worker.whenSettled();
    const deadline = Date.now() + 30_000;
    while (worker.state() !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const replies: string[] = [];
    for await (const f of worker.openBidi(request(), source(['after']).frames, new Cancellation())) replies.push(Buffer.from(f.data).toString());
    assert.deepEqual(replies, ['got after']);
  });
});

// bidiFn in a loop that never ends holds the thread: streams have no timeout of their own, so
// without a watch nothing found it, its stream and every later one waited for good and /ping said
// healthy. 5 s: the thread of a loaded machine answers a ping well within it.
const BLOCKED_AFTER_MS = 5000;
const SPINNING_HANDLER = `
import { writeFileSync } from 'node:fs';
export async function* bidiFn(messages) {
  for await (const m of messages) {
    if (m.text() === 'spin') for (;;) {}
    yield 'got ' + m.text();
  }
}
export function inputFn(body) { return body.toString(); }
// 'hold' holds the thread for good, once it has said so in a file next to code/.
export function predictFn(input) {
  if (input === 'hold') {
    writeFileSync(new URL('../holding', import.meta.url), '');
    for (;;) {}
  }
  return input;
}
// A streamed answer whose producer holds the thread once its first chunk is out (which has no timeout).
export async function* outputFn(text) {
  yield 'first';
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (text === 'spin') for (;;) {}
  yield 'second';
}
`;

describe('bidi thread held by synchronous code', () => {
  let spinDir: string;
  let spinWorker: InferenceWorker;
  before(async () => {
    spinDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bidi-spin-'));
    mkdirSync(path.join(spinDir, 'code'));
    writeFileSync(path.join(spinDir, 'code', 'inference.mjs'), SPINNING_HANDLER);
    spinWorker = new InferenceWorker(
      new URL('./inference-thread.js', import.meta.url),
      { engine: { modelDir: spinDir, codeDir: path.join(spinDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } }, logLevel: 'silent', workerIndex: 0 },
      1,
      createLogger('silent'),
      undefined,
      { bidiBlockedAfterMs: BLOCKED_AFTER_MS },
    );
    await spinWorker.whenSettled();
    assert.equal(spinWorker.state(), 'ready');
  });
  after(async () => {
    await spinWorker.close();
    rmSync(spinDir, { recursive: true, force: true });
  });

  const request: BidiRequest = { requestId: 'r-spin', path: '/invocations-bidirectional-stream', query: {}, headers: {} };
  /** Frames from a list, each after `gapMs`, then held open until `stop` resolves. */
  async function* frames(list: string[], gapMs = 0, stop?: Promise<void>): AsyncIterable<BidiFrame> {
    for (const f of list) {
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      yield { data: Buffer.from(f), binary: false };
    }
    if (stop) await stop;
  }
  /** The replies of a stream, or the code it failed with; a stream still open after `limitMs` fails the test (it hung). */
  async function outcome(replies: AsyncIterable<BidiFrame>, limitMs = 60_000): Promise<string[] | string> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the stream was still open after ${limitMs / 1000} s`)), limitMs)));
    try {
      return await Promise.race([
        (async () => {
          const got: string[] = [];
          try {
            for await (const f of replies) got.push(Buffer.from(f.data).toString());
          } catch (err) {
            return `${(err as ToolkitError).code}: ${(err as Error).message}`;
          }
          return got;
        })(),
        hung,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
  /** A new stream answered once the thread has been replaced; streams opened on the held thread fail with it. */
  async function servesAgain(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const got = await outcome(spinWorker.openBidi(request, frames(['after']), new Cancellation()));
      if (Array.isArray(got)) return assert.deepEqual(got, ['got after']);
      assert.match(got, /^ERR_(WORKER_CRASHED|NOT_READY)/);
      assert.ok(Date.now() < deadline, `no stream was served again: ${got}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test('a stream open past the limit with nothing to do keeps its thread: answered pings are no sign of a held one', async () => {
    const got = await outcome(spinWorker.openBidi(request, frames(["a", "b"], 1.2 * BLOCKED_AFTER_MS), new Cancellation()));
    assert.deepEqual(got, ['got a', 'got b']);
  });

  test('bidiFn in a loop that never ends fails its stream with ERR_WORKER_CRASHED saying so, and the replaced thread serves new streams', async () => {
    const got = await outcome(spinWorker.openBidi(request, frames(['one', 'spin'], 0, new Promise(() => {})), new Cancellation()));
    assert.match(String(got), /^ERR_WORKER_CRASHED: the inference thread answered nothing for 5 s \(SAGEMAKER_MODEL_SERVER_TIMEOUT\) while it served streams/);
    await servesAgain();
  });

  test("a streamed answer whose producer holds the thread past its first chunk (no timeout then) is broken off with ERR_WORKER_CRASHED, and the replaced thread serves again", async () => {
    const response = await spinWorker.invoke({ requestId: 'r-http', body: Buffer.from('spin'), contentType: 'text/plain', accept: 'text/plain', headers: {} }, 60_000);
    const got = await outcome((async function* () {
      for await (const chunk of response.stream!) yield { data: chunk, binary: false };
    })());
    assert.match(String(got), /^ERR_WORKER_CRASHED: the inference thread answered nothing for 5 s/);
    await servesAgain();
  });

  test('a client that leaves a stream whose bidiFn holds the thread does not leave the thread held: it is replaced', async () => {
    const replies = spinWorker.openBidi(request, frames(['one', 'spin'], 0, new Promise(() => {})), new Cancellation())[Symbol.asyncIterator]();
    assert.equal(Buffer.from((await replies.next()).value!.data).toString(), 'got one');
    // The client gives up at once, before any check of the thread could have run.
    await replies.return!();
    await servesAgain();
  });

  test('an invocation sent to a thread held by another, after the ping it did not answer, never ran: 503 ERR_NOT_READY, to retry, not 500 as for the one that holds it', async (t) => {
    // Two at once: the second invocation goes to the thread while the first holds it.
    const worker = new InferenceWorker(
      new URL('./inference-thread.js', import.meta.url),
      { engine: { modelDir: spinDir, codeDir: path.join(spinDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 } }, logLevel: 'silent', workerIndex: 0 },
      2,
      createLogger('silent'),
      undefined,
      { bidiBlockedAfterMs: BLOCKED_AFTER_MS },
    );
    t.after(() => worker.close());
    await worker.whenSettled();
    const invocation = (body: string) => ({ requestId: `r-${body}`, body: Buffer.from(body), contentType: 'text/plain', accept: 'text/plain', headers: {} });
    const settled = (p: Promise<unknown>) => p.then(() => 'answered', (err: ToolkitError) => `${err.code}: ${err.message}`);
    // No timeout of its own reached here: the watch a stream starts finds the held thread.
    const holding = settled(worker.invoke(invocation('hold'), 600_000));
    const deadline = Date.now() + 120_000;
    while (!existsSync(path.join(spinDir, 'holding'))) {
      assert.ok(Date.now() < deadline, 'the thread never took the request that holds it');
      await new Promise((r) => setTimeout(r, 50));
    }
    // The stream's watch pings the thread, which never answers; what is sent after that never runs.
    const stream = outcome(worker.openBidi(request, frames(['x'], 0, new Promise(() => {})), new Cancellation()));
    const after = settled(worker.invoke(invocation('after'), 600_000));
    assert.match(await after, /^ERR_NOT_READY: this request never ran: the inference thread it was sent to was held by synchronous code/);
    assert.match(await holding, /^ERR_WORKER_CRASHED: the inference thread answered nothing for 5 s/);
    assert.match(String(await stream), /^ERR_WORKER_CRASHED/);
  });
});
