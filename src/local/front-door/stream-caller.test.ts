// InvokeEndpointWithResponseStream against callers that stop reading or go away (the front door
// reads the container no faster than the caller reads, and stops reading it when the caller leaves),
// and against a container that does not finish its answer in time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, type AddressInfo } from 'node:net';
import { InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { LocalEndpoint } from '../endpoint/local-endpoint.js';
import type { InvocationRecord } from '../control-plane/invocation-metrics.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { createFrontDoor } from './app.js';
import { createFrontDoorServer, listenFrontDoor } from './http-server.js';
import { ANSWER_SLICE_BYTES } from '../../net/end-in-slices.js';
import { recordSocketWrites } from '../../../test/helpers/socket-writes.js';

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A container streaming up to 2 GB as fast as it may be sent; counts what it sent and whether its caller hung up. */
async function fireHose(): Promise<{ url: string; sent: () => number; hungUp: () => boolean }> {
  let sent = 0;
  let hungUp = false;
  const chunk = Buffer.alloc(64 * 1024, 97);
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = () => {
        while (sent < 2e9 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (hungUp = !res.writableFinished));
      pump();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent, hungUp: () => hungUp };
}

async function frontDoorFor(containerUrl: string, timeoutMs?: number, sendIdleMs?: number): Promise<string> {
  const ep = new LocalEndpoint('hose', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: containerUrl, logFile: '/tmp/primary.log' }] }], timeoutMs === undefined ? {} : { timeoutMs });
  const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['hose', ep]]), ...(sendIdleMs === undefined ? {} : { sendIdleMs }) }));
  servers.push(server);
  return `http://127.0.0.1:${await listenFrontDoor(server, 0)}`;
}

test('a caller that stops reading the stream holds the container back (no unbounded buffering)', async () => {
  const hose = await fireHose();
  const client = new SageMakerRuntimeClient(localClientConfig(await frontDoorFor(hose.url)));
  const abort = new AbortController();
  try {
    const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'hose', Body: Buffer.from('go') }), { abortSignal: abort.signal });
    const events = out.Body![Symbol.asyncIterator]();
    const first = await events.next();
    assert.ok(first.value?.PayloadPart?.Bytes?.length, 'the first part arrives');
    // The caller reads nothing more: the container may only fill the buffers on the way, then
    // stops (nothing more sent in half a second). A fixed 1.5 s for that, then a check 0.5 s later,
    // could fail on a machine too busy to fill them in time; unbounded buffering never stops (2 GB).
    let before = hose.sent();
    await until(
      'the container to stop sending',
      async () => {
        await new Promise((r) => setTimeout(r, 500));
        const now = hose.sent();
        const stopped = now === before;
        before = now;
        return stopped || now >= 64 * 1024 * 1024;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    assert.ok(hose.sent() < 64 * 1024 * 1024, `the container sent ${hose.sent()} bytes to a caller that read one part`);
  } finally {
    abort.abort();
    client.destroy();
  }
});

test('a caller that takes nothing of its stream for the send idle time is dropped: its connection and the container\'s are closed, the instance freed', async () => {
  const hose = await fireHose();
  const url = new URL(await frontDoorFor(hose.url, undefined, 200));
  const socket = connect(Number(url.port), '127.0.0.1');
  socket.on('error', () => {});
  try {
    await once(socket, 'connect');
    socket.write('POST /endpoints/hose/invocations-response-stream HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\ngo');
    // The caller never reads: it must not hold the front door, the container and the instance for good.
    socket.pause();
    await until('the front door to close the container connection', () => hose.hungUp(), { timeoutMs: 10_000 });
  } finally {
    socket.destroy();
  }
});

test('a caller that goes away mid-stream closes the container connection', async () => {
  const hose = await fireHose();
  const client = new SageMakerRuntimeClient(localClientConfig(await frontDoorFor(hose.url)));
  const abort = new AbortController();
  const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'hose', Body: Buffer.from('go') }), { abortSignal: abort.signal });
  const events = out.Body![Symbol.asyncIterator]();
  assert.ok((await events.next()).value?.PayloadPart, 'the first part arrives');
  abort.abort();
  client.destroy();
  await until('the front door to close the container connection', () => hose.hungUp(), { timeoutMs: 10_000 });
  assert.ok(hose.sent() < 2e9, 'the container did not have to send its whole answer to nobody');
});

