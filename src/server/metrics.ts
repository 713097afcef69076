import { createRequire } from 'node:module';
import { retryingLoad } from '../core/retrying-load.js';
import { LabelledCounter, LabelledHistogram } from './labelled-metrics.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import type { MetricJson } from './cluster-protocol.js';
import { WorkGatedLoopDelay } from './work-gated-loop-delay.js';

/** What the HTTP front records about invocations and serves at `GET /metrics`. */
export interface MetricsSink {
  /**
   * Records one invocation: the model it went to, the HTTP status answered, and its duration (none
   * for one answered before its body was complete: counted, not timed).
   */
  observe(model: string, status: number, seconds?: number): void;
  /** Where `smkit_pending_invocations` reads the invocations this process holds, at each scrape. */
  trackPending(read: () => number): void;
  /** Where `smkit_request_body_bytes` reads the bytes of request bodies this process holds, at each scrape. */
  trackBodyBytes(read: () => number): void;
  /**
   * Where `smkit_http_connections` and `smkit_connections_rebalanced_total` read this worker's open
   * connections and those it closed to rebalance them, at each scrape (labelled with `worker`).
   */
  trackConnections(worker: number, read: () => ConnectionCounts): void;
  /** Records one model run under dynamic batching: how many requests it took, how long they waited, how long it ran. */
  observeBatch(model: string, step: string, run: BatchRun): void;
  /** Counts one message of a bidirectional stream: `in` from the client, `out` to it. */
  countBidiMessage(direction: 'in' | 'out'): void;
  /** Records one bidirectional stream that ended, by its WebSocket close code (`other` for codes a client made up). */
  observeBidiClose(code: number | 'other'): void;
  /** Where `smkit_bidi_streams_open` reads the streams this process holds, at each scrape. */
  trackBidiStreams(read: () => number): void;
  /**
   * A multi-model endpoint's test of whether this process holds model `name` now: the series
   * labelled with a model it no longer holds are dropped, when another model is first recorded and
   * at each scrape, so that they do not grow with every model ever loaded.
   */
  trackModels(holds: (name: string) => boolean): void;
  /** The Prometheus text exposition, for `GET /metrics`. */
  render(): Promise<{ contentType: string; body: string }>;
  /**
   * This process's metrics as prom-client's `getMetricsAsJSON()` gives them, for the cluster
   * primary to merge: loads prom-client first if need be; without it (no file descriptor to load
   * it), or when a metric's collection throws, smkit's own instruments only. Never rejects.
   */
  collect(): Promise<MetricJson[]>;
  /** Loads the metrics library now (it is loaded lazily to keep it off the cold-start path). */
  ready(): Promise<void>;
  /** An invocation arrived: the event-loop delay gauges sample while there is work (see work-gated-loop-delay.ts). */
  markBusy(): void;
}

/** A worker's connections, for {@link MetricsSink.trackConnections}. */
export interface ConnectionCounts {
  /** Open now. */
  open: number;
  /** Closed so far to rebalance connections over the workers. */
  closed: number;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** Finer than {@link BUCKETS} below 10 ms, where batched runs and queue waits of small models fall. */
const BATCH_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * smkit's own instruments: one set per process, recorded without prom-client (which is loaded
 * later, off the cold-start path, and only writes them out).
 */
