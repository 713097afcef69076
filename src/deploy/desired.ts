import { createHash } from 'node:crypto';
import type { PutScalingPolicyCommandInput, RegisterScalableTargetCommandInput } from '@aws-sdk/client-application-auto-scaling';
import type { PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import type {
  ContainerDefinition,
  CreateEndpointConfigCommandInput,
  CreateModelCommandInput,
  DeploymentConfig,
  ProductionVariant,
  ProductionVariantInstanceType,
  Tag,
} from '@aws-sdk/client-sagemaker';
import { ToolkitError } from '../errors/catalogue.js';
import { asyncInferenceConfigOf, routingConfigOf, type CapacitySizeConfig, type EndpointConfig, type EndpointDeploymentConfig, type VariantConfig } from '../endpoint-file/schema.js';
import type { ContainerArtifact } from './artifacts.js';

/** Instance type used when a variant gives none. */
export const DEFAULT_INSTANCE_TYPE = 'ml.m5.large';
/** Application Auto Scaling's dimension for a variant's instance count. */
export const SCALABLE_DIMENSION = 'sagemaker:variant:DesiredInstanceCount';
/** The predefined target-tracking metric on invocations per instance. */
export const INVOCATIONS_PER_INSTANCE = 'SageMakerVariantInvocationsPerInstance';
/** An asynchronous endpoint's queued requests per instance (CloudWatch `AWS/SageMaker`, dimension `EndpointName`). */
export const BACKLOG_PER_INSTANCE = 'ApproximateBacklogSizePerInstance';
/** 1 while requests wait and the endpoint has no instance (CloudWatch `AWS/SageMaker`, dimension `EndpointName`). */
export const BACKLOG_WITHOUT_CAPACITY = 'HasBacklogWithoutCapacity';

/** A model to have, named by the hash of its definition. */
export interface DesiredModel {
  readonly name: string;
  readonly variant: string;
  readonly input: CreateModelCommandInput;
}

/**
 * A variant that scales in to zero instances (an asynchronous endpoint) also needs a way back up:
 * a step scaling policy that adds one instance, invoked by an alarm on `HasBacklogWithoutCapacity`
 * (AWS's recipe; target tracking alone starts only once the backlog passes its target).
 */
export interface DesiredScaleFromZero {
  readonly policy: PutScalingPolicyCommandInput;
  /** The alarm, without `AlarmActions`: those are the policy's ARN, known once the policy exists. */
  readonly alarm: PutMetricAlarmCommandInput;
}

/** A variant's autoscaling: the scalable target, its target-tracking policy and, from a minimum of zero, the way back up. */
export interface DesiredScaling {
  readonly variant: string;
  readonly resourceId: string;
  readonly target: RegisterScalableTargetCommandInput;
  readonly policy: PutScalingPolicyCommandInput;
  readonly fromZero?: DesiredScaleFromZero;
}

/** Everything one endpoint of the file becomes. */
export interface DesiredEndpoint {
  readonly name: string;
  readonly models: readonly DesiredModel[];
  readonly config: { readonly name: string; readonly input: CreateEndpointConfigCommandInput };
  readonly deploymentConfig?: DeploymentConfig;
  readonly alarms: readonly PutMetricAlarmCommandInput[];
  readonly scaling: readonly DesiredScaling[];
  /** `deploy.tags`: given to every model, config, alarm and the endpoint deploy creates, and added to the endpoint when it lacks one. */
  readonly tags?: readonly Tag[];
}

/** What the desired state is computed from besides the file. */
export interface DesiredInputs {
  /** Container `model` path → its S3 artifact. */
  readonly artifacts: ReadonlyMap<string, ContainerArtifact>;
  /** Execution role ARN. */
  readonly role: string;
  /** Image for containers without their own `image`. */
  readonly image?: string;
  /** `deploy.tags`. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** `deploy.tags` as the APIs' `Tags` (none: undefined, so no empty list is sent). */
function tagList(tags: Readonly<Record<string, string>> | undefined): Tag[] | undefined {
  const list = Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  return list.length > 0 ? list : undefined;
}

/** JSON with sorted keys, so equal definitions hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** First 10 hex digits of the SHA-256 of the canonical JSON. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 10);
}

/** Length of the digest of the whole base that {@link hashedName} adds when it cuts a base. */
const BASE_DIGEST_LENGTH = 6;

/**
 * `<base>-<hash>`, at most 63 characters (the SageMaker name limit). A base too long for that is
 * cut, never the hash, and gets the first hex digits of its SHA-256 after the cut
 * (`<cut base>-<base digest>-<hash>`): two bases that differ only past the cut (variants `A` and
 * `B` of a long endpoint name, or two long endpoint names with a common start) keep different
 * names, so one endpoint's update never deletes, and a deploy never creates twice, a model or
 * config another one owns. A cut never leaves a trailing hyphen.
 */
export function hashedName(base: string, hash: string): string {
  if (base.length + 1 + hash.length <= 63) return `${base}-${hash}`;
  const digest = createHash('sha256').update(base).digest('hex').slice(0, BASE_DIGEST_LENGTH);
  const room = 63 - hash.length - 1 - BASE_DIGEST_LENGTH - 1;
  const cut = base.slice(0, room).replace(/-+$/, '');
  return `${cut}-${digest}-${hash}`;
}

/** `endpoint/<endpoint>/variant/<variant>`: the Application Auto Scaling resource id of a variant. */
export function variantResourceId(endpoint: string, variant: string): string {
  return `endpoint/${endpoint}/variant/${variant}`;
}

/** The target-tracking policy name smkit uses for a variant that tracks invocations per instance. */
export function scalingPolicyName(endpoint: string, variant: string): string {
  return `${endpoint}-${variant}-invocations-per-instance`;
}

/** The target-tracking policy name smkit uses for a variant that tracks its endpoint's backlog per instance. */
export function backlogPolicyName(endpoint: string, variant: string): string {
  return `${endpoint}-${variant}-backlog-per-instance`;
}

/** The step scaling policy that brings a variant up from zero instances. */
export function scaleFromZeroPolicyName(endpoint: string, variant: string): string {
  return `${endpoint}-${variant}-scale-from-zero`;
}

/**
 * The alarm that invokes {@link scaleFromZeroPolicyName}'s policy. Alarm names are one per account
 * and region, and `<endpoint>-<variant>` reads the same for endpoint `a-b`, variant `c` and endpoint
 * `a`, variant `b-c`: the alarm of a hyphenated variant name ends with a hash of both names, so two
 * such endpoints never put one alarm (each pointing it at its own policy, or deleting it under the
 * other). Other variant names keep their alarm's name.
 */
export function scaleFromZeroAlarmName(endpoint: string, variant: string): string {
  const base = `${endpoint}-${variant}-backlog-without-capacity`;
  return variant.includes('-') ? `${base}-${contentHash({ endpoint, variant })}` : base;
}

/**
 * The name {@link scaleFromZeroAlarmName} gave a hyphenated variant's alarm before it added the
 * hash (undefined for other variants): deploy deletes such an alarm when its `EndpointName`
 * dimension says it is this endpoint's, not the look-alike's.
 */
export function legacyScaleFromZeroAlarmName(endpoint: string, variant: string): string | undefined {
  return variant.includes('-') ? `${endpoint}-${variant}-backlog-without-capacity` : undefined;
}

/** Every scale-from-zero alarm name a variant's alarm may have (see {@link legacyScaleFromZeroAlarmName}). */
export function scaleFromZeroAlarmNames(endpoint: string, variant: string): string[] {
  const legacy = legacyScaleFromZeroAlarmName(endpoint, variant);
  return [scaleFromZeroAlarmName(endpoint, variant), ...(legacy ? [legacy] : [])];
}

/** True when a scale-from-zero alarm watches `endpoint` (its `EndpointName` dimension). */
export function alarmWatches(alarm: { readonly Dimensions?: readonly { Name?: string | undefined; Value?: string | undefined }[] | undefined }, endpoint: string): boolean {
  return (alarm.Dimensions ?? []).some((d) => d.Name === 'EndpointName' && d.Value === endpoint);
}

/** Every scaling policy name smkit may have given a variant (so a changed file can remove the others). */
export function smkitPolicyNames(endpoint: string, variant: string): string[] {
  return [scalingPolicyName(endpoint, variant), backlogPolicyName(endpoint, variant), scaleFromZeroPolicyName(endpoint, variant)];
}

function capacity(c: CapacitySizeConfig): { Type: CapacitySizeConfig['type']; Value: number } {
  return { Type: c.type, Value: c.value };
}

/** The file's camelCase `deploymentConfig` as the API's `DeploymentConfig`. */
export function toApiDeploymentConfig(d: EndpointDeploymentConfig): DeploymentConfig {
  const out: DeploymentConfig = {};
  if (d.blueGreenUpdatePolicy) {
    const bg = d.blueGreenUpdatePolicy;
    const r = bg.trafficRoutingConfiguration;
    out.BlueGreenUpdatePolicy = {
      TrafficRoutingConfiguration: {
        Type: r.type,
        WaitIntervalInSeconds: r.waitIntervalInSeconds,
        ...(r.canarySize ? { CanarySize: capacity(r.canarySize) } : {}),
        ...(r.linearStepSize ? { LinearStepSize: capacity(r.linearStepSize) } : {}),
      },
      ...(bg.terminationWaitInSeconds !== undefined ? { TerminationWaitInSeconds: bg.terminationWaitInSeconds } : {}),
      ...(bg.maximumExecutionTimeoutInSeconds !== undefined ? { MaximumExecutionTimeoutInSeconds: bg.maximumExecutionTimeoutInSeconds } : {}),
    };
  }
  if (d.rollingUpdatePolicy) {
    const ru = d.rollingUpdatePolicy;
    out.RollingUpdatePolicy = {
      MaximumBatchSize: capacity(ru.maximumBatchSize),
      WaitIntervalInSeconds: ru.waitIntervalInSeconds,
      ...(ru.maximumExecutionTimeoutInSeconds !== undefined ? { MaximumExecutionTimeoutInSeconds: ru.maximumExecutionTimeoutInSeconds } : {}),
      ...(ru.rollbackMaximumBatchSize ? { RollbackMaximumBatchSize: capacity(ru.rollbackMaximumBatchSize) } : {}),
    };
  }
  if (d.autoRollbackConfiguration) {
    out.AutoRollbackConfiguration = { Alarms: d.autoRollbackConfiguration.alarms.map((a) => ({ AlarmName: a.alarmName })) };
  }
  return out;
}

function containerDefinition(endpoint: string, variant: VariantConfig, index: number, inputs: DesiredInputs): ContainerDefinition {
  const c = variant.containers[index]!;
  const artifact = inputs.artifacts.get(c.model);
  if (!artifact) throw new ToolkitError('ERR_INTERNAL', `no artifact for ${c.model}`);
  const image = c.image ?? inputs.image;
  if (image === undefined) {
    throw new ToolkitError('ERR_DEPLOY_CONFIG', `${endpoint}/${variant.name}: no image for ${c.hostname}; set deploy.image in the endpoint file (or the container's image), or pass --build`);
  }
  return {
    ...(variant.containers.length > 1 ? { ContainerHostname: c.hostname } : {}),
    Image: image,
    ModelDataUrl: artifact.uri,
    ...(Object.keys(c.env).length > 0 ? { Environment: { ...c.env } } : {}),
    ...(c.mode === 'MultiModel' ? { Mode: 'MultiModel' as const } : {}),
  };
}

function desiredModel(endpoint: string, variant: VariantConfig, inputs: DesiredInputs): DesiredModel {
  const containers = variant.containers.map((_, i) => containerDefinition(endpoint, variant, i, inputs));
  const body: Omit<CreateModelCommandInput, 'ModelName'> = {
    ExecutionRoleArn: inputs.role,
    ...(containers.length === 1 ? { PrimaryContainer: containers[0]! } : { Containers: containers, InferenceExecutionConfig: { Mode: 'Serial' as const } }),
  };
  // `<endpoint>-<variant>` reads the same for endpoint a-b, variant c and endpoint a, variant b-c:
  // a hyphenated variant name hashes its endpoint's name too, so two endpoints that run the same
  // model never share one (an update of one deleted it under the other). Other names keep the
  // hash of the definition alone, so their deployments do not change.
  const name = hashedName(`${endpoint}-${variant.name}`, contentHash(variant.name.includes('-') ? { endpoint, ...body } : body));
  // Tags are not part of the definition, nor of its hash: a changed tag is no new model.
  const Tags = tagList(inputs.tags);
  return { name, variant: variant.name, input: { ModelName: name, ...body, ...(Tags ? { Tags } : {}) } };
}

function productionVariant(v: VariantConfig, modelName: string): ProductionVariant {
  if (v.serverless) {
    const { memorySizeInMB, maxConcurrency, provisionedConcurrency } = v.serverless;
    return {
      VariantName: v.name,
      ModelName: modelName,
      ServerlessConfig: { MemorySizeInMB: memorySizeInMB, MaxConcurrency: maxConcurrency, ...(provisionedConcurrency === undefined ? {} : { ProvisionedConcurrency: provisionedConcurrency }) },
      InitialVariantWeight: v.weight,
    };
  }
  return {
    VariantName: v.name,
    ModelName: modelName,
    InitialInstanceCount: v.instanceCount,
    InstanceType: (v.instanceType ?? DEFAULT_INSTANCE_TYPE) as ProductionVariantInstanceType,
    InitialVariantWeight: v.weight,
    // Part of the config's hash: a changed routing is a new endpoint config and an UpdateEndpoint.
    ...(v.routing ? { RoutingConfig: routingConfigOf(v.routing) } : {}),
  };
}

function alarmInput(endpoint: string, a: NonNullable<EndpointConfig['alarms']>[number], tags: Tag[] | undefined): PutMetricAlarmCommandInput {
  return {
    ...(tags ? { Tags: tags } : {}),
    AlarmName: a.name,
    AlarmDescription: `smkit deploy: ${a.metric} of ${endpoint}/${a.variant}`,
    Namespace: 'AWS/SageMaker',
    MetricName: a.metric,
    Dimensions: [
      { Name: 'EndpointName', Value: endpoint },
      { Name: 'VariantName', Value: a.variant },
    ],
    Statistic: a.statistic,
    Period: a.periodSeconds,
    EvaluationPeriods: a.evaluationPeriods,
    Threshold: a.threshold,
    ComparisonOperator: a.comparison,
    // No invocations means no errors: a quiet endpoint must not block or roll back an update.
    TreatMissingData: 'notBreaching',
  };
}

function trackingConfig(endpoint: string, s: NonNullable<VariantConfig['autoscaling']>): NonNullable<PutScalingPolicyCommandInput['TargetTrackingScalingPolicyConfiguration']> {
  const cooldowns = {
    ...(s.scaleInCooldownSeconds !== undefined ? { ScaleInCooldown: s.scaleInCooldownSeconds } : {}),
    ...(s.scaleOutCooldownSeconds !== undefined ? { ScaleOutCooldown: s.scaleOutCooldownSeconds } : {}),
  };
  if (s.targetBacklogPerInstance !== undefined) {
    return {
      TargetValue: s.targetBacklogPerInstance,
      CustomizedMetricSpecification: { MetricName: BACKLOG_PER_INSTANCE, Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: endpoint }], Statistic: 'Average' },
      ...cooldowns,
    };
  }
  return { TargetValue: s.targetInvocationsPerInstance!, PredefinedMetricSpecification: { PredefinedMetricType: INVOCATIONS_PER_INSTANCE }, ...cooldowns };
}

