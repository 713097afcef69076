import { STATISTICS, type Statistic } from '../cloudwatch/statistics.js';
import { validationException, Violations } from './errors.js';
import { COMPONENT_METRICS, CONCURRENT_REQUESTS_PER_COPY, CONCURRENT_REQUESTS_PER_MODEL, INVOCATIONS_PER_COPY, INVOCATIONS_PER_INSTANCE, isInt32, VARIANT_METRICS } from './resources.js';

/** A validated `CustomizedMetricSpecification`: one CloudWatch metric and the statistic tracked. */
export interface CustomizedMetric {
  MetricName: string;
  Namespace: string;
  Dimensions?: Array<{ Name: string; Value: string }>;
  Statistic: Statistic;
  Unit?: string;
}

/**
 * A validated `TargetTrackingScalingPolicyConfiguration`: on `SageMakerVariantInvocationsPerInstance`
 * `SageMakerVariantConcurrentRequestsPerModelHighResolution`, `SageMakerInferenceComponentInvocationsPerCopy` or `…ConcurrentRequestsPerCopyHighResolution` (predefined), or on one CloudWatch metric (customized, such as an asynchronous endpoint's
 * `ApproximateBacklogSizePerInstance`).
 */
export interface TargetTrackingConfig {
  TargetValue: number;
  PredefinedMetricSpecification?: { PredefinedMetricType: string };
  CustomizedMetricSpecification?: CustomizedMetric;
  ScaleOutCooldown?: number;
  ScaleInCooldown?: number;
  DisableScaleIn?: boolean;
}

/** `TargetValue` lies in −2^360…2^360 (TargetTrackingScalingPolicyConfiguration reference). */
export const TARGET_VALUE_BOUND = 2 ** 360;

/**
 * Reads and checks a `TargetTrackingScalingPolicyConfiguration`: `TargetValue` in the service's
 * range, cooldowns as whole seconds, and the metric: a predefined metric run locally, or one
 * customized CloudWatch metric.
 */
export function readTargetTrackingConfig(raw: unknown): TargetTrackingConfig {
  if (raw === undefined || raw === null || typeof raw !== 'object') {
    throw validationException('TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.');
  }
  const c = raw as Record<string, unknown>;
  const v = new Violations();
  if (c.TargetValue === undefined) v.add(undefined, 'targetTrackingScalingPolicyConfiguration.targetValue', 'not be null');
  else if (typeof c.TargetValue !== 'number' || !Number.isFinite(c.TargetValue)) v.add(c.TargetValue, 'targetTrackingScalingPolicyConfiguration.targetValue', 'be a number');
  for (const k of ['ScaleOutCooldown', 'ScaleInCooldown'] as const) {
    const x = c[k];
    if (x !== undefined && (!isInt32(x) || x < 0)) v.add(x, `targetTrackingScalingPolicyConfiguration.${k.charAt(0).toLowerCase()}${k.slice(1)}`, 'be a whole number of seconds from 0 to 2147483647');
  }
  if (c.DisableScaleIn !== undefined && typeof c.DisableScaleIn !== 'boolean') v.add(c.DisableScaleIn, 'targetTrackingScalingPolicyConfiguration.disableScaleIn', 'be a boolean');
  v.throwIfAny();
  const target = c.TargetValue as number;
  if (Math.abs(target) > TARGET_VALUE_BOUND) throw validationException(`TargetValue ${target} is out of range: it must be between -2^360 and 2^360 (about ±2.35e+108).`);
  const options = {
    ...(c.ScaleOutCooldown !== undefined ? { ScaleOutCooldown: c.ScaleOutCooldown as number } : {}),
    ...(c.ScaleInCooldown !== undefined ? { ScaleInCooldown: c.ScaleInCooldown as number } : {}),
    ...(c.DisableScaleIn !== undefined ? { DisableScaleIn: c.DisableScaleIn as boolean } : {}),
  };
  if (c.CustomizedMetricSpecification !== undefined) {
    if (c.PredefinedMetricSpecification !== undefined) throw validationException('Specify either PredefinedMetricSpecification or CustomizedMetricSpecification, not both.');
    return { TargetValue: target, CustomizedMetricSpecification: readCustomizedMetric(c.CustomizedMetricSpecification), ...options };
  }
  const spec = c.PredefinedMetricSpecification as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') throw validationException('Either PredefinedMetricSpecification or CustomizedMetricSpecification is required.');
  const type = spec.PredefinedMetricType;
  if (!VARIANT_METRICS.includes(type as string) && !COMPONENT_METRICS.includes(type as string)) {
    throw validationException(`PredefinedMetricType ${JSON.stringify(type)} is not tracked locally: the local Application Auto Scaling tracks ${INVOCATIONS_PER_INSTANCE} and ${CONCURRENT_REQUESTS_PER_MODEL} (a variant), ${INVOCATIONS_PER_COPY} and ${CONCURRENT_REQUESTS_PER_COPY} (an inference component).`);
  }
  // "You can't specify a resource label unless the metric type is ALBRequestCountPerTarget" (PredefinedMetricSpecification reference).
  if (spec.ResourceLabel !== undefined) {
    throw validationException(`ResourceLabel is specified only with the ALBRequestCountPerTarget metric type (a load balancer's target group), not with ${type}.`);
  }
  return {
    TargetValue: target,
    PredefinedMetricSpecification: { PredefinedMetricType: type as string },
    ...options,
  };
}

/** Reads a `CustomizedMetricSpecification` of one metric; metric math (`Metrics`) is not run locally. */
function readCustomizedMetric(raw: unknown): CustomizedMetric {
  if (raw === null || typeof raw !== 'object') throw validationException('CustomizedMetricSpecification must be an object with MetricName, Namespace and Statistic.');
  const m = raw as Record<string, unknown>;
  if (m.Metrics !== undefined) throw validationException('CustomizedMetricSpecification.Metrics (metric math) is not tracked locally: name one metric with MetricName, Namespace, Dimensions and Statistic.');
  const v = new Violations();
  const where = 'targetTrackingScalingPolicyConfiguration.customizedMetricSpecification';
  for (const k of ['MetricName', 'Namespace'] as const) {
    const x = m[k];
    if (typeof x !== 'string' || x.length < 1 || x.length > 255) v.add(x, `${where}.${k.charAt(0).toLowerCase()}${k.slice(1)}`, 'be a string of 1 to 255 characters');
  }
  if (!STATISTICS.includes(m.Statistic as Statistic)) v.add(m.Statistic, `${where}.statistic`, `satisfy enum value set: [${STATISTICS.join(', ')}]`);
  const dims = m.Dimensions;
  const dimsOk = dims === undefined || (Array.isArray(dims) && dims.length <= 30 && dims.every((d) => d !== null && typeof d === 'object' && typeof (d as { Name?: unknown }).Name === 'string' && typeof (d as { Value?: unknown }).Value === 'string'));
  if (!dimsOk) v.add(dims, `${where}.dimensions`, 'be a list of at most 30 {Name, Value} strings');
  if (m.Unit !== undefined && typeof m.Unit !== 'string') v.add(m.Unit, `${where}.unit`, 'be a string');
  v.throwIfAny();
  return {
    MetricName: m.MetricName as string,
    Namespace: m.Namespace as string,
    ...(dims === undefined ? {} : { Dimensions: (dims as Array<{ Name: string; Value: string }>).map((d) => ({ Name: d.Name, Value: d.Value })) }),
    Statistic: m.Statistic as CustomizedMetric['Statistic'],
    ...(m.Unit === undefined ? {} : { Unit: m.Unit as string }),
  };
}
