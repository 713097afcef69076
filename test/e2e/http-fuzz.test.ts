import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import request from 'supertest';
import { createApp } from '../../src/server/app.js';
import { InProcessBackend } from '../../src/server/in-process-backend.js';
import { createLogger } from '../../src/logging/logger.js';
import { ERROR_CATALOGUE } from '../../src/errors/catalogue.js';
import { encodeNpy } from '../../src/codecs/npy.js';
import { tensor } from '../../src/core/tensor.js';
import { IN_PROCESS_SETTINGS, listenOnLoopback, serveIdentityModel, type LoopbackServer } from '../helpers/in-process-app.js';
import { identityModelDir } from '../helpers/identity-model.js';
import { mutatedBodies } from '../helpers/hostile-bodies.js';

/**
 * Over real HTTP (supertest), random bodies, content types and Accept headers sent to the iris
 * model never get a 5xx: every answer is a 2xx or a catalogued 4xx, and /ping stays healthy.
 */

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const modelDir = path.join(repo, 'models/iris-onnx');
const log = createLogger('silent');
let backend: InProcessBackend;
// One listening server for the file: supertest given an app function starts (and closes) a server per request.
let app: LoopbackServer['server'];
let listening: LoopbackServer;

before(async () => {
  backend = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log, maxDecodedBytes: 4 * 1024 * 1024 },
    log,
  );
  await backend.loaded;
  assert.equal(backend.state(), 'ready', backend.failure()?.message);
  listening = await listenOnLoopback(createApp({ settings: { maxPayloadMb: 1, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' }, backend, log }));
  app = listening.server;
});
after(async () => {
  await listening?.close();
  await backend.close();
});

const npy = (t: Parameters<typeof encodeNpy>[0]) => encodeNpy(t);
const SEEDS: Buffer[] = [
  Buffer.from('[[5.1, 3.5, 1.4, 0.2]]'),
  Buffer.from('{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'),
  Buffer.from('{"inputs": {"input": [[5.1, 3.5, 1.4, 0.2]]}, "signature_name": "serving_default"}'),
  Buffer.from('{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "probabilities"}]}'),
  Buffer.from('{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "probabilities", "parameters": {"classification": 2, "binary_data": true}}]}'),
  Buffer.from('{"instances": [[NaN, Infinity, 1, 2]]}'),
  Buffer.from('5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n'),
  Buffer.from('[5.1,3.5,1.4,0.2]\n[6.7,3.0,5.2,2.3]\n'),
  npy(tensor('float32', [1, 4], Float32Array.of(5.1, 3.5, 1.4, 0.2))),
  npy(tensor('float16', [1, 4], Uint16Array.of(0x4500, 0x4300, 0x3d99, 0x3266))),
  Buffer.from(zipSync({ 'arr_0.npy': new Uint8Array(npy(tensor('float64', [1, 4], Float64Array.of(1, 2, 3, 4)))) }, { level: 6 })),
];

// Triton's binary tensor data form: the v2 JSON, then the input's 16 bytes (tritonclient's generate_request_body).
const TRITON_JSON = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true}}';
SEEDS.push(Buffer.concat([Buffer.from(TRITON_JSON), Buffer.from(Float32Array.of(5.1, 3.5, 1.4, 0.2).buffer)]));
const TRITON_TYPE = 'application/vnd.sagemaker-triton.binary+json;json-header-size=';

const mutated = mutatedBodies(SEEDS, 4);

const TYPES = [
  'application/json', 'text/csv', 'text/csv; header=present', 'application/x-npy', 'application/x-npz', 'application/jsonlines',
  'application/octet-stream', 'image/png', 'image/jpeg', 'multipart/form-data; boundary=xyz', 'multipart/form-data',
  'text/plain', 'application/x-www-form-urlencoded', 'Application/JSON; charset=utf-8', 'application/json; charset=latin1',
  `${TRITON_TYPE}${TRITON_JSON.length}`, `${TRITON_TYPE}${TRITON_JSON.length + 1}`, `${TRITON_TYPE}7`, `${TRITON_TYPE}0`, 'application/vnd.sagemaker-triton.binary+json',
];
const ACCEPTS = ['', '*/*', 'application/json', 'text/csv', 'application/x-npy', 'application/jsonlines', 'application/octet-stream', 'image/png', 'text/*;q=0.5, */*;q=0'];
const headerText = fc.string({ unit: fc.constantFrom(...'abcxyz/;=+*-. ,q0123456789'), maxLength: 40 });

