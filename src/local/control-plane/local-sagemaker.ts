import type { EndpointStatus } from '../../aws/shapes/sagemaker.js';
import type { LogCap } from '../backends/capped-log.js';
import { createFrontDoorServer, listenFrontDoor } from '../front-door/http-server.js';
import type { Request, Response } from 'express';
import { internalFailureLogger, type AwsService } from '../../aws/service.js';
import { partitionOf } from '../../aws/partition.js';
import type { LocalMetricsSettings } from '../../config/local-metrics.js';
import { DEFAULT_LOG_STREAM_MB, DEFAULT_LOGS_MB, DEFAULT_MAX_INVOCATIONS_PER_INSTANCE, type LocalSageMakerSettings } from '../../config/local-sagemaker.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { ContainerBackend } from '../backends/backend.js';
import { backendUnavailable, detectContainerEngine, DockerBackend, dockerBackendOptions, type ContainerEngine } from '../backends/docker-backend.js';
import type { GpuChoice } from '../backends/gpu.js';
import { ProcessBackend } from '../backends/process-backend.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { createRandom } from '../endpoint/random.js';
import { createFrontDoor, type EndpointDirectory, type QueryHandler, type RoutableEndpoint } from '../front-door/app.js';
import { createS3Objects } from '../s3/client.js';
import { BACKLOG_SAMPLE_SECONDS, publishAsyncBacklog } from './async-backlog-metrics.js';
import type { S3Objects } from '../s3/objects.js';
import { createAlarmsAndScaling } from './alarms-and-scaling.js';
import { EndpointLifecycle } from './endpoint-lifecycle.js';
import { InferenceComponents, hostsInferenceComponents } from './inference-components.js';
import type { InvocationMetricsSink } from './invocation-metrics.js';
import { readLocalSageMakerEnv } from './local-settings.js';
import { readAllowedHosts, type AllowedHosts } from '../../config/settings.js';
import { LogStore } from './logs/log-store.js';
import { CloudWatchLogsService } from './logs/logs-service.js';
import { endpointLogGroup } from './logs/sagemaker-logs.js';
import type { ManagedEndpoint } from './managed-endpoint.js';
import { SageMakerService } from './sagemaker-service.js';
import { ControlPlaneStore } from './store.js';
import { TrainingJobs, type TrainingTimer } from './training-jobs.js';
import { TransformJobs } from './transform-jobs.js';
import type { BackoffPolicy } from '../../core/restart-backoff.js';
import type { DeploymentContext } from './deployment.js';
import { ModelDataHolds } from '../fleet/model-data-holds.js';
import { WorkFolder } from './work-folder.js';

/** The target prefix CloudWatch's JSON protocol uses; auto-rollback reads alarms from that service. */
export const CLOUDWATCH_TARGET_PREFIX = 'GraniteServiceVersion20100801';

/** The target prefix of Application Auto Scaling's JSON protocol; deleting an endpoint deregisters its targets there. */
export const AUTOSCALING_TARGET_PREFIX = 'AnyScaleFrontendService';

/**
 * The statuses in which an endpoint's serving fleet takes invocations, so its idle minutes publish
 * zeros: InService, and while an update or capacity change runs or is undone, or after a rolling
 * update's failed rollback left both fleets serving.
 */
const SERVING_STATUSES: ReadonlySet<EndpointStatus> = new Set<EndpointStatus>(['InService', 'Updating', 'RollingBack', 'SystemUpdating', 'UpdateRollbackFailed']);

/** What extra services are built from: the store and the SageMaker service they may call. */
export interface LocalSageMakerContext {
  store: ControlPlaneStore<ManagedEndpoint>;
  /** The SageMaker service: autoscaling changes capacity through `UpdateEndpointWeightsAndCapacities`. */
  sagemaker: AwsService;
}

