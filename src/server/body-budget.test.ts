/**
 * The body memory budget (`SMKIT_BODY_MEMORY_MB`) over real HTTP: bodies arriving, waiting for the
 * model and being answered hold it together; one that does not fit gets 503 `ERR_SERVER_BUSY` with
 * `Retry-After`, and every way a request ends (answered, refused, failed, abandoned, stalled) gives
 * its bytes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type Server } from 'node:http';
import net from 'node:net';
import { BodyBudget } from './body-budget.js';
import { createApp } from './app.js';
import { createMetrics } from './metrics.js';
import { HTTP_SERVER_OPTIONS, answerClientError } from './respond.js';
import type { InferenceBackend } from './inference-backend.js';
import type { InvocationRequest } from '../handlers/engine.js';
import { ToolkitError } from '../errors/catalogue.js';
import { createLogger } from '../logging/logger.js';
import { until } from '../../test/helpers/until.js';

const KB = 1024;
const LIMIT = 64 * KB;
const BUDGET = 100 * KB;

test('a budget takes what fits, refuses what does not without taking it, and gets back what is given', () => {
  const budget = new BodyBudget(10);
  assert.equal(budget.take(6), true);
  assert.equal(budget.fits(4), true);
  assert.equal(budget.fits(5), false);
  assert.equal(budget.take(5), false);
  assert.equal(budget.held, 6, 'a refused take takes nothing');
  budget.give(6);
  assert.equal(budget.take(10), true);
  assert.match(budget.refusal().message, /10 bytes|0 MB/);
  assert.equal(budget.refusal().status, 503);
  assert.equal(budget.refusal().code, 'ERR_SERVER_BUSY');
});

/** What a raw socket read back. */
interface RawAnswer {
  status: number;
  headers: string;
  body: { code?: string; message?: string };
}

function parseAnswer(text: string): RawAnswer {
  const split = text.indexOf('\r\n\r\n');
  let body = {};
  try {
    body = JSON.parse(text.slice(split + 4)) as RawAnswer['body'];
  } catch {
    /* an incomplete answer: the status check fails with the text */
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), headers: text.slice(0, split).toLowerCase(), body };
}

