import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { CloudWatchService } from './cloudwatch-service.js';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';
import { createCloudWatchQueryHandler } from './query-handler.js';
import { AwsServiceError } from '../../../aws/service.js';

let server: Server;
let url: string;
let cloudwatch: CloudWatchService;

describe('query handler', () => {
  before(async () => {
    const clock = createMetricClock(60);
    const metrics = new MetricStore(clock);
    metrics.record({ endpoint: 'ep', variant: 'v', at: Date.now(), outcome: 'ok', modelLatencyMicros: 10, instanceCount: 1 });
    cloudwatch = new CloudWatchService({ metrics, clock });
    server = createServer(createCloudWatchQueryHandler(cloudwatch));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(() => new Promise<void>((ok) => server.close(() => ok())));

  async function post(body: string): Promise<{ status: number; text: string }> {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  }

  const ACTIONS = ['PutMetricAlarm', 'DescribeAlarms', 'SetAlarmState', 'DeleteAlarms', 'GetMetricStatistics', 'ListMetrics', 'DescribeAlarmHistory', 'DescribeAlarmsForMetric', 'EnableAlarmActions', 'PutMetricData', 'GetMetricData', 'Nope', 'constructor'];
  const MEMBERS = ['AlarmName', 'AlarmNames', 'Namespace', 'MetricName', 'Dimensions', 'Period', 'EvaluationPeriods', 'DatapointsToAlarm', 'Threshold', 'Statistic', 'ExtendedStatistic',
    'ComparisonOperator', 'TreatMissingData', 'StateValue', 'StateReason', 'StateReasonData', 'StartTime', 'EndTime', 'Statistics', 'MaxRecords', 'NextToken', 'ActionsEnabled', 'Metrics', 'Unit', 'StartDate', 'EndDate', 'HistoryItemType', 'ScanBy', 'AlarmTypes',
    'MetricData', 'Values', 'Counts', 'StatisticValues', 'EntityMetricData', 'MetricDataQueries', 'MetricStat', 'MaxDatapoints', 'StorageResolution', 'Timestamp'];

  test('property: any form body over HTTP gets XML with 200 or a 4xx, never a 500, and the server keeps serving', async () => {
    const key = fc
      .tuple(fc.constantFrom(...MEMBERS), fc.array(fc.oneof(fc.constantFrom('member', 'Name', 'Value', 'Id', 'MetricName', 'Values', 'Counts', 'SampleCount', 'MetricStat', 'Metric', 'Stat', 'Period'), fc.integer({ min: 0, max: 3 }).map(String)), { maxLength: 3 }))
      .map(([head, rest]) => [head, ...rest].join('.'));
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('60', '1', '-1', '1e400', 'true', 'Sum', 'p99', 'ALARM', 'AWS/SageMaker', 'GreaterThanThreshold', '2026-11-30T00:00:00Z', '{}'));
    const structured = fc
      .tuple(fc.constantFrom(...ACTIONS), fc.array(fc.tuple(key, value), { maxLength: 10 }))
      .map(([action, pairs]) => new URLSearchParams([['Action', action], ['Version', '2010-08-01'], ...pairs]).toString());
    await fc.assert(
      fc.asyncProperty(fc.oneof(structured, fc.string({ maxLength: 200 })), async (body) => {
        const { status, text } = await post(body);
        assert.ok(status === 200 || (status >= 400 && status < 500), `status ${status} for ${JSON.stringify(body)}: ${text}`);
        assert.match(text, status === 200 ? /^<\w+Response xmlns=/ : /^<ErrorResponse xmlns=.*<Code>\w+<\/Code><Message>[^<]{10,}/);
      }),
      { numRuns: 300 },
    );
    assert.equal((await post('Action=DescribeAlarms')).status, 200);
  });

  test('PutMetricData with EntityMetricData, its Entity maps sent as entry.N.key/value (the query serializer of botocore releases from November 2024 to December 2025), stores the data', async () => {
    // The body botocore's QuerySerializer writes for EntityMetricData: [{Entity: {KeyAttributes: {Type: 'Service'}, Attributes: {a: 'b'}}, MetricData: [{MetricName: 'm', Value: 1, Dimensions: []}]}].
    const e = 'EntityMetricData.member.1';
    const body = new URLSearchParams([
      ['Action', 'PutMetricData'],
      ['Version', '2010-08-01'],
      ['Namespace', 'EntityQuery'],
      [`${e}.Entity.KeyAttributes.entry.1.key`, 'Type'],
      [`${e}.Entity.KeyAttributes.entry.1.value`, 'Service'],
      [`${e}.Entity.Attributes.entry.1.key`, 'a'],
      [`${e}.Entity.Attributes.entry.1.value`, 'b'],
      [`${e}.MetricData.member.1.MetricName`, 'm'],
      [`${e}.MetricData.member.1.Value`, '1.0'],
      [`${e}.MetricData.member.1.Dimensions`, ''],
    ]).toString();
    const put = await post(body);
    assert.equal(put.status, 200, put.text);
    const listed = await post('Action=ListMetrics&Version=2010-08-01&Namespace=EntityQuery');
    assert.match(listed.text, /<MetricName>m<\/MetricName>/);
  });

  test('a body over the size limit is refused with 413', async () => {
    const { status, text } = await post(`Action=DescribeAlarms&AlarmNamePrefix=${'a'.repeat(1_100_000)}`);
    assert.equal(status, 413);
    assert.match(text, /<Code>RequestEntityTooLarge<\/Code>/);
  });
});

test('a failure after the answer\'s headers went out is reported to onInternalFailure and the response destroyed, not ended as if whole', { timeout: 10_000 }, async () => {
  const told: Array<[string, string]> = [];
  const failing = { signingName: 'monitoring', call: async () => Promise.reject(new Error('late boom')) } as unknown as CloudWatchService;
  const handler = createCloudWatchQueryHandler(failing, (where, err) => told.push([where, (err as Error).message]));
  const req = { body: Buffer.from('Action=ListMetrics&Version=2010-08-01') } as unknown as Parameters<typeof handler>[0];
  const calls: string[] = [];
  await new Promise<void>((done) => {
    const res = {
      headersSent: true,
      setHeader: () => void calls.push('setHeader'),
      writeHead: () => void calls.push('writeHead'),
      end: () => void calls.push('end'),
      destroy: () => {
        calls.push('destroy');
        done();
      },
    };
    handler(req, res as unknown as Parameters<typeof handler>[1]);
  });
  assert.deepEqual(calls, ['destroy']);
  assert.deepEqual(told, [['CloudWatch', 'late boom']]);
});

test('an error answer that cannot be written (the response throws) is reported to onInternalFailure and the response destroyed, not left as an unhandled rejection', { timeout: 10_000 }, async () => {
  const rejections: unknown[] = [];
  let settled = (): void => {};
  const onRejection = (reason: unknown) => {
    rejections.push(reason);
    settled();
  };
  process.on('unhandledRejection', onRejection);
  try {
    for (const [thrown, expected] of [
      [new AwsServiceError('ResourceNotFound', 'No alarm.', 400), [['CloudWatch', 'socket gone']]],
      [new Error('boom'), [['CloudWatch', 'boom'], ['CloudWatch', 'socket gone']]],
    ] as const) {
      const told: Array<[string, string]> = [];
      const failing = { signingName: 'monitoring', call: async () => Promise.reject(thrown) } as unknown as CloudWatchService;
      const handler = createCloudWatchQueryHandler(failing, (where, err) => told.push([where, (err as Error).message]));
      const req = { body: Buffer.from('Action=ListMetrics&Version=2010-08-01') } as unknown as Parameters<typeof handler>[0];
      let destroyed = false;
      // Ends when the response is destroyed or, without that, when the failure escapes as an unhandled rejection.
      await new Promise<void>((done) => {
        settled = done;
        const res = {
          headersSent: false,
          setHeader: () => {
            throw new Error('socket gone');
          },
          destroy: () => {
            destroyed = true;
            done();
          },
        };
        handler(req, res as unknown as Parameters<typeof handler>[1]);
      });
      // A rejection is reported once the microtasks run out: past a turn of the event loop it would have been seen.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(rejections, [], thrown.message);
      assert.ok(destroyed, thrown.message);
      assert.deepEqual(told, expected, thrown.message);
    }
  } finally {
    process.off('unhandledRejection', onRejection);
  }
});
