import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchService } from './cloudwatch-service.js';
import { CloudWatchError } from './errors.js';
import { rejectsWithCloudWatchError } from '../../../../test/helpers/cloudwatch-errors.js';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';
import { MAX_SAMPLES_PER_AGGREGATE } from './statistics.js';

// One second past a minute boundary.
const NOW = 1_000_000 * 60_000 + 1000;

function setup() {
  const t = { now: NOW };
  const clock = createMetricClock(60, () => t.now);
  const metrics = new MetricStore(clock);
  const cw = new CloudWatchService({ metrics, clock });
  return { t, metrics, cw };
}

const rejects = rejectsWithCloudWatchError;

const invalid = (cw: CloudWatchService, input: Record<string, unknown>, message: string | RegExp) => rejects(cw.call('PutMetricData', input), 'InvalidParameterValueException', 'InvalidParameterValue', message);
const combination = (cw: CloudWatchService, input: Record<string, unknown>, message: string | RegExp) =>
  rejects(cw.call('PutMetricData', input), 'InvalidParameterCombinationException', 'InvalidParameterCombination', message);
const missing = (cw: CloudWatchService, input: Record<string, unknown>, message: string | RegExp) => rejects(cw.call('PutMetricData', input), 'MissingRequiredParameterException', 'MissingParameter', message);
const validation = (cw: CloudWatchService, input: Record<string, unknown>, message: string | RegExp) => rejects(cw.call('PutMetricData', input), 'ValidationException', 'ValidationError', message);

const one = (datum: Record<string, unknown>) => ({ Namespace: 'MyApp', MetricData: [{ MetricName: 'Quality', ...datum }] });

async function stats(cw: CloudWatchService, metricName = 'Quality', extra: Record<string, unknown> = {}) {
  const out = await cw.call('GetMetricStatistics', {
    Namespace: 'MyApp',
    MetricName: metricName,
    StartTime: (NOW - 3_600_000) / 1000,
    EndTime: (NOW + 3_600_000) / 1000,
    Period: 3600,
    Statistics: ['SampleCount', 'Sum', 'Minimum', 'Maximum'],
    ...extra,
  });
  return out.Datapoints as Array<Record<string, unknown>>;
}

test('Value, Values with Counts and StatisticValues land in the one series GetMetricStatistics and ListMetrics read', async () => {
  const { cw } = setup();
  await cw.call('PutMetricData', {
    Namespace: 'MyApp',
    MetricData: [
      { MetricName: 'Quality', Value: 0.5, Unit: 'Percent', Dimensions: [{ Name: 'Model', Value: 'b' }] },
      { MetricName: 'Quality', Values: [1, 2], Counts: [3, 1], Unit: 'Percent', Dimensions: [{ Name: 'Model', Value: 'b' }] },
      { MetricName: 'Quality', StatisticValues: { SampleCount: 4, Sum: 10, Minimum: -1, Maximum: 7 }, Unit: 'Percent', Dimensions: [{ Name: 'Model', Value: 'b' }] },
      { MetricName: 'Latency', Values: [5, 6] },
    ],
  });
  const points = await stats(cw, 'Quality', { Dimensions: [{ Name: 'Model', Value: 'b' }] });
  assert.equal(points.length, 1);
  assert.deepEqual({ ...points[0], Timestamp: undefined }, { Timestamp: undefined, SampleCount: 9, Sum: 0.5 + 5 + 10, Minimum: -1, Maximum: 7, Unit: 'Percent' });
  const latency = await stats(cw, 'Latency');
  assert.deepEqual([latency[0]!.SampleCount, latency[0]!.Sum, latency[0]!.Unit], [2, 11, 'None'], 'Counts default to 1, Unit to None');
  const listed = (await cw.call('ListMetrics', { Namespace: 'MyApp' })).Metrics as Array<Record<string, unknown>>;
  assert.deepEqual(listed.map((m) => m.MetricName).sort(), ['Latency', 'Quality']);
});

test('query-protocol strings (every value as text) are read as numbers and timestamps', async () => {
  const { cw } = setup();
  await cw.call('PutMetricData', {
    Namespace: 'MyApp',
    MetricData: [
      { MetricName: 'Quality', Value: '2.5', Timestamp: new Date(NOW - 60_000).toISOString(), StorageResolution: '1' },
      { MetricName: 'Quality', Values: ['1', '3'], Counts: ['2', '2'] },
      { MetricName: 'Quality', StatisticValues: { SampleCount: '2', Sum: '4', Minimum: '2', Maximum: '2' } },
    ],
  });
  const [p] = await stats(cw);
  assert.deepEqual([p!.SampleCount, p!.Sum, p!.Minimum, p!.Maximum], [7, 2.5 + 8 + 4, 1, 3]);
});