describe('the body memory budget of one worker', () => {
  let server: Server;
  let base: string;
  let port: number;
  /** Releases the invocations held at the model (custom attribute `hold`). */
  const held: Array<() => void> = [];

  before(async () => {
    // Answers with the body's length (or the form's part sizes); `hold` waits at the model until
    // released, `fail` fails as user code does.
    const backend: InferenceBackend = {
      state: () => 'ready',
      failure: () => undefined,
      whenSettled: async () => undefined,
      close: async () => undefined,
      describe: () => ({ hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 }),
      invoke: async (r: InvocationRequest) => {
        if (r.headers.customAttributes === 'hold') await new Promise<void>((resolve) => held.push(resolve));
        if (r.headers.customAttributes === 'fail') throw new ToolkitError('ERR_USER_CODE', 'predictFn failed');
        const answer = r.parts ? r.parts.map((p) => p.data.length) : r.body.length;
        return { body: Buffer.from(JSON.stringify(answer)), contentType: 'application/json' };
      },
    } as unknown as InferenceBackend;
    const settings = { maxPayloadMb: LIMIT / (KB * KB), timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' as const, bodyTimeoutSeconds: 1, bodyMemoryMb: BUDGET / (KB * KB) };
    server = http.createServer(HTTP_SERVER_OPTIONS, createApp({ settings, backend, log: createLogger('silent'), metrics: createMetrics() }));
    server.on('clientError', answerClientError);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    for (const release of held.splice(0)) release();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** `smkit_request_body_bytes` as `/metrics` reports it. */
  const bodyBytes = async (): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = /^smkit_request_body_bytes (\d+)$/m.exec(text);
    assert.ok(line, 'smkit_request_body_bytes is in /metrics');
    return Number(line[1]);
  };
  const bodyBytesReach = (bytes: number) => until(`smkit_request_body_bytes = ${bytes}`, async () => (await bodyBytes()) === bytes, { timeoutMs: 15_000, intervalMs: 20 });
  const post = (body: string | Uint8Array, headers: Record<string, string> = {}) => fetch(`${base}/invocations`, { method: 'POST', headers: { 'content-type': 'text/csv', ...headers }, body });

  /**
   * Sends `head` and then, unless `chunks` is 0 (a body declared by its headers and never sent), a
   * chunked body of `chunks` chunks of `chunkBytes`, one per turn, until the server answers or the
   * chunks run out (then the body ends); returns the answer.
   */
  const chunked = async (head: string, chunkBytes: number, chunks: number): Promise<RawAnswer> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let text = '';
    let answered = false;
    const done = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text.includes('\r\n\r\n')) answered = true;
        if (answered && parseAnswer(text).body.code !== undefined) resolve();
      });
      socket.on('close', () => resolve());
    });
    socket.write(chunks === 0 ? `${head}\r\n` : `${head}Transfer-Encoding: chunked\r\n\r\n`);
    for (let i = 0; i < chunks && !answered; i++) {
      await new Promise<void>((resolve) => socket.write(`${chunkBytes.toString(16)}\r\n${'1'.repeat(chunkBytes)}\r\n`, () => resolve()));
      await new Promise((r) => setTimeout(r, 5));
    }
    if (chunks > 0 && !answered) socket.write('0\r\n\r\n');
    await done;
    socket.destroy();
    return parseAnswer(text);
  };

  test('bodies waiting for the model hold the budget; one that cannot fit is refused before it is read, and fits once they are answered', async () => {
    const first = post('1'.repeat(60 * KB), { 'x-amzn-sagemaker-custom-attributes': 'hold' });
    await bodyBytesReach(60 * KB);

    // Only the headers are sent: the answer comes before any of the body.
    const refused = await chunked(`POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${60 * KB}\r\n`, 0, 0);
    assert.equal(refused.status, 503);
    assert.match(refused.headers, /\r\nretry-after: 1\r\n/);
    assert.equal(refused.body.code, 'ERR_SERVER_BUSY');
    assert.match(refused.body.message ?? '', /0\.06 MB of the 0\.1 MB SMKIT_BODY_MEMORY_MB allows/);
    assert.equal(await bodyBytes(), 60 * KB, 'the refused body took nothing');

    const small = await post('3'.repeat(30 * KB));
    assert.equal(small.status, 200, 'a body that fits beside the held one is served');
    assert.equal(await small.json(), 30 * KB);

    held.shift()!();
    assert.equal((await first).status, 200);
    await bodyBytesReach(0);
    const retried = await post('2'.repeat(60 * KB));
    assert.equal(retried.status, 200, 'the retry fits once the held body is answered');
    assert.equal(await retried.json(), 60 * KB);
  });

  test('a chunked body is refused at the chunk that does not fit, and a chunked form takes the most a form may hold', async () => {
    const first = post('1'.repeat(60 * KB), { 'x-amzn-sagemaker-custom-attributes': 'hold' });
    await bodyBytesReach(60 * KB);

    const head = `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n`;
    const streamed = await chunked(head, 10 * KB, 6);
    assert.equal(streamed.status, 503, 'the fifth 10 KB chunk does not fit beside 60 KB in 100 KB');
    assert.equal(streamed.body.code, 'ERR_SERVER_BUSY');
    assert.match(streamed.headers, /\r\nretry-after: 1\r\n/);
    assert.equal(await bodyBytes(), 60 * KB, 'the chunks it had taken are given back');

    const form = await chunked(`POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n`, 1 * KB, 1);
    assert.equal(form.status, 503, 'a form of unknown length takes the payload limit (64 KB) at once');
    assert.equal(form.body.code, 'ERR_SERVER_BUSY');

    held.shift()!();
    assert.equal((await first).status, 200);
    await bodyBytesReach(0);

    const parts = new FormData();
    parts.append('a', new Blob([new Uint8Array(20 * KB)]), 'a.bin');
    const served = await fetch(`${base}/invocations`, { method: 'POST', body: parts });
    assert.equal(served.status, 200, 'a form that fits is served');
    assert.deepEqual(await served.json(), [20 * KB]);
    await bodyBytesReach(0);
  });

  test('every way a request ends gives its bytes back: too large, failed, abandoned, stalled', async () => {
    const tooLarge = await chunked(`POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n`, 16 * KB, 8);
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.code, 'ERR_PAYLOAD_TOO_LARGE');

    const failed = await post('1'.repeat(40 * KB), { 'x-amzn-sagemaker-custom-attributes': 'fail' });
    assert.equal(failed.status, 500);
    assert.equal(((await failed.json()) as { code: string }).code, 'ERR_USER_CODE');

    const gzipped = await post(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), { 'content-encoding': 'gzip' });
    assert.equal(gzipped.status, 400, 'a broken gzip body');
    await gzipped.arrayBuffer();

    const badForm = await post('not a form', { 'content-type': 'multipart/form-data; boundary=b' });
    assert.equal(badForm.status, 400, 'a malformed form');
    await badForm.arrayBuffer();
    await bodyBytesReach(0);

    // A client that leaves mid-body, and one that stalls past SMKIT_BODY_TIMEOUT_SECONDS.
    for (const leave of [true, false]) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('close', () => resolve(text));
      });
      socket.write(`POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${50 * KB}\r\n\r\n${'1'.repeat(30 * KB)}`);
      await bodyBytesReach(30 * KB);
      if (leave) socket.destroy();
      else assert.equal(parseAnswer(await closed).status, 408);
      await bodyBytesReach(0);
    }

    // The whole budget is free again: a body of the largest size and one beside it are both served.
    const [a, b] = await Promise.all([post('1'.repeat(LIMIT)), post('2'.repeat(30 * KB))]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.deepEqual([await a.json(), await b.json()], [LIMIT, 30 * KB]);
    await bodyBytesReach(0);
  });
});
