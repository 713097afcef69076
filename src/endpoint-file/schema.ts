import { ToolkitError } from '../errors/catalogue.js';
import { INVOKE_ENDPOINT_MAX_BODY_BYTES, isSageMakerName } from '../core/sagemaker-headers.js';
import { closestNames, orList } from '../core/closest-name.js';
import { looksLikeUrl, parseS3Location } from '../aws/s3-location.js';
import { isRegionName, REGION_NAME_EXPECTED } from '../aws/partition.js';
import { environmentBytes, MAX_MODEL_ENVIRONMENT_BYTES } from '../aws/container-environment.js';
import { CONCURRENCY_THRESHOLD_RANGE, PREFIX_AWARE_MEMBERS, PREFIX_LENGTH_RANGE, ROUTING_STRATEGIES, routingConfigProblem } from '../aws/routing-config.js';
import type { ProductionVariantRoutingConfig } from '../aws/shapes/sagemaker.js';

/** One container: a model directory or `model.tar.gz`, plus its environment. */
export interface ContainerConfig {
  /** Absolute path to a model directory or a `model.tar.gz`. */
  model: string;
  /** Environment variables for the container (SageMaker `ContainerDefinition.Environment`). */
  env: Record<string, string>;
  /** Name used in logs and error messages (SageMaker `ContainerHostname`). */
  hostname: string;
  /** Image for the `docker` backend (overrides the endpoint file's top-level `image`). */
  image?: string;
  /**
   * `MultiModel` (`ContainerDefinition.Mode`): `model` is a folder of model archives (standing in
   * for the S3 prefix), loaded on demand by the caller's `TargetModel`. @defaultValue `SingleModel`
   */
  mode?: 'SingleModel' | 'MultiModel';
}

/**
 * Target-tracking autoscaling of a variant (Application Auto Scaling, dimension
 * `sagemaker:variant:DesiredInstanceCount`) on `SageMakerVariantInvocationsPerInstance` or, for an
 * asynchronous endpoint, on `ApproximateBacklogSizePerInstance`. Exactly one target is set.
 */
export interface AutoscalingConfig {
  /**
   * Fewest instances (`MinCapacity`). 0 only for an asynchronous endpoint, which then also gets a
   * step scaling policy that brings it up from zero as soon as a request waits.
   */
  minCapacity: number;
  /** Most instances (`MaxCapacity`). */
  maxCapacity: number;
  /** Invocations per instance per minute to hold (`TargetValue` on `SageMakerVariantInvocationsPerInstance`). */
  targetInvocationsPerInstance?: number;
  /** Queued requests per instance to hold (`TargetValue` on `ApproximateBacklogSizePerInstance`): asynchronous endpoints only. */
  targetBacklogPerInstance?: number;
  /** Seconds after a scale-in before the next one (`ScaleInCooldown`); the service default when absent. */
  scaleInCooldownSeconds?: number;
  /** Seconds after a scale-out before the next one (`ScaleOutCooldown`); the service default when absent. */
  scaleOutCooldownSeconds?: number;
}

/**
 * A serverless variant (`ProductionVariant.ServerlessConfig`,
 * https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): no instances to
 * choose, memory and concurrency instead.
 */
export interface ServerlessSettings {
  /** `MemorySizeInMB`: 1024 to 6144 in steps of 1024. */
  memorySizeInMB: number;
  /** `MaxConcurrency`: 1 to 200 concurrent invocations. */
  maxConcurrency: number;
  /** `ProvisionedConcurrency`: 1 to `maxConcurrency` invocations kept warm. */
  provisionedConcurrency?: number;
}

/**
 * How requests are spread over a variant's instances (`ProductionVariant.RoutingConfig`,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantRoutingConfig.html),
 * with `PrefixAwareRoutingConfig`'s members beside the strategy, as `asyncInference` flattens its
 * `OutputConfig` and `ClientConfig`.
 */
export interface RoutingSettings {
  /** `RoutingStrategy`. */
  strategy: (typeof ROUTING_STRATEGIES)[number];
  /** `PrefixAwareRoutingConfig.PrefixLength` (1024 to 65536): set exactly when `strategy` is `PREFIX_AWARE`. */
  prefixLength?: number;
  /** `PrefixAwareRoutingConfig.ConcurrencyThreshold` (1 to 1024): set exactly when `strategy` is `PREFIX_AWARE`. */
  concurrencyThreshold?: number;
}

/** A production or shadow variant: one container, or a serial pipeline of 2 to 15. */
export interface VariantConfig {
  name: string;
  /** Relative routing weight (`InitialVariantWeight`); 0 means "only by TargetVariant". */
  weight: number;
  /** `ProductionVariant.InitialInstanceCount`. @defaultValue 1 */
  instanceCount: number;
  /** `ProductionVariant.InstanceType` (for example `ml.m5.large`); used by `smkit deploy`. */
  instanceType?: string;
  /** Autoscaling that `smkit deploy` registers after the endpoint is in service. */
  autoscaling?: AutoscalingConfig;
  /** Set for a serverless variant (then `instanceType`, `instanceCount`, `autoscaling` and `routing` are not). */
  serverless?: ServerlessSettings;
  /** `ProductionVariant.RoutingConfig`; none is sent when absent (SageMaker's default routing). */
  routing?: RoutingSettings;
  containers: ContainerConfig[];
}

/** `CapacitySize`: a number of instances or a percentage of the fleet. */
export interface CapacitySizeConfig {
  type: 'INSTANCE_COUNT' | 'CAPACITY_PERCENT';
  value: number;
}

/** `TrafficRoutingConfig` of a blue/green update. */
export interface TrafficRoutingConfig {
  type: 'ALL_AT_ONCE' | 'CANARY' | 'LINEAR';
  /** Seconds to bake between steps (0 to 3600). */
  waitIntervalInSeconds: number;
  /** The first step's size (`CANARY` only). */
  canarySize?: CapacitySizeConfig;
  /** Each step's size (`LINEAR` only). */
  linearStepSize?: CapacitySizeConfig;
}

/** `BlueGreenUpdatePolicy`. */
export interface BlueGreenUpdatePolicyConfig {
  trafficRoutingConfiguration: TrafficRoutingConfig;
  /** Seconds the old fleet stays after the last step (0 to 3600). */
  terminationWaitInSeconds?: number;
  /** Longest the whole update may take (600 to 28800 s). */
  maximumExecutionTimeoutInSeconds?: number;
}

/** `RollingUpdatePolicy`. */
export interface RollingUpdatePolicyConfig {
  maximumBatchSize: CapacitySizeConfig;
  waitIntervalInSeconds: number;
  maximumExecutionTimeoutInSeconds?: number;
  rollbackMaximumBatchSize?: CapacitySizeConfig;
}

/** `DeploymentConfig` of `UpdateEndpoint`, in the endpoint file's camelCase. */
export interface EndpointDeploymentConfig {
  blueGreenUpdatePolicy?: BlueGreenUpdatePolicyConfig;
  rollingUpdatePolicy?: RollingUpdatePolicyConfig;
  /** CloudWatch alarms watched during the update; one in `ALARM` rolls it back. */
  autoRollbackConfiguration?: { alarms: { alarmName: string }[] };
}

