import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../../config/child-env.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { extractModelArchive } from '../archive.js';

/** Where the smkit launcher lives (from `dist/src/local/transform/`). */
export const SMKIT_BIN = fileURLToPath(new URL('../../../../bin/smkit.js', import.meta.url));
const TEMPLATE_DIR = fileURLToPath(new URL('../../../../opt-ml-template/', import.meta.url));

/** Picks a free loopback port by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Options for {@link startLocalServer}. */
export interface LocalServerOptions {
  /** A model directory (served in place) or a `model.tar.gz` (extracted safely into the temp tree). */
  model: string;
  /** Extra environment for the server (for example the batch variables). */
  env?: Readonly<Record<string, string>>;
  /** How long to wait for `GET /ping` to answer 200. @defaultValue 120 s */
  startupTimeoutMs?: number;
  /** Called while waiting, with the seconds waited so far. */
  onWait?: (seconds: number) => void;
}

/** A running `smkit serve` child on a temporary `/opt/ml` tree. */
export interface LocalServer {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The temporary `SAGEMAKER_BASE_DIR`. */
  readonly baseDir: string;
  /** The server's combined stdout/stderr log. */
  readonly logFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and removes the temp tree. */
  stop(): Promise<void>;
}

async function lastLines(file: string, n: number): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function prepareTree(model: string): Promise<{ baseDir: string; modelDir: string }> {
  const baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'smkit-local-'));
  const hasTemplate = await fs.stat(TEMPLATE_DIR).then((s) => s.isDirectory(), () => false);
  if (hasTemplate) await fs.cp(TEMPLATE_DIR, baseDir, { recursive: true });
  const st = await fs.stat(model).catch(() => undefined);
  if (!st) throw new ToolkitError('ERR_CLI_USAGE', `--model ${model} does not exist: give a model directory or a model.tar.gz`);
  if (st.isDirectory()) return { baseDir, modelDir: path.resolve(model) };
  const modelDir = path.join(baseDir, 'model');
  await fs.rm(modelDir, { recursive: true, force: true });
  try {
    await extractModelArchive(model, modelDir);
  } catch (err) {
    await fs.rm(baseDir, { recursive: true, force: true });
    throw err;
  }
  return { baseDir, modelDir };
}

/**
 * Starts `smkit serve` as a child process on a free loopback port, with `SAGEMAKER_BASE_DIR` set to
 * a fresh temporary tree (from `opt-ml-template/` when present), and waits until `/ping` answers 200.
 * On failure the server is stopped and the error carries its last log lines.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const { baseDir, modelDir } = await prepareTree(options.model);
  const port = await freePort();
  const logFile = path.join(baseDir, 'smkit-serve.log');
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [SMKIT_BIN, 'serve', '--model-dir', modelDir, '--port', String(port)], {
    env: childEnv({ ...options.env, SAGEMAKER_BASE_DIR: baseDir, SMKIT_BIND_HOST: '127.0.0.1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    await new Promise<void>((resolve) => log.end(resolve));
    await fs.rm(baseDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.startupTimeoutMs ?? 120_000);
  const started = Date.now();
  let lastNotice = 0;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`smkit serve exited (${child.exitCode ?? child.signalCode}) before /ping answered 200`);
      }
      const ok = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`/ping did not answer 200 within ${Math.round((options.startupTimeoutMs ?? 120_000) / 1000)} s`);
      const waited = Math.floor((Date.now() - started) / 1000);
      if (options.onWait && waited > lastNotice) {
        lastNotice = waited;
        options.onWait(waited);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await new Promise((r) => setTimeout(r, 50));
    const tail = await lastLines(logFile, 20);
    await stop();
    throw new ToolkitError('ERR_MODEL_LOAD', `the local server for ${options.model} did not become ready: ${(err as Error).message}\n--- last server log lines ---\n${tail}`, { cause: err });
  }
  return { url, baseDir, logFile, stop };
}