/** AWS's "scale up from zero" policy and alarm for asynchronous endpoints (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html). */
function scaleFromZero(endpoint: string, variant: string, resourceId: string, tags: Tag[] | undefined): DesiredScaleFromZero {
  return {
    policy: {
      PolicyName: scaleFromZeroPolicyName(endpoint, variant),
      ServiceNamespace: 'sagemaker',
      ResourceId: resourceId,
      ScalableDimension: SCALABLE_DIMENSION,
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: {
        AdjustmentType: 'ChangeInCapacity',
        MetricAggregationType: 'Average',
        Cooldown: 300,
        StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
      },
    },
    alarm: {
      AlarmName: scaleFromZeroAlarmName(endpoint, variant),
      AlarmDescription: `smkit deploy: bring ${endpoint}/${variant} up from zero instances when requests wait`,
      Namespace: 'AWS/SageMaker',
      MetricName: BACKLOG_WITHOUT_CAPACITY,
      Dimensions: [{ Name: 'EndpointName', Value: endpoint }],
      Statistic: 'Average',
      Period: 60,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'missing',
      ...(tags ? { Tags: tags } : {}),
    },
  };
}

function scalingFor(endpoint: string, v: VariantConfig, tags: Tag[] | undefined): DesiredScaling | undefined {
  const s = v.autoscaling;
  if (!s) return undefined;
  const resourceId = variantResourceId(endpoint, v.name);
  return {
    variant: v.name,
    resourceId,
    target: { ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: SCALABLE_DIMENSION, MinCapacity: s.minCapacity, MaxCapacity: s.maxCapacity },
    policy: {
      PolicyName: s.targetBacklogPerInstance !== undefined ? backlogPolicyName(endpoint, v.name) : scalingPolicyName(endpoint, v.name),
      ServiceNamespace: 'sagemaker',
      ResourceId: resourceId,
      ScalableDimension: SCALABLE_DIMENSION,
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: trackingConfig(endpoint, s),
    },
    ...(s.minCapacity === 0 ? { fromZero: scaleFromZero(endpoint, v.name, resourceId, tags) } : {}),
  };
}