test('Namespace: required, 1 to 255 characters, not AWS/, ASCII without control characters', async () => {
  const { cw } = setup();
  await missing(cw, { MetricData: [{ MetricName: 'm', Value: 1 }] }, 'The parameter Namespace is required.');
  await invalid(cw, { Namespace: 'AWS/SageMaker', MetricData: [{ MetricName: 'm', Value: 1 }] }, 'The value AWS/SageMaker for parameter Namespace is invalid.');
  await invalid(cw, { Namespace: 'a\u0001b', MetricData: [{ MetricName: 'm', Value: 1 }] }, 'The value a\u0001b for parameter Namespace is invalid.');
  await invalid(cw, { Namespace: 'café', MetricData: [{ MetricName: 'm', Value: 1 }] }, /^The value café for parameter Namespace is invalid\.$/);
  await validation(cw, { Namespace: 'n'.repeat(256), MetricData: [{ MetricName: 'm', Value: 1 }] }, /^1 validation error detected: Value 'n{256}' at 'namespace' failed to satisfy constraint: Member must have length less than or equal to 255$/);
  await validation(cw, { Namespace: ':x', MetricData: [{ MetricName: 'm', Value: 1 }] }, /at 'namespace' failed to satisfy constraint: Member must satisfy regular expression pattern: \[\^:\]\.\*/);
  await cw.call('PutMetricData', { Namespace: 'n'.repeat(255), MetricData: [{ MetricName: 'm', Value: 1 }] });
  await cw.call('PutMetricData', { Namespace: 'AWSome/ok', MetricData: [{ MetricName: 'm', Value: 1 }] });
});

test('MetricData: required, at most 1000 entries (EntityMetricData included), MetricName required and at most 255', async () => {
  const { cw, metrics } = setup();
  await missing(cw, { Namespace: 'MyApp' }, 'The parameter MetricData is required.');
  await missing(cw, { Namespace: 'MyApp', MetricData: [] }, 'The parameter MetricData is required.');
  const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ MetricName: `m${i}`, Value: i }));
  await invalid(cw, { Namespace: 'MyApp', MetricData: entries(1001) }, 'The collection MetricData must not have a size greater than 1000.');
  await invalid(cw, { Namespace: 'MyApp', MetricData: entries(999), EntityMetricData: [{ Entity: {}, MetricData: entries(2) }] }, 'The collection MetricData must not have a size greater than 1000.');
  await invalid(cw, { Namespace: 'MyApp', EntityMetricData: [{ MetricData: entries(1) }, { MetricData: entries(1) }, { MetricData: entries(1) }] }, 'The collection EntityMetricData must not have a size greater than 2.');
  assert.equal(metrics.list().length, 0, 'nothing of a refused request is stored');
  await cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: entries(1000) });
  assert.equal(metrics.list({ namespace: 'MyApp' }).length, 1000);
  await cw.call('PutMetricData', { Namespace: 'Other', EntityMetricData: [{ Entity: { KeyAttributes: { Type: 'Service' } }, MetricData: entries(2) }] });
  assert.equal(metrics.list({ namespace: 'Other' }).length, 2);
  await missing(cw, { Namespace: 'MyApp', MetricData: [{ MetricName: 'a', Value: 1 }, { Value: 1 }] }, 'The parameter MetricData.member.2.MetricName is required.');
  await validation(cw, one({ MetricName: 'x'.repeat(256), Value: 1 }), /at 'metricData\.1\.member\.metricName' failed to satisfy constraint: Member must have length less than or equal to 255/);
  await validation(cw, { Namespace: 'MyApp', MetricData: { MetricName: 'm' } }, /at 'metricData' failed to satisfy constraint: Member must be a list/);
});

