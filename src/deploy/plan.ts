import type { PutScalingPolicyCommandInput, ScalingPolicy } from '@aws-sdk/client-application-auto-scaling';
import type { MetricAlarm, PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { ToolkitError } from '../errors/catalogue.js';
import type { ArchiveFile, ContainerArtifact } from './artifacts.js';
import { alarmWatches, canonicalJson, legacyScaleFromZeroAlarmName, scaleFromZeroAlarmName, scaleFromZeroAlarmNames, smkitPolicyNames, type DesiredEndpoint, type DesiredModel, type DesiredScaling } from './desired.js';
import type { CurrentState } from './inspect.js';

/** What happens to one resource. */
export type PlanAction = 'create' | 'update' | 'unchanged' | 'delete' | 'upload';

/** The kinds of resources a deployment manages. */
export type ResourceKind = 'archive' | 'model' | 'endpoint-config' | 'alarm' | 'endpoint' | 'endpoint-tags' | 'scalable-target' | 'scaling-policy';

/** One line of the plan. */
export interface PlanItem {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly action: PlanAction;
  readonly detail?: string;
}

/** How the endpoint itself changes. */
export type EndpointAction = 'create' | 'update' | 'recreate' | 'unchanged';

/** Everything to do for one endpoint, in the order {@link applyPlan} does it. */
export interface EndpointPlan {
  readonly desired: DesiredEndpoint;
  readonly uploads: readonly { readonly bucket: string; readonly file: ArchiveFile }[];
  readonly createModels: readonly DesiredModel[];
  readonly createConfig: boolean;
  readonly putAlarms: readonly PutMetricAlarmCommandInput[];
  /** Scalable targets to remove before the endpoint changes (variant removed, instance type changed, autoscaling dropped). */
  readonly deregister: readonly string[];
  readonly endpoint: EndpointAction;
  /** The config the endpoint runs before the change. */
  readonly previousConfig?: string;
  /** `deploy.tags` the existing endpoint lacks (or has with another value): `AddTags` before the endpoint changes. */
  readonly tagEndpoint?: { readonly arn: string; readonly tags: readonly { readonly Key: string; readonly Value: string }[] };
  readonly registerTargets: readonly DesiredScaling[];
  readonly putPolicies: readonly PutScalingPolicyCommandInput[];
  /** smkit's policies the file no longer asks for, on targets that stay. */
  readonly deletePolicies: readonly { readonly resourceId: string; readonly policyName: string }[];
  /** Alarms that invoke a step policy (scale from zero): put after the policies, with the policy's ARN as their action. */
  readonly putScalingAlarms: readonly { readonly alarm: PutMetricAlarmCommandInput; readonly resourceId: string; readonly policyName: string }[];
  /** smkit's scaling alarms the file no longer asks for, deleted last. */
  readonly deleteAlarms: readonly string[];
  /** Superseded configs and models, deleted once the update has completed. */
  readonly cleanup: { readonly configs: readonly string[]; readonly models: readonly string[] };
  /** Configs and models an earlier update left (rolled back, or not followed to its end), deleted with the superseded ones. */
  readonly leftovers: { readonly configs: readonly string[]; readonly models: readonly string[] };
  readonly items: readonly PlanItem[];
}

/** True when nothing in the plan writes. */
export function planIsEmpty(plan: EndpointPlan): boolean {
  return plan.items.every((i) => i.action === 'unchanged');
}

function alarmMatches(want: PutMetricAlarmCommandInput, have: MetricAlarm | undefined): boolean {
  if (!have) return false;
  const dims = (d: { Name?: string | undefined; Value?: string | undefined }[] | undefined): string =>
    canonicalJson([...(d ?? [])].map((x) => ({ Name: x.Name, Value: x.Value })).sort((a, b) => String(a.Name).localeCompare(String(b.Name))));
  return (
    want.Namespace === have.Namespace &&
    want.MetricName === have.MetricName &&
    want.Statistic === have.Statistic &&
    want.Period === have.Period &&
    want.EvaluationPeriods === have.EvaluationPeriods &&
    want.Threshold === have.Threshold &&
    want.ComparisonOperator === have.ComparisonOperator &&
    (have.TreatMissingData === undefined || want.TreatMissingData === have.TreatMissingData) &&
    dims(want.Dimensions) === dims(have.Dimensions)
  );
}

/**
 * What an alarm watches, for a message: its endpoint (the `EndpointName` dimension), else its metric;
 * a metric math alarm (`Metrics`, no metric of its own), the endpoints of the metrics it reads.
 */
export function alarmSubject(alarm: MetricAlarm): string {
  const endpoint = alarm.Dimensions?.find((d) => d.Name === 'EndpointName')?.Value;
  if (endpoint !== undefined) return `watches endpoint ${endpoint}`;
  if (alarm.MetricName !== undefined) return `watches ${alarm.Namespace ?? ''}${alarm.Namespace ? ' ' : ''}${alarm.MetricName} without an endpoint`;
  const endpoints = mathAlarmEndpoints(alarm);
  if (endpoints.length > 0) return `is a metric math alarm of endpoint${endpoints.length > 1 ? 's' : ''} ${endpoints.join(', ')}`;
  return alarm.Metrics !== undefined && alarm.Metrics.length > 0 ? 'is a metric math alarm of no endpoint' : 'watches metrics of no endpoint';
}

/** The endpoints whose metrics a metric math alarm reads (their `EndpointName` dimensions). */
function mathAlarmEndpoints(alarm: MetricAlarm): string[] {
  return [...new Set((alarm.Metrics ?? []).flatMap((m) => (m.MetricStat?.Metric?.Dimensions ?? []).filter((d) => d.Name === 'EndpointName' && d.Value !== undefined).map((d) => d.Value!)))];
}

/**
 * Why an alarm under a name of endpoint `endpoint`'s file is not that endpoint's, for a message:
 * what it watches, then `, not <of>`. A metric math alarm that reads the endpoint's own metrics is
 * still not one deploy makes (one metric of the endpoint), and is said so, not "of endpoint iris,
 * not endpoint iris".
 */
export function alarmNotOf(alarm: MetricAlarm, endpoint: string, of: string): string {
  const subject = alarmSubject(alarm);
  return alarm.MetricName === undefined && mathAlarmEndpoints(alarm).includes(endpoint) ? `${subject}, not an alarm on one metric of ${of} as smkit deploy makes` : `${subject}, not ${of}`;
}

/**
 * A target tracking policy's cooldown, seconds, with Application Auto Scaling's default for SageMaker
 * endpoint variants (300) where it is not set ("Application Auto Scaling provides a default value of
 * 300 for the following scalable targets: ... Amazon SageMaker endpoint variants",
 * https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html).
 */
function cooldown(seconds: number | undefined): number {
  return seconds ?? 300;
}

function policyMatches(want: PutScalingPolicyCommandInput, have: readonly ScalingPolicy[] | undefined): boolean {
  const p = have?.find((x) => x.PolicyName === want.PolicyName);
  if (!p || p.PolicyType !== want.PolicyType) return false;
  if (want.StepScalingPolicyConfiguration) {
    const w = want.StepScalingPolicyConfiguration;
    const h = p.StepScalingPolicyConfiguration;
    const steps = (x: typeof w.StepAdjustments): string => canonicalJson((x ?? []).map((a) => ({ l: a.MetricIntervalLowerBound, u: a.MetricIntervalUpperBound, s: a.ScalingAdjustment })));
    return (
      h !== undefined &&
      h.AdjustmentType === w.AdjustmentType &&
      h.MetricAggregationType === w.MetricAggregationType &&
      h.Cooldown === w.Cooldown &&
      h.MinAdjustmentMagnitude === w.MinAdjustmentMagnitude &&
      steps(h.StepAdjustments) === steps(w.StepAdjustments)
    );
  }
  const w = want.TargetTrackingScalingPolicyConfiguration!;
  const h = p.TargetTrackingScalingPolicyConfiguration;
  const metric = (c: typeof w | undefined): string => {
    const m = c?.CustomizedMetricSpecification;
    return canonicalJson({ predefined: c?.PredefinedMetricSpecification?.PredefinedMetricType, name: m?.MetricName, ns: m?.Namespace, stat: m?.Statistic, dims: m?.Dimensions?.map((d) => ({ n: d.Name, v: d.Value })) });
  };
  return (
    h !== undefined &&
    h.TargetValue === w.TargetValue &&
    metric(h) === metric(w) &&
    // A cooldown the file leaves out is the default, not whatever the policy has now: PutScalingPolicy
    // replaces the whole configuration, so a cooldown removed from the file must put the policy again.
    cooldown(h.ScaleInCooldown) === cooldown(w.ScaleInCooldown) &&
    cooldown(h.ScaleOutCooldown) === cooldown(w.ScaleOutCooldown) &&
    // The file has no DisableScaleIn, so deploy's policy scales in (the default, false): one turned
    // off outside deploy is put again, as any other setting of the policy the file does not say.
    (h.DisableScaleIn ?? false) === (w.DisableScaleIn ?? false)
  );
}

/** A scale-from-zero alarm matches when its definition does and it still invokes the policy it should. */
function scalingAlarmMatches(want: PutMetricAlarmCommandInput, have: MetricAlarm | undefined, policyArn: string | undefined): boolean {
  return (
    alarmMatches(want, have) &&
    have!.DatapointsToAlarm === want.DatapointsToAlarm &&
    policyArn !== undefined &&
    canonicalJson(have!.AlarmActions ?? []) === canonicalJson([policyArn])
  );
}

function describePolicy(p: PutScalingPolicyCommandInput): string {
  const t = p.TargetTrackingScalingPolicyConfiguration;
  if (t) return `target ${t.TargetValue} ${t.CustomizedMetricSpecification ? 'queued requests' : 'invocations'} per instance`;
  return 'one instance more when requests wait with none';
}

function describeRouting(desired: DesiredEndpoint): string {
  const bg = desired.deploymentConfig?.BlueGreenUpdatePolicy;
  const ru = desired.deploymentConfig?.RollingUpdatePolicy;
  const alarms = desired.deploymentConfig?.AutoRollbackConfiguration?.Alarms?.map((a) => a.AlarmName).join(', ');
  const watch = alarms ? `; rollback on ${alarms}` : '';
  if (ru) return `rolling, batches of ${ru.MaximumBatchSize?.Value} ${ru.MaximumBatchSize?.Type}, bake ${ru.WaitIntervalInSeconds} s${watch}`;
  const r = bg?.TrafficRoutingConfiguration;
  if (!r) return `blue/green, all at once${watch}`;
  const size = r.CanarySize ?? r.LinearStepSize;
  const step = size ? ` ${size.Value}${size.Type === 'CAPACITY_PERCENT' ? '%' : ' instance(s)'}` : '';
  return `blue/green ${r.Type}${step}, bake ${r.WaitIntervalInSeconds} s${watch}`;
}

function variantsOf(desired: DesiredEndpoint, current: CurrentState): Set<string> {
  return new Set([
    ...(desired.config.input.ProductionVariants ?? []).map((v) => v.VariantName!),
    ...(desired.config.input.ShadowProductionVariants ?? []).map((v) => v.VariantName!),
    ...(current.currentConfig?.variants ?? []).map((v) => v.name),
  ]);
}

/**
 * Throws `ERR_DEPLOY_CONFIG` for an UpdateEndpoint SageMaker refuses, before anything is written:
 * an asynchronous endpoint cannot be updated to a config without `AsyncInferenceConfig`, an
 * instance-based endpoint not to a serverless config (serverless-endpoints-update.html), and a
 * blue/green or rolling update must keep the production variants' names
 * (deployment-guardrails-exclusions.html). Found at apply time instead, the refusal came after
 * deploy had created the config and deregistered the variants' autoscaling.
 */
function checkUpdate(desired: DesiredEndpoint, current: CurrentState): void {
  const before = current.currentConfig;
  const policy = desired.deploymentConfig?.RollingUpdatePolicy ? 'rollingUpdatePolicy' : desired.deploymentConfig?.BlueGreenUpdatePolicy ? 'blueGreenUpdatePolicy' : undefined;
  if (before && policy) {
    const had = before.variants.filter((v) => !v.shadow).map((v) => v.name).sort();
    const wants = (desired.config.input.ProductionVariants ?? []).map((v) => v.VariantName!).sort();
    if (had.length !== wants.length || had.some((n, i) => n !== wants[i])) {
      throw new ToolkitError(
        'ERR_DEPLOY_CONFIG',
        `${desired.name}: the endpoint file's variants [${wants.join(', ')}] are not the endpoint's [${had.join(', ')}] (config ${before.name}), and its deploymentConfig has a ${policy}: a blue/green or rolling deployment keeps the variant names (SageMaker's deployment guardrails exclusions). Keep the variant names, or drop the ${policy} for this deploy (the update then goes all at once), or delete the endpoint (smkit deploy --delete) and deploy again`,
      );
    }
  }
  if (before?.serverless === false && (desired.config.input.ProductionVariants ?? []).some((v) => v.ServerlessConfig !== undefined)) {
    throw new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `${desired.name}: the endpoint file makes endpoint ${desired.name} serverless, but it runs on instances (config ${before.name}), and SageMaker does not update an instance-based endpoint to a serverless config (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-update.html). Delete the endpoint (smkit deploy --delete) and run smkit deploy again to create it serverless, deploy it under another endpoint name, or keep its instances in the file`,
    );
  }
  if (before?.asynchronous === true && desired.config.input.AsyncInferenceConfig === undefined) {
    throw new ToolkitError(
      'ERR_DEPLOY_CONFIG',
      `${desired.name}: the endpoint file has no asyncInference, but endpoint ${desired.name} is asynchronous (config ${before.name}), and SageMaker does not update an asynchronous endpoint to a real-time config (UpdateEndpoint: "The AsyncInferenceConfig parameter cannot be removed from this endpoint"). Delete the endpoint (smkit deploy --delete) and run smkit deploy again to create it real-time, or keep asyncInference in the file`,
    );
  }
}

