/**
 * The image decoder thread failing to start (its code cannot load: EMFILE, a broken install; or it
 * ends as it loads) or ending while it decodes: the blocked caller gets its answer from the thread
 * itself, at once rather than after the 60 s decode timeout, and the next image starts a new thread.
 * A thread that never starts, or dies without a word (out of memory, stuck), is found by its
 * heartbeat stopping, within the (shortened) grace; one that died between two images is replaced
 * and the image decoded. The thread's code is swapped for modules that fail so
 * (useImageDecoderCode), its entry, limits and timings by useImageDecoderThread.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isToolkitError } from '../errors/catalogue.js';
import { listenOnLoopback, serveIdentityModel } from '../../test/helpers/in-process-app.js';
import { decodeImageSync, imageCodecs, imageDecoderThread, imageDecoderThreadBeats, useImageDecoderCode, useImageDecoderThread } from './image.js';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-decoder-thread-'));
after(() => {
  useImageDecoderCode();
  useImageDecoderThread();
  rmSync(dir, { recursive: true, force: true });
});

function module(name: string, source: string): URL {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return pathToFileURL(file);
}

const failsWith = (code: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(isToolkitError(e), String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

test('code that cannot be opened for want of descriptors: 503 ERR_SERVER_BUSY, again from a new thread for the next image, then images decode once it loads', () => {
  useImageDecoderCode(module('emfile.mjs', `throw Object.assign(new Error("EMFILE: too many open files, open '/x/sharp-linux-x64.node'"), { code: 'EMFILE' });`));
  for (let i = 0; i < 2; i++) {
    assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_SERVER_BUSY', /^the image decoder thread cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\)/));
  }
  useImageDecoderCode();
  const t = decodeImageSync(PNG, 3, 'image/png');
  assert.deepEqual(t.shape, [1, 1, 3]);
});

test('code that does not load (a module missing from the install): 500 ERR_INTERNAL saying to reinstall; the codec answers it as such, not as a bad image', () => {
  useImageDecoderCode(module('broken.mjs', `import './not-there.js';`));
  const reinstall = /^the image decoder thread could not load its code \(.*not-there\.js.*\): smkit's installation is incomplete or broken; reinstall it \(npm ci\) and restart the server$/;
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', reinstall));
  assert.throws(() => imageCodecs[1]!.decode!(PNG, {}), failsWith('ERR_INTERNAL', reinstall));
});

test('a thread that ends as its code loads, or while it decodes: 500 ERR_INTERNAL at once; the next image gets a new thread', () => {
  useImageDecoderCode(module('exits.mjs', `process.exit(7);`));
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', /could not load its code \(its code ended the thread as it loaded, exit code 7\)/));
  // Ends the thread from a timer, as an error nothing catches would, while the job waits for its answer.
  useImageDecoderCode(module('crashes.mjs', `export function decode() { setImmediate(() => { throw new Error('boom'); }); return new Promise(() => {}); }`));
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', /^the image decoder thread ended while decoding the image\/png body \(exit code 1\); retry the request: the next image starts a new one$/));
  useImageDecoderCode();
  assert.deepEqual(decodeImageSync(PNG, 1, 'image/png').shape, [1, 1, 1]);
});

test("a thread that ended is forgotten at once, and its exit heard later does not make the next image start another thread (the one started meanwhile is kept)", async () => {
  // Answers each image with its thread's id (as a decode failure), or ends its thread on the body "crash".
  useImageDecoderCode(
    module(
      'ids.mjs',
      `import { threadId } from 'node:worker_threads';
      export function decode(job) {
        if (Buffer.from(job.body).toString() === 'crash') {
          setImmediate(() => { throw new Error('boom'); });
          return new Promise(() => {});
        }
        job.reply.postMessage({ ok: false, message: 'thread ' + threadId });
        job.reply.close();
        Atomics.store(job.signal, 0, 1);
        Atomics.notify(job.signal, 0);
        return Promise.resolve();
      }`,
    ),
  );
  const threadOf = (): string => {
    try {
      decodeImageSync(Buffer.from('id'), 3, 'image/png');
    } catch (e) {
      return /thread \d+/.exec((e as Error).message)?.[0] ?? String(e);
    }
    return 'decoded';
  };
  const first = threadOf();
  assert.match(first, /^thread \d+$/);
  // Its 'error' event (the uncaught error) comes first: events.once would reject on it.
  const ended = new Promise((resolve) => imageDecoderThread()!.once('exit', resolve));
  assert.throws(() => decodeImageSync(Buffer.from('crash'), 3, 'image/png'), failsWith('ERR_INTERNAL', /ended while decoding/));
  // Started before the old thread's exit event could be heard (this thread was blocked until now).
  const second = threadOf();
  assert.notEqual(second, first);
  await ended;
  assert.equal(threadOf(), second);
  useImageDecoderCode();
});

/** Answers each image with its thread's id (as a decode failure); on the body "oom" it answers, then fills its heap until Node kills the thread. */
const idsThenOom = `import { threadId } from 'node:worker_threads';
  export function decode(job) {
    job.reply.postMessage({ ok: false, message: 'thread ' + threadId });
    job.reply.close();
    Atomics.store(job.signal, 0, 1);
    Atomics.notify(job.signal, 0);
    if (Buffer.from(job.body).toString() === 'oom') {
      const hog = [];
      for (;;) hog.push(new Array(100000).fill(hog.length));
    }
    if (Buffer.from(job.body).toString() === 'exit') process.exit(0);
    return Promise.resolve();
  }`;

