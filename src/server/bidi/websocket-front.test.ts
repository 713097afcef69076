/**
 * The WebSocket front on a real HTTP server and real WebSocket clients, in front of a stand-in
 * backend (the model is not what these tests are about): the keep-alive pings and dead peers,
 * pongs that stop for a client that does not read, and handshakes refused while the model loads.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { BidiFront, MISSED_PONGS_LIMIT } from './websocket-front.js';
import { createLogger } from '../../logging/logger.js';
import type { BackendState, InferenceBackend } from '../inference-backend.js';
import type { InvocationRequest, InvocationResponse } from '../../handlers/engine.js';
import { HTTP_SERVER_OPTIONS } from '../respond.js';
import type { MetricsSink } from '../metrics.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { BodyBudget } from '../body-budget.js';
import { leavingError } from '../draining.js';
import { until } from '../../../test/helpers/until.js';
import { answerUntilClose } from '../../../test/helpers/raw-http.js';
import { toFrames } from '../../handlers/bidi-stream.js';
import type { BidiFrame, BidiRequest } from '../../core/bidi-frame.js';

/** Answers each message with its own bytes, as JSON; its state is the test's to set. */
class EchoBackend implements InferenceBackend {
  current: BackendState = 'ready';
  state(): BackendState {
    return this.current;
  }
  failure() {
    return undefined;
  }
  describe() {
    return { hooks: [] as string[], runtimes: [], rawBodies: false, maxBatchSize: 1 };
  }
  /** Releases the messages that start with "hold", which wait at the model until then. */
  readonly held: Array<() => void> = [];
  /** The cancellation of the last message held. */
  cancellation: InvocationRequest['cancellation'];
  async invoke(request: InvocationRequest): Promise<InvocationResponse> {
    if (request.body.subarray(0, 4).toString() === 'hold') {
      this.cancellation = request.cancellation;
      await new Promise<void>((resolve) => this.held.push(resolve));
      return { body: Buffer.from(String(request.body.length)), contentType: 'application/json' };
    }
    // "split" streams its answer in chunks, the first ending inside a character (é is C3 A9).
    if (request.body.toString() === 'split') {
      return {
        body: Buffer.alloc(0),
        contentType: 'application/json',
        stream: (async function* () {
          yield Buffer.from([0x22, 0x61, 0xc3]);
          yield Buffer.from([0xa9, 0x22]);
        })(),
      };
    }
    // "latin1" answers café in ISO-8859-1 without saying so; "declared" the same bytes, saying so.
    if (request.body.toString() === 'latin1') return { body: Buffer.from('café', 'latin1'), contentType: 'text/csv' };
    if (request.body.toString() === 'declared') return { body: Buffer.from('café', 'latin1'), contentType: 'text/csv; charset="ISO-8859-1"', stream: (async function* () { yield Buffer.from('café', 'latin1'); })() };
    // "bad" fails a little later, once the messages the client sent after it have arrived.
    if (request.body.toString() === 'bad') return new Promise((_, reject) => setTimeout(() => reject(new ToolkitError('ERR_BAD_REQUEST', 'bad message')), 200));
    return Promise.resolve({ body: request.body, contentType: 'application/json' });
  }
  whenSettled() {
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
}

const servers: Server[] = [];
/** Every connection the servers took: those a failed test left open are destroyed at the end, so a failure cannot hold the file open. */
const connections = new Set<Socket>();
after(() => {
  for (const socket of connections) socket.destroy();
  return Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** Serves `front`'s handshakes from a new local server; gives the stream URL. */
async function serveFront(front: BidiFront): Promise<string> {
  const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void front.onUpgrade(req, socket, head);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `ws://127.0.0.1:${(server.address() as { port: number }).port}/invocations-bidirectional-stream`;
}

async function start(heartbeatMs?: number, metrics?: MetricsSink, budget?: BodyBudget, maxMessageBytes = 1024 * 1024, maxStreams = 1000): Promise<{ url: string; backend: EchoBackend; server: Server }> {
  const backend = new EchoBackend();
  const front = new BidiFront({ backend, log: createLogger('silent'), maxMessageBytes, timeoutMs: 10_000, isDraining: () => false, heartbeatMs, metrics, budget, maxStreams });
  const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void front.onUpgrade(req, socket, head);
  });
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${address.port}/invocations-bidirectional-stream`, backend, server };
}

test('SAGEMAKER_MAX_PAYLOAD_IN_MB of 4097 takes a 1.5 MB message: the limit ws is given does not wrap round to 1 MB', async () => {
  const { url } = await start(undefined, undefined, undefined, 4097 * 1024 * 1024);
  const ws = new WebSocket(url);
  try {
    await once(ws, 'open');
    const closed = once(ws, 'close');
    ws.send(Buffer.alloc(1.5 * 1024 * 1024, 0x61));
    const [reply] = (await Promise.race([once(ws, 'message'), closed.then(([code]) => assert.fail(`closed with ${code}`))])) as [Buffer];
    assert.equal(reply.length, 1.5 * 1024 * 1024);
  } finally {
    ws.terminate();
  }
});

test('a client that answers the pings stays; one that misses five in a row is dropped', async () => {
  const { url } = await start(50);
  const alive = new WebSocket(url);
  const dead = new WebSocket(url, { autoPong: false });
  let pings = 0;
  dead.on('ping', () => pings++);
  await Promise.all([once(alive, 'open'), once(dead, 'open')]);
  const [code] = (await once(dead, 'close')) as [number];
  assert.equal(code, 1006, 'dropped without a close handshake');
  assert.equal(pings, MISSED_PONGS_LIMIT);
  assert.equal(alive.readyState, WebSocket.OPEN, 'the client that answers is kept');
  alive.send('[1]');
  const [reply] = (await once(alive, 'message')) as [Buffer];
  assert.equal(reply.toString(), '[1]');
  alive.close();
});

test("a client's pings are answered while it reads, and stop piling up once it does not", async () => {
  const { url, server } = await start();
  const upgraded = once(server, 'upgrade') as Promise<[IncomingMessage, Socket]>;
  const ws = new WebSocket(url);
  try {
    await once(ws, 'open');
    const [, serverSide] = await upgraded;
    let pongs = 0;
    let lastAnswered = false;
    ws.on('pong', (data: Buffer) => (data.toString() === 'last' ? (lastAnswered = true) : pongs++));
    ws.ping('hello');
    await once(ws, 'pong');
    // Stop reading, and ping far more than the socket buffers between the two sides hold.
    const socket = (ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const sent = 100_000;
    for (let i = 0; i < sent; i++) ws.ping('x'.repeat(100));
    // The server has read (and so answered or skipped) every ping once it has read every byte the
    // client wrote; only then may the client read again.
    await until('every ping read by the server', () => serverSide.bytesRead === socket.bytesWritten && socket.writableLength === 0, {
      timeoutMs: 60_000,
      detail: () => `${serverSide.bytesRead} of ${socket.bytesWritten} bytes`,
    });
    socket.resume();
    // Once the client reads again the server answers again: a pong for "last" means everything
    // queued before it has arrived.
    await until(
      'pings answered again once the client reads',
      () => {
        if (!lastAnswered) ws.ping('last');
        return lastAnswered;
      },
      { timeoutMs: 20_000 },
    );
    assert.ok(pongs < sent / 2, `${pongs} of ${sent} pings were answered to a client that read nothing`);
  } finally {
    ws.terminate();
  }
});

test('handshakes ws itself would refuse (an Upgrade list, a Sec-WebSocket-Protocol that is no list of distinct tokens) get a catalogued JSON 400, not ws\'s text/html one', async () => {
  const { url } = await start();
  const { port } = new URL(url);
  const cases: Record<string, string>[] = [{ Upgrade: 'websocket, h2c' }, { Upgrade: 'h2c, websocket' }, { 'Sec-WebSocket-Protocol': 'a b' }, { 'Sec-WebSocket-Protocol': 'a, a' }, { 'Sec-WebSocket-Protocol': 'a,,b' }];
  for (const extra of cases) {
    const req = request({
      port: Number(port),
      host: '127.0.0.1',
      path: '/invocations-bidirectional-stream',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...extra },
    });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    let body = '';
    for await (const chunk of res) body += String(chunk);
    assert.equal(res.statusCode, 400, JSON.stringify(extra));
    assert.match(String(res.headers['content-type']), /application\/json/, `${JSON.stringify(extra)}: ${body}`);
    assert.equal(JSON.parse(body).code, 'ERR_BAD_REQUEST');
  }
  // No Host, two Host lines, a fragment in the target or a SageMaker header repeated with another value, refused as on every other route.
  const handshake = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  for (const head of [`GET /invocations-bidirectional-stream HTTP/1.1\r\n${handshake}`, `GET /invocations-bidirectional-stream HTTP/1.1\r\nHost: a\r\nHost: b\r\n${handshake}`, `GET /invocations-bidirectional-stream#x HTTP/1.1\r\nHost: a\r\n${handshake}`, `GET /invocations-bidirectional-stream HTTP/1.1\r\nHost: a\r\nX-Amzn-SageMaker-Target-Model: a\r\nX-Amzn-SageMaker-Target-Model: b\r\n${handshake}`]) {
    const got = await answerUntilClose(Number(port), head);
    assert.match(got, /^HTTP\/1\.1 400 /, head);
    assert.equal(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).code, 'ERR_BAD_REQUEST', head);
  }
});

