import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { trackUntilReleased } from '../backends/orphan-reaper.js';
import { gpusOf } from '../backends/gpu.js';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import type { ContainerBackend, RunningContainer } from '../backends/backend.js';
import { backendUnavailable, detectContainerEngine, DockerBackend, dockerBackendOptions, type ContainerEngine } from '../backends/docker-backend.js';
import type { GpuChoice } from '../backends/gpu.js';
import { assertPortFree } from '../../net/ports.js';
import { launchReady } from '../backends/launch.js';
import { ProcessBackend } from '../backends/process-backend.js';
import { withLogTail } from '../backends/wait-ready.js';
import { CaptureS3Sync } from '../capture/s3-sync.js';
import { CaptureWriter } from '../capture/writer.js';
import { routingConfigOf, type EndpointConfig, type EndpointFileConfig, type VariantConfig } from '../../endpoint-file/schema.js';
import { prefixAwareRouting } from '../control-plane/routing-config.js';
import { createFrontDoor, type EndpointDirectory, type FrontDoorOptions } from '../front-door/app.js';
import { ContainerFailure, invokeChain, type ChainContainer } from './chain.js';
import { multiModelHost, type MultiModelHost } from './container.js';
import { LocalEndpoint, type EndpointLog, type InstancePool, type VariantRuntime } from './local-endpoint.js';
import { internalFailureLogger } from '../../aws/service.js';
import { instancesBusyError } from '../fleet/fleet.js';
import { readMaxInvocationsPerInstance } from '../../config/local-sagemaker.js';
import { readAllowedHosts, type AllowedHosts } from '../../config/settings.js';
import { createRandom } from './random.js';
import { frontDoorPort } from './front-door-port.js';
import { checkBackendFlags, hasImageToRun } from './backend-flags.js';
import { parseS3Url, type S3Objects } from '../s3/objects.js';
import type { InvocationMetricsSink } from '../control-plane/invocation-metrics.js';
import type { InstanceLogs } from '../fleet/instance-launcher.js';

/** Options of {@link startLocalEndpoints}; the CLI flags override the endpoint file. */
export interface StartOptions {
  /** Front-door port on 127.0.0.1; 0 picks a free one. @defaultValue the file's `port`, else 8080 */
  port?: number;
  /** @defaultValue the file's `backend`; else `docker` when an image is set and docker/podman exists, else `process` */
  backend?: 'process' | 'docker';
  /** Container engine CLI for the docker backend. @defaultValue `docker`, else `podman` */
  engine?: ContainerEngine;
  /** Default image for the docker backend. @defaultValue the file's `image` */
  image?: string;
  /** Which containers of the docker backend get this machine's NVIDIA GPUs ({@link GpuChoice}). @defaultValue `auto` */
  gpus?: GpuChoice;
  /** Wait for each container's `/ping` this long. @defaultValue the file's `startupTimeoutSeconds`, else 120 s */
  startupTimeoutMs?: number;
  /** Per-container invocation timeout. @defaultValue 60 000 ms */
  invokeTimeoutMs?: number;
  /** Seeds variant routing and capture sampling (for repeatable tests). */
  seed?: number;
  /** Progress lines (the CLI writes them to stderr). */
  progress?: (line: string) => void;
  /**
   * Shadow comparisons and capture problems, and the cause of each `InternalFailure` the front door
   * answers (whose message does not carry it). Without it that cause is a process warning (code
   * `SMKIT_INTERNAL_FAILURE`), which Node prints to stderr.
   */
  log?: EndpointLog;
  /** Keep the temporary `/opt/ml` trees and logs after stopping. @defaultValue false */
  keepWorkDir?: boolean;
  /** Aborts start-up (Ctrl-C): everything started so far is stopped and the promise rejects. */
  signal?: AbortSignal;
  /** A backend object to use instead of `backend` (tests). */
  backendImpl?: ContainerBackend;
  /**
   * Log a warning when a container exits before `stop()`. Off where another owner (the local
   * SageMaker's fleets) watches the containers, replaces them and stops them first.
   * @defaultValue true
   */
  reportExits?: boolean;
  /** Receives one record per production-variant invocation (the local CloudWatch's endpoint metrics). */
  metrics?: InvocationMetricsSink;
  /**
   * Most real-time invocations a variant's instance has in flight at once; one more is throttled
   * (400 `ThrottlingException`), as the local SageMaker's fleets do. Asynchronous endpoints are not bounded by it.
   * @defaultValue `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE` (1000)
   */
  maxInvocationsPerInstance?: number;
  /** `Host` names the front door takes besides `localhost` and IP addresses. @defaultValue `SMKIT_ALLOWED_HOSTS` (none) */
  allowedHosts?: AllowedHosts;
  /**
   * More for the front door: control-plane services on the same port, the query-protocol hook,
   * the account its errors name (the local SageMaker's), and a directory that decides which
   * endpoint serves a name (given the file's endpoints).
   */
  frontDoor?: Pick<FrontDoorOptions, 'services' | 'queryHandler' | 'bodyMemoryBytes' | 'logGroupArn' | 'accountId'> & { endpoints?: (own: ReadonlyMap<string, LocalEndpoint>) => EndpointDirectory };
  /**
   * S3 for data capture to an `s3://` destination (the local SageMaker's client). Without it such
   * a destination stops start-up, rather than being written to a local folder named `s3:`.
   */
  captureS3?: () => Pick<S3Objects, 'putFile'>;
  /** Time between uploads of data capture to an `s3://` destination. @defaultValue 5 000 ms */
  captureSyncMs?: number;
  /** Opens the log streams of a variant's instance (the local SageMaker's CloudWatch Logs); its containers' output lines go there too. */
  instanceLogs?: (endpointName: string, variantName: string) => InstanceLogs;
}