const instruments = {
  invocations: new LabelledCounter('smkit_invocations_total', 'Invocations answered, by model and HTTP status.', ['model', 'status']),
  seconds: new LabelledHistogram('smkit_invocation_seconds', 'Time from a complete request body to the answer.', ['model'], BUCKETS),
  batches: new LabelledHistogram(
    'smkit_batch_size',
    'Requests per model run under dynamic batching (SMKIT_BATCH_MAX_SIZE), by model and pipeline step.',
    ['model', 'step'],
    BATCH_BUCKETS,
  ),
  batchWaits: new LabelledHistogram(
    'smkit_batch_queue_seconds',
    'Time each request waited under dynamic batching, from its arrival at the batcher to the start of its model run, by model and pipeline step.',
    ['model', 'step'],
    BATCH_SECONDS_BUCKETS,
  ),
  bidiMessages: new LabelledCounter('smkit_bidi_messages_total', 'Messages on bidirectional streams (the WebSocket at /invocations-bidirectional-stream), by direction: in from the client, out to it.', ['direction']),
  bidiClosed: new LabelledCounter('smkit_bidi_streams_closed_total', 'Bidirectional streams ended, by WebSocket close code (1000 normal, 4000 + HTTP status for a failure, 1001 shutdown, 1006 dropped).', ['code']),
  batchRuns: new LabelledHistogram('smkit_batch_run_seconds', 'Duration of each model run under dynamic batching, by model and pipeline step.', ['model', 'step'], BATCH_SECONDS_BUCKETS),
};

/** smkit's instruments whose first label is `model`. */
const byModel = [instruments.invocations, instruments.seconds, instruments.batches, instruments.batchWaits, instruments.batchRuns];

/** The `model` label values recorded in {@link byModel}, when a multi-model endpoint tracks its models. */
const modelLabels = new Set<string>();

/** Whether this process holds a model now (set by a multi-model endpoint's HTTP front). */
let holdsModel: ((name: string) => boolean) | undefined;

/**
 * Drops the series of the models this process no longer holds: SageMaker loads and unloads models
 * as invocations name them (TargetModel), so series kept for every model ever loaded grew without
 * bound, in memory and in every scrape (some 1.3 KB of text per model). `""` (invocations of no
 * model held) stays.
 */
function dropUnloadedModels(): void {
  if (!holdsModel) return;
  for (const name of modelLabels) {
    if (name === '' || holdsModel(name)) continue;
    for (const metric of byModel) metric.forget(name);
    modelLabels.delete(name);
  }
}

/** Notes `model` as recorded in {@link byModel}: a model not seen before drops those of models no longer held. */
function noteModel(model: string): void {
  if (holdsModel === undefined || modelLabels.has(model)) return;
  modelLabels.add(model);
  // After its observation is recorded: a model unloaded while its request ran is dropped with it.
  dropUnloadedModels();
}

/** Reads the invocations this process holds now (set by the HTTP front). */
let readPending: (() => number) | undefined;

/** Reads the request body bytes this process holds now (set by the HTTP front). */
let readBodyBytes: (() => number) | undefined;

/** Reads the bidirectional streams this process holds now (set by the WebSocket front). */
let readBidiStreams: (() => number) | undefined;

/** This worker's index and where its connection counts are read (set by the HTTP front). */
let connectionSource: { worker: string; read: () => ConnectionCounts } | undefined;

/** What prom-client gives once loaded. */
interface Exposition {
  contentType: string;
  local(): Promise<string>;
  json(): Promise<MetricJson[]>;
}

let loading: Promise<Exposition> | undefined;

/** prom-client's precision for its event-loop delay monitor (its default). */
const LOOP_DELAY_RESOLUTION_MS = 10;

/** What `nodejs_eventloop_lag_*` read, once prom-client is loaded; sampled while this process has work. */
let loopDelay: WorkGatedLoopDelay | undefined;

/**
 * Runs prom-client's `collectDefaultMetrics` with `histogram` as the event-loop delay monitor it
 * makes: it has no option to take one, nor to leave its event-loop collector out, and a monitor of
 * its own runs for good (see work-gated-loop-delay.ts). A prom-client that stopped asking
 * `perf_hooks` for one would make its own monitor again, which costs idle CPU and nothing else.
 */
function withLoopDelayMonitor(histogram: WorkGatedLoopDelay, collectDefaultMetrics: () => void): void {
  const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as { monitorEventLoopDelay: unknown };
  const own = perfHooks.monitorEventLoopDelay;
  perfHooks.monitorEventLoopDelay = () => histogram;
  try {
    collectDefaultMetrics();
  } finally {
    perfHooks.monitorEventLoopDelay = own;
  }
}

