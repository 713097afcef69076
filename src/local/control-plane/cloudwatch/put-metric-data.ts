import { firstChars } from '../../../errors/text-cut.js';
import { STANDARD_UNITS } from './alarm-definition.js';
import { CloudWatchError, invalidParameterCombination, invalidParameterValue, missingParameter, Violations } from './errors.js';
import type { Dimension, MetricId, MetricStore } from './metric-store.js';
import { readTimestamp } from './metric-queries.js';
import type { StatisticSet } from './statistics.js';

/** Metrics one PutMetricData call may carry, `MetricData` and `EntityMetricData` together (API reference). */
export const MAX_METRIC_DATA = 1000;
/** `EntityMetricData` entries one call may carry (API reference). */
export const MAX_ENTITY_METRIC_DATA = 2;
/** Dimensions one metric may have (API reference, `Dimensions` max 30). */
export const MAX_PUT_DIMENSIONS = 30;
/** Distinct values one entry's `Values` (and `Counts`) may list (API reference). */
export const MAX_VALUES_PER_ENTRY = 150;
/** Largest PutMetricData request: 1 MB, measured here on the decoded request (API reference). */
export const MAX_PUT_METRIC_DATA_BYTES = 1_048_576;
/** How far back a timestamp may be: two weeks (API reference). */
export const MAX_PAST_MS = 14 * 24 * 3600 * 1000;
/** How far ahead a timestamp may be: two hours (API reference). */
export const MAX_FUTURE_MS = 2 * 3600 * 1000;
/** Values must lie in [-2^360, 2^360] and, unless zero, be at least 2^-360 in magnitude (API reference). */
const MAX_MAGNITUDE = 2 ** 360;
const MIN_MAGNITUDE = 2 ** -360;
/** The `StorageResolution` values CloudWatch takes (API reference: "Valid values are 1 and 60"). */
const STORAGE_RESOLUTIONS: readonly number[] = [1, 60];

type Input = Record<string, unknown>;

/** One validated PutMetricData entry, ready for the store. */
interface Datum {
  readonly id: MetricId;
  readonly unit: string;
  readonly at: number;
  readonly data: { values: Array<readonly [number, number]> } | { set: StatisticSet };
}

const isObject = (v: unknown): v is Input => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The length of `value` as JSON text, counted up to just past `limit` and no further: a shared
 * sub-object (possible in-process, not over HTTP) cannot make the count blow up.
 */
export function jsonBytesUpTo(value: unknown, limit: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= limit) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      total += 2 + Math.max(0, v.length - 1);
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      total += 2 + Math.max(0, entries.length - 1);
      for (const [k, item] of entries) {
        total += Buffer.byteLength(k) + 3;
        stack.push(item);
      }
    } else if (typeof v === 'string') total += Buffer.byteLength(v) + 2;
    else total += String(v).length;
  }
  return total;
}

/** `RequestEntityTooLarge` (413), worded as CloudWatch words it: "Request size 47947 exceeded 40960 bytes". */
function requestTooLarge(bytes: number): CloudWatchError {
  return new CloudWatchError('RequestEntityTooLargeException', 'RequestEntityTooLarge', `Request size ${bytes} exceeded ${MAX_PUT_METRIC_DATA_BYTES} bytes.`, 413);
}

/**
 * A number as the protocols carry it: a JSON number, or a string (the query protocol sends every
 * value as text, and the SDKs send NaN and the infinities as "NaN", "Infinity", "-Infinity").
 * Returns the number, or the raw text when it is not a number CloudWatch takes.
 */
function readDatapointValue(raw: unknown): { ok: number } | { bad: string } {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  const magnitude = Math.abs(n);
  if (!Number.isFinite(n) || magnitude > MAX_MAGNITUDE || (magnitude !== 0 && magnitude < MIN_MAGNITUDE)) {
    return { bad: typeof raw === 'string' ? firstChars(raw, 64) : typeof raw === 'number' ? String(raw) : firstChars(JSON.stringify(raw) ?? String(raw), 64) };
  }
  return { ok: n };
}

/** A datapoint value at `path`, or `InvalidParameterValue` naming it as CloudWatch does. */
function datapointValue(raw: unknown, path: string): number {
  const read = readDatapointValue(raw);
  if ('bad' in read) throw invalidParameterValue(`The value ${read.bad} for parameter ${path} is invalid.`);
  return read.ok;
}

/** A list member: absent is undefined, anything but a list is a `ValidationError`. */
function readList(v: Violations, raw: unknown, member: string): unknown[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    v.add(raw, member, 'be a list');
    return undefined;
  }
  return raw;
}

