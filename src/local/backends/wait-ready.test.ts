import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { INSTANCE_ID_HEADER } from '../../core/sagemaker-headers.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { tempDirForSync } from '../../../test/helpers/temp-dir.js';
import type { RunningContainer } from './backend.js';
import { ProcessBackend } from './process-backend.js';
import { MAX_PING_BODY_BYTES, pingHealthy, waitForPing } from './wait-ready.js';

/** A listening server, the container its port stands for, and every connection it accepted. */
async function listen<S extends NetServer>(server: S, host = '127.0.0.1'): Promise<{ server: S; container: RunningContainer; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => void sockets.push(socket));
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const container: RunningContainer = {
    spec: { id: 'e/v/primary', hostname: 'primary', optMlDir: '/nonexistent', env: {}, port, logFile: '/nonexistent/log' },
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    instanceId: 'mine',
    exited: undefined,
    exitPromise: new Promise(() => {}),
    stop: async () => {},
  };
  return { server, container, sockets };
}

const serve = (handler: (req: IncomingMessage, res: ServerResponse) => void, host?: string) => listen(createServer(handler), host);

/** A raw TCP server, for answers node:http's server does not send: `answer` runs at the request's first bytes. */
const serveRaw = (answer: (socket: Socket) => void) => listen(createNetServer((socket) => void socket.on('error', () => {}).once('data', () => answer(socket))));

const close = (s: Server): Promise<void> => new Promise((r) => (s.closeAllConnections(), s.close(() => r())));
const closeRaw = ({ server, sockets }: { server: NetServer; sockets: Socket[] }): Promise<void> => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r())));

/** Resolves once every connection in `sockets` is closed (the pinger closed its end). */
const allClosed = (sockets: Socket[]): Promise<unknown> => Promise.all(sockets.map((s) => (s.closed ? undefined : once(s, 'close'))));

test('a health check is healthy on its own container\'s 200, and reads nothing else as healthy', { timeout: 30_000 }, async () => {
  const seen: Array<{ method: string | undefined; url: string | undefined }> = [];
  let answer = { status: 200, id: 'mine' };
  const { server, container } = await serve((req, res) => {
    seen.push({ method: req.method, url: req.url });
    res.writeHead(answer.status, { [INSTANCE_ID_HEADER]: answer.id, 'content-type': 'application/json' }).end('{"status":"Healthy"}');
  });
  try {
    assert.equal(await pingHealthy(container), true);
    answer = { status: 200, id: 'another' };
    assert.equal(await pingHealthy(container), false, 'another server\'s 200');
    answer = { status: 500, id: 'mine' };
    assert.equal(await pingHealthy(container), false, 'a 500');
    assert.deepEqual(seen, Array(3).fill({ method: 'GET', url: '/ping' }));
    assert.equal(await pingHealthy({ ...container, exited: { code: 1, signal: null } }), false, 'an exited container is not pinged');
    assert.equal(seen.length, 3);
  } finally {
    await close(server);
  }
});

test('a /ping never answered, or whose body stalls after its headers, fails the health check after SageMaker\'s 2 s, and the connection is closed', { timeout: 30_000 }, async () => {
  const silent = await serve(() => {});
  const stalled = await serve((_req, res) => {
    res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine', 'content-length': '100' });
    res.write('{"status":');
  });
  try {
    assert.deepEqual(await Promise.all([pingHealthy(silent.container), pingHealthy(stalled.container)]), [false, false]);
    assert.equal(silent.sockets.length + stalled.sockets.length, 2);
    await allClosed([...silent.sockets, ...stalled.sockets]);
  } finally {
    await close(silent.server);
    await close(stalled.server);
  }
});

