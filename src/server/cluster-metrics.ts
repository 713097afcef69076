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

const realBound: StartBound = (expire) => {
  const timer = setTimeout(expire, WORKER_METRICS_WAIT_MS);
  timer.unref();
  return () => clearTimeout(timer);
};

/** One scrape in progress: the workers it still waits for, and the answers it has. */
interface Scrape {
  readonly asked: number[];
  readonly waiting: Set<number>;
  readonly answers: Map<number, MetricJson[]>;
  finish(): void;
}

/**
 * Asks workers for their metrics and collects the answers, scrape by scrape (each under its own
 * request id, so concurrent scrapes and answers that come late do not mix). It keeps each worker's
 * newest answer: a worker that does not answer within the bound counts with it, so a counter does
 * not dip because one worker was slow; one that never answered is left out. A worker that exits is
 * forgotten, as prom-client's aggregation counted the live workers only.
 */
export class WorkerMetricsGatherer {
  #nextId = 1;
  /** Each worker's newest answer, and the request it answered. */
  readonly #last = new Map<number, { requestId: number; metrics: MetricJson[] }>();
  /** Workers asked and not forgotten: only their reports are taken. */
  readonly #known = new Set<number>();
  readonly #scrapes = new Map<number, Scrape>();

  constructor(private readonly startBound: StartBound = realBound) {}

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
        asked: [],
        waiting: new Set(),
        answers: new Map(),
        finish: () => {
          if (!this.#scrapes.delete(requestId)) return;
          cancel();
          resolve(this.#result(scrape));
        },
      };
      for (const worker of workers) {
        // A closed channel: the worker is exiting, and is forgotten when it has.
        if (!worker.ask(requestId)) continue;
        this.#known.add(worker.id);
        scrape.asked.push(worker.id);
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

  /** Worker `workerId` answered request `requestId` with `metrics`. */
  report(workerId: number, requestId: number, metrics: MetricJson[]): void {
    if (!this.#known.has(workerId)) return;
    const last = this.#last.get(workerId);
    // Answers of one worker come in order; an older one must still not replace a newer.
    if (!last || last.requestId < requestId) this.#last.set(workerId, { requestId, metrics });
    const scrape = this.#scrapes.get(requestId);
    if (!scrape?.waiting.delete(workerId)) return;
    scrape.answers.set(workerId, metrics);
    if (scrape.waiting.size === 0) scrape.finish();
  }

  /** Worker `workerId` exited: no scrape waits for it or counts it any more. */
  forget(workerId: number): void {
    this.#known.delete(workerId);
    this.#last.delete(workerId);
    for (const scrape of [...this.#scrapes.values()]) {
      scrape.answers.delete(workerId);
      if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.finish();
    }
  }

  /** Scrapes still waiting (for tests: none is left behind). */
  get pending(): number {
    return this.#scrapes.size;
  }

  #result(scrape: Scrape): MetricJson[][] {
    const lists: MetricJson[][] = [];
    for (const id of scrape.asked) {
      if (!this.#known.has(id)) continue;
      const metrics = scrape.answers.get(id) ?? this.#last.get(id)?.metrics;
      if (metrics) lists.push(metrics);
    }
    return lists;
  }
}

/** What the primary routes to and asks of the cluster's metrics. */
export interface ClusterMetrics {
  /** The Prometheus text of every worker in `workers`, merged (prom-client's aggregation). */
  scrape(workers: readonly MetricsWorker[]): Promise<string>;
  /** A worker's `metrics-report`. */
  report(workerId: number, requestId: number, metrics: MetricJson[]): void;
  /** A worker exited. */
  forget(workerId: number): void;
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
  };
}
