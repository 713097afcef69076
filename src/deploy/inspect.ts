import { DescribeScalableTargetsCommand, DescribeScalingPoliciesCommand, type ScalableTarget, type ScalingPolicy } from '@aws-sdk/client-application-auto-scaling';
import { DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import {
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListTagsCommand,
  type DescribeEndpointConfigCommandOutput,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { objectExists, type ContainerArtifact } from './artifacts.js';
import type { DeployClients } from './clients.js';
import { SCALABLE_DIMENSION, scaleFromZeroAlarmNames, variantResourceId, type DesiredEndpoint } from './desired.js';
import { keepNeighbourModels, listOwned, modelPatterns, type OwnedNames } from './owned.js';
import { allPages, call, describeOrUndefined } from './service-error.js';

/** A variant of the endpoint's current config. */
export interface CurrentVariant {
  readonly name: string;
  readonly modelName: string;
  readonly instanceType?: string;
  /** A shadow variant (`ShadowProductionVariants`), not a production one. */
  readonly shadow?: true;
}

/** What the services say about one endpoint's resources now (read-only calls only). */
export interface CurrentState {
  /** S3 keys (`bucket/key`) already present. */
  readonly presentObjects: ReadonlySet<string>;
  /** Desired model names that already exist. */
  readonly existingModels: ReadonlySet<string>;
  readonly configExists: boolean;
  readonly endpoint?: {
    readonly status: string;
    readonly configName: string;
    readonly failureReason?: string;
    readonly arn?: string;
    /** The endpoint's tags, read only when the file has `deploy.tags`. */
    readonly tags?: ReadonlyMap<string, string>;
  };
  /** The config the endpoint runs now, when it is not the desired one. */
  readonly currentConfig?: { readonly name: string; readonly variants: readonly CurrentVariant[]; readonly asynchronous?: boolean; readonly serverless?: boolean };
  readonly alarms: ReadonlyMap<string, MetricAlarm>;
  /** Scalable targets by resource id, for the desired variants and the current config's variants. */
  readonly targets: ReadonlyMap<string, ScalableTarget>;
  /** Scaling policies by resource id. */
  readonly policies: ReadonlyMap<string, readonly ScalingPolicy[]>;
  /**
   * Configs and models with smkit's names for this endpoint that neither the endpoint nor the file
   * uses: left by an update that was rolled back, or superseded by one deploy stopped following.
   */
  readonly leftovers?: OwnedNames;
}


/** The variants (production and shadow) of a described endpoint config. */
export function configVariants(config: DescribeEndpointConfigCommandOutput): CurrentVariant[] {
  const variant = (v: { VariantName?: string | undefined; ModelName?: string | undefined; InstanceType?: string | undefined }, shadow: boolean): CurrentVariant => ({
    name: v.VariantName ?? '',
    modelName: v.ModelName ?? '',
    ...(v.InstanceType !== undefined ? { instanceType: v.InstanceType } : {}),
    ...(shadow ? { shadow: true as const } : {}),
  });
  return [...(config.ProductionVariants ?? []).map((v) => variant(v, false)), ...(config.ShadowProductionVariants ?? []).map((v) => variant(v, true))];
}

/** Reads the scalable targets and their policies for these variants' resource ids. */
export async function describeScaling(clients: DeployClients, resourceIds: readonly string[]): Promise<{ targets: Map<string, ScalableTarget>; policies: Map<string, ScalingPolicy[]> }> {
  const targets = new Map<string, ScalableTarget>();
  const policies = new Map<string, ScalingPolicy[]>();
  if (resourceIds.length === 0) return { targets, policies };
  const t = await call('Application Auto Scaling DescribeScalableTargets', () =>
    clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [...resourceIds], ScalableDimension: SCALABLE_DIMENSION })),
  );
  for (const target of t.ScalableTargets ?? []) if (target.ResourceId) targets.set(target.ResourceId, target);
  // A page holds 10 policies and a target can have 50 (the user's own beside smkit's): every page
  // is read, or smkit's on a later one were planned as new and, once out of the file, never deleted.
  for (const id of targets.keys()) {
    const pages = await allPages('Application Auto Scaling DescribeScalingPolicies', (token) =>
      clients.autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: id, ScalableDimension: SCALABLE_DIMENSION, ...(token !== undefined ? { NextToken: token } : {}) })),
    );
    policies.set(id, pages.flatMap((p) => p.ScalingPolicies ?? []));
  }
  return { targets, policies };
}

/** Most names (and alarms) one DescribeAlarms or DeleteAlarms call takes. */
export const ALARMS_PER_CALL = 100;

/**
 * The alarms of these names that exist: 100 names a call, each answer followed to its last page
 * (a page holds 50 alarms unless `MaxRecords` says more, so one call for 51 or more found only 50:
 * a second deploy planned the rest anew and `--delete` left them behind).
 */
export async function describeAlarms(clients: Pick<DeployClients, 'cloudwatch'>, names: readonly string[]): Promise<Map<string, MetricAlarm>> {
  const alarms = new Map<string, MetricAlarm>();
  for (let i = 0; i < names.length; i += ALARMS_PER_CALL) {
    const pages = await allPages('CloudWatch DescribeAlarms', (token) =>
      clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + ALARMS_PER_CALL), MaxRecords: ALARMS_PER_CALL, ...(token !== undefined ? { NextToken: token } : {}) })),
    );
    for (const res of pages) for (const a of res.MetricAlarms ?? []) if (a.AlarmName) alarms.set(a.AlarmName, a);
  }
  return alarms;
}

