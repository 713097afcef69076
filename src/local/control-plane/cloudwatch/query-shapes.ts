import { CloudWatchError, Violations } from './errors.js';
import { OTHER_SERVICE_HINT } from '../../../aws/other-service-hint.js';
import { excerpt } from '../../../errors/excerpt.js';

/** How a query-protocol string is read for one member (everything else stays a string). */
type MemberKind = 'integer' | 'double' | 'boolean' | 'list';

/**
 * The non-string members of the CloudWatch inputs answered locally (from botocore's `cloudwatch`
 * model): the query protocol sends every value as a string, JSON sends typed values.
 */
const INPUT_KINDS: Readonly<Record<string, Readonly<Record<string, MemberKind>>>> = {
  PutMetricAlarm: {
    ActionsEnabled: 'boolean',
    OKActions: 'list',
    AlarmActions: 'list',
    InsufficientDataActions: 'list',
    Dimensions: 'list',
    Period: 'integer',
    EvaluationPeriods: 'integer',
    DatapointsToAlarm: 'integer',
    Threshold: 'double',
    Metrics: 'list',
    Tags: 'list',
  },
  DescribeAlarms: { AlarmNames: 'list', AlarmTypes: 'list', MaxRecords: 'integer' },
  SetAlarmState: {},
  DeleteAlarms: { AlarmNames: 'list' },
  GetMetricStatistics: { Dimensions: 'list', Period: 'integer', Statistics: 'list', ExtendedStatistics: 'list' },
  ListMetrics: { Dimensions: 'list', IncludeLinkedAccounts: 'boolean' },
  DescribeAlarmHistory: { AlarmTypes: 'list', MaxRecords: 'integer' },
  DescribeAlarmsForMetric: { Dimensions: 'list', Period: 'integer' },
  EnableAlarmActions: { AlarmNames: 'list' },
  DisableAlarmActions: { AlarmNames: 'list' },
  // Nested members (values, timestamps, periods) stay strings here; the operations read both forms.
  PutMetricData: { MetricData: 'list', EntityMetricData: 'list', StrictEntityValidation: 'boolean' },
  GetMetricData: { MetricDataQueries: 'list', MaxDatapoints: 'integer' },
};

/**
 * Lists inside list items or structures, as paths (`*` for every item): an empty one travels as
 * "Path=" too (`MetricData.member.1.Dimensions=`, what boto3 sends for `Dimensions: []`).
 */
const NESTED_LISTS: Readonly<Record<string, readonly string[]>> = {
  PutMetricData: ['MetricData.*.Dimensions', 'MetricData.*.Values', 'MetricData.*.Counts', 'EntityMetricData.*.MetricData', 'EntityMetricData.*.MetricData.*.Dimensions', 'EntityMetricData.*.MetricData.*.Values', 'EntityMetricData.*.MetricData.*.Counts'],
  GetMetricData: ['MetricDataQueries.*.MetricStat.Metric.Dimensions'],
  PutMetricAlarm: ['Metrics.*.MetricStat.Metric.Dimensions'],
};

/** Replaces "" with [] at `path` under `node` (in place: the parsed request is this call's own). */
function emptyListsAt(node: unknown, path: readonly string[]): void {
  const [head, ...rest] = path;
  if (head === undefined || typeof node !== 'object' || node === null) return;
  const children = head === '*' ? (Array.isArray(node) ? node.map((_, i) => i) : []) : Array.isArray(node) ? [] : [head];
  for (const key of children) {
    const container = node as Record<string | number, unknown>;
    if (rest.length === 0) {
      if (container[key] === '') container[key] = [];
    } else emptyListsAt(container[key], rest);
  }
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

/**
 * Converts the string members of a parsed query request to the types the operation's input
 * declares. A value that does not convert raises `ValidationError` naming the member.
 */
export function coerceQueryInput(action: string, params: Record<string, unknown>): Record<string, unknown> {
  const kinds = Object.hasOwn(INPUT_KINDS, action) ? INPUT_KINDS[action]! : {};
  const v = new Violations();
  const out: Record<string, unknown> = { ...params };
  for (const [member, kind] of Object.entries(kinds)) {
    const value = out[member];
    if (value === undefined) continue;
    const name = lowerFirst(member);
    switch (kind) {
      case 'list':
        // An empty list travels as "Member=" (botocore's query serializer).
        if (value === '') out[member] = [];
        else if (!Array.isArray(value)) v.add(value, name, `be a list, sent as ${member}.member.N`);
        break;
      case 'integer':
        if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) out[member] = Number(value);
        else v.add(value, name, 'be an integer');
        break;
      case 'double': {
        const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
        if (Number.isFinite(n)) out[member] = n;
        else v.add(value, name, 'be a number');
        break;
      }
      case 'boolean':
        if (value === 'true' || value === 'false') out[member] = value === 'true';
        else v.add(value, name, 'be true or false');
        break;
    }
  }
  v.throwIfAny();
  for (const path of Object.hasOwn(NESTED_LISTS, action) ? NESTED_LISTS[action]! : []) emptyListsAt(out, path.split('.'));
  return out;
}

/** Members of CloudWatch outputs that are maps, written as `<entry><key/><value/></entry>`. */
export const CLOUDWATCH_MAP_MEMBERS: ReadonlySet<string> = new Set(['ExtendedStatistics']);

/** Members of CloudWatch outputs that are timestamps or lists of them (epoch seconds in JSON, ISO 8601 in XML). */
export const CLOUDWATCH_TIMESTAMP_MEMBERS: ReadonlySet<string> = new Set(['AlarmConfigurationUpdatedTimestamp', 'StateUpdatedTimestamp', 'StateTransitionedTimestamp', 'Timestamp', 'Timestamps']);

/** The XML namespace of CloudWatch query responses. */
export const CLOUDWATCH_XMLNS = 'http://monitoring.amazonaws.com/doc/2010-08-01/';

/** The query-protocol API version of CloudWatch. */
export const CLOUDWATCH_API_VERSION = '2010-08-01';

/** An `InvalidParameterValue` for a query `Version` this service does not speak: most often another service's call. */
export function unsupportedVersion(version: string, action: string): CloudWatchError {
  return new CloudWatchError(
    'InvalidParameterValueException',
    'InvalidParameterValue',
    `Version ${excerpt(version, 64)} (Action ${excerpt(action, 64)}) is not supported: the local CloudWatch speaks API version ${CLOUDWATCH_API_VERSION}, the only query-protocol service smkit local answers; if ${OTHER_SERVICE_HINT}.`,
  );
}
