// Custom metrics on the local CloudWatch end to end: the real AWS SDK v3 CloudWatch client (and
// the AWS CLI where installed) against `startLocalSageMaker`, through a recording proxy that sees
// what goes on the wire, so the SDK's gzip compression of large PutMetricData bodies is observed
// rather than assumed. One CloudWatch minute lasts one real second.
import { after, before, test } from 'node:test';
import { setTimeout as pace } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  InvalidParameterValueException,
  ListMetricsCommand,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  type MetricDatum,
} from '@aws-sdk/client-cloudwatch';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const NAMESPACE = 'MyApp/ModelQuality';
const DIMENSIONS = [{ Name: 'EndpointName', Value: 'iris' }];
// Awaited before any test is declared: the file's `after` hook runs once the declared tests end.
const AWS_CLI = process.env.SMKIT_TEST_AWS_CLI ?? 'aws';
const hasCli = await run(AWS_CLI, ['--version'], { timeout: 30_000 }).then(
  () => true,
  () => false,
);

/** One request as the proxy saw it on the wire. */
interface Seen {
  target: string | undefined;
  encoding: string | undefined;
  bytes: number;
}

let local: LocalSageMakerHandle;
let proxy: Server;
let cw: CloudWatchClient;
const seen: Seen[] = [];

before(async () => {
  local = await startLocalSageMaker({ port: 0, metricsSettings: { secondsPerMinute: 1 }, settings: { region: 'us-east-1', accountId: '111122223333' } });
  proxy = createServer((req, res) => {
    let bytes = 0;
    const upstream = request(`${local.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => seen.push({ target: req.headers['x-amz-target'] as string | undefined, encoding: req.headers['content-encoding'], bytes }));
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  cw = new CloudWatchClient(localClientConfig(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`));
});

after(async () => {
  cw?.destroy();
  await new Promise<void>((ok) => (proxy ? proxy.close(() => ok()) : ok()));
  await local?.stop();
});

/** The last PutMetricData the proxy saw. */
const lastPut = (): Seen => seen.filter((s) => s.target === 'GraniteServiceVersion20100801.PutMetricData').at(-1)!;

test('PutMetricData with the JS SDK: small bodies go plain, large ones gzipped; GetMetricStatistics and GetMetricData read them back', async () => {
  const start = new Date(Date.now() - 60_000);
  await cw.send(new PutMetricDataCommand({ Namespace: NAMESPACE, MetricData: [{ MetricName: 'Accuracy', Dimensions: DIMENSIONS, Value: 0.9, Unit: 'Percent' }] }));
  assert.equal(lastPut().encoding, undefined, 'a small body is sent as it is');

  // 400 entries of values with counts and statistic sets: far over the SDK's 10 KB compression threshold.
  const data: MetricDatum[] = Array.from({ length: 400 }, (_, i) =>
    i % 2 === 0
      ? { MetricName: 'Accuracy', Dimensions: DIMENSIONS, Values: [0.5, 0.7], Counts: [1, 2], Unit: 'Percent' }
      : { MetricName: 'Accuracy', Dimensions: DIMENSIONS, StatisticValues: { SampleCount: 2, Sum: 1.6, Minimum: 0.6, Maximum: 1 }, Unit: 'Percent' },
  );
  await cw.send(new PutMetricDataCommand({ Namespace: NAMESPACE, MetricData: data }));
  const plainBytes = Buffer.byteLength(JSON.stringify({ Namespace: NAMESPACE, MetricData: data }));
  const big = lastPut();
  assert.equal(big.encoding, 'gzip', 'the SDK compressed the large body (requestCompression trait)');
  assert.ok(big.bytes < plainBytes / 5, `${big.bytes} bytes on the wire for ${plainBytes} bytes of JSON`);

  const end = new Date(Date.now() + 60_000);
  const stats = await cw.send(
    new GetMetricStatisticsCommand({ Namespace: NAMESPACE, MetricName: 'Accuracy', Dimensions: DIMENSIONS, StartTime: start, EndTime: end, Period: 3600, Statistics: ['SampleCount', 'Sum', 'Minimum', 'Maximum'] }),
  );
  const total = (stats.Datapoints ?? []).reduce((acc, p) => ({ n: acc.n + p.SampleCount!, sum: acc.sum + p.Sum!, min: Math.min(acc.min, p.Minimum!), max: Math.max(acc.max, p.Maximum!) }), { n: 0, sum: 0, min: Infinity, max: -Infinity });
  assert.equal(total.n, 1 + 200 * 3 + 200 * 2);
  assert.ok(Math.abs(total.sum - (0.9 + 200 * 1.9 + 200 * 1.6)) < 1e-6, `sum ${total.sum}`);
  assert.deepEqual([total.min, total.max], [0.5, 1]);
  assert.equal(stats.Datapoints![0]!.Unit, 'Percent');

  const got = await cw.send(
    new GetMetricDataCommand({
      StartTime: start,
      EndTime: end,
      ScanBy: 'TimestampAscending',
      MetricDataQueries: [
        { Id: 'n', MetricStat: { Metric: { Namespace: NAMESPACE, MetricName: 'Accuracy', Dimensions: DIMENSIONS }, Period: 3600, Stat: 'SampleCount' } },
        { Id: 'worst', Label: 'worst accuracy', MetricStat: { Metric: { Namespace: NAMESPACE, MetricName: 'Accuracy', Dimensions: DIMENSIONS }, Period: 3600, Stat: 'Minimum', Unit: 'Percent' } },
      ],
    }),
  );
  const results = got.MetricDataResults ?? [];
  assert.deepEqual(results.map((r) => [r.Id, r.Label, r.StatusCode]), [['n', 'Accuracy', 'Complete'], ['worst', 'worst accuracy', 'Complete']]);
  assert.equal(results[0]!.Values!.reduce((a, b) => a + b, 0), total.n);
  assert.equal(Math.min(...results[1]!.Values!), 0.5);
  assert.ok(results[0]!.Timestamps![0] instanceof Date);

  const listed = await cw.send(new ListMetricsCommand({ Namespace: NAMESPACE }));
  assert.deepEqual(listed.Metrics?.map((m) => m.MetricName), ['Accuracy']);
});

test('the SDK gets CloudWatch errors as modelled exceptions', async () => {
  await assert.rejects(cw.send(new PutMetricDataCommand({ Namespace: 'AWS/SageMaker', MetricData: [{ MetricName: 'm', Value: 1 }] })), (err: unknown) => {
    assert.ok(err instanceof InvalidParameterValueException, String(err));
    assert.equal(err.message, 'The value AWS/SageMaker for parameter Namespace is invalid.');
    return true;
  });
  await assert.rejects(
    cw.send(new GetMetricDataCommand({ StartTime: new Date(Date.now() - 60_000), EndTime: new Date(), MetricDataQueries: [{ Id: 'e', Expression: 'SUM(METRICS())' }] })),
    (err: unknown) => {
      // ValidationError is not modelled for GetMetricData: the SDK names it by the body's __type.
      assert.equal((err as Error).name, 'ValidationException');
      assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 400);
      assert.match((err as Error).message, /not supported by the local CloudWatch/);
      return true;
    },
  );
});

