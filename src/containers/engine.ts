import { spawn } from 'node:child_process';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * The container engine CLIs (docker, podman): which one works here, and running them. Used by
 * `smkit build`, `smkit deploy` and the local docker backend, so none of them imports another.
 */

/** A container engine CLI that speaks `docker build` / `docker image inspect`. */
export type BuildEngine = 'docker' | 'podman';

/** Runs a command and collects its output; used to probe engines and read image facts. */
export type CommandRunner = (cmd: string, args: readonly string[], timeoutMs?: number) => Promise<{ code: number; stdout: string; stderr: string }>;

/** How long a command past its timeout has to end on SIGTERM before it gets SIGKILL (at most its timeout). */
const KILL_GRACE_MS = 2000;

/**
 * Runs a command without a shell, capturing output (never rejects; a missing binary gives code 127).
 * Past `timeoutMs` it is sent SIGTERM, then SIGKILL, and the call settles once it has ended, with a
 * last stderr line saying it did not finish, whatever still holds its output open: waiting for its
 * pipes to close held the call for good when the engine was a wrapper script whose own child
 * (`sudo docker ...` asking for a password, a hung `docker` it started) outlived it, or ignored SIGTERM.
 */
export const runCommand: CommandRunner = (cmd, args, timeoutMs = 30_000) =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const closePipes = (): void => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    // Not spawn's own `timeout` option: when the binary is missing, Node leaves that timer running,
    // and it held every `smkit local` on a machine without podman for 20 s after Ctrl-C.
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.exitCode !== null || child.signalCode !== null) return closePipes();
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), Math.min(KILL_GRACE_MS, timeoutMs));
    }, timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const settle = (code: number): void => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      const late = timedOut ? `${stderr && !stderr.endsWith('\n') ? '\n' : ''}${cmd} ${args[0] ?? ''} did not finish within ${timeoutMs / 1000} s` : '';
      resolve({ code, stdout, stderr: stderr + late });
    };
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + err.message });
    });
    child.once('exit', () => {
      clearTimeout(killTimer);
      if (timedOut) closePipes();
    });
    child.once('close', (code) => settle(code ?? 1));
  });

/** What {@link probeEngines} found: a working engine, or what each engine tried said (`docker: not installed`). */
export type EngineProbe = { readonly engine: BuildEngine } | { readonly engine?: undefined; readonly failures: readonly string[] };

/**
 * The first of `ServerErrors` in `docker info --format '{{json .}}'` output, or undefined when it
 * has none (or is not JSON: the engine answered as it does). Docker clients before 28.1 exit 0 when
 * the daemon cannot be reached and a format is given (docker/cli#5900), saying so only there.
 */
function serverErrorOf(stdout: string): string | undefined {
  let info: unknown;
  try {
    info = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  const errors = (info as { ServerErrors?: unknown } | null)?.ServerErrors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  return String(errors[0]).trim().split('\n').pop() || 'its daemon did not answer';
}

/**
 * Finds an engine that works: `docker` only when its daemon answers (`docker info`; a bare docker
 * client with no engine, as on podman-only machines, does not count), else `podman`. With
 * `preferred`, only that engine is tried. Never throws: with none, says why for each engine tried.
 */
export async function probeEngines(preferred?: BuildEngine, run: CommandRunner = runCommand): Promise<EngineProbe> {
  const order: BuildEngine[] = preferred ? [preferred] : ['docker', 'podman'];
  const failures: string[] = [];
  for (const engine of order) {
    const res = await run(engine, ['info', '--format', '{{json .}}'], 20_000);
    const serverError = res.code === 0 ? serverErrorOf(res.stdout) : undefined;
    if (res.code === 0 && serverError === undefined) return { engine };
    if (serverError !== undefined) {
      failures.push(`${engine}: ${serverError}`);
      continue;
    }
    const why = res.code === 127 ? 'not installed' : (res.stderr.trim().split('\n').pop() || `exit ${res.code}`);
    failures.push(`${engine}: ${why}`);
  }
  return { failures };
}

/**
 * Finds an engine that can build ({@link probeEngines}). Throws `ERR_BUILD_ENGINE` saying what was tried.
 */
export async function detectBuildEngine(preferred?: BuildEngine, run: CommandRunner = runCommand): Promise<BuildEngine> {
  const probe = await probeEngines(preferred, run);
  if (probe.engine !== undefined) return probe.engine;
  // What to do names the engine the user did not rule out: "or pass --engine" was no help when
  // both were tried, nor to one who had passed --engine docker and had podman.
  const getPodman = 'Debian and Ubuntu: apt-get install podman; on a machine without registry access, scripts/setup-podman.sh in the smkit repository';
  const fix =
    preferred === 'docker'
      ? `Start the Docker daemon, or use podman: --engine podman, or leave --engine out to take whichever works (to get podman: ${getPodman})`
      : preferred === 'podman'
        ? `Install or repair podman (${getPodman}), or use docker: --engine docker with its daemon running, or leave --engine out to take whichever works`
        : `Start the Docker daemon, or install podman (${getPodman})`;
  throw new ToolkitError('ERR_BUILD_ENGINE', `no working container engine (${probe.failures.join('; ')}). ${fix}.`);
}

/** Size in bytes of a local image, from `<engine> image inspect`. */
export async function imageSize(engine: BuildEngine, image: string, run: CommandRunner = runCommand): Promise<number> {
  const res = await run(engine, ['image', 'inspect', '--format', '{{.Size}}', image]);
  // The line that is a number: an empty answer read as 0 bytes (Number('')), and a warning the
  // engine printed before the number made it NaN.
  const line = res.stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)).pop();
  const size = line === undefined ? Number.NaN : Number(line);
  if (res.code !== 0 || !Number.isFinite(size)) {
    throw new ToolkitError('ERR_BUILD_FAILED', `${engine} image inspect ${image} failed: ${res.stderr.trim() || res.stdout.trim() || 'it answered no size'}`);
  }
  return size;
}
