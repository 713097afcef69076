import { rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gpusOf } from '../backends/gpu.js';
import type { DataCaptureConfig as ApiCaptureConfig, ProductionVariant, ProductionVariantServerlessConfig } from '../../aws/shapes/sagemaker.js';
import { lastChars, startAndEnd } from '../../errors/text-cut.js';
import type { ContainerBackend } from '../backends/backend.js';
import { captureDestination } from '../capture/destination.js';
import { CaptureS3Sync } from '../capture/s3-sync.js';
import { CaptureWriter } from '../capture/writer.js';
import type { DataCaptureConfig } from '../../endpoint-file/schema.js';
import { LocalEndpoint, type EndpointLog, type VariantRuntime } from '../endpoint/local-endpoint.js';
import type { BackoffPolicy } from '../../core/restart-backoff.js';
import { Fleet, type FleetOptions } from '../fleet/fleet.js';
import { ServerlessPool } from '../fleet/serverless-pool.js';
import { prefixAwareRouting } from './routing-config.js';
import { MAX_SERVERLESS_PAYLOAD_BYTES, SERVERLESS_STARTUP_TIMEOUT_MS } from './serverless/serverless-config.js';
import { instanceHealthy, instanceLauncher, InstanceStartError, type ContainerTemplate } from '../fleet/instance-launcher.js';
import { ModelDataError, multiModelFetcher, resolveModelData, resolveModelDataSource } from '../fleet/model-data.js';
import type { ModelDataHolds, ModelDataLease } from '../fleet/model-data-holds.js';
import type { S3Objects } from '../s3/objects.js';
import type { InvocationMetricsSink } from './invocation-metrics.js';
import type { LogStore } from './logs/log-store.js';
import { endpointInstanceLogs } from './logs/sagemaker-logs.js';
import type { ControlPlaneStore, EndpointConfigRecord, ModelRecord } from './store.js';

/** What every deployment of the local SageMaker shares. */
export interface DeploymentContext {
  store: ControlPlaneStore<unknown>;
  backend: ContainerBackend;
  workDir: string;
  startupTimeoutMs: number;
  invokeTimeoutMs: number;
  /** Time between uploads of data capture to an `s3://` destination. @defaultValue 5 000 ms */
  captureSyncMs?: number;
  /** Most instances all endpoints may run at once. @defaultValue unlimited */
  maxInstances?: number;
  /** Spacing of replacements for instances that died. @defaultValue `INSTANCE_BACKOFF` (1 s doubling to 60 s) */
  replacementBackoff?: BackoffPolicy;
  /** Time between `/ping` health checks of each instance in service (3 failures in a row replace it). @defaultValue no checks */
  healthCheckMs?: number;
  /**
   * Most real-time invocations one instance has in flight (`SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE`);
   * one more is throttled. Serverless variants have `MaxConcurrency` instead, asynchronous endpoints
   * `MaxConcurrentInvocationsPerInstance`. @defaultValue unbounded
   */
  maxInvocationsPerInstance?: number;
  s3: () => S3Objects;
  random: () => number;
  metrics?: InvocationMetricsSink;
  log?: EndpointLog;
  progress?: (line: string) => void;
  /** A serverless variant's instance above its provisioned concurrency stops after this long without a request. @defaultValue 60 000 ms */
  serverlessIdleMs?: number;
  /** Whether one more instance fits the local instance limit (set by the endpoint life cycle). @defaultValue always */
  canStartInstance?: () => boolean;
  /** The local CloudWatch Logs: each instance's container output goes to its stream in `/aws/sagemaker/Endpoints/<name>`. */
  logs?: LogStore;
  /** Counts the deployments using each downloaded model data version, removed from disk once none does. @defaultValue kept until the work folder goes */
  modelData?: ModelDataHolds;
  /** Keep each stopped instance's `/opt/ml` tree (`--keep`). @defaultValue false: removed once its containers have stopped */
  keepInstanceTrees?: boolean;
  /** Length in ms of one second of `ModelDataDownloadTimeoutInSeconds` (tests shorten it). @defaultValue 1 000 */
  modelDataSecondMs?: number;
}