/** Options of {@link startLocalSageMaker}. */
export interface LocalSageMakerOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @defaultValue 8080 */
  port?: number;
  /**
   * More AWS services on the same port (CloudWatch, Application Auto Scaling), or a function
   * that builds them from the store and the SageMaker service.
   */
  services?: readonly AwsService[] | ((ctx: LocalSageMakerContext) => readonly AwsService[]);
  /** Answers the AWS query protocol (form-encoded `POST /`), for CloudWatch from the AWS CLI and boto3. */
  queryHandler?: QueryHandler;
  /** Receives one record per production-variant invocation (CloudWatch's AWS/SageMaker metrics). */
  metrics?: InvocationMetricsSink;
  /**
   * Serve the local CloudWatch (metrics, alarms) and Application Auto Scaling (with real scaling)
   * on the port; used only when `services` is not given. @defaultValue true
   */
  alarmsAndScaling?: boolean;
  /** Metric-window settings of those services. @defaultValue loadLocalMetricsSettings() */
  metricsSettings?: LocalMetricsSettings;
  /** Endpoints started elsewhere (an endpoint file) that the front door also routes to. */
  extraEndpoints?: ReadonlyMap<string, RoutableEndpoint>;
  /** @defaultValue `process` */
  backend?: 'process' | 'docker';
  /** Container engine for the docker backend. @defaultValue docker, else podman */
  engine?: ContainerEngine;
  /** Which containers of the docker backend get this machine's NVIDIA GPUs ({@link GpuChoice}). @defaultValue `auto` */
  gpus?: GpuChoice;
  /** A backend object to use instead of `backend` (tests). */
  backendImpl?: ContainerBackend;
  /** `/ping` deadline per container. @defaultValue 120 000 ms */
  startupTimeoutMs?: number;
  /** Per-container invocation timeout. @defaultValue 60 000 ms */
  invokeTimeoutMs?: number;
  /** How often alarms are read during bake intervals. @defaultValue 1000 ms */
  alarmPollMs?: number;
  /**
   * How long `stop()` waits, once the fleets have stopped, for the results and failures of
   * asynchronous requests to be written before it gives up on them (tests shorten it).
   * @defaultValue 10 000 ms (`ASYNC_SHUTDOWN_WAIT_MS`)
   */
  asyncShutdownWaitMs?: number;
  /** Time between uploads of data capture to `s3://` destinations. @defaultValue 5 000 ms */
  captureSyncMs?: number;
  /** Spacing of replacements for instances that died (tests shorten it). @defaultValue 1 s doubling to 60 s while replacements keep dying */
  replacementBackoff?: BackoffPolicy;
  /** Time between `/ping` health checks of each instance; 0 turns them off. @defaultValue `settings.healthCheckSeconds` (`SMKIT_LOCAL_HEALTH_CHECK_SECONDS`, 5 s) */
  healthCheckMs?: number;
  /** Length in ms of one second of a variant's `ModelDataDownloadTimeoutInSeconds` (tests shorten it). @defaultValue 1 000 */
  modelDataSecondMs?: number;
  /** Seeds variant routing, blue/green shifting and capture sampling. */
  seed?: number;
  /** Settings (tests): unset members take their defaults, not the environment. @defaultValue loadLocalSageMakerSettings() */
  settings?: Partial<LocalSageMakerSettings>;
  /** `Host` names the front door takes besides `localhost` and IP addresses. @defaultValue `SMKIT_ALLOWED_HOSTS` (none) */
  allowedHosts?: AllowedHosts;
  /** Where `s3://` model data is read from and `s3://` data capture written to. @defaultValue an S3 client from `settings` */
  s3?: S3Objects;
  progress?: (line: string) => void;
  /**
   * What goes wrong in the background (failed invocations, scaling, containers), and the cause of
   * each `InternalFailure` a local service or the front door answers (whose message does not carry
   * it). Without it that cause is a process warning (code `SMKIT_INTERNAL_FAILURE`), which Node
   * prints to stderr.
   */
  log?: EndpointLog;
  /** How long a training job's metric regex may run on one line before it is disabled for the job (tests). @defaultValue 1000 */
  metricRegexBudgetMs?: number;
  /** `SIGTERM` grace of a stopped training job's entry point, seconds. @defaultValue `SMKIT_TRAIN_GRACE_SECONDS` (90 s; 90 s when `settings` is given) */
  trainingGraceSeconds?: number;
  /** Keep the work folder (instances' `/opt/ml` trees, logs, downloaded model data). @defaultValue false */
  keepWorkDir?: boolean;
  /** The clock training jobs' warm pools count their keep-alive on (tests move it instead of waiting). @defaultValue Date.now */
  warmPoolNow?: () => number;
  /** Arms training jobs' `MaxRuntimeInSeconds` timers (tests fire them instead of waiting). @defaultValue setTimeout */
  trainingTimer?: TrainingTimer;
  /** How much of a training job's output its log file keeps (tests make it small). @defaultValue 16 MiB of head, 16–32 MiB of tail (`TRAINING_LOG_CAP`) */
  trainingLogCap?: LogCap;
  /** Largest `ManifestFile` manifest object a transform job reads (tests lower it). @defaultValue 64 MiB (`MAX_MANIFEST_BYTES`) */
  maxManifestBytes?: number;
  /** The clock `UpdateEndpoint`'s bakes, termination waits and execution timeouts, and a rolling `UpdateInferenceComponent`'s waits and execution timeout, count on (tests move it instead of waiting). @defaultValue Date.now */
  deploymentNow?: () => number;
}

