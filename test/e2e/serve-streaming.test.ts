/**
 * Streamed answers under faults, through a real `smkit serve`: a client that stops reading, one that
 * disconnects, and SIGTERM while a stream is in flight.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';
import { until, whenSteady } from '../helpers/until.js';

const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/handlers/streaming');
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serveStreaming(env: Record<string, string>): Promise<ServeProcess> {
  const base = makeOptMl();
  cpSync(FIXTURE, path.join(base, 'model'), { recursive: true });
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env });
  cleanups.push(() => server.stop(), () => removeDir(base));
  await waitForPing(server);
  return server;
}

/** The highest `produced` count the endless generator has logged. */
function produced(server: ServeProcess): number {
  let max = 0;
  for (const m of server.output().matchAll(/"produced":(\d+)[^\n]*endless stream produced a chunk/g)) max = Math.max(max, Number(m[1]));
  return max;
}

/** GET /ping on a new connection (a kept-alive one may be closed by the draining server as it is reused). */
function pingOnNewConnection(server: ServeProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}/ping`, { agent: false, timeout: 15_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('/ping timed out')));
    req.on('error', reject);
  });
}

/** GET /ping through `agent`; the status and whether the request went on a kept-alive connection. */
function pingThrough(server: ServeProcess, agent: http.Agent): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}/ping`, { agent, timeout: 15_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('/ping timed out')));
    req.on('error', reject);
  });
}

async function residentBytes(server: ServeProcess): Promise<number> {
  // The first scrape loads the metrics code; the next test's server may be starting beside this one.
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  return Number(/^smkit_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

describe('streamed answers under faults', () => {
  // A server per inference mode: the SIGTERM test, last, ends the thread one (a start-up less; its
  // grace is only felt at shutdown, and a model with user code runs in the thread by default). The
  // next test's server starts while one runs (its waits are mostly idle), one ahead only: start-ups
  // are CPU-bound.
  const settings: Record<string, string>[] = [{ SMKIT_INFERENCE_MODE: 'thread', SMKIT_SHUTDOWN_GRACE_SECONDS: '25' }, { SMKIT_INFERENCE_MODE: 'inline' }];
  const starting: (Promise<ServeProcess> | undefined)[] = [];
  const start = (index: number) => {
    if (index >= settings.length || starting[index]) return;
    const server = serveStreaming(settings[index]!);
    // Awaited by its own test, which reports a failed start.
    server.catch(() => undefined);
    starting[index] = server;
  };
  /** The server of the `index`-th test, once it answers /ping 200; the next one starts meanwhile. */
  const serverFor = (index: number) => {
    start(index);
    start(index + 1);
    return starting[index]!;
  };
  after(() => Promise.allSettled(starting));

  for (const [index, mode] of (['thread', 'inline'] as const).entries()) {
    test(`a client that stops reading stops the producer; one that disconnects ends it (${mode})`, async () => {
      const server = await serverFor(index);
      const rssBefore = await residentBytes(server);
      const req = http.request(`${server.url}/invocations`, { method: 'POST', headers: { 'Content-Type': 'text/plain' } });
      req.end('endless:256');
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      assert.equal(res.statusCode, 200);
      await once(res, 'data');
      res.pause();
      // 256 KB chunks: socket buffers and the producer's window hold some; an unbounded producer
      // makes thousands within seconds.
      // Steady means no new line for 1.5 s: the producer's first line must be there before that counts.
      await until('the producer to start', () => produced(server) > 0, { timeoutMs: 30_000 });
      const count = await whenSteady(() => produced(server), 1500, 20_000);
      assert.ok(count > 0 && count < 120, `the producer made ${count} chunks while the client was not reading`);
      const ping = await fetch(`${server.url}/ping`, { signal: AbortSignal.timeout(15_000) });
      assert.equal(ping.status, 200);
      const grown = (await residentBytes(server)) - rssBefore;
      assert.ok(grown < 256 * 1024 * 1024, `memory grew by ${Math.round(grown / 1024 / 1024)} MB`);
      // Disconnect: the generator's finally block runs (its iterator was returned).
      res.destroy();
      req.destroy();
      await until('the producer to be stopped when the client left', () => /endless stream generator closed/.test(server.output()), { timeoutMs: 20_000 });
      // Waited for too: in thread mode the generator's line is the inference thread's, this one the
      // HTTP side's, written on another thread with no order between them.
      await until('the server to log that the client left', () => /the client left during a streamed answer/.test(server.output()), { timeoutMs: 10_000 });
      const after = produced(server);
      assert.equal(await whenSteady(() => produced(server), 1000, 10_000), after, 'nothing more is produced after the disconnect');
      const again = await fetch(`${server.url}/invocations`, { method: 'POST', body: '2', headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(10_000) });
      assert.equal(await again.text(), 'token-0\ntoken-1\n', 'the server keeps serving');
    });
  }

  test('SIGTERM lets an in-flight streamed answer finish; /ping answers 503 (not a refused connection, nor a reset on a kept-alive one) meanwhile; exit 0', async () => {
    const server = await serverFor(0);
    const keptAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => keptAlive.destroy());
    assert.equal((await pingThrough(server, keptAlive)).status, 200);
    const res = await fetch(`${server.url}/invocations`, { method: 'POST', body: 'slow:60', headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    server.child.kill('SIGTERM');
    await until('a /ping during the drain to be answered 503', async () => (await pingOnNewConnection(server)) === 503, { timeoutMs: 20_000 });
    // The connection a load balancer kept alive from before the SIGTERM: its next request is answered
    // 503 on that same connection (the drain does not close it under the request).
    assert.deepEqual(await pingThrough(server, keptAlive), { status: 503, reused: true });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    assert.equal(text.split('\n').filter(Boolean).length, 60, `the whole stream arrived: ${text}`);
    assert.ok(text.endsWith('slow-59\n'));
    const exit = await server.exited;
    assert.equal(exit.code, 0);
  });
});