/**
 * Compares the desired endpoint with what the services hold and says, per resource, create /
 * update / unchanged (content-hash names make models and configs a lookup). Pure: writes nothing.
 * `opts.awsCliOptions` (` --endpoint-url … --region …`) go on the `aws` commands its messages give.
 * Throws `ERR_DEPLOY_FAILED` when the endpoint is busy (Creating, Updating, …): run again later;
 * `ERR_DEPLOY_CONFIG` when the file asks for an update SageMaker refuses ({@link checkUpdate}).
 */
export function planEndpoint(desired: DesiredEndpoint, artifacts: readonly ContainerArtifact[], current: CurrentState, opts: { readonly awsCliOptions?: string } = {}): EndpointPlan {
  const items: PlanItem[] = [];
  const uploads: { bucket: string; file: ArchiveFile }[] = [];
  const seen = new Set<string>();
  for (const a of artifacts) {
    for (const f of a.files) {
      const id = `${a.bucket}/${f.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const present = current.presentObjects.has(id);
      if (!present) uploads.push({ bucket: a.bucket, file: f });
      items.push({ kind: 'archive', name: `s3://${id}`, action: present ? 'unchanged' : 'upload', detail: `${a.source}, ${f.bytes} bytes` });
    }
  }
  const createModels = desired.models.filter((m) => !current.existingModels.has(m.name));
  for (const m of desired.models) items.push({ kind: 'model', name: m.name, action: current.existingModels.has(m.name) ? 'unchanged' : 'create', detail: `variant ${m.variant}` });
  items.push({ kind: 'endpoint-config', name: desired.config.name, action: current.configExists ? 'unchanged' : 'create' });

  for (const a of desired.alarms) {
    const have = current.alarms.get(a.AlarmName!);
    if (have !== undefined && !alarmWatches(have, desired.name)) {
      throw new ToolkitError(
        'ERR_DEPLOY_CONFIG',
        `${desired.name}: alarm ${a.AlarmName} exists already and ${alarmNotOf(have, desired.name, `endpoint ${desired.name}`)}: CloudWatch alarm names are one per account and Region, so deploying would take it over (and smkit deploy --delete would remove it). Give the alarm another name in the endpoint file, or delete that alarm first if nothing uses it (aws cloudwatch delete-alarms --alarm-names ${a.AlarmName}${opts.awsCliOptions ?? ''})`,
      );
    }
  }
  const putAlarms = desired.alarms.filter((a) => !alarmMatches(a, current.alarms.get(a.AlarmName!)));
  for (const a of desired.alarms) {
    const have = current.alarms.get(a.AlarmName!);
    items.push({ kind: 'alarm', name: a.AlarmName!, action: !have ? 'create' : alarmMatches(a, have) ? 'unchanged' : 'update', detail: `${a.MetricName} ${a.Statistic} ${a.ComparisonOperator} ${a.Threshold} over ${a.EvaluationPeriods}×${a.Period} s` });
  }

  let endpoint: EndpointAction;
  const ep = current.endpoint;
  if (!ep) endpoint = 'create';
  else if (ep.status === 'Failed') endpoint = 'recreate';
  else if (ep.status === 'UpdateRollbackFailed') {
    // Not a state that passes: the endpoint serves a mix of the old and new configs until someone fixes it.
    throw new ToolkitError(
      'ERR_DEPLOY_FAILED',
      `endpoint ${desired.name} is UpdateRollbackFailed (a rolling update and its rollback both failed${ep.failureReason ? `: ${ep.failureReason}` : ''}); it serves a mix of ${ep.configName} and another config and will not settle by itself. Restore it as AWS's rolling deployments guide says, or remove it with smkit deploy --delete, then run smkit deploy again`,
    );
  } else if (ep.status !== 'InService' && ep.status !== 'OutOfService') {
    throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${desired.name} is ${ep.status}; wait until it is InService (or Failed) and run smkit deploy again`);
  } else endpoint = ep.configName === desired.config.name ? 'unchanged' : 'update';
  if (endpoint === 'update') checkUpdate(desired, current);
  const endpointDetail =
    endpoint === 'create' ? `config ${desired.config.name}` :
    endpoint === 'recreate' ? `was Failed (${ep?.failureReason ?? 'no reason given'}): delete, then create with ${desired.config.name}` :
    endpoint === 'update' ? `config ${ep!.configName} → ${desired.config.name}; ${describeRouting(desired)}` :
    `config ${desired.config.name}`;

  // Autoscaling: targets of variants that go away, change instance type or lose autoscaling are
  // deregistered before the endpoint changes (UpdateEndpoint refuses otherwise).
  const desiredTypes = new Map<string, string | undefined>(
    [...(desired.config.input.ProductionVariants ?? []), ...(desired.config.input.ShadowProductionVariants ?? [])].map((v) => [v.VariantName!, v.InstanceType]),
  );
  const wantedIds = new Set(desired.scaling.map((s) => s.resourceId));
  const deregister: string[] = [];
  for (const id of current.targets.keys()) {
    const variant = id.split('/').pop()!;
    const before = current.currentConfig?.variants.find((v) => v.name === variant);
    const typeChanges = endpoint === 'update' && before !== undefined && desiredTypes.has(variant) && before.instanceType !== desiredTypes.get(variant);
    if (!wantedIds.has(id) || !desiredTypes.has(variant) || typeChanges || endpoint === 'recreate') deregister.push(id);
  }
  for (const id of deregister) items.push({ kind: 'scalable-target', name: id, action: 'delete', detail: 'before the endpoint changes' });
  items.push({ kind: 'endpoint', name: desired.name, action: endpoint === 'recreate' ? 'update' : endpoint, detail: endpointDetail });
  // A create (or the create after a Failed endpoint is deleted) gives the endpoint its tags; an
  // endpoint that stays gets those it lacks. Tags the file does not name are left as they are.
  const lacking = endpoint === 'update' || endpoint === 'unchanged' ? (desired.tags ?? []).filter((t) => ep?.tags?.get(t.Key!) !== t.Value) : [];
  const tagEndpoint = lacking.length > 0 && ep?.arn ? { arn: ep.arn, tags: lacking.map((t) => ({ Key: t.Key!, Value: t.Value! })) } : undefined;
  if (tagEndpoint) items.push({ kind: 'endpoint-tags', name: desired.name, action: 'update', detail: tagEndpoint.tags.map((t) => `${t.Key}=${t.Value}`).join(', ') });

  const registerTargets: DesiredScaling[] = [];
  const putPolicies: PutScalingPolicyCommandInput[] = [];
  const deletePolicies: { resourceId: string; policyName: string }[] = [];
  const putScalingAlarms: EndpointPlan['putScalingAlarms'][number][] = [];
  for (const s of desired.scaling) {
    const have = deregister.includes(s.resourceId) ? undefined : current.targets.get(s.resourceId);
    const targetSame = have !== undefined && have.MinCapacity === s.target.MinCapacity && have.MaxCapacity === s.target.MaxCapacity;
    if (!targetSame) registerTargets.push(s);
    items.push({ kind: 'scalable-target', name: s.resourceId, action: !have ? 'create' : targetSame ? 'unchanged' : 'update', detail: `${s.target.MinCapacity} to ${s.target.MaxCapacity} instances` });
    const havePolicies = have !== undefined ? current.policies.get(s.resourceId) ?? [] : [];
    const wanted = [s.policy, ...(s.fromZero ? [s.fromZero.policy] : [])];
    for (const policy of wanted) {
      const policySame = policyMatches(policy, havePolicies);
      if (!policySame) putPolicies.push(policy);
      const hasPolicy = havePolicies.some((p) => p.PolicyName === policy.PolicyName);
      items.push({ kind: 'scaling-policy', name: policy.PolicyName!, action: !hasPolicy ? 'create' : policySame ? 'unchanged' : 'update', detail: describePolicy(policy) });
    }
    for (const p of havePolicies) {
      if (p.PolicyName && smkitPolicyNames(desired.name, s.variant).includes(p.PolicyName) && !wanted.some((w) => w.PolicyName === p.PolicyName)) {
        deletePolicies.push({ resourceId: s.resourceId, policyName: p.PolicyName });
        items.push({ kind: 'scaling-policy', name: p.PolicyName, action: 'delete', detail: 'no longer in the endpoint file' });
      }
    }
    if (s.fromZero) {
      const alarm = s.fromZero.alarm;
      const haveAlarm = current.alarms.get(alarm.AlarmName!);
      const policyName = s.fromZero.policy.PolicyName!;
      const arn = havePolicies.find((p) => p.PolicyName === policyName)?.PolicyARN;
      const same = !putPolicies.includes(s.fromZero.policy) && scalingAlarmMatches(alarm, haveAlarm, arn);
      if (!same) putScalingAlarms.push({ alarm, resourceId: s.resourceId, policyName });
      items.push({ kind: 'alarm', name: alarm.AlarmName!, action: !haveAlarm ? 'create' : same ? 'unchanged' : 'update', detail: `${alarm.MetricName} ≥ 1 over 2×60 s invokes ${policyName}` });
    }
  }
  const wantedAlarms = new Set(desired.scaling.flatMap((s) => (s.fromZero ? [s.fromZero.alarm.AlarmName!] : [])));
  const deleteAlarms: string[] = [];
  for (const variant of variantsOf(desired, current)) {
    const legacy = legacyScaleFromZeroAlarmName(desired.name, variant);
    for (const name of scaleFromZeroAlarmNames(desired.name, variant)) {
      const have = current.alarms.get(name);
      if (!have || wantedAlarms.has(name) || desired.alarms.some((a) => a.AlarmName === name)) continue;
      // The old name is also a look-alike endpoint's name for its own alarm: only ours goes.
      if (name === legacy && !alarmWatches(have, desired.name)) continue;
      deleteAlarms.push(name);
      items.push({ kind: 'alarm', name, action: 'delete', detail: name === legacy ? `the old name of ${scaleFromZeroAlarmName(desired.name, variant)}, which another endpoint's alarm can have` : 'the variant no longer scales from zero' });
    }
  }

  const cleanup = { configs: [] as string[], models: [] as string[] };
  if (endpoint === 'update' && current.currentConfig) {
    cleanup.configs.push(current.currentConfig.name);
    const keep = new Set(desired.models.map((m) => m.name));
    for (const v of current.currentConfig.variants) if (!keep.has(v.modelName) && !cleanup.models.includes(v.modelName)) cleanup.models.push(v.modelName);
    for (const c of cleanup.configs) items.push({ kind: 'endpoint-config', name: c, action: 'delete', detail: 'superseded, once the update completes' });
    for (const m of cleanup.models) items.push({ kind: 'model', name: m, action: 'delete', detail: 'superseded, once the update completes' });
  }
  const leftovers = { configs: (current.leftovers?.configs ?? []).filter((c) => !cleanup.configs.includes(c)), models: (current.leftovers?.models ?? []).filter((m) => !cleanup.models.includes(m)) };
  const when = endpoint === 'unchanged' ? '' : ', once the endpoint is in service';
  for (const c of leftovers.configs) items.push({ kind: 'endpoint-config', name: c, action: 'delete', detail: `left by an earlier update that was rolled back or not followed to its end${when}` });
  for (const m of leftovers.models) items.push({ kind: 'model', name: m, action: 'delete', detail: `left by an earlier update that was rolled back or not followed to its end${when}` });

  return {
    desired,
    uploads,
    createModels,
    createConfig: !current.configExists,
    putAlarms,
    deregister,
    endpoint,
    ...(ep ? { previousConfig: ep.configName } : {}),
    ...(tagEndpoint ? { tagEndpoint } : {}),
    registerTargets,
    putPolicies,
    deletePolicies,
    putScalingAlarms,
    deleteAlarms,
    cleanup,
    leftovers,
    items,
  };
}

/** The plan as text: one line per resource, then a summary line. */
export function formatPlan(plan: EndpointPlan): string {
  const width = Math.max(...plan.items.map((i) => i.kind.length));
  const lines = [`endpoint ${plan.desired.name}:`];
  for (const i of plan.items) lines.push(`  ${i.action.padEnd(9)} ${i.kind.padEnd(width)} ${i.name}${i.detail ? `  (${i.detail})` : ''}`);
  const counts = new Map<string, number>();
  for (const i of plan.items) counts.set(i.action, (counts.get(i.action) ?? 0) + 1);
  lines.push(planIsEmpty(plan) ? '  no changes: everything is as the file says' : `  ${[...counts].map(([a, n]) => `${n} ${a}`).join(', ')}`);
  return lines.join('\n');
}
