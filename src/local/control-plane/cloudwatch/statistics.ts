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

/** Merges `from` into `into` in place (samples stay bounded). */
export function mergeAggregate(into: Aggregate, from: Aggregate): void {
  into.count += from.count;
  into.sum += from.sum;
  into.min = Math.min(into.min, from.min);
  into.max = Math.max(into.max, from.max);
  for (const s of from.samples) {
    if (into.samples.length < MAX_SAMPLES_PER_AGGREGATE) into.samples.push(s);
  }
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