/** Everything `smkit local` started. */
export interface LocalEndpointsHandle {
  /** Front-door base URL, for example `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly port: number;
  readonly endpoints: ReadonlyMap<string, LocalEndpoint>;
  readonly containers: readonly RunningContainer[];
  /** Temporary folder holding every container's `/opt/ml` tree and `logs/`. */
  readonly workDir: string;
  readonly backend: 'process' | 'docker';
  /** Stops the front door and every container, flushes capture, removes the temporary folder. */
  stop(): Promise<void>;
}

interface PlannedVariant {
  endpoint: EndpointConfig;
  variant: VariantConfig;
  containers: RunningContainer[];
}

/**
 * The backend an endpoint file runs on: `opts.backendImpl`, else the flag or the file's `backend`,
 * else docker when an image is set and docker/podman answers, else the process backend.
 */
export async function resolveBackend(config: EndpointFileConfig, opts: StartOptions): Promise<ContainerBackend> {
  if (opts.backendImpl) return opts.backendImpl;
  checkBackendFlags(config, opts);
  const image = opts.image ?? config.image;
  const hasImage = hasImageToRun(config, opts);
  const wanted = opts.backend ?? config.backend;
  // `smkit local` stops its children on SIGINT/SIGTERM, so each may lead its own process group.
  // With no image to run the process backend is the answer whatever engine works: probing them
  // (podman info alone takes about a second of CPU) would only delay every start.
  if (wanted === 'process' || (wanted === undefined && !hasImage)) return new ProcessBackend(undefined, { processGroup: true });
  const probe = await detectContainerEngine(opts.engine);
  // --engine or --gpus with an image to run asks for the docker backend: not the process backend in silence when no engine answers.
  const asked = opts.engine !== undefined ? `--engine ${opts.engine}` : opts.gpus !== undefined ? `--gpus ${opts.gpus}` : undefined;
  if (wanted === 'docker' || (asked !== undefined && hasImage)) {
    if (probe.engine === undefined) throw backendUnavailable(wanted === 'docker' ? '--backend docker' : asked!, probe.failures, opts.engine);
    return new DockerBackend(probe.engine, image, dockerBackendOptions(opts.log, opts.gpus));
  }
  return probe.engine ? new DockerBackend(probe.engine, image, dockerBackendOptions(opts.log, opts.gpus)) : new ProcessBackend(undefined, { processGroup: true });
}

