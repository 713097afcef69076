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
 * exits is forgotten, as prom-client's aggregation counted the live workers only.
 */
export class WorkerMetricsGatherer {
  #nextId = 1;
  /** Each worker's newest answer. */
  readonly #last = new Map<number, MetricJson[]>();
  /** The workers with a request not answered yet: only their reports are taken. */
  readonly #outstanding = new Set<number>();
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
          // A closed channel: the worker is exiting, and is forgotten when it has.
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
   * Worker `workerId` exited: no scrape waits for it any more, and none counts it, since a scrape
   * counts each worker with its last answer, dropped here (an answer read later is not taken: no
   * request of it is outstanding any more).
   */
  forget(workerId: number): void {
    this.#outstanding.delete(workerId);
    this.#last.delete(workerId);
    for (const scrape of [...this.#scrapes.values()]) {
      if (scrape.waiting.delete(workerId) && scrape.waiting.size === 0) scrape.finish();
    }
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
    return lists;
  }
}

/** What the primary routes to and asks of the cluster's metrics. */
export interface ClusterMetrics {
  /** The Prometheus text of every worker in `workers`, merged (prom-client's aggregation). */
  scrape(workers: readonly MetricsWorker[]): Promise<string>;
  /** A worker's `metrics-report` (its fields as received: they are checked). */
  report(workerId: number, requestId: unknown, metrics: unknown): void;
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
