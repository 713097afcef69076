import { firstChars } from '../../../errors/text-cut.js';
import { readDimensions, STANDARD_UNITS } from './alarm-definition.js';
import { CloudWatchError, invalidParameterValue, Violations } from './errors.js';
import { epochSeconds } from './metric-clock.js';
import { isReadPeriod, readTimestamp } from './metric-queries.js';
import type { MetricId, MetricStore } from './metric-store.js';
import { decodeToken, encodeToken, tokenNotGivenBy } from './page-token.js';
import { parsePercentile, percentileValue, STATISTICS, statisticValue, type Statistic } from './statistics.js';

/** `MetricDataQuery` entries one GetMetricData call may carry (API reference). */
export const MAX_METRIC_DATA_QUERIES = 500;
/** Datapoints one GetMetricData page returns when `MaxDatapoints` is not given (API reference). */
export const DEFAULT_MAX_DATAPOINTS = 100_800;
const ID_PATTERN = /^[a-z][a-zA-Z0-9_]*$/;
const SCAN_BY = ['TimestampDescending', 'TimestampAscending'] as const;

type Input = Record<string, unknown>;

/** A validated `MetricStat` query. */
interface StatQuery {
  readonly id: string;
  readonly label: string;
  readonly returnData: boolean;
  readonly metric: MetricId;
  readonly period: number;
  readonly stat: { plain: Statistic } | { percentile: number };
  readonly unit?: string;
}

/** A `ValidationError`, what CloudWatch answers for a malformed GetMetricData query. */
function validationError(message: string): CloudWatchError {
  return new CloudWatchError('ValidationException', 'ValidationError', message);
}

const isObject = (v: unknown): v is Input => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The forms of CloudWatch's extended statistics (percentile `p99`, trimmed mean `tm99` or
 * `TM(10%:90%)`, winsorized mean, trimmed count and sum, percentile rank `PR(:300)`, `IQM`): a
 * `Stat` of one of them is valid on AWS, if not computed locally.
 */
const EXTENDED_STATISTIC = /^(?:(?:p|tm|wm|tc|ts)\d{1,3}(?:\.\d+)?|(?:tm|wm|tc|ts|pr)\(.*\)|iqm)$/is;

/**
 * The statistic a `Stat` names: one of the five, or a `pNN` percentile. Another extended statistic
 * is refused as not computed locally; anything else is CloudWatch's `ValidationError`.
 */
function readStat(stat: string, path: string): StatQuery['stat'] {
  if ((STATISTICS as readonly string[]).includes(stat)) return { plain: stat as Statistic };
  const p = parsePercentile(stat);
  if (p !== undefined) return { percentile: p };
  if (!EXTENDED_STATISTIC.test(stat)) throw validationError(`The value ${stat === '' ? '' : `${firstChars(stat, 64)} `}for parameter ${path}.MetricStat.Stat is not a valid statistic.`);
  throw invalidParameterValue(
    `The value ${firstChars(stat, 64)} for parameter ${path}.Stat is not supported by the local CloudWatch: use ${STATISTICS.join(', ')} or a percentile such as p90 or p99.9 (trimmed means, winsorized means and the other extended statistics are not computed locally).`,
  );
}

