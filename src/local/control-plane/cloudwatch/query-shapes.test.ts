import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coerceQueryInput } from './query-shapes.js';

test('an empty nested list ("Path=", botocore\'s form of []) is read as [] at every list path of the model, and a string member that is "" stays ""', () => {
  const alarm = coerceQueryInput('PutMetricAlarm', {
    AlarmName: 'a',
    Unit: '',
    Metrics: [{ Id: 'm', Label: '', MetricStat: { Metric: { Namespace: 'n', MetricName: 'm', Dimensions: '' }, Stat: 'Sum', Unit: '' } }],
  });
  assert.deepEqual(alarm, {
    AlarmName: 'a',
    Unit: '',
    Metrics: [{ Id: 'm', Label: '', MetricStat: { Metric: { Namespace: 'n', MetricName: 'm', Dimensions: [] }, Stat: 'Sum', Unit: '' } }],
  });
  const put = coerceQueryInput('PutMetricData', { Namespace: 'n', MetricData: [{ MetricName: 'm', Unit: '', Dimensions: [{ Name: 'd', Value: '' }], Values: '', Counts: '' }] });
  assert.deepEqual(put, { Namespace: 'n', MetricData: [{ MetricName: 'm', Unit: '', Dimensions: [{ Name: 'd', Value: '' }], Values: [], Counts: [] }] });
});
