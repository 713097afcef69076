import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { until } from '../../test/helpers/until.js';
import { MAX_PIPELINED_REQUESTS, NEW_CONNECTION_GRACE_MS, trackConnections, type ConnectionDrain } from './connection-drain.js';

/** A raw client connection and everything it has received so far. */
interface RawClient {
  socket: net.Socket;
  received: () => string;
  /** Resolves with how the connection ended: 'end' (a FIN) or the error code (ECONNRESET...). */
  ended: Promise<string>;
}

describe('closing idle connections during a drain', () => {
  let server: Server;
  let drain: ConnectionDrain;
  let port: number;
  let accepted: net.Socket[] = [];
  const held: ServerResponse[] = [];

  before(async () => {
    server = createServer((req, res) => {
      drain.onRequest(req, res);
      if (req.url === '/hold') return void held.push(res);
      if (req.url === '/keep') return void res.end('kept');
      res.setHeader('Connection', 'close');
      res.statusCode = 503;
      res.end('draining');
    });
    drain = trackConnections(server);
    server.on('connection', (s: net.Socket) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Connects and waits until the server has accepted the connection. */
  async function connect(): Promise<RawClient> {
    const before = accepted.length;
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    const ended = new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    await once(socket, 'connect');
    await until('the server to accept the connection', () => accepted.length > before, { timeoutMs: 10_000, intervalMs: 0 });
    return { socket, received: () => text, ended };
  }

  test('a connection accepted before the drain whose request comes after it still gets its answer', async () => {
    const client = await connect();
    drain.closeIdle();
    client.socket.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await client.ended, 'end');
    assert.match(client.received(), /^HTTP\/1\.1 503 /);
    assert.match(client.received(), /draining$/);
  });

  test('a new connection that sends nothing for longer than the grace is closed', async () => {
    const client = await connect();
    assert.ok(drain.closeIdle(Date.now() + NEW_CONNECTION_GRACE_MS + 1) >= 1);
    assert.equal(await client.ended, 'end', 'a clean close (FIN), not a reset');
    assert.equal(client.received(), '');
  });

  test('a kept-alive connection with nothing in flight is closed cleanly; one with an answer in flight is left alone', async () => {
    const idle = await connect();
    idle.socket.write('GET /keep HTTP/1.1\r\nHost: x\r\n\r\n');
    const busy = await connect();
    busy.socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the held request and the kept-alive answer', () => held.length > 0 && /kept$/.test(idle.received()), { timeoutMs: 10_000, intervalMs: 10 });
    assert.equal(held.length, 1, 'the held request reached the server');
    assert.match(idle.received(), /keep-alive/i, 'the first answer kept the connection open');
    drain.closeIdle();
    assert.equal(await idle.ended, 'end');
    assert.equal(busy.received(), '', 'the connection answering a request was not touched');
    assert.equal(drain.open, 1, 'the held request is the one open');
    let idleNow = false;
    const idleWait = drain.whenIdle().then(() => (idleNow = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(idleNow, false, 'not idle while a request is open');
    held[0]!.end('finished');
    await idleWait;
    assert.equal(drain.open, 0);
    await new Promise<void>((resolve) => busy.socket.on('data', () => /finished$/.test(busy.received()) && resolve()));
    assert.match(busy.received(), /^HTTP\/1\.1 200 /);
    busy.socket.destroy();
  });

  test('a kept-alive connection whose next request is already sent when the drain closes it gets a FIN, not a reset', async () => {
    const client = await connect();
    client.socket.write('GET /keep HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the kept-alive answer', () => /kept$/.test(client.received()), { timeoutMs: 10_000, intervalMs: 10 });
    // The next request reaches the kernel while this process is busy: the parser has not seen it.
    client.socket.write('GET /keep HTTP/1.1\r\nHost: x\r\n\r\n');
    const busyUntil = Date.now() + 50;
    while (Date.now() < busyUntil);
    drain.closeIdle();
    assert.equal(await client.ended, 'end', 'the client sees a clean close it can retry on');
  });
});

describe('a connection that pipelines requests faster than they are answered', () => {
  test(`is not read past ${MAX_PIPELINED_REQUESTS} requests in flight (give or take one read), and is read again as answers go out`, async () => {
    const held: ServerResponse[] = [];
    let received = 0;
    let releasing = false;
    const server = createServer((req, res) => {
      drain.onRequest(req, res);
      received++;
      req.resume();
      req.on('end', () => {
        if (releasing) res.end('ok');
        else held.push(res);
      });
    });
    const drain = trackConnections(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as net.AddressInfo).port;
      // 200 requests of 40 KB: 8 MB, more than the kernel buffers of a loopback connection hold,
      // and at most two in one 64 KB read.
      const body = 'x'.repeat(40 * 1024);
      const request = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const total = 200;
      const client = net.connect(port, '127.0.0.1');
      let answers = 0;
      client.on('data', (d: Buffer) => (answers += (d.toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length));
      await once(client, 'connect');
      client.write(request.repeat(total));
      await until('the first requests to arrive', () => received >= MAX_PIPELINED_REQUESTS, { timeoutMs: 10_000, intervalMs: 5 });
      // Without the limit the server reads all 200 within milliseconds; give it ample time to try.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(received <= MAX_PIPELINED_REQUESTS + 3, `the server read ${received} pipelined requests while none was answered`);
      releasing = true;
      for (const res of held.splice(0)) res.end('ok');
      await until('every pipelined request to be answered', () => answers === total, { timeoutMs: 30_000, intervalMs: 10 });
      assert.equal(received, total);
      client.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('a connection closed with pipelined answers still queued', () => {
  for (const closedBy of ['the stalled-answer check', 'the client'] as const) {
    test(`counts none of them in flight once ${closedBy} closes it, so a drain does not wait out its grace`, async () => {
      // Answers far larger than the kernel buffers of a loopback connection, to a client that reads none.
      const answer = Buffer.alloc(4 * 1024 * 1024, 0x41);
      let received = 0;
      const server = createServer((req, res) => {
        drain.onRequest(req, res);
        received++;
        req.resume();
        req.on('end', () => res.end(answer));
      });
      const drain = trackConnections(server, closedBy === 'the client' ? {} : { stalledAnswerMs: 200 });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
        client.pause();
        client.on('error', () => undefined);
        await once(client, 'connect');
        client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx'.repeat(5));
        await until('the pipelined requests to arrive', () => received === 5, { timeoutMs: 10_000, intervalMs: 5 });
        assert.equal(drain.open, 5);
        if (closedBy === 'the client') client.destroy();
        await until('the connection to close', () => drain.connectionCount === 0, { timeoutMs: 30_000, intervalMs: 10 });
        assert.equal(drain.open, 0, 'requests counted in flight on a closed connection');
        await drain.whenIdle();
        client.destroy();
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  }
});

test('the stalled-answer sweep runs only while there are connections: started by the first, stopped once none is left', async () => {
  const server = createServer((req, res) => {
    drain.onRequest(req, res);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const drain = trackConnections(server, { stalledAnswerMs: 20 });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    assert.equal(drain.sweeping, false, 'no timer before the first connection');
    const port = (server.address() as net.AddressInfo).port;
    for (let round = 0; round < 2; round++) {
      const client = net.connect(port, '127.0.0.1');
      await once(client, 'connect');
      await until('the server to take the connection', () => drain.connectionCount === 1);
      assert.equal(drain.sweeping, true);
      client.destroy();
      await until('the sweep to stop with no connection left', () => !drain.sweeping, { timeoutMs: 10_000, intervalMs: 5 });
      assert.equal(drain.connectionCount, 0);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.equal(drain.sweeping, false, 'a closed server sweeps no more');
});