function readDimensions(raw: unknown, path: string, member: string): Dimension[] {
  const v = new Violations();
  const list = readList(v, raw, member) ?? [];
  v.throwIfAny();
  if (list.length > MAX_PUT_DIMENSIONS) throw invalidParameterValue(`The collection ${path} must not have a size greater than ${MAX_PUT_DIMENSIONS}.`);
  const names = new Set<string>();
  return list.map((d, i) => {
    const item = isObject(d) ? d : {};
    const at = `${path}.member.${i + 1}`;
    if (item.Name === undefined || item.Name === null) throw missingParameter(`The parameter ${at}.Name is required.`);
    if (item.Value === undefined || item.Value === null) throw missingParameter(`The parameter ${at}.Value is required.`);
    const dv = new Violations();
    dv.length(item.Name, `${member}.${i + 1}.member.name`, 1, 255);
    dv.length(item.Value, `${member}.${i + 1}.member.value`, 1, 1024);
    dv.throwIfAny();
    const name = item.Name as string;
    // Names and values are ASCII with at least one non-blank character; a name cannot start with a colon (Dimension reference).
    if (!isPrintableAscii(name) || name.trim() === '' || name.startsWith(':')) throw invalidParameterValue(`The value ${name} for parameter ${at}.Name is invalid.`);
    if (!isPrintableAscii(item.Value as string) || (item.Value as string).trim() === '') throw invalidParameterValue(`The value ${item.Value as string} for parameter ${at}.Value is invalid.`);
    if (names.has(name)) throw invalidParameterValue(`The collection ${path} must not contain duplicate dimension names: ${name}.`);
    names.add(name);
    return { Name: name, Value: item.Value as string };
  });
}

const isPrintableAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** Reads `Values` and `Counts` of one entry: each distinct value with how many times it occurred. */
function readValuesWithCounts(entry: Input, path: string, member: string): Array<readonly [number, number]> {
  const v = new Violations();
  const values = readList(v, entry.Values, `${member}.values`);
  const counts = readList(v, entry.Counts, `${member}.counts`);
  v.throwIfAny();
  if (values !== undefined && values.length > MAX_VALUES_PER_ENTRY) throw invalidParameterValue(`The collection ${path}.Values must not have a size greater than ${MAX_VALUES_PER_ENTRY}.`);
  if (counts !== undefined && counts.length > 0 && counts.length !== (values?.length ?? 0)) {
    throw invalidParameterValue(`The parameters ${path}.Values and ${path}.Counts must be of the same size.`);
  }
  return (values ?? []).map((raw, i) => {
    const value = datapointValue(raw, `${path}.Values.member.${i + 1}`);
    const count = counts === undefined || counts.length === 0 ? 1 : datapointValue(counts[i], `${path}.Counts.member.${i + 1}`);
    if (count < 0) throw invalidParameterValue(`The value ${count} for parameter ${path}.Counts.member.${i + 1} is invalid.`);
    return [value, count] as const;
  });
}

function readStatisticSet(raw: unknown, path: string): StatisticSet {
  const set = isObject(raw) ? raw : {};
  for (const key of ['SampleCount', 'Sum', 'Minimum', 'Maximum']) {
    if (set[key] === undefined || set[key] === null) throw missingParameter(`The parameter ${path}.${key} is required.`);
  }
  const sampleCount = datapointValue(set.SampleCount, `${path}.SampleCount`);
  const sum = datapointValue(set.Sum, `${path}.Sum`);
  const minimum = datapointValue(set.Minimum, `${path}.Minimum`);
  const maximum = datapointValue(set.Maximum, `${path}.Maximum`);
  if (!(sampleCount > 0)) throw invalidParameterValue(`The parameter ${path}.SampleCount must be greater than 0.`);
  if (maximum < minimum) throw invalidParameterValue(`The parameter ${path}.Maximum must be greater than or equal to ${path}.Minimum.`);
  return { sampleCount, sum, minimum, maximum };
}

