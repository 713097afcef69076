import type { AdjustmentType, MetricAggregationType, StepAdjustment, StepScalingConfig } from './step-scaling-config.js';

/** The alarm datapoints aggregated as the policy says (Average when unset); NaN without datapoints. */
export function aggregateMetric(values: readonly number[], type: MetricAggregationType = 'Average'): number {
  if (values.length === 0) return NaN;
  if (type === 'Minimum') return Math.min(...values);
  if (type === 'Maximum') return Math.max(...values);
  return values.reduce((s, x) => s + x, 0) / values.length;
}

/**
 * Which side of the threshold a breach is read on. Above it, a step's lower bound is inclusive and
 * its upper bound exclusive; below it, the lower bound is exclusive and the upper inclusive
 * (StepAdjustment reference). At exactly the threshold the alarm's operator decides: a
 * `LessThan…` alarm breaches downwards, so `below`; any other, `above`.
 */
export type BreachSide = 'above' | 'below';

/** The side a breach of `breach` (metric − threshold) is read on, for an alarm whose operator breaches `downwards`. */
export function breachSide(breach: number, downwards: boolean): BreachSide {
  if (breach > 0) return 'above';
  if (breach < 0) return 'below';
  return downwards ? 'below' : 'above';
}

/** The step adjustment whose interval holds `breach`, or undefined (a gap at either end of the steps). */
export function findStep(steps: readonly StepAdjustment[], breach: number, side: BreachSide): StepAdjustment | undefined {
  return steps.find((s) => {
    const lower = s.MetricIntervalLowerBound ?? -Infinity;
    const upper = s.MetricIntervalUpperBound ?? Infinity;
    return side === 'above' ? lower <= breach && breach < upper : lower < breach && breach <= upper;
  });
}

/**
 * Rounds a fractional `PercentChangeInCapacity` change as Application Auto Scaling does: above 1
 * down, between 0 and 1 to 1, between −1 and 0 to −1, below −1 up (towards zero).
 */
export function roundPercentChange(raw: number): number {
  if (raw === 0) return 0;
  if (Number.isInteger(raw)) return raw;
  if (raw > 1) return Math.floor(raw);
  if (raw > 0) return 1;
  if (raw > -1) return -1;
  return Math.ceil(raw);
}

/**
 * The capacity one step asks for from `current`, before min/max: `ChangeInCapacity` adds the
 * adjustment, `ExactCapacity` is it, `PercentChangeInCapacity` adds that percent of `current`
 * (rounded by {@link roundPercentChange}, and at least `minAdjustmentMagnitude` in size).
 */
export function requestedCapacity(current: number, type: AdjustmentType, adjustment: number, minAdjustmentMagnitude?: number): number {
  if (type === 'ExactCapacity') return adjustment;
  if (type === 'ChangeInCapacity') return current + adjustment;
  let change = roundPercentChange((current * adjustment) / 100);
  if (minAdjustmentMagnitude !== undefined && adjustment !== 0 && Math.abs(change) < minAdjustmentMagnitude) {
    change = Math.sign(adjustment) * minAdjustmentMagnitude;
  }
  return current + change;
}

/** When a step policy last scaled its target (real time), for its cooldown. */
export interface StepCooldownState {
  /** Start of the scale-out cooldown, and the capacity before the scale-out that started it. */
  scaleOut?: { at: number; from: number };
  /** Last scale-in by the policy. */
  scaleInAt?: number;
}

/** One invocation of a step policy by its alarm, as the scaler sees it. */
export interface StepSituation {
  readonly current: number;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly config: StepScalingConfig;
  /** The step the alarm's breach selected. */
  readonly step: StepAdjustment;
  readonly cooldownMs: number;
  readonly state: StepCooldownState;
  readonly scaleOutSuspended: boolean;
  readonly scaleInSuspended: boolean;
  readonly now: number;
}

/** A step policy's capacity change. */
export interface StepDecision {
  readonly desired: number;
  readonly direction: 'out' | 'in';
  /** The capacity the change was computed from (below `current` during a scale-out cooldown). */
  readonly base: number;
}

/**
 * Decides one step-policy execution as the Application Auto Scaling user guide ("Cooldown
 * period") describes it: the requested capacity is clamped to [min, max]; during the scale-out
 * cooldown, the capacity the initiating scale-out added counts as part of the next one (the step
 * is applied to the capacity before it), so only a larger scale-out adds more; scale-in waits for
 * its cooldown. Returns undefined when the capacity stays as it is.
 */
export function decideStep(s: StepSituation): StepDecision | undefined {
  const clamp = (n: number): number => Math.min(s.maxCapacity, Math.max(s.minCapacity, n));
  const { config, step } = s;
  const plain = clamp(requestedCapacity(s.current, config.AdjustmentType, step.ScalingAdjustment, config.MinAdjustmentMagnitude));
  const wantsOut = config.AdjustmentType === 'ExactCapacity' ? step.ScalingAdjustment > s.current : step.ScalingAdjustment > 0;
  const wantsIn = config.AdjustmentType === 'ExactCapacity' ? step.ScalingAdjustment < s.current : step.ScalingAdjustment < 0;
  if (wantsOut) {
    if (s.scaleOutSuspended) return undefined;
    const out = s.state.scaleOut;
    if (out !== undefined && s.now - out.at < s.cooldownMs) {
      const desired = clamp(requestedCapacity(out.from, config.AdjustmentType, step.ScalingAdjustment, config.MinAdjustmentMagnitude));
      return desired > s.current ? { desired, direction: 'out', base: out.from } : undefined;
    }
    return plain > s.current ? { desired: plain, direction: 'out', base: s.current } : undefined;
  }
  if (wantsIn && plain < s.current) {
    if (s.scaleInSuspended) return undefined;
    if (s.state.scaleInAt !== undefined && s.now - s.state.scaleInAt < s.cooldownMs) return undefined;
    return { desired: plain, direction: 'in', base: s.current };
  }
  return undefined;
}
