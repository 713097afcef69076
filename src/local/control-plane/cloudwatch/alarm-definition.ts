import type { Dimension } from './metric-store.js';
import { STATISTICS, parsePercentile, type Statistic } from './statistics.js';
import { invalidParameterCombination, invalidParameterValue, validationError, Violations } from './errors.js';

/** `ComparisonOperator` values evaluated locally (the anomaly-detection band operators need metric math). */
export const COMPARISON_OPERATORS = ['GreaterThanOrEqualToThreshold', 'GreaterThanThreshold', 'LessThanThreshold', 'LessThanOrEqualToThreshold'] as const;
/** One of {@link COMPARISON_OPERATORS}. */
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];
const BAND_OPERATORS = ['LessThanLowerOrGreaterThanUpperThreshold', 'LessThanLowerThreshold', 'GreaterThanUpperThreshold'];

/** `TreatMissingData` values (CloudWatch user guide, "Configuring how alarms treat missing data"). */
export const TREAT_MISSING_DATA = ['breaching', 'notBreaching', 'ignore', 'missing'] as const;
/** One of {@link TREAT_MISSING_DATA}. */
export type TreatMissingData = (typeof TREAT_MISSING_DATA)[number];

/** `StandardUnit` enum of the API. */
export const STANDARD_UNITS = [
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits', 'Kilobits', 'Megabits',
  'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second',
  'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
] as const;

/** A validated metric alarm definition: what PutMetricAlarm stores. */
export interface AlarmDefinition {
  readonly AlarmName: string;
  readonly AlarmDescription?: string;
  readonly ActionsEnabled: boolean;
  readonly OKActions: readonly string[];
  readonly AlarmActions: readonly string[];
  readonly InsufficientDataActions: readonly string[];
  readonly Namespace: string;
  readonly MetricName: string;
  readonly Dimensions: readonly Dimension[];
  readonly Statistic?: Statistic;
  readonly ExtendedStatistic?: string;
  readonly Period: number;
  readonly Unit?: string;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm?: number;
  readonly Threshold: number;
  readonly ComparisonOperator: ComparisonOperator;
  readonly TreatMissingData?: TreatMissingData;
  readonly EvaluateLowSampleCountPercentile?: string;
}

type Input = Record<string, unknown>;

function checkString(v: Violations, value: unknown, member: string, min: number, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    v.add(value, member, 'be a string');
    return undefined;
  }
  if (value.length < min) v.add(value, member, `have length greater than or equal to ${min}`);
  else if (value.length > max) v.add(value, member, `have length less than or equal to ${max}`);
  return value;
}

function checkNumber(v: Violations, value: unknown, member: string, opts: { integer?: boolean; min?: number } = {}): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || (opts.integer && !Number.isInteger(value))) {
    v.add(value, member, opts.integer ? 'be an integer' : 'be a number');
    return undefined;
  }
  if (opts.min !== undefined && value < opts.min) v.add(value, member, `have value greater than or equal to ${opts.min}`);
  return value;
}

function checkEnum<T extends string>(v: Violations, value: unknown, member: string, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    v.add(value, member, `satisfy enum value set: [${allowed.join(', ')}]`);
    return undefined;
  }
  return value as T;
}

function checkStringList(v: Violations, value: unknown, member: string, max: number): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    v.add(value, member, 'be a list');
    return [];
  }
  if (value.length > max) v.add(value, member, `have length less than or equal to ${max}`);
  return value.filter((x, i) => checkString(v, x, `${member}.${i + 1}.member`, 1, 1024) !== undefined) as string[];
}

/** Checks `Tags` against the model (each `Key` 1–128 and `Value` 0–256 characters, both required); they are not kept. */
function checkTags(v: Violations, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) {
    v.add(value, 'tags', 'be a list');
    return;
  }
  value.forEach((t: unknown, i) => {
    const tag = (t ?? {}) as Input;
    for (const [key, member, min, max] of [['Key', 'key', 1, 128], ['Value', 'value', 0, 256]] as const) {
      if (tag[key] === undefined || tag[key] === null) v.add(undefined, `tags.${i + 1}.member.${member}`, 'not be null');
      else checkString(v, tag[key], `tags.${i + 1}.member.${member}`, min, max);
    }
  });
}