test('random bodies, content types and Accept headers never get a 5xx over HTTP', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(mutated, mutated, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))),
      fc.oneof(fc.constantFrom(...TYPES), headerText),
      fc.oneof(fc.constantFrom(...ACCEPTS), headerText),
      async (body, contentType, accept) => {
        // Raw bytes both ways: no JSON serialising of the body, no parsing of the answer.
        let req = request(app)
          .post('/invocations')
          .timeout(20_000)
          .serialize((b: unknown) => b as string)
          .buffer(true)
          .parse((res, done) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer | string) => chunks.push(Buffer.from(c)));
            res.on('end', () => done(null, Buffer.concat(chunks)));
          });
        if (contentType !== '') req = req.set('Content-Type', contentType);
        if (accept !== '') req = req.set('Accept', accept);
        const res = await req.send(body);
        const text = (res.body as Buffer).toString('utf8');
        assert.ok(res.status < 500, `${res.status} for ${contentType} / ${accept} / ${JSON.stringify(body.toString('latin1').slice(0, 120))}: ${text.slice(0, 300)}`);
        if (res.status >= 400) {
          const parsed = JSON.parse(text) as { code: string; message: string };
          assert.ok(parsed.code in ERROR_CATALOGUE, parsed.code);
          assert.ok(parsed.message.length < 4000);
        }
      },
    ),
    { numRuns: 250 },
  );
  const ping = await request(app).get('/ping').timeout(5000);
  assert.equal(ping.status, 200);
});

