import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import request from 'supertest';
import { createFrontDoor } from '../../local/front-door/app.js';
import { createFrontDoorServer, listenFrontDoor } from '../../local/front-door/http-server.js';
import { until } from '../../../test/helpers/until.js';
import { MAX_AWS_JSON_DEPTH } from './aws-json.js';
import { ANSWER_SLICE_BYTES } from '../../net/end-in-slices.js';
import { createCloudWatchQueryHandler } from '../../local/control-plane/cloudwatch/query-handler.js';
import type { CloudWatchService } from '../../local/control-plane/cloudwatch/cloudwatch-service.js';
import { AwsServiceError, INTERNAL_FAILURE_WARNING, unknownOperation, type AwsService } from '../service.js';
import { recordSocketWrites } from '../../../test/helpers/socket-writes.js';

function service(prefix: string, queryCompatible = false): AwsService & { calls: Array<[string, Record<string, unknown>]> } {
  const calls: Array<[string, Record<string, unknown>]> = [];
  return {
    targetPrefix: prefix,
    signingName: prefix.toLowerCase(),
    awsQueryCompatible: queryCompatible,
    calls,
    async call(op, input) {
      calls.push([op, input]);
      if (op === 'Echo') return { Got: input, When: 1700000000.5 };
      if (op === 'Missing') throw new AwsServiceError('ResourceNotFound', 'Nothing called x.', 400);
      if (op === 'Crash') throw new Error('boom');
      throw unknownOperation(prefix, op);
    },
  };
}

test('awsJson: X-Amz-Target picks the service and operation; the response follows the request protocol version', async () => {
  const sm = service('SageMaker');
  const cw = service('GraniteServiceVersion20100801', true);
  const app = createFrontDoor({ endpoints: new Map(), services: [sm, cw] });
  let res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send('{"A":1}');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'application/x-amz-json-1.1');
  assert.match(res.headers['x-amzn-requestid'] as string, /^[0-9a-f-]{36}$/);
  assert.deepEqual(JSON.parse(res.text), { Got: { A: 1 }, When: 1700000000.5 });
  res = await request(app).post('/').set('X-Amz-Target', 'GraniteServiceVersion20100801.Echo').set('Content-Type', 'application/x-amz-json-1.0').send('');
  assert.equal(res.headers['content-type'], 'application/x-amz-json-1.0');
  assert.deepEqual(JSON.parse(res.text).Got, {}, 'an empty body is an empty input');
  assert.deepEqual(sm.calls.map((c) => c[0]), ['Echo']);
  assert.deepEqual(cw.calls.map((c) => c[0]), ['Echo']);
});

test('awsJson errors: __type, message and x-amzn-ErrorType; query-compatible services add x-amzn-query-error', async () => {
  const told: string[] = [];
  const app = createFrontDoor({ endpoints: new Map(), services: [service('SageMaker'), service('GraniteServiceVersion20100801', true)], onInternalFailure: (where) => told.push(where) });
  let res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Missing').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(res.status, 400);
  assert.equal(res.headers['x-amzn-errortype'], 'ResourceNotFound');
  assert.deepEqual(JSON.parse(res.text), { __type: 'ResourceNotFound', message: 'Nothing called x.' });
  assert.equal(res.headers['x-amzn-query-error'], undefined);
  res = await request(app).post('/').set('X-Amz-Target', 'GraniteServiceVersion20100801.Missing').set('Content-Type', 'application/x-amz-json-1.0').send('{}');
  assert.equal(res.headers['x-amzn-query-error'], 'ResourceNotFound;Sender');
  res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Crash').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(res.status, 500);
  assert.equal(JSON.parse(res.text).__type, 'InternalFailure');
  assert.deepEqual(told, ['SageMaker']);
  res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Nope').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(JSON.parse(res.text).__type, 'UnknownOperationException');
  res = await request(app).post('/').set('X-Amz-Target', 'Other.Echo').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(res.status, 400);
  assert.match(JSON.parse(res.text).message, /No local service answers X-Amz-Target prefix "Other"/);
  // Most often every service's client was pointed here with AWS_ENDPOINT_URL: the message says what to set instead.
  assert.match(JSON.parse(res.text).message, /set the service-specific variables .*\(AWS_ENDPOINT_URL_SAGEMAKER, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, .*\) rather than AWS_ENDPOINT_URL,/);
  res = await request(app).post('/').set('X-Amz-Target', 'NoDot').send('{}');
  assert.equal(JSON.parse(res.text).__type, 'UnknownOperationException');
});