/** Reads and checks `Dimensions` (at most 30, names and values 1–255 / 1–1024 characters). */
export function readDimensions(v: Violations, value: unknown, member = 'dimensions'): Dimension[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    v.add(value, member, 'be a list');
    return [];
  }
  if (value.length > 30) v.add(value, member, 'have length less than or equal to 30');
  const out: Dimension[] = [];
  value.forEach((d: unknown, i) => {
    const dim = (d ?? {}) as Input;
    const name = checkString(v, dim.Name, `${member}.${i + 1}.member.name`, 1, 255);
    const val = checkString(v, dim.Value, `${member}.${i + 1}.member.value`, 1, 1024);
    if (dim.Name == null) v.add(undefined, `${member}.${i + 1}.member.name`, 'not be null');
    if (dim.Value == null) v.add(undefined, `${member}.${i + 1}.member.value`, 'not be null');
    if (name !== undefined && val !== undefined) out.push({ Name: name, Value: val });
  });
  const names = new Set(out.map((d) => d.Name));
  if (names.size !== out.length) throw invalidParameterValue('The collection Dimensions must not contain duplicate dimension names.');
  return out;
}

/** True when `period` is a valid alarm period: 10, 20, 30 or a multiple of 60 seconds (PutMetricAlarm reference). */
export function isAlarmPeriod(period: number): boolean {
  return period === 10 || period === 20 || period === 30 || (period >= 60 && period % 60 === 0);
}

/**
 * Validates a PutMetricAlarm input as CloudWatch does and returns the alarm definition. Model
 * constraints (types, lengths, enums, required members) raise `ValidationError`; the service's own
 * rules raise the code the service answers them with: `ValidationError` (the Period, the evaluation
 * range, DatapointsToAlarm), `InvalidParameterValue` or `InvalidParameterCombination`.
 */