test('a handshake that offers subprotocols opens the stream without agreeing to any of them (no Sec-WebSocket-Protocol in the 101)', async () => {
  const { url } = await start();
  const { port } = new URL(url);
  const req = request({
    port: Number(port),
    host: '127.0.0.1',
    path: '/invocations-bidirectional-stream',
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'chat, superchat' },
  });
  req.end();
  const [res, socket] = (await once(req, 'upgrade')) as [IncomingMessage, Socket];
  socket.destroy();
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers['sec-websocket-protocol'], undefined, 'the server speaks no subprotocol, so it names none');
});

/** Opens a stream, or gives the status and JSON body the handshake was refused with. */
async function attempt(url: string): Promise<{ ws: WebSocket } | { status: number; retryAfter: string | undefined; body: { code: string; message: string } }> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  const outcome = await Promise.race([once(ws, 'open').then(() => undefined), once(ws, 'unexpected-response').then(([, res]) => res as IncomingMessage)]);
  if (outcome === undefined) return { ws };
  let body = '';
  for await (const chunk of outcome) body += String(chunk);
  ws.terminate();
  return { status: outcome.statusCode!, retryAfter: outcome.headers['retry-after'], body: JSON.parse(body) };
}

test('SMKIT_BIDI_STREAMS_MAX streams open at once (handshakes that arrive together too): the next handshake gets a catalogued 503 ERR_TOO_MANY_STREAMS with Retry-After, and opens once a stream has ended', async () => {
  const front = new BidiFront({ backend: new EchoBackend(), log: createLogger('silent'), maxMessageBytes: 1024, timeoutMs: 10_000, isDraining: () => false, maxStreams: 2 });
  // The first five handshakes are handed over together, as when they arrive while ws loads for the
  // first stream: none of them is open yet when the others are checked.
  const burst: Array<[IncomingMessage, Duplex, Buffer]> = [];
  const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (burst.length === 5) return void front.onUpgrade(req, socket, head);
    burst.push([req, socket, head]);
    if (burst.length === 5) for (const [r, s, h] of burst) void front.onUpgrade(r, s, h);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/invocations-bidirectional-stream`;
  const outcomes = await Promise.all(Array.from({ length: 5 }, () => attempt(url)));
  const open = outcomes.flatMap((o) => ('ws' in o ? [o.ws] : []));
  const refused = outcomes.flatMap((o) => ('status' in o ? [o] : []));
  try {
    assert.equal(open.length, 2);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.equal(r.body.code, 'ERR_TOO_MANY_STREAMS');
      assert.equal(r.retryAfter, '1', 'a 503 says when to retry (RFC 9110 §10.2.3), as ERR_SERVER_BUSY does');
      assert.match(r.body.message, /^this server already holds SMKIT_BIDI_STREAMS_MAX=2 bidirectional streams: retry once one has ended, or raise SMKIT_BIDI_STREAMS_MAX$/);
    }
    // The open ones are served as before.
    open[1]!.send('[1]');
    const [reply] = (await once(open[1]!, 'message')) as [Buffer];
    assert.equal(reply.toString(), '[1]');
    open[0]!.close();
    await once(open[0]!, 'close');
    // The server counts the stream out once its connection has closed on its side too.
    const third = await until('a handshake to open once a stream has ended', async () => {
      const o = await attempt(url);
      return 'ws' in o ? o.ws : undefined;
    }, { timeoutMs: 10_000 });
    open.push(third);
    const again = await attempt(url);
    assert.ok('status' in again && again.body.code === 'ERR_TOO_MANY_STREAMS', 'two open again: the next is refused');
  } finally {
    for (const ws of open) ws.terminate();
  }
});

test('a handshake while the model loads gets 503 ERR_NOT_READY, and opens once it is ready', async () => {
  const { url, backend } = await start();
  backend.current = 'loading';
  const refused = new WebSocket(url);
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  assert.equal(res.statusCode, 503);
  assert.equal(JSON.parse(body).code, 'ERR_NOT_READY');
  refused.on('error', () => undefined);
  refused.terminate();
  backend.current = 'ready';
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.close();
});

test('messages received and not yet read share the body budget: a stream they do not fit in is closed with 4503, and every byte comes back', async () => {
  const budget = new BodyBudget(2.5 * 1024 * 1024);
  const { url, backend } = await start(undefined, undefined, budget);
  const message = (head: string) => Buffer.concat([Buffer.from(head), Buffer.alloc(900 * 1024 - head.length, 0x31)]);
  const a = new WebSocket(url);
  await once(a, 'open');
  const replies: string[] = [];
  a.on('message', (data: Buffer) => replies.push(data.toString()));
  // The first message is read by the model and waits there; the next two wait in the inbox.
  a.send(message('hold'));
  await until('the first message at the model', () => backend.held.length === 1, { timeoutMs: 15_000 });
  a.send(message('hold'));
  a.send(message('hold'));
  await until('two messages held in the inbox', () => budget.held >= 2 * 900 * 1024, { timeoutMs: 15_000 });

  const b = new WebSocket(url);
  await once(b, 'open');
  const closed = once(b, 'close', { signal: AbortSignal.timeout(15_000) }) as Promise<[number, Buffer]>;
  b.send(message('more'));
  const [code, reason] = await closed;
  assert.equal(code, 4503);
  assert.match(reason.toString(), /SMKIT_BODY_MEMORY_MB/);
  // Within a 64 KB read of the two messages waiting: a chunk that ends one message counts toward it.
  await until("the closed stream's bytes given back", () => Math.abs(budget.held - 2 * 900 * 1024) <= 64 * 1024, { timeoutMs: 15_000, detail: () => String(budget.held) });

  // Released one by one, each message is read, answered, and its bytes given back.
  for (let i = 0; i < 3; i++) {
    await until(`message ${i + 1} at the model`, () => backend.held.length > 0, { timeoutMs: 15_000 });
    backend.held.shift()!();
  }
  await until('three answers', () => replies.length === 3, { timeoutMs: 15_000 });
  assert.deepEqual(replies, ['921600', '921600', '921600']);
  await until('the inbox empty', () => budget.held < 1024, { timeoutMs: 15_000, detail: () => String(budget.held) });
  a.close();
  await once(a, 'close');
  await until('every byte given back', () => budget.held === 0, { timeoutMs: 15_000 });
});

test('what a client sends after the server closed its stream (never read) gives back every byte it held, though the client does not answer the close', async () => {
  const budget = new BodyBudget(2.5 * 1024 * 1024);
  const { url, server } = await start(undefined, undefined, budget);
  const upgraded = once(server, 'upgrade') as Promise<[IncomingMessage, Socket]>;
  const stream = await rawStream(url);
  const [, serverSide] = await upgraded;
  const key = new Uint8Array([1, 2, 3, 4]);
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 1, masked: true, key, payload: Buffer.from('bad') }));
  await until('the server to close with 4400', () => closeCodes(stream.received()).includes(4400), { timeoutMs: 5000 });
  // Ten messages, then one left unfinished (ws would wait 30 s for the client's close frame).
  const part = Buffer.alloc(60_000, 0x31);
  for (let i = 0; i < 10; i++) stream.socket.write(frame({ fin: true, rsv: 0, opcode: 2, masked: true, key, payload: part }));
  stream.socket.write(frame({ fin: false, rsv: 0, opcode: 2, masked: true, key, payload: part }));
  await until('every byte read by the server', () => serverSide.bytesRead === stream.socket.bytesWritten && serverSide.readableLength === 0, { timeoutMs: 15_000 });
  assert.equal(serverSide.destroyed, false, 'the connection is still open');
  assert.equal(budget.held, 0, 'bytes never to be read still held');
  stream.socket.destroy();
});

test('an answer that meets the client\'s close frame on its way ends the stream as the client leaving (ERR_CLIENT_GONE), not as a failure of the server', async () => {
  const { url, server, backend } = await start();
  const upgraded = once(server, 'upgrade') as Promise<[IncomingMessage, Socket]>;
  const stream = await rawStream(url, true);
  const [, serverSide] = await upgraded;
  const key = new Uint8Array([1, 2, 3, 4]);
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 1, masked: true, key, payload: Buffer.from('hold') }));
  await until('the message at the model', () => backend.held.length === 1, { timeoutMs: 5000 });
  // The client's close, its TCP connection left open (a server's FIN does not end it): the answer
  // comes while ws is closing, before the connection closes.
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 8, masked: true, key, payload: Buffer.from([0x03, 0xe8]) }));
  await until('the close frame read by the server', () => serverSide.bytesRead === stream.socket.bytesWritten && closeCodes(stream.received()).includes(1000), { timeoutMs: 5000 });
  backend.held.shift()!();
  const cancellation = backend.cancellation!;
  await until('the stream stopped', () => cancellation.cancelled, { timeoutMs: 5000 });
  assert.equal((cancellation.reason as ToolkitError).code, 'ERR_CLIENT_GONE');
  stream.socket.destroy();
});

test('a stream that fails with messages still waiting (the inbox paused its socket) finishes its close handshake at once', async () => {
  const { url } = await start();
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const started = Date.now();
  ws.send('bad');
  for (let i = 0; i < 20; i++) ws.send(`[${i}]`);
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, 4400);
  // ws gives up on a close handshake after 30 s; a paused socket never reads the client's answer.
  assert.ok(Date.now() - started < 10_000, `the close handshake took ${Date.now() - started} ms`);
});

test('a handshake that arrives as the shutdown begins (ws still loading) is refused or closed with 1001, never left open', async () => {
  let draining = false;
  const front = new BidiFront({ backend: new EchoBackend(), log: createLogger('silent'), maxMessageBytes: 1024, timeoutMs: 10_000, isDraining: () => draining, maxStreams: 1000 });
  const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void front.onUpgrade(req, socket, head);
    // The shutdown starts while the first stream waits for ws to load.
    draining = true;
    front.closeAll();
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}/invocations-bidirectional-stream`);
  ws.on('error', () => undefined);
  const outcome = await Promise.race([
    once(ws, 'unexpected-response').then(([, res]) => `refused ${(res as IncomingMessage).statusCode}`),
    once(ws, 'close').then(([code]) => `closed ${code as number}`),
    new Promise<string>((resolve) => setTimeout(() => resolve(`still ${ws.readyState === WebSocket.OPEN ? 'open' : 'opening'} after 5 s`), 5000)),
  ]);
  ws.terminate();
  assert.match(outcome, /^(refused 503|closed 1001)$/);
});

