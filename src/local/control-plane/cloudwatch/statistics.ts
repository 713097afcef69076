/** The five plain CloudWatch statistics (`Statistic` enum of the API). */
export const STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;

/** One of {@link STATISTICS}. */
export type Statistic = (typeof STATISTICS)[number];

/** Samples kept per bucket for percentiles; past it a reservoir keeps a uniform sample. */
export const MAX_SAMPLES_PER_AGGREGATE = 256;

/** Running count / sum / min / max of metric values, plus a bounded sample for percentiles. */
export interface Aggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** A uniform sample of at most {@link MAX_SAMPLES_PER_AGGREGATE} values. */
  samples: number[];
}

/** An aggregate of no values. */
export function emptyAggregate(): Aggregate {
  return { count: 0, sum: 0, min: Infinity, max: -Infinity, samples: [] };
}

/** Adds one value to `agg` in place. */
export function addValue(agg: Aggregate, value: number, random: () => number = Math.random): void {
  agg.count += 1;
  agg.sum += value;
  if (value < agg.min) agg.min = value;
  if (value > agg.max) agg.max = value;
  if (agg.samples.length < MAX_SAMPLES_PER_AGGREGATE) agg.samples.push(value);
  else {
    const slot = Math.floor(random() * agg.count);
    if (slot < MAX_SAMPLES_PER_AGGREGATE) agg.samples[slot] = value;
  }
}

/**
 * Adds `value` observed `count` times (PutMetricData `Values` with `Counts`) to `agg` in place:
 * count, sum, minimum and maximum exactly, and at most {@link MAX_SAMPLES_PER_AGGREGATE} copies to
 * the sample, so a huge count costs no more than a full sample.
 */
export function addRepeatedValue(agg: Aggregate, value: number, count: number, random: () => number = Math.random): void {
  if (!(count > 0)) return;
  const copies = Math.min(Math.ceil(count), MAX_SAMPLES_PER_AGGREGATE);
  const before = agg.count;
  for (let i = 1; i <= copies; i++) {
    // The sample sees each copy as if the count grew evenly across them.
    const seen = before + (count * i) / copies;
    if (agg.samples.length < MAX_SAMPLES_PER_AGGREGATE) agg.samples.push(value);
    else {
      const slot = Math.floor(random() * seen);
      if (slot < MAX_SAMPLES_PER_AGGREGATE) agg.samples[slot] = value;
    }
  }
  agg.count = before + count;
  agg.sum += value * count;
  if (value < agg.min) agg.min = value;
  if (value > agg.max) agg.max = value;
}

/** A statistic set (PutMetricData `StatisticValues`): the aggregate of values that were not sent one by one. */
export interface StatisticSet {
  readonly sampleCount: number;
  readonly sum: number;
  readonly minimum: number;
  readonly maximum: number;
}

/**
 * Adds a statistic set to `agg` in place. Its values are unknown, so it adds nothing to the
 * percentile sample unless they are all equal (minimum = maximum), the case where CloudWatch too
 * can compute percentiles from a statistic set.
 */
export function addStatisticSet(agg: Aggregate, set: StatisticSet, random: () => number = Math.random): void {
  if (set.minimum === set.maximum) {
    addRepeatedValue(agg, set.minimum, set.sampleCount, random);
    // Keep the sum that was sent (it may differ from minimum × count by rounding).
    agg.sum += set.sum - set.minimum * set.sampleCount;
    return;
  }
  agg.count += set.sampleCount;
  agg.sum += set.sum;
  if (set.minimum < agg.min) agg.min = set.minimum;
  if (set.maximum > agg.max) agg.max = set.maximum;
}

/**
 * Merges `from` into `into` in place. Samples stay bounded: past {@link MAX_SAMPLES_PER_AGGREGATE},
 * each side keeps a random subset sized by its share of the values, so the merged sample stands
 * for every bucket of a period, not only the first ones merged.
 */
export function mergeAggregate(into: Aggregate, from: Aggregate, random: () => number = Math.random): void {
  const before = into.count;
  into.count += from.count;
  into.sum += from.sum;
  into.min = Math.min(into.min, from.min);
  into.max = Math.max(into.max, from.max);
  if (into.samples.length + from.samples.length <= MAX_SAMPLES_PER_AGGREGATE) {
    into.samples.push(...from.samples);
    return;
  }
  const fromShare = Math.round((MAX_SAMPLES_PER_AGGREGATE * from.count) / (before + from.count));
  const takeFrom = Math.min(from.samples.length, Math.max(0, fromShare));
  const takeInto = Math.min(into.samples.length, MAX_SAMPLES_PER_AGGREGATE - takeFrom);
  const kept = [...randomSubset(into.samples, takeInto, random), ...randomSubset(from.samples, takeFrom, random)];
  into.samples.splice(0, into.samples.length, ...kept);
}

/** `k` elements of `items` chosen uniformly at random (a partial Fisher–Yates shuffle of a copy). */
function randomSubset(items: readonly number[], k: number, random: () => number): number[] {
  const copy = [...items];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, k);
}

/** The value of a plain statistic over `agg` (which must hold at least one value). */
export function statisticValue(agg: Aggregate, statistic: Statistic): number {
  switch (statistic) {
    case 'SampleCount':
      return agg.count;
    case 'Sum':
      return agg.sum;
    case 'Average':
      return agg.sum / agg.count;
    case 'Minimum':
      return agg.min;
    case 'Maximum':
      return agg.max;
  }
}

const PERCENTILE = /^p(\d{1,2}(\.\d{1,10})?|100)$/;

/**
 * The percentile (0–100) an `ExtendedStatistic` such as `p99` or `p99.9` names, or undefined
 * for any other form (trimmed means and the like are not computed locally).
 */
export function parsePercentile(extended: string): number | undefined {
  const m = PERCENTILE.exec(extended);
  if (!m) return undefined;
  const p = Number(extended.slice(1));
  return p >= 0 && p <= 100 ? p : undefined;
}

/** The `p`-th percentile (nearest rank) of the aggregate's sample. */
export function percentileValue(agg: Aggregate, p: number): number {
  const sorted = [...agg.samples].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}
