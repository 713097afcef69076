import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './serve-process.js';

/** The zygote's Python (test/helpers is not compiled: it is read from the checkout). */
const ZYGOTE_PY = path.join(REPO_ROOT, 'test', 'helpers', 'aws-zygote.py');

/**
 * A pre-imported AWS CLI (aws-zygote.py): each `aws` command run through it is the machine's own
 * AWS CLI script, run in a process forked from a Python that imported awscli once, instead of a
 * second or more of CPU importing it afresh. Commands it cannot take run the plain CLI.
 */
export interface AwsZygote {
  /** Writes an `aws` into `dir` (a folder put first on PATH) that runs its commands through the zygote. */
  install(dir: string): void;
  /** Stops the zygote and any command still running in it. */
  stop(): Promise<void>;
}

/** The Python an AWS CLI that is a Python script runs (`#!/path/to/python3`, as Debian's /usr/bin/aws). */
function scriptPython(aws: string): string | undefined {
  try {
    return /^#!(\/\S*\/python3[\d.]*)[ \t]*\n/.exec(readFileSync(aws, 'utf8').slice(0, 200))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * What `aws --version` starts with for the AWS CLI `aws` (an absolute path): `aws-cli/<version>`,
 * or undefined when there is none. For a CLI that is a Python script, its Python reads the version of
 * the awscli it would import from the package's metadata: about 0.1 s of CPU, where `aws --version`
 * costs about 0.9 s importing awscli; any other CLI is run with --version.
 */
export function awsCliVersion(aws: string): string | undefined {
  if (!existsSync(aws)) return undefined;
  const python = scriptPython(aws);
  const run =
    python === undefined
      ? spawnSync(aws, ['--version'], { encoding: 'utf8', timeout: 30_000 })
      : spawnSync(python, ['-c', "import importlib.metadata as m; print('aws-cli/' + m.version('awscli'))"], { encoding: 'utf8', timeout: 30_000 });
  return run.status === 0 ? /^aws-cli\/\S+/.exec(run.stdout)?.[0] : undefined;
}

/**
 * Starts a zygote for `aws`, an AWS CLI that is a Python script (`#!/path/to/python3`, as Debian's
 * /usr/bin/aws), with `env` (the environment its commands share the Python settings of). Undefined
 * when `aws` is not such a script or the zygote does not start: callers then run `aws` as it is.
 */
export async function startAwsZygote(aws: string, env: NodeJS.ProcessEnv): Promise<AwsZygote | undefined> {
  const python = scriptPython(aws);
  if (python === undefined) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-aws-zygote-'));
  const socket = path.join(dir, 'socket');
  // Its own process group (so stop() reaches its commands); it also ends when its standard input does.
  const child = spawn(python, [ZYGOTE_PY, 'serve', socket, aws], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  // Drained so a command's crash report cannot fill the pipe; kept short for the failure message.
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  // A spawn failure emits 'error' and no 'exit': it counts as the zygote gone (and is not thrown).
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      stderr += `${err.message}\n`;
      resolve();
    });
  });
  const stop = async () => {
    // Waiting for its exit keeps this process alive again (it was unref'd once ready).
    child.ref();
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // A guard against a zygote that never says ready (the import takes about a second).
  let deadline: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    new Promise<boolean>((resolve) => child.stdout.on('data', () => stdout.startsWith('ready\n') && resolve(true))),
    exited.then(() => false),
    new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), 120_000))),
  ]);
  clearTimeout(deadline);
  if (!ready) {
    process.emitWarning(`the AWS CLI zygote did not start, so aws runs as it is:\n${stderr}`);
    await stop();
    return undefined;
  }
  // It does not keep the test process alive; if that process ends without stop(), its closed
  // standard input stops the zygote.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref(): void }).unref();
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return {
    install(bin: string) {
      const shim = path.join(bin, 'aws');
      // -I -S: the client needs no site packages nor the caller's PYTHON* settings (the command gets them).
      writeFileSync(shim, `#!/bin/sh\nexec ${quote(python)} -I -S ${quote(ZYGOTE_PY)} client ${quote(socket)} ${quote(aws)} "$0" "$@"\n`);
      chmodSync(shim, 0o755);
    },
    stop,
  };
}

/** What a test runs as `aws`: the zygote's shim when one started, else the AWS CLI itself. */
export interface AwsCommand {
  /** The executable to run in place of `aws` (same arguments, same environment). */
  readonly bin: string;
  /** Stops the zygote (if any) and removes the shim's folder. */
  stop(): Promise<void>;
}

/**
 * `aws` (an absolute path) through a zygote started with `env` (see startAwsZygote), for a test file
 * to start in its `before` and stop in its `after`; `aws` itself when no zygote starts. Starting one
 * costs about a second of CPU and saves about 0.3 s a command (this VM): worth it from about four.
 */
export async function awsThroughZygote(aws: string, env: NodeJS.ProcessEnv): Promise<AwsCommand> {
  const zygote = path.isAbsolute(aws) && existsSync(aws) ? await startAwsZygote(aws, env) : undefined;
  if (zygote === undefined) return { bin: aws, stop: async () => {} };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-aws-shim-'));
  zygote.install(dir);
  return {
    bin: path.join(dir, 'aws'),
    async stop() {
      await zygote.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