/**
 * Throws `ERR_DEPLOY_CONFIG` when the endpoint writes somewhere SageMaker cannot: its data capture
 * and asynchronous results must go to S3 (a local folder works only for smkit local).
 */
export function checkDeployableDestinations(endpoint: EndpointConfig): void {
  const capture = endpoint.dataCapture;
  if (capture && !/^s3:\/\//i.test(capture.destination)) {
    throw new ToolkitError('ERR_DEPLOY_CONFIG', `${endpoint.name}: dataCapture.destination must be an s3:// URI to deploy (got ${capture.destination}); a local folder works only for smkit local`);
  }
  const asyncInference = endpoint.asyncInference;
  for (const [key, path] of [['outputPath', asyncInference?.outputPath], ['failurePath', asyncInference?.failurePath]] as const) {
    if (path !== undefined && !/^s3:\/\//i.test(path)) {
      throw new ToolkitError('ERR_DEPLOY_CONFIG', `${endpoint.name}: asyncInference.${key} must be an s3:// URI to deploy (got ${path}); a local folder works only for smkit local`);
    }
  }
}

/**
 * Throws `ERR_DEPLOY_CONFIG` when a step of the endpoint's `deploymentConfig` given as an
 * `INSTANCE_COUNT` is outside the share SageMaker allows of "the variant's total instance count": a
 * canary at most 50%, linear steps 10% to 50% (`TrafficRoutingConfig`), rolling batches 5% to 50%
 * (`RollingUpdatePolicy`). Checked only where that count is certain: one production variant, no
 * shadow, not on Inf1 instances (whose updates fall back to all at once, with no guardrails:
 * deployment-guardrails-exclusions.html); its `instanceCount` is the new fleet (deploy does not
 * retain the serving counts). With several variants AWS does not say whether the share is of each
 * variant or of all of them, so the file is left to `UpdateEndpoint` rather than refused where
 * SageMaker might take it. SageMaker checks it only when `UpdateEndpoint` is called, after deploy
 * has created the config and deregistered any autoscaling the update needs gone; the file says it
 * before anything changes. A `CAPACITY_PERCENT` the file checks itself.
 */
