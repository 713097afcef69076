import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { zipSync } from 'fflate';
import onnxProto from 'onnx-proto';
import { decodeNpy, encodeNpy } from '../../src/codecs/npy.js';
import { tensor, type DType } from '../../src/core/tensor.js';
import { identityModelDir, type IdentityInput } from '../helpers/identity-model.js';
import { serveIdentityModel, serveModelInProcess, type InProcessApp } from '../helpers/in-process-app.js';
import { REPO_ROOT } from '../helpers/serve-process.js';

/** A supertest parser that keeps the body as text (TF Serving answers are not strict JSON). */
function asText(res: request.Response, done: (err: Error | null, body: string) => void): void {
  let text = '';
  const stream = res as unknown as NodeJS.ReadableStream;
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => (text += c));
  stream.on('end', () => done(null, text));
}

/** A supertest parser that keeps the body as bytes. */
function asBytes(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const stream = res as unknown as NodeJS.ReadableStream;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const serve = (inputs: IdentityInput[]): Promise<InProcessApp> => serveIdentityModel(inputs);

// Every dtype ONNX Runtime feeds, with values at the edges of its range (and float16's awkward ones).
const EDGES: Record<Exclude<DType, 'string'>, unknown[]> = {
  float16: [0.5, 1.5, -2, 65504, -65504, 0.0999755859375, 2 ** -24, 0],
  float32: [0.1, -3.4028234663852886e38, 1e-45, 16777217],
  float64: [0.1, 1e308, -5e-324],
  int8: [-128, 127, 0],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [-9007199254740991, 9007199254740991, 0],
  uint64: [0, 9007199254740991],
  bool: [true, false, true],
};
const EXPECTED: Partial<Record<DType, unknown[]>> = {
  float32: [0.10000000149011612, -3.4028234663852886e38, 1.401298464324817e-45, 16777216],
};
const NAMES = Object.keys(EDGES) as (keyof typeof EDGES)[];

describe('request values reach the model unchanged, or are refused naming the input (identity ONNX models over HTTP)', () => {
  let multi: Awaited<ReturnType<typeof serve>>;
  let half: Awaited<ReturnType<typeof serve>>;
  let ints: Awaited<ReturnType<typeof serve>>;

  before(async () => {
    multi = await serve(NAMES.map((dtype) => ({ name: `x_${dtype}`, dtype })));
    half = await serve([{ name: 'h', dtype: 'float16', rank: 2 }]);
    ints = await serve([{ name: 'k', dtype: 'int8', rank: 2 }]);
  });
  after(async () => {
    await multi?.close();
    await half?.close();
    await ints?.close();
  });

  const inputsWith = (override: Record<string, unknown> = {}) =>
    Object.fromEntries(NAMES.map((d) => [`x_${d}`, override[`x_${d}`] ?? EDGES[d]]));

  test('every dtype: TF Serving {"inputs": {...}} values come back exactly', async () => {
    const res = await request(multi.app).post('/invocations').set('Content-Type', 'application/json').send({ inputs: inputsWith() }).expect(200);
    for (const d of NAMES) assert.deepEqual(res.body.outputs[`x_${d}_out`], EXPECTED[d] ?? EDGES[d], d);
  });

  test('every dtype: v2 requests sent as FP64 reach each input as its own dtype', async () => {
    const inputs = NAMES.map((d) => ({ name: `x_${d}`, shape: [EDGES[d].length], datatype: d === 'bool' ? 'BOOL' : 'FP64', data: EDGES[d] }));
    const res = await request(multi.app).post('/invocations').set('Content-Type', 'application/json').send({ inputs }).expect(200);
    for (const out of res.body.outputs as { name: string; data: unknown[] }[]) {
      const d = out.name.slice(2, -4) as keyof typeof EDGES;
      assert.deepEqual(out.data, EXPECTED[d] ?? EDGES[d], d);
    }
  });

  test('float16: CSV, bare JSON, TF Serving instances and NPY float32 give the values, not raw half bits', async () => {
    const want = [[0.5, 1.5], [-2, 65504]];
    const csv = await request(half.app).post('/invocations').set('Content-Type', 'text/csv').send('0.5,1.5\n-2,65504\n').expect(200);
    assert.deepEqual(csv.body, want);
    const bare = await request(half.app).post('/invocations').set('Content-Type', 'application/json').send(want).expect(200);
    assert.deepEqual(bare.body, want);
    const tfs = await request(half.app).post('/invocations').set('Content-Type', 'application/json').send({ instances: want }).expect(200);
    assert.deepEqual(tfs.body, { predictions: want });
    const npy = encodeNpy(tensor('float32', [2, 2], Float32Array.from(want.flat())));
    const viaNpy = await request(half.app).post('/invocations').set('Content-Type', 'application/x-npy').send(npy).expect(200);
    assert.deepEqual(viaNpy.body, want);
    // float16 rounding is to nearest even, from the double itself: 1 + 2^-11 is a tie (→ 1), 1 + 2^-11 + 2^-30 is not (→ 1 + 2^-10).
    const ties = await request(half.app).post('/invocations').send([[1 + 2 ** -11, 1 + 2 ** -11 + 2 ** -30]]).expect(200);
    assert.deepEqual(ties.body, [[1, 1 + 2 ** -10]]);
  });

  test('a finite value past float16 range is a 400 naming the input', async () => {
    const res = await request(half.app).post('/invocations').send([[65520, 1]]).expect(400);
    assert.equal(res.body.code, 'ERR_INPUT_VALUE');
    assert.match(res.body.message, /input "h".*float16.*65520/);
  });

  test('integers: out of range, fractions and NaN-like values are 400, not wrapped', async () => {
    for (const [body, pattern] of [
      [[[128]], /128.*int8 range/],
      [[[-129]], /-129.*int8 range/],
      [[[1.5]], /1\.5.*not an integer/],
    ] as const) {
      const res = await request(ints.app).post('/invocations').send(body).expect(400);
      assert.equal(res.body.code, 'ERR_INPUT_VALUE');
      assert.match(res.body.message, /input "k"/);
      assert.match(res.body.message, pattern);
    }
    const csv = await request(ints.app).post('/invocations').set('Content-Type', 'text/csv').send('1,nan\n').expect(400);
    assert.match(csv.body.message, /NaN.*not an integer/);
    for (const [name, value] of [
      ['x_uint8', [256]],
      ['x_uint16', [-1]],
      ['x_int32', [2147483648]],
      ['x_uint32', [4294967296]],
      ['x_int64', [9223372036854775807]], // the double 2^63: out of range
      ['x_uint64', [-1]],
      ['x_bool', [2]],
      ['x_float32', [1e39]],
    ] as const) {
      const res = await request(multi.app).post('/invocations').send({ inputs: inputsWith({ [name]: value }) }).expect(400);
      assert.equal(res.body.code, 'ERR_INPUT_VALUE', name);
      assert.match(res.body.message, new RegExp(`input "${name}"`));
    }
  });

  test('text sent to a numeric input is a 400 naming the input (bare JSON, TF Serving forms, v2 BYTES)', async () => {
    const bare = await request(half.app).post('/invocations').send([['a', 'b']]).expect(400);
    assert.equal(bare.body.code, 'ERR_INPUT_VALUE');
    assert.match(bare.body.message, /input "h" takes float16 numbers but the request sent text/);
    await request(half.app).post('/invocations').send({ instances: [['1', '2']] }).expect(400);
    await request(half.app).post('/invocations').send({ inputs: { h: [['x']] } }).expect(400);
    const v2 = await request(half.app)
      .post('/invocations')
      .send({ inputs: [{ name: 'h', shape: [1, 1], datatype: 'BYTES', data: ['abc'] }] })
      .expect(400);
    assert.match(v2.body.message, /input "h"/);
    const multiText = await request(multi.app).post('/invocations').send({ inputs: inputsWith({ x_float32: ['1.5'] }) }).expect(400);
    assert.match(multiText.body.message, /input "x_float32"/);
  });

  test('an input name the model does not have is refused naming the model inputs; an unnamed tensor still binds', async () => {
    const tfs = await request(half.app).post('/invocations').send({ inputs: { nope: [[1]] } }).expect(400);
    assert.equal(tfs.body.code, 'ERR_INPUT_MISMATCH');
    assert.match(tfs.body.message, /"nope"/);
    assert.match(tfs.body.message, /takes h\b/);
    const v2 = await request(half.app)
      .post('/invocations')
      .send({ inputs: [{ name: 'wrong', shape: [1, 1], datatype: 'FP32', data: [1] }] })
      .expect(400);
    assert.match(v2.body.message, /"wrong"/);
    const rows = await request(half.app).post('/invocations').send({ instances: [{ other: [1] }] }).expect(400);
    assert.match(rows.body.message, /"other"/);
    await request(half.app).post('/invocations').send({ inputs: { h: [[1]] } }).expect(200);
    await request(half.app).post('/invocations').send({ inputs: [[1]] }).expect(200);
  });

  test('TF Serving and v2 over HTTP: NaN tokens both ways, signature_name checked, errors carry {"error"}', async () => {
    const nan = await request(half.app)
      .post('/invocations')
      .set('Content-Type', 'application/json')
      .send('{"instances": [[NaN, -Infinity]], "signature_name": "serving_default"}')
      .buffer(true)
      .parse(asText)
      .expect(200);
    assert.equal(nan.body, '{"predictions":[[NaN,-Infinity]]}');
    const sig = await request(half.app).post('/invocations').send({ instances: [[1, 2]], signature_name: 'classify' }).expect(400);
    assert.match(sig.body.error, /signature_name "classify" is not served/);
    assert.equal(sig.body.error, sig.body.message);
    const v2 = await request(half.app).post('/invocations').send({ inputs: [{ name: 'wrong', shape: [1, 1], datatype: 'FP32', data: [1] }] }).expect(400);
    assert.equal(v2.body.code, 'ERR_INPUT_MISMATCH');
    assert.equal(v2.body.error, v2.body.message);
    const range = await request(half.app).post('/invocations').send({ inputs: { h: [[1e6]] } }).expect(400);
    assert.equal(range.body.code, 'ERR_INPUT_VALUE');
    assert.equal(range.body.error, range.body.message);
    // A plain (non-protocol) request keeps smkit's body: code and message.
    const plain = await request(half.app).post('/invocations').set('Content-Type', 'text/csv').send('1e6,1\n').expect(400);
    assert.equal(plain.body.error, undefined);
  });

  test('a pipeline whose first step casts (iris-pipeline) refuses text too, instead of predicting on NaN', async () => {
    const { app, close } = await serveModelInProcess(path.join(REPO_ROOT, 'models/iris-pipeline'));
    try {
      const text = await request(app).post('/invocations').send([['a', 'b', 'c', 'd']]).expect(400);
      assert.equal(text.body.code, 'ERR_INPUT_VALUE');
      assert.match(text.body.message, /"a".*not a number/);
      await request(app).post('/invocations').send([['5.1', '3.5', '1.4', '0.2']]).expect(200);
      await request(app).post('/invocations').send([[5.1, 3.5, 1.4, 0.2]]).expect(200);
    } finally {
      await close();
    }
  });
});

test('a float32 model (its decoders then write float32 themselves): values are rounded once, and a finite value past float32 is still a 400 naming the input', async () => {
  const single = await serve([{ name: 'x', dtype: 'float32', rank: 2 }]);
  try {
    const want = [[0.10000000149011612, 16777216, -3.4028234663852886e38]];
    for (const [type, body] of [
      ['text/csv', '0.1,16777217,-3.4028234663852886e38\n'],
      ['application/json', '[[0.1, 16777217, -3.4028234663852886e38]]'],
      ['application/jsonlines', '[0.1, 16777217, -3.4028234663852886e38]\n'],
    ]) {
      const ok = await request(single.app).post('/invocations').set('Content-Type', type!).set('Accept', 'application/json').send(body).expect(200);
      assert.deepEqual(ok.body, want, type);
    }
    for (const [type, body] of [
      ['text/csv', '1,2,3\n3.5e38,1,2\n'],
      ['application/json', '[[1, 2, 3], [3.5e38, 1, 2]]'],
      ['application/jsonlines', '[1, 2, 3]\n[3.5e38, 1, 2]\n'],
    ]) {
      const refused = await request(single.app).post('/invocations').set('Content-Type', type!).send(body).expect(400);
      assert.equal(refused.body.code, 'ERR_INPUT_VALUE', type);
      assert.match(refused.body.message, /input "x" takes float32 values: element 3 is 3\.5e\+38, outside the float32 range/, type);
    }
  } finally {
    await single.close();
  }
});

test('-0 keeps its sign in every text answer (JSON, TF Serving, v2, JSON lines, CSV), written -0.0 as Python writes it, float16 and rank 0 included; whole floats are 0.0 and 1.0 in JSON (CSV keeps 0 and 1)', async () => {
  const f32 = await serve([{ name: 'x', dtype: 'float32', rank: 2 }]);
  const f16 = await serve([{ name: 'x', dtype: 'float16', rank: 2 }]);
  const scalar = await serve([{ name: 'x', dtype: 'float64', rank: 0 }]);
  try {
    const text = async (served: InProcessApp, type: string, body: string, accept: string) => {
      const res = await request(served.app).post('/invocations').set('Content-Type', type).set('Accept', accept).send(body);
      assert.equal(res.status, 200, res.text);
      return res.text;
    };
    for (const served of [f32, f16]) {
      assert.equal(await text(served, 'text/csv', '-0,0,1\n', 'application/json'), '[[-0.0,0.0,1.0]]');
      assert.equal(await text(served, 'text/csv', '-0,0,1\n', 'text/csv'), '-0.0,0,1\n');
      assert.equal(await text(served, 'text/csv', '-0,0,1\n', 'application/jsonlines'), '[-0.0,0.0,1.0]\n');
      assert.equal(await text(served, 'application/json', '{"instances": [[-0.0, 0, 1]]}', 'application/json'), '{"predictions":[[-0.0,0.0,1.0]]}');
      const datatype = served === f32 ? 'FP32' : 'FP16';
      const v2 = JSON.parse(await text(served, 'application/json', `{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "${datatype}", "data": [-0.0, 0, 1]}]}`, 'application/json'));
      assert.ok(Object.is(v2.outputs[0].data[0], -0) && Object.is(v2.outputs[0].data[1], 0), JSON.stringify(v2.outputs));
    }
    assert.equal(await text(scalar, 'application/json', '{"inputs": [{"name": "x", "shape": [], "datatype": "FP64", "data": [-0.0]}]}', 'application/json'), '{"model_name":"onnx","outputs":[{"name":"x_out","shape":[],"datatype":"FP64","data":[-0.0]}]}');
  } finally {
    await Promise.all([f32.close(), f16.close(), scalar.close()]);
  }
});

// User code builds float16 tensors from values: as a Float16Array where Node has one (24), else a
// Float32Array. smkit holds float16 as Uint16Array bits, so either must be taken as values.
const FLOAT16_HANDLER = `
const Values = globalThis.Float16Array ?? Float32Array;
export function inputFn(body) { return body.toString('utf8'); }
export function predictFn(mode, model, context) {
  const h = { dtype: 'float16', shape: [1, 4], data: Values.from([0.5, 1.5, -2, 65504]) };
  if (mode === 'direct') return { h_out: h };
  if (mode === 'nested') return { scores: h, model: 'v1' };
  return model.run({ tensors: { h } }, context);
}
`;

test(`float16 tensors user code builds from values (${'Float16Array' in globalThis ? 'Float16Array' : 'Float32Array'}) are answered as those values: through the model, straight from predictFn, or inside another value`, async () => {
  const dir = identityModelDir([{ name: 'h', dtype: 'float16', rank: 2 }]);
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), FLOAT16_HANDLER);
  const { app, close } = await serveModelInProcess(dir);
  try {
    for (const mode of ['model', 'direct']) {
      const res = await request(app).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'application/json').send(mode).expect(200);
      assert.deepEqual(res.body, [[0.5, 1.5, -2, 65504]], mode);
      const csv = await request(app).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'text/csv').send(mode).expect(200);
      assert.equal(csv.text.trim(), '0.5,1.5,-2,65504', mode);
      // NPY writes the data's bytes as they are: only bits give a valid float16 array.
      const npy = await request(app).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'application/x-npy').send(mode).parse(asBytes).expect(200);
      const answer = decodeNpy(npy.body as Buffer);
      assert.equal(answer.dtype, 'float16', mode);
      assert.deepEqual(Array.from(answer.data as Uint16Array), [0x3800, 0x3e00, 0xc000, 0x7bff], mode);
    }
    // A tensor inside another value is written by the JSON writer, which reads float16 the same way.
    const nested = await request(app).post('/invocations').set('Content-Type', 'text/plain').set('Accept', 'application/json').send('nested').expect(200);
    assert.deepEqual(nested.body, { scores: [[0.5, 1.5, -2, 65504]], model: 'v1' });
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});