/**
 * A variant's model data download window when its `ModelDataDownloadTimeoutInSeconds` is unset: the
 * API's most (3600 s), the "about 1 hour" the service's own staff give for its downloads
 * (aws/amazon-sagemaker-examples#650).
 */
export const DEFAULT_MODEL_DATA_DOWNLOAD_SECONDS = 3600;

/** A download window: `signal` aborts when `parent` does or when `seconds` have passed (then `expired`). */
function downloadWindow(seconds: number, secondMs: number, parent: AbortSignal | undefined): { signal: AbortSignal; expired(): boolean; dispose(): void } {
  const clock = new AbortController();
  const timer = setTimeout(() => clock.abort(new Error(`model data download took more than ${seconds} s`)), seconds * secondMs);
  timer.unref();
  return {
    signal: parent ? AbortSignal.any([parent, clock.signal]) : clock.signal,
    expired: () => clock.signal.aborted && !parent?.aborted,
    dispose: () => clearTimeout(timer),
  };
}

/** Default of {@link DeploymentContext.serverlessIdleMs}. */
export const DEFAULT_SERVERLESS_IDLE_MS = 60_000;

/** One variant of a deployment: its fleet, routing weight and the capacity asked for. */
export interface VariantState {
  spec: ProductionVariant;
  fleet: Fleet;
  runtime: VariantRuntime;
  desiredWeight: number;
  desiredInstanceCount: number;
  /** `DeployedImages`: the image each container runs (recorded as given). */
  images: Array<{ SpecifiedImage: string; ResolvedImage: string; ResolutionTime: number }>;
  /** A serverless variant's on-demand instances (its `fleet` underneath). */
  serverless?: ServerlessPool;
  /**
   * A serverless variant's `CurrentServerlessConfig` and `DesiredServerlessConfig`: its config's
   * `ServerlessConfig` until `UpdateEndpointWeightsAndCapacities` changes the concurrency.
   */
  serverlessConfig?: { current: ProductionVariantServerlessConfig; desired: ProductionVariantServerlessConfig };
}

/** Instances a variant starts with: `ProvisionedConcurrency` (or none) for a serverless one. */
export function initialInstances(v: ProductionVariant, override?: number): number {
  if (v.ServerlessConfig) return v.ServerlessConfig.ProvisionedConcurrency ?? 0;
  return override ?? v.InitialInstanceCount ?? 1;
}

/** A deployment could not start; `reason` is what `FailureReason` says. */
export class DeploymentError extends Error {
  constructor(readonly reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'DeploymentError';
  }
}

/** Instances a config asks for (production and shadow), with per-variant overrides. */
export function configInstances(config: EndpointConfigRecord, counts?: ReadonlyMap<string, number>): number {
  return [...config.productionVariants, ...(config.shadowProductionVariants ?? [])].reduce((n, v) => n + initialInstances(v, counts?.get(v.VariantName)), 0);
}

/** Longest `FailureReason` the API allows. */
export const MAX_FAILURE_REASON = 1024;

/**
 * Fits a failure reason into 1024 characters, keeping its head and the end of the log tail; a head
 * too long for both keeps its start and its end (the cause), a long URL or key in its middle giving way.
 */
export function failureReason(head: string, logTail = ''): string {
  const full = logTail === '' ? head : `${head} Last log lines:\n${logTail}`;
  if (full.length <= MAX_FAILURE_REASON) return full;
  if (head.length >= MAX_FAILURE_REASON - 20) return startAndEnd(head, MAX_FAILURE_REASON);
  const room = MAX_FAILURE_REASON - head.length - ' Last log lines:\n...'.length;
  return `${head} Last log lines:\n...${lastChars(logTail, room)}`;
}