/**
 * The one instance a variant runs here, lent to at most `max` invocations at once: past that,
 * `ERR_INSTANCES_BUSY`, as a fleet's instances (the local SageMaker replaces this with a fleet
 * once it adopts the endpoint).
 */
function oneInstance(variant: string, containers: ChainContainer[], max: number): InstancePool {
  let inFlight = 0;
  return {
    size: 1,
    acquire() {
      if (inFlight >= max) throw instancesBusyError(`Each of the 1 instance(s) of variant ${variant} already has`, max);
      inFlight += 1;
      let released = false;
      return {
        containers,
        release: () => {
          if (released) return;
          released = true;
          inFlight -= 1;
        },
      };
    },
  };
}

function say(opts: StartOptions, line: string): void {
  opts.progress?.(line);
}

async function deepPing(endpoint: EndpointConfig, planned: PlannedVariant[], timeoutMs: number): Promise<void> {
  const sample = endpoint.deepPing;
  if (!sample) return;
  for (const p of planned) {
    const req = { body: sample.body, contentType: sample.contentType, ...(sample.accept === undefined ? {} : { accept: sample.accept }) };
    try {
      await invokeChain(p.containers.map(chainContainer), req, { timeoutMs, refuseRedirects: true });
    } catch (err) {
      if (!(err instanceof ContainerFailure)) throw err;
      const failed = p.containers[err.index]!;
      throw new ToolkitError(
        'ERR_DEEP_PING_FAILED',
        await withLogTail(failed, `deep ping of ${endpoint.name}/${p.variant.name} failed at ${err.container.hostname}: ${err.kind === 'status' ? `status ${err.status}: ${err.detail}` : err.detail}`),
      );
    }
  }
}

/** Multi-model containers' model sources and folders, by running container. */
const hosts = new WeakMap<RunningContainer, MultiModelHost>();

function chainContainer(c: RunningContainer): ChainContainer {
  const multiModel = hosts.get(c);
  return { hostname: c.spec.hostname, url: c.url, logFile: c.spec.logFile, ...(multiModel ? { multiModel } : {}) };
}

/**
 * Starts every endpoint of `config`: a fresh `/opt/ml` tree per container, the containers through
 * the backend, a bounded wait for `/ping` with progress, the optional deep ping, then the front
 * door on 127.0.0.1. On any failure everything already started is stopped again.
 */