test('an alarm on a custom metric goes to ALARM on what the client publishes', async () => {
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: 'accuracy-low',
      Namespace: NAMESPACE,
      MetricName: 'LiveAccuracy',
      Dimensions: DIMENSIONS,
      Statistic: 'Average',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0.8,
      ComparisonOperator: 'LessThanThreshold',
    }),
  );
  const state = async () => (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['accuracy-low'] }))).MetricAlarms?.[0];
  assert.equal((await state())?.StateValue, 'INSUFFICIENT_DATA');
  // Keep publishing a low accuracy (0.5: exact in binary, so the average is too) until a complete period of it has been evaluated.
  // One datapoint per probe, paced at 100 ms (some ten a one-second minute) rather than back to back, which burnt CPU for nothing.
  const alarmed = await until('ALARM on the published accuracy', async () => {
    const a = await state();
    return a?.StateValue === 'ALARM' ? a : undefined;
  }, { between: () => Promise.all([cw.send(new PutMetricDataCommand({ Namespace: NAMESPACE, MetricData: [{ MetricName: 'LiveAccuracy', Dimensions: DIMENSIONS, Value: 0.5 }] })), pace(100)]) });
  assert.match(alarmed.StateReason!, /^Threshold Crossed: 1 datapoint \[0\.5 \(.*\)\] was less than the threshold \(0\.8\)\.$/);
});

test('the AWS CLI puts a metric and reads it back', { skip: hasCli ? false : 'the AWS CLI is not installed' }, async () => {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
  const aws = async (...args: string[]) => {
    const { stdout } = await run(AWS_CLI, ['cloudwatch', ...args, '--endpoint-url', local.url, '--output', 'json'], { env, timeout: 120_000 });
    return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, unknown>);
  };
  const now = Date.now();
  await aws('put-metric-data', '--namespace', 'Cli', '--metric-data', JSON.stringify([{ MetricName: 'Drift', Dimensions: [{ Name: 'Model', Value: 'b' }], Values: [1, 3], Counts: [2, 1], Unit: 'Count' }]));
  const stats = await aws('get-metric-statistics', '--namespace', 'Cli', '--metric-name', 'Drift', '--dimensions', 'Name=Model,Value=b', '--start-time', new Date(now - 3_600_000).toISOString(), '--end-time', new Date(now + 3_600_000).toISOString(), '--period', '3600', '--statistics', 'Sum', 'SampleCount');
  const points = stats.Datapoints as Array<Record<string, unknown>>;
  assert.deepEqual(points.map((p) => [p.Sum, p.SampleCount, p.Unit]), [[5, 3, 'Count']]);
  await assert.rejects(aws('put-metric-data', '--namespace', 'Cli', '--metric-name', 'Drift', '--value', '1', '--timestamp', new Date(now - 15 * 24 * 3_600_000).toISOString()), /InvalidParameterValue.*must specify a time within the past two weeks/s);
});