function captureSettings(c: ApiCaptureConfig, localDir: string): DataCaptureConfig {
  const modes = c.CaptureOptions.map((o) => o.CaptureMode);
  return {
    destination: localDir,
    samplingPercentage: c.InitialSamplingPercentage,
    captureInput: modes.includes('Input') || modes.includes('InputAndOutput'),
    captureOutput: modes.includes('Output') || modes.includes('InputAndOutput'),
    csvContentTypes: c.CaptureContentTypeHeader?.CsvContentTypes ?? [],
    jsonContentTypes: c.CaptureContentTypeHeader?.JsonContentTypes ?? [],
  };
}

/**
 * The running form of one endpoint config: a fleet per production and shadow variant, and the
 * `LocalEndpoint` that routes between them by weight, copies to the shadow and captures data.
 */
export class Deployment {
  private stopped: Promise<void> | undefined;

  constructor(
    readonly configName: string,
    readonly config: EndpointConfigRecord,
    readonly variants: VariantState[],
    readonly shadow: VariantState | undefined,
    readonly endpoint: LocalEndpoint,
    /** Uploads data capture to an `s3://` destination. */
    readonly captureSync?: CaptureS3Sync,
    /** The model data versions its containers use, released once they have all stopped. */
    private readonly modelData?: ModelDataLease,
  ) {}

  /** Instances asked for across the production and shadow variants. */
  get desiredInstances(): number {
    return [...this.variants, ...(this.shadow ? [this.shadow] : [])].reduce((n, v) => n + Math.max(v.desiredInstanceCount, v.fleet.size + v.fleet.starting), 0);
  }

  /** Instances in rotation across the production variants. */
  get instanceCount(): number {
    return this.variants.reduce((n, v) => n + v.fleet.size, 0);
  }

  /** Requests in flight on this deployment's production and shadow fleets. */
  get inFlight(): number {
    return [...this.variants, ...(this.shadow ? [this.shadow] : [])].reduce((n, v) => n + v.fleet.inFlight, 0);
  }

  /**
   * Stops every fleet once its in-flight requests finish (past the fleet's stop grace they are cut,
   * unless `waitForRequests`: an update retiring this deployment), and flushes data capture.
   */
  stop(opts: { waitForRequests?: boolean } = {}): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.all([...this.variants, ...(this.shadow ? [this.shadow] : [])].map((v) => (v.serverless ? v.serverless.stop() : v.fleet.stop(opts))));
      this.modelData?.release();
      await this.endpoint.idle();
      this.captureSync?.stop();
      await this.captureSync?.flush();
      if (this.captureSync) {
        await this.captureSync.removeUploaded();
        // The endpoint's folder of such copies (`capture/<endpoint>`), once no other deployment's is in it.
        await rmdir(dirname(this.captureSync.localDir)).catch(() => {});
      }
    })();
    return this.stopped;
  }
}

/**
 * A variant of an endpoint for inference components (no `ModelName`): its instances run no model
 * of their own, so each is an instance without containers; the components' copies run apart from
 * them (inference-components.ts). Counting them keeps `DescribeEndpoint`, the instance limit and
 * `UpdateEndpointWeightsAndCapacities` as for any variant.
 */
async function hostOnly(
  spec: ProductionVariant,
  endpointName: string,
  configName: string,
  states: VariantState[],
  weights: ReadonlyMap<string, number> | undefined,
  counts: ReadonlyMap<string, number> | undefined,
): Promise<VariantState> {
  const fleet = new Fleet(spec.VariantName, async (index) => ({ id: `${endpointName}/${configName}/${spec.VariantName}/i${index}`, containers: [], chain: [] }));
  const weight = weights?.get(spec.VariantName) ?? spec.InitialVariantWeight ?? 1;
  const count = initialInstances(spec, counts?.get(spec.VariantName));
  const state: VariantState = { spec, fleet, runtime: { name: spec.VariantName, weight, containers: [], instances: fleet }, desiredWeight: weight, desiredInstanceCount: count, images: [] };
  states.push(state);
  await fleet.scaleTo(count);
  return state;
}

