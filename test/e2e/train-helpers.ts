import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../helpers/until.js';

/** Repository root (tests run from `dist/test/e2e`). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SMKIT = path.join(REPO, 'bin/smkit.js');
export const TRAIN_FIXTURES = path.join(REPO, 'test/fixtures/train');

/** Files of a training tree to create. */
export interface TreeSpec {
  hyperparameters?: Record<string, string>;
  inputDataConfig?: Record<string, unknown>;
  resourceConfig?: Record<string, unknown>;
  /** Fixture scripts (from test/fixtures/train) to copy into code/. */
  code?: string[];
}

/** Creates a temporary `/opt/ml`-like tree; returns its base dir. */
export function makeTree(spec: TreeSpec): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-train-test-'));
  mkdirSync(path.join(base, 'input/config'), { recursive: true });
  mkdirSync(path.join(base, 'code'));
  const write = (name: string, v: unknown) => v !== undefined && writeFileSync(path.join(base, 'input/config', name), JSON.stringify(v));
  write('hyperparameters.json', spec.hyperparameters);
  write('inputdataconfig.json', spec.inputDataConfig);
  write('resourceconfig.json', spec.resourceConfig ?? { current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0' });
  for (const f of spec.code ?? []) copyFileSync(path.join(TRAIN_FIXTURES, f), path.join(base, 'code', f));
  return base;
}

/** The test process's environment without variables that would steer the runner. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(SM_|SAGEMAKER_|SMKIT_|TRAINING_JOB_NAME$|NODE_PATH$)/.test(k)) env[k] = v;
  }
  return { ...env, SMKIT_LOG_LEVEL: 'warn', ...extra };
}

/** Result of a finished CLI run. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts `node bin/smkit.js <args>`; output is collected. `done` settles when smkit has exited and
 * its output pipes closed, or 2 s after the exit: an entry point left running would hold them open
 * (its output is inherited), and the test should then fail on what it asserts, not hang.
 */
export function startSmkit(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [SMKIT, ...args], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const done = new Promise<RunResult>((resolve) =>
    child.once('exit', (code, signal) => {
      const settle = () => resolve({ code, signal, stdout, stderr });
      const late = setTimeout(settle, 2000);
      void closed.then(() => {
        clearTimeout(late);
        settle();
      });
    }),
  );
  return { child, done };
}

/** Runs `node bin/smkit.js <args>` to the end. */
export function runSmkit(args: string[], env: Record<string, string>): Promise<RunResult> {
  return startSmkit(args, env).done;
}

/**
 * Polls until `file` holds a process id (bounded) and answers it. Existing is not enough: the
 * script creates the file before it writes the id, and an empty read gave pid 0.
 */
export async function waitForPid(file: string, timeoutMs = 20_000): Promise<number> {
  let pid = 0;
  await until(
    `${file} to hold a process id`,
    () => {
      pid = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
      return Number.isSafeInteger(pid) && pid > 0;
    },
    { timeoutMs },
  );
  return pid;
}

/**
 * Ends a run a test gave up on: smkit and the entry point's process group (detached, so killing
 * smkit alone would leave it holding smkit's output pipe and the test file would never end).
 */
export function killRun(child: ChildProcess, scriptPid: number | undefined): void {
  child.kill('SIGKILL');
  if (scriptPid === undefined) return;
  try {
    process.kill(-scriptPid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** True while a process with this pid exists and is not a zombie (killed, waiting to be reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; the comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    // Gone in between, or no /proc (not Linux), where the signal check is all there is.
    return !((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self'));
  }
}

/**
 * Resolves true once the process is gone, false if it is still there after `timeoutMs`. A killed
 * process whose parent has just exited lingers for a moment until init reaps it, longer on a
 * loaded machine, so a check right after the parent's exit could see it.
 */
export async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}
