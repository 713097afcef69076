#!/usr/bin/env node
// Image build step (see the Dockerfile): with NODE_COMPILE_CACHE set (Node 22.1+), starts
// `smkit serve` on a tiny model, waits for /ping 200, sends one invocation and stops it with
// SIGTERM, so the compiled code of everything a single-model cold start loads (CLI, primary,
// worker, inference thread, ONNX Runtime's JavaScript) is on disk in the image. (A multi-model
// worker also loads two small modules of its own, compiled at its first start.) Without a compile cache it only
// checks that the image serves. Usage: node warm-compile-cache.mjs <model-dir>
//
// Node keeps the cache in one directory per V8 cache tag, and the tag changes with every V8 flag
// off its default. A worker with dynamic batching on starts with a young-generation flag
// (SMKIT_WORKER_SEMI_SPACE_MB=auto), which on Node 22 gives it a tag of its own, so the server is
// warmed once per set of worker flags a deployment commonly starts with.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const modelDir = process.argv[2];
const port = 18080;
const url = `http://127.0.0.1:${port}`;

/** The settings each warm-up serves with: the defaults, and dynamic batching on. */
const VARIANTS = [{}, { SMKIT_BATCH_MAX_SIZE: '8' }];

async function serveOnce(env) {
  const child = spawn(process.execPath, ['/app/bin/smkit.js', 'serve', '--model-dir', modelDir, '--port', String(port), '--host', '127.0.0.1', '--workers', '1'], {
    stdio: 'inherit',
    env: { ...process.env, SMKIT_LOG_LEVEL: 'warn', ...env },
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  try {
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`${url}/ping`).then((r) => r.status === 200, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('smkit serve did not answer /ping 200 within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await fetch(`${url}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: '5.1,3.5,1.4,0.2\n' });
    if (res.status !== 200) throw new Error(`POST /invocations answered ${res.status}: ${await res.text()}`);
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`smkit serve (${JSON.stringify(env)}) exited with ${code} after SIGTERM`);
}

for (const env of VARIANTS) await serveOnce(env);
// Node before 22.1 (NODE_IMAGE=node:20-…) ignores NODE_COMPILE_CACHE and makes no such folder.
const dir = process.env.NODE_COMPILE_CACHE && existsSync(process.env.NODE_COMPILE_CACHE) ? process.env.NODE_COMPILE_CACHE : undefined;
const files = dir ? readdirSync(dir, { recursive: true }) : [];
// Node writes each entry 0600 and files it under the uid that wrote it (root, here): readable
// entries are what bin/smkit.js links for a container run as another user (--user 1000).
for (const f of files) if (statSync(path.join(dir, f)).isFile()) chmodSync(path.join(dir, f), 0o644);
console.log(dir ? `compile cache ${dir}: ${files.length} entries` : `no compile cache on Node ${process.versions.node}: nothing cached`);
