import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { until } from '../../test/helpers/until.js';
import { EarlyWorkers } from './early-workers.js';

/** A temporary folder, removed after test `t`, holding `worker.cjs` with `source`: the script the tests fork. */
function workerScript(t: TestContext, source: string): { dir: string; script: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-early-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'worker.cjs');
  writeFileSync(script, source);
  return { dir, script };
}

/** Deadline and pace of every wait in this file. */
const POLL = { timeoutMs: 20_000, intervalMs: 10 };

test('messages and the exit of a worker before it is adopted are kept, in order', async (t) => {
  // Says hello, reports its argument, and exits with code 3: all before the primary adopts it.
  const { script } = workerScript(t, "process.send({ type: 'hello' }); process.send({ n: 1 }, () => process.exit(3));\n");
  cluster.setupPrimary({ exec: script, silent: true });
  const early = new EarlyWorkers(2);
  assert.equal(early.workers.length, 2);
  await until('both early workers to exit', () => early.workers.every((w) => w.isDead()), POLL);
  for (const worker of early.workers) {
    const seen: unknown[] = [];
    const exited = early.adopt(worker, (m) => seen.push(m));
    assert.deepEqual(seen, [{ type: 'hello' }, { n: 1 }]);
    assert.deepEqual(exited, { code: 3, signal: null });
  }
  assert.equal(early.workers.length, 0, 'adopted workers are no longer held');
});

test('a worker adopted while running gets its later messages through the handler, and kill() stops the rest', async (t) => {
  // Answers each message with an echo; never exits on its own.
  const { script } = workerScript(t, "process.send({ type: 'hello' }); process.on('message', (m) => process.send({ echo: m }));\n");
  cluster.setupPrimary({ exec: script, silent: true });
  const early = new EarlyWorkers(2);
  const [first, second] = early.workers;
  const seen: unknown[] = [];
  await new Promise<void>((resolve) => first!.once('message', () => resolve()));
  assert.equal(early.adopt(first!, (m) => seen.push(m)), undefined, 'a running worker has no exit to report');
  first!.send('ping');
  await until('the echo of ping', () => seen.length === 2, POLL);
  assert.deepEqual(seen, [{ type: 'hello' }, { echo: 'ping' }]);
  early.kill();
  await until('the unadopted worker to be killed', () => second!.isDead(), POLL);
  assert.equal(second!.process.signalCode, 'SIGKILL');
  first!.process.kill('SIGKILL');
  await until('the adopted worker to exit', () => first!.isDead(), POLL);
});

test('a worker whose process could not be started is adopted as ended, with the spawn error; kill() passes over one not started', async (t) => {
  const { dir, script } = workerScript(t, "process.send({ type: 'hello' });\n");
  // A working directory that does not exist: Node cannot start the process (spawn ... ENOENT).
  cluster.setupPrimary({ exec: script, silent: true, cwd: path.join(dir, 'missing') });
  t.after(() => cluster.setupPrimary({ cwd: undefined }));
  const early = new EarlyWorkers(2);
  const [first, second] = early.workers;
  // Node reports the failure on the next tick, as an 'error' with no exit after it.
  await new Promise((resolve) => setImmediate(resolve));
  const ended = early.adopt(first!, () => assert.fail('a worker never started sends nothing'));
  assert.equal(ended?.code, null);
  assert.equal(ended?.signal, null);
  assert.equal(ended?.spawnError?.code, 'ENOENT');
  assert.match(ended.spawnError.message, /^spawn .* ENOENT$/);
  assert.doesNotThrow(() => early.kill());
  assert.equal(second!.process.pid, undefined);
});

test('a start Node refuses outright (it throws from cluster.fork) is ERR_WORKER_START with its reason', (t) => {
  const { script } = workerScript(t, "process.send({ type: 'hello' });\n");
  // A working directory that is a file: Node throws spawn ENOTDIR.
  cluster.setupPrimary({ exec: script, silent: true, cwd: script });
  t.after(() => cluster.setupPrimary({ cwd: undefined }));
  assert.throws(() => new EarlyWorkers(2), { code: 'ERR_WORKER_START', message: /^could not start a worker process: spawn ENOTDIR: the Node binary .* can no longer be run/ });
});

/** `cluster.fork` made to throw `code` on call number `at` (Node throws such start failures: ENOMEM cannot be caused here), for `fn`. */
function forkThrowingAt<T>(at: number, code: string, fn: () => T): T {
  const real = cluster.fork;
  let calls = 0;
  cluster.fork = ((env?: NodeJS.ProcessEnv) => {
    if (++calls === at) throw Object.assign(new Error(`spawn ${code}`), { code });
    return real.call(cluster, env);
  }) as typeof cluster.fork;
  try {
    return fn();
  } finally {
    cluster.fork = real;
  }
}

test('a start Node refuses outright after others were forked: those are killed before ERR_WORKER_START is thrown', async (t) => {
  const { script } = workerScript(t, "process.send({ type: 'hello' }); setInterval(() => {}, 1000);\n");
  cluster.setupPrimary({ exec: script, silent: true });
  const before = new Set(Object.keys(cluster.workers ?? {}));
  assert.throws(() => forkThrowingAt(2, 'ENOMEM', () => new EarlyWorkers(2)), { code: 'ERR_WORKER_START', message: /^could not start a worker process: spawn ENOMEM: the system had no memory for a new process/ });
  const first = Object.entries(cluster.workers ?? {}).find(([id]) => !before.has(id))?.[1];
  assert.ok(first, 'the first worker was forked');
  t.after(() => {
    if (!first.isDead()) first.process.kill('SIGKILL');
  });
  await until('the first worker to be killed', () => first.isDead(), POLL);
  assert.equal(first.process.signalCode, 'SIGKILL');
});

test('a start Node refused on a later tick is not signalled when a later start throws (Node 20 would signal pid 0, its whole process group)', async (t) => {
  const { dir, script: worker } = workerScript(t, "process.send({ type: 'hello' });\n");
  // In a process group of its own, so that a signal to pid 0 ends only it.
  const probe = path.join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    `import cluster from 'node:cluster';
import { EarlyWorkers } from ${JSON.stringify(new URL('./early-workers.js', import.meta.url).href)};
// The first start fails on the next tick (a missing working directory); the second throws.
cluster.setupPrimary({ exec: ${JSON.stringify(worker)}, silent: true, cwd: ${JSON.stringify(path.join(dir, 'missing'))} });
const real = cluster.fork;
let calls = 0;
cluster.fork = (env) => {
  if (++calls === 2) throw Object.assign(new Error('spawn ENOMEM'), { code: 'ENOMEM' });
  return real.call(cluster, env);
};
try {
  new EarlyWorkers(2);
} catch (err) {
  console.log(err.code);
}
setTimeout(() => console.log('survived'), 200);
`,
  );
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [probe], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  assert.deepEqual({ code, signal, out: out.trim() }, { code: 0, signal: null, out: 'ERR_WORKER_START\nsurvived' });
});