test('NPY and NPZ bool arrays: any non-zero byte is true (numpy\'s bool) and reaches the model as 1, so Not gives false for it', async () => {
  const { onnx } = onnxProto;
  const info = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: 9, shape: onnx.TensorShapeProto.create({ dim: [onnx.TensorShapeProto.Dimension.create({ dimParam: 'n' })] }) }) }),
    });
  const notModel = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 16 })],
    graph: onnx.GraphProto.create({ name: 'not', node: [onnx.NodeProto.create({ opType: 'Not', input: ['b'], output: ['not_b'] })], input: [info('b')], output: [info('not_b')] }),
  });
  const modelDir = identityModelDir([]);
  writeFileSync(path.join(modelDir, 'model.onnx'), onnx.ModelProto.encode(notModel).finish());
  const served = await serveModelInProcess(modelDir);
  try {
    // As np.save writes np.frombuffer(bytes([0, 1, 2, 255]), dtype=bool): numpy reads [False, True, True, True].
    const npy = encodeNpy(tensor('bool', [4], Uint8Array.of(0, 1, 2, 255)));
    const npz = Buffer.from(zipSync({ 'b.npy': new Uint8Array(npy) }));
    for (const [type, body] of [['application/x-npy', npy], ['application/x-npz', npz]] as const) {
      const res = await request(served.app).post('/invocations').set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, [true, false, false, false], type);
      const asNpy = await request(served.app).post('/invocations').set('Content-Type', type).set('Accept', 'application/x-npy').serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(body);
      assert.deepEqual(Array.from(decodeNpy(asNpy.body as Buffer).data as Uint8Array), [1, 0, 0, 0], type);
    }
  } finally {
    await served.close();
    rmSync(modelDir, { recursive: true, force: true });
  }
});

