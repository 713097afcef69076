import type { AlarmState } from '../cloudwatch/alarm-evaluation.js';

/** What the scaler knows about one scalable target with a target-tracking policy at one moment. */
export interface ScalingSituation {
  /** The variant's instance count now (desired count of the last accepted change). */
  readonly current: number;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** The policy, when one is attached. */
  readonly policy?: {
    /** `TargetValue`: invocations per instance per minute to hold. */
    readonly targetValue: number;
    /** State of the policy's high alarm (metric above target). */
    readonly highAlarm: AlarmState | undefined;
    /** State of the policy's low alarm (metric below 90 % of target); undefined with DisableScaleIn. */
    readonly lowAlarm: AlarmState | undefined;
    /** The latest value of the tracked metric (its statistic per period) the alarms saw; 0 without data. */
    readonly metricValue: number;
    /** What the metric is, for the scaling activity's cause. @defaultValue invocations per instance per minute */
    readonly metricLabel?: string;
    readonly scaleOutCooldownMs: number;
    readonly scaleInCooldownMs: number;
    readonly disableScaleIn: boolean;
  };
  /** Real time of the scale-out that started the scale-out cooldown / of the last scale-in of this target. */
  readonly lastScaleOutAt?: number;
  /** The capacity before the scale-out at `lastScaleOutAt`. */
  readonly scaleOutFrom?: number;
  readonly lastScaleInAt?: number;
  readonly scaleOutSuspended: boolean;
  readonly scaleInSuspended: boolean;
  readonly now: number;
}

/** A capacity change to make, and why (the scaling activity's cause). */
export interface ScalingDecision {
  readonly desired: number;
  readonly direction: 'out' | 'in';
  readonly cause: string;
}

/**
 * Decides a target-tracking step as Application Auto Scaling does: capacity outside [min, max] is brought inside at
 * once; while the high alarm is in ALARM the variant scales out to
 * `ceil(current × metric ÷ target)` (at least one more); during the scale-out cooldown the capacity
 * the initiating scale-out added counts, so only a larger scale-out (`ceil(before × metric ÷ target)`
 * above the current capacity) happens, as the ScaleOutCooldown reference says; while the low alarm
 * is in ALARM it scales in the same way (at least one fewer, never below min) once the scale-in
 * cooldown since the last scale-in has passed. With a `TargetValue` of 0 or below there is no
 * proportion: each step is one instance.
 * Returns undefined when nothing should change.
 */
export function decideScaling(s: ScalingSituation): ScalingDecision | undefined {
  if (s.current < s.minCapacity) return { desired: s.minCapacity, direction: 'out', cause: `the current capacity ${s.current} is below the minimum capacity ${s.minCapacity}` };
  if (s.current > s.maxCapacity) return { desired: s.maxCapacity, direction: 'in', cause: `the current capacity ${s.current} is above the maximum capacity ${s.maxCapacity}` };
  const p = s.policy;
  if (!p) return undefined;
  // A target of 0 or below has no proportion to scale by: such a policy moves one instance a step.
  const proportionate = p.targetValue > 0;
  const proportional = proportionate ? Math.ceil((s.current * p.metricValue) / p.targetValue) : undefined;
  if (p.highAlarm === 'ALARM' && !s.scaleOutSuspended && s.current < s.maxCapacity) {
    let desired = Math.min(s.maxCapacity, Math.max(s.current + 1, proportional ?? 0));
    if (s.lastScaleOutAt !== undefined && s.now - s.lastScaleOutAt < p.scaleOutCooldownMs) {
      if (s.scaleOutFrom === undefined || !proportionate) return undefined;
      desired = Math.min(s.maxCapacity, Math.ceil((s.scaleOutFrom * p.metricValue) / p.targetValue));
      if (desired <= s.current) return undefined;
    }
    return { desired, direction: 'out', cause: `the high alarm is in ALARM: ${p.metricValue} ${p.metricLabel ?? 'invocations per instance per minute'} against a target of ${p.targetValue}` };
  }
  if (p.lowAlarm === 'ALARM' && !p.disableScaleIn && !s.scaleInSuspended && s.current > s.minCapacity) {
    if (s.lastScaleInAt !== undefined && s.now - s.lastScaleInAt < p.scaleInCooldownMs) return undefined;
    const desired = Math.max(s.minCapacity, Math.min(s.current - 1, Math.max(1, proportional ?? s.current - 1)));
    return { desired, direction: 'in', cause: `the low alarm is in ALARM: ${p.metricValue} ${p.metricLabel ?? 'invocations per instance per minute'} against a target of ${p.targetValue}` };
  }
  return undefined;
}