test('Dimensions: at most 30, Name and Value required, lengths, ASCII, no leading colon, unique names', async () => {
  const { cw } = setup();
  const dims = (n: number) => Array.from({ length: n }, (_, i) => ({ Name: `d${i}`, Value: 'v' }));
  await invalid(cw, one({ Value: 1, Dimensions: dims(31) }), 'The collection MetricData.member.1.Dimensions must not have a size greater than 30.');
  await cw.call('PutMetricData', one({ Value: 1, Dimensions: dims(30) }));
  await missing(cw, one({ Value: 1, Dimensions: [{ Value: 'v' }] }), 'The parameter MetricData.member.1.Dimensions.member.1.Name is required.');
  await missing(cw, one({ Value: 1, Dimensions: [{ Name: 'n' }] }), 'The parameter MetricData.member.1.Dimensions.member.1.Value is required.');
  await validation(cw, one({ Value: 1, Dimensions: [{ Name: 'n', Value: 'v'.repeat(1025) }] }), /at 'metricData\.1\.member\.dimensions\.1\.member\.value' failed to satisfy constraint: Member must have length less than or equal to 1024/);
  await validation(cw, one({ Value: 1, Dimensions: [{ Name: 'n'.repeat(256), Value: 'v' }] }), /at 'metricData\.1\.member\.dimensions\.1\.member\.name'/);
  await invalid(cw, one({ Value: 1, Dimensions: [{ Name: ':n', Value: 'v' }] }), 'The value :n for parameter MetricData.member.1.Dimensions.member.1.Name is invalid.');
  await invalid(cw, one({ Value: 1, Dimensions: [{ Name: 'n', Value: '   ' }] }), `The value ${'   '} for parameter MetricData.member.1.Dimensions.member.1.Value is invalid.`);
  await invalid(cw, one({ Value: 1, Dimensions: [{ Name: 'n', Value: 'a' }, { Name: 'n', Value: 'b' }] }), /^The collection MetricData\.member\.1\.Dimensions must not contain duplicate dimension names/);
});

test('Timestamp: within two weeks back and two hours ahead of now', async () => {
  const { cw } = setup();
  const week2 = 14 * 24 * 3600 * 1000;
  await invalid(cw, one({ Value: 1, Timestamp: (NOW - week2 - 1000) / 1000 }), 'The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks.');
  await invalid(cw, one({ Value: 1, Timestamp: (NOW + 2 * 3600_000 + 1000) / 1000 }), 'The parameter MetricData.member.1.Timestamp must specify a time no more than two hours in the future.');
  await invalid(cw, one({ Value: 1, Timestamp: 'yesterday' }), 'The value yesterday for parameter MetricData.member.1.Timestamp is invalid.');
  // A value quoted in part keeps whole characters: cut inside a surrogate pair, JSON would carry a lone \ud83d that boto3 cannot print.
  await invalid(cw, one({ Value: 1, Timestamp: `a${'😀'.repeat(40)}` }), `The value a${'😀'.repeat(31)} for parameter MetricData.member.1.Timestamp is invalid.`);
  await invalid(cw, one({ Value: `a${'😀'.repeat(40)}` }), new RegExp(`^The value a(?:😀){31} for parameter MetricData\\.member\\.1\\.Value is invalid`));
  await cw.call('PutMetricData', one({ Value: 1, Timestamp: (NOW - week2 + 60_000) / 1000 }));
  await cw.call('PutMetricData', one({ Value: 1, Timestamp: new Date(NOW + 2 * 3600_000 - 60_000) }));
});

test('a timestamp as text (the query protocol sends ISO 8601) is read as ISO 8601 only, UTC unless it names an offset: loose forms Date.parse takes (local time, a spelled-out date, epoch seconds as text) are a bad value', async () => {
  const { cw } = setup();
  const iso = new Date(NOW - 60_000).toISOString(); // 1971-11-26T10:39:01.000Z
  const loose = [iso.slice(0, 16).replace('T', ' '), new Date(NOW - 60_000).toDateString(), String((NOW - 60_000) / 1000), '12'];
  for (const text of loose) await invalid(cw, one({ Value: 1, Timestamp: text }), `The value ${text} for parameter MetricData.member.1.Timestamp is invalid.`);
  for (const text of [iso, iso.slice(0, 19), iso.replace('Z', '+00:00')]) await cw.call('PutMetricData', one({ Value: 1, Timestamp: text }));
  const statsOf = (StartTime: unknown) => cw.call('GetMetricStatistics', { Namespace: 'MyApp', MetricName: 'Quality', StartTime, EndTime: (NOW + 3_600_000) / 1000, Period: 60, Statistics: ['SampleCount'] });
  for (const text of loose) {
    await rejects(statsOf(text), 'ValidationException', 'ValidationError', new RegExp(`Value '${text}' at 'startTime' failed to satisfy constraint: Member must be a timestamp`));
  }
  const out = (await statsOf(iso.slice(0, 10))) as { Datapoints: { SampleCount: number }[] };
  assert.equal(out.Datapoints.reduce((n, d) => n + d.SampleCount, 0), 3, 'a date alone is midnight UTC');
});