export function readAlarmDefinition(input: Input): AlarmDefinition {
  // PromQL alarms have no EvaluationPeriods or ComparisonOperator: say what is missing before the model checks would.
  if (present(input.EvaluationCriteria) || present(input.EvaluationInterval)) {
    throw invalidParameterValue('PromQL alarms (EvaluationCriteria, EvaluationInterval) are not evaluated by the local CloudWatch; alarm on one metric with Namespace, MetricName, Dimensions and Statistic or ExtendedStatistic.');
  }
  const v = new Violations();
  const name = checkString(v, input.AlarmName, 'alarmName', 1, 255);
  if (input.AlarmName == null) v.add(undefined, 'alarmName', 'not be null');
  const description = checkString(v, input.AlarmDescription, 'alarmDescription', 0, 1024);
  const namespace = checkString(v, input.Namespace, 'namespace', 1, 255);
  if (namespace !== undefined && namespace.startsWith(':')) v.add(namespace, 'namespace', 'satisfy regular expression pattern: [^:].*');
  const metricName = checkString(v, input.MetricName, 'metricName', 1, 255);
  const dimensions = readDimensions(v, input.Dimensions);
  const statistic = checkEnum(v, input.Statistic, 'statistic', STATISTICS);
  const extended = checkString(v, input.ExtendedStatistic, 'extendedStatistic', 1, 255);
  const period = checkNumber(v, input.Period, 'period', { integer: true, min: 1 });
  const unit = checkEnum(v, input.Unit, 'unit', STANDARD_UNITS);
  const evaluationPeriods = checkNumber(v, input.EvaluationPeriods, 'evaluationPeriods', { integer: true, min: 1 });
  if (input.EvaluationPeriods == null) v.add(undefined, 'evaluationPeriods', 'not be null');
  const datapointsToAlarm = checkNumber(v, input.DatapointsToAlarm, 'datapointsToAlarm', { integer: true, min: 1 });
  const threshold = checkNumber(v, input.Threshold, 'threshold');
  const treat = checkString(v, input.TreatMissingData, 'treatMissingData', 1, 255);
  const lowSample = checkString(v, input.EvaluateLowSampleCountPercentile, 'evaluateLowSampleCountPercentile', 1, 255);
  const okActions = checkStringList(v, input.OKActions, 'oKActions', 5);
  const alarmActions = checkStringList(v, input.AlarmActions, 'alarmActions', 5);
  const insufficientActions = checkStringList(v, input.InsufficientDataActions, 'insufficientDataActions', 5);
  checkTags(v, input.Tags);
  if (input.ActionsEnabled !== undefined && typeof input.ActionsEnabled !== 'boolean') v.add(input.ActionsEnabled, 'actionsEnabled', 'be a boolean');
  const rawOperator = input.ComparisonOperator;
  if (rawOperator == null) v.add(undefined, 'comparisonOperator', 'not be null');
  else if (typeof rawOperator !== 'string' || ![...COMPARISON_OPERATORS, ...BAND_OPERATORS].includes(rawOperator)) {
    v.add(rawOperator, 'comparisonOperator', `satisfy enum value set: [${[...COMPARISON_OPERATORS, ...BAND_OPERATORS].join(', ')}]`);
  }
  v.throwIfAny();

  if (input.Metrics !== undefined || input.ThresholdMetricId !== undefined || BAND_OPERATORS.includes(rawOperator as string)) {
    throw invalidParameterValue('Metric math alarms (Metrics, ThresholdMetricId, anomaly-detection band operators) are not evaluated by the local CloudWatch; alarm on one metric with Namespace, MetricName, Dimensions and Statistic or ExtendedStatistic.');
  }
  const window = input.EvaluationWindow;
  if (present(window) && (typeof window !== 'object' || Object.keys(window as object).some((k) => k !== 'SlidingWindow'))) {
    throw invalidParameterValue('Only the sliding EvaluationWindow (the default) is evaluated by the local CloudWatch: a WallClockWindow is not; omit EvaluationWindow.');
  }
  if (namespace === undefined) throw missingMember('Namespace');
  if (metricName === undefined) throw missingMember('MetricName');
  if (period === undefined) throw missingMember('Period');
  if (threshold === undefined) throw missingMember('Threshold');
  if ((statistic === undefined) === (extended === undefined)) {
    throw invalidParameterCombination('Exactly one element of the Statistic and ExtendedStatistic parameters must be specified.');
  }
  if (extended !== undefined && parsePercentile(extended) === undefined) {
    throw invalidParameterValue(`The value ${extended} for parameter ExtendedStatistic is not supported locally: use a percentile such as p90, p99 or p99.9.`);
  }
  if (!isAlarmPeriod(period)) throw validationError('Period must be 10, 20, 30 or a multiple of 60');
  // At most a day of data for periods under an hour, a week from an hour on (PutMetricAlarm reference, Period).
  if (period < 3600 && period * evaluationPeriods! > 86_400) {
    throw validationError('Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400) for alarms using period < 3600');
  }
  if (period * evaluationPeriods! > 604_800) {
    throw validationError('Metrics cannot be checked across more than a week (EvaluationPeriods * Period must be <= 604800) for alarms using period >= 3600');
  }
  if (datapointsToAlarm !== undefined && datapointsToAlarm > evaluationPeriods!) {
    throw validationError('DatapointsToAlarm must be less than or equal to EvaluationPeriods');
  }
  if (treat !== undefined && !(TREAT_MISSING_DATA as readonly string[]).includes(treat)) {
    throw invalidParameterValue(`The value ${treat} for parameter TreatMissingData is not valid: use one of ${TREAT_MISSING_DATA.join(', ')}.`);
  }
  if (lowSample !== undefined && !['evaluate', 'ignore'].includes(lowSample)) {
    throw invalidParameterValue(`The value ${lowSample} for parameter EvaluateLowSampleCountPercentile is not valid: use evaluate or ignore.`);
  }
  if (lowSample !== undefined && extended === undefined) {
    throw invalidParameterCombination('EvaluateLowSampleCountPercentile can only be used with a percentile ExtendedStatistic.');
  }

  const def: AlarmDefinition = {
    AlarmName: name!,
    ActionsEnabled: (input.ActionsEnabled as boolean | undefined) ?? true,
    OKActions: okActions,
    AlarmActions: alarmActions,
    InsufficientDataActions: insufficientActions,
    Namespace: namespace,
    MetricName: metricName,
    Dimensions: dimensions,
    Period: period,
    EvaluationPeriods: evaluationPeriods!,
    Threshold: threshold,
    ComparisonOperator: rawOperator as ComparisonOperator,
    ...(description !== undefined ? { AlarmDescription: description } : {}),
    ...(statistic !== undefined ? { Statistic: statistic } : {}),
    ...(extended !== undefined ? { ExtendedStatistic: extended } : {}),
    ...(unit !== undefined ? { Unit: unit } : {}),
    ...(datapointsToAlarm !== undefined ? { DatapointsToAlarm: datapointsToAlarm } : {}),
    ...(treat !== undefined ? { TreatMissingData: treat as TreatMissingData } : {}),
    ...(lowSample !== undefined ? { EvaluateLowSampleCountPercentile: lowSample } : {}),
  };
  return def;
}

const present = (value: unknown): boolean => value !== undefined && value !== null;

/**
 * A single-metric alarm's member left out: the model does not require it (metric-math alarms go
 * without), so the service answers its own `ValidationError` "MetricName must not be null", not
 * the model's "Value null at 'metricName'" form nor `MissingParameter`.
 */
function missingMember(member: string) {
  return validationError(`${member} must not be null`);
}