/** How fleets check their instances and space replacements: what a {@link DeploymentContext} takes. */
export type FleetPolicy = Pick<DeploymentContext, 'replacementBackoff' | 'healthCheckMs' | 'maxInvocationsPerInstance'>;

/** A running local SageMaker: its parts and where it listens. */
export interface LocalSageMakerHandle extends LocalSageMakerCore {
  /** Base URL, for example `http://127.0.0.1:8080`: give it to SDKs as the endpoint URL. */
  readonly url: string;
  readonly port: number;
  /** Stops the server and every endpoint's containers; removes the work folder. */
  stop(): Promise<void>;
}

async function chooseBackend(opts: LocalSageMakerOptions): Promise<ContainerBackend> {
  if (opts.backendImpl) return opts.backendImpl;
  // Instances are stopped by `stop()` (which `smkit local` calls on SIGINT/SIGTERM), so each may lead its own process group.
  if (opts.backend !== 'docker') return new ProcessBackend(undefined, { processGroup: true });
  const probe = await detectContainerEngine(opts.engine);
  if (probe.engine === undefined) throw backendUnavailable('--backend docker', probe.failures, opts.engine);
  return new DockerBackend(probe.engine, undefined, dockerBackendOptions(opts.log, opts.gpus));
}

/** The local SageMaker without its server: what `smkit local` with an endpoint file puts on the file's front door. */
export interface LocalSageMakerCore {
  readonly store: ControlPlaneStore<ManagedEndpoint>;
  readonly sagemaker: SageMakerService;
  readonly lifecycle: EndpointLifecycle;
  /** Every service on the port, SageMaker first. */
  readonly services: readonly AwsService[];
  /** The invocation metrics sink of its endpoints (the local CloudWatch's store), when there is one. */
  readonly metrics?: InvocationMetricsSink;
  /** The query-protocol handler for the port (CloudWatch for the AWS CLI and boto3), when there is one. */
  readonly queryHandler?: QueryHandler;
  /** The local CloudWatch Logs' groups and streams: what jobs and endpoint instances write. */
  readonly logs: LogStore;
  /** The ARN of an endpoint's log group when its instances write to {@link logs} (a `ModelError`'s `LogStreamArn`), else undefined. */
  logGroupArn(endpointName: string): string | undefined;
  /** The memory the front door's real-time bodies may take together (`SMKIT_LOCAL_BODY_MEMORY_MB`), when bounded. */
  readonly bodyMemoryBytes?: number;
  /** The work folder (`smkit-sagemaker-*` in the temporary folder), made the first time it is read ({@link WorkFolder}). */
  readonly workDir: string;
  /** What uses each model data version under `workDir/model-data`; a version nothing uses is removed from disk. */
  readonly modelData: ModelDataHolds;
  /** S3 as the local SageMaker reaches it (`AWS_ENDPOINT_URL_S3` and the usual settings), created on first use. */
  readonly s3: () => S3Objects;
  /** How its fleets check and replace instances (endpoint-file endpoints adopted later use the same). */
  readonly fleetPolicy: FleetPolicy;
  /** Finds the endpoint serving a name: created endpoints first, then `fallback`. */
  directory(fallback?: EndpointDirectory): EndpointDirectory;
  /**
   * Publishes zeros for the minute before the one `now` falls in to the invocation metrics of each
   * variant of an endpoint `InService` and each inference component in service that had no
   * invocation in it (see {@link InvocationMetricsSink.recordIdleMinute}). With the local
   * CloudWatch this runs every metric minute; tests call it with their clock.
   */
  publishIdleMinute(now?: number): void;
  /** Stops every endpoint's containers; removes the work folder. */
  stop(): Promise<void>;
}