test('a container that does not finish its stream within the invocation timeout ends it with ModelStreamError ModelInvocationTimeExceeded', async () => {
  const stalled = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part');
      // ...and nothing more.
    });
  });
  servers.push(stalled);
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  const client = new SageMakerRuntimeClient(localClientConfig(await frontDoorFor(`http://127.0.0.1:${(stalled.address() as AddressInfo).port}`, 1000)));
  try {
    const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'hose', Body: Buffer.from('go') }));
    const parts: string[] = [];
    const err = await (async () => {
      for await (const event of out.Body!) if (event.PayloadPart?.Bytes) parts.push(Buffer.from(event.PayloadPart.Bytes).toString());
    })().then(
      () => assert.fail('the stream should end with an error'),
      (e: { name: string; ErrorCode?: string; message: string }) => e,
    );
    assert.deepEqual(parts, ['first part']);
    assert.equal(err.name, 'ModelStreamError');
    assert.equal(err.ErrorCode, 'ModelInvocationTimeExceeded');
    assert.equal(err.message, 'Your model primary did not complete sending the inference response in the allotted time.');
  } finally {
    client.destroy();
  }
});

/** A container that answers every invocation with a 500 whose body starts and then `ends`: stalls, or closes the connection (after what it wrote, which the front door reads first). */
async function brokenErrorAnswer(ends: 'stall' | 'close'): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('the model failed: ');
      if (ends === 'close') res.socket?.end();
      // 'stall': the rest of the 100 bytes never comes.
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a container whose error answer does not finish in time is a 424 ModelError timeout before the stream starts, as for InvokeEndpoint (not a 500 InternalFailure)', async () => {
  const client = new SageMakerRuntimeClient({ ...localClientConfig(await frontDoorFor(await brokenErrorAnswer('stall'), 1000)), maxAttempts: 1 });
  try {
    await assert.rejects(
      client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'hose', Body: Buffer.from('go') })),
      (err: { name: string; $metadata?: { httpStatusCode?: number }; OriginalStatusCode?: number; message: string }) => {
        assert.equal(err.name, 'ModelError', err.message);
        assert.equal(err.$metadata?.httpStatusCode, 424);
        assert.equal(err.OriginalStatusCode, 0);
        // "no response" when a loaded machine kept even the status line from the front door for the
        // second: a timeout all the same (the body's stall is what this waits out otherwise).
        assert.match(err.message, /^Received server error \(0\) from primary with message "Your invocation timed out while waiting for a response from container primary \(no (complete )?response within 1 s\)/);
        return true;
      },
    );
  } finally {
    client.destroy();
  }
});

test('a container whose connection is lost part-way through its error answer is a 503 ServiceUnavailable, as for InvokeEndpoint (not a 500 InternalFailure)', async () => {
  const client = new SageMakerRuntimeClient({ ...localClientConfig(await frontDoorFor(await brokenErrorAnswer('close'))), maxAttempts: 1 });
  try {
    await assert.rejects(
      client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'hose', Body: Buffer.from('go') })),
      (err: { name: string; $metadata?: { httpStatusCode?: number }; message: string }) => {
        assert.equal(err.name, 'ServiceUnavailable', err.message);
        assert.equal(err.$metadata?.httpStatusCode, 503);
        assert.match(err.message, /^Container primary is not reachable \(connection lost while reading the response: /);
        return true;
      },
    );
  } finally {
    client.destroy();
  }
});

test('a stream whose caller has gone yields no more chunks, even ones the container sent before (so the front door never waits to write for a caller that is gone)', async () => {
  const hose = await fireHose();
  const ep = new LocalEndpoint('hose', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: hose.url, logFile: '/tmp/primary.log' }] }]);
  const callerGone = new AbortController();
  const { answer } = await ep.stream({ body: Buffer.from('go'), contentType: 'application/octet-stream' }, { signal: callerGone.signal });
  const chunks = answer.chunks[Symbol.asyncIterator]();
  assert.ok((await chunks.next()).value, 'the first chunk arrives');
  // More than the first chunk is on its way (in the sockets' buffers and the body's queue).
  await until('the container to send more than the front door took', () => hose.sent() > 512 * 1024, { timeoutMs: 10_000 });
  callerGone.abort();
  await assert.rejects(chunks.next(), (err: Error) => err.name === 'AbortError', 'no chunk comes after the caller went');
  await until('the container connection to be closed', () => hose.hungUp(), { timeoutMs: 10_000 });
});

test('a caller that goes away before the container answers is counted as an invocation, not as an Invocation5XXErrors the model never returned', async () => {
  let received!: () => void;
  const arrived = new Promise<void>((r) => (received = r));
  // A container that takes the request and has not answered yet.
  const silent = createServer((req) => {
    req.resume();
    req.on('end', received);
  });
  servers.push(silent);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const records: InvocationRecord[] = [];
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const ep = new LocalEndpoint('slow', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url, logFile: '/tmp/primary.log' }] }], { metrics: { record: (r) => records.push(r) } });
  const callerGone = new AbortController();
  const opened = ep.stream({ body: Buffer.from('go'), contentType: 'application/octet-stream' }, { signal: callerGone.signal });
  await arrived;
  callerGone.abort();
  await assert.rejects(opened, (err: Error) => err.name === 'AbortError');
  assert.deepEqual(
    records.map((r) => r.outcome),
    ['ok'],
  );
  silent.closeAllConnections();
});

