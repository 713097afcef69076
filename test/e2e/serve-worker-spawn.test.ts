/**
 * A worker process Node cannot start (the system refuses a new process, or the Node binary is gone):
 * `smkit serve` runs here from its own copy of the Node binary, which the tests move away once the
 * server runs, so that every new worker process fails to start (`spawn … ENOENT`), the way a pids
 * limit fails it with EAGAIN. The primary used to end on the unheard `'error'`, taking the
 * workers that still served with it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN, fetchWithTimeout, freePort, makeOptMl, removeDir } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'handlers');
const POLL = { timeoutMs: 60_000, intervalMs: 50 };
const folders: string[] = [];
const servers: ChildProcess[] = [];
after(() => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  for (const f of folders) removeDir(f);
});

/** A Node binary of the test's own, in a folder of its own: a hard link where the file system allows one, else a copy. */
function ownNode(): { node: string; away: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-node-bin-'));
  folders.push(dir);
  const node = path.join(dir, 'node');
  try {
    linkSync(process.execPath, node);
  } catch {
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }
  return { node, away: path.join(dir, 'node.away') };
}

interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function serveWith(node: string, modelDir: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const child = spawn(node, [SMKIT_BIN, 'serve', '--model-dir', modelDir, '--port', String(port), '--log-format', 'json'], {
    env: { ...process.env, SMKIT_BIND_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, url: `http://127.0.0.1:${port}`, output: () => out, exited };
}

/** The pids of a process's children (its worker processes), from /proc. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

/** The JSON log lines that carry `msg`. */
function lines(output: string, msg: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

const invoke = (url: string) => fetchWithTimeout(`${url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });

// Linux only: the worker processes are found through /proc.
describe('a worker process that cannot be started', { skip: process.platform !== 'linux', concurrency: 2 }, () => {
  test('while serving: the failure is logged and tried again, the other worker serves meanwhile, and the replacement starts once it can', async () => {
    const { node, away } = ownNode();
    const server = await serveWith(node, path.join(REPO_ROOT, 'models', 'iris-onnx'), { SAGEMAKER_MODEL_SERVER_WORKERS: '2' });
    await until('both workers to load the model', () => lines(server.output(), 'model ready').length >= 2 && /"msg":"ready: listening/.test(server.output()), POLL);
    const [victim, survivor] = childrenOf(server.child.pid!);
    assert.ok(victim && survivor, `two worker processes, found ${childrenOf(server.child.pid!).join(', ')}`);
    renameSync(node, away);
    process.kill(victim, 'SIGKILL');
    const [failure] = await until('a failed start to be logged', () => {
      const found = lines(server.output(), 'could not start a worker process; trying again');
      return found.length > 0 ? found : undefined;
    }, POLL);
    assert.match(String(failure!.reason), new RegExp(`^spawn ${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ENOENT: the Node binary .* can no longer be run .*; restart smkit serve$`));
    assert.equal(server.child.exitCode, null, 'the primary still runs');
    const answer = await invoke(server.url);
    assert.equal(answer.status, 200, 'the other worker serves');
    assert.equal(((await answer.json()) as number[][])[0]!.length, 3);
    renameSync(away, node);
    await until('a replacement worker to load the model', () => lines(server.output(), 'model ready').length >= 3, POLL);
    assert.equal(childrenOf(server.child.pid!).length, 2, 'two workers again');
    assert.ok(!childrenOf(server.child.pid!).includes(victim));
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });

  test('before any worker loaded the model: three failed starts in a row stop smkit serve with ERR_WORKER_START, Node\'s reason and what to do', async () => {
    const { node, away } = ownNode();
    const base = makeOptMl();
    folders.push(base);
    cpSync(path.join(FIXTURES, 'hang'), path.join(base, 'model'), { recursive: true });
    // The model never loads: the only worker is replaced while it loads.
    const server = await serveWith(node, path.join(base, 'model'), { SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SAGEMAKER_STARTUP_TIMEOUT: '120' });
    await until('the worker to answer /ping (503 while it loads)', async () => {
      try {
        const res = await fetchWithTimeout(`${server.url}/ping`, {}, 5_000);
        await res.arrayBuffer();
        return res.status === 503;
      } catch {
        return false;
      }
    }, POLL);
    const [worker] = childrenOf(server.child.pid!);
    assert.ok(worker);
    renameSync(node, away);
    process.kill(worker, 'SIGKILL');
    const code = await server.exited;
    assert.equal(code, 1, server.output());
    assert.equal(lines(server.output(), 'could not start a worker process; trying again').length, 2, 'two tries logged before the third ends it');
    assert.match(server.output(), /smkit: ERR_WORKER_START: could not start a worker process, 3 times in a row: spawn \S+ ENOENT: the Node binary \S+ can no longer be run/);
  });
});
