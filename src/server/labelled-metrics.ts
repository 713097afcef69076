/**
 * Counters and histograms cheap enough to record on every request: an observation is a few map
 * lookups and additions. prom-client's own instruments validate and hash their labels on every
 * call, which cost about 5% of a one-row invocation. These keep prom-client's metric shape
 * (`name`, `help`, `type`, `aggregator`, `get()`), so prom-client's registry still writes them out
 * and its cluster aggregation still sums them across workers.
 */

/** One value of a metric, as prom-client's registry reads it from `get()`. */
export interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's registry reads from a metric. */
export interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

/** A node of the label tree: one level per label name, the entry at the leaves. */
interface LabelNode<T> {
  readonly children: Map<string, LabelNode<T>>;
  entry?: T;
}

/** Entries keyed by their label values, without building a key string per observation. */
class LabelTree<T> {
  readonly #root: LabelNode<T> = { children: new Map() };
  readonly #entries: { labels: readonly string[]; entry: T }[] = [];

  constructor(private readonly create: () => T) {}

  /** The entry of these label values (one per label name, in order), created on first use. */
  get(values: readonly string[]): T {
    let node = this.#root;
    for (const value of values) {
      let next = node.children.get(value);
      if (!next) node.children.set(value, (next = { children: new Map() }));
      node = next;
    }
    if (!node.entry) {
      node.entry = this.create();
      this.#entries.push({ labels: [...values], entry: node.entry });
    }
    return node.entry;
  }

  /** Every entry, in the order first seen. */
  all(): readonly { labels: readonly string[]; entry: T }[] {
    return this.#entries;
  }

  clear(): void {
    this.#root.children.clear();
    delete this.#root.entry;
    this.#entries.length = 0;
  }

  /** Drops every entry whose first label value is `value`. */
  deleteFirst(value: string): void {
    if (!this.#root.children.delete(value)) return;
    let kept = 0;
    for (const e of this.#entries) if (e.labels[0] !== value) this.#entries[kept++] = e;
    this.#entries.length = kept;
  }
}

abstract class LabelledMetric<T> {
  readonly aggregator = 'sum';
  protected readonly tree: LabelTree<T>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    create: () => T,
  ) {
    this.tree = new LabelTree(create);
  }

  protected labelsOf(values: readonly string[]): Record<string, string> {
    const labels: Record<string, string> = {};
    this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
    return labels;
  }

  /** Forgets every observation (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.tree.clear();
  }

  /** Forgets the series whose first label has value `value` (prom-client's `remove()`, by its first label). */
  forget(value: string): void {
    this.tree.deleteFirst(value);
  }
}

/** A Prometheus counter with labels. */
export class LabelledCounter extends LabelledMetric<{ value: number }> {
  readonly type = 'counter';

  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames, () => ({ value: 0 }));
  }

  /** Adds one (or `by`) for these label values, one per label name, in order. */
  inc(values: readonly string[], by = 1): void {
    this.tree.get(values).value += by;
  }

  /** The counts, as prom-client's registry reads them. */
  async get(): Promise<MetricData> {
    const values = this.tree.all().map(({ labels, entry }) => ({ labels: this.labelsOf(labels), value: entry.value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

interface HistogramEntry {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A Prometheus histogram with labels and fixed bucket bounds. */
export class LabelledHistogram extends LabelledMetric<HistogramEntry> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames, () => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 }));
  }

  /** Records `value` for these label values, one per label name, in order. */
  observe(values: readonly string[], value: number): void {
    this.#record(this.tree.get(values), value);
  }

  /** Records each of `observed` for these label values (one label lookup for them all). */
  observeEach(values: readonly string[], observed: readonly number[]): void {
    const entry = this.tree.get(values);
    for (const value of observed) this.#record(entry, value);
  }

  #record(entry: HistogramEntry, value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    entry.counts[i]! += 1;
    entry.sum += value;
    entry.count += 1;
  }

  /** Cumulative buckets, `+Inf`, sum and count per label set, as prom-client's histogram writes them. */
  async get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    for (const { labels: labelValues, entry } of this.tree.all()) {
      const labels = this.labelsOf(labelValues);
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += entry.counts[i]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: entry.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: entry.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: entry.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