test('bombs over HTTP: deep JSON, deep v2 data, huge NPY shapes, an inflating NPZ and bad unicode are short 4xx answers; /ping stays fast', async () => {
  const deep = (n: number) => '['.repeat(n) + '1' + ']'.repeat(n);
  const npyHeaderOnly = (descr: string, shape: string, data = Buffer.alloc(0)) => {
    const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }\n`;
    const h = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    h.writeUInt16LE(dict.length, 8);
    return Buffer.concat([h, Buffer.from(dict, 'latin1'), data]);
  };
  // 64 MB of zeros in one NPZ member: a ~64 KB body, far past the 4 MB decoded budget set above.
  const bombMember = Buffer.concat([npyHeaderOnly('<f8', '(8388608,)'), Buffer.alloc(64 * 1024 * 1024)]);
  const npzBomb = Buffer.from(zipSync({ 'x.npy': new Uint8Array(bombMember) }, { level: 9 }));
  const cases: [string, Buffer, number][] = [
    ['application/json', Buffer.from(deep(400_000)), 400],
    ['application/json', Buffer.from(`{"inputs": [{"name": "input", "shape": [1], "datatype": "FP32", "data": ${deep(400_000)}}]}`), 400],
    ['application/json', Buffer.from(`{"instances": ${deep(200_000)}}`), 400],
    ['application/x-npy', npyHeaderOnly('<f8', '(100000000000,)'), 400],
    ['application/x-npy', npyHeaderOnly('<f8', '(-3, 4)'), 400],
    ['application/x-npy', npyHeaderOnly('<U0', '(1000000000,)'), 400],
    ['application/x-npy', npyHeaderOnly('<U1', '(1,)', Buffer.from([0, 0, 0x11, 0])), 400],
    ['application/x-npz', npzBomb, 413],
  ];
  for (const [type, body, status] of cases) {
    const res = await request(app).post('/invocations').timeout(30_000).set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
    assert.equal(res.status, status, `${type} ${body.length} bytes: ${res.text.slice(0, 200)}`);
    assert.ok(res.text.length < 2000, `${type}: a ${res.text.length}-byte answer`);
    const started = Date.now();
    await request(app).get('/ping').timeout(5000).expect(200);
    assert.ok(Date.now() - started < 2000, '/ping answered within 2 s');
  }
});

test('random JSON values sent to inputs of every dtype (identity model) get a 2xx or a catalogued 4xx, and a 200 carries exactly the values sent', async () => {
  const dtypes = ['float16', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'] as const;
  const { app: identity, close } = await serveIdentityModel(dtypes.map((dtype) => ({ name: dtype, dtype })), { ...IN_PROCESS_SETTINGS, maxPayloadMb: 1 });
  const { server, close: stopListening } = await listenOnLoopback(identity);
  try {
    const value = fc.oneof(
      fc.integer({ min: -300, max: 70000 }),
      fc.double({ noNaN: true }),
      fc.constantFrom(0, 1, -1, 127, 128, 255, 256, 65504, 65520, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, -(2 ** 63), 0.5, 1e39, -0),
      fc.boolean(),
      fc.string({ maxLength: 4 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...dtypes), fc.array(value, { minLength: 1, maxLength: 3 }), async (target, values) => {
        const inputs = Object.fromEntries(dtypes.map((d) => [d, d === target ? values : d === 'bool' ? [true] : [1]]));
        const res = await request(server).post('/invocations').timeout(20_000).send({ inputs });
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500 && res.body.code in ERROR_CATALOGUE), `${target} ${JSON.stringify(values)}: ${res.status} ${res.text.slice(0, 200)}`);
        if (res.status === 200) {
          // Whatever was accepted came back as the same values (rounded only for the float types).
          const back = res.body.outputs[`${target}_out`] as unknown[];
          values.forEach((value, i) => {
            const got = back[i];
            // What the server was sent: JSON writes -0 as 0. Answers keep the sign of a zero (-0.0),
            // so a negative value that float32 rounds to zero comes back as -0.
            const v = JSON.parse(JSON.stringify(value)) as typeof value;
            if (target === 'bool') assert.equal(got, v === true || v === 1);
            else if (target === 'float32') assert.equal(got, Math.fround(Number(v)));
            else if (target === 'float64') assert.equal(got, Number(v));
            // float16: within half a unit in the last place (2^-11 relative, 2^-25 absolute below the normal range).
            else if (target === 'float16') assert.ok(typeof got === 'number' && Math.abs(got - Number(v)) <= Math.max(Math.abs(Number(v)) * 2 ** -11, 2 ** -25), `${v} → ${got}`);
            else assert.equal(got, Number(v) + 0, `${target}: ${v} → ${got}`);
          });
        }
      }),
      { numRuns: 200, examples: [['float32', [-5e-324]], ['float32', [-0, -1e-50]], ['float64', [-0]]] },
    );
  } finally {
    await stopListening();
    await close();
  }
});

test('names a request chooses: an input named __proto__ is refused by name in every form, and a repeated v2 output name is refused instead of multiplying the answer', async () => {
  const { app: server, close } = await serveIdentityModel([{ name: 'x', dtype: 'float32' }]);
  try {
    const post = (type: string, body: string | Buffer) => request(server).post('/invocations').timeout(20_000).set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
    const npzOf = (names: string[]) => Buffer.from(zipSync(Object.fromEntries(names.map((n) => [`${n}.npy`, new Uint8Array(npy(tensor('float32', [1], Float32Array.of(1))))]))));
    const protoCases: [string, string | Buffer][] = [
      ['application/json', '{"inputs": {"x": [1, 2], "__proto__": [1, 2]}}'],
      ['application/json', '{"inputs": {"__proto__": [1, 2]}}'],
      ['application/json', '{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "__proto__", "shape": [1], "datatype": "FP32", "data": [1]}]}'],
      ['application/json', '{"instances": [{"x": 1, "__proto__": 1}]}'],
      ['application/jsonlines', '{"x": 1, "__proto__": 1}\n'],
      ['application/x-npz', npzOf(['x', '__proto__'])],
    ];
    for (const [type, body] of protoCases) {
      const res = await post(type, body);
      assert.equal(res.status, 400, `${type} ${String(body).slice(0, 80)}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.code, 'ERR_INPUT_MISMATCH', res.text.slice(0, 200));
      assert.match(res.body.message, /"__proto__"/, 'the refused input is named');
    }
    // A record naming constructor (an Object.prototype member) is a record with other inputs, not a crash or a hole.
    const ctor = await post('application/json', '{"instances": [{"x": 1}, {"constructor": 1}]}');
    assert.equal(ctor.status, 400, ctor.text.slice(0, 200));
    assert.equal(ctor.body.code, 'ERR_JSON_PARSE');

    // 2000 copies of one requested output would have made a 20 000-value answer 2000 times over.
    const data = new Array(20_000).fill(1.5);
    const repeated = await post('application/json', JSON.stringify({ inputs: [{ name: 'x', shape: [20_000], datatype: 'FP32', data }], outputs: new Array(2000).fill({ name: 'x_out' }) }));
    assert.equal(repeated.status, 400, repeated.text.slice(0, 200));
    assert.equal(repeated.body.code, 'ERR_JSON_PARSE');
    assert.match(repeated.body.message, /'x_out' is requested twice/);
    const unknown = await post('application/json', JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: Array.from({ length: 5000 }, (_, i) => ({ name: `nope${i}` })) }));
    assert.equal(unknown.status, 400);
    assert.ok(unknown.text.length < 2000, `a ${unknown.text.length}-byte answer for 5000 unknown output names`);
    const once = await post('application/json', JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }], outputs: [{ name: 'x_out' }] }));
    assert.equal(once.status, 200, once.text.slice(0, 200));
    assert.deepEqual(once.body.outputs[0].data, [1, 2]);
  } finally {
    await close();
  }
});

