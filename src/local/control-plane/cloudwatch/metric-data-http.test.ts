// PutMetricData and GetMetricData over HTTP, through the front door that `smkit local` serves:
// gzip-compressed bodies (what the SDKs send above 10 KB), a gzip bomb, the query protocol.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createGzip, gzipSync } from 'node:zlib';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmHistoryCommand, DescribeAlarmsCommand, GetMetricDataCommand, GetMetricStatisticsCommand, InvalidParameterValueException, ListMetricsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { MAX_AWS_JSON_BODY_BYTES } from '../../../aws/protocols/aws-json.js';
import { localClientConfig } from '../../../../test/helpers/local-sdk-clients.js';
import { answerUntilClose } from '../../../../test/helpers/raw-http.js';
import { createFrontDoor } from '../../front-door/app.js';
import { createFrontDoorServer } from '../../front-door/http-server.js';
import { CloudWatchService } from './cloudwatch-service.js';
import { createMetricClock } from './metric-clock.js';
import { MetricStore } from './metric-store.js';
import { createCloudWatchQueryHandler } from './query-handler.js';

let server: Server;
let url: string;
let metrics: MetricStore;

before(async () => {
  const clock = createMetricClock(60);
  metrics = new MetricStore(clock);
  const cw = new CloudWatchService({ metrics, clock });
  // The front door's own server: it refuses some request heads before the app routes them.
  server = createFrontDoorServer(createFrontDoor({ endpoints: new Map(), services: [cw], queryHandler: createCloudWatchQueryHandler(cw) }));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(() => new Promise<void>((ok) => server.close(() => ok())));

async function json(operation: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': `GraniteServiceVersion20100801.${operation}`, ...headers },
    body,
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) as Record<string, unknown> };
}

const entries = (namespace: string, n: number) => ({
  Namespace: namespace,
  MetricData: Array.from({ length: n }, (_, i) => ({ MetricName: 'Quality', Dimensions: [{ Name: 'Shard', Value: `shard-${i % 10}` }], Value: i })),
});

