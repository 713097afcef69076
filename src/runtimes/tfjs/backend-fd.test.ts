/**
 * TF.js's WASM backend reads its binary as it starts, and TF.js only logs a read that fails
 * (`setBackend` answers false): one that meets a lack of file descriptors must not make smkit settle
 * on the slower CPU backend for the process. Run in a child process whose open files limit is low,
 * holding every descriptor from the moment `setBackend('wasm')` is called.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const DIST = new URL('../../', import.meta.url).href;

const SCRIPT = `
  import { closeSync, openSync } from 'node:fs';
  const dist = ${JSON.stringify(DIST)};
  const { loadTfjs, systemBackendDeps } = await import(new URL('runtimes/tfjs/backend.js', dist).href);
  const { createLogger } = await import(new URL('logging/logger.js', dist).href);
  const log = createLogger('silent');
  const tf = await systemBackendDeps.importModule('@tensorflow/tfjs');
  const held = [];
  // Every descriptor is taken just as TF.js starts the WASM backend (after smkit's own check).
  const short = { ...systemBackendDeps, importModule: async (name) => name !== '@tensorflow/tfjs' ? systemBackendDeps.importModule(name) : {
    ...tf,
    setBackend: (backend) => {
      if (backend === 'wasm') try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      return tf.setBackend(backend);
    },
  } };
  // Every descriptor is taken for TF.js's first start of the backend only, and given back as it fails.
  let calls = 0;
  const passing = { ...systemBackendDeps, importModule: async (name) => name !== '@tensorflow/tfjs' ? systemBackendDeps.importModule(name) : {
    ...tf,
    setBackend: async (backend) => {
      if (backend !== 'wasm' || calls++ > 0) return tf.setBackend(backend);
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      try { return await tf.setBackend(backend); } finally { for (const fd of held.splice(0)) closeSync(fd); }
    },
  } };
  const outcome = (deps) => loadTfjs('auto', log, deps).then((loaded) => loaded.backend, (err) => ({ code: err.code, message: err.message }));
  const first = await outcome(short);
  const heldCount = held.length;
  for (const fd of held.splice(0)) closeSync(fd);
  const passed = await outcome(passing);
  const second = await outcome({ ...systemBackendDeps });
  console.log(JSON.stringify({ first, passed, calls, second, heldCount }));
  process.exit(0);
`;

test("TF.js's WASM backend failing to start for want of file descriptors is 503 ERR_SERVER_BUSY, not a fall back to the CPU backend; one whose shortage has passed is tried again; it starts once they are free", async () => {
  // A file, not -e: a worker thread inherits --input-type=module, which its own entry file refuses.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-tfjs-fd-'));
  let stdout: string;
  try {
    writeFileSync(path.join(dir, 'wasm.mjs'), SCRIPT);
    ({ stdout } = await execFileAsync('sh', ['-c', 'ulimit -n 256 && exec "$0" "$1"', process.execPath, path.join(dir, 'wasm.mjs')], { timeout: 120_000 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { first, passed, calls, second, heldCount } = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    first: { code: string; message: string } | string;
    passed: unknown;
    calls: number;
    second: unknown;
    heldCount: number;
  };
  assert.ok(heldCount > 0, 'descriptors were held');
  assert.equal(typeof first, 'object', `not a fall back: ${JSON.stringify(first)}`);
  assert.equal((first as { code: string }).code, 'ERR_SERVER_BUSY');
  assert.match((first as { message: string }).message, /^TF\.js \(its wasm backend\) cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\)/);
  // A shortage over by the time TF.js's start has failed: tried again at once, not left for the CPU backend.
  assert.equal(passed, 'wasm');
  assert.equal(calls, 2);
  assert.equal(second, 'wasm');
});