test('closeAll ends open streams with 1001 (going away): a shutdown says so, and a worker process leaving on its own says why', async () => {
  const front = new BidiFront({ backend: new EchoBackend(), log: createLogger('silent'), maxMessageBytes: 1024, timeoutMs: 10_000, isDraining: () => false, maxStreams: 1000 });
  const url = await serveFront(front);
  const closeOne = async (close: () => void): Promise<[number, string]> => {
    const ws = new WebSocket(url);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    close();
    const [code, reason] = (await closed) as [number, Buffer];
    return [code, String(reason)];
  };
  assert.deepEqual(await closeOne(() => front.closeAll()), [1001, 'ERR_SHUTTING_DOWN: the server is shutting down']);
  const [code, reason] = await closeOne(() => front.closeAll(leavingError('its model could not be loaded again')));
  assert.equal(code, 1001);
  assert.match(reason, /^ERR_SHUTTING_DOWN: this worker process is leaving \(its model could not be loaded again\); retry/);
});

test('a handshake reaching a worker process that leaves on its own is refused with 503 saying why, not naming a shutdown', async () => {
  const front = new BidiFront({ backend: new EchoBackend(), log: createLogger('silent'), maxMessageBytes: 1024, timeoutMs: 10_000, isDraining: () => true, leavingReason: () => 'it could not load the model for want of file descriptors', maxStreams: 1000 });
  const ws = new WebSocket(await serveFront(front));
  ws.on('error', () => undefined);
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  let text = '';
  for await (const chunk of res) text += String(chunk);
  ws.terminate();
  assert.equal(res.statusCode, 503);
  const body = JSON.parse(text) as { code: string; message: string };
  assert.equal(body.code, 'ERR_SHUTTING_DOWN');
  assert.match(body.message, /^this worker process is leaving \(it could not load the model for want of file descriptors\); retry: /);
});