test('a gzip-compressed PutMetricData body is decoded and stored', async () => {
  const body = gzipSync(JSON.stringify(entries('Gzipped', 500)));
  const res = await json('PutMetricData', body, { 'Content-Encoding': 'gzip' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(metrics.list({ namespace: 'Gzipped' }).length, 10);
});

test('a PutMetricData over the limits gets the service error and its query code over HTTP', async () => {
  const res = await json('PutMetricData', gzipSync(JSON.stringify(entries('TooMany', 1001))), { 'Content-Encoding': 'gzip' });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-query-error'), 'InvalidParameterValue;Sender');
  assert.deepEqual(res.body, { __type: 'InvalidParameterValueException', message: 'The collection MetricData must not have a size greater than 1000.' });
  const big = await json('PutMetricData', gzipSync(JSON.stringify({ Namespace: 'Big', MetricData: [{ MetricName: 'm', Value: 1, Dimensions: [{ Name: 'd', Value: 'x'.repeat(2_000_000) }] }] })), { 'Content-Encoding': 'gzip' });
  assert.equal(big.status, 413);
  assert.equal(big.headers.get('x-amzn-query-error'), 'RequestEntityTooLarge;Sender');
  assert.equal(metrics.list({ namespace: 'Big' }).length, 0);
});

/** Gzips `bytes` zero bytes without ever holding them: a small body that inflates past any limit. */
async function gzipBomb(bytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((ok, ko) => {
    gzip.on('end', ok);
    gzip.on('error', ko);
  });
  const chunk = Buffer.alloc(1 << 20);
  for (let written = 0; written < bytes; written += chunk.length) {
    if (!gzip.write(chunk)) await new Promise((ok) => gzip.once('drain', ok));
  }
  gzip.end();
  await done;
  return Buffer.concat(out);
}

test('a gzip bomb gets a 413 without being inflated whole, and the server keeps serving', async () => {
  const inflated = 512 * 1024 * 1024;
  const bomb = await gzipBomb(inflated);
  assert.ok(bomb.length < 1024 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
  const rssBefore = process.memoryUsage().rss;
  for (const contentType of ['application/x-amz-json-1.0', 'application/x-www-form-urlencoded']) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': contentType, 'Content-Encoding': 'gzip', ...(contentType.includes('json') ? { 'X-Amz-Target': 'GraniteServiceVersion20100801.PutMetricData' } : {}) },
      body: bomb,
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(res.status, 413, contentType);
    const text = await res.text();
    assert.match(text, new RegExp(`larger than the ${MAX_AWS_JSON_BODY_BYTES} bytes`));
    if (contentType.includes('json')) assert.equal(res.headers.get('x-amzn-query-error'), 'RequestEntityTooLarge;Sender');
    else assert.match(text, /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>RequestEntityTooLarge<\/Code>/);
  }
  // Inflating it whole would hold 512 MiB; reading stops at the 5 MiB limit.
  const grown = process.memoryUsage().rss - rssBefore;
  assert.ok(grown < 256 * 1024 * 1024, `memory grew by ${grown} bytes`);
  const after = await json('PutMetricData', JSON.stringify(entries('AfterBomb', 1)));
  assert.equal(after.status, 200);
});

test('huge or deeply nested MetricData over HTTP: 4xx answers, nothing stored', async () => {
  const deep = `{"Namespace":"Deep","MetricData":[${'['.repeat(10_000)}${']'.repeat(10_000)}]}`;
  const nested = await json('PutMetricData', deep);
  assert.equal(nested.status, 400);
  assert.equal(nested.body.__type, 'SerializationException');
  const shallowButWrong = await json('PutMetricData', JSON.stringify({ Namespace: 'Deep', MetricData: [{ MetricName: 'm', Dimensions: [[[[{ Name: 'a' }]]]], Value: 1 }] }));
  assert.equal(shallowButWrong.status, 400);
  assert.equal(shallowButWrong.headers.get('x-amzn-query-error'), 'MissingParameter;Sender');
  const huge = await json('PutMetricData', JSON.stringify(entries('Huge', 100_000)));
  assert.equal(huge.status, 413);
  assert.equal(metrics.list({ namespace: 'Deep' }).length + metrics.list({ namespace: 'Huge' }).length, 0);
});

test('a body that says gzip but is not is a 400 MalformedHttpRequestException', async () => {
  const res = await json('PutMetricData', Buffer.from('not gzip at all'), { 'Content-Encoding': 'gzip' });
  assert.equal(res.status, 400);
  assert.equal(res.body.__type, 'MalformedHttpRequestException');
  assert.equal(res.headers.get('x-amzn-query-error'), 'MalformedHttpRequestException;Sender');
});

/** What the SDKs read of an awsJson error, its message aside: botocore and the JS SDK take a query-compatible service's code from x-amzn-query-error, else from __type. */
const errorShape = (res: { status: number; headers: Headers; body: Record<string, unknown> }) => ({
  status: res.status,
  contentType: res.headers.get('content-type'),
  type: res.body.__type,
  errorType: res.headers.get('x-amzn-errortype'),
  queryError: res.headers.get('x-amzn-query-error'),
  members: Object.keys(res.body),
});

/** How an awsJson error is laid out, whatever its codes: the front door's refusals and the service's errors must not drift apart. */
const errorForm = (res: { status: number; headers: Headers; body: Record<string, unknown> }) => {
  const shape = errorShape(res);
  return { contentType: shape.contentType, members: shape.members, typeIsErrorType: shape.type === shape.errorType, queryError: /^[A-Za-z]+;(Sender|Receiver)$/.test(shape.queryError ?? '') };
};

test('a CloudWatch JSON body the front door refuses gets the awsJson error the service writes: __type its JSON type, as x-amzn-ErrorType, its query code and fault in x-amzn-query-error', async () => {
  // The front door refuses a body that does not inflate, the service one that is not JSON.
  const refused = await json('PutMetricData', Buffer.from('not gzip at all'), { 'Content-Encoding': 'gzip' });
  const unparsed = await json('PutMetricData', '{"Namespace":');
  assert.deepEqual(errorForm(refused), errorForm(unparsed));
  assert.deepEqual(errorForm(unparsed), { contentType: 'application/x-amz-json-1.0', members: ['__type', 'message'], typeIsErrorType: true, queryError: true });
  assert.deepEqual(errorShape(refused), { status: 400, contentType: 'application/x-amz-json-1.0', type: 'MalformedHttpRequestException', errorType: 'MalformedHttpRequestException', queryError: 'MalformedHttpRequestException;Sender', members: ['__type', 'message'] });
  assert.deepEqual(errorShape(unparsed), { ...errorShape(refused), type: 'SerializationException', errorType: 'SerializationException', queryError: 'SerializationException;Sender' });
  // A code of the query protocol goes in x-amzn-query-error only (botocore and the JS SDK take the code from there), never in __type.
  const tooLarge = await json('PutMetricData', gzipSync(JSON.stringify({ Namespace: 'Big', MetricData: [{ MetricName: 'm', Value: 1, Dimensions: [{ Name: 'd', Value: 'x'.repeat(MAX_AWS_JSON_BODY_BYTES) }] }] })), { 'Content-Encoding': 'gzip' });
  assert.deepEqual(errorShape(tooLarge), { status: 413, contentType: 'application/x-amz-json-1.0', type: 'RequestEntityTooLargeException', errorType: 'RequestEntityTooLargeException', queryError: 'RequestEntityTooLarge;Sender', members: ['__type', 'message'] });
  // Over the front door's 5 MiB and over PutMetricData's 1 MB: one error.
  const overPutMetricData = await json('PutMetricData', gzipSync(JSON.stringify({ Namespace: 'Big', MetricData: [{ MetricName: 'm', Value: 1, Dimensions: [{ Name: 'd', Value: 'x'.repeat(2_000_000) }] }] })), { 'Content-Encoding': 'gzip' });
  assert.deepEqual(errorShape(overPutMetricData), errorShape(tooLarge));
});

test('the query protocol: PutMetricData as form members, GetMetricData answered in XML with ISO 8601 timestamps', async () => {
  const form = (params: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ Version: '2010-08-01', ...params }).toString(), signal: AbortSignal.timeout(10_000) });
  const now = Date.now();
  const put = await form({
    Action: 'PutMetricData',
    Namespace: 'Form',
    'MetricData.member.1.MetricName': 'm',
    'MetricData.member.1.Values.member.1': '2',
    'MetricData.member.1.Values.member.2': '4',
    'MetricData.member.1.Counts.member.1': '3',
    'MetricData.member.1.Counts.member.2': '1',
    'MetricData.member.1.Timestamp': new Date(now).toISOString(),
  });
  assert.equal(put.status, 200, await put.clone().text());
  assert.match(await put.text(), /^<PutMetricDataResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/">/);
  const get = await form({
    Action: 'GetMetricData',
    StartTime: new Date(now - 600_000).toISOString(),
    EndTime: new Date(now + 60_000).toISOString(),
    'MetricDataQueries.member.1.Id': 'q',
    'MetricDataQueries.member.1.MetricStat.Metric.Namespace': 'Form',
    'MetricDataQueries.member.1.MetricStat.Metric.MetricName': 'm',
    'MetricDataQueries.member.1.MetricStat.Period': '60',
    'MetricDataQueries.member.1.MetricStat.Stat': 'Sum',
    'MetricDataQueries.member.1.ReturnData': 'true',
  });
  const xml = await get.text();
  assert.equal(get.status, 200, xml);
  assert.match(xml, /<Id>q<\/Id><Label>m<\/Label><Timestamps><member>\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z<\/member><\/Timestamps><Values><member>10<\/member><\/Values><StatusCode>Complete<\/StatusCode>/);
  // A full request, 1000 metrics with a dimension each: over four thousand form parameters.
  const full: Record<string, string> = { Action: 'PutMetricData', Namespace: 'FormFull' };
  for (let i = 1; i <= 1000; i++) {
    Object.assign(full, { [`MetricData.member.${i}.MetricName`]: `m${i}`, [`MetricData.member.${i}.Value`]: String(i), [`MetricData.member.${i}.Dimensions.member.1.Name`]: 'Shard', [`MetricData.member.${i}.Dimensions.member.1.Value`]: 's' });
  }
  const fullPut = await form(full);
  assert.equal(fullPut.status, 200, await fullPut.text());
  // Another query-protocol service's call (STS's, when AWS_ENDPOINT_URL sends every service here) says so and what to set instead.
  const sts = await form({ Action: 'GetCallerIdentity', Version: '2011-06-15' });
  const stsXml = await sts.text();
  assert.equal(sts.status, 400, stsXml);
  assert.match(stsXml, /<Code>InvalidParameterValue<\/Code><Message>Version 2011-06-15 \(Action GetCallerIdentity\) is not supported: the local CloudWatch speaks API version 2010-08-01, the only query-protocol service smkit local answers; if a client of another AWS service was pointed at this server: set the service-specific variables .* rather than AWS_ENDPOINT_URL, /);
  assert.equal(metrics.list({ namespace: 'FormFull' }).length, 1000);
  const bad = await form({ Action: 'PutMetricData', Namespace: 'AWS/Mine', 'MetricData.member.1.MetricName': 'm', 'MetricData.member.1.Value': '1' });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /<Code>InvalidParameterValue<\/Code><Message>The value AWS\/Mine for parameter Namespace is invalid\.<\/Message>/);
});

