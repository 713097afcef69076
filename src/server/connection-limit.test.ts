import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { isRefusedConnection, limitConnections } from './connection-limit.js';

test('past maxConnections a new connection gets a 503 ERR_SERVER_BUSY and is closed, its request never served; once one closes, a new one is served', async () => {
  let served = 0;
  const server = http.createServer((req, res) => {
    if (isRefusedConnection(req.socket)) return;
    served++;
    res.end('ok');
  });
  limitConnections(server, 2, 66);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  /** Opens a connection, sends one request and resolves with the first answer's bytes (or all that came before the close). */
  const request = (keep: net.Socket[]) =>
    new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      keep.push(socket);
      let got = '';
      socket.on('error', () => undefined);
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (/\r\n\r\n[^]*(ok|\})$/.test(got)) resolve(got);
      });
      socket.on('close', () => resolve(got));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
  const held: net.Socket[] = [];
  try {
    assert.match(await request(held), /^HTTP\/1\.1 200 [^]*ok$/);
    assert.match(await request(held), /^HTTP\/1\.1 200 [^]*ok$/);
    const refused = await request([]);
    assert.match(refused, /^HTTP\/1\.1 503 [^]*\r\nRetry-After: 1\r\n[^]*\{"code":"ERR_SERVER_BUSY","message":"this worker already holds 2 connections, as many as its open files limit \(ulimit -n 66\) leaves room for; retry shortly, or raise the limit"\}$/);
    assert.equal(served, 2);
    // A refused client that never closes its side does not keep its descriptor: the server closes it all the same.
    const halfOpen = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    held.push(halfOpen);
    halfOpen.on('error', () => undefined);
    halfOpen.resume();
    await once(halfOpen, 'end', { signal: AbortSignal.timeout(30_000) });
    const serverConnections = () => new Promise<number>((resolve, reject) => server.getConnections((err, count) => (err ? reject(err) : resolve(count))));
    let count = await serverConnections();
    for (const deadline = Date.now() + 30_000; count > 2 && Date.now() < deadline; count = await serverConnections()) await new Promise((r) => setTimeout(r, 50));
    assert.equal(count, 2, 'the half-open refused connection is still open on the server');
    assert.equal(halfOpen.destroyed, false, 'the client kept its side open');
    const closing = held.shift()!;
    const gone = once(closing, 'close');
    closing.destroy();
    await gone;
    // The server sees the close a moment after the client: a new connection is served once it has.
    let answer = await request(held);
    for (let tries = 1; !/^HTTP\/1\.1 200 /.test(answer) && tries < 200; tries++) {
      assert.match(answer, /^HTTP\/1\.1 503 /);
      answer = await request(held);
    }
    assert.match(answer, /^HTTP\/1\.1 200 [^]*ok$/);
    assert.equal(served, 3);
  } finally {
    for (const socket of held) socket.destroy();
    server.close();
  }
});

test('past maxLingering refused connections still open, a refused connection is closed as soon as its 503 is written; one that closes frees its place', async () => {
  const server = http.createServer((req, res) => {
    if (!isRefusedConnection(req.socket)) res.end('ok');
  });
  limitConnections(server, 1, 65, 1);
  // Runs after the limit's own listener: whether it closed this connection at once.
  const serverSide: net.Socket[] = [];
  const closedAtOnce: boolean[] = [];
  server.on('connection', (socket: net.Socket) => {
    serverSide.push(socket);
    closedAtOnce.push(socket.destroyed);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const clients: net.Socket[] = [];
  /** A client that never closes its side and sends nothing; resolves with all it got once the server ends the connection. */
  const halfOpen = () => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    clients.push(socket);
    socket.on('error', () => undefined);
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    return once(socket, 'end', { signal: AbortSignal.timeout(30_000) }).then(() => got);
  };
  try {
    const served = net.connect(port, '127.0.0.1');
    clients.push(served);
    served.on('error', () => undefined);
    await once(served, 'connect');
    served.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(served, 'data');
    // The first refused connection lingers; the next, past maxLingering, is closed at once, 503 sent.
    assert.match(await halfOpen(), /^HTTP\/1\.1 503 [^]*"code":"ERR_SERVER_BUSY"/);
    assert.match(await halfOpen(), /^HTTP\/1\.1 503 [^]*"code":"ERR_SERVER_BUSY"/);
    assert.deepEqual(closedAtOnce, [false, false, true]);
    // Once the lingering one is closed, a refused connection may linger again.
    const lingering = serverSide[1]!;
    const gone = once(lingering, 'close');
    clients[1]!.destroy();
    await gone;
    assert.match(await halfOpen(), /^HTTP\/1\.1 503 /);
    assert.deepEqual(closedAtOnce, [false, false, true, false]);
  } finally {
    for (const socket of clients) socket.destroy();
    server.close();
  }
});