test('a message sent in fragments (a PayloadPart per frame) reaches the model whole, and each answer goes out as one unfragmented frame (one PayloadPart)', async () => {
  const { url } = await start();
  const stream = await rawStream(url);
  const key = new Uint8Array([1, 2, 3, 4]);
  // A text frame without FIN, a continuation, and the continuation with FIN that ends the message.
  stream.socket.write(frame({ fin: false, rsv: 0, opcode: 1, masked: true, key, payload: Buffer.from('[1,') }));
  stream.socket.write(frame({ fin: false, rsv: 0, opcode: 0, masked: true, key, payload: Buffer.from('2,') }));
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 0, masked: true, key, payload: Buffer.from('3]') }));
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 1, masked: true, key, payload: Buffer.from('[4]') }));
  const expected = Buffer.concat([Buffer.from([0x81, 7]), Buffer.from('[1,2,3]'), Buffer.from([0x81, 3]), Buffer.from('[4]')]);
  await until('both answers', () => stream.received().length >= expected.length, { timeoutMs: 5000 });
  // One invocation per message, each answer one text frame with FIN set, and nothing else.
  assert.deepEqual(stream.received(), expected);
  stream.socket.destroy();
});

test('a frame that declares more than the message limit (2^40 bytes, none sent), or fragments that add up past it, is closed with 1009 at its header: nothing waits for the bytes', async () => {
  const { url } = await start(undefined, undefined, undefined, 1024);
  const key = new Uint8Array([1, 2, 3, 4]);
  const huge = await rawStream(url);
  // FIN + binary, masked, 64-bit length 2^40, then the mask key: a header and nothing more.
  huge.socket.write(Buffer.from([0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, ...key]));
  await until('the close with 1009', () => closeCodes(huge.received()).includes(1009), { timeoutMs: 5000 });
  huge.socket.destroy();
  const fragmented = await rawStream(url);
  fragmented.socket.write(frame({ fin: false, rsv: 0, opcode: 2, masked: true, key, payload: Buffer.alloc(600) }));
  fragmented.socket.write(frame({ fin: false, rsv: 0, opcode: 0, masked: true, key, payload: Buffer.alloc(600) }));
  await until('the close with 1009', () => closeCodes(fragmented.received()).includes(1009), { timeoutMs: 5000 });
  fragmented.socket.destroy();
});

