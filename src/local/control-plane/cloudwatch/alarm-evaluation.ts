import type { AlarmDefinition, ComparisonOperator } from './alarm-definition.js';
import { parsePercentile } from './statistics.js';

/** `StateValue` of an alarm. */
export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** One period of the evaluation range: its start and its statistic, or no value when no data arrived. */
export interface EvaluatedPeriod {
  /** Period start, epoch ms. */
  readonly start: number;
  readonly value?: number;
  readonly sampleCount?: number;
}

/** The outcome of one evaluation: the state the alarm should be in, and why. */
export interface AlarmVerdict {
  readonly state: AlarmState;
  readonly reason: string;
  readonly reasonData: string;
}

const PHRASE: Record<ComparisonOperator, string> = {
  GreaterThanOrEqualToThreshold: 'greater than or equal to',
  GreaterThanThreshold: 'greater than',
  LessThanThreshold: 'less than',
  LessThanOrEqualToThreshold: 'less than or equal to',
};

/** True when `value` breaches `threshold` under `operator`. */
export function breaches(operator: ComparisonOperator, value: number, threshold: number): boolean {
  switch (operator) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
  }
}

/** A double the way CloudWatch prints it in reasons (`1.0`, `0.25`). */
export function formatValue(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `dd/MM/yy HH:mm:ss` in UTC, the datapoint time format of CloudWatch state reasons. */
export function formatReasonTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCFullYear() % 100)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** ISO time with `+0000`, as in `StateReasonData`. */
export function reasonDataTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/**
 * API seconds between two evaluations of an alarm of `periodSeconds`: a minute, or 10 seconds for
 * periods under a minute. Each evaluation reads the periods that end at that moment, a window that
 * slides by this much, whatever the period ("Alarm evaluation" in the CloudWatch user guide).
 */
export function evaluationIntervalSeconds(periodSeconds: number): number {
  return periodSeconds < 60 ? 10 : 60;
}

/**
 * How many periods an evaluation looks at for an alarm of `evaluationPeriods`: more than that, as
 * CloudWatch retrieves a longer "evaluation range" so that a few missing periods do not decide the
 * state ("How alarm state is evaluated when data is missing" in the CloudWatch user guide).
 */
export function evaluationRangeLength(evaluationPeriods: number): number {
  return evaluationPeriods + Math.max(5, evaluationPeriods);
}

/**
 * Picks the `evaluationPeriods` periods an alarm is evaluated on from its evaluation range (oldest
 * first), as CloudWatch does: with at least that many periods holding data, the most recent of
 * them (missing periods in between are skipped and `TreatMissingData` plays no part); with fewer,
 * every period with data plus as few missing periods as needed (the most recent ones), which
 * `TreatMissingData` then decides.
 */
export function selectEvaluatedPeriods(range: readonly EvaluatedPeriod[], evaluationPeriods: number): EvaluatedPeriod[] {
  const real = range.filter((p) => p.value !== undefined);
  if (real.length >= evaluationPeriods) return real.slice(real.length - evaluationPeriods);
  const missing = range.filter((p) => p.value === undefined).slice(-(evaluationPeriods - real.length));
  return [...real, ...missing].sort((a, b) => a.start - b.start);
}

/**
 * The fewest samples a period needs for a percentile `p` (0–100) to count as statistically
 * significant: 10/(1 − p) from p50 up to p100 (exclusive), 10/p below p50 (CloudWatch user guide,
 * "Percentile-based alarms and low data samples"); p0 and p100 need none.
 */
