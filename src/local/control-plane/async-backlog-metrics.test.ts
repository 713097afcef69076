import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricClock } from './cloudwatch/metric-clock.js';
import { MetricStore, SAGEMAKER_NAMESPACE } from './cloudwatch/metric-store.js';
import { publishAsyncBacklog, type AsyncBacklogSource } from './async-backlog-metrics.js';

test('the backlog metrics: size, size per instance in service, age of the oldest request, and backlog without capacity; none for a real-time endpoint', () => {
  const now = 1_700_000_000_000;
  const clock = createMetricClock(60, () => now);
  const metrics = new MetricStore(clock);
  const sources: AsyncBacklogSource[] = [
    { name: 'busy', asyncBacklog: { backlog: 6, instances: 2, oldestWaitSeconds: 4.5 } },
    { name: 'empty-fleet', asyncBacklog: { backlog: 3, instances: 0, oldestWaitSeconds: 9 } },
    { name: 'realtime', asyncBacklog: undefined },
  ];
  publishAsyncBacklog(sources, metrics);
  const latest = (endpoint: string, metricName: string): number | undefined => {
    const index = metrics.periodIndex(now, 60);
    const [p] = metrics.periods({ namespace: SAGEMAKER_NAMESPACE, metricName, dimensions: [{ Name: 'EndpointName', Value: endpoint }] }, index, index + 1, 60);
    return p?.aggregate.max;
  };
  assert.deepEqual(
    ['ApproximateBacklogSize', 'ApproximateBacklogSizePerInstance', 'ApproximateAgeOfOldestRequest', 'HasBacklogWithoutCapacity'].map((m) => [latest('busy', m), latest('empty-fleet', m), latest('realtime', m)]),
    [
      [6, 3, undefined],
      [3, 3, undefined],
      [4.5, 9, undefined],
      [0, 1, undefined],
    ],
  );
});