test('a JSON lines body of 300 000 short records is answered well within a 30 s deadline (each line is scanned on its own, not with the rest of the body)', async () => {
  const { app: server, close } = await serveIdentityModel([{ name: 'x', dtype: 'float32', rank: 2 }]);
  try {
    const body = Buffer.from('[1,2,3,4]\n'.repeat(299_999) + '[1e-5,2.5e3,3,4]\n');
    const res = await request(server).post('/invocations').timeout(30_000).set('Content-Type', 'application/jsonlines').set('Accept', 'application/jsonlines').serialize((b: unknown) => b as string).send(body);
    assert.equal(res.status, 200, res.text.slice(0, 200));
    const lines = res.text.trimEnd().split('\n');
    assert.equal(lines.length, 300_000);
    assert.deepEqual(JSON.parse(lines[0]!), [1, 2, 3, 4]);
    assert.deepEqual(JSON.parse(lines.at(-1)!), [Math.fround(1e-5), 2500, 3, 4]);
  } finally {
    await close();
  }
});

test('empty tensors with huge declared dimensions (NPY, NPZ, v2 JSON, Triton binary) are a 413 before the model, whose answer would write a row per entry; small ones still pass', async () => {
  const modelDir = identityModelDir([{ name: 'x', dtype: 'float32', rank: 2 }]);
  const budgeted = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log, maxDecodedBytes: 4 * 1024 * 1024 },
    log,
  );
  try {
    await budgeted.loaded;
    const server = createApp({ settings: IN_PROCESS_SETTINGS, backend: budgeted, log });
    const post = (type: string, body: string | Buffer) => request(server).post('/invocations').timeout(20_000).set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
    const npyEmpty = (shape: string) => {
      const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`;
      const h = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      h.writeUInt16LE(dict.length, 8);
      return Buffer.concat([h, Buffer.from(dict, 'latin1')]);
    };
    const v2 = (shape: number[]) => JSON.stringify({ inputs: [{ name: 'x', shape, datatype: 'FP32', data: [] }] });
    const binaryHead = JSON.stringify({ inputs: [{ name: 'x', shape: [1e15, 0], datatype: 'FP32', parameters: { binary_data_size: 0 } }] });
    const cases: [string, string | Buffer][] = [
      // ONNX Runtime refuses a dimension past 2^32 - 1 (a 500 before) ...
      ['application/x-npy', npyEmpty('(1000000000000000, 0)')],
      ['application/x-npy', npyEmpty('(0, 1000000000000000)')],
      ['application/x-npz', Buffer.from(zipSync({ 'x.npy': new Uint8Array(npyEmpty('(1000000000000000, 0)')) }))],
      ['application/json', v2([1e15, 0])],
      [`application/vnd.sagemaker-triton.binary+json;json-header-size=${binaryHead.length}`, binaryHead],
      // ... and below it the answer of 10^7 empty rows was 30 MB of [[],[],...] from a 90-byte body.
      ['application/x-npy', npyEmpty('(10000000, 0)')],
    ];
    for (const [type, body] of cases) {
      const res = await post(type, body);
      assert.equal(res.status, 413, `${type} ${String(body).slice(0, 120)}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.code, 'ERR_DECODED_TOO_LARGE');
    }
    const small = await post('application/x-npy', npyEmpty('(3, 0)'));
    assert.equal(small.status, 200, small.text.slice(0, 200));
    assert.deepEqual(small.body, [[], [], []]);
    // One line per row in CSV and JSON lines too, though a row holds nothing.
    for (const [accept, text] of [['text/csv', '\n\n\n'], ['application/jsonlines', '[]\n[]\n[]\n']]) {
      const lines = await post('application/x-npy', npyEmpty('(3, 0)')).set('Accept', accept!).buffer(true).parse((res, done) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => done(null, body));
      });
      assert.equal(lines.status, 200);
      assert.equal(lines.body, text, accept);
    }
    const v2Small = await post('application/json', v2([2, 0]));
    assert.equal(v2Small.status, 200, v2Small.text.slice(0, 200));
    assert.deepEqual(v2Small.body.outputs[0].shape, [2, 0]);
  } finally {
    await budgeted.close();
    rmSync(modelDir, { recursive: true, force: true });
  }
});

