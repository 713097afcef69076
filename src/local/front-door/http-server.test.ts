import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { FRONT_DOOR_BODY_READ_TIMEOUT_MS, FRONT_DOOR_BODY_TIMEOUT_MS, FRONT_DOOR_KEEP_ALIVE_MS, NODE_CONNECTIONS_CHECKING_INTERVAL_MS, createFrontDoorServer } from './http-server.js';
import { answerUntilClose } from '../../../test/helpers/raw-http.js';
import fc from 'fast-check';
import { finalAnswer, headerLines, renderHeaderLines } from '../../../test/helpers/header-sets.js';
import { ERROR_CATALOGUE } from '../../errors/catalogue.js';
import { createFrontDoor, type RoutableEndpoint } from './app.js';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

// Timed to the tenth of a second: alone, so that no other test's work holds the event loop past its timeouts.
test('a caller that stalls its request body gets a 408 and its connection closed; a slow answer to a whole request is not cut', async () => {
  const server = createFrontDoorServer(
    (req, res) => {
      req.resume();
      // Answers well after the request timeout: only the request's arrival is timed.
      req.on('end', () => setTimeout(() => res.end('late but whole'), 900));
    },
    { requestTimeoutMs: 400, connectionsCheckingIntervalMs: 50 },
  );
  // Node applies the request timeout only when it is at least the headers timeout (as it is by default).
  server.headersTimeout = 200;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const stalled = connect(port, '127.0.0.1');
  const whole = connect(port, '127.0.0.1');
  let stalledGot = '';
  let wholeGot = '';
  stalled.on('data', (d: Buffer) => (stalledGot += d.toString()));
  whole.on('data', (d: Buffer) => (wholeGot += d.toString()));
  try {
    await Promise.all([once(stalled, 'connect'), once(whole, 'connect')]);
    stalled.write('POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab');
    whole.write('POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nab');
    await once(stalled, 'close', { signal: AbortSignal.timeout(20_000) });
    assert.match(stalledGot, /^HTTP\/1\.1 408 /);
    for (let i = 0; i < 250 && !wholeGot.includes('late but whole'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(wholeGot, /^HTTP\/1\.1 200 /);
    assert.match(wholeGot, /late but whole/);
  } finally {
    stalled.destroy();
    whole.destroy();
    server.close();
  }
});

// The other tests use servers of their own and share nothing: they run side by side, so the one that
// keeps a connection idle past Node's 5 s default does not hold up the others.
describe('the front door HTTP server', { concurrency: true }, () => {
  test('a kept-alive connection idle for longer than Node\'s default 5 s still takes the next request', async () => {
    const server = createFrontDoorServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const answers = () => received.split('HTTP/1.1 200').length - 1;
    const request = 'GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n';
    try {
      await once(socket, 'connect');
      socket.write(request);
      for (let i = 0; i < 100 && answers() < 1; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(answers(), 1);
      // What an SDK client does between two calls a few seconds apart.
      await new Promise((r) => setTimeout(r, 6000));
      assert.equal(socket.destroyed, false, 'the server closed the idle connection');
      socket.write(request);
      for (let i = 0; i < 100 && answers() < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(answers(), 2);
    } finally {
      socket.destroy();
      server.close();
    }
  });

  test('by default Node\'s request timeout comes more than a check interval after the body reader\'s latest 408, a bound Node applies (it must not be below the headers timeout)', () => {
    const server = createFrontDoorServer((_req, res) => res.end());
    // Headers in just before Node's check would cut them, then the body reader's time: Node's own timeout is one more interval later.
    assert.equal(server.requestTimeout, server.headersTimeout + NODE_CONNECTIONS_CHECKING_INTERVAL_MS + FRONT_DOOR_BODY_READ_TIMEOUT_MS + NODE_CONNECTIONS_CHECKING_INTERVAL_MS);
    assert.equal(FRONT_DOOR_BODY_READ_TIMEOUT_MS, server.headersTimeout + FRONT_DOOR_BODY_TIMEOUT_MS);
    assert.ok(server.headersTimeout > FRONT_DOOR_KEEP_ALIVE_MS);
  });

  /** A front door server on a free port that reads each request whole and answers `served`, and a sender of raw bytes to it that reads the answer until the server closes. */
  async function servedServer(): Promise<{ server: Server; answerTo: (bytes: string) => Promise<string> }> {
    const server = createFrontDoorServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('served'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    return { server, answerTo: (bytes) => answerUntilClose(port, bytes) };
  }

  test('bytes that are not HTTP/1.1, headers over 16 KB and a CONNECT get a catalogued JSON answer and a closed connection; an unknown Expect or a missing Host is served', async () => {
    const { server, answerTo } = await servedServer();
    try {
      const close = 'Connection: close\r\n';
      const bomb = await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      assert.match(bomb, /^HTTP\/1\.1 431 /);
      assert.match(bomb, /\{"code":"ERR_HEADERS_TOO_LARGE","message":"the request headers \(with the request line, its URL included\) are larger than the 16 KB the server accepts, or more than 1000 lines; send data in the body, not in the URL or headers"\}$/);
      const garbage = await answerTo('POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx');
      assert.match(garbage, /^HTTP\/1\.1 400 /);
      assert.match(garbage, /"code":"ERR_BAD_REQUEST"/);
      const tunnel = await answerTo('CONNECT e:443 HTTP/1.1\r\nHost: e:443\r\n\r\n');
      assert.match(tunnel, /^HTTP\/1\.1 405 /);
      assert.match(tunnel, /"code":"ERR_METHOD_NOT_ALLOWED"/);
      assert.match(await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nExpect: later\r\n${close}Content-Length: 1\r\n\r\nx`), /^HTTP\/1\.1 200 [^]*served$/);
      assert.match(await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\n${close}Content-Length: 1\r\n\r\nx`), /^HTTP\/1\.1 200 [^]*served$/);
    } finally {
      server.close();
    }
  });

  test('a Content-Type or X-Amzn-SageMaker-* header repeated with another value gets a catalogued 400 naming it before any route; repeated with the same value, the route sees it once', async () => {
    const server = createFrontDoorServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`${req.headers['content-type']}|${req.headers['x-amzn-sagemaker-custom-attributes']}|${req.headers['x-amzn-sagemaker-target-model']}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const head = 'POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n';
    try {
      const refused: [string, RegExp][] = [
        [`${head}Content-Type: text/csv\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\nx`, /more than one Content-Type header line, with different values \("text\/csv" and "application\/json"\)/],
        [`${head}X-Amzn-SageMaker-Target-Model: a.tar.gz\r\nx-amzn-sagemaker-target-model: b.tar.gz\r\nContent-Length: 1\r\n\r\nx`, /more than one X-Amzn-SageMaker-Target-Model header line, with different values \("a\.tar\.gz" and "b\.tar\.gz"\)/],
        [`${head}X-Amzn-SageMaker-Custom-Attributes: a\r\nX-Amzn-SageMaker-Custom-Attributes: a, b\r\nContent-Length: 0\r\n\r\n`, /X-Amzn-SageMaker-Custom-Attributes header line, with different values/],
      ];
      for (const [bytes, message] of refused) {
        const answer = await answerUntilClose(port, bytes);
        assert.match(answer, /^HTTP\/1\.1 400 /, bytes);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string; message: string };
        assert.equal(body.code, 'ERR_BAD_REQUEST');
        assert.match(body.message, message);
      }
      const same = await answerUntilClose(port, `${head}Content-Type: text/csv\r\ncontent-type: text/csv\r\nX-Amzn-SageMaker-Custom-Attributes: a=1\r\nx-amzn-sagemaker-custom-attributes: a=1\r\nX-Amzn-SageMaker-Target-Model: m.tar.gz\r\nContent-Length: 1\r\n\r\nx`);
      assert.match(same, /^HTTP\/1\.1 200 [^]*\r\n\r\ntext\/csv\|a=1\|m\.tar\.gz$/, same);
    } finally {
      server.close();
    }
  });

  test('two Host lines, a Host that is not host[:port] or a fragment in the target get a catalogued 400 before any route; one Host, or none, is routed', async () => {
    const { server, answerTo } = await servedServer();
    try {
      const close = 'Connection: close\r\n';
      const refused: [string, RegExp][] = [
        [`POST /endpoints/e/invocations HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1\r\n\r\nx`, /more than one Host header line/],
        [`POST / HTTP/1.1\r\nHost: a\r\nhost: a\r\n${close}Content-Length: 0\r\n\r\n`, /more than one Host header line/],
        [`POST /endpoints/e/invocations HTTP/1.1\r\nHost: a/b\r\n${close}Content-Length: 0\r\n\r\n`, /the Host header "a\/b" is not a host name/],
        [`POST /endpoints/e/invocations#x HTTP/1.1\r\nHost: a\r\n${close}Content-Length: 0\r\n\r\n`, /holds a fragment/],
        // Exactly 1000 lines, within the 16 KB: Node 20 keeps about that many and drops the rest, so as many may have been more.
        [`POST /endpoints/e/invocations HTTP/1.1\r\nHost: a\r\n${'f:1\r\n'.repeat(997)}${close}Content-Length: 0\r\n\r\n`, /1000 header lines or more/],
      ];
      for (const [bytes, message] of refused) {
        const answer = await answerTo(bytes);
        assert.match(answer, /^HTTP\/1\.1 400 /, bytes);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string; message: string };
        assert.equal(body.code, 'ERR_BAD_REQUEST');
        assert.match(body.message, message);
      }
      // Within the 16 KB, but more lines than Node 20 keeps: the second Host after them was dropped, and the
      // request routed. Node 22 and later refuse more than maxHeadersCount lines in the parser.
      const many = await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\nHost: a\r\n${'f:1\r\n'.repeat(1200)}Host: b\r\n${close}Content-Length: 0\r\n\r\n`);
      if (Number(process.versions.node.split('.')[0]) >= 22) {
        assert.match(many, /^HTTP\/1\.1 431 [^]*"code":"ERR_HEADERS_TOO_LARGE"[^]*more than 1000 lines/);
      } else {
        assert.match(many, /^HTTP\/1\.1 400 [^]*"code":"ERR_BAD_REQUEST"[^]*1000 header lines or more/);
      }
      assert.match(await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost:8080\r\n${close}Content-Length: 1\r\n\r\nx`), /^HTTP\/1\.1 200 [^]*served$/);
      // The check runs for expectations Node hands over too.
      assert.match(await answerTo(`POST /endpoints/e/invocations HTTP/1.1\r\nHost: a\r\nHost: b\r\nExpect: later\r\n${close}Content-Length: 1\r\n\r\nx`), /^HTTP\/1\.1 400 /);
    } finally {
      server.close();
    }
  });

  test('any set of request headers (repeated, in any case, with odd whitespace, folded) gets the front door\'s 2xx or a catalogued 4xx, never a 500 or no answer', async () => {
    // An endpoint that answers with the body it was sent.
    const endpoint: RoutableEndpoint = {
      invoke: async (req) => ({ variant: 'AllTraffic', response: { body: req.body, contentType: req.contentType } }),
      stream: () => Promise.reject(new Error('not streamed here')),
    };
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['e', endpoint]]) }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const values = {
      Host: ['x', 'localhost:8080', 'a b'],
      'Content-Type': ['text/csv', 'application/json', 'application/x-amz-json-1.1'],
      'Content-Length': ['0', '3', '3, 3'],
      'Content-Encoding': ['gzip', 'identity', 'identity, identity', 'gzip, gzip'],
      Accept: ['*/*', 'text/csv'],
      'X-Amzn-SageMaker-Custom-Attributes': ['a=1', 'a=1, b=2', ''],
      'X-Amzn-SageMaker-Target-Model': ['a.tar.gz', 'b.tar.gz', ''],
      'X-Amzn-SageMaker-Inference-Id': ['1', '2', ''],
      'X-Amzn-SageMaker-Target-Variant': ['AllTraffic', 'Other', '-'],
      'X-Amzn-SageMaker-Target-Container-Hostname': ['c1', '-'],
      'X-Amzn-SageMaker-Inference-Component': ['ic', '-'],
      'X-Amzn-SageMaker-Enable-Explanations': ['`true`', ''],
      'X-Amzn-SageMaker-Session-Id': ['NEW_SESSION', 's-1', 'a b'],
      'X-Amz-Target': ['SageMaker.ListEndpoints'],
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.boolean(), headerLines(values), async (host, lines) => {
          const request = `POST /endpoints/e/invocations HTTP/1.1\r\n${host ? 'Host: localhost\r\n' : ''}${renderHeaderLines(lines)}Connection: close\r\nContent-Length: 3\r\n\r\nabc`;
          const text = finalAnswer(await answerUntilClose(port, request, 15_000));
          const said = `${JSON.stringify(request)} => ${text.slice(0, 300)}`;
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
          assert.ok((status >= 200 && status < 300) || (status >= 400 && status < 500), said);
          if (status < 400) return;
          // The service's error (x-amzn-ErrorType), or smkit's catalogued one for a head Node or smkit refuses.
          const code = /^\{"code":"(\w+)"/.exec(text.slice(text.indexOf('\r\n\r\n') + 4))?.[1];
          assert.ok(/\r\nx-amzn-errortype: \w+/i.test(text) || (code !== undefined && code in ERROR_CATALOGUE), said);
        }),
        { numRuns: 100 },
      );
    } finally {
      server.close();
    }
  });

  /**
   * Sends a request head that expects 100-continue and waits for the server's whole final answer (its
   * Content-Length read); then gives up on the body, as a refused client does, and resolves with what
   * came once the server has closed the connection. Waiting for the server to close on its own would
   * wait out the 5 s it keeps draining a refused body that might still come.
   */
  async function refusalThenClose(port: number, head: string): Promise<string> {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const answered = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        got += d.toString();
        const end = got.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)\r\n/i.exec(got.slice(0, end + 2))?.[1];
        if (end >= 0 && !got.startsWith('HTTP/1.1 100 ') && length !== undefined && Buffer.byteLength(got.slice(end + 4)) >= Number(length)) resolve();
      });
    });
    socket.on('error', () => undefined);
    try {
      await once(socket, 'connect');
      socket.write(head);
      await Promise.race([answered, once(socket, 'close')]);
      socket.end();
      if (!socket.closed) await once(socket, 'close', { signal: AbortSignal.timeout(15_000) });
      return got;
    } finally {
      socket.destroy();
    }
  }

  /** A front door on a free port whose one endpoint, `e`, answers each body with itself. */
  async function echoFrontDoor(): Promise<{ server: ReturnType<typeof createFrontDoorServer>; port: number }> {
    const endpoint: RoutableEndpoint = {
      invoke: async (req) => ({ variant: 'AllTraffic', response: { body: req.body, contentType: 'text/plain' } }),
      stream: () => Promise.reject(new Error('not streamed here')),
    };
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['e', endpoint]]) }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { server, port: (server.address() as { port: number }).port };
  }

  test('Expect: 100-continue with a declared body over the limit gets the refusal instead of 100 Continue; within it, 100 then the answer', async () => {
    const { server, port } = await echoFrontDoor();
    try {
      // The client sends nothing after the head: it waits for the 100 the server must not send.
      const refused = await refusalThenClose(port, 'POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n');
      assert.match(refused, /^HTTP\/1\.1 413 /, refused);
      assert.match(refused, /\r\nConnection: close\r\n/i, refused);
      assert.doesNotMatch(refused, /100 Continue/);
      assert.match(refused, /HTTP content length exceeded 6291456 bytes/);
      // The control plane's own limit, on the same port.
      const control = await refusalThenClose(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: SageMaker.ListEndpoints\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n');
      assert.match(control, /^HTTP\/1\.1 413 /, control);
      assert.match(control, /\r\nConnection: close\r\n/i, control);
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString();
        // The body goes out once the 100 is in, as a client that waits for it sends it.
        if (got.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !socket.writableEnded) socket.end('abc');
      });
      socket.write('POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n');
      await once(socket, 'close', { signal: AbortSignal.timeout(15_000) });
      assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*\r\n\r\nabc$/, got);
    } finally {
      server.close();
    }
  });

  test('a request head Node refuses (clientError), a CONNECT and a head refused before the app are answered with an x-amzn-RequestId, as every other answer of the front door', async () => {
    const { server, port } = await echoFrontDoor();
    /** The x-amzn-RequestId header lines of an answer's head, as written. */
    const requestIds = (answer: string): string[] => answer.slice(0, answer.indexOf('\r\n\r\n')).split('\r\n').filter((line) => /^x-amzn-requestid:/i.test(line));
    const UUID = /^x-amzn-RequestId: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    try {
      // An answer of the app, for the header's name, casing and form.
      const routed = await answerUntilClose(port, 'POST /endpoints/nope/invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx');
      assert.match(routed, /^HTTP\/1\.1 400 /);
      assert.equal(requestIds(routed).length, 1, routed);
      assert.match(requestIds(routed)[0]!, UUID);
      const seen = new Set<string>();
      for (const [bytes, status] of [
        ['POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', 400],
        ['FOO /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\n\r\n', 400],
        [`POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
        ['\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 400],
        // Refused by the server before the app: a CONNECT, and a head the app has no protocol for (a POST / neither JSON nor a query).
        ['CONNECT e:443 HTTP/1.1\r\nHost: e:443\r\n\r\n', 405],
        ['POST / HTTP/1.1\r\nHost: localhost\r\nHost: y\r\nContent-Length: 1\r\n\r\nx', 400],
      ] as const) {
        const answer = await answerUntilClose(port, bytes);
        assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), answer.slice(0, 200));
        assert.match(answer, /\r\n\r\n\{"code":"ERR_[A-Z_]+","message":"[^"]+"\}$/);
        const ids = requestIds(answer);
        assert.equal(ids.length, 1, answer.slice(0, 300));
        assert.match(ids[0]!, UUID);
        seen.add(ids[0]!);
      }
      assert.equal(seen.size, 6, 'each answer has its own id');
    } finally {
      server.close();
    }
  });

  test("an invocation whose head the server refuses (two Host lines, two different X-Amzn-SageMaker-* lines, an invalid Host, a fragment) gets the runtime's ValidationError, which an SDK client names, not smkit serve's body", async () => {
    const endpoint: RoutableEndpoint = {
      invoke: async (req) => ({ variant: 'AllTraffic', response: { body: req.body, contentType: 'text/plain' } }),
      stream: () => Promise.reject(new Error('not streamed here')),
    };
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['e', endpoint]]) }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const head = 'POST /endpoints/e/invocations HTTP/1.1\r\nConnection: close\r\nContent-Length: 1\r\n';
    try {
      const refused: [string, RegExp][] = [
        [`${head}Host: a\r\nHost: b\r\n\r\nx`, /^The request has more than one Host header line/],
        [`${head}Host: a\r\nX-Amzn-SageMaker-Target-Model: a.tar.gz\r\nX-Amzn-SageMaker-Target-Model: b.tar.gz\r\n\r\nx`, /more than one X-Amzn-SageMaker-Target-Model header line/],
        [`${head}Host: a/b\r\n\r\nx`, /^The Host header "a\/b" is not a host name/],
        [`POST /endpoints/e/invocations#x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx`, /holds a fragment/],
        [`GET /nowhere HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`, /more than one Host header line/],
      ];
      for (const [bytes, message] of refused) {
        const answer = await answerUntilClose(port, bytes);
        assert.match(answer, /^HTTP\/1\.1 400 /, answer);
        assert.match(answer, /\r\nx-amzn-ErrorType: ValidationError\r\n/i, answer);
        assert.match(answer, /\r\nx-amzn-RequestId: [\w-]+\r\n/i, answer);
        assert.match(answer, /\r\nContent-Type: application\/json\r\n/i, answer);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body), ['Message']);
        assert.match(String(body.Message), message);
      }
      // A real client: Node sends an array value as several lines of the header.
      const client = new SageMakerRuntimeClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
      client.middlewareStack.add(
        (next) => async (args) => {
          (args.request as { headers: Record<string, unknown> }).headers['x-amzn-sagemaker-custom-attributes'] = ['a=1', 'b=2'];
          return next(args);
        },
        { step: 'finalizeRequest', name: 'twoLines', priority: 'low' },
      );
      const err = await client.send(new InvokeEndpointCommand({ EndpointName: 'e', Body: Buffer.from('x'), CustomAttributes: 'a=1' })).then(
        () => assert.fail('refused'),
        (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } },
      );
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.$metadata.httpStatusCode, 400);
      assert.match(err.message, /more than one X-Amzn-SageMaker-Custom-Attributes header line/i);
      client.destroy();
    } finally {
      server.close();
    }
  });

  test('what an attacker picks against the front door: malformed SigV4 headers are ignored, a %-encoded endpoint name is checked as decoded, huge or invalid X-Amzn-SageMaker-* headers and broken framing get a 4xx, never a 5xx or no answer', async () => {
    const endpoint: RoutableEndpoint = {
      invoke: async (req) => ({ variant: 'AllTraffic', response: { body: Buffer.concat([Buffer.from('got '), req.body]), contentType: 'text/plain' } }),
      stream: () => Promise.reject(new Error('not streamed here')),
    };
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['e', endpoint]]) }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const post = (target: string, headers = '') => `POST ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\nContent-Length: 3\r\n\r\nabc`;
    const invoke = (headers: string) => post('/endpoints/e/invocations', headers);
    try {
      // SigV4 is accepted and ignored, however malformed (the SDKs sign; nothing checks it locally).
      for (const headers of [
        'Authorization: AWS4-HMAC-SHA256 garbage\r\n',
        'Authorization: \r\nX-Amz-Date: not-a-date\r\nX-Amz-Security-Token: \r\nX-Amz-Content-Sha256: zz\r\n',
        `Authorization: AWS4-HMAC-SHA256 Credential=${'A'.repeat(15_000)}\r\n`,
      ]) {
        assert.match(await answerUntilClose(port, invoke(headers)), /^HTTP\/1\.1 200 [^]*\r\n\r\ngot abc$/, headers.slice(0, 60));
      }
      // The name is percent-decoded, then checked: %65 is e; a decoded / or NUL, a double encoding or a lone surrogate is not a name.
      assert.match(await answerUntilClose(port, post('/endpoints/%65/invocations')), /^HTTP\/1\.1 200 [^]*got abc$/);
      const invalid: [string, RegExp][] = [
        ['/endpoints/e%2Finvocations/invocations', /Value 'e\/invocations' at 'endpointName' failed to satisfy constraint/],
        ['/endpoints/e%00/invocations', /at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern/],
        ['/endpoints/%252e/invocations', /Value '%2e' at 'endpointName'/],
        ['/endpoints/%2e%2e/invocations', /Value '\.\.' at 'endpointName'/],
        ['/endpoints/__proto__/invocations', /Value '__proto__' at 'endpointName'/],
        ['/endpoints/%ED%A0%80/invocations', /Value '%ED%A0%80' at 'endpointName'/],
        [`/endpoints/${'%41'.repeat(3000)}/invocations`, /at 'endpointName' failed to satisfy constraint: Member must have length less than or equal to 63/],
      ];
      for (const [target, message] of invalid) {
        const answer = await answerUntilClose(port, post(target));
        assert.match(answer, /^HTTP\/1\.1 400 [^]*\r\nx-amzn-ErrorType: ValidationError\r\n/i, target);
        assert.match(answer, message, target);
      }
      // A name of an Object.prototype member is no endpoint either.
      assert.match(await answerUntilClose(port, post('/endpoints/constructor/invocations')), /^HTTP\/1\.1 400 [^]*Endpoint constructor of account 000000000000 not found/);
      const refused: [string, RegExp][] = [
        [invoke(`X-Amzn-SageMaker-Custom-Attributes: ${'A'.repeat(15_000)}\r\n`), /^HTTP\/1\.1 400 [^]*'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024/],
        [invoke(`X-Amzn-SageMaker-Custom-Attributes: ${'A'.repeat(20_000)}\r\n`), /^HTTP\/1\.1 431 [^]*"code":"ERR_HEADERS_TOO_LARGE"/],
        [invoke('X-Amzn-SageMaker-Custom-Attributes: \xe9\xff\r\n'), /^HTTP\/1\.1 400 [^]*'customAttributes' failed to satisfy constraint: Member must satisfy regular expression pattern/],
        [invoke(`X-Amzn-SageMaker-Target-Variant: ${'v'.repeat(5000)}\r\n`), /^HTTP\/1\.1 400 [^]*'targetVariant' failed to satisfy constraint: Member must have length less than or equal to 63/],
        [invoke('X-Amzn-SageMaker-Enable-Explanations: \x01\r\n'), /^HTTP\/1\.1 400 [^]*"code":"ERR_BAD_REQUEST"[^]*HPE_INVALID_HEADER_TOKEN/],
        [invoke(Array.from({ length: 3000 }, (_, i) => `a${i}: b\r\n`).join('')), /^HTTP\/1\.1 431 /],
        [`POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3;${'a'.repeat(100_000)}\r\n`, /^HTTP\/1\.1 400 [^]*HPE_CHUNK_EXTENSIONS_OVERFLOW/],
        ['POST /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nabc', /^HTTP\/1\.1 400 [^]*HPE_INVALID_TRANSFER_ENCODING/],
        ['FOO /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\n\r\n', /^HTTP\/1\.1 400 [^]*HPE_INVALID_METHOD/],
        ['GET /endpoints/e/invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 404 [^]*x-amzn-ErrorType: UnknownOperationException/i],
        ['OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 404 [^]*x-amzn-ErrorType: UnknownOperationException/i],
      ];
      for (const [bytes, expected] of refused) {
        const answer = await new Promise<string>((resolve) => {
          // A reset may follow a refusal sent while headers were still being written: keep what came.
          const socket = connect(port, '127.0.0.1');
          let got = '';
          socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
          socket.on('error', () => undefined);
          socket.on('close', () => resolve(got));
          socket.write(Buffer.from(bytes, 'latin1'));
        });
        assert.match(answer, expected, bytes.slice(0, 80));
      }
      // The absolute form routes on its path.
      assert.match(await answerUntilClose(port, post(`http://other.example/endpoints/e/invocations`)), /^HTTP\/1\.1 200 [^]*got abc$/);
    } finally {
      server.close();
    }
  });
});
