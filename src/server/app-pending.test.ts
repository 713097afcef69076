/**
 * `smkit_pending_invocations` over real HTTP: the invocations a worker holds, as its `/metrics`
 * shows them, go up as requests arrive and back down however each one ends (answered, failed,
 * body too large, client gone). The backend is a gate the test opens, so which invocations are
 * held is exact; the app and the metrics are the real ones. `smkit_invocations_total` beside it:
 * every invocation answered is counted, those refused before reaching the backend included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type Server } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, type AppSettings } from './app.js';
import { createMetrics } from './metrics.js';
import { answerClientError } from './respond.js';
import type { InferenceBackend } from './inference-backend.js';
import type { InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import { until } from '../../test/helpers/until.js';
import { postAndLeave } from '../../test/helpers/raw-http.js';

/** Holds every invocation until the test releases it (or its client leaves); a `fail` body fails at once. */
class GateBackend implements InferenceBackend {
  readonly held: Array<{ release: () => void }> = [];
  state() {
    return 'ready' as const;
  }
  failure() {
    return undefined;
  }
  describe() {
    return { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 };
  }
  whenSettled() {
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
  invoke(request: InvocationRequest): Promise<InvocationResponse> {
    const text = request.body.toString();
    if (text === 'fail') return Promise.reject(new ToolkitError('ERR_CSV_PARSE', 'not a number'));
    if (text === 'stream-fail') {
      // A streamed answer whose producer fails after its first chunk (the 200 is out by then).
      const stream = (async function* () {
        yield Buffer.from('partial\n');
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error('generation failed');
      })();
      return Promise.resolve({ body: Buffer.alloc(0), contentType: 'text/plain', stream });
    }
    if (text === 'stream-endless') {
      // A streamed answer that goes on until its client leaves.
      const stream = (async function* () {
        for (;;) {
          yield Buffer.from('token\n');
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      return Promise.resolve({ body: Buffer.alloc(0), contentType: 'text/plain', stream });
    }
    const answer = { body: Buffer.from(JSON.stringify({ got: text })), contentType: 'application/json' };
    return new Promise((resolve, reject) => {
      const end = (settle: () => void) => {
        clearInterval(poll);
        this.held.splice(this.held.indexOf(entry), 1);
        settle();
      };
      // A client that leaves ends its invocation, as the real backends do for a waiting request.
      const poll = setInterval(() => {
        if (request.cancellation?.cancelled) end(() => reject(request.cancellation!.reason));
      }, 5);
      const entry = { release: () => end(() => resolve(answer)) };
      this.held.push(entry);
    });
  }
  releaseAll(): void {
    for (const entry of [...this.held]) entry.release();
  }
}

describe('smkit_pending_invocations (in-process app, real HTTP)', () => {
  const backend = new GateBackend();
  const metrics = createMetrics();
  let server: Server;
  let base: string;

  before(async () => {
    const settings: AppSettings = { maxPayloadMb: 0.001, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' };
    server = http.createServer(createApp({ settings, backend, log: createLogger('silent'), metrics }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    backend.releaseAll();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (body: string) =>
    fetch(`${base}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/csv' }, signal: AbortSignal.timeout(20_000) });
  /** The gauge as `GET /metrics` writes it. */
  const pending = async (): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
    const m = /^smkit_pending_invocations (\d+)$/m.exec(text);
    assert.ok(m, 'no smkit_pending_invocations sample');
    return Number(m[1]);
  };

  test('held invocations are counted, and answered ones no longer', async () => {
    assert.equal(await pending(), 0);
    const held = [post('held-0'), post('held-1'), post('held-2')];
    await until('the held invocations to reach the backend', () => backend.held.length === 3, { timeoutMs: 10_000, intervalMs: 5 });
    assert.equal(await pending(), 3);
    backend.releaseAll();
    for (const [i, answer] of (await Promise.all(held)).entries()) {
      assert.equal(answer.status, 200);
      assert.deepEqual(await answer.json(), { got: `held-${i}` });
    }
    assert.equal(await pending(), 0);
  });

  /** `smkit_invocations_total{model="model",status}` as `GET /metrics` writes it (0 before the first). */
  const answered = async (status: number): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
    return Number(new RegExp(`^smkit_invocations_total\\{model="model",status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  test('smkit_invocations_total counts the invocations answered before a model run (a body too large, a coding not taken) as it counts the others', async () => {
    // Before, only invocations that reached the model were counted: a flood of 413s, or of 503s for
    // want of body memory, showed in the throttled logs only, whose line says this metric counts them.
    const [before413, before415] = [await answered(413), await answered(415)];
    assert.equal((await post('9'.repeat(2000))).status, 413);
    const coded = await fetch(`${base}/invocations`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'zstd-x' }, signal: AbortSignal.timeout(20_000) });
    assert.equal(coded.status, 415);
    assert.equal(await answered(413), before413 + 1);
    assert.equal(await answered(415), before415 + 1);
  });

  test('a POST to the multi-model route of this single-model server is a wrong route (404), not an invocation of its model', async () => {
    const before404 = await answered(404);
    const res = await fetch(`${base}/models/m/invoke`, { method: 'POST', body: '1', headers: { 'Content-Type': 'text/csv' }, signal: AbortSignal.timeout(20_000) });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED');
    assert.equal(await answered(404), before404);
  });

  test('invocations that fail, whose body is too large, or whose client left are no longer counted', async () => {
    assert.equal((await post('fail')).status, 400);
    assert.equal((await post('9'.repeat(2000))).status, 413);
    assert.equal(await pending(), 0);
    // The client leaves only once the gauge was read while it waited (a fixed stay raced the read on a loaded machine).
    let leave!: () => void;
    const gone = postAndLeave(base, 'held-gone', new Promise<void>((resolve) => (leave = resolve)));
    await until('the abandoned invocation to reach the backend', () => backend.held.length === 1, { timeoutMs: 10_000, intervalMs: 5 });
    assert.equal(await pending(), 1);
    leave();
    await gone;
    await until('the abandoned invocation to end', () => backend.held.length === 0, { timeoutMs: 10_000, intervalMs: 5 });
    await until('the gauge to fall back to 0', async () => (await pending()) === 0, { timeoutMs: 10_000, intervalMs: 5 });
  });
});

describe('smkit_invocations_total of invocations that did not end as begun: a stream failing part way, a client leaving mid-body (in-process app, real HTTP)', () => {
  const backend = new GateBackend();
  const metrics = createMetrics();
  let server: Server;
  let port: number;

  before(async () => {
    const settings: AppSettings = { maxPayloadMb: 1, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' };
    server = http.createServer(createApp({ settings, backend, log: createLogger('silent'), metrics }));
    // As smkit serve's worker: what the HTTP parser refuses, a body cut short included, is answered so.
    server.on('clientError', answerClientError);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    backend.releaseAll();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** `smkit_invocations_total{model="model",status}` (0 before the first). */
  const answered = async (status: number): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
    return Number(new RegExp(`^smkit_invocations_total\\{model="model",status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  /**
   * Sends `head` and the first bytes of a body, waits until the server holds the request, then
   * ends the connection with `end` and waits until the request is let go; resolves with what the
   * client read.
   */
  const leaveMidBody = async (head: string, part: string, end: (socket: net.Socket) => void): Promise<string> => {
    const socket = net.connect(port, '127.0.0.1');
    let read = '';
    socket.on('data', (d: Buffer) => (read += d.toString()));
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(head + part);
    await until('the server to hold the request', async () => (await pendingOf(port)) === 1, { timeoutMs: 10_000, intervalMs: 5 });
    const closed = once(socket, 'close');
    end(socket);
    await until('the request to be let go', async () => (await pendingOf(port)) === 0, { timeoutMs: 10_000, intervalMs: 5 });
    socket.destroy();
    await closed;
    return read;
  };
  test('a streamed answer that fails after its first chunk is counted with the failure\'s status (500), not as the 200 its headers said', async () => {
    const [before200, before500] = [await answered(200), await answered(500)];
    const res = await fetch(`http://127.0.0.1:${port}/invocations`, { method: 'POST', body: 'stream-fail', headers: { 'Content-Type': 'text/plain' }, signal: AbortSignal.timeout(20_000) });
    assert.equal(res.status, 200);
    // The connection is broken, not ended: the client sees a truncated stream.
    await assert.rejects(res.text());
    await until('the invocation to be counted', async () => (await answered(500)) === before500 + 1, { timeoutMs: 10_000, intervalMs: 5 });
    assert.equal(await answered(200), before200);
  });

  test('a streamed answer whose client leaves after its first chunk is counted as 499 (client closed), not as the 200 its headers said', async () => {
    const [before200, before499] = [await answered(200), await answered(499)];
    const leave = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/invocations`, { method: 'POST', body: 'stream-endless', headers: { 'Content-Type': 'text/plain' }, signal: leave.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    assert.ok((await reader.read()).value, 'no first chunk');
    leave.abort();
    await until('the invocation to be counted', async () => (await answered(499)) === before499 + 1, { timeoutMs: 10_000, intervalMs: 5 });
    assert.equal(await answered(200), before200);
    assert.equal(await pendingOf(port), 0);
  });

  for (const kind of ['raw', 'multipart/form-data'] as const) {
    const boundary = 'b0und';
    const contentType = kind === 'raw' ? 'text/csv' : `multipart/form-data; boundary=${boundary}`;
    const part = kind === 'raw' ? '1,2,3\n' : `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\nContent-Type: text/csv\r\n\r\n1,2,3\n`;
    const head = `POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: 5000\r\n\r\n`;

    test(`a ${kind} body whose connection is reset part way is counted as 499 (client closed), not as a 400 no one received`, async () => {
      const [before400, before499] = [await answered(400), await answered(499)];
      assert.equal(await leaveMidBody(head, part, (socket) => socket.resetAndDestroy()), '');
      await until('the invocation to be counted', async () => (await answered(499)) === before499 + 1, { timeoutMs: 10_000, intervalMs: 5 });
      assert.equal(await answered(400), before400);
    });

    test(`a ${kind} body cut short by the client's half-close gets the 400 that says so, and is counted as that 400, not as 499`, async () => {
      const [before400, before499] = [await answered(400), await answered(499)];
      const read = await leaveMidBody(head, part, (socket) => socket.end());
      assert.match(read, /^HTTP\/1\.1 400 /);
      assert.match(read, /HPE_INVALID_EOF_STATE/);
      await until('the invocation to be counted', async () => (await answered(400)) === before400 + 1, { timeoutMs: 10_000, intervalMs: 5 });
      assert.equal(await answered(499), before499);
    });

    test(`a ${kind} body whose chunked framing breaks part way gets a 400 and is counted as that 400, not as a client that left`, async () => {
      const [before400, before499] = [await answered(400), await answered(499)];
      const chunked = `POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`;
      const socket = net.connect(port, '127.0.0.1');
      let read = '';
      socket.on('data', (d: Buffer) => (read += d.toString()));
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write(chunked);
      await until('the server to hold the request', async () => (await pendingOf(port)) === 1, { timeoutMs: 10_000, intervalMs: 5 });
      const closed = once(socket, 'close');
      socket.write('zz\r\n');
      await closed;
      assert.match(read, /^HTTP\/1\.1 400 [^]*HPE_INVALID_CHUNK_SIZE/);
      await until('the invocation to be counted', async () => (await answered(400)) === before400 + 1, { timeoutMs: 10_000, intervalMs: 5 });
      assert.equal(await answered(499), before499);
      await until('the request to be let go', async () => (await pendingOf(port)) === 0, { timeoutMs: 10_000, intervalMs: 5 });
    });
  }
});

/** `smkit_pending_invocations` of the app on `port`. */
async function pendingOf(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(20_000) })).text();
  return Number(/^smkit_pending_invocations (\d+)$/m.exec(text)?.[1]);
}
