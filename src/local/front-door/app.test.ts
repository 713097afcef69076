import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { SageMakerRuntimeClient, InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { HeadObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { LocalEndpoint, type VariantRuntime } from '../endpoint/local-endpoint.js';
import { createRandom } from '../endpoint/random.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { tempDirFor } from '../../../test/helpers/temp-dir.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';
import { createFrontDoor } from './app.js';
import { multiModelHost } from '../endpoint/container.js';

type AsyncRequest = Parameters<NonNullable<import('./app.js').RoutableEndpoint['invokeAsync']>>[0];

/** An asynchronous endpoint that keeps each InvokeEndpointAsync it is given in `queued` and runs nothing; it takes no real-time call. */
function queuingAsyncEndpoint(): { endpoint: import('./app.js').RoutableEndpoint; queued: AsyncRequest[] } {
  const queued: AsyncRequest[] = [];
  const endpoint = {
    asynchronous: true,
    invoke: () => Promise.reject(new Error('not real-time')),
    stream: () => Promise.reject(new Error('not real-time')),
    invokeAsync: (req: AsyncRequest) => {
      queued.push(req);
      return { inferenceId: 'inf-1', outputLocation: 's3://out/inf-1.out' };
    },
  };
  return { endpoint, queued };
}


interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
  bytes: Buffer;
}
interface Reply {
  status?: number;
  body: string;
  contentType?: string;
  headers?: Record<string, string>;
}

const servers: Server[] = [];
describe('front door app', () => {
  after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  /** A stand-in container: records each request and answers with `reply`. */
  async function fakeContainer(hostname: string, reply: (seen: Seen) => Reply): Promise<{ container: VariantRuntime['containers'][0]; seen: Seen[] }> {
    const seen: Seen[] = [];
    const server = createServer((req, res) => {
      if (answeredStrayPing(req, res)) return;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const s = { headers: req.headers, body: bytes.toString(), bytes };
        seen.push(s);
        const r = reply(s);
        res.writeHead(r.status ?? 200, { 'content-type': r.contentType ?? 'application/json', ...(r.headers ?? {}) });
        res.end(r.body);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    return { container: { hostname, url: `http://127.0.0.1:${port}`, logFile: `/tmp/logs/${hostname}.log` }, seen };
  }

  test('serial pipeline: bodies and content types flow; the caller Accept reaches only the last container', async () => {
    const a = await fakeContainer('container-1', (s) => ({ body: `${s.body}|a`, contentType: 'text/csv' }));
    const b = await fakeContainer('container-2', (s) => ({ body: `${s.body}|b`, contentType: 'application/x-b' }));
    const c = await fakeContainer('container-3', (s) => ({ body: `${s.body}|c`, contentType: 'text/x-final', headers: { 'x-amzn-sagemaker-custom-attributes': 'from=last' } }));
    const ep = new LocalEndpoint('pipe', [{ name: 'AllTraffic', weight: 1, containers: [a.container, b.container, c.container] }]);
    const app = createFrontDoor({ endpoints: new Map([['pipe', ep]]) });
    const res = await request(app)
      .post('/endpoints/pipe/invocations')
      .set('Content-Type', 'text/plain')
      .set('Accept', 'text/x-final')
      .set('X-Amzn-SageMaker-Custom-Attributes', 'trace=1')
      .set('X-Amzn-SageMaker-Inference-Id', 'inf-1')
      .set('Authorization', 'AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=abc')
      .send('in');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'in|a|b|c');
    assert.equal(res.headers['content-type'], 'text/x-final');
    assert.equal(res.headers['x-amzn-invoked-production-variant'], 'AllTraffic');
    assert.equal(res.headers['x-amzn-sagemaker-custom-attributes'], 'from=last');
    assert.match(res.headers['x-amzn-requestid'] as string, /^[0-9a-f-]{36}$/);
    assert.equal(a.seen[0]!.headers['content-type'], 'text/plain');
    assert.equal(b.seen[0]!.headers['content-type'], 'text/csv');
    assert.equal(c.seen[0]!.headers['content-type'], 'application/x-b');
    assert.equal(a.seen[0]!.headers.accept, '*/*', 'earlier containers use their default accept');
    assert.equal(b.seen[0]!.headers.accept, '*/*');
    assert.equal(c.seen[0]!.headers.accept, 'text/x-final');
    assert.equal(a.seen[0]!.headers['x-amzn-sagemaker-custom-attributes'], 'trace=1');
    assert.equal(c.seen[0]!.headers['x-amzn-sagemaker-inference-id'], 'inf-1');
    assert.equal(a.seen[0]!.headers.authorization, undefined, 'SigV4 Authorization is not forwarded');
  });

  test('errors: ModelError names the failing container; validation errors are 400', async () => {
    const ok = await fakeContainer('container-1', (s) => ({ body: s.body }));
    const bad = await fakeContainer('container-2', () => ({ status: 500, body: 'boom', contentType: 'text/plain' }));
    const picky = await fakeContainer('primary', () => ({ status: 415, body: '{"code":"ERR_UNSUPPORTED_MEDIA_TYPE"}' }));
    const endpoints = new Map([
      ['pipe', new LocalEndpoint('pipe', [{ name: 'AllTraffic', weight: 1, containers: [ok.container, bad.container] }])],
      ['single', new LocalEndpoint('single', [{ name: 'AllTraffic', weight: 1, containers: [picky.container] }])],
      ['gone', new LocalEndpoint('gone', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: 'http://127.0.0.1:1', logFile: '/tmp/g.log' }] }])],
    ]);
    const app = createFrontDoor({ endpoints, accountId: '123456789012' });

    let res = await request(app).post('/endpoints/pipe/invocations').set('Content-Type', 'application/json').send('[1]');
    assert.equal(res.status, 424);
    assert.equal(res.headers['x-amzn-errortype'], 'ModelError');
    assert.deepEqual(res.body, {
      Message: 'Received server error (500) from container-2 with message "boom". See /tmp/logs/container-2.log for more information.',
      OriginalStatusCode: 500,
      OriginalMessage: 'boom',
      LogStreamArn: '/tmp/logs/container-2.log',
    });

    res = await request(app).post('/endpoints/single/invocations').set('Content-Type', 'application/json').send('[1]');
    assert.equal(res.status, 424);
    assert.match(res.body.Message, /^Received client error \(415\) from primary with message/);

    res = await request(app).post('/endpoints/nope/invocations').send('x');
    assert.equal(res.status, 400);
    assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
    assert.equal(res.body.Message, 'Endpoint nope of account 123456789012 not found.');

    res = await request(app).post('/endpoints/single/invocations').set('X-Amzn-SageMaker-Target-Variant', 'Nope').send('x');
    assert.equal(res.status, 400);
    assert.match(res.body.Message, /variant Nope does not exist/);

    res = await request(app).post('/endpoints/single/invocations').set('X-Amzn-SageMaker-Inference-Id', 'x'.repeat(65)).send('x');
    assert.equal(res.status, 400);
    assert.match(res.body.Message, /^1 validation error detected: Value 'x+' at 'inferenceId' failed to satisfy constraint: Member must have length less than or equal to 64$/);

    // The service's answer to a body over 6 MB: 413 with no error type (boto3: "An error occurred (413) ...").
    res = await request(app).post('/endpoints/single/invocations').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(6_291_457));
    assert.equal(res.status, 413);
    assert.equal(res.headers['x-amzn-errortype'], undefined);
    assert.deepEqual(res.body, { message: 'HTTP content length exceeded 6291456 bytes.' });

    res = await request(app).post('/endpoints/gone/invocations').send('x');
    assert.equal(res.status, 503);
    assert.equal(res.headers['x-amzn-errortype'], 'ServiceUnavailable');
    assert.match(res.body.Message, /Container primary is not reachable/);

    res = await request(app).get('/endpoints/single/invocations');
    assert.equal(res.status, 404);

    // InvokeEndpointWithBidirectionalStream is not served: the answer says so and where to go instead.
    res = await request(app).post('/endpoints/single/invocations-bidirectional-stream').send('x');
    assert.equal(res.status, 404);
    assert.equal(res.headers['x-amzn-errortype'], 'UnknownOperationException');
    assert.match(res.body.Message, /does not offer InvokeEndpointWithBidirectionalStream.*smkit invoke --bidi/);
  });

  test('an endpoint name that is not valid percent-encoding is a ValidationError naming endpointName and its pattern, as any other invalid name', async () => {
    const app = createFrontDoor({ endpoints: new Map() });
    for (const op of ['invocations', 'invocations-response-stream', 'async-invocations']) {
      const res = await request(app).post(`/endpoints/ep%E0%A4%A/${op}`).send('x');
      assert.equal(res.status, 400);
      assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
      assert.equal(res.body.Message, "1 validation error detected: Value 'ep%E0%A4%A' at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*");
    }
  });

  test('weighted routing is seedable, TargetVariant pins a variant, shadow answers are compared but never returned', async () => {
    const one = await fakeContainer('primary', () => ({ body: '[0.5, 0.5]' }));
    const two = await fakeContainer('primary', () => ({ body: '[0.5, 0.5]' }));
    const shadow = await fakeContainer('primary', (s) => ({ body: s.body.includes('odd') ? '[0.25, 0.5]' : '[0.5, 0.5]' }));
    const make = (): LocalEndpoint =>
      new LocalEndpoint('ab', [{ name: 'A', weight: 1, containers: [one.container] }, { name: 'B', weight: 1, containers: [two.container] }], {
        shadow: { name: 'Shadow', weight: 0, containers: [shadow.container] },
        random: createRandom(42),
      });
    const ep = make();
    const app = createFrontDoor({ endpoints: new Map([['ab', ep]]) });
    const picks: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await request(app).post('/endpoints/ab/invocations').set('Content-Type', 'application/json').send(i === 3 ? '"odd"' : '"even"');
      assert.equal(res.text, '[0.5, 0.5]');
      picks.push(res.headers['x-amzn-invoked-production-variant'] as string);
    }
    assert.ok(picks.includes('A') && picks.includes('B'), picks.join());
    const again = make();
    assert.deepEqual(picks, Array.from({ length: 8 }, () => again.route().name), 'same seed, same routing');
    const pinned = await request(app).post('/endpoints/ab/invocations').set('X-Amzn-SageMaker-Target-Variant', 'B').send('1');
    assert.equal(pinned.headers['x-amzn-invoked-production-variant'], 'B');
    await ep.idle();
    assert.deepEqual(ep.shadowStats, { requests: 9, compared: 9, differing: 1, shadowErrors: 0, maxAbsDiff: 0.25 });
    assert.equal(shadow.seen[8]!.headers['x-amzn-sagemaker-target-variant'], undefined);
  });

  test('the AWS SDK v3 client works against the front door, including ModelError', async () => {
    const good = await fakeContainer('primary', (s) => ({ body: JSON.stringify({ echo: s.body, accept: s.headers.accept ?? null }), contentType: 'application/json' }));
    const bad = await fakeContainer('primary', () => ({ status: 400, body: 'bad input', contentType: 'text/plain' }));
    const app = createFrontDoor({
      endpoints: new Map([
        ['good', new LocalEndpoint('good', [{ name: 'AllTraffic', weight: 1, containers: [good.container] }])],
        ['bad', new LocalEndpoint('bad', [{ name: 'AllTraffic', weight: 1, containers: [bad.container] }])],
      ]),
    });
    const server = createServer(app);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const client = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${port}`));
    try {
      const out = await client.send(new InvokeEndpointCommand({ EndpointName: 'good', Body: Buffer.from('hello'), Accept: 'application/json', CustomAttributes: 'c=1' }));
      assert.equal(out.InvokedProductionVariant, 'AllTraffic');
      assert.equal(out.ContentType, 'application/json');
      assert.deepEqual(JSON.parse(Buffer.from(out.Body!).toString()), { echo: 'hello', accept: 'application/json' });
      assert.equal(good.seen[0]!.headers['content-type'], 'application/octet-stream', 'the SDK default content type passes through');
      await assert.rejects(client.send(new InvokeEndpointCommand({ EndpointName: 'bad', Body: Buffer.from('x'), ContentType: 'text/csv' })), (err: Error & Record<string, unknown>) => {
        assert.equal(err.name, 'ModelError');
        assert.equal(err.OriginalStatusCode, 400);
        assert.equal(err.OriginalMessage, 'bad input');
        assert.equal(err.LogStreamArn, '/tmp/logs/primary.log');
        assert.equal((err.$metadata as { httpStatusCode: number }).httpStatusCode, 424);
        return true;
      });
      await assert.rejects(client.send(new InvokeEndpointCommand({ EndpointName: 'missing', Body: Buffer.from('x') })), (err: Error) => err.name === 'ValidationError' && /Endpoint missing of account/.test(err.message));
      // TargetVariant and InferenceComponentName are checked against the API model's patterns.
      await assert.rejects(
        client.send(new InvokeEndpointCommand({ EndpointName: 'good', Body: Buffer.from('x'), TargetVariant: 'All_Traffic' })),
        (err: Error) => err.name === 'ValidationError' && err.message === "1 validation error detected: Value 'All_Traffic' at 'targetVariant' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
      );
      await assert.rejects(
        client.send(new InvokeEndpointCommand({ EndpointName: 'good', Body: Buffer.from('x'), InferenceComponentName: 'ic_1' })),
        (err: Error) => err.name === 'ValidationError' && /at 'inferenceComponentName' failed to satisfy constraint/.test(err.message),
      );
      // The endpoint hosts no inference components: the service refuses the header for such an endpoint, and so does the front door.
      const seenBefore = good.seen.length;
      await assert.rejects(
        client.send(new InvokeEndpointCommand({ EndpointName: 'good', Body: Buffer.from('x'), InferenceComponentName: 'ic-1' })),
        (err: Error) => err.name === 'ValidationError' && /^Inference Component Name header is not allowed for endpoints to which you dont plan to deploy inference components\./.test(err.message),
      );
      await assert.rejects(
        client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'good', Body: Buffer.from('x'), InferenceComponentName: 'ic-1' })),
        (err: Error) => err.name === 'ValidationError' && /^Inference Component Name header is not allowed/.test(err.message),
      );
      assert.equal(good.seen.length, seenBefore, 'the container never saw those requests');
    } finally {
      client.destroy();
    }
  });

  test("with logGroupArn, a ModelError's LogStreamArn is the endpoint's log group ARN (InvokeEndpoint and the streaming operation); without one it is the log file", async () => {
    const bad = await fakeContainer('primary', () => ({ status: 400, body: 'bad input', contentType: 'text/plain' }));
    const arn = 'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/sagemaker/Endpoints/logged';
    const app = createFrontDoor({
      endpoints: new Map([
        ['logged', new LocalEndpoint('logged', [{ name: 'AllTraffic', weight: 1, containers: [bad.container] }])],
        ['unlogged', new LocalEndpoint('unlogged', [{ name: 'AllTraffic', weight: 1, containers: [bad.container] }])],
      ]),
      logGroupArn: (name) => (name === 'logged' ? arn : undefined),
    });
    const server = createServer(app);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    const logStreamArn = (err: unknown) => (err as { name: string; LogStreamArn?: string }).name === 'ModelError' && (err as { LogStreamArn?: string }).LogStreamArn;
    try {
      for (const send of [
        (name: string) => client.send(new InvokeEndpointCommand({ EndpointName: name, Body: Buffer.from('x') })),
        (name: string) => client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: name, Body: Buffer.from('x') })),
      ]) {
        await assert.rejects(send('logged'), (err: Error) => {
          assert.equal(logStreamArn(err), arn);
          assert.match(err.message, /See \/tmp\/logs\/primary\.log for more information\.$/);
          return true;
        });
        await assert.rejects(send('unlogged'), (err: Error) => logStreamArn(err) === '/tmp/logs/primary.log');
      }
    } finally {
      client.destroy();
    }
  });

  test('a container that does not answer in time is a ModelError with status 0', async () => {
    const hang = createServer(() => {});
    servers.push(hang);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const { port } = hang.address() as AddressInfo;
    const ep = new LocalEndpoint('slow', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: `http://127.0.0.1:${port}`, logFile: '/tmp/s.log' }] }], { timeoutMs: 300 });
    const res = await request(createFrontDoor({ endpoints: new Map([['slow', ep]]) })).post('/endpoints/slow/invocations').send('x');
    assert.equal(res.status, 424);
    assert.equal(res.headers['x-amzn-errortype'], 'ModelError');
    assert.equal(res.body.OriginalStatusCode, 0);
    assert.match(res.body.Message, /timed out while waiting for a response from container primary/);
    hang.closeAllConnections();
  });

  test('a container whose answer starts but does not finish in time is a ModelError with status 0 too (not a retried 503)', async () => {
    const stall = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"partial":');
      });
    });
    servers.push(stall);
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
    const { port } = stall.address() as AddressInfo;
    const ep = new LocalEndpoint('slow-body', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: `http://127.0.0.1:${port}`, logFile: '/tmp/s.log' }] }], { timeoutMs: 300 });
    const server = createServer(createFrontDoor({ endpoints: new Map([['slow-body', ep]]) }));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    try {
      const err = await client.send(new InvokeEndpointCommand({ EndpointName: 'slow-body', Body: Buffer.from('x') })).then(
        () => assert.fail('the invocation should fail'),
        (e: { name: string; $metadata: { httpStatusCode?: number; attempts?: number }; OriginalStatusCode?: number; message: string }) => e,
      );
      assert.equal(err.name, 'ModelError');
      assert.equal(err.$metadata.httpStatusCode, 424);
      assert.equal(err.$metadata.attempts, 1, 'a ModelError is not retried');
      assert.equal(err.OriginalStatusCode, 0);
      assert.match(err.message, /timed out while waiting for a response from container primary/);
    } finally {
      client.destroy();
      stall.closeAllConnections();
    }
  });

  test('a container whose answer is not HTTP/1.1 (a control character in a header) is a ModelError with status 0 saying so, for InvokeEndpoint and the streaming operation (not a retried 503 "not reachable")', async () => {
    let requests = 0;
    const broken = createTcpServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        requests++;
        socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amzn-SageMaker-Custom-Attributes: a\x7fb\r\nContent-Length: 2\r\n\r\n{}');
      });
    });
    servers.push(broken as unknown as Server);
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    const ep = new LocalEndpoint('broken', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url, logFile: '/tmp/b.log' }] }]);
    const server = createServer(createFrontDoor({ endpoints: new Map([['broken', ep]]) }));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // The SDK's default retries: a 503 would be sent three times.
    const client = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    type Failed = { name: string; $metadata: { httpStatusCode?: number; attempts?: number }; OriginalStatusCode?: number; OriginalMessage?: string };
    try {
      for (const send of [
        () => client.send(new InvokeEndpointCommand({ EndpointName: 'broken', Body: Buffer.from('x') })),
        () => client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'broken', Body: Buffer.from('x') })),
      ]) {
        const before = requests;
        const err = await send().then(
          () => assert.fail('the invocation should fail'),
          (e: Failed) => e,
        );
        assert.equal(err.name, 'ModelError');
        assert.equal(err.$metadata.httpStatusCode, 424);
        assert.equal(err.$metadata.attempts, 1, 'a ModelError is not retried');
        assert.equal(requests - before, 1);
        assert.equal(err.OriginalStatusCode, 0);
        // Node 24's fetch (undici 7) gives the parser error without llhttp's code: its name stands in.
        assert.match(err.OriginalMessage!, /^The response from container primary could not be read as HTTP\/1\.1 \((HPE_INVALID_HEADER_TOKEN|HTTPParserError): .+\)\. Fix how the container writes its answer/);
      }
    } finally {
      client.destroy();
    }
  });

  test('a container whose answer headers are over the 16 KB the front door reads is a ModelError with status 0 saying so, not a 503 "not reachable"', async () => {
    const bloated = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'x-debug': 'a'.repeat(20_000) }).end('{}'));
    });
    servers.push(bloated);
    await new Promise<void>((r) => bloated.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(bloated.address() as AddressInfo).port}`;
    const ep = new LocalEndpoint('bloated', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url, logFile: '/tmp/b.log' }] }]);
    const res = await request(createFrontDoor({ endpoints: new Map([['bloated', ep]]) })).post('/endpoints/bloated/invocations').send('x');
    assert.equal(res.status, 424);
    assert.equal(res.headers['x-amzn-errortype'], 'ModelError');
    assert.equal(res.body.OriginalStatusCode, 0);
    assert.match(res.body.OriginalMessage, /^The response from container primary could not be read as HTTP\/1\.1 \(UND_ERR_HEADERS_OVERFLOW: .+\)\. .*at most 16 KB in all/);
  });

  /** A container answering `status` with `total` bytes in 64 KB writes, as fast as it is read; `sent` says how many it handed over before its connection closed. */
  async function floodingContainer(status: number, total: number): Promise<{ url: string; sent: () => number; closed: Promise<void> }> {
    let sent = 0;
    let closed!: () => void;
    const closedPromise = new Promise<void>((r) => (closed = r));
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const pump = (): void => {
          while (sent < total && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', closed);
        pump();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent, closed: closedPromise };
  }

  test('a container answer over the 6 MB response limit is a ModelError, read no further than the limit; an error answer is read no further than what is quoted', async () => {
    const total = 64 * 1024 * 1024;
    const big = await floodingContainer(200, total);
    const bigError = await floodingContainer(500, total);
    const endpoints = new Map([
      ['big', new LocalEndpoint('big', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: big.url, logFile: '/tmp/b.log' }] }])],
      ['big-error', new LocalEndpoint('big-error', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: bigError.url, logFile: '/tmp/b.log' }] }])],
    ]);
    const app = createFrontDoor({ endpoints });
    let res = await request(app).post('/endpoints/big/invocations').send('x');
    assert.equal(res.status, 424);
    assert.equal(res.headers['x-amzn-errortype'], 'ModelError');
    assert.equal(res.body.OriginalStatusCode, 0);
    assert.match(res.body.Message, /^Received server error \(0\) from primary with message "The response from container primary could not be returned: its answer is larger than 6291456 bytes/);
    await big.closed;
    assert.ok(big.sent() < total, `the container's connection is closed once past the limit (it sent ${big.sent()} bytes)`);

    res = await request(app).post('/endpoints/big-error/invocations').send('x');
    assert.equal(res.status, 424);
    assert.equal(res.body.OriginalStatusCode, 500);
    assert.match(res.body.Message, /^Received server error \(500\) from primary and could not load the entire response body\./);
    assert.equal(res.body.OriginalMessage, 'a'.repeat(2048));
    await bigError.closed;
    assert.ok(bigError.sent() < total, `the container's connection is closed once what is quoted has been read (it sent ${bigError.sent()} bytes)`);
  });

  test('a body declared or sent over 6 MB is refused at once, not read to its end first; its connection is closed', async () => {
    const echo = await fakeContainer('primary', (s) => ({ body: s.body }));
    const server = createServer(createFrontDoor({ endpoints: new Map([['e', new LocalEndpoint('e', [{ name: 'AllTraffic', weight: 1, containers: [echo.container] }])]]) }));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const answerTo = async (head: string, body: Buffer): Promise<string> => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('error', () => {});
      try {
        await once(socket, 'connect');
        socket.write(head);
        socket.write(body);
        // The client sends no more: the answer must come without the rest of the body.
        for (const signal = AbortSignal.timeout(5000); !got.includes('\r\n\r\n{'); ) await once(socket, 'data', { signal });
        return got;
      } finally {
        socket.destroy();
      }
    };
    const declared = await answerTo('POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n', Buffer.alloc(0));
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, /\r\nConnection: close\r\n/i);
    assert.match(declared, /\{"message":"HTTP content length exceeded 6291456 bytes\."\}$/);
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    const chunked = Buffer.concat(Array.from({ length: 7 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])));
    const sent = await answerTo('POST /endpoints/e/invocations-response-stream HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n', chunked);
    assert.match(sent, /^HTTP\/1\.1 413 /);
    assert.equal(echo.seen.length, 0, 'the container saw nothing');
    // InvokeEndpointAsync's and the control plane's limits hold the same way, each answered in its operation's words.
    const asyncDeclared = await answerTo('POST /endpoints/e/async-invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n', Buffer.alloc(0));
    assert.match(asyncDeclared, /^HTTP\/1\.1 400 /);
    assert.match(asyncDeclared, /\r\nx-amzn-ErrorType: ValidationError\r\n/i);
    // Body is sensitive in the API model: the service names it without quoting it (aws/aws-sdk-js#4203).
    assert.match(asyncDeclared, /\{"Message":"1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 128000"\}$/);
    const controlPlane = await answerTo('POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: SageMaker.ListEndpoints\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 1000000000\r\n\r\n', Buffer.alloc(0));
    assert.match(controlPlane, /^HTTP\/1\.1 413 /);
    assert.match(controlPlane, /"__type":"RequestEntityTooLargeException"/);
  });

  test('the bodies held at once are bounded (bodyMemoryBytes): past it a request, or an answer, gets a 503 ServiceUnavailable that SDKs retry', async () => {
    const MB = 1024 * 1024;
    let arrived!: () => void;
    const atContainer = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/invocations' && req.headers['x-amzn-sagemaker-custom-attributes'] === 'big') return void res.end(Buffer.alloc(3 * MB));
        arrived();
        void gate.then(() => res.end('ok'));
      });
    });
    servers.push(held);
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    const container = { hostname: 'primary', url: `http://127.0.0.1:${(held.address() as AddressInfo).port}`, logFile: '/tmp/h.log' };
    const app = createFrontDoor({ endpoints: new Map([['e', new LocalEndpoint('e', [{ name: 'AllTraffic', weight: 1, containers: [container] }])]]), bodyMemoryBytes: 2.5 * MB });
    const first = request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(2 * MB)).then((r) => r);
    await atContainer;
    const refused = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(MB));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['x-amzn-errortype'], 'ServiceUnavailable');
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.body.Message, /already take 2 MB of the 2\.5 MB SMKIT_LOCAL_BODY_MEMORY_MB allows/);
    const controlPlane = await request(app).post('/').set('X-Amz-Target', 'SageMaker.ListEndpoints').set('Content-Type', 'application/x-amz-json-1.1').send(Buffer.alloc(MB));
    assert.equal(controlPlane.status, 503, 'control-plane bodies take from the same memory');
    assert.equal(controlPlane.headers['content-type'], 'application/x-amz-json-1.1');
    assert.equal(JSON.parse(controlPlane.text).__type, 'ServiceUnavailable', 'in the control plane\'s JSON: botocore reads a code from __type only');
    release();
    assert.equal((await first).status, 200);
    const retried = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(MB));
    assert.equal(retried.status, 200, 'the first body was given back once answered');
    const bigAnswer = await request(app).post('/endpoints/e/invocations').set('X-Amzn-SageMaker-Custom-Attributes', 'big').send('x');
    assert.equal(bigAnswer.status, 503, 'an answer that does not fit is dropped, not held');
    assert.equal(bigAnswer.headers['x-amzn-errortype'], 'ServiceUnavailable');
    const after = await request(app).post('/endpoints/e/invocations').send(Buffer.alloc(2 * MB));
    assert.equal(after.status, 200, 'everything was given back');
  });

  test('a container answer takes from bodyMemoryBytes as it arrives: one that outgrows it is cut mid-answer with a 503, not read to its end first', async () => {
    const MB = 1024 * 1024;
    let cutBeforeEnd!: (cut: boolean) => void;
    const containerSaw = new Promise<boolean>((r) => (cutBeforeEnd = r));
    const container = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.headers['x-amzn-sagemaker-custom-attributes'] !== 'stall') return void res.end('ok');
        // 3 MB of a declared 4 MB, then nothing: the answer never completes on its own.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(4 * MB) });
        res.write(Buffer.alloc(3 * MB));
        res.once('close', () => cutBeforeEnd(!res.writableFinished));
      });
    });
    servers.push(container);
    await new Promise<void>((r) => container.listen(0, '127.0.0.1', r));
    const primary = { hostname: 'primary', url: `http://127.0.0.1:${(container.address() as AddressInfo).port}`, logFile: '/tmp/p.log' };
    const outcomes: string[] = [];
    const ep = new LocalEndpoint('e', [{ name: 'AllTraffic', weight: 1, containers: [primary] }], { timeoutMs: 20_000, metrics: { record: (r) => outcomes.push(r.outcome) } });
    const app = createFrontDoor({ endpoints: new Map([['e', ep]]), bodyMemoryBytes: 2.5 * MB });
    const res = await request(app).post('/endpoints/e/invocations').set('X-Amzn-SageMaker-Custom-Attributes', 'stall').send('x');
    assert.equal(res.status, 503, res.text);
    assert.deepEqual(outcomes, ['ok'], 'the model answered: no Invocation5XXErrors for an answer the front door could not hold');
    assert.equal(res.headers['x-amzn-errortype'], 'ServiceUnavailable');
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(await containerSaw, true, "the container's connection was closed mid-answer");
    const after = await request(app).post('/endpoints/e/invocations').send(Buffer.alloc(2 * MB));
    assert.equal(after.status, 200, 'what the cut answer took was given back');
    // In a serial pipeline each answer is the next container's request: an earlier one is given back once the next is read.
    const double = await fakeContainer('container-2', (s) => ({ body: s.body + s.body, contentType: 'application/octet-stream' }));
    const pipeline = new LocalEndpoint('p', [{ name: 'AllTraffic', weight: 1, containers: [double.container, double.container] }]);
    const door = createFrontDoor({ endpoints: new Map([['p', pipeline]]), bodyMemoryBytes: 2.5 * MB });
    for (let i = 0; i < 3; i++) {
      const answered = await request(door).post('/endpoints/p/invocations').set('Content-Type', 'text/plain').send('x'.repeat(0.25 * MB));
      assert.equal(answered.status, 200, answered.text);
      assert.equal(answered.body.length, MB);
    }
    const tooMuch = await request(door).post('/endpoints/p/invocations').set('Content-Type', 'text/plain').send('x'.repeat(0.5 * MB));
    assert.equal(tooMuch.status, 503, 'a 0.5 MB request, its 1 MB and 2 MB answers do not fit in 2.5 MB');
    const whole = await request(door).post('/endpoints/p/invocations').send(Buffer.alloc(2.4 * MB));
    assert.equal(whole.status, 503, 'nor does a 2.4 MB request and its 4.8 MB answer');
    const fits = await request(door).post('/endpoints/p/invocations').set('Content-Type', 'text/plain').send('x'.repeat(0.3 * MB));
    assert.equal(fits.status, 200, 'every earlier answer was given back');
  });

  test("a shadow variant's answer takes from bodyMemoryBytes too: one that does not fit fails the shadow copy only, and is given back once compared", async () => {
    const MB = 1024 * 1024;
    const production = await fakeContainer('primary', () => ({ body: '[1]' }));
    const shadow = await fakeContainer('primary', (s) => ({ body: s.body === 'big' ? `[${'1,'.repeat(MB)}1]` : '[1]' }));
    const logged: string[] = [];
    const ep = new LocalEndpoint('e', [{ name: 'AllTraffic', weight: 1, containers: [production.container] }], {
      shadow: { name: 'Shadow', weight: 0, containers: [shadow.container] },
      log: (_level, _msg, fields) => logged.push(String(fields.error ?? '')),
    });
    const app = createFrontDoor({ endpoints: new Map([['e', ep]]), bodyMemoryBytes: 1.5 * MB });
    const big = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'text/plain').send('big');
    assert.equal(big.status, 200, 'production answers');
    await ep.idle();
    assert.deepEqual(ep.shadowStats, { requests: 1, compared: 0, differing: 0, shadowErrors: 1 });
    assert.match(logged[0]!, /answer of container primary does not fit in the memory the front door's bodies share \(SMKIT_LOCAL_BODY_MEMORY_MB\)/);
    const small = await request(app).post('/endpoints/e/invocations').set('Content-Type', 'text/plain').send('small');
    assert.equal(small.status, 200);
    await ep.idle();
    assert.equal(ep.shadowStats.compared, 1);
    const whole = await request(app).post('/endpoints/e/invocations').send(Buffer.alloc(1.4 * MB));
    assert.equal(whole.status, 200, 'every answer was given back');
  });

  test('a multi-model load that outlasts the invocation is a 429 ModelNotReadyException (invoke-multi-model-endpoint: loading goes on); the next invocation finds the model loaded', async (t) => {
    const { mkdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = await tempDirFor(t, 'smkit-mme-door-');
    await mkdir(join(dir, 'source', 'a'), { recursive: true });
    // The container holds the first POST /models until told to answer it; a later one (the model
    // loaded again) it answers at once and counts, so the test says so instead of waiting on it.
    let finishLoad!: () => void;
    let loadAsked!: () => void;
    let loadsAsked = 0;
    const asked = new Promise<void>((resolve) => (loadAsked = resolve));
    const container = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url !== '/models') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(`answered by ${req.url}`);
        const answer = () => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"registered"}');
        if (++loadsAsked > 1) return answer();
        finishLoad = answer;
        loadAsked();
      });
    });
    servers.push(container);
    // A failure before finishLoad() would leave the held POST /models holding the server's close.
    t.after(() => container.closeAllConnections());
    await new Promise<void>((r) => container.listen(0, '127.0.0.1', r));
    const { port } = container.address() as AddressInfo;
    const multiModel = multiModelHost({ source: join(dir, 'source'), hostDir: join(dir, 'models'), containerDir: join(dir, 'models') });
    const variants = [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: `http://127.0.0.1:${port}`, logFile: '/tmp/m.log', multiModel }] }];
    const door = createFrontDoor({ endpoints: new Map([['mme', new LocalEndpoint('mme', variants, { timeoutMs: 300 })]]) });
    const [res] = await Promise.all([request(door).post('/endpoints/mme/invocations').set('X-Amzn-SageMaker-Target-Model', 'a').send('x'), asked]);
    assert.equal(res.status, 429, res.text);
    assert.equal(res.headers['x-amzn-errortype'], 'ModelNotReadyException');
    assert.match(res.body.Message, /^Model a is still being downloaded and loaded after 0\.3 s;/);
    finishLoad();
    await multiModel.loads.get('a');
    // The next invocation goes to the same container and models (the same host), through an endpoint
    // that gives it a minute: with the 300 ms the first one needed, its answer came too late once on a
    // loaded machine (a 424 'no response within 0 s', 1 in 12 runs of the area's files in a loop).
    const patientDoor = createFrontDoor({ endpoints: new Map([['mme', new LocalEndpoint('mme', variants, { timeoutMs: 60_000 })]]) });
    const second = await request(patientDoor).post('/endpoints/mme/invocations').set('X-Amzn-SageMaker-Target-Model', 'a').send('x');
    assert.equal(loadsAsked, 1, 'the model was loaded again: the next invocation did not find it loaded');
    assert.equal(second.status, 200, second.text);
    assert.match(second.text, /^answered by \/models\/m-[0-9a-f]{16}\/invoke$/);
  });

  test('InvokeEndpointWithResponseStream has no TargetModel: the header is stripped, as the service strips headers its API does not name, so a multi-model endpoint is not streamed', async (t) => {
    const { mkdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = await tempDirFor(t, 'smkit-mme-stream-');
    await mkdir(join(dir, 'source', 'a'), { recursive: true });
    const { container, seen } = await fakeContainer('primary', () => ({ body: '{}' }));
    const multiModel = multiModelHost({ source: join(dir, 'source'), hostDir: join(dir, 'models'), containerDir: join(dir, 'models') });
    const ep = new LocalEndpoint('mme-stream', [{ name: 'AllTraffic', weight: 1, containers: [{ ...container, multiModel }] }]);
    const door = createFrontDoor({ endpoints: new Map([['mme-stream', ep]]) });
    const res = await request(door).post('/endpoints/mme-stream/invocations-response-stream').set('X-Amzn-SageMaker-Target-Model', 'a').send('x');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
    assert.match(res.body.Message, /InvokeEndpointWithResponseStream has none/);
    assert.equal(seen.length, 0, 'nothing was loaded or invoked');
  });

  test('an invocation body is passed to the container as the bytes sent: a Content-Encoding (gzip, or one smkit cannot decode) is neither decoded nor passed on, as the service strips headers its API does not name (InvokeEndpoint, the streaming operation, InvokeEndpointAsync)', async () => {
    const { gzipSync } = await import('node:zlib');
    const { container, seen } = await fakeContainer('primary', (s) => ({ body: JSON.stringify({ got: s.bytes.toString('base64'), encoding: s.headers['content-encoding'] ?? null }) }));
    const ep = new LocalEndpoint('ce', [{ name: 'AllTraffic', weight: 1, containers: [container] }]);
    const { endpoint: asyncEndpoint, queued } = queuingAsyncEndpoint();
    const door = createFrontDoor({ endpoints: new Map<string, import('./app.js').RoutableEndpoint>([['ce', ep], ['ce-async', asyncEndpoint]]) });
    // Far past 6 MB once inflated: only its 6 KB are the invocation's.
    const gzipped = gzipSync(Buffer.alloc(7 * 1024 * 1024, 'a'));
    const bodies: Array<[string, Buffer]> = [['gzip', gzipped], ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])], ['x-custom, gzip', Buffer.from('plain text')]];
    for (const [encoding, bytes] of bodies) {
      const res = await request(door).post('/endpoints/ce/invocations').set('Content-Type', 'application/octet-stream').set('Content-Encoding', encoding).send(bytes);
      assert.equal(res.status, 200, `${encoding}: ${res.text}`);
      assert.deepEqual(JSON.parse(res.text), { got: bytes.toString('base64'), encoding: null }, encoding);
      const streamed = await request(door).post('/endpoints/ce/invocations-response-stream').set('Content-Type', 'application/octet-stream').set('Content-Encoding', encoding).send(bytes);
      assert.equal(streamed.status, 200, `${encoding}, streamed: ${streamed.text}`);
      assert.deepEqual(seen.at(-1)!.bytes, bytes, `${encoding}, streamed`);
      assert.equal(seen.at(-1)!.headers['content-encoding'], undefined);
      const queuedRes = await request(door).post('/endpoints/ce-async/async-invocations').set('Content-Encoding', encoding).send(bytes.subarray(0, 100_000));
      assert.equal(queuedRes.status, 202, `${encoding}, async: ${queuedRes.text}`);
      assert.deepEqual(queued.at(-1)!.body, bytes.subarray(0, 100_000), `${encoding}, async`);
    }
  });

  test('a container is asked for its answer as is (Accept-Encoding: identity), not compressed, for InvokeEndpoint and the streaming operation: the service returns no Content-Encoding', async () => {
    const { container, seen } = await fakeContainer('primary', () => ({ body: 'plain', contentType: 'text/plain' }));
    const door = createFrontDoor({ endpoints: new Map([['ae', new LocalEndpoint('ae', [{ name: 'AllTraffic', weight: 1, containers: [container] }])]]) });
    assert.equal((await request(door).post('/endpoints/ae/invocations').set('Accept-Encoding', 'gzip').send('x')).text, 'plain');
    await request(door).post('/endpoints/ae/invocations-response-stream').send('x').expect(200);
    assert.deepEqual(seen.map((s) => s.headers['accept-encoding']), ['identity', 'identity']);
  });

  test('InvokeEndpointAsync ignores the headers its API does not name (TargetVariant, TargetModel, TargetContainerHostname, SessionId, InferenceComponentName, EnableExplanations, PrefixAwareId), as the service strips them', async () => {
    const { endpoint: ep, queued } = queuingAsyncEndpoint();
    const door = createFrontDoor({ endpoints: new Map([['a', ep]]) });
    const res = await request(door)
      .post('/endpoints/a/async-invocations')
      .set('X-Amzn-SageMaker-InputLocation', 's3://in/r.json')
      .set('X-Amzn-SageMaker-Content-Type', 'application/json')
      .set('X-Amzn-SageMaker-Inference-Id', 'inf-1')
      .set('X-Amzn-SageMaker-Custom-Attributes', 'trace=1')
      // Each would be honoured, or refused, by InvokeEndpoint.
      .set('X-Amzn-SageMaker-Target-Variant', 'NoSuchVariant')
      .set('X-Amzn-SageMaker-Target-Model', 'a.tar.gz')
      .set('X-Amzn-SageMaker-Target-Container-Hostname', 'not_a_host')
      .set('X-Amzn-SageMaker-Session-Id', '-not-a-session')
      .set('X-Amzn-SageMaker-Inference-Component', 'ic-1')
      .set('X-Amzn-SageMaker-Enable-Explanations', 'x'.repeat(65))
      .set('X-Amzn-SageMaker-Prefix-Aware-Id', 'x'.repeat(65))
      .set('Accept', 'x'.repeat(1025))
      .send();
    assert.equal(res.status, 202, res.text);
    assert.equal(queued.length, 1);
    assert.deepEqual(queued[0]!.invocation, { contentType: 'application/json', inferenceId: 'inf-1', customAttributes: 'trace=1' });
  });

  test('a multi-model TargetModel whose archive cannot be read, or would write outside its folder, is a 400 ValidationError naming the archive problem (not a 500 the SDKs retry); nothing is loaded', async (t) => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { craftTarGz } = await import('../../../test/fixtures/archive/craft.js');
    const dir = await tempDirFor(t, 'smkit-mme-archive-');
    await mkdir(join(dir, 'source'), { recursive: true });
    await writeFile(join(dir, 'source', 'broken.tar.gz'), 'not a tar archive');
    await writeFile(join(dir, 'source', 'unsafe.tar.gz'), craftTarGz([{ path: '../escape.txt', body: 'x' }]));
    const { container, seen } = await fakeContainer('primary', () => ({ body: '{}' }));
    const multiModel = multiModelHost({ source: join(dir, 'source'), hostDir: join(dir, 'models'), containerDir: join(dir, 'models') });
    const ep = new LocalEndpoint('mme-bad', [{ name: 'AllTraffic', weight: 1, containers: [{ ...container, multiModel }] }]);
    const door = createFrontDoor({ endpoints: new Map([['mme-bad', ep]]) });
    for (const [model, reason] of [['broken.tar.gz', /is not a readable tar or tar\.gz archive/], ['unsafe.tar.gz', /unsafe entry "\.\.\/escape\.txt"/]] as const) {
      const res = await request(door).post('/endpoints/mme-bad/invocations').set('X-Amzn-SageMaker-Target-Model', model).send('x');
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
      assert.match(res.body.Message, new RegExp(`^Failed to extract model data archive for TargetModel ${model.replace('.', '\\.')} from .*Please ensure that the object located at the URL is a valid tar\\.gz archive: `));
      assert.match(res.body.Message, reason);
    }
    assert.equal(seen.length, 0, 'nothing was loaded or invoked');
  });

  test('InvokeEndpointAsync: a queued inline body holds its bytes of bodyMemoryBytes until its request has run or been dropped; past it a 503 ServiceUnavailable', async (t) => {
    const { until } = await import('../../../test/helpers/until.js');
    const { AsyncInferenceNotConfiguredError, AsyncInvocationQueue, startAsyncInvocation } = await import('../control-plane/async-inference.js');
    type AsyncRequest = Parameters<NonNullable<import('./app.js').RoutableEndpoint['invokeAsync']>>[0];
    const dir = await tempDirFor(t, 'smkit-async-budget-');
    let slots = 0;
    let queue = new AsyncInvocationQueue('a', () => slots, Date.now, 10);
    const ep = {
      asynchronous: true,
      invoke: () => Promise.reject(new AsyncInferenceNotConfiguredError('a')),
      stream: () => Promise.reject(new AsyncInferenceNotConfiguredError('a')),
      invokeAsync: (req: AsyncRequest) =>
        startAsyncInvocation(
          { endpoint: 'a', config: { OutputConfig: { S3OutputPath: dir } }, queue, s3: () => assert.fail('no S3 here'), invoke: (r, _timeoutMs, _maxAnswerBytes, _inferenceId, budget) => {
              // An answer takes its bytes from the budget as it arrives; the caller gives them back.
              assert.ok(budget?.take(r.body.length) ?? true, 'the answer fits');
              return Promise.resolve({ variant: 'AllTraffic', response: { body: r.body, contentType: 'application/octet-stream' } });
            },
          },
          req,
        ),
    };
    const door = createFrontDoor({ endpoints: new Map([['a', ep]]), bodyMemoryBytes: 1_000_000 });
    const send = () => request(door).post('/endpoints/a/async-invocations').set('X-Amzn-SageMaker-Content-Type', 'application/octet-stream').send(Buffer.alloc(100_000));
    const fill = async (): Promise<number> => {
      for (let accepted = 0; accepted < 20; accepted++) {
        const res = await send();
        if (res.status === 202) continue;
        assert.equal(res.status, 503, res.text);
        assert.equal(res.headers['x-amzn-errortype'], 'ServiceUnavailable');
        assert.equal(res.headers['retry-after'], '1');
        assert.match(res.body.Message, /SMKIT_LOCAL_BODY_MEMORY_MB allows/);
        return accepted;
      }
      return assert.fail('every request was queued: the queued bodies are not bounded');
    };
    const queuedAtOnce = await fill();
    assert.equal(queue.waiting, queuedAtOnce);
    assert.ok(queuedAtOnce >= 8, `${queuedAtOnce} bodies of 100 KB queued in 1 MB`);
    slots = 1;
    await until('the queue has run', () => queue.waiting === 0 && queue.running === 0);
    slots = 0;
    assert.equal(await fill(), queuedAtOnce, 'the requests that ran gave their bodies back');
    queue.close();
    queue = new AsyncInvocationQueue('a', () => slots, Date.now, 10);
    assert.equal(await fill(), queuedAtOnce, 'the requests dropped with the queue gave their bodies back');
    queue.close();
  });

  test("InvokeEndpointAsync checks each header against its own pattern in the API model: ContentType and Accept are US-ASCII, Filename and S3OutputPathExtension quote theirs, InputLocation takes any character its pattern does", async () => {
    const { endpoint: ep, queued } = queuingAsyncEndpoint();
    const door = createFrontDoor({ endpoints: new Map([['a', ep]]) });
    const send = (headers: Record<string, string>) => {
      const call = request(door).post('/endpoints/a/async-invocations');
      for (const [name, value] of Object.entries({ 'X-Amzn-SageMaker-InputLocation': 's3://in/r.json', ...headers })) call.set(name, value);
      return call.send();
    };
    const refusal = async (headers: Record<string, string>) => {
      const res = await send(headers);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
      return res.body.Message as string;
    };
    assert.match(await refusal({ 'X-Amzn-SageMaker-Filename': 'résultat.json' }), /at 'filename' failed to satisfy constraint: Member must satisfy regular expression pattern: \^\(\?!\.\*\\\.\.\*\\\.\)\[a-zA-Z0-9\]\[a-zA-Z0-9-_\\\.\]\*\$$/);
    assert.match(await refusal({ 'X-Amzn-SageMaker-S3OutputPathExtension': 'é' }), /at 's3OutputPathExtension' failed to satisfy constraint: Member must satisfy regular expression pattern: \^\(\?!s3:\|https:\)/);
    assert.match(await refusal({ 'X-Amzn-SageMaker-Content-Type': 'café' }), /at 'contentType' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p\{ASCII\}\*$/);
    assert.match(await refusal({ 'X-Amzn-SageMaker-Accept': 'café' }), /at 'accept' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p\{ASCII\}\*$/);
    const accepted = await send({ 'X-Amzn-SageMaker-InputLocation': 's3://in/données.json' });
    assert.equal(accepted.status, 202, accepted.text);
    assert.equal(queued.at(-1)!.inputLocation, 's3://in/données.json');
  });

  test('a call of Amazon S3 or another REST service sent here (AWS_ENDPOINT_URL pointing at smkit local) is a 400 UnknownOperationException naming the service and what to set, in XML for S3, not a bare 404 a HeadObject reads as a missing object', async () => {
    const app = createFrontDoor({ endpoints: new Map() });
    const server = createServer(app);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const s3 = new S3Client({ ...localClientConfig(`http://127.0.0.1:${port}`), forcePathStyle: true, maxAttempts: 1 });
    try {
      for (const command of [new PutObjectCommand({ Bucket: 'models', Key: 'iris/model.tar.gz', Body: Buffer.from('x') }), new ListBucketsCommand({})]) {
        await assert.rejects(s3.send(command as never), (err: unknown) => {
          assert.ok(err instanceof S3ServiceException, String(err));
          assert.equal(err.name, 'UnknownOperationException');
          assert.equal(err.$metadata.httpStatusCode, 400);
          assert.match(err.message, /^smkit local does not answer Amazon S3 \(got (PUT \/models\/iris\/model\.tar\.gz|GET \/)\): if a client of another AWS service was pointed at this server: set the service-specific variables .* rather than AWS_ENDPOINT_URL, which sends every service's calls here; or give S3 its own endpoint with AWS_ENDPOINT_URL_S3, /);
          return true;
        });
      }
      // A HEAD answer has no body: its status must not say "no such object".
      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'models', Key: 'iris/model.tar.gz' })), (err: unknown) => err instanceof S3ServiceException && err.$metadata.httpStatusCode === 400);
    } finally {
      s3.destroy();
    }
    // Another REST service (Lambda's ListFunctions, signed for "lambda"): the runtime's JSON error, with the hint.
    const lambda = await request(app).get('/2015-03-31/functions').set('Authorization', 'AWS4-HMAC-SHA256 Credential=AKID/20261207/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00');
    assert.equal(lambda.status, 400);
    assert.equal(lambda.headers['x-amzn-errortype'], 'UnknownOperationException');
    assert.match(lambda.body.Message, /^smkit local does not answer the AWS service signed for as "lambda" \(got GET \/2015-03-31\/functions\): if a client of another AWS service was pointed at this server: /);
    // Unsigned, or signed for a service it answers: the 404 listing its routes, as before.
    for (const auth of [undefined, 'AWS4-HMAC-SHA256 Credential=AKID/20261207/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=00']) {
      const req = request(app).get('/nope');
      const res = await (auth === undefined ? req : req.set('Authorization', auth));
      assert.equal(res.status, 404);
      assert.match(res.body.Message, /^smkit local answers only POST \/endpoints\/\{EndpointName\}\/invocations/);
    }
  });

  test('an S3 request signed with Signature Version 2 (the AWS CLI v1 presigns so) or SigV4a gets the S3 hint in XML too, as one signed with SigV4', async () => {
    const app = createFrontDoor({ endpoints: new Map() });
    const requests = [
      // aws s3 presign s3://models/iris/model.tar.gz (AWS CLI v1)
      request(app).get('/models/iris/model.tar.gz?AWSAccessKeyId=AKID&Signature=c2ln%2B&Expires=1796640775'),
      request(app).get('/models/iris/model.tar.gz').set('Authorization', 'AWS AKID:c2lnbmF0dXJl'),
      request(app).get('/models/iris/model.tar.gz').set('Authorization', 'AWS4-ECDSA-P256-SHA256 Credential=AKID/20261207/s3/aws4_request, SignedHeaders=host, Signature=00'),
      request(app).get('/models/iris/model.tar.gz?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKID%2F20261207%2Fs3%2Faws4_request&X-Amz-Signature=00'),
    ];
    for (const req of requests) {
      const res = await req;
      assert.equal(res.status, 400, res.text);
      assert.match(res.headers['content-type'] ?? '', /^application\/xml/);
      assert.match(res.text, /<Code>UnknownOperationException<\/Code><Message>smkit local does not answer Amazon S3 \(got GET \/models\/iris\/model\.tar\.gz\): .*AWS_ENDPOINT_URL_S3/);
    }
    // Neither a bearer token nor half of a SigV2 query is a signature for S3: the 404 listing the routes.
    for (const req of [request(app).get('/models/k').set('Authorization', 'Bearer abc'), request(app).get('/models/k?Signature=x'), request(app).get('/models/k').set('Authorization', 'AWS4-HMAC-SHA256 Credential=s3/aws4_request')]) {
      const res = await req;
      assert.equal(res.status, 404, res.text);
      assert.match(res.body.Message, /^smkit local answers only POST/);
    }
  });
});
