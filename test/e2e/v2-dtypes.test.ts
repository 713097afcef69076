import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { DType } from '../../src/core/tensor.js';
import { serveIdentityModel, type InProcessApp } from '../helpers/in-process-app.js';

/**
 * Every Open Inference Protocol v2 datatype sent as itself, at the edges of its range, to an
 * identity ONNX model over HTTP: as JSON "data" (64-bit integers past ±2^53 as decimal strings, both
 * ways) and as Triton binary tensor data (every byte back as sent: NaN payloads, -0, infinities).
 */

/** A supertest parser that keeps the body as bytes. */
function asBytes(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const stream = res as unknown as NodeJS.ReadableStream;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const PREFIX = 'application/vnd.sagemaker-triton.binary+json;json-header-size=';

/** Each datatype, the model input's dtype, and values at the edges of its range as JSON sends them. */
const CASES: { datatype: string; dtype: DType; sent: unknown[]; answered?: unknown[] }[] = [
  { datatype: 'BOOL', dtype: 'bool', sent: [true, false, 1, 0], answered: [true, false, true, false] },
  { datatype: 'UINT8', dtype: 'uint8', sent: [0, 255] },
  { datatype: 'UINT16', dtype: 'uint16', sent: [0, 65535] },
  { datatype: 'UINT32', dtype: 'uint32', sent: [0, 4294967295] },
  { datatype: 'UINT64', dtype: 'uint64', sent: ['18446744073709551615', '9007199254740993', 9007199254740991, 0] },
  { datatype: 'INT8', dtype: 'int8', sent: [-128, 127] },
  { datatype: 'INT16', dtype: 'int16', sent: [-32768, 32767] },
  { datatype: 'INT32', dtype: 'int32', sent: [-2147483648, 2147483647] },
  {
    datatype: 'INT64',
    dtype: 'int64',
    sent: ['-9223372036854775808', '9223372036854775807', '-9007199254740993', -9007199254740991, 0],
  },
  { datatype: 'FP16', dtype: 'float16', sent: [65504, -(2 ** -24), 0.1, -0.5], answered: [65504, -(2 ** -24), 0.0999755859375, -0.5] },
  { datatype: 'FP32', dtype: 'float32', sent: [3.4028234663852886e38, 1e-45, 0.1], answered: [3.4028234663852886e38, 1.401298464324817e-45, 0.10000000149011612] },
  { datatype: 'FP64', dtype: 'float64', sent: [1.7976931348623157e308, 5e-324, 0.1] },
  { datatype: 'BYTES', dtype: 'string', sent: ['', 'a,b', 'é😀'] },
];

const inputName = (datatype: string): string => `x_${datatype.toLowerCase()}`;

describe('v2 datatypes end to end (identity ONNX model of one input per dtype)', () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel(CASES.map((c) => ({ name: inputName(c.datatype), dtype: c.dtype })));
  });
  after(() => served?.close());

  const post = (body: Buffer, contentType: string) =>
    request(served.app).post('/invocations').set('Content-Type', contentType).serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(body);

  test('JSON "data": each datatype comes back as itself with its values; 64-bit integers past ±2^53 stay exact, as integer literals', async () => {
    const inputs = CASES.map((c) => ({ name: inputName(c.datatype), shape: [c.sent.length], datatype: c.datatype, data: c.sent }));
    const res = await post(Buffer.from(JSON.stringify({ id: 'dtypes', inputs })), 'application/json').expect(200);
    assert.equal(res.headers['content-type'], 'application/json');
    const answer = JSON.parse((res.body as Buffer).toString()) as { id: string; outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[] };
    assert.equal(answer.id, 'dtypes');
    const byName = new Map(answer.outputs.map((o) => [o.name, o]));
    for (const c of CASES) {
      const out = byName.get(`${inputName(c.datatype)}_out`);
      assert.ok(out, c.datatype);
      assert.equal(out.datatype, c.datatype);
      assert.deepEqual(out.shape, [c.sent.length], c.datatype);
      if (c.dtype === 'int64' || c.dtype === 'uint64') {
        // 64-bit integers are exact integer literals, as Triton writes them (JSON.parse here rounds those past ±2^53).
        assert.ok((res.body as Buffer).toString().includes(`"datatype":"${c.datatype}","data":[${c.sent.join(',')}]`), c.datatype);
      } else assert.deepEqual(out.data, c.answered ?? c.sent, c.datatype);
    }
    // The answer's text is a request again (outputs as inputs): each output's data decodes to the same values, literal for literal.
    const text = (res.body as Buffer).toString();
    const outputs = text.slice(text.indexOf('"outputs":') + '"outputs":'.length, -1);
    const again = await post(Buffer.from(`{"inputs":${outputs.replace(/"name":"(x_[a-z0-9]+)_out"/g, '"name":"$1"')}}`), 'application/json').expect(200);
    const againText = (again.body as Buffer).toString();
    assert.equal(againText.slice(againText.indexOf('"outputs":')), text.slice(text.indexOf('"outputs":')));
  });

  test('a batch of no rows in TF Serving JSON ([] has no element type, so it decodes as float64) reaches every input, the BYTES one included', async () => {
    const inputs = Object.fromEntries(CASES.map((c) => [inputName(c.datatype), []]));
    const res = await post(Buffer.from(JSON.stringify({ inputs })), 'application/json');
    assert.equal(res.status, 200, (res.body as Buffer).toString());
    const outputs = JSON.parse((res.body as Buffer).toString()).outputs as Record<string, unknown>;
    assert.deepEqual(outputs, Object.fromEntries(CASES.map((c) => [`${inputName(c.datatype)}_out`, []])));
  });

  test('an empty input keeps its stated datatype, as Triton keeps it: v2 FP32 with data [] to the BYTES input, or BYTES [] to the FP32 one, is a 400', async () => {
    for (const [to, stated] of [['BYTES', 'FP32'], ['FP32', 'BYTES']] as const) {
      const inputs = CASES.map((c) => ({ name: inputName(c.datatype), shape: [0], datatype: c.datatype === to ? stated : c.datatype, data: [] }));
      const res = await post(Buffer.from(JSON.stringify({ inputs })), 'application/json');
      const body = JSON.parse((res.body as Buffer).toString()) as { code: string; message: string };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.code, 'ERR_INPUT_VALUE');
      assert.match(body.message, new RegExp(`input "${inputName(to)}" takes`));
    }
    // Each stated as itself, the empty inputs are answered.
    const inputs = CASES.map((c) => ({ name: inputName(c.datatype), shape: [0], datatype: c.datatype, data: [] }));
    await post(Buffer.from(JSON.stringify({ inputs })), 'application/json').expect(200);
  });

  test('binary tensor data: every datatype comes back byte for byte (NaN payloads, -0, infinities, 64-bit extremes); BOOL bytes as 0 or 1', async () => {
    const sent: Record<string, Buffer> = {
      BOOL: Buffer.from([1, 0, 2, 255]),
      UINT8: Buffer.from([0, 255]),
      UINT16: Buffer.from(Uint16Array.of(0, 65535).buffer),
      UINT32: Buffer.from(Uint32Array.of(0, 4294967295).buffer),
      UINT64: Buffer.from(BigUint64Array.of(18446744073709551615n, 9007199254740993n).buffer),
      INT8: Buffer.from(Int8Array.of(-128, 127).buffer),
      INT16: Buffer.from(Int16Array.of(-32768, 32767).buffer),
      INT32: Buffer.from(Int32Array.of(-2147483648, 2147483647).buffer),
      INT64: Buffer.from(BigInt64Array.of(-9223372036854775808n, 9223372036854775807n).buffer),
      // FP16: 65504, the smallest subnormal, -0, +inf and a NaN with a payload.
      FP16: Buffer.from(Uint16Array.of(0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e01).buffer),
      FP32: Buffer.from(Uint32Array.of(0x7f7fffff, 0x00000001, 0x80000000, 0xff800000, 0x7fc00001).buffer),
      FP64: Buffer.from(BigUint64Array.of(0x7fefffffffffffffn, 1n, 0x8000000000000000n, 0x7ff0000000000000n, 0x7ff8000000000001n).buffer),
      BYTES: Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from([3, 0, 0, 0]), Buffer.from('a,b'), Buffer.from([2, 0, 0, 0, 0xff, 0xfe])]),
    };
    const itemSize: Record<string, number> = { BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8 };
    const count = (datatype: string): number => (datatype === 'BYTES' ? 3 : sent[datatype]!.length / itemSize[datatype]!);
    const head = Buffer.from(
      JSON.stringify({
        inputs: CASES.map((c) => ({ name: inputName(c.datatype), shape: [count(c.datatype)], datatype: c.datatype, parameters: { binary_data_size: sent[c.datatype]!.length } })),
        parameters: { binary_data_output: true },
      }),
    );
    const res = await post(Buffer.concat([head, ...CASES.map((c) => sent[c.datatype]!)]), `${PREFIX}${head.length}`);
    assert.equal(res.status, 200, (res.body as Buffer).toString());
    const contentType = res.headers['content-type'] as string;
    assert.ok(contentType.startsWith(PREFIX), contentType);
    const body = res.body as Buffer;
    const headerLength = Number(contentType.slice(PREFIX.length));
    const answer = JSON.parse(body.subarray(0, headerLength).toString()) as { outputs: { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[] };
    let at = headerLength;
    const back = new Map<string, Buffer>();
    for (const o of answer.outputs) {
      assert.equal(o.datatype, o.name === 'x_bool_out' ? 'BOOL' : o.name.slice(2, -4).toUpperCase(), o.name);
      back.set(o.datatype, body.subarray(at, (at += o.parameters.binary_data_size)));
      assert.deepEqual(o.shape, [count(o.datatype)], o.name);
    }
    assert.equal(at, body.length);
    for (const c of CASES) {
      // numpy's bool is any non-zero byte; smkit feeds the model 0 or 1.
      const expected = c.datatype === 'BOOL' ? Buffer.from([1, 0, 1, 1]) : sent[c.datatype]!;
      assert.deepEqual(back.get(c.datatype), expected, c.datatype);
    }
  });

  test('"outputs" naming one output is honoured in every answer type: CSV, NPY, JSON lines and raw bytes hold that output alone, not a 406 naming all 13', async () => {
    const inputs = CASES.map((c) => ({ name: inputName(c.datatype), shape: [c.sent.length], datatype: c.datatype, data: c.sent }));
    const ask = (outputs: string[], accept: string) =>
      post(Buffer.from(JSON.stringify({ inputs, outputs: outputs.map((name) => ({ name })) })), 'application/json').set('Accept', accept);
    const csv = await ask(['x_int64_out'], 'text/csv').expect(200);
    assert.equal((csv.body as Buffer).toString(), '-9223372036854775808\n9223372036854775807\n-9007199254740993\n-9007199254740991\n0\n');
    const npy = await ask(['x_uint16_out'], 'application/x-npy').expect(200);
    assert.match((npy.body as Buffer).subarray(0, 64).toString('latin1'), /'descr': '<u2'.*'shape': \(2,\)/);
    assert.deepEqual([...(npy.body as Buffer).subarray(-4)], [0, 0, 0xff, 0xff]);
    const raw = await ask(['x_fp32_out'], 'application/octet-stream').expect(200);
    assert.equal((raw.body as Buffer).length, 12);
    const lines = await ask(['x_int8_out', 'x_uint8_out'], 'application/jsonlines').expect(200);
    assert.equal((lines.body as Buffer).toString(), '{"x_int8_out":-128,"x_uint8_out":0}\n{"x_int8_out":127,"x_uint8_out":255}\n');
    // Two outputs asked for in a type of one array is still the 406, naming those two.
    const two = await ask(['x_int8_out', 'x_fp16_out'], 'text/csv').expect(406);
    assert.match(JSON.parse((two.body as Buffer).toString()).message as string, /text\/csv holds one array but the prediction has 2 outputs \('x_int8_out', 'x_fp16_out'\)/);
    // An output the model does not have is the same 400 as in v2 JSON.
    const nope = await ask(['nope'], 'text/csv').expect(400);
    assert.match(JSON.parse((nope.body as Buffer).toString()).message as string, /Requested output\(s\) "nope" do not exist/);
  });

  test('a v2 request of several outputs asked for in a type of one array is a 406 that says it can name one in "outputs"', async () => {
    const inputs = CASES.map((c) => ({ name: inputName(c.datatype), shape: [c.sent.length], datatype: c.datatype, data: c.sent }));
    for (const accept of ['text/csv', 'application/x-npy', 'application/octet-stream']) {
      const res = await post(Buffer.from(JSON.stringify({ inputs })), 'application/json').set('Accept', accept).expect(406);
      const body = JSON.parse((res.body as Buffer).toString()) as { code: string; message: string; outputs: string[]; error: string };
      assert.equal(body.code, 'ERR_NOT_ACCEPTABLE');
      assert.match(body.message, new RegExp(`^${accept.replace('/', '\\/')} holds one array but the prediction has ${CASES.length} outputs \\(.*\\); ask for application/json \\(Accept header\\), or select one output in the pipeline, or name one in the v2 request's "outputs" \\(such as \\[\\{"name":"x_[a-z0-9]+_out"\\}\\]\\)$`));
      assert.equal(body.outputs.length, CASES.length);
      assert.equal(body.error, body.message);
    }
  });
});