export async function startLocalEndpoints(config: EndpointFileConfig, opts: StartOptions = {}): Promise<LocalEndpointsHandle> {
  const port = frontDoorPort(config, opts.port);
  // Before any container starts: a taken front-door port would otherwise surface only after them all.
  await assertPortFree('127.0.0.1', port, '--port');
  const s3Capture = config.endpoints.find((e) => e.dataCapture && parseS3Url(e.dataCapture.destination));
  if (s3Capture && !opts.captureS3) {
    throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `endpoints.${s3Capture.name}.dataCapture.destination is ${s3Capture.dataCapture!.destination}: an s3:// destination needs the local SageMaker's S3 client (run it with smkit local), or give a local folder`);
  }
  const maxInFlight = opts.maxInvocationsPerInstance ?? readMaxInvocationsPerInstance();
  const allowedHosts = opts.allowedHosts ?? readAllowedHosts();
  const backend = await resolveBackend(config, opts);
  const workDir = await mkdtemp(join(tmpdir(), 'smkit-local-'));
  // Removed by stopAll(); should this process end first, by the reaper, once the containers are stopped.
  const releaseWorkDir = opts.keepWorkDir ? () => {} : trackUntilReleased({ kind: 'folder', path: workDir });
  const logsDir = join(workDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const startupTimeoutMs = opts.startupTimeoutMs ?? (config.startupTimeoutSeconds === undefined ? 120_000 : config.startupTimeoutSeconds * 1000);
  const invokeTimeoutMs = opts.invokeTimeoutMs ?? 60_000;
  const started: RunningContainer[] = [];
  const captureSyncs: CaptureS3Sync[] = [];
  let server: Server | undefined;

  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((c) => c.stop(30_000).catch(() => {})));
    for (const sync of captureSyncs) sync.stop();
    await Promise.all(captureSyncs.map((sync) => sync.flush()));
    if (!opts.keepWorkDir) await rm(workDir, { recursive: true, force: true });
    releaseWorkDir();
  };

  /** The capture writer of an endpoint; an `s3://` destination is written under the work folder and uploaded from there. */
  const captureFor = (endpoint: EndpointConfig, random: () => number): CaptureWriter | undefined => {
    const dc = endpoint.dataCapture;
    if (!dc) return undefined;
    const onError = (err: Error): void => opts.log?.('warn', 'data capture write failed', { endpoint: endpoint.name, error: err.message });
    const s3Destination = parseS3Url(dc.destination);
    if (!s3Destination) return new CaptureWriter(endpoint.name, dc, random, onError);
    const localDir = join(workDir, 'capture', endpoint.name);
    const sync = new CaptureS3Sync({ localDir, bucket: s3Destination.bucket, prefix: s3Destination.key, s3: opts.captureS3!, ...(opts.captureSyncMs === undefined ? {} : { intervalMs: opts.captureSyncMs }), onError });
    sync.start();
    captureSyncs.push(sync);
    const writer = new CaptureWriter(endpoint.name, { ...dc, destination: localDir }, random, onError);
    // The banner and the shutdown summary name the s3:// URI, not the work folder (removed on stop).
    writer.uploadsTo = dc.destination;
    return writer;
  };

  try {
    const planned: PlannedVariant[] = [];
    const startTasks: Promise<void>[] = [];
    // The first container that fails stops the waits of the others: its reason is given at once,
    // not once the slowest model has loaded (or its start-up deadline, up to an hour, has passed).
    const firstFailure = new AbortController();
    const startSignal = opts.signal ? AbortSignal.any([opts.signal, firstFailure.signal]) : firstFailure.signal;
    for (const endpoint of config.endpoints) {
      for (const variant of [...endpoint.variants, ...(endpoint.shadow ? [endpoint.shadow] : [])]) {
        const p: PlannedVariant = { endpoint, variant, containers: [] };
        planned.push(p);
        const logs = opts.instanceLogs?.(endpoint.name, variant.name)(variant.containers.map((c) => c.hostname));
        for (const [slot, container] of variant.containers.entries()) {
          opts.signal?.throwIfAborted();
          const id = `${endpoint.name}/${variant.name}/${container.hostname}`;
          const logFile = join(logsDir, `${endpoint.name}.${variant.name}.${container.hostname}.log`);
          const ready = launchReady(
            backend,
            {
              id,
              hostname: container.hostname,
              root: join(workDir, endpoint.name, variant.name, container.hostname),
              model: container.model,
              mode: container.mode,
              env: container.env,
              logFile,
              ...(logs?.has(container.hostname) ? { logLines: logs.get(container.hostname)! } : {}),
              ...(container.image ? { image: container.image } : {}),
              ...gpusOf(variant.instanceType),
              ...(variant.containers.length > 1 ? { multiContainer: true } : {}),
            },
            {
              timeoutMs: startupTimeoutMs,
              signal: startSignal,
              onProgress: (s) => say(opts, `smkit local: waiting for ${id} /ping ... ${s} s`),
              // A restart on a new port (another process took the first one) replaces the container.
              onStarted: (launched) => {
                const previous = p.containers[slot];
                if (previous) started.splice(started.indexOf(previous), 1);
                started.push(launched.container);
                p.containers[slot] = launched.container;
                if (launched.modelsDir) {
                  hosts.set(launched.container, multiModelHost({ source: container.model, hostDir: launched.modelsDir.host, containerDir: launched.modelsDir.container }));
                }
                say(opts, `smkit local: started ${id} (${backend.name}, port ${launched.port}, log ${logFile})`);
              },
            },
          );
          startTasks.push(
            ready.then(
              () => say(opts, `smkit local: ${id} is healthy`),
              (err: unknown) => {
                firstFailure.abort(err);
                throw err;
              },
            ),
          );
        }
      }
    }
    const waits = await Promise.allSettled(startTasks);
    // Ctrl-C's reason, else the first failure (the others' waits were stopped with it).
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (firstFailure.signal.aborted) throw firstFailure.signal.reason;
    const failed = waits.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed) throw failed.reason;

    opts.signal?.throwIfAborted();
    const random = createRandom(opts.seed);
    const endpoints = new Map<string, LocalEndpoint>();
    for (const endpoint of config.endpoints) {
      const mine = planned.filter((p) => p.endpoint === endpoint);
      await deepPing(endpoint, mine, invokeTimeoutMs);
      if (endpoint.deepPing) say(opts, `smkit local: deep ping of ${endpoint.name} passed`);
      const runtime = (p: PlannedVariant): VariantRuntime => {
        const containers = p.containers.map(chainContainer);
        const routing = p.variant.routing ? prefixAwareRouting({ VariantName: p.variant.name, RoutingConfig: routingConfigOf(p.variant.routing) }) : {};
        return { name: p.variant.name, weight: p.variant.weight, containers, ...(endpoint.asyncInference ? {} : { instances: oneInstance(p.variant.name, containers, maxInFlight) }), ...routing };
      };
      const production = mine.filter((p) => p.variant !== endpoint.shadow).map(runtime);
      const shadowPlan = mine.find((p) => p.variant === endpoint.shadow);
      const capture = captureFor(endpoint, random);
      endpoints.set(
        endpoint.name,
        new LocalEndpoint(endpoint.name, production, {
          ...(shadowPlan ? { shadow: runtime(shadowPlan) } : {}),
          ...(capture ? { capture } : {}),
          random,
          timeoutMs: invokeTimeoutMs,
          ...(opts.log ? { log: opts.log } : {}),
          ...(opts.metrics ? { metrics: opts.metrics } : {}),
        }),
      );
    }

    let stopping = false;
    for (const c of opts.reportExits === false ? [] : started) {
      void c.exitPromise.then(() => {
        if (!stopping) opts.log?.('warn', 'container exited', { container: c.spec.id, ...c.exited, log: c.spec.logFile });
      });
    }

    const app = createFrontDoor({
      endpoints: opts.frontDoor?.endpoints?.(endpoints) ?? endpoints,
      ...(opts.frontDoor?.services ? { services: opts.frontDoor.services } : {}),
      ...(opts.frontDoor?.queryHandler ? { queryHandler: opts.frontDoor.queryHandler } : {}),
      ...(opts.frontDoor?.bodyMemoryBytes === undefined ? {} : { bodyMemoryBytes: opts.frontDoor.bodyMemoryBytes }),
      ...(opts.frontDoor?.logGroupArn ? { logGroupArn: opts.frontDoor.logGroupArn } : {}),
      ...(opts.frontDoor?.accountId === undefined ? {} : { accountId: opts.frontDoor.accountId }),
      ...(allowedHosts === undefined ? {} : { allowedHosts }),
      onError: (name, err) => opts.log?.('warn', 'invocation failed', { endpoint: name, errorType: err.type, status: err.status, message: err.message }),
      onInternalFailure: internalFailureLogger(opts.log),
    });
    const { createFrontDoorServer, listenFrontDoor } = await import('../front-door/http-server.js');
    server = createFrontDoorServer(app);
    const bound = await listenFrontDoor(server, port);
    const srv = server;
    let stopped: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${bound}`,
      port: bound,
      endpoints,
      containers: started,
      workDir,
      backend: backend.name,
      stop() {
        stopped ??= (async () => {
          stopping = true;
          await new Promise<void>((ok) => {
            srv.close(() => ok());
            srv.closeIdleConnections();
          });
          await Promise.all([...endpoints.values()].map((e) => e.idle()));
          await stopAll();
        })();
        return stopped;
      },
    };
  } catch (err) {
    server?.close();
    await stopAll();
    throw err;
  }
}