test('without bidiFn, a streamed answer goes out as one message in parts, so a chunk that ends inside a character is no text frame of its own: the client reads the whole answer', async () => {
  const { url } = await start();
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const replies: string[] = [];
  ws.on('message', (data: Buffer) => replies.push(data.toString()));
  const closed = once(ws, 'close');
  ws.send('split');
  ws.send('[2]');
  await until('both answers', () => replies.length === 2 || ws.readyState !== WebSocket.OPEN, { timeoutMs: 5000 });
  assert.deepEqual(replies, ['"aé"', '[2]']);
  ws.close();
  await closed;
});

test('without bidiFn, a textual answer that is not UTF-8 (undeclared, or a charset=ISO-8859-1 stream) goes out as a binary message with its bytes as given, so the client keeps its stream; UTF-8 text stays a text message', async () => {
  const { url } = await start();
  const ws = new WebSocket(url);
  await once(ws, 'open');
  const replies: Array<{ data: Buffer; isBinary: boolean }> = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => replies.push({ data, isBinary }));
  let closeCode: number | undefined;
  ws.once('close', (code: number) => (closeCode = code));
  ws.send('latin1');
  ws.send('declared');
  ws.send('["é"]');
  await until('three answers', () => replies.length === 3 || ws.readyState !== WebSocket.OPEN, { timeoutMs: 5000 });
  assert.equal(closeCode, undefined, 'the client kept its stream');
  const latin1 = Buffer.from('café', 'latin1');
  assert.deepEqual(replies, [
    { data: latin1, isBinary: true },
    { data: latin1, isBinary: true },
    { data: Buffer.from('["é"]'), isBinary: false },
  ]);
  const closed = once(ws, 'close');
  ws.close();
  await closed;
});