/**
 * Builds a local SageMaker's parts: one store, the SageMaker control-plane service and its
 * endpoint life cycle, and any extra services; {@link startLocalSageMaker} serves them.
 */
export async function createLocalSageMaker(opts: LocalSageMakerOptions = {}): Promise<LocalSageMakerCore> {
  const { settings, metricsSettings, trainingGraceSeconds } = readLocalSageMakerEnv(opts);
  const backend = await chooseBackend(opts);
  // Made when first needed; removed by stop(), or, should this process end first, by the reaper.
  const work = new WorkFolder(opts.keepWorkDir === true);
  const store = new ControlPlaneStore<ManagedEndpoint>(settings.region, settings.accountId);
  const random = createRandom(opts.seed);
  const guard =
    metricsSettings === undefined
      ? undefined
      : createAlarmsAndScaling({
          settings: metricsSettings,
          region: settings.region,
          accountId: settings.accountId,
          ...(opts.log ? { onScalingError: (resourceId: string, err: unknown) => opts.log!('warn', 'autoscaling failed', { resourceId, message: (err as Error).message }) } : {}),
          onInternalFailure: internalFailureLogger(opts.log),
        });
  const metrics = opts.metrics ?? guard?.metrics;
  const queryHandler = opts.queryHandler ?? guard?.queryHandler;
  let s3Client = opts.s3;
  const s3 = (): S3Objects => (s3Client ??= createS3Objects(settings));
  const services: AwsService[] = [];
  const logs = new LogStore({
    maxStreamBytes: Math.floor((settings.logStreamMb ?? DEFAULT_LOG_STREAM_MB) * 1024 * 1024),
    maxTotalBytes: Math.floor((settings.logsMb ?? DEFAULT_LOGS_MB) * 1024 * 1024),
  });
  const healthCheckMs = opts.healthCheckMs ?? settings.healthCheckSeconds * 1000;
  const fleetPolicy: FleetPolicy = {
    ...(opts.replacementBackoff ? { replacementBackoff: opts.replacementBackoff } : {}),
    ...(healthCheckMs > 0 ? { healthCheckMs } : {}),
    maxInvocationsPerInstance: settings.maxInvocationsPerInstance ?? DEFAULT_MAX_INVOCATIONS_PER_INSTANCE,
  };
  // One count for endpoints, inference components and transform jobs: they share the model data cache.
  // With keepWorkDir (--keep) nothing is removed, so the versions used can be looked at afterwards.
  const modelData = new ModelDataHolds(opts.log ? (message, fields) => opts.log!('warn', message, fields) : undefined, opts.keepWorkDir ? async () => {} : undefined);
  const deployment: DeploymentContext = {
    store,
    backend,
    get workDir() {
      return work.path;
    },
    startupTimeoutMs: opts.startupTimeoutMs ?? 120_000,
    maxInstances: settings.maxInstances,
    serverlessIdleMs: (settings.serverlessIdleSeconds ?? 60) * 1000,
    ...(opts.captureSyncMs === undefined ? {} : { captureSyncMs: opts.captureSyncMs }),
    ...fleetPolicy,
    invokeTimeoutMs: opts.invokeTimeoutMs ?? 60_000,
    s3,
    random,
    ...(metrics ? { metrics } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
    logs,
    modelData,
    ...(opts.keepWorkDir ? { keepInstanceTrees: true } : {}),
    ...(opts.modelDataSecondMs === undefined ? {} : { modelDataSecondMs: opts.modelDataSecondMs }),
  };
  const lifecycle = new EndpointLifecycle(
    store,
    deployment,
    {
      alarms: () => services.find((s) => s.targetPrefix === CLOUDWATCH_TARGET_PREFIX),
      autoscaling: () => services.find((s) => s.targetPrefix === AUTOSCALING_TARGET_PREFIX),
      ...(opts.alarmPollMs === undefined ? {} : { alarmPollMs: opts.alarmPollMs }),
      ...(opts.asyncShutdownWaitMs === undefined ? {} : { asyncShutdownWaitMs: opts.asyncShutdownWaitMs }),
      random,
      ...(opts.deploymentNow ? { now: opts.deploymentNow } : {}),
      // Copies route as the new configuration says, and those waiting for room are placed on its instances.
      onUpdated: (name) => components.endpointUpdated(name),
      onCapacityChanged: (name, settled) => {
        components.capacityChanged(name);
        // The scaling activity of the change ends now, not at the scaler's next pass: an UpdateEndpoint before it would replace the counts it reads.
        guard?.capacitySettled(name, settled);
      },
    },
  );
  const trainingJobs = new TrainingJobs({
    store,
    get workDir() {
      return work.path;
    },
    s3,
    backend: backend.name,
    maxJobs: settings.maxInstances,
    ...(trainingGraceSeconds === undefined ? {} : { graceSeconds: trainingGraceSeconds }),
    ...(opts.log ? { log: opts.log } : {}),
    logs,
    ...(guard ? { metrics: guard.metrics } : {}),
    ...(opts.metricRegexBudgetMs === undefined ? {} : { metricRegexBudgetMs: opts.metricRegexBudgetMs }),
    ...(opts.warmPoolNow ? { now: opts.warmPoolNow } : {}),
    ...(opts.trainingTimer ? { timer: opts.trainingTimer } : {}),
    ...(opts.trainingLogCap ? { logFileCap: opts.trainingLogCap } : {}),
  });
  const transformJobs = new TransformJobs({
    store,
    backend,
    get workDir() {
      return work.path;
    },
    startupTimeoutMs: opts.startupTimeoutMs ?? 120_000,
    maxInstances: settings.maxInstances,
    s3,
    ...(opts.maxManifestBytes === undefined ? {} : { maxManifestBytes: opts.maxManifestBytes }),
    ...(opts.progress ? { progress: opts.progress } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    logs,
    modelData,
  });
  const components = new InferenceComponents({
    store,
    deployment,
    autoscaling: () => services.find((s) => s.targetPrefix === AUTOSCALING_TARGET_PREFIX),
    alarms: () => services.find((s) => s.targetPrefix === CLOUDWATCH_TARGET_PREFIX),
    ...(opts.alarmPollMs === undefined ? {} : { alarmPollMs: opts.alarmPollMs }),
    ...(opts.deploymentNow ? { now: opts.deploymentNow } : {}),
    // As for an endpoint's capacity change: the scaling activity ends when the change settles.
    onCopiesChanged: (name, settled) => guard?.copiesSettled(name, settled),
  });
  const sagemaker = new SageMakerService(store, lifecycle, trainingJobs, transformJobs, components);
  services.push(sagemaker);
  const extra = typeof opts.services === 'function' ? opts.services({ store, sagemaker }) : (opts.services ?? guard?.services({ sagemaker }) ?? []);
  services.push(...extra);
  services.push(new CloudWatchLogsService({ store: logs, region: settings.region, accountId: settings.accountId }));
  // The asynchronous endpoints' queues, sampled into CloudWatch as SageMaker publishes them.
  const backlogTimer = guard ? setInterval(() => publishAsyncBacklog(store.endpoints.values(), guard.metrics), guard.clock.durationMs(BACKLOG_SAMPLE_SECONDS)) : undefined;
  backlogTimer?.unref();
  const publishIdleMinute = (now = Date.now()): void => {
    const variants = [...store.endpoints.values()]
      // An asynchronous endpoint publishes neither Invocations nor InvocationsPerInstance nor ConcurrentRequestsPerModel (async-inference-monitor.html): no zeros either.
      // An endpoint being updated (or whose update is being undone) serves on, its idle minutes as well.
      .filter((e) => SERVING_STATUSES.has(e.status) && e.serving !== undefined && e.asyncBacklog === undefined)
      .flatMap((e) => {
        // The instances of an endpoint for inference components run no model: its copies' concurrency is the components'.
        const models = e.serving !== undefined && !hostsInferenceComponents(e.serving.config);
        // A serverless variant has none either: AWS's list of serverless endpoint metrics, "exhaustive", has no ConcurrentRequestsPerModel.
        return (e.serving?.variants ?? []).map((v) => {
          const measured = models && v.serverless === undefined && v.fleet.size > 0;
          const since = e.servingSince.get(v.spec.VariantName);
          return {
            endpoint: e.name,
            variant: v.spec.VariantName,
            ...(since === undefined ? {} : { since }),
            ...(measured ? { inFlight: v.fleet.inFlight / v.fleet.size } : {}),
            ...(v.serverless ? { serverless: true } : {}),
          };
        });
      });
    metrics?.recordIdleMinute?.(variants, components.inService(), now);
  };
  // SageMaker emits zeros once traffic stops, so scaling alarms see an idle minute as one.
  const idleTimer = guard ? setInterval(() => publishIdleMinute(guard.clock.now()), guard.clock.durationMs(60)) : undefined;
  idleTimer?.unref();
  let stopped: Promise<void> | undefined;
  return {
    store,
    sagemaker,
    lifecycle,
    services,
    ...(metrics ? { metrics } : {}),
    ...(queryHandler ? { queryHandler } : {}),
    logs,
    // An endpoint whose instances write to the local CloudWatch Logs: the service's LogStreamArn, its log group's ARN.
    logGroupArn: (name) => (logs.groups.has(endpointLogGroup(name)) ? `arn:${partitionOf(store.region)}:logs:${store.region}:${store.accountId}:log-group:${endpointLogGroup(name)}` : undefined),
    ...(settings.bodyMemoryMb === undefined ? {} : { bodyMemoryBytes: Math.floor(settings.bodyMemoryMb * 1024 * 1024) }),
    get workDir() {
      return work.path;
    },
    modelData,
    s3,
    fleetPolicy,
    publishIdleMinute,
    directory: (fallback) => ({ get: (name) => components.routable(name, lifecycle.routable(name)) ?? fallback?.get(name) }),
    stop() {
      stopped ??= (async () => {
        clearInterval(backlogTimer);
        clearInterval(idleTimer);
        await guard?.stop();
        await Promise.all([lifecycle.stopAll(), components.stopAll(), trainingJobs.stopAll(), transformJobs.stopAll()]);
        await modelData.settled();
        await work.remove();
      })();
      return stopped;
    },
  };
}

/**
 * Starts a local SageMaker: {@link createLocalSageMaker}'s parts behind the front door, which
 * answers the runtime API and every service on one port of 127.0.0.1.
 */
export async function startLocalSageMaker(opts: LocalSageMakerOptions = {}): Promise<LocalSageMakerHandle> {
  // Read first: an invalid value stops the start before anything is made.
  const allowedHosts = opts.allowedHosts ?? readAllowedHosts();
  const core = await createLocalSageMaker(opts);
  const app = createFrontDoor({
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
    endpoints: core.directory(opts.extraEndpoints),
    services: core.services,
    accountId: core.store.accountId,
    logGroupArn: core.logGroupArn,
    ...(core.queryHandler ? { queryHandler: core.queryHandler } : {}),
    ...(core.bodyMemoryBytes === undefined ? {} : { bodyMemoryBytes: core.bodyMemoryBytes }),
    onError: (name, err) => opts.log?.('warn', 'invocation failed', { endpoint: name, errorType: err.type, status: err.status, message: err.message }),
    onInternalFailure: internalFailureLogger(opts.log),
  });
  const server = createFrontDoorServer(app);
  let port: number;
  try {
    port = await listenFrontDoor(server, opts.port ?? 8080);
  } catch (err) {
    await core.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    store: core.store,
    sagemaker: core.sagemaker,
    lifecycle: core.lifecycle,
    services: core.services,
    ...(core.metrics ? { metrics: core.metrics } : {}),
    ...(core.queryHandler ? { queryHandler: core.queryHandler } : {}),
    logs: core.logs,
    logGroupArn: core.logGroupArn,
    ...(core.bodyMemoryBytes === undefined ? {} : { bodyMemoryBytes: core.bodyMemoryBytes }),
    get workDir() {
      return core.workDir;
    },
    modelData: core.modelData,
    s3: core.s3,
    fleetPolicy: core.fleetPolicy,
    directory: core.directory,
    publishIdleMinute: core.publishIdleMinute,
    stop() {
      stopped ??= (async () => {
        await new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeIdleConnections();
        });
        await core.stop();
      })();
      return stopped;
    },
  };
}
