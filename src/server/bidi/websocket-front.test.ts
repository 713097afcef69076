/**
 * The WebSocket front on a real HTTP server and real WebSocket clients, in front of a stand-in
 * backend (the model is not what these tests are about): the keep-alive pings and dead peers,
 * pongs that stop for a client that does not read, and handshakes refused while the model loads.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import WebSocket from 'ws';
import { BidiFront, MISSED_PONGS_LIMIT } from './websocket-front.js';
import { createLogger } from '../../logging/logger.js';
import type { BackendState, InferenceBackend } from '../inference-backend.js';
import type { InvocationRequest, InvocationResponse } from '../../handlers/engine.js';
import { HTTP_SERVER_OPTIONS } from '../respond.js';

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
    return { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 };
  }
  invoke(request: InvocationRequest): Promise<InvocationResponse> {
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
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

async function start(heartbeatMs?: number): Promise<{ url: string; backend: EchoBackend }> {
  const backend = new EchoBackend();
  const front = new BidiFront({ backend, log: createLogger('silent'), maxMessageBytes: 1024 * 1024, timeoutMs: 10_000, isDraining: () => false, heartbeatMs });
  const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void front.onUpgrade(req, socket, head);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${address.port}/invocations-bidirectional-stream`, backend };
}

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
  const { url } = await start();
  const ws = new WebSocket(url);
  await once(ws, 'open');
  let pongs = 0;
  let lastAnswered = false;
  ws.on('pong', (data: Buffer) => (data.toString() === 'last' ? (lastAnswered = true) : pongs++));
  ws.ping('hello');
  await once(ws, 'pong');
  // Stop reading, and ping far more than the socket buffers between the two sides hold.
  const socket = (ws as unknown as { _socket: Duplex })._socket;
  socket.pause();
  const sent = 100_000;
  for (let i = 0; i < sent; i++) ws.ping('x'.repeat(100));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  socket.resume();
  // Once the client reads again the server answers again: a pong for "last" means everything
  // queued before it has arrived.
  const deadline = Date.now() + 20_000;
  while (!lastAnswered && Date.now() < deadline) {
    ws.ping('last');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(lastAnswered, 'pings are answered again once the client reads');
  assert.ok(pongs < sent / 2, `${pongs} of ${sent} pings were answered to a client that read nothing`);
  ws.close();
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
