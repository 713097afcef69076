import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerBackend, ContainerSpec, RunningContainer } from '../backends/backend.js';
import { parseEndpointFile } from '../../endpoint-file/schema.js';
import { resolveBackend, startLocalEndpoints } from './start.js';

/** Runs each "container" as an in-process HTTP server; `behaviour` decides by hostname. */
function fakeBackend(behaviour: (spec: ContainerSpec) => { pingStatus: number; pingBody?: string; invoke?: (body: string) => [number, string] }): ContainerBackend & { stopped: string[] } {
  const stopped: string[] = [];
  return {
    name: 'process',
    stopped,
    async start(spec: ContainerSpec): Promise<RunningContainer> {
      const b = behaviour(spec);
      writeFileSync(spec.logFile, `log of ${spec.id}\nmodel files: ${existsSync(join(spec.optMlDir, 'model', 'weights.txt'))}\n`);
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          if (req.url === '/ping') return void res.writeHead(b.pingStatus).end(b.pingBody);
          const [status, out] = b.invoke ? b.invoke(body) : [200, body];
          res.writeHead(status, { 'content-type': 'text/plain' }).end(out);
        });
      });
      await new Promise<void>((r) => server.listen(spec.port, '127.0.0.1', r));
      let exited: RunningContainer['exited'];
      let markExit!: () => void;
      const exitPromise = new Promise<void>((r) => (markExit = r));
      return {
        spec,
        url: `http://127.0.0.1:${spec.port}`,
        get exited() {
          return exited;
        },
        exitPromise,
        async stop() {
          stopped.push(spec.id);
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
          exited = { code: 0, signal: null };
          markExit();
        },
      };
    },
  };
}

async function modelDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-'));
  await mkdir(join(dir, 'm'));
  await writeFile(join(dir, 'm', 'weights.txt'), 'w');
  return dir;
}