function readQuery(raw: unknown, i: number): StatQuery {
  const path = `MetricDataQueries.member.${i + 1}`;
  const member = `metricDataQueries.${i + 1}.member`;
  const q = isObject(raw) ? raw : {};
  const v = new Violations();
  const id = q.Id;
  if (id === undefined || id === null) v.add(undefined, `${member}.id`, 'not be null');
  else v.length(id, `${member}.id`, 1, 255);
  if (q.Expression !== undefined) v.length(q.Expression, `${member}.expression`, 1, 2048);
  if (q.Label !== undefined && typeof q.Label !== 'string') v.add(q.Label, `${member}.label`, 'be a string');
  if (q.ReturnData !== undefined && typeof q.ReturnData !== 'boolean' && q.ReturnData !== 'true' && q.ReturnData !== 'false') v.add(q.ReturnData, `${member}.returnData`, 'be a boolean');
  v.throwIfAny();
  if (!ID_PATTERN.test(id as string)) throw validationError(`The value for parameter ${path}.Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$.`);
  const hasStat = q.MetricStat !== undefined && q.MetricStat !== null;
  const hasExpression = q.Expression !== undefined && q.Expression !== null;
  if (hasStat && hasExpression) throw validationError(`The parameters ${path}.Expression and ${path}.MetricStat are mutually exclusive and you have specified both.`);
  if (hasExpression) {
    throw validationError(`${path}.Expression: metric math expressions and Metrics Insights queries are not supported by the local CloudWatch; query each metric with MetricStat and combine the results in your code.`);
  }
  if (!hasStat) throw validationError(`The parameter ${path} must specify either Expression or MetricStat.`);
  if (q.Period !== undefined && q.Period !== null) throw validationError(`The parameters ${path}.Period and ${path}.MetricStat are mutually exclusive and you have specified both.`);
  if (q.AccountId !== undefined && q.AccountId !== null) throw invalidParameterValue(`${path}.AccountId: cross-account queries are not supported by the local CloudWatch.`);

  const stat = isObject(q.MetricStat) ? q.MetricStat : {};
  const metric = isObject(stat.Metric) ? stat.Metric : undefined;
  const sv = new Violations();
  if (!metric) sv.add(stat.Metric, `${member}.metricStat.metric`, 'not be null');
  const namespace = metric?.Namespace;
  const metricName = metric?.MetricName;
  if (metric && namespace === undefined) sv.add(namespace, `${member}.metricStat.metric.namespace`, 'not be null');
  else if (metric) sv.length(namespace, `${member}.metricStat.metric.namespace`, 1, 255);
  if (metric && metricName === undefined) sv.add(metricName, `${member}.metricStat.metric.metricName`, 'not be null');
  else if (metric) sv.length(metricName, `${member}.metricStat.metric.metricName`, 1, 255);
  const dimensions = readDimensions(sv, metric?.Dimensions, `${member}.metricStat.metric.dimensions`);
  const period = typeof stat.Period === 'string' && /^\d{1,15}$/.test(stat.Period) ? Number(stat.Period) : stat.Period;
  if (typeof period !== 'number' || !Number.isInteger(period)) sv.add(stat.Period, `${member}.metricStat.period`, stat.Period === undefined ? 'not be null' : 'be an integer of at least 1');
  // The model's Period has a minimum of 1, worded as the services word a broken bound.
  else if (period < 1) sv.add(stat.Period, `${member}.metricStat.period`, 'have value greater than or equal to 1');
  // The model's Stat has no minimum length: an empty one is refused below as no statistic, as AWS does.
  if (typeof stat.Stat !== 'string') sv.add(stat.Stat, `${member}.metricStat.stat`, 'not be null');
  if (stat.Unit !== undefined && !(STANDARD_UNITS as readonly unknown[]).includes(stat.Unit)) sv.add(stat.Unit, `${member}.metricStat.unit`, `satisfy enum value set: [${STANDARD_UNITS.join(', ')}]`);
  sv.throwIfAny();
  const p = period as number;
  if (!isReadPeriod(p)) {
    throw invalidParameterValue(`The parameter ${path}.MetricStat.Period must be 10, 20, 30 or a multiple of 60 locally (the metric store keeps 10-second buckets); got ${p}.`);
  }
  return {
    id: id as string,
    label: typeof q.Label === 'string' ? q.Label : (metricName as string),
    returnData: q.ReturnData === undefined || q.ReturnData === true || q.ReturnData === 'true',
    metric: { namespace: namespace as string, metricName: metricName as string, dimensions },
    period: p,
    stat: readStat(stat.Stat as string, path),
    ...(stat.Unit !== undefined ? { unit: stat.Unit as string } : {}),
  };
}

/** Where a page starts: the query (by position among those returned) and the datapoint in it. */
interface Position {
  readonly query: number;
  readonly point: number;
}

function readPosition(token: unknown): Position {
  const [query, point] = decodeToken('GetMetricData', token).split(':').map(Number);
  if (!Number.isInteger(query) || !Number.isInteger(point) || query! < 0 || point! < 0) throw tokenNotGivenBy('GetMetricData');
  return { query: query!, point: point! };
}

/**
 * GetMetricData over the local metric store: `MetricStat` queries (the five statistics and `pNN`
 * percentiles), `StartTime` inclusive and `EndTime` exclusive, periods aligned to multiples of the
 * period, `ScanBy` order, and `MaxDatapoints` pages continued by `NextToken`. Metric math and
 * Metrics Insights `Expression`s are refused with a `ValidationError`.
 */
