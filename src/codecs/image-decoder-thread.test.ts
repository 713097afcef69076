/**
 * The image decoder thread failing to start (its code cannot load: EMFILE, a broken install; or it
 * ends as it loads) or ending while it decodes: the blocked caller gets its answer from the thread
 * itself, at once rather than after the 60 s decode timeout, and the next image starts a new thread.
 * The thread's code is swapped for modules that fail so (useImageDecoderCode).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isToolkitError } from '../errors/catalogue.js';
import { decodeImageSync, imageCodecs, imageDecoderThread, useImageDecoderCode } from './image.js';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-decoder-thread-'));
after(() => {
  useImageDecoderCode();
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
  assert.throws(() => decodeImageSync(PNG, 3, 'image/png'), failsWith('ERR_INTERNAL', /^the image decoder thread ended while decoding the image\/png body \(exit code 1\); the next image starts a new one$/));
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
