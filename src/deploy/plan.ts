import type { ScalingPolicy } from '@aws-sdk/client-application-auto-scaling';
import type { MetricAlarm, PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { ToolkitError } from '../errors/catalogue.js';
import type { ArchiveFile, ContainerArtifact } from './artifacts.js';
import { canonicalJson, type DesiredEndpoint, type DesiredModel, type DesiredScaling } from './desired.js';
import type { CurrentState } from './inspect.js';

/** What happens to one resource. */
export type PlanAction = 'create' | 'update' | 'unchanged' | 'delete' | 'upload';

/** The kinds of resources a deployment manages. */
export type ResourceKind = 'archive' | 'model' | 'endpoint-config' | 'alarm' | 'endpoint' | 'scalable-target' | 'scaling-policy';

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
  readonly registerTargets: readonly DesiredScaling[];
  readonly putPolicies: readonly DesiredScaling[];
  /** Superseded configs and models, deleted once the update has completed. */
  readonly cleanup: { readonly configs: readonly string[]; readonly models: readonly string[] };
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

function policyMatches(want: DesiredScaling, have: readonly ScalingPolicy[] | undefined): boolean {
  const p = have?.find((x) => x.PolicyName === want.policy.PolicyName);
  if (!p) return false;
  const w = want.policy.TargetTrackingScalingPolicyConfiguration!;
  const h = p.TargetTrackingScalingPolicyConfiguration;
  return (
    p.PolicyType === want.policy.PolicyType &&
    h !== undefined &&
    h.TargetValue === w.TargetValue &&
    h.PredefinedMetricSpecification?.PredefinedMetricType === w.PredefinedMetricSpecification?.PredefinedMetricType &&
    (w.ScaleInCooldown === undefined || h.ScaleInCooldown === w.ScaleInCooldown) &&
    (w.ScaleOutCooldown === undefined || h.ScaleOutCooldown === w.ScaleOutCooldown)
  );
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

/**
 * Compares the desired endpoint with what the services hold and says, per resource, create /
 * update / unchanged (content-hash names make models and configs a lookup). Pure: writes nothing.
 * Throws `ERR_DEPLOY_FAILED` when the endpoint is busy (Creating, Updating, …): run again later.
 */
export function planEndpoint(desired: DesiredEndpoint, artifacts: readonly ContainerArtifact[], current: CurrentState): EndpointPlan {
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

  const putAlarms = desired.alarms.filter((a) => !alarmMatches(a, current.alarms.get(a.AlarmName!)));
  for (const a of desired.alarms) {
    const have = current.alarms.get(a.AlarmName!);
    items.push({ kind: 'alarm', name: a.AlarmName!, action: !have ? 'create' : alarmMatches(a, have) ? 'unchanged' : 'update', detail: `${a.MetricName} ${a.Statistic} ${a.ComparisonOperator} ${a.Threshold} over ${a.EvaluationPeriods}×${a.Period} s` });
  }

  let endpoint: EndpointAction;
  const ep = current.endpoint;
  if (!ep) endpoint = 'create';
  else if (ep.status === 'Failed') endpoint = 'recreate';
  else if (ep.status !== 'InService' && ep.status !== 'OutOfService') {
    throw new ToolkitError('ERR_DEPLOY_FAILED', `endpoint ${desired.name} is ${ep.status}; wait until it is InService (or Failed) and run smkit deploy again`);
  } else endpoint = ep.configName === desired.config.name ? 'unchanged' : 'update';
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

  const registerTargets: DesiredScaling[] = [];
  const putPolicies: DesiredScaling[] = [];
  for (const s of desired.scaling) {
    const have = deregister.includes(s.resourceId) ? undefined : current.targets.get(s.resourceId);
    const targetSame = have !== undefined && have.MinCapacity === s.target.MinCapacity && have.MaxCapacity === s.target.MaxCapacity;
    if (!targetSame) registerTargets.push(s);
    items.push({ kind: 'scalable-target', name: s.resourceId, action: !have ? 'create' : targetSame ? 'unchanged' : 'update', detail: `${s.target.MinCapacity} to ${s.target.MaxCapacity} instances` });
    const policySame = have !== undefined && policyMatches(s, current.policies.get(s.resourceId));
    if (!policySame) putPolicies.push(s);
    const hasPolicy = have !== undefined && (current.policies.get(s.resourceId) ?? []).some((p) => p.PolicyName === s.policy.PolicyName);
    items.push({
      kind: 'scaling-policy',
      name: s.policy.PolicyName!,
      action: !hasPolicy ? 'create' : policySame ? 'unchanged' : 'update',
      detail: `target ${s.policy.TargetTrackingScalingPolicyConfiguration!.TargetValue} invocations per instance`,
    });
  }

  const cleanup = { configs: [] as string[], models: [] as string[] };
  if (endpoint === 'update' && current.currentConfig) {
    cleanup.configs.push(current.currentConfig.name);
    const keep = new Set(desired.models.map((m) => m.name));
    for (const v of current.currentConfig.variants) if (!keep.has(v.modelName) && !cleanup.models.includes(v.modelName)) cleanup.models.push(v.modelName);
    for (const c of cleanup.configs) items.push({ kind: 'endpoint-config', name: c, action: 'delete', detail: 'superseded, once the update completes' });
    for (const m of cleanup.models) items.push({ kind: 'model', name: m, action: 'delete', detail: 'superseded, once the update completes' });
  }

  return {
    desired,
    uploads,
    createModels,
    createConfig: !current.configExists,
    putAlarms,
    deregister,
    endpoint,
    ...(ep ? { previousConfig: ep.configName } : {}),
    registerTargets,
    putPolicies,
    cleanup,
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
