import type { InvocationMetricsSink, InvocationRecord } from '../invocation-metrics.js';
import type { MetricClock } from './metric-clock.js';
import { addRepeatedValue, addStatisticSet, addValue, emptyAggregate, mergeAggregate, type Aggregate, type StatisticSet } from './statistics.js';

/** A CloudWatch dimension (`Name`/`Value`). */
export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

/** Identifies one metric series: namespace, name and the exact dimension set. */
export interface MetricId {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly Dimension[];
}

/** One period's aggregate, as GetMetricStatistics and alarms read it. */
export interface PeriodAggregate {
  /** Period index (see {@link MetricStore.periodIndex}). */
  readonly index: number;
  /** Start of the period, epoch milliseconds (real time). */
  readonly start: number;
  readonly aggregate: Aggregate;
  readonly unit: string;
}

/** The SageMaker endpoint metrics namespace. */
export const SAGEMAKER_NAMESPACE = 'AWS/SageMaker';

/**
 * Bucket width in API seconds. Alarm periods are 10, 20, 30 or a multiple of 60 seconds, so every
 * period is a whole number of buckets.
 */
export const BUCKET_SECONDS = 10;

/** Width in API seconds of the coarse buckets that data older than the fine retention is rolled into. */
export const HOUR_SECONDS = 3600;
const BUCKETS_PER_HOUR = HOUR_SECONDS / BUCKET_SECONDS;

/** How many {@link BUCKET_SECONDS}-second buckets a period of `periodSeconds` API seconds spans. */
export function bucketsPerPeriod(periodSeconds: number): number {
  return Math.max(1, Math.round(periodSeconds / BUCKET_SECONDS));
}

/** Options of {@link MetricStore}. */
export interface MetricStoreOptions {
  /**
   * API seconds of data kept per series in {@link BUCKET_SECONDS}-second buckets.
   * @defaultValue 86400 (a day: the longest alarm range for periods under an hour)
   */
  retentionSeconds?: number;
  /**
   * API seconds of data kept per series in hourly buckets, once older than `retentionSeconds`: read
   * by periods that are multiples of an hour.
   * @defaultValue 1209600 (two weeks: the evaluation range of a 7-day alarm, and as far back as PutMetricData takes)
   */
  hourlyRetentionSeconds?: number;
  /** Series kept at most; the least recently written is dropped past it. @defaultValue 5000 */
  maxSeries?: number;
}

interface Series {
  readonly id: MetricId;
  readonly unit: string;
  readonly buckets: Map<number, Aggregate>;
  /** Hourly aggregates of the data older than the fine retention, by hour index. */
  readonly hours: Map<number, Aggregate>;
  /** The fine buckets holding only an idle minute's fill (see {@link MetricStore.recordIdleMinute}), each the first of its minute. */
  readonly fills: Set<number>;
  lastWrite: number;
}

/** Fine buckets in a minute: an idle minute's fill sits in the first. */
const MINUTE_BUCKETS = bucketsPerPeriod(60);

/** A canonical key for a metric id: dimension order does not matter, as in CloudWatch. */
export function seriesKey(id: MetricId): string {
  const dims = [...id.dimensions].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  return JSON.stringify([id.namespace, id.metricName, dims.map((d) => [d.Name, d.Value])]);
}

/**
 * The local CloudWatch metric store. It receives every invocation the runtime measures and keeps
 * the `AWS/SageMaker` endpoint metrics CloudWatch publishes for it (`Invocations`,
 * `Invocation4XXErrors`, `Invocation5XXErrors`, `InvocationModelErrors`, `InvocationsPerInstance`, `ModelLatency`,
 * `OverheadLatency`, dimensions `EndpointName` and `VariantName`; an inference component's also by
 * `InferenceComponentName`, with `InvocationsPerCopy`) in {@link BUCKET_SECONDS}-second
 * buckets for a day; older data is rolled into hourly buckets kept two weeks, so that alarms of
 * periods of an hour or more can look back the seven days CloudWatch allows them. Memory is
 * bounded by the two retentions and {@link MetricStoreOptions.maxSeries}.
 */