/**
 * prom-client and what it loads at once, one package per turn of the event loop (see
 * gradual-require.ts): in one go, some 90 files held a busy worker's requests for 60 ms on a 2-vCPU
 * VM, shortly after its first healthy `/ping`.
 */
const PROM_CLIENT_PACKAGES = ['node:https', 'node:zlib', 'prom-client'] as const;

/**
 * prom-client's packages, one per turn of the event loop (see gradual-require.ts); not tried without
 * file descriptors to spare, nor kept failed (see retrying-load.ts: 503 `ERR_SERVER_BUSY` then).
 */
const loadPromClientGradually = retryingLoad('the metrics library', async (): Promise<typeof import('prom-client')> => {
  await (await import('../core/gradual-require.js')).requireGradually(PROM_CLIENT_PACKAGES, import.meta.url);
  // require, not import(): Node keeps a failed import() of a module failed for good (a file it
  // could not open while the process had no file descriptor left), where require tries again,
  // unless it was the package's package.json that could not be read (hence retryingLoad's check).
  return createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
});

/** `promise`, and `forget()` called once it fails: a cached load that failed is tried again on next use. */
function forgetOnFailure<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  promise.catch(forget);
  return promise;
}

/** Loads prom-client once per process and registers smkit's instruments in its default registry. */
function load(): Promise<Exposition> {
  return (loading ??= forgetOnFailure(loadPromClientGradually(), () => (loading = undefined)).then(({ Counter, Gauge, collectDefaultMetrics, register }) => {
    loopDelay = new WorkGatedLoopDelay({ resolutionMs: LOOP_DELAY_RESOLUTION_MS, busy: () => (readPending?.() ?? 0) > 0 || (readBidiStreams?.() ?? 0) > 0 });
    withLoopDelayMonitor(loopDelay, () => collectDefaultMetrics({ prefix: 'smkit_', eventLoopMonitoringPrecision: LOOP_DELAY_RESOLUTION_MS }));
    // prom-client's types name its own metric classes; its registry only reads the shape ours have.
    type PromMetric = Parameters<typeof register.registerMetric>[0];
    for (const metric of Object.values(instruments)) register.registerMetric(metric as unknown as PromMetric);
    // Read when scraped, not kept up to date per request; the cluster primary sums the workers'.
    new Gauge({
      name: 'smkit_pending_invocations',
      help: 'Invocations held now: receiving the body, waiting for the model (queued or batching), running or answering.',
      collect() {
        this.set(readPending?.() ?? 0);
      },
    });
    new Gauge({
      name: 'smkit_request_body_bytes',
      help: 'Bytes of request bodies held now (arriving, waiting for the model or being answered), and of bidirectional stream messages not yet taken by the model: SMKIT_BODY_MEMORY_MB bounds them per worker.',
      collect() {
        this.set(readBodyBytes?.() ?? 0);
      },
    });
    new Gauge({
      name: 'smkit_bidi_streams_open',
      help: 'Bidirectional streams open now.',
      collect() {
        this.set(readBidiStreams?.() ?? 0);
      },
    });
    // One series per worker: the primary sums equal label sets, so the workers' counts stay apart.
    new Gauge({
      name: 'smkit_http_connections',
      help: 'HTTP connections open now, by worker.',
      labelNames: ['worker'],
      collect() {
        this.reset();
        if (connectionSource) this.set({ worker: connectionSource.worker }, connectionSource.read().open);
      },
    });
    new Counter({
      name: 'smkit_connections_rebalanced_total',
      help: 'Kept-alive connections a worker closed (Connection: close) because it held more than its share (SMKIT_CONNECTION_REBALANCING), by worker.',
      labelNames: ['worker'],
      collect() {
        this.reset();
        if (connectionSource) this.inc({ worker: connectionSource.worker }, connectionSource.read().closed);
      },
    });
    // prom-client's types give `type` as a numeric enum; it is the metric type's name at run time.
    const json = () => register.getMetricsAsJSON() as Promise<unknown> as Promise<MetricJson[]>;
    return { contentType: register.contentType, local: () => register.metrics(), json };
  }));
}

