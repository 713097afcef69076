/**
 * Dynamic batching changes no answer: for random sets of concurrent requests (row counts from 0,
 * inputs named in any order, FP32 and FP64, widths that cannot join, string tensors, bad requests,
 * a value the model's int64 input cannot take, which fails its batch),
 * a server with batching on answers each request byte for byte as one with batching off does, over
 * real HTTP. The requests of a set reach the server in one turn of its event loop (sent at once on
 * connections it already serves), so they are batched together whenever they can be.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createApp } from '../../src/server/app.js';
import { InProcessBackend } from '../../src/server/in-process-backend.js';
import { createLogger } from '../../src/logging/logger.js';
import type { BatchingOptions } from '../../src/batching/batching-options.js';
import { identityModelDir } from '../helpers/identity-model.js';
import { IN_PROCESS_SETTINGS } from '../helpers/in-process-app.js';

const log = createLogger('silent');
/** Most requests of one set: each gets its own connection. */
const MAX_REQUESTS = 8;

interface Served {
  readonly url: URL;
  readonly agent: http.Agent;
  close(): Promise<void>;
}

async function serve(modelDir: string, batching: BatchingOptions | undefined, runs: number[]): Promise<Served> {
  const backend = new InProcessBackend(
    {
      modelDir,
      codeDir: path.join(modelDir, 'code'),
      program: 'inference',
      defaultAccept: 'application/json',
      runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 },
      log,
      ...(batching ? { batching, observeBatch: (_step: string, run: { size: number }) => runs.push(run.size) } : {}),
    },
    log,
  );
  await backend.loaded;
  assert.equal(backend.state(), 'ready', String(backend.failure()?.message));
  const server = http.createServer(createApp({ settings: { ...IN_PROCESS_SETTINGS, maxConcurrentTransforms: MAX_REQUESTS }, backend, log }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_REQUESTS });
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/invocations`),
    agent,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await backend.close();
    },
  };
}

interface Sent {
  readonly contentType: string;
  readonly accept: string;
  readonly body: string;
}

/** What a client sees of an answer: its status, type, custom attributes and body bytes (an error's requestId aside, each server numbering its own). */
function post(served: Served, req: Sent): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = http.request(served.url, { method: 'POST', agent: served.agent, headers: { 'Content-Type': req.contentType, Accept: req.accept, 'Content-Length': Buffer.byteLength(req.body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(`${res.statusCode} ${res.headers['content-type']} ${res.headers['x-amzn-sagemaker-custom-attributes'] ?? ''}\n${Buffer.concat(chunks).toString('latin1').replace(/"requestId":"[^"]*"/, '"requestId":"-"')}`));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/** One request to the identity model of `a` (float32, 2-D), `n` (int64, 1-D) and `s` (strings, 1-D). */
const request = fc
  .record({
    rows: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    width: fc.constantFrom(2, 2, 2, 3),
    // Finite float32 values, the largest included (JSON has no NaN or Infinity).
    values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 9, maxLength: 9 }),
    strings: fc.array(fc.string({ maxLength: 4 }), { minLength: 3, maxLength: 3 }),
    // 0.5 is no int64: a batch holding it fails and its requests are retried one by one.
    ints: fc.array(fc.oneof({ weight: 19, arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) }, { weight: 1, arbitrary: fc.constant(0.5) }), { minLength: 3, maxLength: 3 }),
    form: fc.constantFrom('v2-FP32', 'v2-FP64', 'tfs', 'tfs-columns', 'csv'),
    stringsFirst: fc.boolean(),
    accept: fc.constantFrom('application/json', 'application/json', '*/*', 'text/csv', 'application/x-npz', 'application/jsonlines'),
  })
  .map(({ rows, width, values, strings, ints, form, stringsFirst, accept }): Sent => {
    const a = Array.from({ length: rows }, (_, r) => values.slice(r * width, r * width + width).map((v) => (Object.is(v, -0) ? 0 : v)));
    const s = strings.slice(0, rows);
    const n = ints.slice(0, rows);
    if (form === 'csv') return { contentType: 'text/csv', accept, body: a.map((row) => row.join(',')).join('\n') + '\n' };
    if (form === 'tfs') {
      const inputs = stringsFirst ? { s, n, a } : { a, n, s };
      return { contentType: 'application/json', accept, body: JSON.stringify({ inputs }) };
    }
    if (form === 'tfs-columns') {
      return { contentType: 'application/json', accept, body: JSON.stringify({ instances: a.map((row, i) => (stringsFirst ? { s: s[i], n: n[i], a: row } : { a: row, n: n[i], s: s[i] })) }) };
    }
    const tensors = [
      { name: 'a', shape: [rows, width], datatype: form === 'v2-FP64' ? 'FP64' : 'FP32', data: a.flat() },
      { name: 's', shape: [rows], datatype: 'BYTES', data: s },
      { name: 'n', shape: [rows], datatype: 'FP64', data: n },
    ];
    return { contentType: 'application/json', accept, body: JSON.stringify({ inputs: stringsFirst ? tensors.reverse() : tensors }) };
  });

let modelDir: string;
let batched: Served;
let single: Served;
const runs: number[] = [];

describe('batching equivalence', () => {
  before(async () => {
    modelDir = identityModelDir([
      { name: 'a', dtype: 'float32', rank: 2 },
      { name: 's', dtype: 'string', rank: 1 },
      { name: 'n', dtype: 'int64', rank: 1 },
    ]);
    batched = await serve(modelDir, { maxSize: 4, maxDelayMs: 0 }, runs);
    single = await serve(modelDir, undefined, []);
  });

  after(async () => {
    await batched?.close();
    await single?.close();
    rmSync(modelDir, { recursive: true, force: true });
  });

  test('concurrent requests answered with batching on equal, byte for byte, their answers with batching off', async () => {
    // Every connection open and served once: the sets below are then written in one turn of the loop.
    const warm: Sent = { contentType: 'application/json', accept: 'application/json', body: JSON.stringify({ inputs: { a: [[1, 2]], s: ['x'], n: [1] } }) };
    for (const served of [batched, single]) await Promise.all(Array.from({ length: MAX_REQUESTS }, () => post(served, warm)));
    runs.length = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 2, maxLength: MAX_REQUESTS }), async (set) => {
        const want = await Promise.all(set.map((r) => post(single, r)));
        const got = await Promise.all(set.map((r) => post(batched, r)));
        got.forEach((g, i) => assert.equal(g, want[i], `request ${i} of ${set.length}: ${set[i]!.body}`));
      }),
      { numRuns: 30 },
    );
    assert.ok(runs.some((size) => size > 1), `no requests were ever batched together: ${JSON.stringify(runs)}`);
  });
});
