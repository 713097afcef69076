import type { EndpointFileConfig } from '../../endpoint-file/schema.js';
import { DEFAULT_MAX_INVOCATIONS_PER_INSTANCE } from '../../config/local-sagemaker.js';
import { assertPortFree } from '../../net/ports.js';
import { checkBackendFlags } from '../endpoint/backend-flags.js';
import { frontDoorPort } from '../endpoint/front-door-port.js';
import { resolveBackend, startLocalEndpoints, type LocalEndpointsHandle, type StartOptions } from '../endpoint/start.js';
import { createRandom } from '../endpoint/random.js';
import { adoptEndpointFile } from './adopt-endpoint-file.js';
import { readLocalSageMakerEnv } from './local-settings.js';
import { endpointInstanceLogs } from './logs/sagemaker-logs.js';
import { createLocalSageMaker, startLocalSageMaker, type LocalSageMakerCore, type LocalSageMakerOptions } from './local-sagemaker.js';

/** What `smkit local` runs: the local SageMaker, and the endpoint file's endpoints when one was given. */
export interface LocalRunHandle {
  readonly url: string;
  readonly port: number;
  readonly core: LocalSageMakerCore;
  /** The endpoint file's endpoints (absent for an empty local SageMaker). */
  readonly file: LocalEndpointsHandle | undefined;
  stop(): Promise<void>;
}

/** Settings of the local SageMaker part of `smkit local` (the endpoint file's flags come from {@link StartOptions}). */
export type LocalControlPlaneOptions = Omit<LocalSageMakerOptions, 'port' | 'backend' | 'engine' | 'gpus' | 'backendImpl' | 'startupTimeoutMs' | 'invokeTimeoutMs' | 'seed' | 'progress' | 'log' | 'keepWorkDir' | 'extraEndpoints'>;

/**
 * Starts `smkit local`: with no endpoint file an empty local SageMaker on `opts.port`; with one,
 * its endpoints behind a front door that also answers the control plane, and those endpoints
 * listed and described like created ones. A front-door port that cannot be bound fails with
 * `ERR_PORT_IN_USE` before anything starts.
 */
export async function startLocal(config: EndpointFileConfig | undefined, opts: StartOptions = {}, controlPlane: LocalControlPlaneOptions = {}): Promise<LocalRunHandle> {
  const shared: LocalSageMakerOptions = {
    ...controlPlane,
    ...(opts.backend === undefined ? {} : { backend: opts.backend }),
    ...(opts.engine === undefined ? {} : { engine: opts.engine }),
    ...(opts.gpus === undefined ? {} : { gpus: opts.gpus }),
    ...(opts.backendImpl === undefined ? {} : { backendImpl: opts.backendImpl }),
    ...(opts.startupTimeoutMs === undefined ? {} : { startupTimeoutMs: opts.startupTimeoutMs }),
    ...(opts.invokeTimeoutMs === undefined ? {} : { invokeTimeoutMs: opts.invokeTimeoutMs }),
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.progress ? { progress: opts.progress } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.keepWorkDir ? { keepWorkDir: true } : {}),
  };
  // Flags and settings that are wrong say so even on a taken port; they need no engine and no folder.
  if (config && !opts.backendImpl) checkBackendFlags(config, opts);
  readLocalSageMakerEnv(shared);
  // A taken front-door port fails next: the backend (probing docker and podman costs about a
  // second of CPU) and the control plane's work folder would otherwise be set up only to be undone.
  await assertPortFree('127.0.0.1', frontDoorPort(config, opts.port), '--port');
  if (!config) {
    const handle = await startLocalSageMaker({ ...shared, ...(opts.port === undefined ? {} : { port: opts.port }) });
    return { url: handle.url, port: handle.port, core: handle, file: undefined, stop: () => handle.stop() };
  }
  // One backend for the file's containers and every instance started later.
  const backend = await resolveBackend(config, opts);
  const core = await createLocalSageMaker({ ...shared, backendImpl: backend });
  const instanceLogs = (endpointName: string, variantName: string) => endpointInstanceLogs(core.logs, endpointName, variantName);
  let file: LocalEndpointsHandle;
  try {
    file = await startLocalEndpoints(config, {
      ...opts,
      backendImpl: backend,
      reportExits: false,
      ...(core.metrics ? { metrics: core.metrics } : {}),
      maxInvocationsPerInstance: core.fleetPolicy.maxInvocationsPerInstance ?? DEFAULT_MAX_INVOCATIONS_PER_INSTANCE,
      captureS3: core.s3,
      instanceLogs,
      ...(controlPlane.captureSyncMs === undefined ? {} : { captureSyncMs: controlPlane.captureSyncMs }),
      frontDoor: {
        services: core.services,
        ...(core.queryHandler ? { queryHandler: core.queryHandler } : {}),
        ...(core.bodyMemoryBytes === undefined ? {} : { bodyMemoryBytes: core.bodyMemoryBytes }),
        logGroupArn: core.logGroupArn,
        accountId: core.store.accountId,
        endpoints: (own) => core.directory(own),
      },
    });
  } catch (err) {
    await core.stop();
    throw err;
  }
  try {
    await adoptEndpointFile(core.store, config, file, createRandom(opts.seed), {
      backend,
      workDir: core.workDir,
      startupTimeoutMs: opts.startupTimeoutMs ?? (config.startupTimeoutSeconds === undefined ? 120_000 : config.startupTimeoutSeconds * 1000),
      ...(opts.progress ? { progress: opts.progress } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      policy: core.fleetPolicy,
      s3: core.s3,
      failureWrites: core.lifecycle.failureWrites,
      instanceLogs,
      ...(opts.keepWorkDir ? { keepTrees: true } : {}),
    });
  } catch (err) {
    await core.stop();
    await file.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    url: file.url,
    port: file.port,
    core,
    file,
    stop() {
      stopped ??= (async () => {
        // The fleets first: stopped under them, the adopted containers looked like deaths to replace.
        await core.stop();
        await file.stop();
      })();
      return stopped;
    },
  };
}
