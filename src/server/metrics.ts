import { AggregatorRegistry, collectDefaultMetrics, Counter, Histogram, register } from 'prom-client';

/** What the HTTP front records about invocations and serves at `GET /metrics`. */
export interface MetricsSink {
  /** Records one invocation: the model it went to, the HTTP status answered, and its duration. */
  observe(model: string, status: number, seconds: number): void;
  /** Records one model run under dynamic batching: how many requests it took. */
  observeBatch(model: string, step: string, size: number): void;
  /** The Prometheus text exposition, for `GET /metrics`. */
  render(): Promise<{ contentType: string; body: string }>;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
let created: { invocations: Counter<'model' | 'status'>; seconds: Histogram<'model'>; batches: Histogram<'model' | 'step'> } | undefined;

/**
 * Prometheus metrics of this process (prom-client's default registry, so the cluster primary can
 * aggregate every worker's). `render` defaults to this process alone; `smkit serve` passes one that
 * asks the primary for the whole cluster.
 */
export function createMetrics(render?: () => Promise<string>): MetricsSink {
  if (!created) {
    // In a cluster worker this installs prom-client's responder to the primary's aggregation requests.
    new AggregatorRegistry();
    collectDefaultMetrics({ prefix: 'smkit_' });
    created = {
      invocations: new Counter({ name: 'smkit_invocations_total', help: 'Invocations answered, by model and HTTP status.', labelNames: ['model', 'status'] }),
      seconds: new Histogram({ name: 'smkit_invocation_seconds', help: 'Time from a complete request body to the answer.', labelNames: ['model'], buckets: BUCKETS }),
      batches: new Histogram({
        name: 'smkit_batch_size',
        help: 'Requests per model run under dynamic batching (SMKIT_BATCH_MAX_SIZE), by model and pipeline step.',
        labelNames: ['model', 'step'],
        buckets: BATCH_BUCKETS,
      }),
    };
  }
  const { invocations, seconds, batches } = created;
  return {
    observe(model, status, duration) {
      invocations.inc({ model, status: String(status) });
      seconds.observe({ model }, duration);
    },
    observeBatch(model, step, size) {
      batches.observe({ model, step }, size);
    },
    async render() {
      return { contentType: register.contentType, body: render ? await render() : await register.metrics() };
    },
  };
}

/** The primary's side: collects every worker's metrics (prom-client's cluster protocol). */
export function createClusterMetricsAggregator(): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  return () => aggregator.clusterMetrics();
}