test('values: NaN, infinities and magnitudes outside 2^-360..2^360 are refused, naming the member', async () => {
  const { cw } = setup();
  await invalid(cw, one({ Value: 'NaN' }), 'The value NaN for parameter MetricData.member.1.Value is invalid.');
  await invalid(cw, one({ Value: 'Infinity' }), 'The value Infinity for parameter MetricData.member.1.Value is invalid.');
  await invalid(cw, one({ Value: Number.NaN }), 'The value NaN for parameter MetricData.member.1.Value is invalid.');
  await invalid(cw, one({ Value: 2 ** 361 }), /^The value 4\.69\d*e\+108 for parameter MetricData\.member\.1\.Value is invalid\.$/);
  await invalid(cw, one({ Value: -(2 ** 361) }), /for parameter MetricData\.member\.1\.Value is invalid\./);
  await invalid(cw, one({ Value: 2 ** -361 }), /for parameter MetricData\.member\.1\.Value is invalid\./);
  await invalid(cw, one({ Values: [1, '-Infinity'] }), 'The value -Infinity for parameter MetricData.member.1.Values.member.2 is invalid.');
  await invalid(cw, one({ Values: [1, 2], Counts: [1, 'NaN'] }), 'The value NaN for parameter MetricData.member.1.Counts.member.2 is invalid.');
  await invalid(cw, one({ Values: [1], Counts: [-1] }), 'The value -1 for parameter MetricData.member.1.Counts.member.1 is invalid.');
  await invalid(cw, one({ StatisticValues: { SampleCount: 1, Sum: 'NaN', Minimum: 1, Maximum: 1 } }), 'The value NaN for parameter MetricData.member.1.StatisticValues.Sum is invalid.');
  await cw.call('PutMetricData', one({ Value: 2 ** 360 }));
  await cw.call('PutMetricData', one({ Value: 0 }));
  await cw.call('PutMetricData', one({ Value: -(2 ** -360) }));
});

test('Value, Values, Counts and StatisticValues: which go together', async () => {
  const { cw } = setup();
  await combination(cw, one({ Value: 1, Values: [1] }), 'The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both.');
  await combination(cw, one({ Value: 1, StatisticValues: { SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1 } }), 'The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both.');
  await combination(cw, one({ Unit: 'Count' }), 'At least one of the parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues must be specified.');
  await combination(cw, one({ Values: [], Counts: [] }), 'At least one of the parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues must be specified.');
  await invalid(cw, one({ Values: [1, 2], Counts: [1, 2, 3] }), 'The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.');
  await invalid(cw, one({ Counts: [1] }), 'The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.');
  await invalid(cw, one({ Values: Array.from({ length: 151 }, (_, i) => i) }), 'The collection MetricData.member.1.Values must not have a size greater than 150.');
  await cw.call('PutMetricData', one({ Values: Array.from({ length: 150 }, (_, i) => i) }));
  await missing(cw, one({ StatisticValues: { SampleCount: 1, Sum: 1, Minimum: 1 } }), 'The parameter MetricData.member.1.StatisticValues.Maximum is required.');
  await invalid(cw, one({ StatisticValues: { SampleCount: 0, Sum: 1, Minimum: 1, Maximum: 1 } }), 'The parameter MetricData.member.1.StatisticValues.SampleCount must be greater than 0.');
  await invalid(cw, one({ StatisticValues: { SampleCount: 2, Sum: 1, Minimum: 3, Maximum: 1 } }), /^The parameter MetricData\.member\.1\.StatisticValues\.Maximum must be greater than or equal to MetricData\.member\.1\.StatisticValues\.Minimum\.$/);
  // CloudWatch takes Values with StatisticValues (the values are what is kept here).
  const { cw: fresh } = setup();
  await fresh.call('PutMetricData', one({ Values: [1, 10], StatisticValues: { SampleCount: 10, Sum: 55, Minimum: 1, Maximum: 10 } }));
  const [p] = await stats(fresh);
  assert.deepEqual([p!.SampleCount, p!.Sum], [2, 11]);
});