test('a /ping answered 101 or closed before any answer fails the health check (it does not wait forever), and the connection is closed', { timeout: 30_000 }, async () => {
  // node:http's client closes a 101 it has no upgrade listener for without any error event.
  const switching = await serveRaw((socket) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n${INSTANCE_ID_HEADER}: mine\r\n\r\n`));
  const hangUp = await serveRaw((socket) => socket.destroy());
  try {
    assert.deepEqual(await Promise.all([pingHealthy(switching.container), pingHealthy(hangUp.container)]), [false, false]);
    await allClosed(switching.sockets);
  } finally {
    await closeRaw(switching);
    await closeRaw(hangUp);
  }
});

test(`a /ping body over ${MAX_PING_BODY_BYTES} bytes fails the health check and closes the connection: the body is not read without bound`, { timeout: 30_000 }, async () => {
  let size = MAX_PING_BODY_BYTES;
  const { server, container, sockets } = await serve((_req, res) => {
    res.on('error', () => {});
    res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine', 'content-length': String(size) }).end(Buffer.alloc(size, 0x20));
  });
  try {
    assert.equal(await pingHealthy(container), true, 'a body of exactly the cap');
    size = MAX_PING_BODY_BYTES + 1;
    assert.equal(await pingHealthy(container), false);
    assert.equal(sockets.length, 2);
    await allClosed(sockets);
  } finally {
    await close(server);
  }
});

test('a /ping redirect is not followed and is not healthy', { timeout: 30_000 }, async () => {
  const seen: Array<string | undefined> = [];
  const { server, container } = await serve((req, res) => {
    seen.push(req.url);
    if (req.url === '/ping') return void res.writeHead(302, { location: '/healthy', [INSTANCE_ID_HEADER]: 'mine' }).end();
    res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine' }).end();
  });
  try {
    assert.equal(await pingHealthy(container), false);
    assert.deepEqual(seen, ['/ping']);
  } finally {
    await close(server);
  }
});

test('a container on an IPv6 literal is pinged', { timeout: 30_000 }, async (t) => {
  let served: Awaited<ReturnType<typeof serve>>;
  try {
    served = await serve((_req, res) => void res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine' }).end(), '::1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL' && (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    return void t.skip('no IPv6 loopback here');
  }
  try {
    assert.match(served.container.url, /^http:\/\/\[::1\]:\d+$/);
    assert.equal(await pingHealthy(served.container), true);
  } finally {
    await close(served.server);
  }
});

test('a /ping answer cut off mid-body fails the health check (no uncaught error)', { timeout: 30_000 }, async () => {
  const { server, container } = await serve((_req, res) => {
    res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine', 'content-length': '100' });
    res.write('{"status":', () => res.socket?.destroy());
  });
  try {
    assert.equal(await pingHealthy(container), false);
  } finally {
    await close(server);
  }
});

test('waitForPing stops at smkit\'s 503 Unhealthy with its reason, and passes once /ping answers 200', { timeout: 30_000 }, async () => {
  let healthy = false;
  const { server, container } = await serve((_req, res) => {
    if (healthy) return void res.writeHead(200, { [INSTANCE_ID_HEADER]: 'mine' }).end('{"status":"Healthy"}');
    res.writeHead(503, { [INSTANCE_ID_HEADER]: 'mine', 'content-type': 'application/json' }).end(JSON.stringify({ status: 'Unhealthy', message: 'model.onnx: not an ONNX model' }));
  });
  try {
    await assert.rejects(waitForPing(container, { timeoutMs: 60_000, intervalMs: 50 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_CONTAINER_START');
      assert.deepEqual(err.details, { reason: 'model.onnx: not an ONNX model' });
      return true;
    });
    healthy = true;
    await waitForPing(container, { timeoutMs: 60_000, intervalMs: 50 });
  } finally {
    await close(server);
  }
});

test('a container that exits at start-up after flooding its log past the cap: the failure shows its last lines (from the tail file), not the main file\'s', { timeout: 60_000 }, async (t) => {
  const dir = tempDirForSync(t, 'smkit-wait-ready-');
  const logFile = join(dir, 'c.log');
  // Stands for `smkit serve`: prints 5000 lines, its last words, and exits once they are in its log.
  const bin = join(dir, 'flood.mjs');
  writeFileSync(
    bin,
    `import { readFileSync } from 'node:fs';
for (let i = 0; i < 5000; i++) process.stdout.write('loading shard ' + i + '\\n');
process.stdout.write('the model failed: out of memory\\n');
const inLog = () => [process.env.TAIL_FILE, process.env.TAIL_FILE.replace('.tail.log', '.tail.1.log')].some((f) => { try { return readFileSync(f, 'utf8').includes('out of memory'); } catch { return false; } });
const wait = () => (inLog() ? process.exit(1) : setTimeout(wait, 20));
wait();
`,
  );
  const backend = new ProcessBackend(bin, { logCap: { headBytes: 4096, tailBytes: 4096 } });
  const container = await backend.start({ id: 'e/v/primary', hostname: 'primary', optMlDir: dir, env: { TAIL_FILE: join(dir, 'c.tail.log') }, port: 1, logFile });
  try {
    await assert.rejects(waitForPing(container, { timeoutMs: 50_000, intervalMs: 50 }), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_CONTAINER_START');
      assert.match(err.message, /exited \(code 1\)/);
      assert.match(err.message, /loading shard 4999\nthe model failed: out of memory$/, 'the last lines of the output');
      return true;
    });
    assert.ok(readFileSync(logFile).length <= 4096 + 512, 'the main file is capped');
  } finally {
    await container.stop(5_000);
  }
});
