import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { INSTANCE_ID_HEADER } from '../../core/sagemaker-headers.js';
import { ToolkitError } from '../../errors/catalogue.js';
import type { RunningContainer } from './backend.js';
import { pingHealthy, waitForPing } from './wait-ready.js';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; container: RunningContainer }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const container: RunningContainer = {
    spec: { id: 'e/v/primary', hostname: 'primary', optMlDir: '/nonexistent', env: {}, port, logFile: '/nonexistent/log' },
    url: `http://127.0.0.1:${port}`,
    instanceId: 'mine',
    exited: undefined,
    exitPromise: new Promise(() => {}),
    stop: async () => {},
  };
  return { server, container };
}

const close = (s: Server): Promise<void> => new Promise((r) => (s.closeAllConnections(), s.close(() => r())));

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

test('a /ping that is never answered fails the health check after SageMaker\'s 2 s, and the connection is closed', { timeout: 30_000 }, async () => {
  const requests: IncomingMessage[] = [];
  const { server, container } = await serve((req) => void requests.push(req));
  try {
    assert.equal(await pingHealthy(container), false);
    assert.equal(requests.length, 1);
    if (!requests[0]!.socket.destroyed) await once(requests[0]!.socket, 'close');
  } finally {
    await close(server);
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