export function checkDeploymentStepSizes(endpoint: EndpointConfig): void {
  const d = endpoint.deploymentConfig;
  // A serverless variant has no instances to count (and SageMaker takes no guardrails for it).
  if (!d || endpoint.variants.length !== 1 || endpoint.shadow !== undefined) return;
  const variant = endpoint.variants[0]!;
  if (variant.serverless !== undefined || variant.instanceType?.startsWith('ml.inf1.') === true) return;
  const fleet = variant.instanceCount;
  const routing = d.blueGreenUpdatePolicy?.trafficRoutingConfiguration;
  const checks: Array<[key: string, size: CapacitySizeConfig | undefined, min: number, max: number, what: string]> = [
    ['blueGreenUpdatePolicy.trafficRoutingConfiguration.canarySize', routing?.canarySize, 0, 0.5, 'a canary of at most 50%'],
    ['blueGreenUpdatePolicy.trafficRoutingConfiguration.linearStepSize', routing?.linearStepSize, 0.1, 0.5, 'linear steps of 10% to 50%'],
    ['rollingUpdatePolicy.maximumBatchSize', d.rollingUpdatePolicy?.maximumBatchSize, 0.05, 0.5, 'rolling batches of 5% to 50%'],
  ];
  for (const [key, size, min, max, what] of checks) {
    if (size?.type !== 'INSTANCE_COUNT') continue;
    const share = size.value / fleet;
    if (share <= max && share >= min) continue;
    const fleetText = `${fleet} instance${fleet === 1 ? '' : 's'}`;
    throw new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `${endpoint.name}: deploymentConfig.${key} is ${size.value} INSTANCE_COUNT, ${Math.round(share * 100)}% of the new fleet's ${fleetText} (variant ${variant.name}'s instanceCount): SageMaker takes ${what} of the variant's instance count and refuses the update. Change the size, or give the variant more instances`,
    );
  }
}

