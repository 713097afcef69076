import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import type { DecodedRequest, SoleInput, TypedBody } from './codec.js';
import { createDefaultCodecs } from './defaults.js';
import { TRITON_BINARY_TYPE, tritonBinaryCodec } from './triton-binary.js';

/**
 * A body as tritonclient's `InferenceServerClient.generate_request_body` writes it: the JSON
 * request (`rapidjson.dumps`, so ASCII), then each binary input's bytes in input order
 * (`tobytes()` for numbers, `serialize_byte_tensor` for BYTES: a little-endian uint32 length, then
 * the bytes, per element). Its second value is what the client puts after `json-header-size=`.
 */
function tritonRequest(request: object, ...binaries: Buffer[]): [Buffer, number] {
  const json = Buffer.from(JSON.stringify(request), 'utf8');
  return [Buffer.concat([json, ...binaries]), json.length];
}

function bytesElements(...items: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    items.flatMap((s) => {
      const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

/** The three inputs of AWS's Triton-on-SageMaker examples' kind: FP32 [1, 3], INT64 [2], BYTES [2]. */
function threeInputs(extra: object = {}): [Buffer, number] {
  const fp32 = Buffer.alloc(12);
  [1.5, -2.25, 3e-8].forEach((v, i) => fp32.writeFloatLE(v, 4 * i));
  const int64 = Buffer.alloc(16);
  int64.writeBigInt64LE(-9007199254740993n, 0);
  int64.writeBigInt64LE(42n, 8);
  const strings = bytesElements('héllo', '');
  return tritonRequest(
    {
      inputs: [
        { name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
        { name: 'ids', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
        { name: 'text', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: strings.length } },
      ],
      ...extra,
    },
    fp32,
    int64,
    strings,
  );
}

const decode = (body: Buffer, size: number | string | undefined): DecodedRequest =>
  tritonBinaryCodec.decode!(body, size === undefined ? {} : { 'json-header-size': String(size) });

/**
 * Reads an answer as tritonclient's `InferResult` does (`parse_response_body(body, header_length)`):
 * the JSON header, then each output with `binary_data_size` takes its bytes in output order.
 */
function parseResponse(answer: TypedBody): Record<string, { shape: number[]; datatype: string; data?: unknown[]; bytes?: Buffer }> {
  const m = /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=(\d+)$/.exec(answer.contentType);
  const headerLength = m ? Number(m[1]) : answer.body.length;
  const result = JSON.parse(answer.body.subarray(0, headerLength).toString('utf8')) as { outputs: { name: string; shape: number[]; datatype: string; data?: unknown[]; parameters?: { binary_data_size?: number } }[] };
  let at = headerLength;
  const out: ReturnType<typeof parseResponse> = {};
  for (const o of result.outputs) {
    const size = o.parameters?.binary_data_size;
    out[o.name] = { shape: o.shape, datatype: o.datatype, ...(size === undefined ? { data: o.data } : { bytes: answer.body.subarray(at, (at += size)) }) };
  }
  assert.equal(at, answer.body.length, 'the binary outputs fill the rest of the body');
  return out;
}

test('tritonclient-style body: FP32, INT64 and BYTES inputs decode to their values, in input order', () => {
  const [body, size] = threeInputs();
  const r = decode(body, size);
  assert.equal(r.form, 'v2');
  assert.deepEqual(r.tensors['x'], { dtype: 'float32', shape: [1, 3], data: Float32Array.of(1.5, -2.25, 3e-8) });
  assert.deepEqual(r.tensors['ids'], { dtype: 'int64', shape: [2], data: BigInt64Array.of(-9007199254740993n, 42n) });
  assert.deepEqual(r.tensors['text'], { dtype: 'string', shape: [2], data: ['héllo', ''] });
  // The registry finds it by the full Content-Type tritonclient users send.
  const viaRegistry = createDefaultCodecs().decode(`${TRITON_BINARY_TYPE};json-header-size=${size}`, body);
  assert.deepEqual(viaRegistry.tensors, r.tensors);
});

test('BOOL is one byte per element, BF16 the top half of a float32, FP16 its bits; JSON "data" inputs may sit beside binary ones', () => {
  const bf16 = Buffer.alloc(4);
  bf16.writeUInt16LE(0x3fc0, 0); // 1.5
  bf16.writeUInt16LE(0xc080, 2); // -4
  const fp16 = Buffer.alloc(2);
  fp16.writeUInt16LE(0x3e00); // 1.5
  const [body, size] = tritonRequest(
    {
      inputs: [
        { name: 'b', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
        { name: 'j', shape: [2], datatype: 'INT32', data: [7, -7] },
        { name: 'bf', shape: [2], datatype: 'BF16', parameters: { binary_data_size: 4 } },
        { name: 'h', shape: [1], datatype: 'FP16', parameters: { binary_data_size: 2 } },
        { name: 'e', shape: [0, 5], datatype: 'FP64', parameters: { binary_data_size: 0 } },
      ],
    },
    Buffer.from([1, 0, 2]),
    bf16,
    fp16,
  );
  const t = decode(body, size).tensors;
  assert.deepEqual(t['b']!.data, Uint8Array.of(1, 0, 1));
  assert.deepEqual(t['j']!.data, Int32Array.of(7, -7));
  assert.deepEqual(t['bf'], { dtype: 'float32', shape: [2], data: Float32Array.of(1.5, -4) });
  assert.deepEqual(t['h'], { dtype: 'float16', shape: [1], data: Uint16Array.of(0x3e00) });
  assert.deepEqual(t['e'], { dtype: 'float64', shape: [0, 5], data: new Float64Array(0) });
});

test('answers: binary outputs as asked (per output, or binary_data_output), the JSON header size in the Content-Type', () => {
  const outputs = { y: { dtype: 'float32' as const, shape: [2], data: Float32Array.of(0.25, -1) }, s: { dtype: 'string' as const, shape: [1], data: ['ok'] } };
  const answer = (extra: object) => {
    const [body, size] = threeInputs(extra);
    return tritonBinaryCodec.encodeAnswer(outputs, { request: decode(body, size), modelName: 'm' });
  };

  // InferRequestedOutput(name, binary_data=True) for y, binary_data=False for s.
  const perOutput = answer({ outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 's', parameters: { binary_data: false } }] });
  assert.match(perOutput.contentType, /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=\d+$/);
  const read = parseResponse(perOutput);
  assert.deepEqual([...new Float32Array(new Uint8Array(read['y']!.bytes!).buffer)], [0.25, -1]);
  assert.deepEqual(read['s'], { shape: [1], datatype: 'BYTES', data: ['ok'] });

  // No "outputs": tritonclient sets binary_data_output, and every output comes as binary data.
  const all = parseResponse(answer({ parameters: { binary_data_output: true } }));
  assert.deepEqual(all['s']!.bytes, bytesElements('ok'));
  assert.equal(all['y']!.bytes!.length, 8);

  // Nothing asked as binary: a plain v2 JSON answer, as Triton gives.
  const json = answer({});
  assert.equal(json.contentType, 'application/json');
  assert.deepEqual(JSON.parse(json.body.toString()).outputs[0], { name: 'y', shape: [2], datatype: 'FP32', data: [0.25, -1] });
});

test('BYTES elements that are not UTF-8 come back as the same bytes when echoed (to a copy of the strings too), UTF-8 ones as their UTF-8', () => {
  // 0xff and a lone 0xc3 are not UTF-8; 'ÿ' sent as UTF-8 (c3 bf) beside them is text, and an element equal to it stays UTF-8.
  const elements = bytesElements(Buffer.of(0xff, 0x00, 0xc3), 'héllo', Buffer.of(0x89, 0x50, 0x4e, 0x47), 'plain', '');
  const [body, size] = tritonRequest(
    { inputs: [{ name: 'b', shape: [5], datatype: 'BYTES', parameters: { binary_data_size: elements.length } }], parameters: { binary_data_output: true } },
    elements,
  );
  const request = decode(body, size);
  const strings = request.tensors['b']!.data as string[];
  assert.equal(strings[0], '\u00ff\u0000\u00c3');
  // The model gets new arrays of equal strings back (an identity ONNX model does): they are matched by value.
  const echo = tritonBinaryCodec.encodeAnswer({ b: { dtype: 'string', shape: [5], data: [...strings] } }, { request });
  assert.deepEqual(parseResponse(echo)['b']!.bytes, elements);

  const mixed = bytesElements(Buffer.of(0xff), 'ÿ');
  const [body2, size2] = tritonRequest({ inputs: [{ name: 'b', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: mixed.length } }], parameters: { binary_data_output: true } }, mixed);
  const request2 = decode(body2, size2);
  // The same string came both ways: which bytes an output equal to it stands for is unknown, so UTF-8 as before.
  const answer2 = tritonBinaryCodec.encodeAnswer(request2.tensors, { request: request2 });
  assert.deepEqual(parseResponse(answer2)['b']!.bytes, bytesElements('ÿ', 'ÿ'));
  // Text a model makes is written as UTF-8 whatever the request carried.
  const made = tritonBinaryCodec.encodeAnswer({ b: { dtype: 'string', shape: [1], data: ['\u00e9'] } }, { request });
  assert.deepEqual(parseResponse(made)['b']!.bytes, bytesElements('é'));
});

test("json-header-size=0 (Triton's raw request): the body is the data of the model's only input, its shape from the model's, and every output comes back binary", () => {
  const raw = (body: Buffer, soleInput: SoleInput) => tritonBinaryCodec.decode!(body, { 'json-header-size': '0' }, undefined, { soleInput });
  const fp32 = Buffer.alloc(24);
  [1, 2, 3, 4, 5, 6].forEach((v, i) => fp32.writeFloatLE(v, 4 * i));
  // Triton's own example: 16 bytes; here a [-1, 3] FP32 input takes 24 bytes as 2 rows of 3.
  const rows = raw(fp32, { name: 'x', dtype: 'float32', shape: ['N', 3] });
  assert.deepEqual(rows.tensors['x'], { dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
  assert.equal(rows.form, 'v2');
  assert.equal(rows.binaryOutputs?.all, true);
  // Two dynamic dimensions: the first is the batch axis, 1, as Triton reads a raw request as a batch of one.
  assert.deepEqual(raw(fp32, { name: 'x', dtype: 'float32', shape: [-1, -1] }).tensors['x']!.shape, [1, 6]);
  assert.deepEqual(raw(fp32, { name: 'x', dtype: 'float32', shape: [2, 3] }).tensors['x']!.shape, [2, 3]);
  const ids = Buffer.alloc(8);
  ids.writeBigInt64LE(-(2n ** 63n));
  assert.deepEqual(raw(ids, { name: 'ids', dtype: 'int64', shape: [-1] }).tensors['ids']!.data, BigInt64Array.of(-(2n ** 63n)));
  assert.deepEqual(raw(Buffer.of(0, 7), { name: 'b', dtype: 'bool', shape: [-1] }).tensors['b']!.data, Uint8Array.of(0, 1));
  // BYTES: the whole body is one element (Triton prepends its length itself), and non-UTF-8 bytes go back as sent.
  const png = Buffer.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a);
  const bytes = raw(png, { name: 'image', dtype: 'string', shape: [-1] });
  assert.deepEqual(bytes.tensors['image']!.shape, [1]);
  const echo = parseResponse(tritonBinaryCodec.encodeAnswer({ out: bytes.tensors['image']! }, { request: bytes }));
  assert.deepEqual(echo['out']!.bytes, bytesElements(png));
  assert.deepEqual(raw(Buffer.alloc(0), { name: 'x', dtype: 'float32', shape: [-1, 4] }).tensors['x']!.shape, [0, 4]);

  const mismatch = (body: Buffer, soleInput: SoleInput, message: RegExp) =>
    assert.throws(
      () => raw(body, soleInput),
      (e: unknown) => e instanceof ToolkitError && e.status === 400 && e.code === 'ERR_INPUT_MISMATCH' && message.test(e.message) && e.details?.['error'] === e.message,
      String(message),
    );
  mismatch(fp32.subarray(0, 20), { name: 'x', dtype: 'float32', shape: [-1, 3] }, /input 'x' \(a raw request, json-header-size=0\): the body's 20 bytes are not a whole number of FP32 slices of the model's input shape \[-1, 3\] \(12 bytes each\)/);
  mismatch(fp32, { name: 'x', dtype: 'float32', shape: [1, 3] }, /shape \[1, 3\] of FP32 needs 12 bytes, but the body has 24/);
  mismatch(fp32, { name: 'x', dtype: 'float32', shape: [-1, -1, -1] }, /more than two dynamic dimensions/);
  mismatch(png, { name: 's', dtype: 'string', shape: [2] }, /one BYTES element, but the model's input shape \[2\] holds more/);
  mismatch(Buffer.of(1), { name: 'x', dtype: 'float32', shape: [-1, 0] }, /1 bytes are not a whole number/);
  // The budget holds before anything is allocated.
  assert.throws(() => tritonBinaryCodec.decode!(fp32, { 'json-header-size': '0' }, { maxDecodedBytes: 10 }, { soleInput: { name: 'x', dtype: 'float32', shape: [-1] } }), { code: 'ERR_DECODED_TOO_LARGE' });
});

test("outputs asked for with Triton's \"classification\": k come back as the top k \"<value>:<index>\" strings per row, in JSON or as binary data", () => {
  const outputs = {
    // Triton's own example: [1.1, 3.3, 0.5, 2.4] with classification 2 gives ["3.3:1", "2.4:3"] (Triton prints the floats with std::to_string).
    output0: { dtype: 'float32' as const, shape: [4], data: Float32Array.of(1.1, 3.3, 0.5, 2.4) },
    rows: { dtype: 'int64' as const, shape: [2, 3], data: BigInt64Array.of(5n, -(2n ** 63n), 9n, 7n, 7n, 1n) },
    nan: { dtype: 'float64' as const, shape: [1, 3], data: Float64Array.of(NaN, -0.5, -Infinity) },
  };
  const classify = (requested: object[], extra: object = {}) => {
    const [body, size] = threeInputs({ outputs: requested, ...extra });
    return tritonBinaryCodec.encodeAnswer(outputs, { request: decode(body, size) });
  };
  const json = parseResponse(classify([{ name: 'output0', parameters: { classification: 2 } }, { name: 'rows', parameters: { classification: 5 } }, { name: 'nan', parameters: { classification: 3 } }]));
  assert.deepEqual(json['output0'], { shape: [2], datatype: 'BYTES', data: ['3.300000:1', '2.400000:3'] });
  // The first axis of a rank-2 output is its rows; k past the class count gives them all; ties by index.
  assert.deepEqual(json['rows'], { shape: [2, 3], datatype: 'BYTES', data: ['9:2', '5:0', '-9223372036854775808:1', '7:0', '7:1', '1:2'] });
  assert.deepEqual(json['nan'], { shape: [1, 3], datatype: 'BYTES', data: ['-0.500000:1', '-inf:2', 'nan:0'] });
  // 0 is no classification, as in Triton; binary_data applies to the classification strings.
  const answer = classify([{ name: 'output0', parameters: { classification: 1, binary_data: true } }, { name: 'rows', parameters: { classification: 0 } }]);
  const binary = parseResponse(answer);
  assert.deepEqual(binary['output0'], { shape: [1], datatype: 'BYTES', bytes: bytesElements('3.300000:1') });
  // INT64 data as Triton writes it: exact integer literals, past 2^53 too.
  assert.match(answer.body.toString('latin1'), /"name":"rows","shape":\[2,3\],"datatype":"INT64","data":\[5,-9223372036854775808,9,7,7,1\]/);

  for (const bad of [-1, 1.5, '2', true]) {
    assert.throws(() => classify([{ name: 'output0', parameters: { classification: bad } }]), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_JSON_PARSE' && /"classification" must be a non-negative integer/.test(e.message), String(bad));
  }
  assert.throws(
    () => tritonBinaryCodec.encodeAnswer({ b: { dtype: 'bool', shape: [2], data: Uint8Array.of(0, 1) } }, { request: decode(...threeInputs({ outputs: [{ name: 'b', parameters: { classification: 1 } }] })) }),
    (e: unknown) => e instanceof ToolkitError && e.status === 400 && /output 'b' is BOOL, which cannot be classified/.test(e.message),
  );
  // As Triton, a row of more than a million values is not ranked; several rows of fewer are.
  const ranked = (shape: number[]) => tritonBinaryCodec.encodeAnswer({ y: { dtype: 'uint8', shape, data: new Uint8Array(shape[0]! * shape[1]!) } }, { request: decode(...threeInputs({ outputs: [{ name: 'y', parameters: { classification: 1 } }] })) });
  assert.throws(() => ranked([1, 1_000_001]), (e: unknown) => e instanceof ToolkitError && e.status === 400 && /1000001 values per row, more than the 1000000/.test(e.message));
  assert.deepEqual(parseResponse(ranked([3, 500_000]))['y'], { shape: [3, 1], datatype: 'BYTES', data: ['0:0', '0:0', '0:0'] });
});

test('hostile bodies: each a 400 ERR_JSON_PARSE with an {"error"} member saying what is wrong', () => {
  const [good, size] = threeInputs();
  const refuse = (body: Buffer, headerSize: number | string | undefined, message: RegExp) =>
    assert.throws(
      () => decode(body, headerSize),
      (e: unknown) => e instanceof ToolkitError && e.status === 400 && e.code === 'ERR_JSON_PARSE' && message.test(e.message) && e.details?.['error'] === e.message,
      `${String(headerSize)} → ${message}`,
    );
  const withInputs = (inputs: object[], ...bin: Buffer[]) => tritonRequest({ inputs }, ...bin);

  refuse(good, undefined, /needs the json-header-size parameter/);
  refuse(good, 'None', /json-header-size=None is not a byte count/);
  refuse(good, '-5', /json-header-size=-5 is not a byte count/);
  refuse(good, '1e3', /is not a byte count/);
  refuse(good, '0', /json-header-size=0 \(Triton's raw request.*needs a model of exactly one input/);
  refuse(good, good.length + 1, /is more than the body's \d+ bytes/);
  refuse(good, '9'.repeat(400), /is more than the body's/);
  refuse(good, size - 1, /not valid JSON/);
  refuse(good, size + 1, /not valid JSON/);
  refuse(good.subarray(0, good.length - 1), size, /input 'text': binary_data_size 14 runs past the end of the body: 13 bytes are left/);
  refuse(Buffer.concat([good, Buffer.of(0)]), size, /1 bytes follow the JSON header beyond the inputs' binary_data_size \(42 bytes in all\)/);
  refuse(...tritonRequest([1, 2]), /not a v2 inference request/);

  const f = Buffer.alloc(8);
  refuse(...withInputs([{ name: 'x', shape: [3], datatype: 'FP32', parameters: { binary_data_size: 8 } }], f), /shape \[3\] of FP32 needs 12 bytes \(3 elements × 4\) but binary_data_size is 8/);
  refuse(...withInputs([{ name: 'x', shape: [2 ** 40, 2 ** 40], datatype: 'INT64', parameters: { binary_data_size: 8 } }], f), /needs [\d.e+]+ bytes/);
  refuse(...withInputs([{ name: 'x', shape: [-2], datatype: 'FP32', parameters: { binary_data_size: 8 } }], f), /non-negative integers/);
  refuse(...withInputs([{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: -8 } }], f), /"binary_data_size" must be a non-negative integer/);
  refuse(...withInputs([{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: '8' } }], f), /"binary_data_size" must be a non-negative integer/);
  refuse(...withInputs([{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 1e300 } }], f), /must be a non-negative integer|runs past the end/);
  refuse(...withInputs([{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2], parameters: { binary_data_size: 8 } }], f), /sets both "data" and "binary_data_size"/);
  refuse(...withInputs([{ name: 'x', shape: [2], datatype: 'FP32' }]), /"data" is missing \(and no "binary_data_size"/);
  // BYTES: a length past the input's bytes, more elements than could fit, bytes left over.
  const past = Buffer.from([200, 0, 0, 0, 1, 2]);
  refuse(...withInputs([{ name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 6 } }], past), /BYTES element 0 claims 200 bytes but only 2 are left/);
  refuse(...withInputs([{ name: 's', shape: [1e12], datatype: 'BYTES', parameters: { binary_data_size: 6 } }], past), /1000000000000 BYTES elements, which need at least 4000000000000 bytes/);
  refuse(...withInputs([{ name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 9 } }], bytesElements('a', 'b')), /1 BYTES elements, which end after 5 bytes, but binary_data_size is 9/);
  refuse(...withInputs([{ name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 9 } }], Buffer.concat([bytesElements('ab'), Buffer.of(1, 0, 0)])), /BYTES element 1's 4-byte length runs past/);
  // Output choices must be booleans, as Triton reads them.
  refuse(...tritonRequest({ inputs: [{ name: 'x', shape: [0], datatype: 'FP32', parameters: { binary_data_size: 0 } }], outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }), /"binary_data" must be true or false/);
  refuse(...tritonRequest({ inputs: [{ name: 'x', shape: [0], datatype: 'FP32', parameters: { binary_data_size: 0 } }], parameters: { binary_data_output: 1 } }), /"binary_data_output" must be true or false/);
});

test('the decoded-size budget holds (413), and nothing is allocated before the sizes are checked', () => {
  const strings = bytesElements(...Array.from({ length: 1000 }, () => 'x'.repeat(100)));
  const [body, size] = tritonRequest({ inputs: [{ name: 's', shape: [1000], datatype: 'BYTES', parameters: { binary_data_size: strings.length } }] }, strings);
  assert.throws(
    () => tritonBinaryCodec.decode!(body, { 'json-header-size': String(size) }, { maxDecodedBytes: 100_000 }),
    // Refused by the input's own check, before its strings are built.
    (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413 && /the binary data of input 's'/.test(e.message),
  );
  assert.equal(tritonBinaryCodec.decode!(body, { 'json-header-size': String(size) }, { maxDecodedBytes: 1_000_000 }).tensors['s']!.data.length, 1000);
  // Distinct elements that are not UTF-8 are remembered (to write them back as their bytes): that memory is charged too.
  const binary = bytesElements(...Array.from({ length: 1000 }, (_, i) => Buffer.of(0xff, i & 0xff, i >> 8)));
  const [remembered, rememberedSize] = tritonRequest({ inputs: [{ name: 's', shape: [1000], datatype: 'BYTES', parameters: { binary_data_size: binary.length } }] }, binary);
  assert.throws(() => tritonBinaryCodec.decode!(remembered, { 'json-header-size': String(rememberedSize) }, { maxDecodedBytes: 30_000 }), { code: 'ERR_DECODED_TOO_LARGE' });
  assert.equal(tritonBinaryCodec.decode!(remembered, { 'json-header-size': String(rememberedSize) }, { maxDecodedBytes: 60_000 }).binaryStrings?.size, 1000);
  // Numbers: the inputs together, each checked before it is allocated.
  const floats = Buffer.alloc(40_000);
  const [two, twoSize] = tritonRequest(
    { inputs: ['a', 'b'].map((name) => ({ name, shape: [5000], datatype: 'FP32', parameters: { binary_data_size: 20_000 } })) },
    floats,
  );
  assert.throws(
    () => tritonBinaryCodec.decode!(two, { 'json-header-size': String(twoSize) }, { maxDecodedBytes: 30_000 }),
    (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DECODED_TOO_LARGE' && /the binary data of input 'b'/.test(e.message),
  );
});