/** A model whose bidiFn answers each message with a reply in parts ("to", "ken"), then a binary one. */
class PartsBackend extends EchoBackend {
  override describe() {
    return { ...super.describe(), hooks: ['bidiFn'] };
  }
  openBidi(_request: BidiRequest, frames: AsyncIterable<BidiFrame>): AsyncIterable<BidiFrame> {
    return toFrames(
      (async function* () {
        for await (const _frame of frames) {
          yield (async function* () {
            yield 'to';
            yield 'ken';
          })();
          yield Buffer.from([7]);
        }
      })(),
    );
  }
}

test('a bidiFn reply in parts goes out as one fragmented message: a text frame without FIN, continuations, an empty one with FIN (PARTIAL parts, then COMPLETE)', async () => {
  const front = new BidiFront({ backend: new PartsBackend(), log: createLogger('silent'), maxMessageBytes: 1024, timeoutMs: 10_000, isDraining: () => false, maxStreams: 10 });
  const stream = await rawStream(await serveFront(front));
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 1, masked: true, key: new Uint8Array([1, 2, 3, 4]), payload: Buffer.from('go') }));
  const expected = Buffer.concat([Buffer.from([0x01, 2]), Buffer.from('to'), Buffer.from([0x00, 3]), Buffer.from('ken'), Buffer.from([0x80, 0]), Buffer.from([0x82, 1, 7])]);
  await until('the reply in parts and the next', () => stream.received().length >= expected.length, { timeoutMs: 5000 });
  assert.deepEqual(stream.received(), expected);
  stream.socket.destroy();
});

