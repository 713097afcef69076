import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../logging/logger.js';
import { DEADLINE_CHECK_MS, InProcessBackend } from './in-process-backend.js';

const log = createLogger('silent');

/**
 * A model whose transformFn answers after the number of ms the body names; a body "held" answers
 * once the test calls globalThis.releaseHeld() (the model runs in this process).
 */
function slowModel(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-inproc-'));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'inference.mjs'),
    `export const modelFn = () => ({});
export async function transformFn(model, body) {
  if (Buffer.from(body).toString() === 'held') {
    // The backend's deadline checks do not keep the process alive (a server does): this does.
    const alive = setInterval(() => {}, 1000);
    await new Promise((r) => (globalThis.releaseHeld = r));
    clearInterval(alive);
    return { body: 'released', contentType: 'text/plain' };
  }
  await new Promise((r) => setTimeout(r, Number(Buffer.from(body).toString())));
  return { body: 'done after ' + Buffer.from(body).toString(), contentType: 'text/plain' };
}
`,
  );
  return dir;
}

async function start(dir: string): Promise<InProcessBackend> {
  const backend = new InProcessBackend(
    { modelDir: dir, codeDir: path.join(dir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
    log,
  );
  await backend.whenSettled();
  assert.equal(backend.state(), 'ready', backend.failure()?.message);
  return backend;
}

const ask = (backend: InProcessBackend, ms: number | 'held', timeoutMs: number) =>
  backend.invoke({ requestId: String(ms), body: Buffer.from(String(ms)), contentType: 'text/plain', headers: {} }, timeoutMs);

test('an invocation past its timeout fails with ERR_TIMEOUT; others in flight, before and after, are answered', { timeout: 60_000 }, async (t) => {
  const dir = slowModel();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = await start(dir);
  const started = performance.now();
  // The slow one is held until released: its time-out is what ends it, never its answer (a 3 s
  // answer and a bound of 2.5 s on the wait depended on how busy the machine was).
  const [slow, quick] = await Promise.allSettled([ask(backend, 'held', 300), ask(backend, 10, 5000)]);
  const waited = performance.now() - started;
  (globalThis as { releaseHeld?: () => void }).releaseHeld?.();
  assert.equal(slow.status, 'rejected');
  assert.equal((slow as PromiseRejectedResult).reason.code, 'ERR_TIMEOUT');
  assert.match((slow as PromiseRejectedResult).reason.message, /longer than 0.3 s/);
  // A timer may fire up to a millisecond early by performance.now().
  assert.ok(waited >= 299, `timed out after ${waited.toFixed(0)} ms, before its 300 ms`);
  assert.equal(quick.status, 'fulfilled');
  assert.equal((await ask(backend, 1, 5000)).body.toString(), 'done after 1');
  assert.ok(DEADLINE_CHECK_MS <= 100);
  await backend.close();
});

test('close fails what is in flight with its reason, and waits for it within the grace period', async (t) => {
  const dir = slowModel();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = await start(dir);
  const finishing = ask(backend, 50, 60_000);
  const stuck = ask(backend, 3000, 120_000);
  const closed = backend.close(500);
  assert.equal((await finishing).body.toString(), 'done after 50', 'an answer within the grace period is kept');
  await assert.rejects(stuck, { code: 'ERR_SHUTTING_DOWN' });
  await closed;
  await assert.rejects(ask(backend, 1, 1000), { code: 'ERR_SHUTTING_DOWN' });
});