export class MetricStore implements InvocationMetricsSink {
  private readonly series = new Map<string, Series>();
  private readonly retentionBuckets: number;
  private readonly retentionHours: number;
  private readonly maxSeries: number;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly clock: MetricClock,
    opts: MetricStoreOptions = {},
  ) {
    this.retentionBuckets = Math.ceil((opts.retentionSeconds ?? 86_400) / BUCKET_SECONDS) + 1;
    this.retentionHours = Math.ceil((opts.hourlyRetentionSeconds ?? 14 * 86_400) / HOUR_SECONDS) + 1;
    this.maxSeries = opts.maxSeries ?? 5000;
  }

  /** Real milliseconds one bucket lasts. */
  get bucketMs(): number {
    return this.clock.durationMs(BUCKET_SECONDS);
  }

  /** The bucket index a real timestamp falls in. */
  bucketIndex(at: number): number {
    return Math.floor(at / this.bucketMs);
  }

  /**
   * Records one invocation as the endpoint metrics SageMaker publishes for it, by `EndpointName` and
   * `VariantName`; one that named an inference component also by `InferenceComponentName` alone,
   * with `InvocationsPerCopy` in place of `InvocationsPerInstance`.
   */
  record(r: InvocationRecord): void {
    const dimensions: Dimension[] = [
      { Name: 'EndpointName', Value: r.endpoint },
      { Name: 'VariantName', Value: r.variant },
    ];
    const put = (metricName: string, value: number, unit: string): void =>
      this.put({ namespace: SAGEMAKER_NAMESPACE, metricName, dimensions }, value, unit, r.at);
    // AWS's list of an asynchronous endpoint's metrics, "exhaustive", has only these three of them.
    const realTime = r.asynchronous !== true;
    if (realTime) put('Invocations', 1, 'None');
    // The error metrics are 0 or 1 per request so that Average is the error rate, as on AWS.
    put('Invocation4XXErrors', r.outcome === '4xx' ? 1 : 0, 'None');
    put('Invocation5XXErrors', r.outcome === '5xx' ? 1 : 0, 'None');
    // The requests the model container did not answer with a 2xx, 1 or 0 as the others (not those
    // the front door refused before any container answered); not in the exhaustive lists of an
    // asynchronous or a serverless endpoint's metrics.
    const modelError = r.modelError === true ? 1 : 0;
    if (realTime && r.serverless !== true) {
      put('InvocationModelErrors', modelError, 'None');
      put('InvocationsPerInstance', 1 / Math.max(1, r.instanceCount), 'None');
    }
    if (r.modelLatencyMicros !== undefined) put('ModelLatency', r.modelLatencyMicros, 'Microseconds');
    if (realTime && r.overheadLatencyMicros !== undefined) put('OverheadLatency', r.overheadLatencyMicros, 'Microseconds');
    if (r.inferenceComponent !== undefined) {
      const byComponent: Dimension[] = [{ Name: 'InferenceComponentName', Value: r.inferenceComponent.name }];
      const putComponent = (metricName: string, value: number, unit: string): void =>
        this.put({ namespace: SAGEMAKER_NAMESPACE, metricName, dimensions: byComponent }, value, unit, r.at);
      putComponent('Invocations', 1, 'None');
      putComponent('Invocation4XXErrors', r.outcome === '4xx' ? 1 : 0, 'None');
      putComponent('Invocation5XXErrors', r.outcome === '5xx' ? 1 : 0, 'None');
      putComponent('InvocationModelErrors', modelError, 'None');
      putComponent('InvocationsPerCopy', 1 / Math.max(1, r.inferenceComponent.copies), 'None');
      if (r.modelLatencyMicros !== undefined) putComponent('ModelLatency', r.modelLatencyMicros, 'Microseconds');
      if (r.overheadLatencyMicros !== undefined) putComponent('OverheadLatency', r.overheadLatencyMicros, 'Microseconds');
    }
    for (const listener of this.listeners) listener();
  }

  /**
   * Records a serverless cold start as `ModelSetupTime` (microseconds: the time to launch compute
   * and load the model for a serverless endpoint, serverless-endpoints-monitoring.html).
   */
  recordModelSetup(endpoint: string, variant: string, micros: number, at: number): void {
    const dimensions: Dimension[] = [
      { Name: 'EndpointName', Value: endpoint },
      { Name: 'VariantName', Value: variant },
    ];
    this.put({ namespace: SAGEMAKER_NAMESPACE, metricName: 'ModelSetupTime', dimensions }, micros, 'Microseconds', at);
    for (const listener of this.listeners) listener();
  }

  /**
   * Records an invocation that inference component `component` could not take for want of copies
   * as `NoCapacityInvocationFailures` 1, dimension `InferenceComponentName` (what the alarm of a
   * step-scaling policy that scales the component out from zero copies watches:
   * endpoint-auto-scaling-zero-instances.html).
   */
  recordNoCapacity(component: string, at: number): void {
    this.put({ namespace: SAGEMAKER_NAMESPACE, metricName: 'NoCapacityInvocationFailures', dimensions: [{ Name: 'InferenceComponentName', Value: component }] }, 1, 'None', at);
    for (const listener of this.listeners) listener();
  }

  /**
   * Records the requests in flight per copy of an inference component as one request reaches a
   * copy (that one included) as `ConcurrentRequestsPerCopy`, dimension `InferenceComponentName`:
   * the metric of the high-resolution `SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution`;
   * for a variant's instance, the requests in flight per instance as `ConcurrentRequestsPerModel`
   * by `EndpointName` and `VariantName`, the metric of `SageMakerVariantConcurrentRequestsPerModelHighResolution`.
   */
  recordConcurrency(r: { endpoint: string; variant: string; inferenceComponent?: string }, perInstance: number, at: number): void {
    if (r.inferenceComponent === undefined) {
      const dimensions = [{ Name: 'EndpointName', Value: r.endpoint }, { Name: 'VariantName', Value: r.variant }];
      this.put({ namespace: SAGEMAKER_NAMESPACE, metricName: 'ConcurrentRequestsPerModel', dimensions }, perInstance, 'None', at);
    } else {
      this.put({ namespace: SAGEMAKER_NAMESPACE, metricName: 'ConcurrentRequestsPerCopy', dimensions: [{ Name: 'InferenceComponentName', Value: r.inferenceComponent }] }, perInstance, 'None', at);
    }
    for (const listener of this.listeners) listener();
  }

  /**
   * Publishes `Invocations` 0 and `InvocationsPerInstance` 0 (by `EndpointName` and `VariantName`)
   * for each of `variants`, and `Invocations` 0 and `InvocationsPerCopy` 0 (by
   * `InferenceComponentName`) for each of `components`, that received no invocation in the minute
   * before the one `now` falls in, at that minute's start. SageMaker does the same: "if a variant's
   * traffic becomes zero, SageMaker automatically scales in to the minimum number of instances
   * specified. In this case, SageMaker emits metrics with a value of zero"
   * (endpoint-auto-scaling-prerequisites.html), which is what a target-tracking policy's low
   * alarm needs to leave INSUFFICIENT_DATA once traffic stops. `ConcurrentRequestsPerModel`
   * (`ConcurrentRequestsPerCopy`), which AWS samples every 10 seconds, gets the requests in flight
   * per instance (copy) now, `inFlight`, when that minute has none of it. Calling it again for the same minute adds nothing.
   * One whose `since` (real time it went in service) is at or past that minute's end gets nothing there:
   * SageMaker publishes no datapoint for a minute before the endpoint (or component) served.
   * A value written to that minute later replaces its fill: an invocation is recorded at its arrival
   * once it ends, so one still running as its minute is published would otherwise leave a 0 beside
   * its 1 (SampleCount 2, Minimum 0, Average halved).
   */
  recordIdleMinute(
    variants: Iterable<{ endpoint: string; variant: string; inFlight?: number; serverless?: boolean; since?: number }>,
    components: Iterable<{ name: string; inFlight: number; since?: number }>,
    now: number,
  ): void {
    const minute = this.periodIndex(now, 60) - 1;
    const at = this.periodStart(minute, 60);
    // A variant or component in service only since that minute ended had no minute there to be idle in.
    const end = this.periodStart(minute + 1, 60);
    const existed = (since: number | undefined): boolean => since === undefined || since < end;
    let published = false;
    const fill = (dimensions: Dimension[], metricName: string, value: number | undefined): void => {
      const id: MetricId = { namespace: SAGEMAKER_NAMESPACE, metricName, dimensions };
      if (value === undefined || this.periods(id, minute, minute + 1, 60).length > 0) return;
      this.put(id, value, 'None', at);
      const bucket = this.bucketIndex(at);
      const s = this.series.get(seriesKey(id));
      if (s?.buckets.has(bucket)) s.fills.add(bucket);
      published = true;
    };
    const idle = (dimensions: Dimension[], perCapacity: string | undefined, concurrency: string, inFlight: number | undefined): void => {
      const invoked = this.periods({ namespace: SAGEMAKER_NAMESPACE, metricName: 'Invocations', dimensions }, minute, minute + 1, 60).length > 0;
      if (!invoked) for (const metricName of ['Invocations', ...(perCapacity === undefined ? [] : [perCapacity])]) fill(dimensions, metricName, 0);
      fill(dimensions, concurrency, inFlight);
    };
    // A serverless variant publishes no InvocationsPerInstance (InvocationRecord.serverless).
    for (const v of variants) if (existed(v.since)) idle([{ Name: 'EndpointName', Value: v.endpoint }, { Name: 'VariantName', Value: v.variant }], v.serverless === true ? undefined : 'InvocationsPerInstance', 'ConcurrentRequestsPerModel', v.inFlight);
    for (const c of components) if (existed(c.since)) idle([{ Name: 'InferenceComponentName', Value: c.name }], 'InvocationsPerCopy', 'ConcurrentRequestsPerCopy', c.inFlight);
    if (published) for (const listener of this.listeners) listener();
  }

  /** Adds one value to a series at real time `at`. */
  put(id: MetricId, value: number, unit: string, at: number = this.clock.now()): void {
    if (!Number.isFinite(value)) return;
    const agg = this.bucketFor(id, unit, at, false);
    if (agg) addValue(agg, value);
  }

  /**
   * Adds what one PutMetricData entry carries to a series at real time `at`: values with how many
   * times each occurred, or a statistic set. Non-finite numbers are ignored.
   */
  putAggregated(id: MetricId, data: { values: ReadonlyArray<readonly [value: number, count: number]> } | { set: StatisticSet }, unit: string, at: number = this.clock.now()): void {
    if ('values' in data) {
      const finite = data.values.filter(([value, count]) => Number.isFinite(value) && Number.isFinite(count) && count > 0);
      if (finite.length === 0) return;
      const agg = this.bucketFor(id, unit, at, true);
      if (agg) for (const [value, count] of finite) addRepeatedValue(agg, value, count);
      return;
    }
    const { set } = data;
    if (![set.sampleCount, set.sum, set.minimum, set.maximum].every(Number.isFinite) || !(set.sampleCount > 0)) return;
    const agg = this.bucketFor(id, unit, at, true);
    if (agg) addStatisticSet(agg, set);
  }

  /** Tells the {@link onRecord} listeners that data arrived (PutMetricData calls it once per request). */
  notifyRecorded(): void {
    for (const listener of this.listeners) listener();
  }

  /**
   * The bucket of `id` at real time `at`, created as needed: a fine one within the fine retention,
   * else its hour's; undefined when `at` is older than the hourly retention (such data would only
   * be pruned again, and keeping it would let old timestamps grow a series past its bound).
   * `published` data may be timestamped ahead of now (PutMetricData takes up to two hours): it
   * prunes relative to now, not to its own time, so it never evicts current data.
   */
  private bucketFor(id: MetricId, unit: string, at: number, published: boolean): Aggregate | undefined {
    const index = this.bucketIndex(at);
    const nowIndex = this.bucketIndex(this.clock.now());
    const fine = index >= nowIndex - this.retentionBuckets;
    const hour = Math.floor(index / BUCKETS_PER_HOUR);
    if (!fine && hour < Math.floor(nowIndex / BUCKETS_PER_HOUR) - this.retentionHours) return undefined;
    const key = seriesKey(id);
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) this.dropOldestSeries();
      s = { id: { ...id, dimensions: [...id.dimensions] }, unit, buckets: new Map(), hours: new Map(), fills: new Set(), lastWrite: at };
      this.series.set(key, s);
    }
    s.lastWrite = Math.max(s.lastWrite, at);
    if (!fine) {
      if (!s.hours.has(hour)) this.prune(s, nowIndex);
      return hourBucket(s, hour);
    }
    const minuteStart = index - (index % MINUTE_BUCKETS);
    if (s.fills.delete(minuteStart)) s.buckets.delete(minuteStart);
    let agg = s.buckets.get(index);
    if (!agg) {
      agg = emptyAggregate();
      s.buckets.set(index, agg);
      this.prune(s, published ? Math.min(index, nowIndex) : index);
    }
    return agg;
  }

  /** Calls `listener` after every recorded invocation (the evaluator uses it to stay idle without traffic). */
  onRecord(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Index of the period of `periodSeconds` API seconds that real time `at` falls in. Periods are
   * aligned to multiples of the period, shifted by `offset` buckets (alarms' sliding windows).
   */
  periodIndex(at: number, periodSeconds: number, offset = 0): number {
    return Math.floor((this.bucketIndex(at) - offset) / bucketsPerPeriod(periodSeconds));
  }

  /** Real start time (epoch ms) of period `index` (shifted by `offset` buckets). */
  periodStart(index: number, periodSeconds: number, offset = 0): number {
    return (index * bucketsPerPeriod(periodSeconds) + offset) * this.bucketMs;
  }

  /**
   * Aggregates of the series `id` over periods `from` (inclusive) to `to` (exclusive) of
   * `periodSeconds` API seconds, oldest first, each period starting `offset` buckets after a
   * multiple of the period. Periods without data are absent. `unit`, when given, must match the
   * series' unit (else nothing matches, as in CloudWatch).
   */
  periods(id: MetricId, from: number, to: number, periodSeconds: number, unit?: string, offset = 0): PeriodAggregate[] {
    const s = this.series.get(seriesKey(id));
    if (!s || (unit !== undefined && unit !== s.unit)) return [];
    const perPeriod = bucketsPerPeriod(periodSeconds);
    const out: PeriodAggregate[] = [];
    // Walk whichever is smaller: the requested buckets or the buckets held.
    const requested = (to - from) * perPeriod;
    const first = from * perPeriod + offset;
    const last = to * perPeriod + offset;
    const byPeriod = new Map<number, Aggregate>();
    const add = (b: number, bucket: Aggregate): void => {
      const p = Math.floor((b - offset) / perPeriod);
      let agg = byPeriod.get(p);
      if (!agg) byPeriod.set(p, (agg = emptyAggregate()));
      mergeAggregate(agg, bucket);
    };
    if (requested <= s.buckets.size) {
      for (let b = first; b < last; b++) {
        const bucket = s.buckets.get(b);
        if (bucket) add(b, bucket);
      }
    } else {
      for (const [b, bucket] of s.buckets) if (b >= first && b < last) add(b, bucket);
    }
    // Hourly buckets hold what has left the fine ones (each value is in exactly one of the two):
    // a period that is a whole number of hours adds its hours, each to the period its start falls
    // in (a shifted period splits hours it cannot split); shorter periods cannot split them.
    if (perPeriod % BUCKETS_PER_HOUR === 0) {
      for (const [h, bucket] of s.hours) if (h * BUCKETS_PER_HOUR >= first && h * BUCKETS_PER_HOUR < last) add(h * BUCKETS_PER_HOUR, bucket);
    }
    for (const index of [...byPeriod.keys()].sort((a, b) => a - b)) {
      out.push({ index, start: this.periodStart(index, periodSeconds, offset), aggregate: byPeriod.get(index)!, unit: s.unit });
    }
    return out;
  }

  /** Every series whose namespace, name and dimensions match the filter (a dimension without Value matches any value). */
  list(filter: { namespace?: string; metricName?: string; dimensions?: ReadonlyArray<{ Name: string; Value?: string }> } = {}): Array<MetricId & { unit: string; lastWrite: number }> {
    const out: Array<MetricId & { unit: string; lastWrite: number }> = [];
    for (const s of this.series.values()) {
      if (filter.namespace !== undefined && s.id.namespace !== filter.namespace) continue;
      if (filter.metricName !== undefined && s.id.metricName !== filter.metricName) continue;
      const dimsMatch = (filter.dimensions ?? []).every((f) => s.id.dimensions.some((d) => d.Name === f.Name && (f.Value === undefined || d.Value === f.Value)));
      if (!dimsMatch) continue;
      out.push({ ...s.id, unit: s.unit, lastWrite: s.lastWrite });
    }
    return out;
  }

  /** Number of buckets, fine and hourly, held over all series (for tests of the memory bound). */
  bucketCount(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.buckets.size + s.hours.size;
    return n;
  }

  /** Rolls the fine buckets older than the retention into their hours, and drops hours older than the hourly retention. */
  private prune(s: Series, newest: number): void {
    const oldest = newest - this.retentionBuckets;
    const oldestHour = Math.floor(newest / BUCKETS_PER_HOUR) - this.retentionHours;
    for (const [index, bucket] of s.buckets) {
      if (index >= oldest) continue;
      s.buckets.delete(index);
      s.fills.delete(index);
      const hour = Math.floor(index / BUCKETS_PER_HOUR);
      if (hour >= oldestHour) mergeAggregate(hourBucket(s, hour), bucket);
    }
    for (const hour of s.hours.keys()) {
      if (hour < oldestHour) s.hours.delete(hour);
    }
  }

  private dropOldestSeries(): void {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [key, s] of this.series) {
      if (s.lastWrite < oldest) {
        oldest = s.lastWrite;
        oldestKey = key;
      }
    }
    if (oldestKey !== undefined) this.series.delete(oldestKey);
  }
}

function hourBucket(s: Series, hour: number): Aggregate {
  let agg = s.hours.get(hour);
  if (!agg) s.hours.set(hour, (agg = emptyAggregate()));
  return agg;
}