/** Opens a stream over a raw TCP socket (RFC 6455's own sample key); resolves once the server switched. */
async function rawStream(url: string, allowHalfOpen = false): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const { port } = new URL(url);
  const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen });
  await once(socket, 'connect');
  socket.write(
    'GET /invocations-bidirectional-stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  let data = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (data = Buffer.concat([data, d])));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  const deadline = Date.now() + 5000;
  while (!data.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const head = data.subarray(0, data.indexOf('\r\n\r\n') + 4).toString();
  assert.match(head, /^HTTP\/1\.1 101 /);
  const bodyStart = head.length;
  return { socket, received: () => data.subarray(bodyStart), closed };
}

/** The close codes in the frames of `bytes`: a server's (unmasked) or a client's (masked). */
function closeCodes(bytes: Buffer): number[] {
  const codes: number[] = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    const opcode = bytes[at]! & 0x0f;
    const masked = (bytes[at + 1]! & 0x80) !== 0;
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    const key = masked ? bytes.subarray(at + header, at + header + 4) : undefined;
    if (masked) header += 4;
    if (opcode === 0x8 && length >= 2 && at + header + 2 <= bytes.length) {
      const code = bytes.readUInt16BE(at + header);
      codes.push(key ? code ^ ((key[0]! << 8) | key[1]!) : code);
    }
    at += header + length;
  }
  return codes;
}