test('starts every container with its own tree, runs the deep ping, serves, and cleans up', async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile(
      { endpoints: [{ name: 'e', variants: [{ containers: [{ model: 'm' }, { model: 'm' }] }], deepPing: { body: 'hello', contentType: 'text/plain' } }] },
      (p) => join(dir, p),
      () => Buffer.alloc(0),
    );
    const backend = fakeBackend(() => ({ pingStatus: 200, invoke: (b) => [200, `${b}!`] }));
    const lines: string[] = [];
    const handle = await startLocalEndpoints(config, { port: 0, backendImpl: backend, progress: (l) => lines.push(l) });
    try {
      assert.equal(handle.containers.length, 2);
      assert.notEqual(handle.containers[0]!.spec.optMlDir, handle.containers[1]!.spec.optMlDir);
      assert.notEqual(handle.containers[0]!.spec.port, handle.containers[1]!.spec.port);
      assert.ok(existsSync(join(handle.containers[0]!.spec.optMlDir, 'model', 'weights.txt')), 'the model directory is copied into the tree');
      assert.ok(lines.some((l) => l.includes('deep ping of e passed')), lines.join('\n'));
      const res = await fetch(`${handle.url}/endpoints/e/invocations`, { method: 'POST', body: 'x' });
      assert.equal(await res.text(), 'x!!');
    } finally {
      await handle.stop();
    }
    assert.deepEqual(backend.stopped.sort(), ['e/AllTraffic/container-1', 'e/AllTraffic/container-2']);
    assert.equal(existsSync(handle.workDir), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a container that never passes /ping fails start-up with its log tail; others are stopped', async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ name: 'A', model: 'm' }, { name: 'B', model: 'm' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    const backend = fakeBackend((spec) => ({ pingStatus: spec.id.includes('/B/') ? 503 : 200 }));
    await assert.rejects(startLocalEndpoints(config, { port: 0, backendImpl: backend, startupTimeoutMs: 600 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONTAINER_START');
      assert.match(err.message, /e\/B\/primary did not pass \/ping within 0\.6 s \(last status 503\)/);
      assert.match(err.message, /log of e\/B\/primary/);
      return true;
    });
    assert.deepEqual(backend.stopped.sort(), ['e/A/primary', 'e/B/primary']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a container whose model failed to load fails start-up at once, with its reason, while another is still loading: that wait is stopped, not waited out', { timeout: 20_000 }, async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ name: 'A', model: 'm' }, { name: 'B', model: 'm' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    // B is a model still loading (503, not smkit's Unhealthy): its wait, waited out, held A's reason
    // back for B's whole deadline (up to an hour); this test's timeout, a third of it, fails it first.
    const backend = fakeBackend((spec) => (spec.id.includes('/A/') ? { pingStatus: 503, pingBody: '{"status":"Unhealthy","message":"model.onnx is not an ONNX model"}' } : { pingStatus: 503 }));
    await assert.rejects(startLocalEndpoints(config, { port: 0, backendImpl: backend, startupTimeoutMs: 60_000 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONTAINER_START');
      assert.match(err.message, /^e\/A\/primary: model\.onnx is not an ONNX model\n--- last lines of /);
      return true;
    });
    assert.deepEqual(backend.stopped.sort(), ['e/A/primary', 'e/B/primary']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing deep ping stops start-up with ERR_DEEP_PING_FAILED', async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'm' }], deepPing: { body: [[1]] } }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    const backend = fakeBackend(() => ({ pingStatus: 200, invoke: () => [500, 'model not loaded'] }));
    await assert.rejects(startLocalEndpoints(config, { port: 0, backendImpl: backend }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DEEP_PING_FAILED');
      assert.match(err.message, /deep ping of e\/AllTraffic failed at primary: status 500: model not loaded/);
      return true;
    });
    assert.equal(backend.stopped.length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a deep ping answered with a redirect fails start-up with ERR_DEEP_PING_FAILED: only a 2xx passes', async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'm' }], deepPing: { body: [[1]] } }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    const backend = fakeBackend(() => ({ pingStatus: 200, invoke: () => [302, 'Redirecting...'] }));
    await assert.rejects(startLocalEndpoints(config, { port: 0, backendImpl: backend }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DEEP_PING_FAILED');
      assert.match(err.message, /deep ping of e\/AllTraffic failed at primary: status 302: a redirect, which is not followed and is not a 2xx answer: Redirecting\.\.\./);
      return true;
    });
    assert.equal(backend.stopped.length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C during start-up (abort signal) stops what was started', async () => {
  const dir = await modelDir();
  try {
    const config = parseEndpointFile({ endpoints: [{ name: 'e', variants: [{ model: 'm' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    const backend = fakeBackend(() => ({ pingStatus: 503 }));
    const ac = new AbortController();
    const started = startLocalEndpoints(config, { port: 0, backendImpl: backend, signal: ac.signal, progress: () => ac.abort(new Error('interrupted')) });
    await assert.rejects(started, /interrupted/);
    assert.deepEqual(backend.stopped, ['e/AllTraffic/primary']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('resolveBackend: with no image to run and no backend named, the process backend is chosen without asking docker or podman', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-resolve-backend-'));
  const saved = process.env['PATH'];
  try {
    // Engines that note each call and do not work.
    const bin = join(dir, 'bin');
    const calls = join(dir, 'engine-calls.txt');
    await mkdir(bin);
    for (const engine of ['docker', 'podman']) await writeFile(join(bin, engine), `#!/bin/sh\necho "${engine} $1" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
    const config = parseEndpointFile({ endpoints: [{ name: 'shop', variants: [{ model: '.' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
    process.env['PATH'] = bin;
    assert.equal((await resolveBackend(config, {})).name, 'process');
    assert.equal(existsSync(calls), false, 'an engine was asked');
    // With an image they are asked (and, neither working, the process backend runs it).
    assert.equal((await resolveBackend(config, { image: 'my-image:1' })).name, 'process');
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['docker info', 'podman info']);
  } finally {
    process.env['PATH'] = saved;
    await rm(dir, { recursive: true, force: true });
  }
});