test("NPY 'fortran_order' must be True or False (as numpy requires): another value is a 400, not read as C order", async () => {
  const served = await serve([{ name: 'x', dtype: 'float32', rank: 2 }]);
  try {
    const npy = (order: string) => {
      const dict = `{'descr': '<f4', 'fortran_order': ${order}, 'shape': (2, 3), }`.padEnd(117, ' ') + '\n';
      const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      head.writeUInt16LE(dict.length, 8);
      return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(Float32Array.of(1, 2, 3, 4, 5, 6).buffer)]);
    };
    const post = (body: Buffer) => request(served.app).post('/invocations').set('Content-Type', 'application/x-npy').serialize((b: unknown) => b as string).send(body);
    assert.deepEqual((await post(npy('True')).expect(200)).body, [[1, 3, 5], [2, 4, 6]]);
    assert.deepEqual((await post(npy('False')).expect(200)).body, [[1, 2, 3], [4, 5, 6]]);
    for (const order of ['true', '1', "'True'"]) {
      const res = await post(npy(order));
      assert.equal(res.status, 400, `${order}: ${res.text}`);
      assert.equal(res.body.code, 'ERR_NPY_PARSE');
      assert.match(res.body.message, /'fortran_order': .*must be True or False/);
    }
  } finally {
    await served.close();
  }
});