test("a local service's own failure is a 500 InternalFailure with AWS's generic message (awsJson and CloudWatch's query protocol); its text goes to the log only", async () => {
  const told: Array<[string, string]> = [];
  const onInternalFailure = (where: string, err: unknown) => told.push([where, (err as Error).message]);
  const queryHandler = createCloudWatchQueryHandler({ signingName: 'monitoring', call: async () => Promise.reject(new Error('boom at /home/me/secret/path')) } as unknown as CloudWatchService, onInternalFailure);
  const app = createFrontDoor({ endpoints: new Map(), services: [service('SageMaker')], queryHandler, onInternalFailure });
  let res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Crash').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(res.status, 500);
  assert.deepEqual(JSON.parse(res.text), { __type: 'InternalFailure', message: 'The request processing has failed because of an unknown error, exception or failure.' });
  res = await request(app).post('/').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=ListMetrics&Version=2010-08-01');
  assert.equal(res.status, 500);
  assert.match(res.text, /<Code>InternalFailure<\/Code>\s*<Message>The request processing has failed because of an unknown error, exception or failure\.<\/Message>/);
  assert.doesNotMatch(res.text, /boom|secret/);
  assert.deepEqual(told, [['SageMaker', 'boom'], ['CloudWatch', 'boom at /home/me/secret/path']]);
});

test('an X-Amz-Target no service answers is quoted in its error cut short, however long it is (headers may reach 16 KB)', async () => {
  const app = createFrontDoor({ endpoints: new Map(), services: [service('SageMaker')] });
  const long = 'x'.repeat(15_000);
  for (const [target, quoted] of [
    [`${long}.Echo`, /^No local service answers X-Amz-Target prefix "x{100}…" /],
    [`SageMaker.${long}`, /^The local SageMaker does not implement the operation x{100}…\.$/],
    [long, /^X-Amz-Target "x{100}…" is not of the form <Service>\.<Operation>\.$/],
  ] as const) {
    const res = await request(app).post('/').set('X-Amz-Target', target).set('Content-Type', 'application/x-amz-json-1.1').send('{}');
    assert.equal(res.status, 400);
    const body = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(body.__type, 'UnknownOperationException');
    assert.match(body.message, quoted);
    assert.ok(res.text.length < 1000, `${res.text.length} characters`);
  }
});

