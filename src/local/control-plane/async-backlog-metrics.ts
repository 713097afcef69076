import { SAGEMAKER_NAMESPACE, type MetricStore } from './cloudwatch/metric-store.js';

/** What {@link publishAsyncBacklog} reads of one endpoint. */
export interface AsyncBacklogSource {
  readonly name: string;
  /** Undefined for a real-time endpoint. */
  readonly asyncBacklog: { backlog: number; instances: number; oldestWaitSeconds: number } | undefined;
}

/** API seconds between two samples of the backlog metrics. */
export const BACKLOG_SAMPLE_SECONDS = 10;

/**
 * Samples every asynchronous endpoint's queue into the metrics SageMaker publishes for it
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html), dimension
 * `EndpointName`: `ApproximateBacklogSize` (requests waiting or running),
 * `ApproximateBacklogSizePerInstance` (that over the instances in service; the whole backlog at 0
 * instances, so target tracking starts a scaled-to-zero endpoint once the backlog exceeds its target,
 * as https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html describes),
 * `ApproximateAgeOfOldestRequest` (seconds) and `HasBacklogWithoutCapacity` (1 while requests wait
 * and no instance serves). Alarms, `GetMetricStatistics` and target tracking read them like any other.
 */
export function publishAsyncBacklog(endpoints: Iterable<AsyncBacklogSource>, metrics: MetricStore): void {
  for (const endpoint of endpoints) {
    const b = endpoint.asyncBacklog;
    if (!b) continue;
    const dimensions = [{ Name: 'EndpointName', Value: endpoint.name }];
    const put = (metricName: string, value: number, unit: string): void => metrics.put({ namespace: SAGEMAKER_NAMESPACE, metricName, dimensions }, value, unit);
    put('ApproximateBacklogSize', b.backlog, 'Count');
    put('ApproximateBacklogSizePerInstance', b.instances > 0 ? b.backlog / b.instances : b.backlog, 'Count');
    put('ApproximateAgeOfOldestRequest', b.oldestWaitSeconds, 'Seconds');
    put('HasBacklogWithoutCapacity', b.backlog > 0 && b.instances === 0 ? 1 : 0, 'Count');
  }
}