test("NPY dtype kinds are case-sensitive, as numpy reads them: '<I4', '<F4' and '<B1' (which numpy refuses) are a 400, not read as int32, float32 and bool", async () => {
  const served = await serve([{ name: 'x', dtype: 'int32', rank: 1 }]);
  try {
    const npy = (descr: string) => {
      const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`.padEnd(117, ' ') + '\n';
      const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      head.writeUInt16LE(dict.length, 8);
      return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(Uint32Array.of(0xffffffff, 1).buffer)]);
    };
    const post = (body: Buffer) => request(served.app).post('/invocations').set('Content-Type', 'application/x-npy').serialize((b: unknown) => b as string).send(body);
    assert.deepEqual((await post(npy('<i4')).expect(200)).body, [-1, 1]);
    for (const descr of ['<I4', '<F4', '<B1']) {
      const res = await post(npy(descr));
      assert.equal(res.status, 400, `${descr}: ${res.text}`);
      assert.equal(res.body.code, 'ERR_NPY_PARSE');
      assert.match(res.body.message, new RegExp(`dtype '${descr}', which smkit does not read`));
    }
  } finally {
    await served.close();
  }
});

test('a string holding a NUL character is a 400 naming the input and element (ONNX Runtime would end it there), in every form; the rest reach the model whole', async () => {
  const served = await serve([{ name: 't', dtype: 'string' }]);
  try {
    const u32 = (s: string) => Buffer.from(Uint32Array.from([...s].map((c) => c.codePointAt(0)!)).buffer);
    const npy = (descr: string, data: Buffer) => {
      const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`.padEnd(117, ' ') + '\n';
      const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      head.writeUInt16LE(dict.length, 8);
      return Buffer.concat([head, Buffer.from(dict, 'latin1'), data]);
    };
    const cases: [string, string | Buffer][] = [
      ['application/json', JSON.stringify({ inputs: [{ name: 't', shape: [2], datatype: 'BYTES', data: ['ok', 'a\u0000b'] }] })],
      ['application/json', JSON.stringify({ instances: [{ b64: 'b2s=' }, { b64: Buffer.from('a\u0000b').toString('base64') }] })],
      ['application/json', JSON.stringify(['ok', 'a\u0000b'])],
      ['application/x-npy', npy('<U3', Buffer.concat([u32('ok\u0000'), u32('a\u0000b')]))],
    ];
    for (const [type, body] of cases) {
      const res = await request(served.app).post('/invocations').set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
      assert.equal(res.status, 400, `${type} ${String(body).slice(0, 100)}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.code, 'ERR_INPUT_VALUE');
      assert.match(res.body.message, /input "t" takes strings without NUL characters: element 1 holds one at character 1/);
    }
    // numpy's trailing NUL padding is not part of a <U string, and text without NUL comes back whole.
    const ok = await request(served.app).post('/invocations').set('Content-Type', 'application/x-npy').serialize((b: unknown) => b as string).send(npy('<U3', Buffer.concat([u32('ok\u0000'), u32('abc')]))).expect(200);
    assert.deepEqual(ok.body, ['ok', 'abc']);
  } finally {
    await served.close();
  }
});

test('a JSON or JSON lines body that is not UTF-8 (a Latin-1 é) is a 400 naming the byte and its position, not a 200 on U+FFFD', async () => {
  const served = await serve([{ name: 't', dtype: 'string' }]);
  try {
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    const head = latin1('{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["café"]}]}');
    const cases: [string, Buffer, number][] = [
      ['application/json', latin1('["café"]'), 5],
      ['application/json', latin1('{"instances": ["café"]}'), 19],
      ['application/json', latin1('{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["café"]}]}'), 74],
      ['application/jsonlines', latin1('"ok"\n"café"\n'), 9],
      [`application/vnd.sagemaker-triton.binary+json;json-header-size=${head.length}`, head, 74],
    ];
    for (const [type, body, at] of cases) {
      const res = await request(served.app).post('/invocations').set('Content-Type', type).serialize((b: unknown) => b as string).send(body);
      assert.equal(res.status, 400, `${type} ${body.toString('latin1')}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.code, 'ERR_JSON_PARSE');
      assert.match(res.body.message, new RegExp(`is not UTF-8: byte 0xE9 at position ${at} \\(line \\d\\) is not part of a UTF-8 character; send text as UTF-8`));
    }
    const utf8 = await request(served.app).post('/invocations').set('Content-Type', 'application/json').send('["café"]').expect(200);
    assert.deepEqual(utf8.body, ['café']);
  } finally {
    await served.close();
  }
});