/**
 * Prometheus metrics of this process (prom-client's default registry; `collect()` gives them to the
 * cluster primary, which merges every worker's). `render` defaults to this process alone; `smkit
 * serve` passes one that asks the primary for the whole cluster.
 *
 * Observations are recorded from the start, in smkit's own instruments; prom-client, which writes
 * them out, is imported on first use (or `ready()`), not at start-up. A cluster worker asked for
 * its metrics before then loads it and answers the request.
 */
export function createMetrics(render?: () => Promise<string>): MetricsSink {
  let exposition: Exposition | undefined;
  const ready = () =>
    load().then((e) => {
      exposition = e;
    });
  return {
    observe(model, status, duration) {
      instruments.invocations.inc([model, String(status)]);
      if (duration !== undefined) instruments.seconds.observe([model], duration);
      if (holdsModel) noteModel(model);
    },
    trackPending(read) {
      readPending = read;
    },
    trackBodyBytes(read) {
      readBodyBytes = read;
    },
    trackConnections(worker, read) {
      connectionSource = { worker: String(worker), read };
    },
    observeBatch(model, step, run) {
      const labels = [model, step];
      instruments.batches.observe(labels, run.size);
      instruments.batchRuns.observe(labels, run.runSeconds);
      instruments.batchWaits.observeEach(labels, run.waitSeconds);
      if (holdsModel) noteModel(model);
    },
    countBidiMessage(direction) {
      instruments.bidiMessages.inc([direction]);
      if (direction === 'in') loopDelay?.markBusy();
    },
    observeBidiClose(code) {
      instruments.bidiClosed.inc([String(code)]);
    },
    trackBidiStreams(read) {
      readBidiStreams = read;
    },
    trackModels(holds) {
      holdsModel = holds;
    },
    async render() {
      await ready();
      dropUnloadedModels();
      return { contentType: exposition!.contentType, body: render ? await render() : await exposition!.local() };
    },
    async collect() {
      dropUnloadedModels();
      const own = () => Promise.all(Object.values(instruments).map((metric) => metric.get()));
      try {
        await ready();
      } catch {
        // prom-client could not be loaded (no file descriptor left): what this process recorded itself, rather than no answer.
        return own();
      }
      // A metric whose collection throws (a reader of a gauge, a default metric reading /proc) rejects
      // the whole list: then too smkit's own instruments, this answer without prom-client's gauges and
      // default metrics, rather than leave the primary's request unanswered.
      return exposition!.json().catch(own);
    },
    ready,
    markBusy() {
      loopDelay?.markBusy();
    },
  };
}

/** Loads prom-client in the cluster primary (once; tried again after a failure), for {@link aggregateMetrics}. */
export function loadMetricsLibrary(): Promise<unknown> {
  // Gradually, as in the workers: on Node 20 this primary hands every new connection to a worker.
  return loadPromClientGradually();
}

/**
 * The cluster primary's side: the Prometheus text of the workers' registries (one
 * `getMetricsAsJSON()` list each), merged by each metric's `aggregator` (summed, mostly). Through
 * prom-client's static `AggregatorRegistry.aggregate`: constructing an `AggregatorRegistry` would
 * install prom-client's own cluster listener in the primary, which throws at a message of its type
 * that answers no request of its own.
 */
export async function aggregateMetrics(lists: readonly MetricJson[][]): Promise<string> {
  const { AggregatorRegistry } = await loadPromClientGradually();
  // prom-client's clusterMetrics() answered '' with no worker (a registry without metrics writes '\n').
  return lists.length === 0 ? '' : AggregatorRegistry.aggregate([...lists]).metrics();
}