/** The `AWS/SageMaker` endpoint metrics an alarm may watch (dimensions `EndpointName`, `VariantName`). */
export const ALARM_METRICS = ['Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'InvocationModelErrors', 'InvocationsPerInstance', 'ModelLatency', 'OverheadLatency'] as const;
/**
 * Of {@link ALARM_METRICS}, those SageMaker does not publish for an asynchronous endpoint: its list of
 * metrics is "exhaustive" (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html).
 */
const NOT_ASYNC_METRICS = ['Invocations', 'InvocationModelErrors', 'InvocationsPerInstance', 'OverheadLatency'] as const;
/**
 * Of {@link ALARM_METRICS}, those SageMaker does not publish for a serverless endpoint: its list of
 * metrics is "exhaustive" (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html).
 */
const NOT_SERVERLESS_METRICS = ['InvocationModelErrors', 'InvocationsPerInstance'] as const;
/** CloudWatch `Statistic` values. */
export const ALARM_STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;
/** CloudWatch `ComparisonOperator` values for static thresholds. */
export const ALARM_COMPARISONS = ['GreaterThanOrEqualToThreshold', 'GreaterThanThreshold', 'LessThanThreshold', 'LessThanOrEqualToThreshold'] as const;

/** A CloudWatch alarm on one of the endpoint's `AWS/SageMaker` metrics (`PutMetricAlarm`). */
export interface AlarmConfig {
  /** `AlarmName`; what `autoRollbackConfiguration.alarms[].alarmName` refers to. */
  name: string;
  metric: (typeof ALARM_METRICS)[number];
  statistic: (typeof ALARM_STATISTICS)[number];
  threshold: number;
  comparison: (typeof ALARM_COMPARISONS)[number];
  /** `Period`: 10, 20, 30 or a multiple of 60. */
  periodSeconds: number;
  evaluationPeriods: number;
  /** The `VariantName` dimension; may be left out when the endpoint has one production variant. */
  variant: string;
}

/** Where `smkit deploy` puts things (the file's top-level `deploy:`). */
export interface DeploySettings {
  /** Execution role ARN for the models (`ExecutionRoleArn`). */
  role?: string;
  /** `s3://bucket/prefix/` for the model archives. */
  artifacts?: string;
  /** Image URI of every container without its own `image`. */
  image?: string;
  /** AWS Region; else the SDK's usual resolution (`AWS_REGION`, profile). */
  region?: string;
  /** Tags (key → value) of the models, endpoint configs, endpoints and alarms deploy creates (`Tags`). */
  tags?: Record<string, string>;
}

/** Data capture, as `DataCaptureConfig` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html), written to a local folder. */
export interface DataCaptureConfig {
  /** Absolute path of the destination folder (stands in for `DestinationS3Uri`), or an `s3://` URI (an Amazon S3 `https://` URL becomes the `s3://` URI it names). */
  destination: string;
  /** 0 to 100 (`InitialSamplingPercentage`). */
  samplingPercentage: number;
  captureInput: boolean;
  captureOutput: boolean;
  csvContentTypes: string[];
  jsonContentTypes: string[];
}

/**
 * An asynchronous endpoint, as `AsyncInferenceConfig`: it takes `InvokeEndpointAsync` only, and
 * writes each result where `outputPath` says.
 */
export interface AsyncInferenceSettings {
  /** `OutputConfig.S3OutputPath`: an `s3://` URI (an Amazon S3 `https://` URL becomes the `s3://` URI it names), or an absolute local folder (smkit local only). */
  outputPath: string;
  /** `OutputConfig.S3FailurePath`, resolved the same way. */
  failurePath?: string;
  /** `ClientConfig.MaxConcurrentInvocationsPerInstance` (1 to 1000). */
  maxConcurrentInvocationsPerInstance?: number;
}

/** A sample payload sent through every variant after `/ping` passes (a "deep ping"). */
export interface DeepPingConfig {
  body: Buffer;
  contentType: string;
  accept?: string;
}

/** One local endpoint. */
export interface EndpointConfig {
  name: string;
  variants: VariantConfig[];
  shadow?: VariantConfig;
  dataCapture?: DataCaptureConfig;
  /** Set for an asynchronous endpoint (`AsyncInferenceConfig`). */
  asyncInference?: AsyncInferenceSettings;
  deepPing?: DeepPingConfig;
  /** How `smkit deploy` updates the endpoint (`UpdateEndpoint` `DeploymentConfig`). */
  deploymentConfig?: EndpointDeploymentConfig;
  /** CloudWatch alarms `smkit deploy` creates before the endpoint. */
  alarms?: AlarmConfig[];
}

/** The whole endpoint file after validation, with paths resolved and defaults filled. */
export interface EndpointFileConfig {
  endpoints: EndpointConfig[];
  /** Front-door port from the file (the `--port` flag wins). */
  port?: number;
  /** Backend from the file (the `--backend` flag wins). */
  backend?: 'process' | 'docker';
  /** Default image for the `docker` backend. */
  image?: string;
  /** Seconds to wait for each container's `/ping` (the `--startup-timeout` flag wins). */
  startupTimeoutSeconds?: number;
  /** Settings of `smkit deploy`. */
  deploy?: DeploySettings;
}

const ENV_KEY_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** `ProductionVariantInstanceType`: `ml.<family>.<size>`. */
const INSTANCE_TYPE_PATTERN = /^ml\.[a-z0-9-]+\.[a-z0-9]+$/;
/** IAM role ARNs (the `RoleArn` pattern of the SageMaker API). */
const ROLE_ARN_PATTERN = /^arn:aws[a-z\-]*:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
/** `s3://bucket` with an optional key prefix. */
/** Longest `ModelDataUrl` (botocore `Url`). */
const ARTIFACT_URI_MAX = 1024;
/** Longest `DataCaptureConfig.DestinationS3Uri`, `S3OutputPath` and `S3FailurePath` (botocore `DestinationS3Uri`). */
const DESTINATION_S3_URI_MAX = 512;
/** `<64 hex digits of SHA-256>/model.tar.gz`, the key deploy puts under `deploy.artifacts`. */
const ARCHIVE_KEY_SUFFIX_LENGTH = 64 + '/model.tar.gz'.length;

export const S3_URI_PATTERN = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;
/** Most containers in one serial inference pipeline: 15 (`Containers` of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html). */
export const MAX_PIPELINE_CONTAINERS = 15;

type Json = unknown;
type Resolve = (p: string) => string;
/** Reads a deep-ping `bodyFile` of at most `maxBytes`, refusing it as `where` otherwise. */
type ReadSample = (p: string, where: string, maxBytes: number) => Buffer;

/**
 * The largest deep-ping sample: InvokeEndpoint's `Body` maximum, which containers refuse past
 * (`SAGEMAKER_MAX_PAYLOAD_IN_MB`, 6 by default).
 */
export const MAX_DEEP_PING_BYTES = INVOKE_ENDPOINT_MAX_BODY_BYTES;

function fail(where: string, what: string): never {
  throw new ToolkitError('ERR_ENDPOINT_FILE_INVALID', `${where}: ${what}`);
}

/**
 * A value as a message shows it: JSON, but YAML's `.inf` and `.nan` by name (JSON would say null),
 * and cut short, so a hostile file's megabyte string does not become a megabyte message.
 */
function shown(v: unknown): string {
  const text = typeof v === 'number' && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 80 ? `${text.slice(0, 80)}… (${text.length} characters)` : text;
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, Json>, where: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    // YAML 1.1's merge key, which the YAML 1.2 reading of the file takes for a key like any other.
    if (key === '<<') fail(where, `unknown key "<<": YAML merge keys (<<: *anchor) are not read in an endpoint file; write the keys out, or repeat the map with an alias (env: *shared) (allowed: ${allowed.join(', ')})`);
    const meant = closestNames(key, allowed);
    fail(where, `unknown key ${shown(key)}${meant.length > 0 ? `: did you mean ${orList(meant)}?` : ''} (allowed: ${allowed.join(', ')})`);
  }
}

function checkName(v: Json, where: string): string {
  if (typeof v !== 'string' || !isSageMakerName(v)) {
    fail(where, `must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen (got ${shown(v)})`);
  }
  return v;
}