test('values nested 20 000 levels deep (v2 datatype, data, parameters, outputs; TF Serving signature_name) are a short 400 naming the nesting limit before any parse; 400 levels deep, under the limit, where a string, number or boolean belongs they are a short 400 quoting their start, not a 500 from a stack overflow', async () => {
  const bodies = (levels: number) => {
    const deepObj = '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
    const deepArr = '['.repeat(levels) + '1' + ']'.repeat(levels);
    const x = '{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}';
    return [
      `{"inputs": [${x}, ${deepArr}]}`,
      `{"inputs": [{"name": "input", "shape": [1], "datatype": ${deepObj}, "data": [1]}]}`,
      `{"inputs": [{"name": "input", "shape": [1], "datatype": "FP32", "data": [${deepObj}]}]}`,
      `{"inputs": [{"name": "input", "shape": [1], "datatype": "INT64", "data": [${deepObj}]}]}`,
      `{"inputs": [${x}], "parameters": {"binary_data_output": ${deepObj}}}`,
      `{"inputs": [${x}], "outputs": [{"name": "probabilities", "parameters": {"binary_data": ${deepArr}}}]}`,
      `{"inputs": [${x}], "outputs": [{"name": "probabilities", "parameters": {"classification": ${deepObj}}}]}`,
      `{"instances": [[1, 2, 3, 4]], "signature_name": ${deepArr}}`,
    ];
  };
  const post = (body: string) => request(app).post('/invocations').timeout(30_000).set('Content-Type', 'application/json').send(body);
  for (const body of bodies(20_000)) {
    const res = await post(body);
    assert.equal(res.status, 400, `${body.slice(0, 120)}: ${res.status} ${res.text.slice(0, 200)}`);
    assert.equal(res.body.code, 'ERR_JSON_PARSE');
    assert.match(res.body.message, /more than 512 levels deep/);
    assert.ok(res.text.length < 2000, `a ${res.text.length}-byte answer`);
  }
  for (const body of bodies(400)) {
    const res = await post(body);
    assert.equal(res.status, 400, `${body.slice(0, 120)}: ${res.status} ${res.text.slice(0, 200)}`);
    assert.equal(res.body.code, 'ERR_JSON_PARSE');
    assert.match(res.body.message, /(\{"a":|\[\[\[)[^…]*…/, 'the value is quoted cut short');
    assert.ok(res.text.length < 2000, `a ${res.text.length}-byte answer`);
  }
});

test('an NPZ member whose bytes do not match the CRC-32 its archive records (one byte flipped) is a 400 saying it is corrupt, as numpy refuses it, not an answer on other values', async () => {
  const member = new Uint8Array(npy(tensor('float32', [1, 4], Float32Array.of(5.1, 3.5, 1.4, 0.2))));
  const good = Buffer.from(zipSync({ 'arr_0.npy': member }, { level: 0 }));
  const post = (body: Buffer) => request(app).post('/invocations').timeout(20_000).set('Content-Type', 'application/x-npz').serialize((b: unknown) => b as string).send(body);
  assert.equal((await post(good)).status, 200);
  // The last data byte of the stored member: 0.2's top byte, 0x3E, becomes 0x3F (0.2 → 0.8).
  const bad = Buffer.from(good);
  const at = bad.indexOf(Buffer.from(member.subarray(-4))) + 3;
  bad[at] = bad[at]! ^ 0x01;
  const res = await post(bad);
  assert.equal(res.status, 400, res.text.slice(0, 200));
  assert.equal(res.body.code, 'ERR_NPY_PARSE');
  assert.match(res.body.message, /member 'arr_0\.npy' is corrupt: its bytes have CRC-32 0x[0-9a-f]{8} but the archive records 0x[0-9a-f]{8}/);
});
