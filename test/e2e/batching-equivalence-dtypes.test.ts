/**
 * Dynamic batching changes no answer, for every dtype and for user code that reads a tensor's
 * whole buffer: for random sets of concurrent requests to an identity model of ten dtypes
 * (FP16, BOOL, every integer width, UINT64, FP64), answered as v2 JSON, NPZ or Triton binary, a
 * server with batching on answers each request byte for byte as one with batching off does, over
 * real HTTP (see batching-equivalence.test.ts for how a set is batched).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createApp } from '../../src/server/app.js';
import { InProcessBackend } from '../../src/server/in-process-backend.js';
import { createLogger } from '../../src/logging/logger.js';
import type { BatchingOptions } from '../../src/batching/batching-options.js';
import { identityModelDir } from '../helpers/identity-model.js';
import { IN_PROCESS_SETTINGS } from '../helpers/in-process-app.js';

const log = createLogger('silent');
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
  readonly body: string | Buffer;
}

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

const TYPES = [
  ['h', 'float16', 'FP16'],
  ['b', 'bool', 'BOOL'],
  ['u8', 'uint8', 'UINT8'],
  ['i8', 'int8', 'INT8'],
  ['i16', 'int16', 'INT16'],
  ['u16', 'uint16', 'UINT16'],
  ['i32', 'int32', 'INT32'],
  ['u32', 'uint32', 'UINT32'],
  ['u64', 'uint64', 'UINT64'],
  ['d', 'float64', 'FP64'],
] as const;

const value = (dt: string): fc.Arbitrary<number | boolean> =>
  dt === 'BOOL' ? fc.boolean() : dt === 'FP16' ? fc.constantFrom(0, 1.5, -2, 65504, 0.1) : dt === 'FP64' ? fc.double({ noNaN: true, noDefaultInfinity: true }) : dt.startsWith('U') ? fc.integer({ min: 0, max: 200 }) : fc.integer({ min: -100, max: 100 });

const request = fc
  .record({
    rows: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    width: fc.constantFrom(2, 2, 2, 3),
    vals: fc.tuple(...TYPES.map(([, , dt]) => fc.array(value(dt), { minLength: 9, maxLength: 9 }))),
    accept: fc.constantFrom('application/json', 'application/x-npz', 'application/vnd.sagemaker-triton.binary+json;json-header-size=0'),
    binaryOut: fc.boolean(),
  })
  .map(({ rows, width, vals, accept }): Sent => {
    const inputs = TYPES.map(([name, , dt], k) => ({ name, shape: [rows, width], datatype: dt, data: vals[k]!.slice(0, rows * width) }));
    const bin = accept.startsWith('application/vnd');
    return { contentType: 'application/json', accept: bin ? 'application/json' : accept, body: JSON.stringify(bin ? { inputs, parameters: { binary_data_output: true } } : { inputs }) };
  });

let modelDir: string;
let batched: Served;
let single: Served;
const runs: number[] = [];

describe('batching equivalence, every dtype', () => {
  before(async () => {
    modelDir = identityModelDir(TYPES.map(([name, dtype]) => ({ name, dtype, rank: 2 })));
    batched = await serve(modelDir, { maxSize: 4, maxDelayMs: 0 }, runs);
    single = await serve(modelDir, undefined, []);
  });

  after(async () => {
    await batched?.close();
    await single?.close();
    rmSync(modelDir, { recursive: true, force: true });
  });

  test('concurrent requests of every dtype answered with batching on equal, byte for byte, their answers with batching off', async () => {
    const warm = fc.sample(request, 1)[0]!;
    for (const served of [batched, single]) await Promise.all(Array.from({ length: MAX_REQUESTS }, () => post(served, warm)));
    runs.length = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 2, maxLength: MAX_REQUESTS }), async (set) => {
        const want = await Promise.all(set.map((r) => post(single, r)));
        const got = await Promise.all(set.map((r) => post(batched, r)));
        got.forEach((g, i) => assert.equal(g, want[i], `request ${i} of ${set.length}: ${String(set[i]!.body)}`));
      }),
      { numRuns: 30 },
    );
    assert.ok(runs.some((size) => size > 1), `no requests were ever batched together: ${JSON.stringify(runs)}`);
  });
});

describe('batching equivalence, user code that reads a tensor\'s buffer', () => {
  let dir: string;
  let withBatching: Served;
  let without: Served;
  const sizes: number[] = [];

  before(async () => {
    dir = identityModelDir([{ name: 'x', dtype: 'float32', rank: 2 }]);
    // Node's usual way to a typed array's bytes: Buffer.from(data.buffer). A model's answer alone
    // owns its whole buffer, so this is the request's own output.
    writeFileSync(path.join(dir, 'code', 'inference.mjs'), 'export function outputFn(prediction) { return Buffer.from(prediction.tensors.x_out.data.buffer); }\n');
    withBatching = await serve(dir, { maxSize: 8, maxDelayMs: 0 }, sizes);
    without = await serve(dir, undefined, []);
  });

  after(async () => {
    await withBatching?.close();
    await without?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('outputFn that answers Buffer.from(tensor.data.buffer) gets its own request\'s output, never the other requests\' of its batch', async () => {
    const send = (rows: number[][]): Sent => ({ contentType: 'application/json', accept: 'application/octet-stream', body: JSON.stringify({ inputs: { x: rows } }) });
    for (const served of [withBatching, without]) await Promise.all(Array.from({ length: MAX_REQUESTS }, () => post(served, send([[0, 0]]))));
    sizes.length = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.tuple(fc.integer({ min: -9, max: 9 }), fc.integer({ min: -9, max: 9 })), { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: MAX_REQUESTS }), async (set) => {
        const want = await Promise.all(set.map((rows) => post(without, send(rows))));
        const got = await Promise.all(set.map((rows) => post(withBatching, send(rows))));
        got.forEach((g, i) => assert.equal(g, want[i], `request ${i} of ${set.length}: ${JSON.stringify(set[i])}`));
      }),
      { numRuns: 15 },
    );
    assert.ok(sizes.some((size) => size > 1), `no requests were ever batched together: ${JSON.stringify(sizes)}`);
  });
});

describe('batching equivalence, inputFn tensors whose data is not their dtype\'s array', () => {
  let dir: string;
  let withBatching: Served;
  let without: Served;

  before(async () => {
    dir = identityModelDir([{ name: 'x', dtype: 'float32', rank: 2 }]);
    // float32 said, bytes given (pixels as sharp gives them): ONNX Runtime refuses such a tensor.
    writeFileSync(
      path.join(dir, 'code', 'inference.mjs'),
      "export function inputFn(body) { const v = JSON.parse(body); return { tensors: { x: { dtype: 'float32', shape: [1, v.length], data: Uint8Array.from(v) } } }; }\n",
    );
    withBatching = await serve(dir, { maxSize: 8, maxDelayMs: 0 }, []);
    without = await serve(dir, undefined, []);
  });

  after(async () => {
    await withBatching?.close();
    await without?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('each request is answered as it is without batching (refused), not with a model run on values a batch converted', async () => {
    const send = (values: number[]): Sent => ({ contentType: 'application/json', accept: 'application/json', body: JSON.stringify(values) });
    for (const served of [withBatching, without]) await Promise.all(Array.from({ length: MAX_REQUESTS }, () => post(served, send([0, 0]))));
    const set = Array.from({ length: MAX_REQUESTS }, (_, i) => send([i, i + 1]));
    const want = await Promise.all(set.map((r) => post(without, r)));
    const got = await Promise.all(set.map((r) => post(withBatching, r)));
    // inputFn's mistake, named, as predictFn's would be: not ONNX Runtime's ERR_STEP_FAILED.
    assert.match(want[0]!, /^500 /);
    assert.match(want[0]!, /"code":"ERR_USER_CODE"/);
    assert.match(want[0]!, /inputFn returned tensor \\"x\\" with dtype float32 but its data is a Uint8Array: put float32 data in a Float32Array/);
    got.forEach((g, i) => assert.equal(g, want[i], `request ${i}`));
  });
});

describe("a pipeline's run() given tensors whose data is another typed array than their dtype's (predictFn calling model.run)", () => {
  let dir: string;
  let served: Served;

  before(async () => {
    dir = identityModelDir([{ name: 'x', dtype: 'float32', rank: 2 }]);
    writeFileSync(
      path.join(dir, 'code', 'inference.mjs'),
      // inputFn hands predictFn the parsed body; predictFn builds the tensor itself, as README's example does.
      "export function inputFn(body) { return JSON.parse(body); }\n" +
        "export function predictFn({ plain, values }, model, ctx) { return model.run({ tensors: { x: { dtype: 'float32', shape: [1, values.length], data: plain ? values : Uint8Array.from(values) } } }, ctx); }\n",
    );
    served = await serve(dir, undefined, []);
  });

  after(async () => {
    await served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("is refused as user code's mistake naming the tensor, not ONNX Runtime's ERR_STEP_FAILED; plain arrays of numbers are still read by value", async () => {
    const refused = await post(served, { contentType: 'application/json', accept: 'application/json', body: JSON.stringify({ plain: false, values: [1, 2] }) });
    assert.match(refused, /^500 /);
    assert.match(refused, /"code":"ERR_USER_CODE"/);
    assert.match(refused, /the pipeline's run\(\) was given tensor \\"x\\" with dtype float32 but its data is a Uint8Array: put float32 data in a Float32Array/);
    const plain = await post(served, { contentType: 'application/json', accept: 'application/json', body: JSON.stringify({ plain: true, values: [1, 2] }) });
    assert.match(plain, /^200 /);
  });
});