function checkNumber(v: Json, where: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    fail(where, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got ${shown(v)})`);
  }
  return v;
}

function checkString(v: Json, where: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(where, `must be a non-empty string (got ${shown(v)})`);
  return v;
}

/** A path or URI: a non-empty string without a NUL character, which no file system and no URI takes (Node's fs throws on it). */
function checkPathString(v: Json, where: string): string {
  const text = checkString(v, where);
  if (text.includes('\0')) fail(where, `must be a path without a NUL character (got ${shown(text)})`);
  return text;
}

function checkStringList(v: Json, where: string, max: number): string[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > max) fail(where, `must be a list of 1 to ${max} strings`);
  return v.map((item, i) => checkString(item, `${where}[${i}]`));
}

/** Validates one container's `Environment` limits (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html). */
function checkEnv(v: Json, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) fail(where, 'must be a map of NAME: value');
  const out: Record<string, string> = {};
  const entries = Object.entries(v);
  if (entries.length > 100) fail(where, `has ${entries.length} entries; SageMaker allows at most 100`);
  for (const [key, value] of entries) {
    if (!ENV_KEY_PATTERN.test(key) || key.length > 1024) fail(`${where}.${key}`, 'is not a valid variable name');
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      fail(`${where}.${key}`, 'must be a string, number or boolean');
    }
    const text = String(value);
    if (Buffer.byteLength(text) > 1024) fail(`${where}.${key}`, 'is longer than 1024 bytes');
    // A process's environment cannot hold one (Node's spawn throws): smkit local stopped with a stack trace.
    if (text.includes('\0')) fail(`${where}.${key}`, `must be a value without a NUL character, which no process environment can hold (got ${shown(text)})`);
    // Defined, not assigned: assigning `__proto__` (a valid variable name) would drop it silently.
    Object.defineProperty(out, key, { value: text, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function parseContainer(v: Json, where: string, resolve: Resolve, defaultHostname: string): ContainerConfig {
  if (!isObject(v)) fail(where, 'must be a map with at least "model"');
  onlyKeys(v, where, ['model', 'env', 'hostname', 'image', 'mode']);
  const container: ContainerConfig = {
    model: resolve(checkPathString(v.model, `${where}.model`)),
    env: checkEnv(v.env, `${where}.env`),
    hostname: v.hostname === undefined ? defaultHostname : checkName(v.hostname, `${where}.hostname`),
  };
  if (v.image !== undefined) container.image = checkImage(v.image, `${where}.image`);
  if (v.mode !== undefined) {
    if (v.mode !== 'SingleModel' && v.mode !== 'MultiModel') fail(`${where}.mode`, 'must be "SingleModel" or "MultiModel"');
    container.mode = v.mode;
  }
  return container;
}

function parseVariant(v: Json, where: string, resolve: Resolve, defaultName: string): VariantConfig {
  if (!isObject(v)) fail(where, 'must be a map');
  onlyKeys(v, where, ['name', 'weight', 'instanceCount', 'instanceType', 'autoscaling', 'routing', 'serverless', 'model', 'env', 'hostname', 'image', 'mode', 'containers']);
  const name = v.name === undefined ? defaultName : checkName(v.name, `${where}.name`);
  const weight = v.weight === undefined ? 1 : checkNumber(v.weight, `${where}.weight`, 0, 1e6);
  const instanceCount = v.instanceCount === undefined ? 1 : checkNumber(v.instanceCount, `${where}.instanceCount`, 1, 1000, true);
  let containers: ContainerConfig[];
  if (v.containers !== undefined) {
    if (v.model !== undefined || v.env !== undefined || v.hostname !== undefined || v.image !== undefined || v.mode !== undefined) {
      fail(where, 'give either "model" (one container) or "containers" (a serial pipeline), not both');
    }
    if (!Array.isArray(v.containers) || v.containers.length < 1 || v.containers.length > MAX_PIPELINE_CONTAINERS) {
      fail(`${where}.containers`, `must list 1 to ${MAX_PIPELINE_CONTAINERS} containers`);
    }
    containers = v.containers.map((c, i) => parseContainer(c, `${where}.containers[${i}]`, resolve, `container-${i + 1}`));
    const named = v.containers.filter((c) => isObject(c) && c.hostname !== undefined).length;
    if (named !== 0 && named !== containers.length) {
      fail(`${where}.containers`, 'give "hostname" for every container or for none (as ContainerHostname requires)');
    }
    // "only one multi-model-enabled container can be included in an inference pipeline" (multi-model-endpoints.html).
    if (containers.filter((c) => c.mode === 'MultiModel').length > 1) {
      fail(`${where}.containers`, 'a serial inference pipeline can hold one MultiModel container at most (SageMaker: "only one multi-model-enabled container can be included in an inference pipeline")');
    }
    const seen = new Set<string>();
    for (const c of containers) {
      if (seen.has(c.hostname)) fail(`${where}.containers`, `hostname "${c.hostname}" is used twice`);
      seen.add(c.hostname);
    }
  } else if (v.model !== undefined) {
    containers = [parseContainer({ model: v.model, env: v.env, hostname: v.hostname, image: v.image, mode: v.mode }, where, resolve, 'primary')];
  } else {
    fail(where, 'needs "model" (a model directory or model.tar.gz) or "containers" (a serial pipeline)');
  }
  const envBytes = environmentBytes(containers.map((c) => c.env));
  if (envBytes > MAX_MODEL_ENVIRONMENT_BYTES) {
    const maps = containers.length > 1 ? `the env maps of its ${containers.length} containers hold` : 'holds';
    fail(v.containers === undefined ? `${where}.env` : `${where}.containers`, `${maps} ${envBytes} bytes of names and values; SageMaker allows at most 32 KB (${MAX_MODEL_ENVIRONMENT_BYTES} bytes) for one model, all its containers together: move large values into the model data`);
  }
  const variant: VariantConfig = { name, weight, instanceCount, containers };
  if (v.instanceType !== undefined) {
    if (typeof v.instanceType !== 'string' || !INSTANCE_TYPE_PATTERN.test(v.instanceType)) fail(`${where}.instanceType`, `must be a SageMaker instance type such as "ml.m5.large" (got ${shown(v.instanceType)})`);
    variant.instanceType = v.instanceType;
  }
  if (v.autoscaling !== undefined) variant.autoscaling = parseAutoscaling(v.autoscaling, `${where}.autoscaling`);
  if (v.serverless !== undefined) {
    for (const key of ['instanceType', 'instanceCount', 'autoscaling'] as const) {
      if (v[key] !== undefined) fail(`${where}.${key}`, 'does not go with "serverless": a serverless variant has no instances to choose (ServerlessConfig replaces InstanceType and InitialInstanceCount)');
    }
    // RoutingConfig spreads requests over "the instances that the endpoint hosts" (its API
    // reference); a serverless variant has none of its own, and AWS documents no routing for one.
    if (v.routing !== undefined) fail(`${where}.routing`, 'does not go with "serverless": routing spreads requests over a variant\'s instances, and a serverless variant has none to choose; remove routing, or give the variant instances (instanceType, instanceCount) instead of serverless');
    if (containers.length > 1) fail(`${where}.serverless`, 'needs one container: serverless endpoints do not run inference pipelines');
    if (containers[0]!.mode === 'MultiModel') fail(`${where}.serverless`, 'does not go with mode MultiModel: serverless endpoints do not host multi-model containers');
    variant.serverless = parseServerless(v.serverless, `${where}.serverless`);
  }
  if (v.routing !== undefined) variant.routing = parseRouting(v.routing, `${where}.routing`);
  return variant;
}

/** The API's `RoutingConfig` for a variant's `routing` (the local SageMaker and `smkit deploy` send the same). */
export function routingConfigOf(r: RoutingSettings): ProductionVariantRoutingConfig {
  const prefix = {
    ...(r.prefixLength === undefined ? {} : { PrefixLength: r.prefixLength }),
    ...(r.concurrencyThreshold === undefined ? {} : { ConcurrencyThreshold: r.concurrencyThreshold }),
  };
  return { RoutingStrategy: r.strategy, ...(Object.keys(prefix).length === 0 ? {} : { PrefixAwareRoutingConfig: prefix }) };
}

/** The file's key for each `PrefixAwareRoutingConfig` member. */
const PREFIX_AWARE_KEYS = { PrefixLength: 'prefixLength', ConcurrencyThreshold: 'concurrencyThreshold' } as const;

function parseRouting(v: Json, where: string): RoutingSettings {
  if (!isObject(v)) fail(where, `must be a map with "strategy" (${ROUTING_STRATEGIES.join(', ')}) and, for PREFIX_AWARE, "prefixLength" and "concurrencyThreshold"`);
  onlyKeys(v, where, ['strategy', 'prefixLength', 'concurrencyThreshold']);
  if (v.strategy === undefined) fail(`${where}.strategy`, `is required: one of ${ROUTING_STRATEGIES.join(', ')}`);
  const routing: RoutingSettings = { strategy: oneOfValues(v.strategy, `${where}.strategy`, ROUTING_STRATEGIES) };
  if (v.prefixLength !== undefined) routing.prefixLength = checkNumber(v.prefixLength, `${where}.prefixLength`, PREFIX_LENGTH_RANGE.min, PREFIX_LENGTH_RANGE.max, true);
  if (v.concurrencyThreshold !== undefined) routing.concurrencyThreshold = checkNumber(v.concurrencyThreshold, `${where}.concurrencyThreshold`, CONCURRENCY_THRESHOLD_RANGE.min, CONCURRENCY_THRESHOLD_RANGE.max, true);
  // The rules CreateEndpointConfig holds the API's RoutingConfig to (the local SageMaker's checkRoutingConfig), worded in the file's keys.
  const problem = routingConfigProblem(routingConfigOf(routing));
  if (problem && 'misplaced' in problem) {
    const given = (['prefixLength', 'concurrencyThreshold'] as const).filter((k) => routing[k] !== undefined);
    const them = given.join(' and ');
    fail(given.length === 1 ? `${where}.${them}` : where, `${given.length === 1 ? 'applies' : `${them} apply`} only to strategy PREFIX_AWARE, and the strategy is ${routing.strategy}: remove ${them}, or set strategy to PREFIX_AWARE`);
  }
  if (problem && 'missing' in problem) {
    const [first, second] = problem.missing;
    if (second === undefined) fail(`${where}.${PREFIX_AWARE_KEYS[first!]}`, `is required with strategy PREFIX_AWARE (${PREFIX_AWARE_MEMBERS[first!]})`);
    fail(where, `strategy PREFIX_AWARE needs ${PREFIX_AWARE_KEYS[first!]} (${PREFIX_AWARE_MEMBERS[first!]}) and ${PREFIX_AWARE_KEYS[second]} (${PREFIX_AWARE_MEMBERS[second]})`);
  }
  return routing;
}

function parseServerless(v: Json, where: string): ServerlessSettings {
  if (!isObject(v)) fail(where, 'must be a map with memorySizeInMB and maxConcurrency (and optionally provisionedConcurrency)');
  onlyKeys(v, where, ['memorySizeInMB', 'maxConcurrency', 'provisionedConcurrency']);
  const memorySizeInMB = checkNumber(v.memorySizeInMB, `${where}.memorySizeInMB`, 1024, 6144, true);
  if (memorySizeInMB % 1024 !== 0) fail(`${where}.memorySizeInMB`, `must be 1024, 2048, 3072, 4096, 5120 or 6144 (got ${memorySizeInMB})`);
  const maxConcurrency = checkNumber(v.maxConcurrency, `${where}.maxConcurrency`, 1, 200, true);
  const settings: ServerlessSettings = { memorySizeInMB, maxConcurrency };
  if (v.provisionedConcurrency !== undefined) {
    settings.provisionedConcurrency = checkNumber(v.provisionedConcurrency, `${where}.provisionedConcurrency`, 1, maxConcurrency, true);
  }
  return settings;
}

/**
 * What a serverless endpoint cannot have, as AWS lists it (feature exclusions in
 * https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): several production
 * variants, data capture; and shadow variants, asynchronous inference and rolling updates, which
 * need instances.
 */
function checkServerlessEndpoint(endpoint: EndpointConfig, where: string): void {
  const serverless = endpoint.variants.findIndex((pv) => pv.serverless !== undefined);
  if (serverless < 0 && !endpoint.shadow?.serverless) return;
  const at = serverless < 0 ? `${where}.shadow.serverless` : `${where}.variants[${serverless}].serverless`;
  if (endpoint.variants.length > 1) fail(at, 'a serverless endpoint has one production variant (AWS does not run several on serverless endpoints)');
  if (endpoint.shadow) fail(`${where}.shadow`, 'does not go with a serverless variant');
  if (endpoint.dataCapture) fail(`${where}.dataCapture`, 'serverless endpoints do not capture data (an AWS feature exclusion)');
  if (endpoint.asyncInference) fail(`${where}.asyncInference`, 'does not go with a serverless variant: asynchronous endpoints run on instances');
  if (endpoint.deploymentConfig?.rollingUpdatePolicy) fail(`${where}.deploymentConfig.rollingUpdatePolicy`, 'rolling updates need instances; update a serverless endpoint blue/green');
}

function parseAutoscaling(v: Json, where: string): AutoscalingConfig {
  if (!isObject(v)) fail(where, 'must be a map with minCapacity, maxCapacity and targetInvocationsPerInstance (or targetBacklogPerInstance)');
  onlyKeys(v, where, ['minCapacity', 'maxCapacity', 'targetInvocationsPerInstance', 'targetBacklogPerInstance', 'scaleInCooldownSeconds', 'scaleOutCooldownSeconds']);
  const minCapacity = checkNumber(v.minCapacity, `${where}.minCapacity`, 0, 1000, true);
  const maxCapacity = checkNumber(v.maxCapacity, `${where}.maxCapacity`, 1, 1000, true);
  if (maxCapacity < minCapacity) fail(`${where}.maxCapacity`, `must be at least minCapacity (${minCapacity})`);
  if ((v.targetInvocationsPerInstance === undefined) === (v.targetBacklogPerInstance === undefined)) {
    fail(where, 'needs exactly one of targetInvocationsPerInstance (invocations per instance per minute) and targetBacklogPerInstance (queued requests per instance, asynchronous endpoints)');
  }
  const scaling: AutoscalingConfig = { minCapacity, maxCapacity };
  if (v.targetInvocationsPerInstance !== undefined) scaling.targetInvocationsPerInstance = checkNumber(v.targetInvocationsPerInstance, `${where}.targetInvocationsPerInstance`, 1e-9, 1e9);
  if (v.targetBacklogPerInstance !== undefined) scaling.targetBacklogPerInstance = checkNumber(v.targetBacklogPerInstance, `${where}.targetBacklogPerInstance`, 1e-9, 1e9);
  if (v.scaleInCooldownSeconds !== undefined) scaling.scaleInCooldownSeconds = checkNumber(v.scaleInCooldownSeconds, `${where}.scaleInCooldownSeconds`, 0, 86400, true);
  if (v.scaleOutCooldownSeconds !== undefined) scaling.scaleOutCooldownSeconds = checkNumber(v.scaleOutCooldownSeconds, `${where}.scaleOutCooldownSeconds`, 0, 86400, true);
  return scaling;
}

/**
 * Backlog targets and a minimum of zero instances are for asynchronous endpoints only (only their
 * requests can wait for an instance), and invocation targets for real-time ones: SageMaker publishes
 * no `InvocationsPerInstance` for an asynchronous endpoint (async-inference-monitor.html), so such a
 * policy would never see a datapoint.
 */
function checkAsyncOnlyScaling(endpoint: EndpointConfig, where: string): void {
  const all: [VariantConfig, string][] = endpoint.variants.map((pv, i) => [pv, `${where}.variants[${i}]`]);
  if (endpoint.shadow) all.push([endpoint.shadow, `${where}.shadow`]);
  if (endpoint.asyncInference) {
    for (const [pv, at] of all) {
      if (pv.autoscaling?.targetInvocationsPerInstance !== undefined) {
        fail(`${at}.autoscaling.targetInvocationsPerInstance`, 'needs a real-time endpoint: SageMaker publishes no InvocationsPerInstance for an asynchronous endpoint (asyncInference), so the policy would never see a datapoint; use targetBacklogPerInstance');
      }
    }
    return;
  }
  for (const [pv, at] of all) {
    const s = pv.autoscaling;
    if (s?.targetBacklogPerInstance !== undefined) fail(`${at}.autoscaling.targetBacklogPerInstance`, 'needs an asynchronous endpoint (asyncInference): only its requests queue up');
    if (s?.minCapacity === 0) fail(`${at}.autoscaling.minCapacity`, 'can be 0 only for an asynchronous endpoint (asyncInference); a real-time variant keeps at least 1 instance');
  }
}

function oneOfValues<T extends string>(v: Json, where: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(where, `must be one of ${allowed.join(', ')} (got ${shown(v)})`);
  return v as T;
}

/**
 * The share of the new fleet a step may take, where the API reference sets one: `CanarySize` at
 * most 50%, `LinearStepSize` 10-50% (`TrafficRoutingConfig`), `MaximumBatchSize` 5-50%
 * (`RollingUpdatePolicy`). SageMaker checks it only at `UpdateEndpoint`, the first update after
 * the endpoint was created, so the file checks a `CAPACITY_PERCENT` at once.
 */
interface PercentRange {
  readonly min: number;
  readonly max: number;
  /** Why, as the API reference says it. */
  readonly rule: string;
}

function parseCapacitySize(v: Json, where: string, percent?: PercentRange): CapacitySizeConfig {
  if (!isObject(v)) fail(where, 'must be a map with "type" (INSTANCE_COUNT or CAPACITY_PERCENT) and "value"');
  onlyKeys(v, where, ['type', 'value']);
  const type = oneOfValues(v.type, `${where}.type`, ['INSTANCE_COUNT', 'CAPACITY_PERCENT'] as const);
  if (type === 'CAPACITY_PERCENT' && percent) {
    const value = checkNumber(v.value, `${where}.value`, 1, 100, true);
    if (value < percent.min || value > percent.max) fail(`${where}.value`, `must be a CAPACITY_PERCENT from ${percent.min} to ${percent.max} (got ${value}): ${percent.rule}`);
    return { type, value };
  }
  return { type, value: checkNumber(v.value, `${where}.value`, 1, type === 'CAPACITY_PERCENT' ? 100 : 1000, true) };
}

const CANARY_PERCENT: PercentRange = { min: 1, max: 50, rule: 'SageMaker takes a canary of at most 50% of the new fleet (TrafficRoutingConfig.CanarySize)' };
const LINEAR_PERCENT: PercentRange = { min: 10, max: 50, rule: 'SageMaker takes linear steps of 10% to 50% of the new fleet (TrafficRoutingConfig.LinearStepSize)' };
const ROLLING_PERCENT: PercentRange = { min: 5, max: 50, rule: 'SageMaker takes rolling batches of 5% to 50% of the fleet (RollingUpdatePolicy.MaximumBatchSize)' };

function parseTrafficRouting(v: Json, where: string): TrafficRoutingConfig {
  if (!isObject(v)) fail(where, 'must be a map with "type" and "waitIntervalInSeconds"');
  onlyKeys(v, where, ['type', 'canarySize', 'linearStepSize', 'waitIntervalInSeconds']);
  const routing: TrafficRoutingConfig = {
    type: oneOfValues(v.type, `${where}.type`, ['ALL_AT_ONCE', 'CANARY', 'LINEAR'] as const),
    waitIntervalInSeconds: checkNumber(v.waitIntervalInSeconds, `${where}.waitIntervalInSeconds`, 0, 3600, true),
  };
  if (routing.type === 'CANARY') {
    if (v.canarySize === undefined) fail(`${where}.canarySize`, 'is required for type CANARY');
    routing.canarySize = parseCapacitySize(v.canarySize, `${where}.canarySize`, CANARY_PERCENT);
  } else if (v.canarySize !== undefined) fail(`${where}.canarySize`, 'only applies to type CANARY');
  if (routing.type === 'LINEAR') {
    if (v.linearStepSize === undefined) fail(`${where}.linearStepSize`, 'is required for type LINEAR');
    routing.linearStepSize = parseCapacitySize(v.linearStepSize, `${where}.linearStepSize`, LINEAR_PERCENT);
  } else if (v.linearStepSize !== undefined) fail(`${where}.linearStepSize`, 'only applies to type LINEAR');
  return routing;
}

function parseDeploymentConfig(v: Json, where: string): EndpointDeploymentConfig {
  if (!isObject(v)) fail(where, 'must be a map (blueGreenUpdatePolicy or rollingUpdatePolicy, autoRollbackConfiguration)');
  onlyKeys(v, where, ['blueGreenUpdatePolicy', 'rollingUpdatePolicy', 'autoRollbackConfiguration']);
  if (v.blueGreenUpdatePolicy !== undefined && v.rollingUpdatePolicy !== undefined) fail(where, 'give blueGreenUpdatePolicy or rollingUpdatePolicy, not both');
  const config: EndpointDeploymentConfig = {};
  if (v.blueGreenUpdatePolicy !== undefined) {
    const bg = v.blueGreenUpdatePolicy;
    const at = `${where}.blueGreenUpdatePolicy`;
    if (!isObject(bg)) fail(at, 'must be a map with "trafficRoutingConfiguration"');
    onlyKeys(bg, at, ['trafficRoutingConfiguration', 'terminationWaitInSeconds', 'maximumExecutionTimeoutInSeconds']);
    const policy: BlueGreenUpdatePolicyConfig = { trafficRoutingConfiguration: parseTrafficRouting(bg.trafficRoutingConfiguration, `${at}.trafficRoutingConfiguration`) };
    if (bg.terminationWaitInSeconds !== undefined) policy.terminationWaitInSeconds = checkNumber(bg.terminationWaitInSeconds, `${at}.terminationWaitInSeconds`, 0, 3600, true);
    if (bg.maximumExecutionTimeoutInSeconds !== undefined) policy.maximumExecutionTimeoutInSeconds = checkNumber(bg.maximumExecutionTimeoutInSeconds, `${at}.maximumExecutionTimeoutInSeconds`, 600, 28800, true);
    config.blueGreenUpdatePolicy = policy;
  }
  if (v.rollingUpdatePolicy !== undefined) {
    const ru = v.rollingUpdatePolicy;
    const at = `${where}.rollingUpdatePolicy`;
    if (!isObject(ru)) fail(at, 'must be a map with "maximumBatchSize" and "waitIntervalInSeconds"');
    onlyKeys(ru, at, ['maximumBatchSize', 'waitIntervalInSeconds', 'maximumExecutionTimeoutInSeconds', 'rollbackMaximumBatchSize']);
    const policy: RollingUpdatePolicyConfig = {
      maximumBatchSize: parseCapacitySize(ru.maximumBatchSize, `${at}.maximumBatchSize`, ROLLING_PERCENT),
      waitIntervalInSeconds: checkNumber(ru.waitIntervalInSeconds, `${at}.waitIntervalInSeconds`, 0, 3600, true),
    };
    if (ru.maximumExecutionTimeoutInSeconds !== undefined) policy.maximumExecutionTimeoutInSeconds = checkNumber(ru.maximumExecutionTimeoutInSeconds, `${at}.maximumExecutionTimeoutInSeconds`, 600, 28800, true);
    if (ru.rollbackMaximumBatchSize !== undefined) policy.rollbackMaximumBatchSize = parseCapacitySize(ru.rollbackMaximumBatchSize, `${at}.rollbackMaximumBatchSize`);
    config.rollingUpdatePolicy = policy;
  }
  if (v.autoRollbackConfiguration !== undefined) {
    const ar = v.autoRollbackConfiguration;
    const at = `${where}.autoRollbackConfiguration`;
    if (!isObject(ar)) fail(at, 'must be a map with "alarms"');
    onlyKeys(ar, at, ['alarms']);
    if (!Array.isArray(ar.alarms) || ar.alarms.length < 1 || ar.alarms.length > 10) fail(`${at}.alarms`, 'must list 1 to 10 alarms as {alarmName}');
    config.autoRollbackConfiguration = {
      alarms: ar.alarms.map((a, i) => {
        if (!isObject(a)) fail(`${at}.alarms[${i}]`, 'must be a map with "alarmName"');
        onlyKeys(a, `${at}.alarms[${i}]`, ['alarmName']);
        return { alarmName: checkAlarmName(a.alarmName, `${at}.alarms[${i}].alarmName`) };
      }),
    };
  }
  return config;
}

/** An image reference as `ContainerDefinition.Image` takes it (botocore `ContainerImage`: up to 255 characters, no whitespace). */
function checkImage(v: Json, where: string): string {
  const image = checkString(v, where);
  // No NUL either (\S takes it): a command-line argument cannot hold one, and docker run's spawn threw a stack trace.
  if (image.length > 255 || !/^\S+$/.test(image) || image.includes('\0')) fail(where, `must be an image reference of at most 255 characters without spaces, such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1 (got ${shown(image)})`);
  // No reference starts with one (its first part is a letter or digit): docker and podman, given it after `--`, refused
  // it only once the containers started, as an invalid reference format in a container's log.
  if (image.startsWith('-')) fail(where, `must be an image reference, which does not start with "-", such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1 (got ${shown(image)})`);
  return image;
}

/**
 * An alarm name both services take: CloudWatch's `AlarmName` (1 to 255 characters, no ASCII control
 * characters) and SageMaker's in `AutoRollbackConfiguration` (pattern `(?!\s*$).+`: not only spaces).
 */
function checkAlarmName(v: Json, where: string): string {
  const name = checkString(v, where);
  if (name.length > 255) fail(where, 'must be at most 255 characters');
  if (/[\x00-\x1f\x7f]/.test(name) || name.trim() === '') fail(where, `must have a character other than spaces, and no control characters such as a line break (got ${shown(name)})`);
  return name;
}

function parseAlarm(v: Json, where: string, variants: readonly string[]): AlarmConfig {
  if (!isObject(v)) fail(where, 'must be a map with name, metric, statistic, threshold, comparison, periodSeconds, evaluationPeriods');
  onlyKeys(v, where, ['name', 'metric', 'statistic', 'threshold', 'comparison', 'periodSeconds', 'evaluationPeriods', 'variant']);
  const periodSeconds = checkNumber(v.periodSeconds, `${where}.periodSeconds`, 10, 86400, true);
  if (![10, 20, 30].includes(periodSeconds) && periodSeconds % 60 !== 0) fail(`${where}.periodSeconds`, `must be 10, 20, 30 or a multiple of 60 (got ${periodSeconds})`);
  let variant: string;
  if (v.variant === undefined) {
    if (variants.length !== 1) fail(`${where}.variant`, `is required when the endpoint has several variants (the AWS/SageMaker metrics are per EndpointName and VariantName): one of ${variants.join(', ')}`);
    variant = variants[0]!;
  } else {
    variant = checkString(v.variant, `${where}.variant`);
    if (!variants.includes(variant)) fail(`${where}.variant`, `must name a variant of this endpoint: one of ${variants.join(', ')} (got "${variant}")`);
  }
  if (typeof v.threshold !== 'number' || !Number.isFinite(v.threshold)) fail(`${where}.threshold`, `must be a number (got ${shown(v.threshold)})`);
  return {
    name: checkAlarmName(v.name, `${where}.name`),
    metric: oneOfValues(v.metric, `${where}.metric`, ALARM_METRICS),
    statistic: oneOfValues(v.statistic, `${where}.statistic`, ALARM_STATISTICS),
    threshold: v.threshold,
    comparison: oneOfValues(v.comparison, `${where}.comparison`, ALARM_COMPARISONS),
    periodSeconds,
    evaluationPeriods: checkEvaluationPeriods(v.evaluationPeriods, `${where}.evaluationPeriods`, periodSeconds),
    variant,
  };
}

/**
 * `EvaluationPeriods` × `Period` is the time an alarm looks back: CloudWatch's `PutMetricAlarm`
 * refuses more than one day (86,400 s) for periods under an hour, and more than seven days
 * (604,800 s) otherwise (botocore `cloudwatch` model, `PutMetricAlarmInput.Period`).
 */
function checkEvaluationPeriods(v: Json, where: string, periodSeconds: number): number {
  const n = checkNumber(v, where, 1, 10_080, true);
  const limit = periodSeconds < 3600 ? 86_400 : 604_800;
  if (n * periodSeconds > limit) {
    fail(where, `must be at most ${Math.floor(limit / periodSeconds)} with periodSeconds ${periodSeconds} (got ${n}): CloudWatch evaluates an alarm over at most ${periodSeconds < 3600 ? 'one day (86400 s) when the period is under an hour' : 'seven days (604800 s)'}`);
  }
  return n;
}

/** Most tags of one SageMaker resource (`Tags` of `CreateEndpoint`, `CreateModel`, `CreateEndpointConfig`: 0 to 50). */
export const MAX_TAGS = 50;
/** The characters of a SageMaker tag's key and value (botocore `sagemaker` shapes `TagKey`, `TagValue`). */
const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/**
 * `deploy.tags`: a map of tag keys to values, as SageMaker's `Tag` takes them (key 1 to 128
 * characters, value at most 256, letters, digits, spaces and `_.:/=+-@`; no `aws:` key, which AWS
 * reserves) and at most 50. A value must be text: YAML reads `cost-center: 0100` as the number 100.
 */
function parseTags(v: Json, where: string): Record<string, string> {
  if (!isObject(v)) fail(where, 'must be a map of tag keys to values, such as { team: ml, cost-center: "0100" }');
  const entries = Object.entries(v);
  if (entries.length > MAX_TAGS) fail(where, `has ${entries.length} tags; SageMaker takes at most ${MAX_TAGS} on a resource`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > 128 || !TAG_PATTERN.test(key)) fail(`${where}.${key}`, `is not a tag key SageMaker takes: 1 to 128 letters, digits, spaces and _ . : / = + - @ (got ${shown(key)})`);
    if (key.toLowerCase().startsWith('aws:')) fail(`${where}.${key}`, 'starts with aws:, which AWS reserves for its own tags');
    if (typeof value !== 'string') fail(`${where}.${key}`, `must be text (got ${shown(value)}): quote it, as YAML reads 0100 as the number 100 and true as a boolean`);
    if (value.length > 256 || !TAG_PATTERN.test(value)) fail(`${where}.${key}`, `is not a tag value SageMaker takes: at most 256 letters, digits, spaces and _ . : / = + - @ (got ${shown(value)})`);
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function parseDeploySettings(v: Json, where: string): DeploySettings {
  if (!isObject(v)) fail(where, 'must be a map (role, artifacts, image, region, tags)');
  onlyKeys(v, where, ['role', 'artifacts', 'image', 'region', 'tags']);
  const settings: DeploySettings = {};
  if (v.role !== undefined) {
    if (typeof v.role !== 'string' || !ROLE_ARN_PATTERN.test(v.role)) fail(`${where}.role`, `must be an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerRole (got ${shown(v.role)})`);
    settings.role = v.role;
  }
  if (v.artifacts !== undefined) {
    if (typeof v.artifacts !== 'string' || !S3_URI_PATTERN.test(v.artifacts)) fail(`${where}.artifacts`, `must be an s3://bucket/prefix/ URI whose bucket name is 3 to 63 lowercase letters, digits, dots or hyphens (got ${shown(v.artifacts)})`);
    const bucket = v.artifacts.slice('s3://'.length).split('/')[0]!;
    // S3's bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
    // no bucket has such a name, so the upload would fail only once the models were packaged. The
    // reserved suffixes are not refused: access point aliases (-s3alias, --ol-s3) and directory
    // buckets (--x-s3) stand where a bucket name does.
    if (bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket) || /^(xn--|sthree-|amzn-s3-demo-)/.test(bucket)) {
      fail(`${where}.artifacts`, `names bucket "${bucket}", which S3 cannot have: a bucket name has no two adjacent periods, is not an IP address and does not start with xn--, sthree- or amzn-s3-demo-`);
    }
    // Deploy's longest key under it is `<sha256>/model.tar.gz`; the URI must leave room for it
    // within ModelDataUrl's 1024 characters (botocore Url), which also keeps the key within S3's 1024 bytes.
    const room = ARTIFACT_URI_MAX - ARCHIVE_KEY_SUFFIX_LENGTH;
    const used = Buffer.byteLength(v.artifacts.endsWith('/') ? v.artifacts : `${v.artifacts}/`);
    if (used > room) fail(`${where}.artifacts`, `is ${used} bytes long with its final "/"; at most ${room} leave room for the <sha256>/model.tar.gz that deploy adds within ModelDataUrl's ${ARTIFACT_URI_MAX} characters`);
    settings.artifacts = v.artifacts;
  }
  if (v.image !== undefined) settings.image = checkImage(v.image, `${where}.image`);
  if (v.region !== undefined) {
    // As --region: what the SDK takes. A two-letter first part refused eusc-de-east-1 (the European Sovereign Cloud).
    if (typeof v.region !== 'string' || !isRegionName(v.region)) fail(`${where}.region`, `must be ${REGION_NAME_EXPECTED} (got ${shown(v.region)})`);
    settings.region = v.region;
  }
  if (v.tags !== undefined) settings.tags = parseTags(v.tags, `${where}.tags`);
  return settings;
}