/**
 * The configs and models with smkit's names for the endpoint that neither its current config nor
 * the desired one uses. A model is kept while the endpoint's current config cannot be read (it may
 * run it), or while a neighbour endpoint whose names read the same runs it.
 */
async function findLeftovers(
  clients: DeployClients,
  desired: DesiredEndpoint,
  serving: string | undefined,
  currentConfig: CurrentState['currentConfig'],
  variantNames: ReadonlySet<string>,
): Promise<OwnedNames> {
  const owned = await listOwned(clients, desired.name, variantNames);
  const configs = owned.configs.filter((c) => c !== desired.config.name && c !== serving);
  if (serving !== undefined && serving !== desired.config.name && !currentConfig) return { configs, models: [] };
  const keep = new Set([...desired.models.map((m) => m.name), ...(currentConfig?.variants ?? []).map((v) => v.modelName)]);
  const models = new Set(owned.models.filter((m) => !keep.has(m)));
  // A left config's variants may have names the file no longer has (a rename rolled back).
  const variants = new Set(variantNames);
  for (const c of configs) {
    const config = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${c}`, () => clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: c })));
    for (const v of config ? configVariants(config) : []) {
      if (keep.has(v.modelName) || !modelPatterns(desired.name, [v.name]).some((p) => p.test(v.modelName))) continue;
      variants.add(v.name);
      models.add(v.modelName);
    }
  }
  await keepNeighbourModels(clients, desired.name, variants, models);
  return { configs, models: [...models] };
}

/** Reads the current state of everything {@link DesiredEndpoint} names. Writes nothing. */
export async function inspectEndpoint(clients: DeployClients, desired: DesiredEndpoint, artifacts: readonly ContainerArtifact[]): Promise<CurrentState> {
  const presentObjects = new Set<string>();
  for (const a of artifacts) {
    for (const f of a.files) {
      if (await objectExists(clients.s3, a.bucket, f.key)) presentObjects.add(`${a.bucket}/${f.key}`);
    }
  }
  const existingModels = new Set<string>();
  for (const m of desired.models) {
    const found = await describeOrUndefined(`SageMaker DescribeModel ${m.name}`, () => clients.sagemaker.send(new DescribeModelCommand({ ModelName: m.name })));
    if (found) existingModels.add(m.name);
  }
  const config = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${desired.config.name}`, () =>
    clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: desired.config.name })),
  );
  const ep: DescribeEndpointCommandOutput | undefined = await describeOrUndefined(`SageMaker DescribeEndpoint ${desired.name}`, () =>
    clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: desired.name })),
  );
  let currentConfig: CurrentState['currentConfig'];
  if (ep?.EndpointConfigName && ep.EndpointConfigName !== desired.config.name) {
    const cur = await describeOrUndefined(`SageMaker DescribeEndpointConfig ${ep.EndpointConfigName}`, () =>
      clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: ep.EndpointConfigName })),
    );
    if (cur) {
      currentConfig = {
        name: ep.EndpointConfigName,
        variants: configVariants(cur),
        asynchronous: cur.AsyncInferenceConfig !== undefined,
        serverless: (cur.ProductionVariants ?? []).some((v) => v.ServerlessConfig !== undefined),
      };
    }
  }
  const variantNames = new Set<string>([
    ...(desired.config.input.ProductionVariants ?? []).map((v) => v.VariantName!),
    ...(desired.config.input.ShadowProductionVariants ?? []).map((v) => v.VariantName!),
    ...(currentConfig?.variants ?? []).map((v) => v.name),
  ]);
  const leftovers = await findLeftovers(clients, desired, ep?.EndpointConfigName, currentConfig, variantNames);
  const alarms = await describeAlarms(clients, [...desired.alarms.map((a) => a.AlarmName!), ...[...variantNames].flatMap((v) => scaleFromZeroAlarmNames(desired.name, v))]);
  let tags: Map<string, string> | undefined;
  if (ep?.EndpointArn && desired.tags !== undefined) {
    const pages = await allPages(`SageMaker ListTags ${desired.name}`, (token) =>
      clients.sagemaker.send(new ListTagsCommand({ ResourceArn: ep.EndpointArn, MaxResults: 100, ...(token !== undefined ? { NextToken: token } : {}) })),
    );
    tags = new Map(pages.flatMap((p) => p.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  }
  const { targets, policies } = ep ? await describeScaling(clients, [...variantNames].map((v) => variantResourceId(desired.name, v))) : { targets: new Map(), policies: new Map() };
  return {
    presentObjects,
    existingModels,
    configExists: config !== undefined,
    ...(ep
      ? {
          endpoint: {
            status: ep.EndpointStatus ?? 'Unknown',
            configName: ep.EndpointConfigName ?? '',
            ...(ep.FailureReason ? { failureReason: ep.FailureReason } : {}),
            ...(ep.EndpointArn ? { arn: ep.EndpointArn } : {}),
            ...(tags ? { tags } : {}),
          },
        }
      : {}),
    ...(currentConfig ? { currentConfig } : {}),
    alarms,
    targets,
    policies,
    leftovers,
  };
}
