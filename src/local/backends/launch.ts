import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertPortFree, findFreePort } from '../../net/ports.js';
import { createOptMlTree } from '../../opt-ml/layout.js';
import type { ContainerBackend, RunningContainer } from './backend.js';
import type { LineSink } from './line-tap.js';
import { tailLog } from './log-tail.js';
import { prepareOptMl } from './opt-ml.js';
import { safePortRangeFor } from './safe-port-range.js';
import { waitForPing, type WaitOptions } from './wait-ready.js';

/** One container to start: where its `/opt/ml` tree goes, its model, and how it is named. */
export interface LaunchSpec {
  /** `<endpoint>/<variant>/<hostname>` or similar: names the container in progress lines and errors. */
  id: string;
  /** Container hostname (`ContainerHostname`, or `primary`/`container-N`). */
  hostname: string;
  /** Folder that becomes the container's `/opt/ml` tree (created). */
  root: string;
  /** A model directory or `model.tar.gz`; for `MultiModel`, the folder of model archives. */
  model: string;
  /** @defaultValue `SingleModel` */
  mode?: 'SingleModel' | 'MultiModel';
  /** Serve a model directory in place instead of copying it into the tree (tools that only read it). @defaultValue false */
  inPlace?: boolean;
  /** The container's own environment (`ContainerDefinition.Environment`). */
  env: Record<string, string>;
  /** File that receives the container's output. */
  logFile: string;
  /** Also receives each line of the container's output (the local CloudWatch Logs). */
  logLines?: LineSink;
  /** Image (docker backend). */
  image?: string;
  /** Memory limit in MB (a serverless variant's `MemorySizeInMB`); only the docker backend enforces it. */
  memoryMb?: number;
  /** The instance type has NVIDIA GPUs (see {@link ContainerSpec.gpus}). */
  gpus?: boolean;
  /** The GPUs the container takes (see {@link ContainerSpec.gpuCount}). */
  gpuCount?: number;
  /**
   * One of the containers of a model with several (a serial pipeline or Direct mode): it also
   * gets a `SAGEMAKER_SAFE_PORT_RANGE` of its own ({@link safePortRangeFor}). @defaultValue false
   */
  multiContainer?: boolean;
}

/** A started container and where its parts are. */
export interface LaunchedContainer {
  readonly container: RunningContainer;
  /** The container's `/opt/ml` tree on this machine. */
  readonly optMlDir: string;
  /** Its `SAGEMAKER_BIND_TO_PORT`. */
  readonly port: number;
  /** Multi-model containers: the models folder on this machine and as the container sees it. */
  readonly modelsDir?: { readonly host: string; readonly container: string };
}

/**
 * The one way smkit starts a serving container on this machine (local endpoints, fleets, batch
 * transform, `package --verify`): a fresh `/opt/ml` tree (the shared layout) with the model copied
 * or safely extracted into `model/` (or served in place), a free loopback port (and, for a
 * container of a multi-container model, its safe port range), then the backend,
 * which applies the environment policy. Waiting for `/ping` is the caller's (`waitForPing`), so
 * several containers can start before any is waited for; {@link launchReady} does both and also
 * survives another process taking the port first.
 */
export async function launchContainer(backend: ContainerBackend, spec: LaunchSpec): Promise<LaunchedContainer> {
  const prepared = await prepareTree(spec);
  return startOnFreePort(backend, spec, prepared);
}

interface PreparedTree {
  optMlDir: string;
  inPlace: boolean;
  mode: 'SingleModel' | 'MultiModel';
}

async function prepareTree(spec: LaunchSpec): Promise<PreparedTree> {
  const mode = spec.mode ?? 'SingleModel';
  const inPlace = spec.inPlace === true && mode === 'SingleModel' && (await stat(spec.model).then((s) => s.isDirectory(), () => false));
  const optMlDir = inPlace ? await createOptMlTree(spec.root) : await prepareOptMl(spec.root, spec.model, mode);
  return { optMlDir, inPlace, mode };
}

async function startOnFreePort(backend: ContainerBackend, spec: LaunchSpec, { optMlDir, inPlace, mode }: PreparedTree): Promise<LaunchedContainer> {
  const port = await findFreePort();
  const safePortRange = spec.multiContainer ? await safePortRangeFor(backend, port) : undefined;
  const multiModel = mode === 'MultiModel';
  const container = await backend.start({
    id: spec.id,
    hostname: spec.hostname,
    optMlDir,
    ...(inPlace ? { modelDir: resolve(spec.model) } : {}),
    env: spec.env,
    port,
    ...(safePortRange ? { safePortRange } : {}),
    logFile: spec.logFile,
    ...(spec.logLines ? { logLines: spec.logLines } : {}),
    ...(spec.image ? { image: spec.image } : {}),
    ...(spec.memoryMb === undefined ? {} : { memoryMb: spec.memoryMb }),
    ...(multiModel ? { multiModel } : {}),
    ...(spec.gpus ? { gpus: true } : {}),
    ...(spec.gpus && spec.gpuCount !== undefined ? { gpuCount: spec.gpuCount } : {}),
  });
  const modelsDir = multiModel ? { host: join(optMlDir, 'models'), container: backend.name === 'docker' ? '/opt/ml/models' : join(optMlDir, 'models') } : undefined;
  return { container, optMlDir, port, ...(modelsDir ? { modelsDir } : {}) };
}

/** Options of {@link launchReady}. */
export interface LaunchReadyOptions extends WaitOptions {
  /** Called with each started container (again after a restart on a new port), before waiting. */
  onStarted?: (launched: LaunchedContainer) => void;
  /** Starts on a new port at most this often. @defaultValue 3 */
  attempts?: number;
}

/**
 * True when the container exited because its port was taken between the probe and its bind: the
 * port is held by someone else now, or the container said so (`ERR_PORT_IN_USE`).
 */
async function lostItsPort(launched: LaunchedContainer): Promise<boolean> {
  if (!launched.container.exited) return false;
  const held = await assertPortFree('127.0.0.1', launched.port).then(() => false, () => true);
  return held || (await tailLog(launched.container.spec.logFile, 20)).includes('ERR_PORT_IN_USE');
}

/**
 * {@link launchContainer}, then {@link waitForPing}. A free port can be taken by another process
 * before the child binds it (the child then exits with `ERR_PORT_IN_USE`, and another server may
 * be the one answering `/ping` there, which the container's instance id exposes): the container
 * is started again on a new port, up to `attempts` times. On any other failure the error is
 * thrown; stopping the last container started (see `onStarted`) is the caller's.
 */
export async function launchReady(backend: ContainerBackend, spec: LaunchSpec, opts: LaunchReadyOptions = {}): Promise<LaunchedContainer> {
  const prepared = await prepareTree(spec);
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const launched = await startOnFreePort(backend, spec, prepared);
    opts.onStarted?.(launched);
    try {
      await waitForPing(launched.container, opts);
      return launched;
    } catch (err) {
      if (attempt < attempts && !opts.signal?.aborted && (await lostItsPort(launched))) continue;
      throw err;
    }
  }
}
