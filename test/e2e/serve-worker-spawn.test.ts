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
import { chmodSync, copyFileSync, cpSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN, fetchWithTimeout, freePort, makeOptMl, removeDir } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'handlers');
const POLL = { timeoutMs: 60_000, intervalMs: 50 };
const folders: string[] = [];
const servers: ChildProcess[] = [];
/** Children started so far: each gets its own SMKIT_INSTANCE_ID. */
let spawned = 0;
describe('serve worker spawn', () => {
  after(() => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    for (const f of folders) removeDir(f);
  });

  /** A Node binary of the test's own, `<dir>/bin/node`: a hard link where the file system allows one, else a copy. */
  function ownNode(): { dir: string; node: string } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-node-bin-'));
    folders.push(dir);
    mkdirSync(path.join(dir, 'bin'));
    const node = path.join(dir, 'bin', 'node');
    try {
      linkSync(process.execPath, node);
    } catch {
      copyFileSync(process.execPath, node);
      chmodSync(node, 0o755);
    }
    return { dir, node };
  }

  interface Server {
    child: ChildProcess;
    url: string;
    instanceId: string;
    output: () => string;
    exited: Promise<number | null>;
  }

  /**
   * Starts `smkit serve` from `node` on a free port and returns once it holds the port (its `/ping`
   * answers with its own instance id) or has exited. Another test file's process can take the port
   * between the probe and the bind: the child then exits with ERR_PORT_IN_USE and is started again
   * on a new port, as `startServe` does.
   */
  async function serveWith(node: string, modelDir: string, env: Record<string, string>): Promise<Server> {
    for (let attempt = 1; ; attempt++) {
      // One id per child, not per attempt: the two tests run at once, and a child must not take the
      // other test's server (same id, on the same probed port) for its own.
      const server = spawnWith(node, modelDir, await freePort(), `spawn-test-${process.pid}-${++spawned}`, env);
      if (attempt >= 3 || (await holdsItsPort(server)) !== 'lost') return server;
    }
  }

  function spawnWith(node: string, modelDir: string, port: number, instanceId: string, env: Record<string, string>): Server {
    const child = spawn(node, [SMKIT_BIN, 'serve', '--model-dir', modelDir, '--port', String(port), '--log-format', 'json'], {
      env: { ...process.env, SMKIT_BIND_HOST: '127.0.0.1', SMKIT_INSTANCE_ID: instanceId, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    return { child, url: `http://127.0.0.1:${port}`, instanceId, output: () => out, exited };
  }

  /** 'held' once the child answers `/ping` with its own instance id; 'lost' if it exited with ERR_PORT_IN_USE. */
  async function holdsItsPort(server: Server): Promise<'held' | 'lost' | 'exited'> {
    let outcome: 'held' | 'lost' | 'exited' = 'exited';
    await until('the server to hold its port, or exit', async () => {
      if (server.child.exitCode !== null || server.child.signalCode !== null) {
        await server.exited;
        outcome = /ERR_PORT_IN_USE/.test(server.output()) ? 'lost' : 'exited';
        return true;
      }
      try {
        const res = await fetchWithTimeout(`${server.url}/ping`, {}, 5_000);
        await res.arrayBuffer();
        // Any status: a worker still loading answers 503 with the id. Another id is a foreign server.
        if (res.headers.get('x-smkit-instance-id') !== server.instanceId) return false;
        outcome = 'held';
        return true;
      } catch {
        return false;
      }
    }, POLL);
    return outcome;
  }

  /** The pids of a process's children (its worker processes), from /proc. */
  function childrenOf(pid: number): number[] {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(' ').map(Number);
  }

  /** The JSON log lines that carry `msg`; a line still being written (no newline yet) is left for later. */
  function lines(output: string, msg: string): Record<string, unknown>[] {
    return output
      .split('\n')
      .slice(0, -1)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === msg);
  }

  /** True while the server runs; throws once it has exited, so a wait on it fails at once. */
  function running(server: Server): true {
    if (server.child.exitCode !== null || server.child.signalCode !== null) throw new Error(`smkit serve exited (${server.child.exitCode ?? server.child.signalCode}):\n${server.output()}`);
    return true;
  }

  const invoke = (url: string) => fetchWithTimeout(`${url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });

  // Linux only: the worker processes are found through /proc.
  describe('a worker process that cannot be started', { skip: process.platform !== 'linux', concurrency: 2 }, () => {
    test('while serving: a start Node reports failed, or one it refuses outright, is logged and tried again, the other worker serves meanwhile, and the replacement starts once it can', async () => {
      const { dir, node } = ownNode();
      const server = await serveWith(node, path.join(REPO_ROOT, 'models', 'iris-onnx'), { SAGEMAKER_MODEL_SERVER_WORKERS: '2' });
      const ready = () => lines(server.output(), 'model ready').length;
      await until('both workers to load the model', () => running(server) && ready() >= 2 && /"msg":"ready: listening/.test(server.output()), POLL);
      const failures = () => lines(server.output(), 'could not start a worker process; trying again');
      /** Kills a worker while `broken` keeps new ones from starting; checks the logged reason and that the other serves; `mend` lets the next try start one. */
      const replaceWhileBroken = async (broken: () => void, mend: () => void, reason: RegExp) => {
        const workers = childrenOf(server.child.pid!);
        assert.equal(workers.length, 2, `two worker processes, found ${workers.join(', ')}`);
        const failedBefore = failures().length;
        const readyBefore = ready();
        broken();
        process.kill(workers[0]!, 'SIGKILL');
        await until('a failed start to be logged', () => running(server) && failures().length > failedBefore, POLL);
        assert.match(String(failures().at(-1)!.reason), reason);
        const answer = await invoke(server.url);
        assert.equal(answer.status, 200, 'the other worker serves');
        assert.equal(((await answer.json()) as number[][])[0]!.length, 3);
        mend();
        await until('a replacement worker to load the model', () => running(server) && ready() > readyBefore, POLL);
        const now = childrenOf(server.child.pid!);
        assert.equal(now.length, 2, 'two workers again');
        assert.ok(!now.includes(workers[0]!));
      };
      const escaped = node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      // Moved away: Node reports the failure (spawn ENOENT) as the worker's 'error'.
      const away = `${node}.away`;
      await replaceWhileBroken(
        () => renameSync(node, away),
        () => renameSync(away, node),
        new RegExp(`^spawn ${escaped} ENOENT: the Node binary ${escaped} can no longer be run .*; restart smkit serve$`),
      );
      // Its folder a file: Node throws the failure (spawn ENOTDIR) from cluster.fork().
      const bin = path.join(dir, 'bin');
      await replaceWhileBroken(
        () => {
          renameSync(bin, `${bin}.away`);
          writeFileSync(bin, '');
        },
        () => {
          rmSync(bin);
          renameSync(`${bin}.away`, bin);
        },
        new RegExp(`^spawn ENOTDIR: the Node binary ${escaped} can no longer be run .*; restart smkit serve$`),
      );
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
    });

    test('before any worker loaded the model: three failed starts in a row stop smkit serve with ERR_WORKER_START, Node\'s reason and what to do', async () => {
      const { node } = ownNode();
      const base = makeOptMl();
      folders.push(base);
      cpSync(path.join(FIXTURES, 'hang'), path.join(base, 'model'), { recursive: true });
      // The model never loads: the only worker is replaced while it loads.
      const server = await serveWith(node, path.join(base, 'model'), { SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SAGEMAKER_STARTUP_TIMEOUT: '120' });
      await until('the worker to answer /ping (503 while it loads)', async () => {
        running(server);
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
      renameSync(node, `${node}.away`);
      process.kill(worker, 'SIGKILL');
      const code = await server.exited;
      assert.equal(code, 1, server.output());
      assert.equal(lines(server.output(), 'could not start a worker process; trying again').length, 2, 'two tries logged before the third ends it');
      assert.match(server.output(), /smkit: ERR_WORKER_START: could not start a worker process, 3 times in a row: spawn \S+ ENOENT: the Node binary \S+ can no longer be run/);
    });
  });
});