test('awsJson: malformed or non-object JSON is a SerializationException 400; a body that does not decode is a 400 MalformedHttpRequestException, one over 5 MiB a 413 RequestEntityTooLargeException; the server keeps serving', async () => {
  const app = createFrontDoor({ endpoints: new Map(), services: [service('SageMaker')] });
  for (const body of ['{"A":', '[1,2]', '"text"', '\u00ff\u00fe']) {
    const res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send(body);
    assert.equal(res.status, 400, body);
    assert.equal(JSON.parse(res.text).__type, 'SerializationException', body);
  }
  const deep = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send(`{"A":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
  assert.equal(deep.status, 400);
  assert.equal(JSON.parse(deep.text).__type, 'SerializationException');
  // Brackets inside strings are text; 511 arrays inside the body's object are the deepest accepted.
  const deepest = `{"A":${'['.repeat(MAX_AWS_JSON_DEPTH - 1)}"[[[{{{\\\\"${']'.repeat(MAX_AWS_JSON_DEPTH - 1)}}`;
  const accepted = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send(deepest);
  assert.equal(accepted.status, 200, accepted.text.slice(0, 200));
  // A body that cannot be decoded is answered as an awsJson error too (SDKs read __type), not as a runtime error.
  const undecodable = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').set('Content-Encoding', 'gzip').send('{}');
  assert.equal(undecodable.status, 400);
  assert.equal(undecodable.headers['content-type'], 'application/x-amz-json-1.1');
  assert.equal(JSON.parse(undecodable.text).__type, 'MalformedHttpRequestException');
  const big = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send(`{"A":"${'x'.repeat(6 * 1024 * 1024)}"}`);
  assert.equal(big.status, 413);
  assert.equal(big.headers['x-amzn-errortype'], 'RequestEntityTooLargeException');
  assert.equal(JSON.parse(big.text).__type, 'RequestEntityTooLargeException');
  const ok = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Echo').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
  assert.equal(ok.status, 200);
});

test('a form-encoded POST / goes to the query-protocol hook with the raw body; without a hook it is a 404', async () => {
  const seen: string[] = [];
  const app = createFrontDoor({
    endpoints: new Map(),
    queryHandler: (req, res) => {
      seen.push((req.body as Buffer).toString());
      res.status(200).type('text/xml').send('<ok/>');
    },
  });
  const res = await request(app).post('/').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=DescribeAlarms&Version=2010-08-01');
  assert.equal(res.status, 200);
  assert.deepEqual(seen, ['Action=DescribeAlarms&Version=2010-08-01']);
  const none = await request(createFrontDoor({ endpoints: new Map() })).post('/').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=X');
  assert.equal(none.status, 404);
});

test('a caller that takes nothing of a control-plane answer (awsJson or query) for the send idle time is dropped, so the answer it left is not held for good', async () => {
  // 64 MB: more than the sockets' buffers take (Linux lets a receive buffer grow to 32 MB), so the answer cannot all be sent to a caller that does not read.
  const big = 'x'.repeat(64 * 1024 * 1024);
  const listing: AwsService = { targetPrefix: 'SageMaker', signingName: 'sagemaker', call: async () => ({ Big: big }) };
  const queryHandler = (_req: unknown, res: { end(body: string): void }) => res.end(`<ListMetricsResponse>${big}</ListMetricsResponse>`);
  const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map(), services: [listing], queryHandler, sendIdleMs: 200 }));
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  const port = await listenFrontDoor(server, 0);
  try {
    for (const [i, head] of ['X-Amz-Target: SageMaker.ListEverything\r\nContent-Type: application/x-amz-json-1.1', 'Content-Type: application/x-www-form-urlencoded'].entries()) {
      const caller = connect(port, '127.0.0.1');
      caller.on('error', () => {});
      await once(caller, 'connect');
      // The caller never reads its answer.
      caller.pause();
      caller.write(`POST / HTTP/1.1\r\nHost: x\r\n${head}\r\nContent-Length: 2\r\n\r\n{}`);
      const held = await until('the front door to take the connection', () => accepted[i]);
      // The 64 MB answer is built and its first slices written before the idle timer can run: seconds
      // on a loaded machine (10 s passed once in CI under a load average of 15), so the bound is wide.
      await until('the front door to close the connection of a caller that does not read', () => held.destroyed, { timeoutMs: 60_000 });
      caller.destroy();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('a large control-plane answer (awsJson or query) goes to the socket in slices, so a caller reading it slowly, but reading, is not dropped as idle', async () => {
  // A socket's idle timer is reset only when a write completes, and a write completes only once all
  // of it has gone: one write of the whole answer is, to the timer, a caller taking nothing until the end.
  const big = 'y'.repeat(1024 * 1024);
  const listing: AwsService = { targetPrefix: 'SageMaker', signingName: 'sagemaker', call: async () => ({ Big: big }) };
  const queryHandler = createCloudWatchQueryHandler({ call: async () => ({ Metrics: [{ MetricName: big }] }) } as unknown as CloudWatchService);
  const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map(), services: [listing], queryHandler }));
  const writes = recordSocketWrites(server);
  const port = await listenFrontDoor(server, 0);
  try {
    for (const headers of [{ 'X-Amz-Target': 'SageMaker.ListEverything', 'Content-Type': 'application/x-amz-json-1.1' }, { 'Content-Type': 'application/x-www-form-urlencoded' }] as Array<Record<string, string>>) {
      writes.length = 0;
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers, body: headers['Content-Type']!.includes('json') ? '{}' : 'Action=ListMetrics&Version=2010-08-01', signal: AbortSignal.timeout(60_000) });
      const text = await res.text();
      assert.equal(res.status, 200, text.slice(0, 200));
      assert.ok(text.includes(big), 'the whole answer arrives');
      assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)), 'sent with its length, not chunked');
      assert.ok(Math.max(...writes) <= ANSWER_SLICE_BYTES, `writes of ${writes.join(', ')} bytes`);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("the front door's own failure (its catch-all) is a 500 InternalFailure with AWS's generic message; its cause goes to onInternalFailure only", async () => {
  const told: Array<[string, string]> = [];
  const endpoints = { get: () => { throw new Error('boom at /home/me/secret/path'); } } as unknown as Parameters<typeof createFrontDoor>[0]['endpoints'];
  const app = createFrontDoor({ endpoints, onInternalFailure: (where, err) => told.push([where, (err as Error).message]) });
  const res = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/json').send('{}');
  assert.equal(res.status, 500);
  assert.equal(res.headers['x-amzn-errortype'], 'InternalFailure');
  assert.deepEqual(JSON.parse(res.text), { Message: 'The request processing has failed because of an unknown error, exception or failure.' });
  assert.doesNotMatch(res.text, /boom|secret/);
  assert.deepEqual(told, [['front door', 'boom at /home/me/secret/path']]);
});

/**
 * The SMKIT_INTERNAL_FAILURE process warnings emitted while `run` runs: taken from
 * `process.emitWarning` as it is called, so that they are checked here instead of printed on the
 * test run's stderr (Node's own handler prints each 'warning' event). Other warnings go on to Node.
 */
async function internalFailureWarnings(run: () => Promise<void>): Promise<Array<{ message: string; detail: string | undefined }>> {
  const seen: Array<{ message: string; detail: string | undefined }> = [];
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const emitted = mock.method(process, 'emitWarning', (warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0] as { code?: unknown; detail?: unknown } | undefined;
    if (typeof options !== 'object' || options === null || options.code !== INTERNAL_FAILURE_WARNING) return emitWarning(warning, ...rest);
    // An Error given in place of the message would show here as `Error: …`, which no test expects.
    seen.push({ message: typeof warning === 'string' ? warning : String(warning), detail: typeof options.detail === 'string' ? options.detail : undefined });
  });
  try {
    await run();
  } finally {
    emitted.mock.restore();
  }
  return seen;
}

const throwingEndpoints = { get: () => { throw new Error('boom at /home/me/secret/path'); } } as unknown as Parameters<typeof createFrontDoor>[0]['endpoints'];
const failingCloudWatch = { signingName: 'monitoring', call: async () => Promise.reject(new Error('boom at /home/me/secret/path')) } as unknown as CloudWatchService;
const GENERIC = 'The request processing has failed because of an unknown error, exception or failure.';

test('with no onInternalFailure the cause of an InternalFailure is a process warning naming the service, with its stack (it was in the answer before)', async () => {
  const app = createFrontDoor({ endpoints: throwingEndpoints, services: [service('SageMaker')], queryHandler: createCloudWatchQueryHandler(failingCloudWatch) });
  const warnings = await internalFailureWarnings(async () => {
    for (const res of [
      await request(app).post('/').set('X-Amz-Target', 'SageMaker.Crash').set('Content-Type', 'application/x-amz-json-1.1').send('{}'),
      await request(app).post('/').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=ListMetrics&Version=2010-08-01'),
      await request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/json').send('{}'),
    ]) {
      assert.equal(res.status, 500);
      assert.doesNotMatch(res.text, /boom|secret/);
    }
  });
  assert.deepEqual(warnings.map((w) => w.message), [
    'the local SageMaker failed (its caller was not told the cause): boom',
    'the local CloudWatch failed (its caller was not told the cause): boom at /home/me/secret/path',
    'the local front door failed (its caller was not told the cause): boom at /home/me/secret/path',
  ]);
  for (const w of warnings) assert.match(w.detail ?? '', /^Error: boom[^]*\n\s+at /);
});

test('an onInternalFailure hook that throws changes no answer (no stack in it, no crash): its throw and the cause become process warnings', async () => {
  const onInternalFailure = () => {
    throw new Error('hook bug');
  };
  const app = createFrontDoor({ endpoints: throwingEndpoints, services: [service('SageMaker')], queryHandler: createCloudWatchQueryHandler(failingCloudWatch, onInternalFailure), onInternalFailure });
  const warnings = await internalFailureWarnings(async () => {
    let res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.Crash').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(res.text), { __type: 'InternalFailure', message: GENERIC });
    res = await request(app).post('/').set('Content-Type', 'application/x-www-form-urlencoded').send('Action=ListMetrics&Version=2010-08-01');
    assert.equal(res.status, 500);
    assert.match(res.text, /<Code>InternalFailure<\/Code>/);
    res = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/json').send('{}');
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(res.text), { Message: GENERIC });
  });
  assert.deepEqual(warnings.map((w) => w.message), [
    'the onInternalFailure hook threw, told of a failure of the local SageMaker: hook bug',
    'the local SageMaker failed (its caller was not told the cause): boom',
    'the onInternalFailure hook threw, told of a failure of the local CloudWatch: hook bug',
    'the local CloudWatch failed (its caller was not told the cause): boom at /home/me/secret/path',
    'the onInternalFailure hook threw, told of a failure of the local front door: hook bug',
    'the local front door failed (its caller was not told the cause): boom at /home/me/secret/path',
  ]);
});

test("a CloudWatch query failure after the answer's headers were sent, which cannot be answered, still goes to onInternalFailure", async () => {
  const told = await new Promise<Array<[string, string]>>((resolve) => {
    const handler = createCloudWatchQueryHandler(failingCloudWatch, (where, err) => resolve([[where, (err as Error).message]]));
    const req = { body: Buffer.from('Action=ListMetrics&Version=2010-08-01') } as unknown as Parameters<typeof handler>[0];
    handler(req, { headersSent: true } as unknown as Parameters<typeof handler>[1]);
  });
  assert.deepEqual(told, [['CloudWatch', 'boom at /home/me/secret/path']]);
});
