import { validationException, Violations } from './errors.js';
import { isInt32 } from './resources.js';

/** `AdjustmentType` values: how a step's `ScalingAdjustment` is read. */
export const ADJUSTMENT_TYPES = ['ChangeInCapacity', 'PercentChangeInCapacity', 'ExactCapacity'] as const;
/** One of {@link ADJUSTMENT_TYPES}. */
export type AdjustmentType = (typeof ADJUSTMENT_TYPES)[number];

/** `MetricAggregationType` values; Average when absent (StepScalingPolicyConfiguration reference). */
export const METRIC_AGGREGATION_TYPES = ['Average', 'Minimum', 'Maximum'] as const;
/** One of {@link METRIC_AGGREGATION_TYPES}. */
export type MetricAggregationType = (typeof METRIC_AGGREGATION_TYPES)[number];

/** Step adjustments a policy holds at most (Application Auto Scaling quota). */
export const MAX_STEP_ADJUSTMENTS = 20;

/** One `StepAdjustment`: bounds relative to the alarm threshold (absent = infinite) and the adjustment. */
export interface StepAdjustment {
  MetricIntervalLowerBound?: number;
  MetricIntervalUpperBound?: number;
  ScalingAdjustment: number;
}

/** A validated `StepScalingPolicyConfiguration`. */
export interface StepScalingConfig {
  AdjustmentType: AdjustmentType;
  StepAdjustments: StepAdjustment[];
  MinAdjustmentMagnitude?: number;
  Cooldown?: number;
  MetricAggregationType?: MetricAggregationType;
}

const WHERE = 'stepScalingPolicyConfiguration';
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Reads and checks a `StepScalingPolicyConfiguration` as Application Auto Scaling does: the model's
 * types and enums first (one `ValidationException` listing every violation), then the rules of the
 * StepAdjustment reference: no step without both bounds, upper above lower, at most one step open
 * below and one open above, an open step on the side of any negative lower / positive upper bound,
 * no gap or overlap between steps, non-negative exact capacities, at most 20 steps.
 */
export function readStepScalingConfig(raw: unknown): StepScalingConfig {
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw validationException('StepScalingPolicyConfiguration is required for a StepScaling policy.');
  }
  const c = raw as Record<string, unknown>;
  const v = new Violations();
  if (c.AdjustmentType !== undefined && !(ADJUSTMENT_TYPES as readonly unknown[]).includes(c.AdjustmentType)) {
    v.add(c.AdjustmentType, `${WHERE}.adjustmentType`, `satisfy enum value set: [${ADJUSTMENT_TYPES.join(', ')}]`);
  }
  if (c.MetricAggregationType !== undefined && !(METRIC_AGGREGATION_TYPES as readonly unknown[]).includes(c.MetricAggregationType)) {
    v.add(c.MetricAggregationType, `${WHERE}.metricAggregationType`, `satisfy enum value set: [${METRIC_AGGREGATION_TYPES.join(', ')}]`);
  }
  if (c.MinAdjustmentMagnitude !== undefined && (!isInt32(c.MinAdjustmentMagnitude) || c.MinAdjustmentMagnitude < 0)) {
    v.add(c.MinAdjustmentMagnitude, `${WHERE}.minAdjustmentMagnitude`, 'be a whole number from 0 to 2147483647');
  }
  if (c.Cooldown !== undefined && (!isInt32(c.Cooldown) || c.Cooldown < 0)) v.add(c.Cooldown, `${WHERE}.cooldown`, 'be a whole number of seconds from 0 to 2147483647');
  const rawSteps = c.StepAdjustments;
  if (rawSteps !== undefined && !Array.isArray(rawSteps)) v.add(rawSteps, `${WHERE}.stepAdjustments`, 'be a list');
  const steps: StepAdjustment[] = [];
  (Array.isArray(rawSteps) ? rawSteps : []).forEach((s: unknown, i) => {
    const at = `${WHERE}.stepAdjustments.${i + 1}.member`;
    const step = (s ?? {}) as Record<string, unknown>;
    if (step.ScalingAdjustment === undefined) v.add(undefined, `${at}.scalingAdjustment`, 'not be null');
    else if (!isInt32(step.ScalingAdjustment)) v.add(step.ScalingAdjustment, `${at}.scalingAdjustment`, 'be an integer from -2147483648 to 2147483647');
    for (const k of ['MetricIntervalLowerBound', 'MetricIntervalUpperBound'] as const) {
      if (step[k] !== undefined && step[k] !== null && !isNum(step[k])) v.add(step[k], `${at}.${k.charAt(0).toLowerCase()}${k.slice(1)}`, 'be a number');
    }
    steps.push({
      ScalingAdjustment: step.ScalingAdjustment as number,
      ...(isNum(step.MetricIntervalLowerBound) ? { MetricIntervalLowerBound: step.MetricIntervalLowerBound } : {}),
      ...(isNum(step.MetricIntervalUpperBound) ? { MetricIntervalUpperBound: step.MetricIntervalUpperBound } : {}),
    });
  });
  v.throwIfAny();
  if (c.AdjustmentType === undefined) throw validationException('AdjustmentType is required for a step scaling policy configuration.');
  if (steps.length === 0) throw validationException('At least one step adjustment is required for a step scaling policy configuration.');
  if (steps.length > MAX_STEP_ADJUSTMENTS) throw validationException(`There can be at most ${MAX_STEP_ADJUSTMENTS} step adjustments per scaling policy`);
  checkStepRules(steps, c.AdjustmentType as AdjustmentType);
  return {
    AdjustmentType: c.AdjustmentType as AdjustmentType,
    StepAdjustments: steps,
    ...(c.MinAdjustmentMagnitude !== undefined ? { MinAdjustmentMagnitude: c.MinAdjustmentMagnitude as number } : {}),
    ...(c.Cooldown !== undefined ? { Cooldown: c.Cooldown as number } : {}),
    ...(c.MetricAggregationType !== undefined ? { MetricAggregationType: c.MetricAggregationType as MetricAggregationType } : {}),
  };
}

