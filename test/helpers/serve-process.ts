import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, utimesSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOptMlTreeSync } from '../../src/opt-ml/layout.js';

/** The repository root (tests run from dist/test/...). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The CLI launcher. */
export const SMKIT_BIN = path.join(REPO_ROOT, 'bin', 'smkit.js');

const handedOut = new Set<number>();

/**
 * Where the test processes of one run (they share the temporary folder) note the ports they handed
 * out, one empty file per port: the OS can give a port it gave one test file's process a moment ago
 * to another's before the child meant to bind it does, and two `smkit serve` on one port (SO_REUSEPORT,
 * Node 22.12+) then both bind it and one of them has to stop. scripts/run-tests.mjs removes it when
 * the run ends.
 */
const PORTS_DIR = path.join(os.tmpdir(), 'smkit-test-ports');
/** How long a port stays noted: longer than any test file runs. */
const PORT_NOTE_MS = 30 * 60_000;

/** Notes `port` as handed out; false when a test process of this run noted it already. */
export function notePort(port: number): boolean {
  const file = path.join(PORTS_DIR, String(port));
  try {
    mkdirSync(PORTS_DIR, { recursive: true });
    closeSync(openSync(file, 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true;
    try {
      if (Date.now() - statSync(file).mtimeMs < PORT_NOTE_MS) return false;
      const now = new Date();
      utimesSync(file, now, now);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Asks the OS for a free loopback port, never one this process, or another test process of this run
 * (see {@link PORTS_DIR}), handed out before (the OS can give a port out again before the child that
 * was meant to bind it does: servers started side by side, in one test file or in several).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await probePort();
    if ((!handedOut.has(port) && notePort(port)) || attempt >= 50) {
      handedOut.add(port);
      return port;
    }
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A temporary /opt/ml tree whose model/ is a copy of `modelSource` (when given). */
export function makeOptMl(modelSource?: string): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-optml-'));
  try {
    createOptMlTreeSync(base);
    if (modelSource) cpSync(modelSource, path.join(base, 'model'), { recursive: true });
  } catch (err) {
    // The caller gets no folder to remove (a model source that does not exist).
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return base;
}

/** A running `smkit serve` child process. */
export interface ServeProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Its `SMKIT_INSTANCE_ID`: every `/ping` answer of this child carries it in `X-Smkit-Instance-Id`. */
  readonly instanceId?: string;
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) once the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

/** How long a test request may take before it fails (instead of hanging the suite). */
export const FETCH_TIMEOUT_MS = 30_000;

/**
 * `fetch` with a deadline: a request to a half-started or stuck server fails after `timeoutMs`
 * instead of hanging the suite. A `signal` in `init` wins.
 */
export function fetchWithTimeout(input: string | URL, init: RequestInit = {}, timeoutMs = FETCH_TIMEOUT_MS): Promise<Response> {
  return fetch(input, { signal: AbortSignal.timeout(timeoutMs), ...init });
}

/**
 * Starts `node bin/smkit.js serve` with `env` on a free port; `args` are extra CLI flags, and
 * `fileLimit` its open files limit (`ulimit -n`) if given. Returns
 * once the child holds its port (its `/ping` answers, loading or not, carry its `SMKIT_INSTANCE_ID`)
 * or has exited. Another process can take the port between the probe and the child's bind (other
 * test files run at the same time): the child then exits with `ERR_PORT_IN_USE` and is started again
 * on a new port, so no test ever talks to someone else's server. A port chosen by the caller
 * (`SAGEMAKER_BIND_TO_PORT` in `env`, `--port` in `args`) is used as given, without waiting.
 */
export async function startServe(env: Record<string, string>, args: string[] = [], fileLimit?: number): Promise<ServeProcess> {
  const ownPort = env.SAGEMAKER_BIND_TO_PORT === undefined && !args.includes('--port');
  for (let attempt = 1; ; attempt++) {
    const server = spawnServe(await freePort(), `test-${process.pid}-${attempt}-${Math.random().toString(36).slice(2)}`, env, args, fileLimit);
    if (!ownPort || attempt >= 3) return server;
    if ((await holdsItsPort(server)) !== 'lost') return server;
    await server.stop();
  }
}

/**
 * Starts `smkit serve` with `args` and `--port <a free port>` (for a test of the flag itself) and,
 * as {@link startServe} does for its own ports, starts it again on another port when another test
 * file's process bound that port between the probe and the child's bind (ERR_PORT_IN_USE). The
 * handle's `url` and `port` are that port's.
 */
export async function startServeWithPortFlag(env: Record<string, string>, args: string[]): Promise<ServeProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const server = await startServe(env, [...args, '--port', String(port)]);
    const own: ServeProcess = { ...server, url: `http://127.0.0.1:${port}`, port, output: () => server.output(), stop: () => server.stop() };
    if (attempt >= 3 || (await holdsItsPort(own)) !== 'lost') return own;
    await server.stop();
  }
}

/** Waits until the child answers `/ping` with its own instance id ('held'), exits, or a minute passes. */
async function holdsItsPort(server: ServeProcess): Promise<'held' | 'lost' | 'exited' | 'unknown'> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      await server.exited;
      return /ERR_PORT_IN_USE/.test(server.output()) ? 'lost' : 'exited';
    }
    try {
      const res = await pingOnNewConnection(server.url, 5_000);
      await res.arrayBuffer();
      if (res.headers.get('x-smkit-instance-id') === server.instanceId) return 'held';
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'unknown';
}

/**
 * A handler (`code/inference.mjs`) for the descriptor-shortage tests: with the custom attribute
 * `hold` its predictFn opens `/dev/null` until the process has no descriptor left, then gives back
 * `leftFree` of them (fewer than a lazy load asks for, enough that a load already under way is not
 * cut short by EMFILE); `release` gives every one back; anything else answers `{ ok: true }`.
 */
export function descriptorHoldingHandler(leftFree: number): string {
  return `
import { closeSync, openSync } from 'node:fs';
const held = [];
export function predictFn(input, model, context) {
  if (context.customAttributes === 'hold') {
    try {
      for (;;) held.push(openSync('/dev/null', 'r'));
    } catch {}
    for (const fd of held.splice(-${leftFree})) closeSync(fd);
    return { held: held.length };
  }
  if (context.customAttributes === 'release') {
    for (const fd of held.splice(0)) closeSync(fd);
    return { released: true };
  }
  return { ok: true };
}
`;
}

/**
 * Starts `smkit serve` with `env` under `ulimit -n fileLimit` on a free port (as {@link startServe}), and resolves once its
 * `/ping` answers 200 (fails, with the server stopped, if it exits or a minute passes first).
 */
export async function startServeWithFileLimit(fileLimit: number, env: Record<string, string>): Promise<ServeProcess> {
  // Through startServe: started again on another port should another test file's process bind the probed one first.
  const server = await startServe(env, [], fileLimit);
  try {
    await (await waitForPing(server)).arrayBuffer();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

function spawnServe(port: number, instanceId: string, env: Record<string, string>, args: string[], fileLimit?: number): ServeProcess {
  const command = [process.execPath, SMKIT_BIN, 'serve', ...args];
  // POSIX sh sets the limit, then runs the server in its place: the primary and its worker inherit it.
  const [file, ...argv] = fileLimit === undefined ? command : ['sh', '-c', `ulimit -n ${fileLimit} && exec "$0" "$@"`, ...command];
  const child = spawn(file!, argv, {
    env: { ...process.env, SAGEMAKER_BIND_TO_PORT: String(port), SMKIT_BIND_HOST: '127.0.0.1', SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_INSTANCE_ID: instanceId, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // Settles once the output pipes closed too (a test reads the last lines after the exit), or 2 s
  // after the exit: a worker that outlived its primary would hold them open.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      const settle = () => resolve({ code, signal });
      const late = setTimeout(settle, 2000);
      void closed.then(() => {
        clearTimeout(late);
        settle();
      });
    }),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    instanceId,
    child,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * `GET <url>/ping` on a connection of its own, closed after the answer. A poll that waits for its own
 * child must not keep a connection alive: one that reached another server (which had the port a
 * moment, or shares it) would carry every later poll there, even once the child is the only one
 * listening (the flake hunt saw a poll answered by another server for 120 s while the child was ready).
 */
export function pingOnNewConnection(url: string, timeoutMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/ping`, { agent: false, headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.once('error', reject);
      res.once('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
      });
    });
    req.once('error', reject);
  });
}

/**
 * Polls `GET /ping` until it answers `status` (default 200) — and, for 503, until the body says the
 * load has failed (`Unhealthy`) rather than still loading — or fails after `timeoutMs`.
 */
export async function waitForPing(server: ServeProcess, status = 200, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`smkit serve exited (${server.child.exitCode}) before /ping answered ${status}:\n${server.output()}`);
    try {
      const res = await pingOnNewConnection(server.url, 5000);
      if (server.instanceId !== undefined && res.headers.get('x-smkit-instance-id') !== server.instanceId) {
        // Another server holds the port (the child will exit with ERR_PORT_IN_USE): never take its answer.
        last = `HTTP ${res.status} from another server on port ${server.port}`;
        await res.arrayBuffer();
      } else if (res.status === status && status !== 503) return res;
      else if (res.status === 503 && status === 503) {
        const body = (await res.json()) as { status?: string };
        if (body.status === 'Unhealthy') return Response.json(body, { status: 503 });
        last = 'HTTP 503 (still loading)';
      } else {
        last = `HTTP ${res.status}`;
        await res.arrayBuffer();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/ping did not answer ${status} within ${timeoutMs} ms (last: ${last}):\n${server.output()}`);
}

/** What a finished CLI run printed, and its exit code (null when a signal ended it). */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/smkit.js <args>` with exactly `env` (callers choose what to inherit) and collects
 * its output; a run past `timeoutMs` is killed and fails with what it printed, so a hang fails fast.
 */
export function runSmkit(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SMKIT_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`smkit ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `smkit deploy <args>` as a user would: only `PATH`, `HOME` and `env` (no AWS settings of
 * this machine leak in), with a deadline so a hang fails the test.
 */
export function runDeploy(args: readonly string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliRun> {
  return runSmkit(['deploy', ...args], { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeoutMs);
}

/** Removes a temporary directory, ignoring errors. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
