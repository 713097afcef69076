/**
 * The primary's side of `GET /metrics` with several worker processes: it asks every worker for its
 * registry (`metrics-collect`, answered by `metrics-report`, see cluster-protocol.ts) and merges the
 * answers. prom-client's own `AggregatorRegistry#clusterMetrics()` waited 5 s for every worker and
 * failed the whole scrape when one did not answer (a replacement still starting, one held by a long
 * synchronous run, one that died meanwhile); here one slow worker only counts with its last answer.
 */
import type { MetricJson } from './cluster-protocol.js';
import { aggregateMetrics, loadMetricsLibrary } from './metrics.js';

/**
 * How long a scrape waits for the workers' answers once the primary's metrics library is loaded. A
 * worker answers within milliseconds unless its event loop is held (a long synchronous run, a model
 * loading on it) or it is just starting; a scraper has its own time-out (Prometheus's default is
 * 10 s), which the whole scrape must stay well within. A worker that has not answered by then counts
 * with its last answer.
 */
export const WORKER_METRICS_WAIT_MS = 1000;

/** A worker the primary can ask for its metrics. */
export interface MetricsWorker {
  /** The cluster's id of the worker (`worker.id`). */
  readonly id: number;
  /** Sends `metrics-collect` `requestId`; false when it could not be sent (its channel is closed). */
  ask(requestId: number): boolean;
}

/** Starts the bound of one scrape: calls `expire` when it is over; returns what cancels it. */
export type StartBound = (expire: () => void) => () => void;

/** The bound of a real scrape: {@link WORKER_METRICS_WAIT_MS}, on a timer that keeps no process alive. */
export const realBound: StartBound = (expire) => {
  const timer = setTimeout(expire, WORKER_METRICS_WAIT_MS);
  timer.unref();
  return () => clearTimeout(timer);
};

/** One scrape in progress: the workers it counts, and those it still waits for. */
interface Scrape {
  readonly counted: number[];
  readonly waiting: Set<number>;
  finish(): void;
}

/**
 * Asks workers for their metrics and collects the answers, scrape by scrape. It keeps each
 * worker's newest answer: a worker that does not answer within the bound counts with it, so a
 * counter does not dip because one worker was slow (and a gauge shows its last value); one that
 * never answered is left out. A worker has at most one request outstanding: a scrape that finds one
 * sends no other (a worker whose event loop is held would otherwise answer a backlog of them once
 * free) and takes that worker's next answer, as does every scrape waiting for it. A worker that
 * exits is no longer asked, and its gauges go with it; its counters and histograms, as its last
 * answer gave them, are kept and added to every later scrape ({@link retiredMetrics}): prom-client's
 * aggregation counted the live workers only, so a worker that crashed (or was replaced) took its
 * share of `smkit_invocations_total` with it and the sum went backwards, which Prometheus's `rate()`
 * reads as a reset and counts the survivors' whole totals again as new.
 */
export class WorkerMetricsGatherer {
  #nextId = 1;
  /** Each worker's newest answer. */
  readonly #last = new Map<number, MetricJson[]>();
  /** The workers with a request not answered yet: only their reports are taken. */
  readonly #outstanding = new Set<number>();
  readonly #scrapes = new Map<number, Scrape>();
  /** What the workers that exited had counted: each cumulative series (counter, histogram) by metric, then by series. */
  readonly #retired = new Map<string, { metric: MetricJson; series: Map<string, MetricJson['values'][number]> }>();

  /**
   * @param startBound - starts the bound of one scrape
   * @param holdsModel - on a multi-model endpoint, whether a model is still held: the series of one
   *   unloaded are not kept for a worker that exits after the unload (its last answer may predate it)
   */
  constructor(
    private readonly startBound: StartBound = realBound,
    private readonly holdsModel?: (name: string) => boolean,
  ) {}