test('the query protocol: an empty list inside an item, "MetricData.member.1.Dimensions=" as botocore sends Dimensions: [], is an empty list', async () => {
  const form = (params: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ Version: '2010-08-01', ...params }).toString(), signal: AbortSignal.timeout(10_000) });
  const now = Date.now();
  const put = await form({ Action: 'PutMetricData', Namespace: 'FormEmpty', 'MetricData.member.1.MetricName': 'm', 'MetricData.member.1.Dimensions': '', 'MetricData.member.1.Values': '', 'MetricData.member.1.Counts': '', 'MetricData.member.1.Value': '7' });
  assert.equal(put.status, 200, await put.clone().text());
  const get = await form({
    Action: 'GetMetricData',
    StartTime: new Date(now - 600_000).toISOString(),
    EndTime: new Date(now + 60_000).toISOString(),
    'MetricDataQueries.member.1.Id': 'q',
    'MetricDataQueries.member.1.MetricStat.Metric.Namespace': 'FormEmpty',
    'MetricDataQueries.member.1.MetricStat.Metric.MetricName': 'm',
    'MetricDataQueries.member.1.MetricStat.Metric.Dimensions': '',
    'MetricDataQueries.member.1.MetricStat.Period': '60',
    'MetricDataQueries.member.1.MetricStat.Stat': 'Sum',
  });
  const xml = await get.text();
  assert.equal(get.status, 200, xml);
  assert.match(xml, /<Values><member>7<\/member><\/Values>/);
});