/**
 * Starts a deployment of `config` for `endpointName`: fetches each model's data, starts every
 * variant's `InitialInstanceCount` (or the `counts` override) instances in parallel, and resolves
 * once all pass `/ping`. On any failure everything started is stopped and a
 * {@link DeploymentError} says why, with the failing container's last log lines.
 */
export async function startDeployment(
  ctx: DeploymentContext,
  endpointName: string,
  config: EndpointConfigRecord,
  opts: {
    signal?: AbortSignal;
    weights?: ReadonlyMap<string, number>;
    counts?: ReadonlyMap<string, number>;
    /** The model every variant runs, in place of its `ModelName` (an inference component's specification). */
    model?: ModelRecord;
    /** Memory limit in MB of every container of a variant that is not serverless (an inference component's `MaxMemoryRequiredInMb`). */
    memoryMb?: number;
    /** The GPUs each container of a GPU instance type takes (an inference component's `NumberOfAcceleratorDevicesRequired`); all of them without. */
    gpuCount?: number;
  } = {},
): Promise<Deployment> {
  const cacheDir = join(ctx.workDir, 'model-data');
  const lease = ctx.modelData?.lease();
  const states: VariantState[] = [];
  // The first variant to fail fails the deployment: the others' downloads and starts are cut short, not waited for.
  const siblingFailed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, siblingFailed.signal]) : siblingFailed.signal;
  let firstFailure: { reason: unknown } | undefined;
  const failFast = (building: Promise<VariantState>): Promise<VariantState> =>
    building.catch((err: unknown) => {
      firstFailure ??= { reason: err };
      siblingFailed.abort(err);
      throw err;
    });
  const build = async (spec: ProductionVariant, shadow: boolean): Promise<VariantState> => {
    if (spec.ModelName === undefined && !opts.model) return hostOnly(spec, endpointName, config.name, states, opts.weights, opts.counts);
    const model = opts.model ?? ctx.store.models.get(spec.ModelName ?? '');
    if (!model) throw new DeploymentError(`Could not find model "${ctx.store.arn('model', spec.ModelName ?? '')}".`);
    const templates: ContainerTemplate[] = [];
    // Every container's model data of the variant within its window, as the service holds each
    // instance's download to it; an endpoint deleted while Creating does not wait for it either.
    const windowSeconds = spec.ModelDataDownloadTimeoutInSeconds ?? DEFAULT_MODEL_DATA_DOWNLOAD_SECONDS;
    const window = downloadWindow(windowSeconds, ctx.modelDataSecondMs ?? 1000, signal);
    for (const [i, c] of model.containers.entries()) {
      const mode = c.Mode ?? 'SingleModel';
      const hostname = c.ContainerHostname ?? (model.containers.length === 1 ? 'primary' : `container-${i + 1}`);
      const source = c.ModelDataSource?.S3DataSource;
      let modelSource: string;
      try {
        modelSource = source ? await resolveModelDataSource(source, cacheDir, ctx.s3, lease, window.signal) : await resolveModelData(c.ModelDataUrl, mode, cacheDir, ctx.s3, lease, window.signal);
      } catch (err) {
        window.dispose();
        if (window.expired()) {
          throw new DeploymentError(
            `Failed to download model data for container "${hostname}" from URL: "${source?.S3Uri ?? c.ModelDataUrl}" within ModelDataDownloadTimeoutInSeconds (${windowSeconds} seconds) (model ${model.name}, variant ${spec.VariantName}). Give the variant a longer ModelDataDownloadTimeoutInSeconds (at most 3600) or make the model data smaller.`,
            { cause: err },
          );
        }
        if (err instanceof ModelDataError) throw new DeploymentError(`${err.message} (model ${model.name}, variant ${spec.VariantName}).`, { cause: err });
        throw err;
      }
      const fetchModel = mode === 'MultiModel' ? multiModelFetcher(c.ModelDataUrl, modelSource, ctx.s3) : undefined;
      templates.push({
        hostname,
        ...(c.Image === undefined ? {} : { image: c.Image }),
        env: c.Environment ?? {},
        modelSource,
        ...(c.ModelDataSource?.S3DataSource?.CompressionType === 'Gzip' ? { modelUrl: c.ModelDataSource.S3DataSource.S3Uri } : c.ModelDataUrl?.startsWith('s3://') ? { modelUrl: c.ModelDataUrl } : {}),
        mode,
        ...(c.MultiModelConfig?.ModelCacheSetting === undefined ? {} : { modelCacheSetting: c.MultiModelConfig.ModelCacheSetting }),
        ...(fetchModel ? { fetchModel } : {}),
        ...(spec.ServerlessConfig ? { memoryMb: spec.ServerlessConfig.MemorySizeInMB } : opts.memoryMb === undefined ? {} : { memoryMb: opts.memoryMb }),
        ...gpusOf(spec.InstanceType),
        ...(gpusOf(spec.InstanceType).gpus && opts.gpuCount !== undefined ? { gpuCount: opts.gpuCount } : {}),
      });
    }
    window.dispose();
    const healthCheckSeconds = spec.ContainerStartupHealthCheckTimeoutInSeconds;
    const startupTimeoutMs = spec.ServerlessConfig ? SERVERLESS_STARTUP_TIMEOUT_MS : healthCheckSeconds === undefined ? ctx.startupTimeoutMs : healthCheckSeconds * 1000;
    const launch = instanceLauncher(
      {
        backend: ctx.backend,
        workDir: join(ctx.workDir, 'instances'),
        logsDir: join(ctx.workDir, 'logs'),
        startupTimeoutMs,
        signal,
        ...(ctx.progress ? { progress: ctx.progress } : {}),
        ...(ctx.logs ? { instanceLogs: endpointInstanceLogs(ctx.logs, endpointName, spec.VariantName) } : {}),
        ...(ctx.log ? { warn: (msg: string, fields: Record<string, unknown>) => ctx.log!('warn', msg, { endpoint: endpointName, ...fields }) } : {}),
        ...(ctx.keepInstanceTrees ? { keepTrees: true } : {}),
      },
      `${endpointName}/${config.name}/${spec.VariantName}`,
      templates,
    );
    const fleetOptions: FleetOptions = {
      ...(ctx.replacementBackoff ? { backoff: ctx.replacementBackoff } : {}),
      ...(ctx.healthCheckMs ? { health: { probe: instanceHealthy, intervalMs: ctx.healthCheckMs } } : {}),
      ...(ctx.log ? { log: (level, msg, fields) => ctx.log!(level, msg, { endpoint: endpointName, ...fields }) } : {}),
      ...(ctx.maxInvocationsPerInstance === undefined || spec.ServerlessConfig || config.asyncInferenceConfig ? {} : { maxInFlightPerInstance: ctx.maxInvocationsPerInstance }),
    };
    const fleet = new Fleet(spec.VariantName, launch, fleetOptions);
    const count = initialInstances(spec, opts.counts?.get(spec.VariantName));
    const sc = spec.ServerlessConfig;
    const serverless = sc
      ? new ServerlessPool(fleet, {
          maxConcurrency: sc.MaxConcurrency,
          provisioned: sc.ProvisionedConcurrency ?? 0,
          idleMs: ctx.serverlessIdleMs ?? DEFAULT_SERVERLESS_IDLE_MS,
          readyWithinMs: ctx.invokeTimeoutMs,
          ...(ctx.canStartInstance ? { canStart: ctx.canStartInstance } : {}),
          ...(ctx.metrics?.recordModelSetup ? { onColdStart: (ms: number) => ctx.metrics!.recordModelSetup!(endpointName, spec.VariantName, Math.round(ms * 1000), Date.now()) } : {}),
        })
      : undefined;
    const weight = opts.weights?.get(spec.VariantName) ?? spec.InitialVariantWeight ?? 1;
    const state: VariantState = {
      spec,
      fleet,
      runtime: {
        name: spec.VariantName,
        weight,
        containers: [],
        instances: serverless ?? fleet,
        ...(model.inferenceExecutionMode === 'Direct' ? { direct: true } : {}),
        ...(serverless ? { maxPayloadBytes: MAX_SERVERLESS_PAYLOAD_BYTES, serverless: true } : {}),
        ...(serverless ? {} : prefixAwareRouting(spec)),
      },
      desiredWeight: weight,
      desiredInstanceCount: count,
      images: model.containers.filter((c) => c.Image !== undefined).map((c) => ({ SpecifiedImage: c.Image!, ResolvedImage: c.Image!, ResolutionTime: Date.now() / 1000 })),
      ...(serverless ? { serverless, serverlessConfig: { current: { ...sc! }, desired: { ...sc! } } } : {}),
    };
    states.push(state);
    try {
      await fleet.scaleTo(count);
    } catch (err) {
      if (err instanceof InstanceStartError) {
        throw new DeploymentError(
          failureReason(`The ${err.hostname} container for ${shadow ? 'shadow' : 'production'} variant ${spec.VariantName} did not pass the ping health check: it ${err.reason}.`, err.logTail),
          { cause: err },
        );
      }
      throw err;
    }
    state.runtime.containers = fleet.firstChain;
    return state;
  };
  try {
    const production = config.productionVariants.map((v) => failFast(build(v, false)));
    const shadowSpec = config.shadowProductionVariants?.[0];
    const shadowBuild = shadowSpec ? failFast(build(shadowSpec, true)) : undefined;
    const settled = await Promise.allSettled([...production, ...(shadowBuild ? [shadowBuild] : [])]);
    if (firstFailure) throw firstFailure.reason;
    opts.signal?.throwIfAborted();
    const values = settled.map((s) => (s as PromiseFulfilledResult<VariantState>).value);
    const variants = values.slice(0, production.length);
    const shadow = shadowBuild ? values[production.length] : undefined;
    const dc = config.dataCaptureConfig;
    const onCaptureError = (err: Error): void => ctx.log?.('warn', 'data capture write failed', { endpoint: endpointName, error: err.message });
    let capture: CaptureWriter | undefined;
    let captureSync: CaptureS3Sync | undefined;
    if (dc && dc.EnableCapture !== false) {
      // CreateEndpointConfig refused destinations the local SageMaker cannot write to.
      const destination = captureDestination(dc.DestinationS3Uri) ?? { folder: dc.DestinationS3Uri };
      const s3Destination = 's3' in destination ? destination.s3 : undefined;
      // An S3 destination is written locally first, in the same layout, and uploaded from there.
      const localDir = 'folder' in destination ? destination.folder : join(ctx.workDir, 'capture', endpointName, `${config.name}-${Date.now()}`);
      capture = new CaptureWriter(endpointName, captureSettings(dc, localDir), ctx.random, onCaptureError);
      if (s3Destination) {
        captureSync = new CaptureS3Sync({
          localDir,
          bucket: s3Destination.bucket,
          prefix: s3Destination.key,
          s3: ctx.s3,
          ...(ctx.captureSyncMs === undefined ? {} : { intervalMs: ctx.captureSyncMs }),
          onError: onCaptureError,
          // An empty key is no key, as DescribeEndpoint shows it.
          ...(dc.KmsKeyId ? { kmsKeyId: dc.KmsKeyId } : {}),
          ...(ctx.keepInstanceTrees ? { keepLocal: true } : {}),
        });
        captureSync.start();
      }
    }
    const endpoint = new LocalEndpoint(
      endpointName,
      variants.map((v) => v.runtime),
      {
        ...(shadow ? { shadow: shadow.runtime } : {}),
        ...(capture ? { capture } : {}),
        random: ctx.random,
        timeoutMs: ctx.invokeTimeoutMs,
        ...(ctx.log ? { log: ctx.log } : {}),
        ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
      },
    );
    return new Deployment(config.name, config, variants, shadow, endpoint, captureSync, lease);
  } catch (err) {
    await Promise.all(states.map((s) => (s.serverless ?? s.fleet).stop()));
    lease?.release();
    throw err;
  }
}