  /**
   * Asks `workers` for their metrics: resolves with one list per worker, in `workers`' order, once
   * each has answered or exited, or the bound has passed (counted from when `ready` settles, the
   * primary's own metrics library: a first scrape loads it as the workers load theirs).
   */
  gather(workers: readonly MetricsWorker[], ready: Promise<unknown> = Promise.resolve()): Promise<MetricJson[][]> {
    const requestId = this.#nextId++;
    return new Promise((resolve) => {
      let cancel: () => void = () => undefined;
      const scrape: Scrape = {
        counted: [],
        waiting: new Set(),
        finish: () => {
          if (!this.#scrapes.delete(requestId)) return;
          cancel();
          resolve(this.#result(scrape));
        },
      };
      for (const worker of workers) {
        if (!this.#outstanding.has(worker.id)) {
          // A closed channel: the worker is exiting, and counts with the counters of its last answer
          // (see #result) until it has exited and they are retired.
          if (!worker.ask(requestId)) continue;
          this.#outstanding.add(worker.id);
        }
        scrape.counted.push(worker.id);
        scrape.waiting.add(worker.id);
      }
      this.#scrapes.set(requestId, scrape);
      if (scrape.waiting.size === 0) return scrape.finish();
      const bound = () => {
        if (!this.#scrapes.has(requestId)) return;
        cancel = this.startBound(scrape.finish);
      };
      ready.then(bound, bound);
    });
  }

  /**
   * Worker `workerId` answered request `requestId` with `metrics`: taken only from a worker with a
   * request outstanding, and only when well formed (an id this gatherer gave, a list), since a bad
   * answer kept as the worker's last would fail or freeze every later scrape.
   */
  report(workerId: number, requestId: unknown, metrics: unknown): void {
    if (!(Number.isSafeInteger(requestId) && (requestId as number) > 0 && (requestId as number) < this.#nextId && Array.isArray(metrics))) return;
    if (!this.#outstanding.delete(workerId)) return;
    this.#last.set(workerId, metrics as MetricJson[]);
    // Whichever request it answers: a scrape that found one outstanding asked none of its own.
    for (const scrape of [...this.#scrapes.values()]) {
      if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.finish();
    }
  }

  /**
   * Worker `workerId` exited: no scrape waits for it any more, and none asks it; its last answer is
   * dropped here (an answer read later is not taken: no request of it is outstanding any more), but
   * its counters and histograms in it are kept, added to those of the workers that exited before,
   * and counted by every later scrape, so that no counter goes backwards when a worker is replaced.
   */
  forget(workerId: number): void {
    this.#outstanding.delete(workerId);
    const last = this.#last.get(workerId);
    if (last) this.#retire(last);
    this.#last.delete(workerId);
    for (const scrape of [...this.#scrapes.values()]) {
      if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.finish();
    }
  }

  /**
   * Drops what the workers that exited had counted for multi-model endpoint model `name`, which is
   * unloaded: the live workers drop its series then too (they would otherwise be kept for every
   * model ever loaded), and one loaded again starts from nothing, everywhere.
   */
  forgetModel(name: string): void {
    for (const [metricName, retired] of this.#retired) {
      for (const [key, value] of retired.series) if (value.labels.model === name) retired.series.delete(key);
      if (retired.series.size === 0) this.#retired.delete(metricName);
    }
  }

  /** Adds a worker's cumulative series (counters, histograms: summed across workers) to {@link retiredMetrics}. */
  #retire(metrics: readonly MetricJson[]): void {
    for (const metric of metrics) {
      if (!isCumulative(metric)) continue;
      for (const value of metric.values) {
        // A worker's own prom-client wrote it; still, nothing malformed may throw in the primary's exit handling.
        if (typeof value !== 'object' || value === null || typeof value.labels !== 'object' || value.labels === null || typeof value.value !== 'number') continue;
        const model = value.labels.model;
        if (this.holdsModel && typeof model === 'string' && model !== '' && !this.holdsModel(model)) continue;
        let retired = this.#retired.get(metric.name);
        if (!retired) this.#retired.set(metric.name, (retired = { metric, series: new Map() }));
        const key = seriesKey(value);
        const kept = retired.series.get(key);
        retired.series.set(key, kept ? { ...kept, value: kept.value + value.value } : { ...value });
      }
    }
  }

  /** What the workers that exited had counted, as one more worker's list (empty when none has). */
  get retiredMetrics(): MetricJson[] {
    return [...this.#retired.values()].map(({ metric, series }) => ({ name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values: [...series.values()] }));
  }

  /** Scrapes still waiting (for tests: none is left behind). */
  get pending(): number {
    return this.#scrapes.size;
  }

  /** Workers it holds anything for, a last answer or a request outstanding (for tests: none is kept for a worker gone). */
  get workersHeld(): number {
    return new Set([...this.#last.keys(), ...this.#outstanding]).size;
  }

  #result(scrape: Scrape): MetricJson[][] {
    const lists: MetricJson[][] = [];
    for (const id of scrape.counted) {
      const metrics = this.#last.get(id);
      if (metrics) lists.push(metrics);
    }
    // A worker not asked (its channel closed: it is exiting, its exit not seen yet) counts with the
    // counters and histograms of its last answer, which are retired once it has exited: left out
    // meanwhile, the totals dipped for a moment. Its gauges are no longer true.
    const counted = new Set(scrape.counted);
    for (const [id, metrics] of this.#last) if (!counted.has(id)) lists.push(metrics.filter(isCumulative));
    // Last, so that the metrics come in the order the live workers give them.
    if (this.#retired.size > 0) lists.push(this.retiredMetrics);
    return lists;
  }
}

/** Whether a metric only grows while its worker lives (a counter, a histogram: summed across workers), so it is kept once the worker has gone. */
function isCumulative(metric: MetricJson): boolean {
  return (metric.type === 'counter' || metric.type === 'histogram') && metric.aggregator === 'sum' && Array.isArray(metric.values);
}

/** A series' identity within its metric: its name (a histogram's `_bucket`, `_sum`, `_count`) and labels, in any order. */
function seriesKey(value: MetricJson['values'][number]): string {
  const labels = Object.entries(value.labels)
    .map(([name, label]) => [name, String(label)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
  return JSON.stringify([value.metricName ?? '', labels]);
}

/** What the primary routes to and asks of the cluster's metrics. */
export interface ClusterMetrics {
  /** The Prometheus text of every worker in `workers`, merged (prom-client's aggregation). */
  scrape(workers: readonly MetricsWorker[]): Promise<string>;
  /** A worker's `metrics-report` (its fields as received: they are checked). */
  report(workerId: number, requestId: unknown, metrics: unknown): void;
  /** A worker exited: its gauges go, its counters and histograms stay counted. */
  forget(workerId: number): void;
  /** Multi-model model `name` was unloaded: what exited workers had counted for it goes too. */
  forgetModel(name: string): void;
}

/** The primary's cluster metrics: gathers with `gatherer`, merges with prom-client (loaded at the first scrape). */
export function createClusterMetrics(gatherer = new WorkerMetricsGatherer()): ClusterMetrics {
  return {
    async scrape(workers) {
      const loaded = loadMetricsLibrary();
      const lists = await gatherer.gather(workers, loaded);
      return aggregateMetrics(lists);
    },
    report: (workerId, requestId, metrics) => gatherer.report(workerId, requestId, metrics),
    forget: (workerId) => gatherer.forget(workerId),
    forgetModel: (name) => gatherer.forgetModel(name),
  };
}
