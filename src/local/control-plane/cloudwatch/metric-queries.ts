import { timestampMillis } from '../../../aws/shapes/timestamp.js';
import { STANDARD_UNITS, readDimensions } from './alarm-definition.js';
import { invalidParameterCombination, invalidParameterValue, Violations } from './errors.js';
import { epochSeconds, type MetricClock } from './metric-clock.js';
import type { MetricStore } from './metric-store.js';
import { decodeToken, encodeToken, tokenNotGivenBy } from './page-token.js';
import { STATISTICS, parsePercentile, percentileValue, statisticValue, type Statistic } from './statistics.js';

/** Most datapoints one GetMetricStatistics call may return (API reference). */
export const MAX_DATAPOINTS = 1440;
const LIST_PAGE = 500;

/**
 * True for the periods the read APIs take locally: CloudWatch takes 1, 5, 10, 20, 30 or a
 * multiple of 60 (GetMetricStatistics and MetricStat references); 1 and 5 split the store's
 * 10-second buckets.
 */
export function isReadPeriod(period: number): boolean {
  return period === 10 || period === 20 || period === 30 || (period >= 60 && period % 60 === 0);
}

/**
 * Reads a timestamp member: a Date (CBOR), epoch seconds (a JSON number) or, as text (the query
 * protocol's), an ISO 8601 date or date and time, UTC unless it names an offset, as the SageMaker
 * List* filters read theirs ({@link timestampMillis}). `Date.parse` took "March 7, 2020" and
 * "2020-03-07 10:00" in the local time zone, and epoch seconds as text are no timestamp the query
 * protocol sends; each is now the caller's error for a bad value.
 */
export function readTimestamp(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  return timestampMillis(value);
}

/**
 * Records a list member's length past the model's `min`/`max` as the services word it ("Member must
 * have length less than or equal to 5"), as they word a string's.
 */
function listLength(v: Violations, list: readonly unknown[], member: string, min: number, max: number): void {
  if (list.length < min) v.add(list, member, `have length greater than or equal to ${min}`);
  else if (list.length > max) v.add(list, member, `have length less than or equal to ${max}`);
}

/** GetMetricStatistics over the local metric store. */
export function getMetricStatistics(store: MetricStore, input: Record<string, unknown>, now: number): Record<string, unknown> {
  const v = new Violations();
  for (const [member, key] of [['namespace', 'Namespace'], ['metricName', 'MetricName']] as const) {
    const value = input[key];
    if (value == null) v.add(undefined, member, 'not be null');
    else v.length(value, member, 1, 255);
  }
  const start = readTimestamp(input.StartTime);
  const end = readTimestamp(input.EndTime);
  if (start === undefined) v.add(input.StartTime, 'startTime', input.StartTime === undefined ? 'not be null' : 'be a timestamp');
  if (end === undefined) v.add(input.EndTime, 'endTime', input.EndTime === undefined ? 'not be null' : 'be a timestamp');
  const period = input.Period;
  if (typeof period !== 'number' || !Number.isInteger(period)) v.add(period, 'period', period === undefined ? 'not be null' : 'be an integer of at least 1');
  else if (period < 1) v.add(period, 'period', 'have value greater than or equal to 1');
  const dimensions = readDimensions(v, input.Dimensions);
  const stats = input.Statistics;
  if (stats !== undefined && !Array.isArray(stats)) v.add(stats, 'statistics', `be a list of 1 to 5 values from [${STATISTICS.join(', ')}]`);
  else if (stats !== undefined) listLength(v, stats, 'statistics', 1, 5);
  const extended = input.ExtendedStatistics;
  if (extended !== undefined && (!Array.isArray(extended) || extended.some((s) => typeof s !== 'string'))) v.add(extended, 'extendedStatistics', 'be a list of 1 to 10 strings');
  else if (extended !== undefined) listLength(v, extended, 'extendedStatistics', 1, 10);
  const unit = input.Unit;
  if (unit !== undefined && !(STANDARD_UNITS as readonly unknown[]).includes(unit)) v.add(unit, 'unit', `satisfy enum value set: [${STANDARD_UNITS.join(', ')}]`);
  v.throwIfAny();
  // A value outside the enum is the service's InvalidParameterValue, not a model ValidationError,
  // worded (spaces inside the brackets, this order) as CloudWatch's answers quoted by SDK users.
  const unknown = ((stats as unknown[] | undefined) ?? []).findIndex((s) => !STATISTICS.includes(s as Statistic));
  if (unknown >= 0) throw invalidParameterValue(`The parameter Statistics.member.${unknown + 1} must be a value in the set [ Minimum, Maximum, Average, SampleCount, Sum ].`);
  if (stats === undefined && extended === undefined) throw invalidParameterCombination('Must specify either Statistics or ExtendedStatistics.');
  const percentiles = ((extended as string[] | undefined) ?? []).map((e) => {
    const p = parsePercentile(e);
    if (p === undefined) throw invalidParameterValue(`The value ${e} for parameter ExtendedStatistics is not supported locally: use percentiles such as p90 or p99.9.`);
    return [e, p] as const;
  });
  const p = period as number;
  if (!isReadPeriod(p)) throw invalidParameterValue(`The parameter Period must be 10, 20, 30 or a multiple of 60 locally (the metric store keeps 10-second buckets); got ${p}.`);
  if (start! >= end!) throw invalidParameterValue('The parameter StartTime must be less than the parameter EndTime.');
  const from = store.periodIndex(start!, p);
  const to = Math.max(from + 1, store.periodIndex(Math.min(end!, now + store.bucketMs) - 1, p) + 1);
  if (to - from > MAX_DATAPOINTS) {
    throw invalidParameterCombination(`You have requested up to ${to - from} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.`);
  }
  const periods = store.periods({ namespace: input.Namespace as string, metricName: input.MetricName as string, dimensions }, from, to, p, unit as string | undefined);
  const datapoints = periods.map((period) => {
    const point: Record<string, unknown> = { Timestamp: epochSeconds(period.start) };
    for (const s of (stats as Statistic[] | undefined) ?? []) point[s] = statisticValue(period.aggregate, s);
    point.Unit = period.unit;
    if (percentiles.length > 0) point.ExtendedStatistics = Object.fromEntries(percentiles.map(([name, q]) => [name, percentileValue(period.aggregate, q)]));
    return point;
  });
  return { Label: input.MetricName, Datapoints: datapoints };
}