function threadOf(body: string): string {
  try {
    decodeImageSync(Buffer.from(body), 3, 'image/png');
  } catch (e) {
    return /thread \d+/.exec((e as Error).message)?.[0] ?? `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  return 'decoded';
}

test('a thread that never starts (it ends before its entry runs, or never runs it): 500 ERR_INTERNAL within the start grace, or 503 ERR_SERVER_BUSY when descriptors are short; then a new thread decodes', () => {
  const notStarted = /^the image decoder thread did not start within 0\.2 s \(Node could not create or start it\); retry the request: the next image starts a new one$/;
  // No thread here ever beats: a short grace proves the same as smkit's 20 s, sooner.
  const timings = { startGraceMs: 200, sliceMs: 50 };
  // A thread that ends before its entry runs. (A heap limit too small to start one is not used: Node 22
  // and 24 abort the whole process on it, "GC during deserialization", where Node 20 ends the thread.)
  useImageDecoderThread({ bootstrap: '', timings });
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', notStarted));
  // A thread that stays up but never runs smkit's entry is taken for one that did not start too.
  let checks = 0;
  // Free before the thread is started, short once it did not start.
  useImageDecoderThread({ bootstrap: 'setInterval(() => {}, 1000);', timings, hasFreeDescriptors: () => checks++ === 0 });
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_SERVER_BUSY', /^the image decoder thread cannot be loaded now: this process has no file descriptors to spare/));
  useImageDecoderThread();
  assert.deepEqual(decodeImageSync(PNG, 3, 'image/png').shape, [1, 1, 3]);
});

test('a thread Node refuses to create (ERR_WORKER_INIT_FAILED: a stack no thread can have, EAGAIN on Linux): 503 ERR_SERVER_BUSY at once; then a new thread decodes', () => {
  useImageDecoderThread({ resourceLimits: { stackSizeMb: 1e9 } });
  assert.throws(
    () => imageCodecs[1]!.decode!(PNG, {}),
    failsWith('ERR_SERVER_BUSY', /^the image decoder thread cannot be started now: Node could not create a thread \(.+\), the process is at a limit on threads or memory; retry shortly$/),
  );
  useImageDecoderThread();
  assert.deepEqual(decodeImageSync(PNG, 3, 'image/png').shape, [1, 1, 3]);
});

test('a thread killed while it decodes, with no exit handler run (out of JavaScript heap), or stuck: 500 ERR_INTERNAL once its heartbeat stops, the image not sent to another thread (it was taken); then a new thread decodes', () => {
  // Both threads stop beating only once they hold the image, so a short stall proves the same as smkit's 10 s, sooner.
  useImageDecoderThread({ resourceLimits: { maxOldGenerationSizeMb: 16 }, timings: { beatMs: 50, stallMs: 500, sliceMs: 50 } });
  useImageDecoderCode(module('oom.mjs', `export function decode() { const hog = []; for (;;) hog.push(new Array(100000).fill(hog.length)); }`));
  const lost = /^the image decoder thread stopped while decoding the image\/png body \(no sign of life for 0\.5 s: killed, out of memory, or stuck\); it was ended: retry the request, the next image starts a new one$/;
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', lost));
  // Each thread that starts decoding the image leaves a mark: one thread took it, so no other decodes it again.
  const marks = path.join(dir, 'stuck-marks');
  writeFileSync(marks, '');
  useImageDecoderCode(module('stuck.mjs', `import { appendFileSync } from 'node:fs'; export function decode() { appendFileSync(${JSON.stringify(marks)}, 'x'); for (;;); }`));
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', lost));
  assert.equal(readFileSync(marks, 'utf8'), 'x');
  useImageDecoderCode();
  useImageDecoderThread();
  assert.deepEqual(decodeImageSync(PNG, 4, 'image/png').shape, [1, 1, 4]);
});

test('a thread that died between two images (killed out of memory, or ended) before it took the next: the next image is decoded by a new thread', () => {
  // The threads that answer must not be taken for dead: they beat every 50 ms against a 1 s stall.
  useImageDecoderThread({ resourceLimits: { maxOldGenerationSizeMb: 16 }, timings: { beatMs: 50, stallMs: 1000, sliceMs: 50 } });
  useImageDecoderCode(module('ids-then-oom.mjs', idsThenOom));
  const first = threadOf('oom');
  assert.match(first, /^thread \d+$/);
  // Posted at once to the dying thread, which never takes it: a new thread answers it.
  const second = threadOf('id');
  assert.match(second, /^thread \d+$/);
  assert.notEqual(second, first);
  assert.equal(threadOf('exit'), second);
  const third = threadOf('id');
  assert.match(third, /^thread \d+$/);
  assert.notEqual(third, second);
  useImageDecoderCode();
  useImageDecoderThread();
});

test('an idle thread does not beat (no timer wakes it between images), and an image after a silence longer than the stall goes to that same thread', async () => {
  const stallMs = 200;
  useImageDecoderThread({ timings: { beatMs: 20, stallMs, sliceMs: 50 } });
  useImageDecoderCode(module('ids-idle.mjs', idsThenOom));
  const first = threadOf('id');
  assert.match(first, /^thread \d+$/);
  // It stops beating as it answers, before any timer of its could run.
  const beats = imageDecoderThreadBeats();
  assert.ok(beats !== undefined && beats > 0);
  const idleSince = performance.now();
  while (performance.now() - idleSince <= 2 * stallMs) await new Promise((resolve) => setTimeout(resolve, stallMs));
  assert.equal(imageDecoderThreadBeats(), beats, 'the idle thread beat');
  assert.equal(threadOf('id'), first);
  useImageDecoderCode();
  useImageDecoderThread();
});

test('a live thread that does not answer within the decode timeout: 504 ERR_TIMEOUT (not the client\'s 400); the thread is ended and the next image gets a new one', () => {
  // The thread never answers: a short timeout proves the same as smkit's 60 s, sooner.
  useImageDecoderThread({ timings: { timeoutMs: 300, sliceMs: 50 } });
  useImageDecoderCode(module('never.mjs', `export function decode() { return new Promise(() => {}); }`));
  assert.throws(
    () => imageCodecs[1]!.decode!(PNG, {}),
    failsWith('ERR_TIMEOUT', /^decoding the image\/png body took longer than 0\.3 s: the server was too busy to decode it in time; retry later \(the decoder thread was ended, and the next image starts a new one\)$/),
  );
  assert.equal(imageDecoderThread(), undefined, 'the thread that timed out is not reused');
  useImageDecoderCode();
  // smkit's own timings again before a fresh thread loads sharp: not raced against the short timeout.
  useImageDecoderThread();
  assert.deepEqual(decodeImageSync(PNG, 3, 'image/png').shape, [1, 1, 3]);
});

test('over HTTP: an image whose decoder thread never starts is a 500 ERR_INTERNAL, not the 400 of a bad image; the next one is decoded', async () => {
  const served = await serveIdentityModel([{ name: 'x', dtype: 'uint8', rank: 3 }]);
  const server = await listenOnLoopback(served.app);
  try {
    const post = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/invocations`, { method: 'POST', body: PNG, headers: { 'Content-Type': 'image/png' }, signal: AbortSignal.timeout(30_000) });
      return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
    };
    useImageDecoderThread({ bootstrap: '', timings: { startGraceMs: 200, sliceMs: 50 } });
    const failed = await post();
    assert.equal(failed.status, 500, JSON.stringify(failed.body));
    assert.equal(failed.body.code, 'ERR_INTERNAL');
    assert.match(failed.body.message ?? '', /image decoder thread did not start/);
    useImageDecoderThread();
    const decoded = await post();
    assert.equal(decoded.status, 200, JSON.stringify(decoded.body));
  } finally {
    useImageDecoderThread();
    await server.close();
    await served.close();
  }
});