export function lowSampleMinimum(p: number): number {
  const q = p / 100;
  if (q <= 0 || q >= 1) return 0;
  return q >= 0.5 ? 10 / (1 - q) : 10 / q;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Evaluates an alarm over its evaluation range (the last `EvaluationPeriods` periods, oldest
 * first) as CloudWatch does: a period breaches when its statistic crosses the threshold; the alarm
 * is `ALARM` when at least `DatapointsToAlarm` (default `EvaluationPeriods`) periods breach.
 * Missing periods follow `TreatMissingData`: `breaching` / `notBreaching` count them as such;
 * `missing` (the default) goes to `INSUFFICIENT_DATA` only when every period is missing; `ignore`
 * then keeps the current state (the function returns undefined). A percentile alarm with
 * `EvaluateLowSampleCountPercentile: ignore` also keeps its state while a period with data has
 * fewer samples than {@link lowSampleMinimum}.
 */
export function evaluateAlarm(def: AlarmDefinition, range: readonly EvaluatedPeriod[], now: number): AlarmVerdict | undefined {
  const needed = def.DatapointsToAlarm ?? def.EvaluationPeriods;
  const treat = def.TreatMissingData ?? 'missing';
  const present = range.filter((p) => p.value !== undefined);
  const missing = range.length - present.length;
  const breachingPresent = present.filter((p) => breaches(def.ComparisonOperator, p.value!, def.Threshold));
  const breachingCount = breachingPresent.length + (treat === 'breaching' ? missing : 0);
  const phrase = PHRASE[def.ComparisonOperator];
  const threshold = formatValue(def.Threshold);
  const statistic = def.Statistic ?? def.ExtendedStatistic!;
  const reasonData = JSON.stringify({
    version: '1.0',
    queryDate: reasonDataTime(now),
    ...(range.length > 0 ? { startDate: reasonDataTime(range[0]!.start) } : {}),
    statistic,
    period: def.Period,
    recentDatapoints: present.map((p) => p.value),
    threshold: def.Threshold,
    evaluatedDatapoints: [...present].reverse().map((p) => ({ timestamp: reasonDataTime(p.start), sampleCount: p.sampleCount, value: p.value })),
  });

  if (present.length === 0 && treat === 'missing') {
    return { state: 'INSUFFICIENT_DATA', reason: `Insufficient Data: ${plural(range.length, 'datapoint')} ${range.length === 1 ? 'was' : 'were'} unknown.`, reasonData };
  }
  if (present.length === 0 && treat === 'ignore') return undefined;
  // EvaluateLowSampleCountPercentile ignore: "the alarm state does not change during periods with too few data points".
  if (def.EvaluateLowSampleCountPercentile === 'ignore' && def.ExtendedStatistic !== undefined) {
    const minimum = lowSampleMinimum(parsePercentile(def.ExtendedStatistic) ?? 0);
    if (present.some((p) => (p.sampleCount ?? 0) < minimum)) return undefined;
  }

  const shown = (points: readonly EvaluatedPeriod[]): string =>
    `[${[...points].reverse().map((p) => `${formatValue(p.value!)} (${formatReasonTime(p.start)})`).join(', ')}]`;
  const missingNote =
    missing > 0 && (treat === 'breaching' || treat === 'notBreaching')
      ? ` and ${plural(missing, 'missing datapoint')} ${missing === 1 ? 'was' : 'were'} treated as [${treat === 'breaching' ? 'Breaching' : 'NonBreaching'}]`
      : '';

  if (breachingCount >= needed) {
    const lead = range.length === 1 ? `1 datapoint ${shown(present)} was` : `${breachingCount} out of the last ${range.length} datapoints ${shown(breachingPresent)} were`;
    const minimum = range.length === 1 ? '' : ` (minimum ${plural(needed, 'datapoint')} for OK -> ALARM transition)`;
    const body = present.length === 0 ? `no datapoints were received for ${plural(range.length, 'period')}${missingNote}` : `${lead} ${phrase} the threshold (${threshold})${missingNote}${minimum}`;
    return { state: 'ALARM', reason: `Threshold Crossed: ${body}.`, reasonData };
  }
  const okPoints = present.filter((p) => !breaches(def.ComparisonOperator, p.value!, def.Threshold));
  const body =
    present.length === 0
      ? `no datapoints were received for ${plural(range.length, 'period')}${missingNote}`
      : range.length === 1
        ? `1 datapoint ${shown(present)} was not ${phrase} the threshold (${threshold})`
        : `${range.length - breachingCount} out of the last ${range.length} datapoints ${shown(okPoints)} were not ${phrase} the threshold (${threshold})${missingNote} (minimum ${plural(range.length - needed + 1, 'datapoint')} for ALARM -> OK transition)`;
  return { state: 'OK', reason: `Threshold Crossed: ${body}.`, reasonData };
}
