import { validationException, Violations } from './errors.js';
import { INVOCATIONS_PER_INSTANCE } from './resources.js';

/** A validated `TargetTrackingScalingPolicyConfiguration` on `SageMakerVariantInvocationsPerInstance`. */
export interface TargetTrackingConfig {
  TargetValue: number;
  PredefinedMetricSpecification: { PredefinedMetricType: string; ResourceLabel?: string };
  ScaleOutCooldown?: number;
  ScaleInCooldown?: number;
  DisableScaleIn?: boolean;
}

/**
 * Reads and checks a `TargetTrackingScalingPolicyConfiguration`: `TargetValue` in the service's
 * range, cooldowns as whole seconds, and the one predefined metric run locally.
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
    if (x !== undefined && (typeof x !== 'number' || !Number.isInteger(x) || x < 0)) v.add(x, `targetTrackingScalingPolicyConfiguration.${k.charAt(0).toLowerCase()}${k.slice(1)}`, 'be a whole number of seconds, 0 or more');
  }
  if (c.DisableScaleIn !== undefined && typeof c.DisableScaleIn !== 'boolean') v.add(c.DisableScaleIn, 'targetTrackingScalingPolicyConfiguration.disableScaleIn', 'be a boolean');
  v.throwIfAny();
  const target = c.TargetValue as number;
  if (target < 8.515920e-109 || target > 1.174271e108) throw validationException(`TargetValue ${target} is out of range: it must be between 8.515920e-109 and 1.174271e+108.`);
  if (c.CustomizedMetricSpecification !== undefined) {
    throw validationException(`CustomizedMetricSpecification is not tracked locally: use PredefinedMetricSpecification with PredefinedMetricType ${INVOCATIONS_PER_INSTANCE}.`);
  }
  const spec = c.PredefinedMetricSpecification as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') throw validationException('Either PredefinedMetricSpecification or CustomizedMetricSpecification is required.');
  if (spec.PredefinedMetricType !== INVOCATIONS_PER_INSTANCE) {
    throw validationException(`PredefinedMetricType ${JSON.stringify(spec.PredefinedMetricType)} is not tracked locally: the local Application Auto Scaling tracks ${INVOCATIONS_PER_INSTANCE}.`);
  }
  return {
    TargetValue: target,
    PredefinedMetricSpecification: { PredefinedMetricType: INVOCATIONS_PER_INSTANCE, ...(typeof spec.ResourceLabel === 'string' ? { ResourceLabel: spec.ResourceLabel } : {}) },
    ...(c.ScaleOutCooldown !== undefined ? { ScaleOutCooldown: c.ScaleOutCooldown as number } : {}),
    ...(c.ScaleInCooldown !== undefined ? { ScaleInCooldown: c.ScaleInCooldown as number } : {}),
    ...(c.DisableScaleIn !== undefined ? { DisableScaleIn: c.DisableScaleIn as boolean } : {}),
  };
}