describe('BF16 (identity ONNX model of one float32 input: no runtime here takes bfloat16)', () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel([{ name: 'x', dtype: 'float32' }]);
  });
  after(() => served?.close());

  const post = (body: Buffer, contentType: string) =>
    request(served.app).post('/invocations').set('Content-Type', contentType).serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(body);

  test('binary BF16 reaches the input as the float32 of the same value (its bits the top half), answered as FP32', async () => {
    const bf16 = Buffer.from(Uint16Array.of(0x3f80, 0xc049, 0x7f80, 0x8000).buffer); // 1, -3.140625, +inf, -0
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [4], datatype: 'BF16', parameters: { binary_data_size: 8 } }], outputs: [{ name: 'x_out', parameters: { binary_data: true } }] }));
    const res = await post(Buffer.concat([head, bf16]), `${PREFIX}${head.length}`).expect(200);
    const headerLength = Number((res.headers['content-type'] as string).slice(PREFIX.length));
    const body = res.body as Buffer;
    assert.deepEqual(JSON.parse(body.subarray(0, headerLength).toString()).outputs, [{ name: 'x_out', shape: [4], datatype: 'FP32', parameters: { binary_data_size: 16 } }]);
    assert.deepEqual(body.subarray(headerLength), Buffer.from(Uint32Array.of(0x3f800000, 0xc0490000, 0x7f800000, 0x80000000).buffer));
  });

  test('JSON BF16 values are rounded to bfloat16 (ties to even) and answered as FP32; one past its range is a 400 naming it', async () => {
    const json = (data: unknown[]) => Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [data.length], datatype: 'BF16', data }] }));
    const res = await post(json([0.1, 1.00390625, 1.01171875]), 'application/json').expect(200);
    // 0.1 → 0x3dcd; 1 + 2^-8 is a tie between 1 and 1 + 2^-7 (even: 1); 1 + 3·2^-8 a tie that goes up to 1 + 2^-6.
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()).outputs, [{ name: 'x_out', shape: [3], datatype: 'FP32', data: [0.10009765625, 1, 1.015625] }]);
    const refused = await post(json([3.4e38]), 'application/json').expect(400);
    assert.match(JSON.parse((refused.body as Buffer).toString()).error as string, /input 'x': data\[0\] is 3\.4e\+38 but datatype BF16 needs values in the BF16 range/);
  });
});