/**
 * Turns one endpoint of the file into the resources to have: content-hash-named models (one per
 * variant) and endpoint config, the deployment config, alarms and autoscaling. Pure: the same
 * file and artifacts always give the same names.
 */
export function desiredEndpoint(endpoint: EndpointConfig, inputs: DesiredInputs): DesiredEndpoint {
  const all = [...endpoint.variants, ...(endpoint.shadow ? [endpoint.shadow] : [])];
  const models = all.map((v) => desiredModel(endpoint.name, v, inputs));
  const modelOf = (name: string): string => models.find((m) => m.variant === name)!.name;
  checkDeployableDestinations(endpoint);
  const capture = endpoint.dataCapture;
  const body: Omit<CreateEndpointConfigCommandInput, 'EndpointConfigName'> = {
    ProductionVariants: endpoint.variants.map((v) => productionVariant(v, modelOf(v.name))),
    ...(endpoint.shadow ? { ShadowProductionVariants: [productionVariant(endpoint.shadow, modelOf(endpoint.shadow.name))] } : {}),
    ...(capture
      ? {
          DataCaptureConfig: {
            EnableCapture: true,
            InitialSamplingPercentage: capture.samplingPercentage,
            DestinationS3Uri: capture.destination,
            CaptureOptions: [...(capture.captureInput ? [{ CaptureMode: 'Input' as const }] : []), ...(capture.captureOutput ? [{ CaptureMode: 'Output' as const }] : [])],
            ...(capture.csvContentTypes.length > 0 || capture.jsonContentTypes.length > 0
              ? {
                  CaptureContentTypeHeader: {
                    ...(capture.csvContentTypes.length > 0 ? { CsvContentTypes: [...capture.csvContentTypes] } : {}),
                    ...(capture.jsonContentTypes.length > 0 ? { JsonContentTypes: [...capture.jsonContentTypes] } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
    ...(endpoint.asyncInference ? { AsyncInferenceConfig: asyncInferenceConfigOf(endpoint.asyncInference) } : {}),
  };
  const configName = hashedName(endpoint.name, contentHash(body));
  const Tags = tagList(inputs.tags);
  return {
    name: endpoint.name,
    models,
    config: { name: configName, input: { EndpointConfigName: configName, ...body, ...(Tags ? { Tags } : {}) } },
    ...(endpoint.deploymentConfig ? { deploymentConfig: toApiDeploymentConfig(endpoint.deploymentConfig) } : {}),
    alarms: (endpoint.alarms ?? []).map((a) => alarmInput(endpoint.name, a, Tags)),
    scaling: all.map((v) => scalingFor(endpoint.name, v, Tags)).filter((s): s is DesiredScaling => s !== undefined),
    ...(Tags ? { tags: Tags } : {}),
  };
}