/** A client frame: masked, as RFC 6455 requires of clients (or not, when `masked` is false). */
function frame(f: { fin: boolean; rsv: number; opcode: number; masked: boolean; key: Uint8Array; payload: Uint8Array }): Buffer {
  const length = f.payload.length;
  const head = [(f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode];
  if (length < 126) head.push((f.masked ? 0x80 : 0) | length);
  else head.push((f.masked ? 0x80 : 0) | 126, length >> 8, length & 0xff);
  const payload = Buffer.from(f.payload);
  if (f.masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= f.key[i % 4]!;
  return Buffer.concat([Buffer.from(head), f.masked ? Buffer.from(f.key) : Buffer.alloc(0), payload]);
}

test('any bytes after the handshake (frames well formed or not) get answers or a close with a protocol code, and the server keeps serving', async () => {
  const { url } = await start();
  // 1002 protocol error, 1007 not UTF-8, 1008 policy (too many fragments), 1009 too big, 4400-4599 a failed message.
  const allowed = (code: number) => [1000, 1002, 1005, 1007, 1008, 1009].includes(code) || (code >= 4400 && code <= 4599);
  const clientFrame = fc.record({
    fin: fc.boolean(),
    rsv: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
    opcode: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    masked: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 100 }).map((s) => new TextEncoder().encode(s))),
  });
  const input = fc.oneof(
    { weight: 3, arbitrary: fc.array(clientFrame, { minLength: 1, maxLength: 6 }).map((frames) => Buffer.concat(frames.map(frame))) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 512 }).map((u) => Buffer.from(u)) },
  );
  await fc.assert(
    fc.asyncProperty(input, async (bytes) => {
      const stream = await rawStream(url);
      stream.socket.write(bytes);
      // A frame cut short is a client that is still sending: the server waits, which is right.
      await Promise.race([stream.closed, new Promise((r) => setTimeout(r, 300))]);
      // A client's own close frame is answered with its code (RFC 6455 §5.5.1; ws refuses the codes a
      // client may not send with 1002).
      const echoed = closeCodes(bytes);
      for (const code of closeCodes(stream.received())) assert.ok(allowed(code) || echoed.includes(code), `close code ${code} for ${bytes.toString('hex')}`);
      stream.socket.destroy();
    }),
    // The first: a client's close with 3072, a code for libraries (once a counterexample in CI).
    { numRuns: 60, examples: [[Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x0c, 0x00, 0x00, 0x80, 0, 0, 0, 0])], [frame({ fin: true, rsv: 0, opcode: 8, masked: true, key: new Uint8Array([1, 2, 3, 4]), payload: new Uint8Array([0x0f, 0xa0]) })]] },
  );
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.send('[2]');
  const [reply] = (await once(ws, 'message')) as [Buffer];
  assert.equal(reply.toString(), '[2]', 'the server still serves streams');
  ws.close();
});

test('streams ended by close code reach the metrics; a code a client made up counts as other, so clients cannot add series', async () => {
  const closes: (number | string)[] = [];
  const metrics = { observeBidiClose: (code: number | 'other') => closes.push(code), trackBidiStreams: () => undefined, countBidiMessage: () => undefined } as unknown as MetricsSink;
  const { url } = await start(undefined, metrics);
  for (const code of [1000, 4999, 3123]) {
    const ws = new WebSocket(url);
    await once(ws, 'open');
    ws.close(code);
    await once(ws, 'close');
  }
  const deadline = Date.now() + 5000;
  while (closes.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(closes, [1000, 'other', 'other']);
});

test("a stream the server closes counts as the code it sent, though the client never answers its close; a client's 4500 counts as other", async () => {
  const closes: (number | string)[] = [];
  const metrics = { observeBidiClose: (code: number | 'other') => closes.push(code), trackBidiStreams: () => undefined, countBidiMessage: () => undefined } as unknown as MetricsSink;
  const { url } = await start(undefined, metrics);
  // Text that is not UTF-8, then the connection dropped once the server's close frame came: ws saw no close frame (1006).
  const stream = await rawStream(url);
  stream.socket.write(frame({ fin: true, rsv: 0, opcode: 1, masked: true, key: new Uint8Array([1, 2, 3, 4]), payload: new Uint8Array([0xff, 0xfe]) }));
  await until('the server to close with 1007', () => closeCodes(stream.received()).includes(1007), { timeoutMs: 5000 });
  stream.socket.destroy();
  await until('the stream to be counted', () => closes.length === 1, { timeoutMs: 5000 });
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.close(4500);
  await once(ws, 'close');
  await until('the second stream to be counted', () => closes.length === 2, { timeoutMs: 5000 });
  assert.deepEqual(closes, [1007, 'other']);
});