function readDatum(raw: unknown, path: string, member: string, namespace: string, now: number): Datum {
  const entry = isObject(raw) ? raw : {};
  if (entry.MetricName === undefined || entry.MetricName === null) throw missingParameter(`The parameter ${path}.MetricName is required.`);
  const v = new Violations();
  const metricName = entry.MetricName;
  v.length(metricName, `${member}.metricName`, 1, 255);
  const unit = entry.Unit ?? 'None';
  if (!(STANDARD_UNITS as readonly unknown[]).includes(unit)) v.add(unit, `${member}.unit`, `satisfy enum value set: [${STANDARD_UNITS.join(', ')}]`);
  const resolution = entry.StorageResolution;
  if (resolution !== undefined && resolution !== null && !(typeof resolution === 'number' || (typeof resolution === 'string' && /^-?\d{1,15}$/.test(resolution)))) {
    v.add(resolution, `${member}.storageResolution`, 'be an integer');
  }
  v.throwIfAny();
  if (resolution !== undefined && resolution !== null && !STORAGE_RESOLUTIONS.includes(Number(resolution))) {
    throw invalidParameterValue(`The value ${String(resolution)} for parameter ${path}.StorageResolution is invalid.`);
  }
  const dimensions = readDimensions(entry.Dimensions, `${path}.Dimensions`, `${member}.dimensions`);

  let at = now;
  if (entry.Timestamp !== undefined && entry.Timestamp !== null) {
    const t = readTimestamp(entry.Timestamp);
    if (t === undefined) throw invalidParameterValue(`The value ${firstChars(String(entry.Timestamp), 64)} for parameter ${path}.Timestamp is invalid.`);
    if (t < now - MAX_PAST_MS) throw invalidParameterValue(`The parameter ${path}.Timestamp must specify a time within the past two weeks.`);
    if (t > now + MAX_FUTURE_MS) throw invalidParameterValue(`The parameter ${path}.Timestamp must specify a time no more than two hours in the future.`);
    at = t;
  }

  // An empty list (the query protocol's "Values=") carries nothing, as if absent.
  const has = (key: string): boolean => entry[key] !== undefined && entry[key] !== null && !(Array.isArray(entry[key]) && entry[key].length === 0);
  if (has('Value') && has('Values')) throw invalidParameterCombination(`The parameters ${path}.Value and ${path}.Values are mutually exclusive and you have specified both.`);
  if (has('Value') && has('StatisticValues')) throw invalidParameterCombination(`The parameters ${path}.Value and ${path}.StatisticValues are mutually exclusive and you have specified both.`);
  const id = { namespace, metricName: metricName as string, dimensions };
  if (has('Value')) {
    if (has('Counts')) throw invalidParameterValue(`The parameters ${path}.Values and ${path}.Counts must be of the same size.`);
    return { id, unit: unit as string, at, data: { values: [[datapointValue(entry.Value, `${path}.Value`), 1]] } };
  }
  // CloudWatch takes Values together with StatisticValues; locally the values are what is stored.
  if (has('Values') || has('Counts')) return { id, unit: unit as string, at, data: { values: readValuesWithCounts(entry, path, member) } };
  if (has('StatisticValues')) return { id, unit: unit as string, at, data: { set: readStatisticSet(entry.StatisticValues, `${path}.StatisticValues`) } };
  throw invalidParameterCombination(`At least one of the parameters ${path}.Value and ${path}.StatisticValues must be specified.`);
}

/**
 * PutMetricData: validates every entry first (one bad entry fails the whole request and nothing is
 * stored, as on AWS), then adds each to the {@link MetricStore} series of its namespace, name and
 * dimensions, where GetMetricStatistics, GetMetricData, ListMetrics and alarms read it.
 * `EntityMetricData` entries are stored the same way; their entities are not kept.
 */
export function putMetricData(store: MetricStore, input: Input, now: number): Record<string, unknown> {
  // The decoded request stands in for the HTTP body (JSON: the same text; query: a little shorter).
  // Counted whole up to 16 MB (HTTP bodies stop at 5 MiB), so the message can give the size.
  const bytes = jsonBytesUpTo(input, 16 * MAX_PUT_METRIC_DATA_BYTES);
  if (bytes > MAX_PUT_METRIC_DATA_BYTES) throw requestTooLarge(bytes);

  const namespace = input.Namespace;
  if (namespace === undefined || namespace === null) throw missingParameter('The parameter Namespace is required.');
  const v = new Violations();
  if (v.length(namespace, 'namespace', 1, 255) && (namespace as string).startsWith(':')) v.add(namespace, 'namespace', 'satisfy regular expression pattern: [^:].*');
  const metricData = readList(v, input.MetricData, 'metricData');
  const entityData = readList(v, input.EntityMetricData, 'entityMetricData');
  v.throwIfAny();
  const ns = namespace as string;
  // AWS/ names the services' own namespaces; control characters and non-ASCII are not taken (PutMetricData reference).
  if (ns.startsWith('AWS/') || !isPrintableAscii(ns) || ns.trim() === '') throw invalidParameterValue(`The value ${ns} for parameter Namespace is invalid.`);
  if (entityData !== undefined && entityData.length > MAX_ENTITY_METRIC_DATA) {
    throw invalidParameterValue(`The collection EntityMetricData must not have a size greater than ${MAX_ENTITY_METRIC_DATA}.`);
  }

  const entries: Array<{ raw: unknown; path: string; member: string }> = (metricData ?? []).map((raw, i) => ({ raw, path: `MetricData.member.${i + 1}`, member: `metricData.${i + 1}.member` }));
  for (const [e, entity] of (entityData ?? []).entries()) {
    const ev = new Violations();
    const list = readList(ev, isObject(entity) ? entity.MetricData : undefined, `entityMetricData.${e + 1}.member.metricData`) ?? [];
    ev.throwIfAny();
    for (const [i, raw] of list.entries()) entries.push({ raw, path: `EntityMetricData.member.${e + 1}.MetricData.member.${i + 1}`, member: `entityMetricData.${e + 1}.member.metricData.${i + 1}.member` });
  }
  if (entries.length === 0) throw missingParameter('The parameter MetricData is required.');
  if (entries.length > MAX_METRIC_DATA) {
    throw invalidParameterValue(`The collection MetricData must not have a size greater than ${MAX_METRIC_DATA}.`);
  }

  const data = entries.map((e) => readDatum(e.raw, e.path, e.member, ns, now));
  for (const d of data) store.putAggregated(d.id, d.data, d.unit, d.at);
  store.notifyRecorded();
  return {};
}