/**
 * An S3 destination of the file (`DestinationS3Uri`, `S3OutputPath`, `S3FailurePath`): an `s3://`
 * URI stays as written (the local SageMaker and AWS write it through S3), and an Amazon S3
 * `https://` URL, which `CreateEndpointConfig` takes as well (their pattern `(https|s3)://([^/])/?(.*)`,
 * botocore `sagemaker` shape `DestinationS3Uri`), becomes the `s3://` URI it names. Any other URL
 * is refused, naming `where`: it would be taken for a local folder named after it. Other paths are
 * local folders, resolved.
 */
function keepS3OrResolve(p: string, where: string, resolve: Resolve): string {
  const s3 = parseS3Location(p);
  if (s3) {
    const uri = p.startsWith('s3://') ? p : `s3://${s3.bucket}/${s3.key}`;
    // The API refuses a longer one (botocore `DestinationS3Uri`: max 512), after deploy has uploaded the models.
    if (uri.length > DESTINATION_S3_URI_MAX) fail(where, `is ${uri.length} characters long${uri === p ? '' : ` as the s3:// URI it names (${shown(uri)})`}; SageMaker takes an S3 location of at most ${DESTINATION_S3_URI_MAX} here (DestinationS3Uri): use a shorter prefix`);
    return uri;
  }
  if (looksLikeUrl(p)) fail(where, `must be an s3://bucket/prefix URI, an Amazon S3 https:// URL, or a local folder (got ${shown(p)})`);
  return resolve(p);
}

/** The API's `CaptureMode` values (botocore `sagemaker` model, shape `CaptureMode`). */
const CAPTURE_MODES: readonly string[] = ['Input', 'Output', 'InputAndOutput'];

/** `CaptureContentTypeHeader`'s content types: 1-256 characters of this pattern, no parameters (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CaptureContentTypeHeader.html). */
const CAPTURE_CONTENT_TYPE_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*$/;

function checkCaptureContentTypes(v: Json, where: string): string[] {
  const types = checkStringList(v, where, 10);
  for (const [i, t] of types.entries()) {
    if (t.length > 256 || !CAPTURE_CONTENT_TYPE_PATTERN.test(t)) {
      fail(`${where}[${i}]`, `must be a content type such as text/csv, without parameters (; charset=...), wildcards or "+", at most 256 characters, as SageMaker's CaptureContentTypeHeader takes them (got ${shown(t)}); parameters of an invocation's type are ignored when matching`);
    }
  }
  return types;
}

function parseCapture(v: Json, where: string, resolve: Resolve): DataCaptureConfig {
  if (!isObject(v)) fail(where, 'must be a map with at least "destination"');
  onlyKeys(v, where, ['destination', 'samplingPercentage', 'captureOptions', 'csvContentTypes', 'jsonContentTypes', 'enabled']);
  let captureInput = true;
  let captureOutput = true;
  if (v.captureOptions !== undefined) {
    // Each entry is a CaptureMode ("Input", "Output", "InputAndOutput"), or the API's own {CaptureMode: ...} shape.
    const list = Array.isArray(v.captureOptions) ? v.captureOptions.map((o) => (isObject(o) && Object.keys(o).length === 1 && 'CaptureMode' in o ? o.CaptureMode : o)) : v.captureOptions;
    const modes = checkStringList(list, `${where}.captureOptions`, 32);
    for (const [i, m] of modes.entries()) {
      if (!CAPTURE_MODES.includes(m)) fail(`${where}.captureOptions[${i}]`, `must be one of ${CAPTURE_MODES.map((c) => `"${c}"`).join(', ')} (got "${m}")`);
    }
    captureInput = modes.includes('Input') || modes.includes('InputAndOutput');
    captureOutput = modes.includes('Output') || modes.includes('InputAndOutput');
  }
  return {
    destination: keepS3OrResolve(checkPathString(v.destination, `${where}.destination`), `${where}.destination`, resolve),
    // The Python SDK's default InitialSamplingPercentage is 20; a local run usually wants everything.
    samplingPercentage: v.samplingPercentage === undefined ? 100 : checkNumber(v.samplingPercentage, `${where}.samplingPercentage`, 0, 100, true),
    captureInput,
    captureOutput,
    csvContentTypes: v.csvContentTypes === undefined ? [] : checkCaptureContentTypes(v.csvContentTypes, `${where}.csvContentTypes`),
    jsonContentTypes: v.jsonContentTypes === undefined ? [] : checkCaptureContentTypes(v.jsonContentTypes, `${where}.jsonContentTypes`),
  };
}

function parseDeepPing(v: Json, where: string, resolve: Resolve, readSample: ReadSample): DeepPingConfig {
  if (!isObject(v)) fail(where, 'must be a map with "body" or "bodyFile", and "contentType"');
  onlyKeys(v, where, ['body', 'bodyFile', 'contentType', 'accept']);
  let body: Buffer;
  if (v.body !== undefined && v.bodyFile !== undefined) fail(where, 'give "body" or "bodyFile", not both');
  if (v.bodyFile !== undefined) body = readSample(resolve(checkPathString(v.bodyFile, `${where}.bodyFile`)), `${where}.bodyFile`, MAX_DEEP_PING_BYTES);
  else if (typeof v.body === 'string') body = Buffer.from(v.body, 'utf8');
  else if (v.body !== undefined) body = Buffer.from(JSON.stringify(v.body), 'utf8');
  else fail(where, 'needs "body" (text, or any JSON value) or "bodyFile"');
  if (body.length > MAX_DEEP_PING_BYTES) fail(`${where}.body`, `is ${body.length} bytes; a sample request is at most ${MAX_DEEP_PING_BYTES} bytes, InvokeEndpoint's limit`);
  const ping: DeepPingConfig = {
    body,
    contentType: v.contentType === undefined ? (typeof v.body === 'string' || v.bodyFile !== undefined ? 'application/octet-stream' : 'application/json') : checkString(v.contentType, `${where}.contentType`),
  };
  if (v.accept !== undefined) ping.accept = checkString(v.accept, `${where}.accept`);
  return ping;
}

/** The API's `AsyncInferenceConfig` for an endpoint file's `asyncInference` (the local SageMaker and `smkit deploy` send the same). */
export function asyncInferenceConfigOf(a: AsyncInferenceSettings): {
  OutputConfig: { S3OutputPath: string; S3FailurePath?: string };
  ClientConfig?: { MaxConcurrentInvocationsPerInstance: number };
} {
  return {
    OutputConfig: { S3OutputPath: a.outputPath, ...(a.failurePath === undefined ? {} : { S3FailurePath: a.failurePath }) },
    ...(a.maxConcurrentInvocationsPerInstance === undefined ? {} : { ClientConfig: { MaxConcurrentInvocationsPerInstance: a.maxConcurrentInvocationsPerInstance } }),
  };
}

function parseAsyncInference(v: Json, where: string, resolve: Resolve): AsyncInferenceSettings {
  if (!isObject(v)) fail(where, 'must be a map with at least "outputPath" (where InvokeEndpointAsync writes each result)');
  onlyKeys(v, where, ['outputPath', 'failurePath', 'maxConcurrentInvocationsPerInstance']);
  const settings: AsyncInferenceSettings = { outputPath: keepS3OrResolve(checkPathString(v.outputPath, `${where}.outputPath`), `${where}.outputPath`, resolve) };
  if (v.failurePath !== undefined) settings.failurePath = keepS3OrResolve(checkPathString(v.failurePath, `${where}.failurePath`), `${where}.failurePath`, resolve);
  if (v.maxConcurrentInvocationsPerInstance !== undefined) {
    settings.maxConcurrentInvocationsPerInstance = checkNumber(v.maxConcurrentInvocationsPerInstance, `${where}.maxConcurrentInvocationsPerInstance`, 1, 1000, true);
  }
  return settings;
}

function parseEndpoint(v: Json, where: string, resolve: Resolve, readSample: ReadSample): EndpointConfig {
  if (!isObject(v)) fail(where, 'must be a map with "name" and "variants"');
  onlyKeys(v, where, ['name', 'variants', 'shadow', 'dataCapture', 'asyncInference', 'deepPing', 'deploymentConfig', 'alarms']);
  const name = checkName(v.name, `${where}.name`);
  if (!Array.isArray(v.variants) || v.variants.length < 1 || v.variants.length > 10) {
    fail(`${where}.variants`, 'must list 1 to 10 production variants');
  }
  const variants = v.variants.map((pv, i) => parseVariant(pv, `${where}.variants[${i}]`, resolve, i === 0 ? 'AllTraffic' : `Variant${i + 1}`));
  const names = new Set<string>();
  for (const pv of variants) {
    if (names.has(pv.name)) fail(`${where}.variants`, `variant name "${pv.name}" is used twice`);
    names.add(pv.name);
  }
  if (!variants.some((pv) => pv.weight > 0)) fail(`${where}.variants`, 'at least one variant needs a weight above 0');
  const endpoint: EndpointConfig = { name, variants };
  if (v.shadow !== undefined) {
    endpoint.shadow = parseVariant(v.shadow, `${where}.shadow`, resolve, 'Shadow');
    if (names.has(endpoint.shadow.name)) fail(`${where}.shadow.name`, `"${endpoint.shadow.name}" is already a production variant`);
  }
  if (v.dataCapture !== undefined) {
    const enabled = isObject(v.dataCapture) ? v.dataCapture.enabled : undefined;
    if (enabled !== undefined && typeof enabled !== 'boolean') fail(`${where}.dataCapture.enabled`, 'must be true or false');
    if (enabled !== false) endpoint.dataCapture = parseCapture(v.dataCapture, `${where}.dataCapture`, resolve);
  }
  if (v.asyncInference !== undefined) {
    endpoint.asyncInference = parseAsyncInference(v.asyncInference, `${where}.asyncInference`, resolve);
    // InvokeEndpointAsync has no TargetModel: every request to a multi-model container would fail.
    const multiModel = [...variants, ...(endpoint.shadow ? [endpoint.shadow] : [])].find((pv) => pv.containers.some((c) => c.mode === 'MultiModel'));
    if (multiModel) fail(`${where}.asyncInference`, `does not go with variant ${multiModel.name}, whose container is MultiModel: InvokeEndpointAsync has no TargetModel to name a model by; serve the models from a real-time endpoint, or one model per asynchronous endpoint`);
  }
  checkAsyncOnlyScaling(endpoint, where);
  if (v.deepPing !== undefined) {
    endpoint.deepPing = parseDeepPing(v.deepPing, `${where}.deepPing`, resolve, readSample);
    // Every invocation of a multi-model container names its TargetModel, and a deep ping has none:
    // the start-up stopped with a MissingTargetModelError's stack trace once the containers were up.
    const multiModel = [...variants, ...(endpoint.shadow ? [endpoint.shadow] : [])].find((pv) => pv.containers.some((c) => c.mode === 'MultiModel'));
    if (multiModel) fail(`${where}.deepPing`, `cannot be sent to variant ${multiModel.name}, whose container is MultiModel: each invocation of it names a TargetModel, and a deep ping has none; leave deepPing out`);
  }
  if (v.deploymentConfig !== undefined) endpoint.deploymentConfig = parseDeploymentConfig(v.deploymentConfig, `${where}.deploymentConfig`);
  if (endpoint.deploymentConfig?.rollingUpdatePolicy && variants.length > 1) {
    fail(`${where}.deploymentConfig.rollingUpdatePolicy`, `rolling updates do not work with more than one production variant (an AWS deployment guardrails exclusion; this endpoint has ${variants.length}); use blueGreenUpdatePolicy`);
  }
  if (v.alarms !== undefined) {
    if (!Array.isArray(v.alarms)) fail(`${where}.alarms`, 'must be a list of alarms');
    const variantNames = variants.map((pv) => pv.name).concat(endpoint.shadow ? [endpoint.shadow.name] : []);
    const productionNames = variants.map((pv) => pv.name);
    endpoint.alarms = v.alarms.map((a, i) => parseAlarm(a, `${where}.alarms[${i}]`, isObject(a) && a.variant === undefined ? productionNames : variantNames));
    const alarmNames = new Set<string>();
    endpoint.alarms.forEach((a, i) => {
      if (alarmNames.has(a.name)) fail(`${where}.alarms`, `alarm name "${a.name}" is used twice`);
      alarmNames.add(a.name);
      if (endpoint.asyncInference && (NOT_ASYNC_METRICS as readonly string[]).includes(a.metric)) {
        fail(`${where}.alarms[${i}].metric`, `${a.metric} is not published for an asynchronous endpoint (asyncInference): the alarm would never see a datapoint; watch Invocation4XXErrors, Invocation5XXErrors or ModelLatency`);
      }
      if (variants.some((pv) => pv.serverless !== undefined) && (NOT_SERVERLESS_METRICS as readonly string[]).includes(a.metric)) {
        fail(`${where}.alarms[${i}].metric`, `${a.metric} is not published for a serverless endpoint: the alarm would never see a datapoint; watch Invocations, Invocation4XXErrors, Invocation5XXErrors, ModelLatency or OverheadLatency`);
      }
    });
  }
  checkServerlessEndpoint(endpoint, where);
  return endpoint;
}

/**
 * Validates a parsed endpoint file and fills defaults. Paths are resolved with `resolve` (relative
 * to the file's folder); `readSample` reads a deep-ping `bodyFile`.
 * Throws `ERR_ENDPOINT_FILE_INVALID` naming the offending key, for example `endpoints[0].variants[1].weight`.
 */
export function parseEndpointFile(doc: Json, resolve: Resolve, readSample: ReadSample): EndpointFileConfig {
  if (!isObject(doc)) fail('endpoint file', 'must be a map with an "endpoints" list');
  onlyKeys(doc, 'endpoint file', ['endpoints', 'port', 'backend', 'image', 'startupTimeoutSeconds', 'deploy']);
  if (!Array.isArray(doc.endpoints) || doc.endpoints.length === 0) fail('endpoints', 'must be a non-empty list');
  const endpoints = doc.endpoints.map((e, i) => parseEndpoint(e, `endpoints[${i}]`, resolve, readSample));
  // SageMaker's endpoint names are case-insensitive (CreateEndpoint): iris and Iris are one endpoint.
  const seen = new Map<string, string>();
  for (const e of endpoints) {
    const other = seen.get(e.name.toLowerCase());
    if (other === e.name) fail('endpoints', `endpoint name "${e.name}" is used twice`);
    if (other !== undefined) fail('endpoints', `endpoint names "${other}" and "${e.name}" differ only in case; SageMaker's endpoint names are case-insensitive, so they would name one endpoint`);
    seen.set(e.name.toLowerCase(), e.name);
  }
  // CloudWatch alarm names are one per account and Region: two endpoints' alarms of one name are one
  // alarm, which each endpoint's deploy put back on its own dimensions (a re-deploy never said "no
  // changes"), and --delete of either removed the other's.
  const alarmAt = new Map<string, string>();
  endpoints.forEach((e, i) => {
    (e.alarms ?? []).forEach((a, j) => {
      const first = alarmAt.get(a.name);
      if (first !== undefined) {
        fail(`endpoints[${i}].alarms[${j}].name`, `alarm name ${shown(a.name)} is also ${first}'s: CloudWatch alarm names are one per account and Region, so both endpoints would share one alarm, each deploy taking it over from the other; give each endpoint's alarms their own names`);
      }
      alarmAt.set(a.name, `endpoints[${i}].alarms[${j}]`);
    });
  });
  const config: EndpointFileConfig = { endpoints };
  if (doc.port !== undefined) config.port = checkNumber(doc.port, 'port', 0, 65535, true);
  if (doc.backend !== undefined) {
    if (doc.backend !== 'process' && doc.backend !== 'docker') fail('backend', `must be "process" or "docker" (got ${shown(doc.backend)})`);
    config.backend = doc.backend;
  }
  if (doc.image !== undefined) config.image = checkImage(doc.image, 'image');
  if (doc.startupTimeoutSeconds !== undefined) config.startupTimeoutSeconds = checkNumber(doc.startupTimeoutSeconds, 'startupTimeoutSeconds', 1, 3600);
  if (doc.deploy !== undefined) config.deploy = parseDeploySettings(doc.deploy, 'deploy');
  return config;
}