export function getMetricData(store: MetricStore, input: Input, now: number): Record<string, unknown> {
  const v = new Violations();
  const queries = input.MetricDataQueries;
  if (queries === undefined || queries === null) v.add(undefined, 'metricDataQueries', 'not be null');
  else if (!Array.isArray(queries)) v.add(queries, 'metricDataQueries', 'be a list');
  const start = readTimestamp(input.StartTime);
  const end = readTimestamp(input.EndTime);
  if (start === undefined) v.add(input.StartTime, 'startTime', input.StartTime === undefined ? 'not be null' : 'be a timestamp');
  if (end === undefined) v.add(input.EndTime, 'endTime', input.EndTime === undefined ? 'not be null' : 'be a timestamp');
  const scanBy = input.ScanBy ?? 'TimestampDescending';
  if (!(SCAN_BY as readonly unknown[]).includes(scanBy)) v.add(scanBy, 'scanBy', `satisfy enum value set: [${SCAN_BY.join(', ')}]`);
  const rawMax = input.MaxDatapoints ?? DEFAULT_MAX_DATAPOINTS;
  const maxDatapoints = typeof rawMax === 'string' && /^\d{1,15}$/.test(rawMax) ? Number(rawMax) : rawMax;
  if (typeof maxDatapoints !== 'number' || !Number.isInteger(maxDatapoints) || maxDatapoints < 1) v.add(rawMax, 'maxDatapoints', 'be an integer of at least 1');
  v.throwIfAny();
  const list = queries as unknown[];
  if (list.length === 0) throw validationError('The parameter MetricDataQueries must contain at least one query.');
  if (list.length > MAX_METRIC_DATA_QUERIES) throw validationError(`The collection MetricDataQueries must not have a size greater than ${MAX_METRIC_DATA_QUERIES}.`);
  const parsed = list.map((q, i) => readQuery(q, i));
  if (new Set(parsed.map((q) => q.id)).size !== parsed.length) throw validationError('The values for parameter id in MetricDataQueries are not unique.');
  if (start! >= end!) throw invalidParameterValue('The parameter StartTime must be less than the parameter EndTime.');
  const position = input.NextToken === undefined || input.NextToken === null ? { query: 0, point: 0 } : readPosition(input.NextToken);

  const ascending = scanBy === 'TimestampAscending';
  const returned = parsed.filter((q) => q.returnData);
  if (position.query > returned.length) throw tokenNotGivenBy('GetMetricData');
  let budget = maxDatapoints as number;
  let next: Position | undefined;
  const results = returned.map((q, index) => {
    const points = series(store, q, start!, Math.min(end!, now + store.bucketMs), ascending);
    // Queries before the token's were delivered on earlier pages; the token's query resumes where it stopped.
    const from = index < position.query ? points.length : index === position.query ? Math.min(position.point, points.length) : 0;
    const take = Math.min(points.length - from, budget);
    budget -= take;
    const page = points.slice(from, from + take);
    const partial = from + take < points.length;
    if (partial && next === undefined) next = { query: index, point: from + take };
    return {
      Id: q.id,
      Label: q.label,
      Timestamps: page.map(([t]) => epochSeconds(t)),
      Values: page.map(([, value]) => value),
      StatusCode: partial ? 'PartialData' : 'Complete',
      Messages: [],
    };
  });
  return { MetricDataResults: results, ...(next ? { NextToken: encodeToken('GetMetricData', `${next.query}:${next.point}`) } : {}), Messages: [] };
}

/** The query's datapoints between `start` (inclusive) and `end` (exclusive), in the order asked. */
function series(store: MetricStore, q: StatQuery, start: number, end: number, ascending: boolean): Array<readonly [number, number]> {
  const from = store.periodIndex(start, q.period);
  const to = end <= start ? from : store.periodIndex(end - 1, q.period) + 1;
  const points = store
    .periods(q.metric, from, to, q.period, q.unit)
    .map((p) => [p.start, 'plain' in q.stat ? statisticValue(p.aggregate, q.stat.plain) : percentileValue(p.aggregate, q.stat.percentile)] as const)
    // A statistic set alone leaves no sample for a percentile: that period has no value, not NaN.
    .filter(([, value]) => Number.isFinite(value));
  return ascending ? points : points.reverse();
}