/** ListMetrics over the local metric store (500 per page, sorted). */
export function listMetrics(store: MetricStore, input: Record<string, unknown>, clock: MetricClock): Record<string, unknown> {
  const v = new Violations();
  for (const [member, key] of [['namespace', 'Namespace'], ['metricName', 'MetricName']] as const) {
    const value = input[key];
    if (value !== undefined) v.length(value, member, 1, 255);
  }
  const filters = input.Dimensions;
  if (filters !== undefined && !Array.isArray(filters)) v.add(filters, 'dimensions', 'be a list of at most 10 filters');
  else if (filters !== undefined) listLength(v, filters, 'dimensions', 0, 10);
  if (input.RecentlyActive !== undefined && input.RecentlyActive !== 'PT3H') v.add(input.RecentlyActive, 'recentlyActive', 'satisfy enum value set: [PT3H]');
  // Not a list: refused above, and no filter is read from it; a list's items are all checked, so one answer names every fault.
  const dims = (Array.isArray(filters) ? (filters as Array<Record<string, unknown>>) : []).map((f, i) => {
    // Name is required in a DimensionFilter (the model), Value is not.
    if (f?.Name === undefined || f.Name === null) v.add(undefined, `dimensions.${i + 1}.member.name`, 'not be null');
    else v.length(f.Name, `dimensions.${i + 1}.member.name`, 1, 255);
    if (f?.Value !== undefined) v.length(f.Value, `dimensions.${i + 1}.member.value`, 1, 1024);
    return { Name: f?.Name as string, ...(f?.Value !== undefined ? { Value: f.Value as string } : {}) };
  });
  v.throwIfAny();
  const since = input.RecentlyActive === 'PT3H' ? clock.now() - clock.durationMs(3 * 3600) : -Infinity;
  const all = store
    .list({ namespace: input.Namespace as string | undefined, metricName: input.MetricName as string | undefined, dimensions: dims })
    .filter((m) => m.lastWrite >= since)
    .map((m) => ({ Namespace: m.namespace, MetricName: m.metricName, Dimensions: m.dimensions.map((d) => ({ Name: d.Name, Value: d.Value })) }))
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  let offset = 0;
  if (input.NextToken !== undefined) {
    const position = decodeToken('ListMetrics', input.NextToken);
    offset = /^\d{1,15}$/.test(position) ? Number(position) : -1;
    if (offset < 0 || offset > all.length) throw tokenNotGivenBy('ListMetrics');
  }
  const page = all.slice(offset, offset + LIST_PAGE);
  const out: Record<string, unknown> = { Metrics: page };
  if (offset + LIST_PAGE < all.length) out.NextToken = encodeToken('ListMetrics', String(offset + LIST_PAGE));
  return out;
}