test('a caller that goes away while the error text of a 5xx the container answered is read still counts an Invocation5XXErrors', async () => {
  // A container that answers 500 and sends only part of its error text.
  const failing = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial');
    });
  });
  servers.push(failing);
  await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
  const port = (failing.address() as AddressInfo).port;
  const records: InvocationRecord[] = [];
  const ep = new LocalEndpoint('failing', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: `http://127.0.0.1:${port}`, logFile: '/tmp/primary.log' }] }], { metrics: { record: (r) => records.push(r) } });
  const callerGone = new AbortController();
  // fetch's status line has arrived (undici tells this channel first); the caller leaves once the
  // front door is reading the error text that follows.
  const onHeaders = (message: unknown): void => {
    const { request } = message as { request: { origin?: string } };
    if (String(request.origin).endsWith(`:${port}`)) setImmediate(() => callerGone.abort());
  };
  subscribe('undici:request:headers', onHeaders);
  try {
    await assert.rejects(ep.stream({ body: Buffer.from('go'), contentType: 'application/octet-stream' }, { signal: callerGone.signal }));
  } finally {
    unsubscribe('undici:request:headers', onHeaders);
  }
  assert.ok(callerGone.signal.aborted, 'the caller left');
  assert.deepEqual(
    records.map((r) => r.outcome),
    ['5xx'],
  );
  failing.closeAllConnections();
});

test('an InvokeEndpoint answer goes to the caller in slices, with its Content-Length, so a caller reading a large one slowly, but reading, is not dropped as idle', async () => {
  // A socket's idle timer is reset only when a write completes, and a write completes only once all
  // of it has gone: one write of the whole answer is, to the timer, a caller taking nothing until the end.
  const answer = Buffer.alloc(1024 * 1024, 98);
  const container = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer));
  });
  servers.push(container);
  await new Promise<void>((r) => container.listen(0, '127.0.0.1', r));
  const ep = new LocalEndpoint('big', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: `http://127.0.0.1:${(container.address() as AddressInfo).port}`, logFile: '/tmp/primary.log' }] }]);
  const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['big', ep]]) }));
  servers.push(server);
  const writes = recordSocketWrites(server);
  const port = await listenFrontDoor(server, 0);
  const res = await fetch(`http://127.0.0.1:${port}/endpoints/big/invocations`, { method: 'POST', body: 'go', headers: { Connection: 'close' }, signal: AbortSignal.timeout(10_000) });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.ok(body.equals(answer), 'the whole answer arrives');
  assert.equal(res.headers.get('content-length'), String(answer.length));
  assert.ok(Math.max(...writes) <= ANSWER_SLICE_BYTES, `writes of ${writes.join(', ')} bytes`);
});

test("a stream that fails for a reason of the front door's own (not the container's) ends with InternalStreamFailure, the service's event for one, not a ModelStreamError blaming the model; the cause is reported", async () => {
  const reported: unknown[] = [];
  // An endpoint whose stream fails with an error no container read makes (a fault of smkit's own).
  const ep = {
    invoke: () => Promise.reject(new Error('not used')),
    stream: () =>
      Promise.resolve({
        variant: 'AllTraffic',
        answer: {
          contentType: 'text/plain',
          chunks: (async function* () {
            yield Buffer.from('first\n');
            throw new TypeError('a bug of the front door');
          })(),
        },
      }),
  };
  const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['buggy', ep]]), onInternalFailure: (_where, err) => void reported.push(err) }));
  servers.push(server);
  const client = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${await listenFrontDoor(server, 0)}`));
  try {
    const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'buggy', Body: Buffer.from('go') }));
    const parts: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of out.Body!) if (event.PayloadPart?.Bytes) parts.push(Buffer.from(event.PayloadPart.Bytes).toString());
      })(),
      (err: Error & { $fault?: string }) => {
        assert.equal(err.name, 'InternalStreamFailure');
        assert.equal(err.$fault, 'server');
        assert.equal(err.message, 'The stream processing failed because of an unknown error, exception or failure. Try your request again.');
        return true;
      },
    );
    assert.deepEqual(parts, ['first\n']);
    assert.deepEqual(reported.map((e) => (e as Error).message), ['a bug of the front door']);
  } finally {
    client.destroy();
  }
});
