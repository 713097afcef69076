import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findFreePort } from '../../net/ports.js';
import { createOptMlTree } from '../../opt-ml/layout.js';
import type { ContainerBackend, RunningContainer } from './backend.js';
import { prepareOptMl } from './opt-ml.js';

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
  /** Image (docker backend). */
  image?: string;
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
 * or safely extracted into `model/` (or served in place), a free loopback port, then the backend,
 * which applies the environment policy. Waiting for `/ping` is the caller's (`waitForPing`), so
 * several containers can start before any is waited for.
 */
export async function launchContainer(backend: ContainerBackend, spec: LaunchSpec): Promise<LaunchedContainer> {
  const mode = spec.mode ?? 'SingleModel';
  const inPlace = spec.inPlace === true && mode === 'SingleModel' && (await stat(spec.model).then((s) => s.isDirectory(), () => false));
  const optMlDir = inPlace ? await createOptMlTree(spec.root) : await prepareOptMl(spec.root, spec.model, mode);
  const port = await findFreePort();
  const multiModel = mode === 'MultiModel';
  const container = await backend.start({
    id: spec.id,
    hostname: spec.hostname,
    optMlDir,
    ...(inPlace ? { modelDir: resolve(spec.model) } : {}),
    env: spec.env,
    port,
    logFile: spec.logFile,
    ...(spec.image ? { image: spec.image } : {}),
    ...(multiModel ? { multiModel } : {}),
  });
  const modelsDir = multiModel ? { host: join(optMlDir, 'models'), container: backend.name === 'docker' ? '/opt/ml/models' : join(optMlDir, 'models') } : undefined;
  return { container, optMlDir, port, ...(modelsDir ? { modelsDir } : {}) };
}