test('a string holding a lone UTF-16 surrogate (JSON "\\ud800") is a 400 naming the input and element, not a 200 on U+FFFD; a surrogate pair reaches the model whole', async () => {
  const served = await serve([{ name: 't', dtype: 'string' }]);
  try {
    for (const body of ['["ok", "a\\ud800b"]', '{"instances": ["ok", "\\udc00"]}', '{"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["ok", "\\ud83d"]}]}']) {
      const res = await request(served.app).post('/invocations').set('Content-Type', 'application/json').send(body);
      assert.equal(res.status, 400, `${body}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.code, 'ERR_INPUT_VALUE');
      assert.match(res.body.message, /input "t" takes text UTF-8 can hold: element 1 holds a lone UTF-16 surrogate \(\\ud[89a-f][0-9a-f]{2}\) at character \d/);
    }
    const pair = await request(served.app).post('/invocations').set('Content-Type', 'application/json').send('["\\ud83d\\ude00"]').expect(200);
    assert.deepEqual(pair.body, ['\u{1f600}']);
  } finally {
    await served.close();
  }
});

test('an ONNX input named __proto__ reaches the model by name (TF Serving and v2 JSON), not a 500 from a feeds object whose prototype it replaced', async () => {
  const served = await serve([{ name: '__proto__', dtype: 'float32' }, { name: 'x', dtype: 'float32' }]);
  try {
    const bodies = [
      '{"inputs": {"__proto__": [2.5], "x": [1]}}',
      '{"inputs": [{"name": "__proto__", "shape": [1], "datatype": "FP32", "data": [2.5]}, {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}',
    ];
    for (const body of bodies) {
      const res = await request(served.app).post('/invocations').set('Content-Type', 'application/json').send(body);
      assert.equal(res.status, 200, `${body}: ${res.status} ${res.text.slice(0, 200)}`);
      const outputs = res.body.outputs as Record<string, unknown> | Array<{ name: string; data: unknown }>;
      const value = Array.isArray(outputs) ? outputs.find((o) => o.name === '__proto___out')?.data : outputs['__proto___out'];
      assert.deepEqual(value, [2.5], res.text);
    }
  } finally {
    await served.close();
  }
});

test('the outputs of an ONNX model reach outputFn as ordinary named tensors (hasOwnProperty, String), as decoded inputs do, an output named __proto__ among them', async () => {
  const dir = identityModelDir([{ name: '__proto__', dtype: 'float32' }, { name: 'x', dtype: 'float32' }]);
  writeFileSync(
    path.join(dir, 'code', 'inference.mjs'),
    `export function outputFn(prediction) {
  const t = prediction.tensors;
  return JSON.stringify({ own: t.hasOwnProperty('x_out'), text: String(t), names: Object.keys(t), proto: Array.from(t['__proto___out'].data) });
}
`,
  );
  const { app, close } = await serveModelInProcess(dir);
  try {
    const res = await request(app).post('/invocations').set('Content-Type', 'application/json').send('{"inputs": {"__proto__": [2.5], "x": [1]}}');
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.deepEqual(JSON.parse(res.text), { own: true, text: '[object Object]', names: ['__proto___out', 'x_out'], proto: [2.5] });
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty tensor with a dimension past 2^32 - 1 (v2 shape [0, 4294967296], NPY (4294967296, 0)) is a 400 naming the input, not ONNX Runtime\'s 500', async () => {
  // No decoded-size budget here, as for createApp without one (or SMKIT_MAX_DECODED_MB past 4 GB), which would refuse it first.
  const served = await serve([{ name: 'x', dtype: 'uint8', rank: 2 }]);
  try {
    const v2 = await request(served.app)
      .post('/invocations')
      .set('Content-Type', 'application/json')
      .send('{"inputs":[{"name":"x","shape":[0,4294967296],"datatype":"UINT8","data":[]}]}');
    assert.equal(v2.status, 400, JSON.stringify(v2.body));
    assert.equal(v2.body.code, 'ERR_INPUT_MISMATCH');
    assert.match(v2.body.message, /input "x" has shape \[0, 4294967296\]: dimension 1 is 4294967296, more than the 4294967295 ONNX Runtime takes/);
    const npy = await request(served.app)
      .post('/invocations')
      .set('Content-Type', 'application/x-npy')
      .send(encodeNpy(tensor('uint8', [2 ** 53 - 1, 0], new Uint8Array(0))));
    assert.equal(npy.status, 400, JSON.stringify(npy.body));
    assert.equal(npy.body.code, 'ERR_INPUT_MISMATCH');
    const fits = await request(served.app)
      .post('/invocations')
      .set('Content-Type', 'application/json')
      .send('{"inputs":[{"name":"x","shape":[0,4294967295],"datatype":"UINT8","data":[]}]}');
    assert.equal(fits.status, 200, JSON.stringify(fits.body));
    // Each dimension in range, but ONNX Runtime's count of [3037000500, 3037000500, 0] (in order, up
    // to the 0) passes 2^63 - 1: its SafeInt refusal was a 500 too. With the 0 first it counts none.
    const v2Of = (shape: number[]) => `{"inputs":[{"name":"x","shape":${JSON.stringify(shape)},"datatype":"UINT8","data":[]}]}`;
    const served3 = await serve([{ name: 'x', dtype: 'uint8', rank: 3 }]);
    try {
      const counted = await request(served3.app).post('/invocations').set('Content-Type', 'application/json').send(v2Of([3037000500, 3037000500, 0]));
      assert.equal(counted.status, 400, JSON.stringify(counted.body));
      assert.equal(counted.body.code, 'ERR_INPUT_MISMATCH');
      assert.match(counted.body.message, /input "x" has shape \[3037000500, 3037000500, 0\]: the product of dimensions 0 to 1 is past 2\^63 - 1, more than ONNX Runtime can count .*send smaller dimensions/);
      for (const shape of [[3037000499, 3037000499, 0], [0, 3037000500, 3037000500]]) {
        const ok = await request(served3.app).post('/invocations').set('Content-Type', 'application/json').send(v2Of(shape));
        assert.equal(ok.status, 200, `${JSON.stringify(shape)}: ${JSON.stringify(ok.body)}`);
      }
    } finally {
      await served3.close();
    }
  } finally {
    await served.close();
  }
});
