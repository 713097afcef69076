import { invalidPath } from '../../config/flag-values.js';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { trackUntilReleased } from './orphan-reaper.js';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import type { ContainerBackend, RunningContainer } from './backend.js';
import { launchReady } from './launch.js';
import { ProcessBackend } from './process-backend.js';

/**
 * Options for {@link startLocalServer}: one serving container for a tool (batch transform,
 * `package --verify`), started the way local endpoints start theirs.
 */
export interface LocalServerOptions {
  /** A model directory (served in place) or a `model.tar.gz` (extracted safely into the temporary tree). */
  model: string;
  /** The container's own environment (`ContainerDefinition.Environment`), for example the batch variables. */
  env?: Readonly<Record<string, string>>;
  /** Names the container in progress lines and errors. @defaultValue the model's file name */
  id?: string;
  /** How long to wait for `GET /ping` to answer 200. @defaultValue 120 s */
  startupTimeoutMs?: number;
  /** Called every few seconds while waiting, with the seconds waited so far. */
  onWait?: (seconds: number) => void;
  /** Stops waiting (Ctrl-C during start-up). */
  signal?: AbortSignal;
  /** How the container runs. @defaultValue a {@link ProcessBackend} (`smkit serve` as a child process) */
  backend?: ContainerBackend;
}

/** A running serving container on a temporary `/opt/ml` tree. */
export interface LocalServer {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The temporary `SAGEMAKER_BASE_DIR`. */
  readonly baseDir: string;
  /** The container's combined stdout/stderr log. */
  readonly logFile: string;
  /** The container, as the backend started it. */
  readonly container: RunningContainer;
  /** Stops the container (SIGTERM, then SIGKILL after a grace period) and removes the temporary folder. */
  stop(): Promise<void>;
}

/**
 * Starts one serving container for a model: a fresh temporary `/opt/ml` tree (the shared layout),
 * the model served in place (a folder) or extracted safely into `model/` (an archive), a free
 * loopback port, the backend's environment policy (the caller's `SAGEMAKER_*`, `SM_*` and `SMKIT_*`
 * variables never leak in; only `env` and what smkit sets), then waits for `/ping`. Fails with
 * `ERR_CONTAINER_START` (and the last log lines) when the container exits, reports a failed model
 * load, or does not pass `/ping` in time; everything started is removed again.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const source = resolve(options.model);
  const info = await stat(source).catch(() => undefined);
  if (!info) throw invalidPath('--model', options.model, 'a model directory or a model.tar.gz', 'does not exist');
  const workDir = await mkdtemp(join(tmpdir(), 'smkit-serve-'));
  // Should this process end before stop() (killed, crashed), the reaper removes it once the container is stopped.
  const releaseWorkDir = trackUntilReleased({ kind: 'folder', path: workDir });
  const optMlDir = join(workDir, 'opt-ml');
  const logFile = join(workDir, 'logs', 'serve.log');
  let container: RunningContainer | undefined;
  const stop = async (): Promise<void> => {
    await container?.stop(10_000);
    await rm(workDir, { recursive: true, force: true });
    releaseWorkDir();
  };
  try {
    await mkdir(join(workDir, 'logs'));
    const launched = await launchReady(
      options.backend ?? new ProcessBackend(),
      { id: options.id ?? basename(source), hostname: 'primary', root: optMlDir, model: source, inPlace: true, env: { ...options.env }, logFile },
      {
        timeoutMs: options.startupTimeoutMs ?? 120_000,
        ...(options.onWait ? { onProgress: options.onWait } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        onStarted: (l) => (container = l.container),
      },
    );
    container = launched.container;
  } catch (err) {
    await stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return { url: container.url, baseDir: optMlDir, logFile, container, stop: () => (stopped ??= stop()) };
}