const lowerOf = (s: StepAdjustment): number => s.MetricIntervalLowerBound ?? -Infinity;
const upperOf = (s: StepAdjustment): number => s.MetricIntervalUpperBound ?? Infinity;

/** The StepAdjustment rules of the API reference; throws `ValidationException` on the first one broken. */
function checkStepRules(steps: readonly StepAdjustment[], type: AdjustmentType): void {
  for (const s of steps) {
    if (s.MetricIntervalLowerBound === undefined && s.MetricIntervalUpperBound === undefined) {
      throw validationException('Both lower and upper bounds of a step adjustment cannot be left unspecified');
    }
    if (lowerOf(s) >= upperOf(s)) {
      throw validationException(`The upper bound (${s.MetricIntervalUpperBound}) of a step adjustment must be greater than its lower bound (${s.MetricIntervalLowerBound}).`);
    }
    if (type === 'ExactCapacity' && s.ScalingAdjustment < 0) {
      throw validationException(`The scaling adjustment ${s.ScalingAdjustment} is not valid with ExactCapacity: specify a non-negative capacity.`);
    }
  }
  const openBelow = steps.filter((s) => s.MetricIntervalLowerBound === undefined).length;
  const openAbove = steps.filter((s) => s.MetricIntervalUpperBound === undefined).length;
  if (openBelow > 1) throw validationException('At most one step adjustment can have an unspecified lower bound.');
  if (openAbove > 1) throw validationException('At most one step adjustment can have an unspecified upper bound.');
  if (openBelow === 0 && steps.some((s) => lowerOf(s) < 0)) {
    throw validationException('There must be a step adjustment with an unspecified lower bound when one step adjustment has a negative lower bound');
  }
  if (openAbove === 0 && steps.some((s) => upperOf(s) > 0)) {
    throw validationException('There must be a step adjustment with an unspecified upper bound when one step adjustment has a positive upper bound');
  }
  const sorted = [...steps].sort((a, b) => lowerOf(a) - lowerOf(b));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const next = sorted[i]!;
    if (upperOf(prev) > lowerOf(next)) {
      throw validationException(`The step adjustments overlap: [${lowerOf(prev)}, ${upperOf(prev)}] and [${lowerOf(next)}, ${upperOf(next)}]. The ranges of step adjustments can't overlap or have a gap.`);
    }
    if (upperOf(prev) < lowerOf(next)) {
      throw validationException(`The step adjustments have a gap between ${upperOf(prev)} and ${lowerOf(next)}. The ranges of step adjustments can't overlap or have a gap.`);
    }
  }
}