test('ListMetrics whose Dimensions is not a list is a 400 ValidationError, not a 500', async () => {
  for (const Dimensions of [{ Name: 'Shard' }, 'Shard', 5]) {
    const res = await json('ListMetrics', JSON.stringify({ Namespace: 'Gzipped', Dimensions }));
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.headers.get('x-amzn-query-error'), 'ValidationError;Sender');
    assert.deepEqual(res.body, {
      __type: 'ValidationException',
      message: `1 validation error detected: Value '${typeof Dimensions === 'string' ? Dimensions : JSON.stringify(Dimensions)}' at 'dimensions' failed to satisfy constraint: Member must be a list of at most 10 filters`,
    });
  }
});

test('a NextToken is read only by the operation that gave it: another one, a blank or a forged one is InvalidNextToken, or for ListMetrics the InvalidParameterValue its model has', async () => {
  for (const AlarmName of ['token-a', 'token-b']) {
    const put = await json('PutMetricAlarm', JSON.stringify({ AlarmName, MetricName: 'm', Namespace: 'Tokens', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' }));
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }
  const history = await json('DescribeAlarmHistory', JSON.stringify({ MaxRecords: 1 }));
  const alarms = await json('DescribeAlarms', JSON.stringify({ AlarmNamePrefix: 'token-', MaxRecords: 1 }));
  assert.equal(typeof history.body.NextToken, 'string');
  assert.equal(typeof alarms.body.NextToken, 'string');
  for (const [operation, NextToken] of [['DescribeAlarms', history.body.NextToken], ['DescribeAlarmHistory', alarms.body.NextToken], ['ListMetrics', alarms.body.NextToken], ['ListMetrics', ''], ['ListMetrics', 'IA']] as const) {
    const res = await json(operation, JSON.stringify({ NextToken }));
    assert.equal(res.status, 400, `${operation} ${String(NextToken)}: ${JSON.stringify(res.body)}`);
    // ListMetrics' errors in the API model are InvalidParameterValue and InternalServiceFault only.
    const [type, code] = operation === 'ListMetrics' ? ['InvalidParameterValueException', 'InvalidParameterValue'] : ['InvalidNextToken', 'InvalidNextToken'];
    assert.deepEqual(res.body, { __type: type, message: `The NextToken is not one ${operation} gave: pass the NextToken of the previous ${operation} answer as it came, or none for the first page.` });
    assert.equal(res.headers.get('x-amzn-query-error'), `${code};Sender`);
  }
  const next = await json('DescribeAlarms', JSON.stringify({ AlarmNamePrefix: 'token-', MaxRecords: 1, NextToken: alarms.body.NextToken }));
  assert.deepEqual((next.body.MetricAlarms as Array<{ AlarmName: string }>).map((a) => a.AlarmName), ['token-b']);
});

test('a query-protocol body over the 1 MiB CloudWatch takes is a 413 RequestEntityTooLarge in the query protocol\'s XML, not a JSON ValidationError', async () => {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=${'a'.repeat(1_100_000)}`, signal: AbortSignal.timeout(10_000) });
  const xml = await res.text();
  assert.equal(res.status, 413, xml);
  assert.equal(res.headers.get('content-type'), 'text/xml');
  assert.match(xml, /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>RequestEntityTooLarge<\/Code><Message>The request body is larger than 1048576 bytes\.<\/Message>/);
});

test('the front door refuses a query-protocol body in XML: over its 5 MiB (declared or streamed) a 413 RequestEntityTooLarge, gzip that is not a 400 MalformedHttpRequestException', async () => {
  const form = (body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body, signal: AbortSignal.timeout(60_000) });
  const tooLarge = `Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=${'a'.repeat(MAX_AWS_JSON_BODY_BYTES)}`;
  const streamed = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
  for (const res of [await form(tooLarge), await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: streamed(tooLarge), duplex: 'half', signal: AbortSignal.timeout(60_000) } as RequestInit)]) {
    const xml = await res.text();
    assert.equal(res.status, 413, xml);
    assert.equal(res.headers.get('content-type'), 'text/xml');
    const requestId = res.headers.get('x-amzn-requestid');
    assert.equal(
      xml,
      `<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>RequestEntityTooLarge</Code><Message>The request body is larger than the ${MAX_AWS_JSON_BODY_BYTES} bytes this server accepts.</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    );
  }
  const notGzip = await form(Buffer.from('Action=ListMetrics&Version=2010-08-01'), { 'Content-Encoding': 'gzip' });
  const xml = await notGzip.text();
  assert.equal(notGzip.status, 400, xml);
  assert.equal(notGzip.headers.get('content-type'), 'text/xml');
  assert.match(xml, /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>MalformedHttpRequestException<\/Code><Message>The request body could not be read: [^<]+<\/Message><\/Error><RequestId>[^<]+<\/RequestId><\/ErrorResponse>$/);
});

test('the SDK\'s CloudWatch client reads a PutMetricData over the front door\'s 5 MiB as RequestEntityTooLarge (413), as it reads one over CloudWatch\'s 1 MB', async () => {
  // The SDK gzips PutMetricData bodies over 10 KB: this one is small on the wire and inflates past the limit.
  const client = new CloudWatchClient({ ...localClientConfig(url), maxAttempts: 1 });
  try {
    const err = await client.send(new PutMetricDataCommand({ Namespace: 'SdkTooLarge', MetricData: [{ MetricName: 'm', Value: 1, Dimensions: [{ Name: 'd', Value: 'x'.repeat(MAX_AWS_JSON_BODY_BYTES) }] }] })).then(
      () => assert.fail('a PutMetricData over 5 MiB was taken'),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
    );
    assert.equal(err.name, 'RequestEntityTooLarge');
    assert.equal(err.$metadata?.httpStatusCode, 413);
    assert.equal(err.message, `The request body is larger than the ${MAX_AWS_JSON_BODY_BYTES} bytes this server accepts.`);
    // The service's own 413 reads the same: what the SDK makes of it does not tell who refused it.
    const own = await client.send(new PutMetricDataCommand({ Namespace: 'SdkTooLarge', MetricData: [{ MetricName: 'm', Value: 1, Dimensions: [{ Name: 'd', Value: 'x'.repeat(2_000_000) }] }] })).then(
      () => assert.fail('a PutMetricData over 1 MB was taken'),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
    );
    const read = (e: Error & { $metadata?: { httpStatusCode?: number }; $fault?: unknown; Code?: unknown; Type?: unknown }) => ({ name: e.name, status: e.$metadata?.httpStatusCode, fault: e.$fault, code: e.Code, type: e.Type });
    assert.deepEqual(read(own), read(err));
    assert.deepEqual(read(err), { name: 'RequestEntityTooLarge', status: 413, fault: 'client', code: 'RequestEntityTooLarge', type: 'Sender' });
    assert.equal(metrics.list({ namespace: 'SdkTooLarge' }).length, 0);
  } finally {
    client.destroy();
  }
});

test('the SDK\'s CloudWatch client reads a ListMetrics NextToken it did not get as the InvalidParameterValueException ListMetrics is modelled to throw', async () => {
  const client = new CloudWatchClient({ ...localClientConfig(url), maxAttempts: 1 });
  try {
    const err = await client.send(new ListMetricsCommand({ NextToken: 'IA' })).then(
      () => assert.fail('a forged NextToken was taken'),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
    );
    assert.ok(err instanceof InvalidParameterValueException, `${err.name}: ${err.message}`);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.equal(err.message, 'The NextToken is not one ListMetrics gave: pass the NextToken of the previous ListMetrics answer as it came, or none for the first page.');
  } finally {
    client.destroy();
  }
});

test('a query-protocol body that does not fit the front door\'s body memory is a 503 ServiceUnavailable in XML, which the query clients retry; a JSON one is a control-plane JSON error (__type, x-amzn-query-error)', async () => {
  const clock = createMetricClock(60);
  const cw = new CloudWatchService({ metrics: new MetricStore(clock), clock });
  const small = createServer(createFrontDoor({ endpoints: new Map(), services: [cw], queryHandler: createCloudWatchQueryHandler(cw), bodyMemoryBytes: 1024 }));
  await new Promise<void>((ok) => small.listen(0, '127.0.0.1', ok));
  try {
    const smallUrl = `http://127.0.0.1:${(small.address() as AddressInfo).port}/`;
    const form = await fetch(smallUrl, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=${'a'.repeat(2000)}`, signal: AbortSignal.timeout(60_000) });
    const xml = await form.text();
    assert.equal(form.status, 503, xml);
    assert.equal(form.headers.get('content-type'), 'text/xml');
    assert.equal(form.headers.get('retry-after'), '1');
    assert.match(xml, /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Receiver<\/Type><Code>ServiceUnavailable<\/Code><Message>The request and response bodies the local front door holds [^<]+<\/Message><\/Error><RequestId>[^<]+<\/RequestId><\/ErrorResponse>$/);
    const jsonAnswer = await fetch(smallUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'GraniteServiceVersion20100801.DescribeAlarms' },
      body: JSON.stringify({ AlarmNamePrefix: 'a'.repeat(2000) }),
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(jsonAnswer.status, 503);
    assert.equal(jsonAnswer.headers.get('x-amzn-errortype'), 'ServiceUnavailable');
    assert.equal(jsonAnswer.headers.get('retry-after'), '1');
    // As the control plane's other JSON errors: botocore reads the code from __type (else "503"), a query-compatible client from x-amzn-query-error.
    assert.equal(jsonAnswer.headers.get('content-type'), 'application/x-amz-json-1.0');
    assert.equal(jsonAnswer.headers.get('x-amzn-query-error'), 'ServiceUnavailable;Receiver');
    const busy = JSON.parse(await jsonAnswer.text()) as { __type?: unknown; message?: unknown };
    assert.equal(busy.__type, 'ServiceUnavailable');
    assert.match(String(busy.message), /SMKIT_LOCAL_BODY_MEMORY_MB/);
  } finally {
    await new Promise<void>((ok) => small.close(() => ok()));
  }
});

/** Sends `first`, then `rest` once `pauseMs` have passed, on one connection, and resolves with all the server sent once it closes the connection. */
async function sentInTwoThenClosed(port: number, first: string, pauseMs: number, rest: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  socket.on('error', () => undefined);
  // Listened for from the start: a connection the server answers and closes during the pause (as
  // Node's own timeout did) is seen then, not waited for until the timeout.
  const closed = once(socket, 'close', { signal: AbortSignal.timeout(60_000) });
  closed.catch(() => undefined);
  try {
    await once(socket, 'connect');
    socket.write(first);
    await new Promise((r) => setTimeout(r, pauseMs));
    if (!socket.destroyed) socket.write(rest);
    await closed;
    return got;
  } finally {
    socket.destroy();
  }
}

test('a control-plane body that stalls gets a 408 RequestTimeoutException in the protocol its request names (query XML, or awsJson with x-amzn-query-error), and its connection closed, before Node\'s own request timeout', async () => {
  const clock = createMetricClock(60);
  const cw = new CloudWatchService({ metrics: new MetricStore(clock), clock });
  // The front door's timings scaled down: the body reader gives a body 1 s once its headers are in,
  // Node checks its timeouts ten times a second, and the headers may take 30 s, so Node's own
  // request timeout (30 s + 1 s + two checks) is some 27 s after the body reader's answer: load
  // that delays timers by seconds does not let it come first.
  const timing = { headersTimeoutMs: 30_000, bodyTimeoutMs: 1000, connectionsCheckingIntervalMs: 100 };
  const slow = createFrontDoorServer(createFrontDoor({ endpoints: new Map(), services: [cw], queryHandler: createCloudWatchQueryHandler(cw), bodyTimeoutMs: timing.bodyTimeoutMs }), timing);
  await new Promise<void>((ok) => slow.listen(0, '127.0.0.1', ok));
  try {
    const { port } = slow.address() as AddressInfo;
    // The headers take 3 s to arrive, then part of the 100 bytes they promise, then nothing: the
    // body reader answers 1 s after the headers, 4 s after the request began, seconds past the 1 s
    // Node's own timeout would have if it were the body reader's (as it was).
    const lateMs = 3000;
    const [query, awsJson, invocation] = await Promise.all([
      sentInTwoThenClosed(port, 'POST / HTTP/1.1\r\nHost: localhost\r\n', lateMs, 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction=ListMet'),
      sentInTwoThenClosed(port, 'POST / HTTP/1.1\r\nHost: localhost\r\n', lateMs, 'X-Amz-Target: GraniteServiceVersion20100801.ListMetrics\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 100\r\n\r\n{"Namesp'),
      // An invocation on the same port: the runtime's own 408.
      sentInTwoThenClosed(port, 'POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\n', lateMs, 'Content-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,2'),
    ]);
    assert.match(invocation, /^HTTP\/1\.1 408 [^]*\r\n\r\n\{"message":"The request body did not arrive within 1 s\."\}$/, invocation);
    assert.match(query, /^HTTP\/1\.1 408 /, query);
    assert.match(query, /\r\nContent-Type: text\/xml\r\n/i);
    assert.match(query, /\r\n\r\n<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>RequestTimeoutException<\/Code><Message>The request body did not arrive within 1 s\.<\/Message><\/Error><RequestId>[^<]+<\/RequestId><\/ErrorResponse>$/);
    assert.match(awsJson, /^HTTP\/1\.1 408 /, awsJson);
    assert.match(awsJson, /\r\nContent-Type: application\/x-amz-json-1\.0\r\n/i);
    assert.match(awsJson, /\r\nx-amzn-ErrorType: RequestTimeoutException\r\n/i);
    assert.match(awsJson, /\r\nx-amzn-query-error: RequestTimeoutException;Sender\r\n/i);
    assert.match(awsJson, /\r\n\r\n\{"__type":"RequestTimeoutException","message":"The request body did not arrive within 1 s\."\}$/);
  } finally {
    await new Promise<void>((ok) => slow.close(() => ok()));
  }
});

test('a control-plane request whose head the server refuses (two Host lines, an invalid Host, a fragment, two Content-Type lines) is answered in its protocol: query XML for a form body, awsJson with x-amzn-query-error for X-Amz-Target; an invocation keeps the server\'s own answer', async () => {
  const { port } = server.address() as AddressInfo;
  const form = 'Action=ListMetrics&Version=2010-08-01';
  const post = (target: string, head: string, body: string) => `POST ${target} HTTP/1.1\r\n${head}Connection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const queryCases: [string, RegExp][] = [
    [post('/', 'Host: a\r\nHost: b\r\nContent-Type: application/x-www-form-urlencoded\r\n', form), /The request has more than one Host header line/],
    [post('/#frag', 'Host: a\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n', form), /holds a fragment/],
    // An absolute-form target with an empty path is routed as `/`.
    [post('http://a?Action=ListMetrics', 'Host: a\r\nHost: b\r\nContent-Type: application/x-www-form-urlencoded\r\n', form), /more than one Host header line/],
    // Either line may be the form one: neither is taken as the request's type, but a form line says it speaks the query protocol.
    [post('/', 'Host: a\r\nContent-Type: text/plain\r\nContent-Type: application/x-www-form-urlencoded\r\n', form), /more than one Content-Type header line/],
    [post('/', 'Host: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Type: text/plain\r\n', form), /more than one Content-Type header line/],
  ];
  for (const [bytes, message] of queryCases) {
    const answer = await answerUntilClose(port, bytes, 60_000);
    assert.match(answer, /^HTTP\/1\.1 400 /, answer);
    assert.match(answer, /\r\nContent-Type: text\/xml\r\n/i, answer);
    const requestId = /\r\nx-amzn-RequestId: ([\w-]+)\r\n/i.exec(answer)?.[1];
    assert.ok(requestId, answer);
    const xml = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    assert.match(xml, /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>MalformedHttpRequestException<\/Code><Message>[^<]+<\/Message><\/Error><RequestId>([\w-]+)<\/RequestId><\/ErrorResponse>$/, xml);
    assert.match(xml, message);
    assert.equal(/<RequestId>([\w-]+)</.exec(xml)?.[1], requestId);
  }
  const jsonHead = 'X-Amz-Target: GraniteServiceVersion20100801.ListMetrics\r\n';
  const jsonCases: [string, RegExp][] = [
    [post('/', `Host: a/b\r\n${jsonHead}Content-Type: application/x-amz-json-1.0\r\n`, '{}'), /The Host header "a\/b" is not a host name/],
    [post('/', `Host: a\r\nHost: a\r\n${jsonHead}Content-Type: application/x-amz-json-1.0\r\n`, '{}'), /more than one Host header line/],
    [post('/', `Host: a\r\nX-Amzn-SageMaker-Custom-Attributes: a\r\nX-Amzn-SageMaker-Custom-Attributes: b\r\n${jsonHead}Content-Type: application/x-amz-json-1.0\r\n`, '{}'), /more than one X-Amzn-SageMaker-Custom-Attributes header line/],
    // X-Amz-Target says awsJson, whatever a form Content-Type line beside the JSON one says.
    [post('/', `Host: a\r\n${jsonHead}Content-Type: application/x-www-form-urlencoded\r\nContent-Type: application/x-amz-json-1.0\r\n`, '{}'), /more than one Content-Type header line/],
  ];
  for (const [bytes, message] of jsonCases) {
    const answer = await answerUntilClose(port, bytes, 60_000);
    assert.match(answer, /^HTTP\/1\.1 400 /, answer);
    assert.match(answer, /\r\nContent-Type: application\/x-amz-json-1\.0\r\n/i, answer);
    assert.match(answer, /\r\nx-amzn-RequestId: [\w-]+\r\n/i, answer);
    assert.match(answer, /\r\nx-amzn-ErrorType: MalformedHttpRequestException\r\n/i, answer);
    assert.match(answer, /\r\nx-amzn-query-error: MalformedHttpRequestException;Sender\r\n/i, answer);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['__type', 'message']);
    assert.equal(body.__type, 'MalformedHttpRequestException');
    assert.match(String(body.message), message);
  }
  // The runtime's routes answer as the runtime refuses a request, whatever X-Amz-Target says.
  for (const target of ['/endpoints/e/invocations', 'http://a/endpoints/e/invocations']) {
    const invocation = await answerUntilClose(port, post(target, `Host: a\r\nHost: b\r\n${jsonHead}Content-Type: application/x-www-form-urlencoded\r\n`, form), 60_000);
    assert.match(invocation, /^HTTP\/1\.1 400 [^]*\r\nx-amzn-ErrorType: ValidationError\r\n[^]*\r\n\r\n\{"Message":"The request has more than one Host header line/i, invocation);
  }
});

test('an X-Amz-Target with no operation gets the query code of an unknown operation, InvalidAction, as an operation CloudWatch does not have', async () => {
  const unknown = await json('PutDashboard', '{}');
  const empty = await json('', '{}');
  assert.deepEqual(errorShape(empty), errorShape(unknown));
  assert.deepEqual(errorShape(unknown), { status: 400, contentType: 'application/x-amz-json-1.0', type: 'UnknownOperationException', errorType: 'UnknownOperationException', queryError: 'InvalidAction;Sender', members: ['__type', 'message'] });
});

test('a MaxRecords or a length past the model\'s bounds is worded as CloudWatch words it: "Member must have value less than or equal to 100" (boto/boto3#3475), not a range of its own', async () => {
  const client = new CloudWatchClient({ ...localClientConfig(url), maxAttempts: 1 });
  try {
    // The JS SDK sends what it is given; CloudWatch's answer for MaxRecords 999, as a user reported it.
    await assert.rejects(client.send(new DescribeAlarmsCommand({ MaxRecords: 999 })), (err: Error) => err.message === "1 validation error detected: Value '999' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100");
    await assert.rejects(client.send(new DescribeAlarmHistoryCommand({ MaxRecords: 0 })), (err: Error) => err.message === "1 validation error detected: Value '0' at 'maxRecords' failed to satisfy constraint: Member must have value greater than or equal to 1");
    await assert.rejects(client.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'a'.repeat(256) })), (err: Error) => err.message === `1 validation error detected: Value '${'a'.repeat(256)}' at 'alarmNamePrefix' failed to satisfy constraint: Member must have length less than or equal to 255`);
    await assert.rejects(client.send(new DeleteAlarmsCommand({ AlarmNames: Array.from({ length: 101 }, (_, i) => `a${i}`) })), (err: Error) => err.message.endsWith("at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100"));
    await assert.rejects(client.send(new DescribeAlarmsCommand({ AlarmNames: ['ok', 'n'.repeat(256)] })), (err: Error) => err.message === `1 validation error detected: Value '${'n'.repeat(256)}' at 'alarmNames.2.member' failed to satisfy constraint: Member must have length less than or equal to 255`);
    await assert.rejects(client.send(new ListMetricsCommand({ Namespace: '' })), (err: Error) => err.message === "1 validation error detected: Value '' at 'namespace' failed to satisfy constraint: Member must have length greater than or equal to 1");
  } finally {
    client.destroy();
  }
});

test('a list or a Period past the model\'s bounds is worded as CloudWatch words it (ListMetrics Dimensions, GetMetricStatistics Statistics and ExtendedStatistics, Period 0), and a filter without its required Name "must not be null"', async () => {
  const client = new CloudWatchClient({ ...localClientConfig(url), maxAttempts: 1 });
  const window = { Namespace: 'Gzipped', MetricName: 'Quality', StartTime: new Date(Date.now() - 3_600_000), EndTime: new Date(), Period: 60 };
  try {
    const filters = Array.from({ length: 11 }, (_, i) => ({ Name: `d${i}` }));
    await assert.rejects(client.send(new ListMetricsCommand({ Dimensions: filters })), (err: Error) => err.message === `1 validation error detected: Value '${JSON.stringify(filters)}' at 'dimensions' failed to satisfy constraint: Member must have length less than or equal to 10`);
    await assert.rejects(
      client.send(new ListMetricsCommand({ Dimensions: [{ Name: 'ok' }, { Value: 'v' } as { Name: string; Value: string }] })),
      (err: Error) => err.message === "1 validation error detected: Value null at 'dimensions.2.member.name' failed to satisfy constraint: Member must not be null",
    );
    await client.send(new ListMetricsCommand({ Dimensions: Array.from({ length: 10 }, (_, i) => ({ Name: `d${i}` })) }));
    const six = ['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount', 'Sum'] as const;
    await assert.rejects(client.send(new GetMetricStatisticsCommand({ ...window, Statistics: [...six] })), (err: Error) => err.message === `1 validation error detected: Value '${JSON.stringify(six)}' at 'statistics' failed to satisfy constraint: Member must have length less than or equal to 5`);
    const eleven = Array.from({ length: 11 }, (_, i) => `p${i + 1}`);
    await assert.rejects(client.send(new GetMetricStatisticsCommand({ ...window, ExtendedStatistics: eleven })), (err: Error) => err.message === `1 validation error detected: Value '${JSON.stringify(eleven)}' at 'extendedStatistics' failed to satisfy constraint: Member must have length less than or equal to 10`);
    await client.send(new GetMetricStatisticsCommand({ ...window, Statistics: ['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount'] }));
    // Period: the model's minimum is 1, so 0 breaks that bound (in GetMetricStatistics and a GetMetricData MetricStat alike).
    await assert.rejects(client.send(new GetMetricStatisticsCommand({ ...window, Period: 0, Statistics: ['Sum'] })), (err: Error) => err.message === "1 validation error detected: Value '0' at 'period' failed to satisfy constraint: Member must have value greater than or equal to 1");
    await assert.rejects(
      client.send(new GetMetricDataCommand({ StartTime: window.StartTime, EndTime: window.EndTime, MetricDataQueries: [{ Id: 'q', MetricStat: { Metric: { Namespace: 'Gzipped', MetricName: 'Quality' }, Period: 0, Stat: 'Sum' } }] })),
      (err: Error) => err.message === "1 validation error detected: Value '0' at 'metricDataQueries.1.member.metricStat.period' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
  } finally {
    client.destroy();
  }
});
