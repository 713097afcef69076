import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INSTANCE_ID_HEADER } from '../../core/sagemaker-headers.js';
import type { ContainerBackend, ContainerSpec, RunningContainer } from './backend.js';
import { launchReady, type LaunchedContainer } from './launch.js';
import { ProcessBackend } from './process-backend.js';
import { pingHealthy, waitForPing } from './wait-ready.js';

const IRIS = resolve(fileURLToPath(new URL('../../../../models/iris-onnx', import.meta.url)));

/** Another program's server: healthy on /ping, draining for everything else (as a stopping smkit serve answers). */
async function squatter(port = 0): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/ping') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"Healthy"}');
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"ERR_SHUTTING_DOWN"}');
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

const close = (s: Server): Promise<void> => new Promise((r) => (s.closeAllConnections(), s.close(() => r())));

test('waitForPing does not take another server\'s /ping 200 for the container whose instance id it lacks', async () => {
  const other = await squatter();
  try {
    const port = (other.address() as { port: number }).port;
    const spec: ContainerSpec = { id: 'e/v/primary', hostname: 'primary', optMlDir: '/nonexistent', env: {}, port, logFile: '/nonexistent/log' };
    const container: RunningContainer = { spec, url: `http://127.0.0.1:${port}`, instanceId: 'mine', exited: undefined, exitPromise: new Promise(() => {}), stop: async () => {} };
    await assert.rejects(waitForPing(container, { timeoutMs: 600, intervalMs: 50 }), (err: Error) => {
      assert.match(err.message, new RegExp(`another server answers on port ${port}, not this container`));
      return true;
    });
    // Without an instance id (a docker image that may not be smkit), any 200 still counts.
    const { instanceId: _ignored, ...anonymous } = container;
    await waitForPing(anonymous, { timeoutMs: 5_000 });
  } finally {
    await close(other);
  }
});

test('a child whose port another process took first is started again on a new port; the squatter is never adopted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-launch-'));
  const squatters: Server[] = [];
  const real = new ProcessBackend();
  // Takes the first container's port between the probe and the child's bind (what another test
  // file, or anything on the machine, can do), then lets the real backend start the child.
  const racing: ContainerBackend = {
    name: 'process',
    async start(spec) {
      if (squatters.length === 0) squatters.push(await squatter(spec.port));
      return real.start(spec);
    },
  };
  const started: LaunchedContainer[] = [];
  try {
    const launched = await launchReady(
      racing,
      { id: 'iris/AllTraffic/primary', hostname: 'primary', root: join(dir, 'opt-ml'), model: IRIS, inPlace: true, env: {}, logFile: join(dir, 'serve.log') },
      { timeoutMs: 60_000, onStarted: (l) => started.push(l) },
    );
    try {
      assert.equal(started.length, 2, 'started twice: once on the taken port, once on a new one');
      const squatted = (squatters[0]!.address() as { port: number }).port;
      assert.equal(started[0]!.port, squatted);
      assert.ok(started[0]!.container.exited, 'the first child exited (its port was taken)');
      assert.notEqual(launched.port, squatted);
      assert.equal(launched.container, started[1]!.container);
      const ping = await fetch(`${launched.container.url}/ping`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(ping.status, 200);
      assert.equal(ping.headers.get(INSTANCE_ID_HEADER), launched.container.instanceId, 'the adopted URL is the child\'s own server');
    } finally {
      await launched.container.stop(10_000);
    }
  } finally {
    await Promise.all(started.map((l) => l.container.stop(5_000)));
    await Promise.all(squatters.map(close));
    await rm(dir, { recursive: true, force: true });
  }
});

test('a /ping answered with a redirect is not followed and is not healthy, even to a server answering 200', async () => {
  const hits: string[] = [];
  const elsewhere = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
  const target = `http://127.0.0.1:${(elsewhere.address() as { port: number }).port}/ping`;
  const redirecting = createServer((_req, res) => void res.writeHead(302, { location: target }).end());
  await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
  try {
    const port = (redirecting.address() as { port: number }).port;
    // No instance id (a docker image that may not be smkit): any 200 of its own would count.
    const spec: ContainerSpec = { id: 'e/v/primary', hostname: 'primary', optMlDir: '/nonexistent', env: {}, port, logFile: '/nonexistent/log' };
    const container: RunningContainer = { spec, url: `http://127.0.0.1:${port}`, exited: undefined, exitPromise: new Promise(() => {}), stop: async () => {} };
    assert.equal(await pingHealthy(container), false);
    await assert.rejects(waitForPing(container, { timeoutMs: 600, intervalMs: 50 }), (err: Error) => {
      assert.match(err.message, /did not pass \/ping within 0\.6 s \(last status 302\)/);
      return true;
    });
    assert.deepEqual(hits, [], 'nothing was sent where the container pointed');
  } finally {
    await Promise.all([elsewhere, redirecting].map(close));
  }
});

test('a child that says ERR_PORT_IN_USE is started again on a new port also when its log is past the cap (the line is in the tail file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-launch-'));
  const logFile = join(dir, 'serve.log');
  const cap = { headBytes: 2048, tailBytes: 2048 };
  // An earlier run of this container filled the main file: what it prints now goes to the tail file.
  const earlier = 'an earlier run of this container\n'.repeat(100);
  await writeFile(logFile, earlier);
  const real = new ProcessBackend(undefined, { logCap: cap });
  const squatters: Server[] = [];
  // Takes the first container's port between the probe and the child's bind, and gives it up once
  // the child has exited and said so in its log: only the log tells that the port was lost.
  const racing: ContainerBackend = {
    name: 'process',
    async start(spec) {
      if (squatters.length > 0) return real.start(spec);
      const squatted = await squatter(spec.port);
      squatters.push(squatted);
      const child = await real.start(spec);
      let told = false;
      const exitPromise = child.exitPromise.then(async () => {
        await close(squatted);
        const tail = join(dir, 'serve.tail.log');
        for (let i = 0; i < 600 && !(await readFile(tail, 'utf8').catch(() => '')).includes('ERR_PORT_IN_USE'); i++) await new Promise((r) => setTimeout(r, 50));
        told = true;
      });
      return {
        spec: child.spec,
        url: child.url,
        ...(child.instanceId ? { instanceId: child.instanceId } : {}),
        get exited() {
          return told ? child.exited : undefined;
        },
        exitPromise,
        stop: (graceMs?: number) => child.stop(graceMs),
      };
    },
  };
  const started: LaunchedContainer[] = [];
  try {
    const launched = await launchReady(
      racing,
      { id: 'iris/AllTraffic/primary', hostname: 'primary', root: join(dir, 'opt-ml'), model: IRIS, inPlace: true, env: {}, logFile },
      { timeoutMs: 60_000, onStarted: (l) => started.push(l) },
    );
    try {
      assert.equal(started.length, 2, 'started again after ERR_PORT_IN_USE');
      assert.equal(await readFile(logFile, 'utf8'), earlier, 'the main file, past the cap, was not written to');
      assert.ok((await stat(join(dir, 'serve.tail.log'))).size <= cap.tailBytes + 1024);
    } finally {
      await launched.container.stop(10_000);
    }
  } finally {
    await Promise.all(started.map((l) => l.container.stop(5_000)));
    await Promise.all(squatters.map(close));
    await rm(dir, { recursive: true, force: true });
  }
});