test('Unit is the enum; StorageResolution is 1 or 60', async () => {
  const { cw } = setup();
  await validation(cw, one({ Value: 1, Unit: 'Furlongs' }), /^1 validation error detected: Value 'Furlongs' at 'metricData\.1\.member\.unit' failed to satisfy constraint: Member must satisfy enum value set: \[Seconds, /);
  await invalid(cw, one({ Value: 1, StorageResolution: 30 }), 'The value 30 for parameter MetricData.member.1.StorageResolution is invalid.');
  await validation(cw, one({ Value: 1, StorageResolution: 'often' }), /at 'metricData\.1\.member\.storageResolution' failed to satisfy constraint: Member must be an integer/);
  await cw.call('PutMetricData', one({ Value: 1, StorageResolution: 1 }));
  await cw.call('PutMetricData', one({ Value: 1, StorageResolution: 60 }));
});

test('a request over 1 MB is refused with 413 RequestEntityTooLarge and stores nothing', async () => {
  const { cw, metrics } = setup();
  const big = Array.from({ length: 1000 }, (_, i) => ({ MetricName: `metric-${i}`, Dimensions: [{ Name: 'd', Value: 'x'.repeat(1024) }], Value: i }));
  await assert.rejects(cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: big }), (err: unknown) => {
    assert.ok(err instanceof CloudWatchError);
    assert.equal(err.status, 413);
    assert.equal(err.type, 'RequestEntityTooLargeException');
    assert.equal(err.queryCode, 'RequestEntityTooLarge');
    const size = Buffer.byteLength(JSON.stringify({ Namespace: 'MyApp', MetricData: big }));
    assert.equal(err.message, `Request size ${size} exceeded 1048576 bytes.`);
    return true;
  });
  assert.equal(metrics.list().length, 0);
});

test('hostile shapes: wrong types and deep nesting where members are expected give 4xx errors, never a crash', async () => {
  const { cw } = setup();
  let deep: unknown = 1;
  for (let i = 0; i < 400; i++) deep = i % 2 === 0 ? { Value: deep, MetricName: deep } : [deep, deep];
  // `deep` shares its sub-objects: as a tree it is 2^400 nodes, so nothing may walk it whole; it is over 1 MB.
  await assert.rejects(cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: [deep] }), (err: unknown) => err instanceof CloudWatchError && err.status === 413);
  deep = 1;
  for (let i = 0; i < 400; i++) deep = i % 2 === 0 ? { Value: deep, Values: [1] } : [deep];
  for (const datum of [deep, [deep], 'x', 42, null, { MetricName: deep, Value: 1 }, { MetricName: 'm', Value: deep }, { MetricName: 'm', Values: deep }, { MetricName: 'm', Dimensions: [deep] }, { MetricName: 'm', StatisticValues: deep }]) {
    await assert.rejects(cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: [datum] }), (err: unknown) => {
      assert.ok(err instanceof CloudWatchError, String(err));
      assert.ok(err.status >= 400 && err.status < 500);
      assert.ok(err.message.length < 2000, 'messages stay short whatever the input');
      return true;
    });
  }
});

test('data older than the retention is accepted but not kept; huge counts cost a bounded sample', async () => {
  const clock = createMetricClock(60, () => NOW);
  const metrics = new MetricStore(clock, { retentionSeconds: 600, hourlyRetentionSeconds: 3600 });
  const cw = new CloudWatchService({ metrics, clock });
  await cw.call('PutMetricData', one({ Value: 1, Timestamp: (NOW - 3 * 3_600_000) / 1000 }));
  assert.equal(metrics.bucketCount(), 0);
  await cw.call('PutMetricData', one({ Values: [1, 2], Counts: [1e12, 1] }));
  const [p] = await stats(cw);
  assert.deepEqual([p!.SampleCount, p!.Sum], [1e12 + 1, 1e12 + 2]);
  const [{ aggregate }] = metrics.periods({ namespace: 'MyApp', metricName: 'Quality', dimensions: [] }, 0, metrics.periodIndex(NOW, 60) + 1, 60);
  assert.ok(aggregate!.samples.length <= MAX_SAMPLES_PER_AGGREGATE);
});

test('a value put ahead of now does not evict current data', async () => {
  const { cw, metrics } = setup();
  await cw.call('PutMetricData', one({ Value: 1 }));
  await cw.call('PutMetricData', one({ Value: 2, Timestamp: (NOW + 3600_000) / 1000 }));
  assert.equal(metrics.bucketCount(), 2);
});

test('an alarm on a custom metric goes to ALARM on what PutMetricData publishes', async () => {
  const { t, cw } = setup();
  await cw.call('PutMetricAlarm', {
    AlarmName: 'quality-low',
    Namespace: 'MyApp',
    MetricName: 'Quality',
    Dimensions: [{ Name: 'Model', Value: 'b' }],
    Statistic: 'Average',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 0.8,
    ComparisonOperator: 'LessThanThreshold',
  });
  await cw.call('PutMetricData', { Namespace: 'MyApp', MetricData: [{ MetricName: 'Quality', Dimensions: [{ Name: 'Model', Value: 'b' }], Values: [0.5, 0.9], Counts: [3, 1] }] });
  t.now += 60_000;
  cw.evaluateDue(t.now);
  assert.equal(cw.alarmState('quality-low'), 'ALARM');
});
