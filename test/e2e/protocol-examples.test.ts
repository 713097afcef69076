import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import request from 'supertest';
import { zipSync } from 'fflate';
import { identityModelDir } from '../helpers/identity-model.js';
import { serveIdentityModel, serveModelInProcess, type InProcessApp } from '../helpers/in-process-app.js';

/**
 * The request and response examples of the specifications smkit speaks, sent over HTTP to identity
 * ONNX models (each output `<name>_out` is its input), with the exact answers:
 * - Open Inference Protocol / KServe v2 REST (kserve/open-inference-protocol, inference_rest.md):
 *   the inference request example and its nested "data" form;
 * - Triton's binary tensor data extension (docs/protocol/extension_binary_data.md), in the
 *   Content-Type Triton takes it as on SageMaker;
 * - TensorFlow Serving's REST API (tensorflow_serving/g3doc/api_rest.md): the row and columnar
 *   formats, {"b64"} values, the JSON conformance NaN/Infinity example, half_plus_three's call;
 * - NumPy's .npy format (numpy/lib/format.py): versions 1.0, 2.0 and 3.0, fortran_order,
 *   big-endian data, '|b1' and '<U' arrays, object arrays refused, and np.save's own bytes back.
 */

/** A supertest parser that keeps the body as bytes. */
function asBytes(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const stream = res as unknown as NodeJS.ReadableStream;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const post = (served: InProcessApp, body: string | Buffer, contentType = 'application/json') =>
  request(served.app).post('/invocations').set('Content-Type', contentType).serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(body);

describe('Open Inference Protocol v2 and Triton binary data: the specifications\' examples (identity model of UINT32 input0 [2, 2] and BOOL input1 [3])', () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel([
      { name: 'input0', dtype: 'uint32', rank: 2 },
      { name: 'input1', dtype: 'bool', rank: 1 },
    ]);
  });
  after(() => served?.close());

  const request42 = (input1: unknown[]) => ({
    id: '42',
    inputs: [
      { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
      { name: 'input1', shape: [3], datatype: 'BOOL', data: input1 },
    ],
    outputs: [{ name: 'input0_out' }],
  });

  test('the inference request example: "id" echoed, only the requested output, flat row-major data', async () => {
    const res = await post(served, JSON.stringify(request42([true, false, true]))).expect(200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()), {
      model_name: 'onnx',
      id: '42',
      outputs: [{ name: 'input0_out', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] }],
    });
  });

  test('as printed, the example gives input1 shape [3] but one value: a 400 with the protocol\'s "error" saying so', async () => {
    const res = await post(served, JSON.stringify(request42([true]))).expect(400);
    const body = JSON.parse((res.body as Buffer).toString()) as { code: string; message: string; error: string };
    assert.equal(body.code, 'ERR_JSON_PARSE');
    assert.equal(body.error, body.message);
    assert.match(body.error, /input 'input1': shape \[3\] needs 3 values but "data" has 1/);
  });

  test('"data" in its natural nested form equals the flattened one; no "outputs" answers every output', async () => {
    const nested = { inputs: [{ name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [[1, 2], [4, 5]] }, { name: 'input1', shape: [3], datatype: 'BOOL', data: [false, true, false] }] };
    const res = await post(served, JSON.stringify(nested)).expect(200);
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()).outputs, [
      { name: 'input0_out', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 4, 5] },
      { name: 'input1_out', shape: [3], datatype: 'BOOL', data: [false, true, false] },
    ]);
  });

  test('the binary data example (both inputs binary, 19 bytes; output0 asked for as binary) in the SageMaker Content-Type', async () => {
    const head = JSON.stringify({
      model_name: 'mymodel',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
        { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
      ],
      outputs: [{ name: 'input0_out', parameters: { binary_data: true } }, { name: 'input1_out' }],
    });
    const input0 = Buffer.from(Uint32Array.of(1, 2, 3, 0xffffffff).buffer);
    const body = Buffer.concat([Buffer.from(head), input0, Buffer.of(1, 0, 1)]);
    const res = await post(served, body, `application/vnd.sagemaker-triton.binary+json;json-header-size=${head.length}`).expect(200);
    const type = res.headers['content-type']!;
    const size = Number(/^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=(\d+)$/.exec(type)?.[1]);
    const answer = res.body as Buffer;
    assert.deepEqual(JSON.parse(answer.subarray(0, size).toString()), {
      model_name: 'onnx',
      outputs: [
        { name: 'input0_out', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
        { name: 'input1_out', shape: [3], datatype: 'BOOL', data: [true, false, true] },
      ],
    });
    assert.deepEqual(answer.subarray(size), input0);
  });

  // The protocol gives BOOL data as JSON booleans and a datatype per input, and says no more. Triton
  // refuses both other forms (0/1 for BOOL: "attempt to access JSON non-boolean as boolean"; another
  // datatype than the model's: "data-type is 'FP64', but model expects 'UINT32'"); MLServer reads
  // data with np.array(data, dtype), which takes any number as a bool and truncates
  // 1.5 to an integer. smkit takes what loses nothing (0 and 1 as BOOL, a datatype whose values the
  // input's dtype holds exactly) and refuses the rest naming the element, as docs/codecs.md says.
  test('BOOL data as 0 and 1 reads as false and true; 2 is a 400 naming the element (np.array would read it true, Triton refuses 0/1 too)', async () => {
    const res = await post(served, JSON.stringify(request42([1, 0, 1]))).expect(200);
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()).outputs[0].data, [1, 2, 3, 4]);
    const both = { inputs: [{ name: 'input0', shape: [1, 1], datatype: 'UINT32', data: [7] }, { name: 'input1', shape: [3], datatype: 'BOOL', data: [0, 1, 0] }], outputs: [{ name: 'input1_out' }] };
    const back = await post(served, JSON.stringify(both)).expect(200);
    assert.deepEqual(JSON.parse((back.body as Buffer).toString()).outputs, [{ name: 'input1_out', shape: [3], datatype: 'BOOL', data: [false, true, false] }]);
    const two = await post(served, JSON.stringify(request42([1, 2, 1]))).expect(400);
    const body = JSON.parse((two.body as Buffer).toString()) as { code: string; error: string };
    assert.equal(body.code, 'ERR_JSON_PARSE');
    assert.match(body.error, /input 'input1': data\[1\] is 2 but datatype BOOL needs true\/false/);
  });

  test("another datatype than the input's: values the input's dtype holds exactly reach it (answered in its datatype); others are a 400 naming the input and element, never truncated", async () => {
    const asFp64 = { inputs: [{ name: 'input0', shape: [2, 2], datatype: 'FP64', data: [1, 2, 3, 4294967295] }, { name: 'input1', shape: [3], datatype: 'INT32', data: [1, 0, 1] }] };
    const res = await post(served, JSON.stringify(asFp64)).expect(200);
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()).outputs, [
      { name: 'input0_out', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4294967295] },
      { name: 'input1_out', shape: [3], datatype: 'BOOL', data: [true, false, true] },
    ]);
    for (const [input0, input1, pattern] of [
      [[1.5, 2, 3, 4], [1, 0, 1], /input "input0".*1\.5/],
      [[1, 2, 3, -1], [1, 0, 1], /input "input0".*-1/],
      [[1, 2, 3, 4], [1, 2, 1], /input "input1".*2/],
    ] as const) {
      const wrong = { inputs: [{ name: 'input0', shape: [2, 2], datatype: 'FP64', data: input0 }, { name: 'input1', shape: [3], datatype: 'INT32', data: input1 }] };
      const refused = await post(served, JSON.stringify(wrong)).expect(400);
      const body = JSON.parse((refused.body as Buffer).toString()) as { code: string; error: string };
      assert.equal(body.code, 'ERR_INPUT_VALUE');
      assert.match(body.error, pattern);
    }
  });
});

describe("TensorFlow Serving REST API: the examples of api_rest.md (identity models)", () => {
  let named: InProcessApp;
  let strings: InProcessApp;
  let floats: InProcessApp;
  before(async () => {
    named = await serveIdentityModel([
      { name: 'tag', dtype: 'string', rank: 1 },
      { name: 'signal', dtype: 'float32', rank: 2 },
      { name: 'sensor', dtype: 'int32', rank: 3 },
    ]);
    strings = await serveIdentityModel([{ name: 'text', dtype: 'string', rank: 1 }]);
    floats = await serveIdentityModel([{ name: 'x', dtype: 'float64', rank: 1 }]);
  });
  after(async () => {
    await named?.close();
    await strings?.close();
    await floats?.close();
  });

  const text = async (served: InProcessApp, body: string) => {
    const res = await post(served, body);
    assert.equal(res.status, 200, (res.body as Buffer).toString());
    return (res.body as Buffer).toString();
  };

  test('row format of named inputs: "predictions" is one object per instance', async () => {
    // The page's example has a stray "]" after the second "signal"; as JSON it reads as below.
    const body = '{"instances": [{"tag": "foo", "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]]}, {"tag": "bar", "signal": [3, 4, 1, 2, 5], "sensor": [[4, 5], [6, 8]]}]}';
    assert.deepEqual(JSON.parse(await text(named, body)), {
      predictions: [
        { tag_out: 'foo', signal_out: [1, 2, 3, 4, 5], sensor_out: [[1, 2], [3, 4]] },
        { tag_out: 'bar', signal_out: [3, 4, 1, 2, 5], sensor_out: [[4, 5], [6, 8]] },
      ],
    });
  });

  test('columnar format of the same inputs (and signature_name serving_default): "outputs" is an object of named outputs', async () => {
    const body = '{"signature_name": "serving_default", "inputs": {"tag": ["foo", "bar"], "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]], "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]}}';
    assert.deepEqual(JSON.parse(await text(named, body)), {
      outputs: { tag_out: ['foo', 'bar'], signal_out: [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]], sensor_out: [[[1, 2], [3, 4]], [[4, 5], [6, 8]]] },
    });
  });

  test('one unnamed input: a list of 3 scalar strings; {"b64"} values are the bytes they encode', async () => {
    assert.equal(await text(strings, '{"instances": ["foo", "bar", "baz"]}'), '{"predictions":["foo","bar","baz"]}');
    assert.equal(await text(strings, '{"instances": [{"b64": "aW1hZ2UgYnl0ZXM="}, {"b64": "YXdlc29tZSBpbWFnZSBieXRlcw=="}]}'), '{"predictions":["image bytes","awesome image bytes"]}');
    assert.equal(await text(strings, '{"inputs": {"text": [{"b64": "aW1hZ2UgYnl0ZXM="}]}}'), '{"outputs":["image bytes"]}');
  });

  test("half_plus_three's predict call, and the JSON conformance example's NaN and Infinity tokens both ways", async () => {
    // Whole floats are written 1.0, as in api_rest.md's half_plus_three answer ({"predictions": [3.5, 4.0, 5.5]}).
    assert.equal(await text(floats, '{"instances": [1.0,2.0,5.0]}'), '{"predictions":[1.0,2.0,5.0]}');
    assert.equal(await text(floats, '{"instances": [1.0, -3.14, NaN, Infinity, -Infinity]}'), '{"predictions":[1.0,-3.14,NaN,Infinity,-Infinity]}');
    assert.equal(await text(floats, '{"inputs": {"x": [1.0, -3.14, NaN, Infinity]}}'), '{"outputs":[1.0,-3.14,NaN,Infinity]}');
  });
});

describe('TensorFlow Serving {"b64"} values through an output named *_bytes (ONNX Identity image → image_bytes)', () => {
  let served: InProcessApp;
  let modelDir: string;
  before(async () => {
    const { onnx } = onnxProto;
    const info = (name: string) =>
      onnx.ValueInfoProto.create({
        name,
        type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: 8, shape: onnx.TensorShapeProto.create({ dim: [onnx.TensorShapeProto.Dimension.create({ dimParam: 'n' })] }) }) }),
      });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 16 })],
      graph: onnx.GraphProto.create({ name: 'echo', node: [onnx.NodeProto.create({ opType: 'Identity', input: ['image'], output: ['image_bytes'] })], input: [info('image')], output: [info('image_bytes')] }),
    });
    modelDir = identityModelDir([]);
    writeFileSync(path.join(modelDir, 'model.onnx'), onnx.ModelProto.encode(model).finish());
    served = await serveModelInProcess(modelDir);
  });
  after(async () => {
    await served?.close();
    rmSync(modelDir, { recursive: true, force: true });
  });

  test('bytes that are not UTF-8 (a JPEG header) come back as the same base64; UTF-8 text as its UTF-8', async () => {
    const jpeg = Buffer.of(0xff, 0xd8, 0xff, 0xe0, 0x10, 0x4a).toString('base64');
    const latin = Buffer.of(0xfc).toString('base64'); // ü in Latin-1: one byte, not UTF-8
    const utf8 = Buffer.from('é', 'utf8').toString('base64');
    const rows = (await post(served, JSON.stringify({ instances: [{ b64: jpeg }, { b64: latin }, { b64: utf8 }, { b64: 'aW1hZ2UgYnl0ZXM=' }] })).expect(200)).body as Buffer;
    assert.deepEqual(JSON.parse(rows.toString()), { predictions: [{ b64: jpeg }, { b64: latin }, { b64: utf8 }, { b64: 'aW1hZ2UgYnl0ZXM=' }] });
    const columns = (await post(served, JSON.stringify({ inputs: { image: [{ b64: jpeg }] } })).expect(200)).body as Buffer;
    assert.deepEqual(JSON.parse(columns.toString()), { outputs: [{ b64: jpeg }] });
  });
});

/**
 * An .npy file as numpy/lib/format.py lays it out: the magic string, the version, the header length
 * (2 bytes in 1.0, 4 in 2.0 and 3.0), the header dict padded with spaces and a newline to 64 bytes.
 */
function npyFile(version: 1 | 2 | 3, dict: string, data: Buffer): Buffer {
  const prefix = version === 1 ? 10 : 12;
  const header = Buffer.from(dict.padEnd(Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix - 1, ' ') + '\n', 'latin1');
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, header, data]);
}

describe('NumPy .npy format (format.py): versions, fortran_order, byte orders and dtypes (identity models)', () => {
  let floats: InProcessApp;
  let bools: InProcessApp;
  let strings: InProcessApp;
  before(async () => {
    floats = await serveIdentityModel([{ name: 'x', dtype: 'float32', rank: 2 }]);
    bools = await serveIdentityModel([{ name: 'b', dtype: 'bool', rank: 1 }]);
    strings = await serveIdentityModel([{ name: 's', dtype: 'string', rank: 1 }]);
  });
  after(async () => {
    await floats?.close();
    await bools?.close();
    await strings?.close();
  });

  const npy = (served: InProcessApp, body: Buffer, accept = 'application/json') => post(served, body, 'application/x-npy').set('Accept', accept);

  test("'>f4' in Fortran order, in format versions 1.0, 2.0 and 3.0: the same C-order array", async () => {
    // [[1.5, -2, 3], [4, 5, 0.25]] column by column, each float big-endian.
    const data = Buffer.alloc(24);
    [1.5, 4, -2, 5, 3, 0.25].forEach((v, i) => data.writeFloatBE(v, 4 * i));
    for (const version of [1, 2, 3] as const) {
      const res = await npy(floats, npyFile(version, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }", data));
      assert.equal(res.status, 200, (res.body as Buffer).toString());
      assert.equal((res.body as Buffer).toString(), '[[1.5,-2.0,3.0],[4.0,5.0,0.25]]', `version ${version}`);
    }
  });

  test("np.save's bytes of a float32 [2, 3] array come back byte for byte with Accept: application/x-npy", async () => {
    // np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3)) with numpy 2.4.6 (also in src/codecs/npy.test.ts).
    const saved = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=',
      'base64',
    );
    const res = await npy(floats, saved, 'application/x-npy').expect(200);
    assert.equal(res.headers['content-type'], 'application/x-npy');
    assert.deepEqual(res.body, saved);
  });

  test("'|b1' (any non-zero byte true, as numpy reads it) and '<U' strings (UTF-32, trailing NULs padding)", async () => {
    const b = await npy(bools, npyFile(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Buffer.from([1, 0, 7]))).expect(200);
    assert.equal((b.body as Buffer).toString(), '[true,false,true]');
    const utf32 = Buffer.from(Uint32Array.of(0x61, 0, 0, 0xe9, 0x1f600, 0x7a).buffer);
    const s = await npy(strings, npyFile(3, "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", utf32)).expect(200);
    assert.equal((s.body as Buffer).toString(), '["a","é😀z"]');
  });

  test("a '|S' (bytes) array comes back as np.save writes it, byte for byte: '|S', not '<U', elements that are not UTF-8 as their bytes", async () => {
    // np.save(f, np.array([b'ab', b'\\xff\\x01x', b'', b'\\xc3\\xa9'], dtype='|S3')) with numpy 2.4.6.
    const saved = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnfFMzJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAphYgD/AXgAAADDqQA=',
      'base64',
    );
    const res = await npy(strings, saved, 'application/x-npy').expect(200);
    assert.deepEqual(res.body, saved);
    // '<U' strings still come back as '<U'.
    const utf32 = Buffer.from(Uint32Array.of(0x61, 0xe9).buffer);
    const text = await npy(strings, npyFile(1, "{'descr': '<U1', 'fortran_order': False, 'shape': (2,), }", utf32), 'application/x-npy').expect(200);
    assert.match((text.body as Buffer).subarray(0, 64).toString('latin1'), /'descr': '<U1'/);
  });

  test("a '|S' array in an NPZ archive (np.savez), unnamed or named after the input, comes back in NPY as '|S' with its bytes, as the same array sent as an NPY body does", async () => {
    // np.save(f, np.array([b'ab', b'\\xff\\x01x', b'', b'\\xc3\\xa9'], dtype='|S3')) with numpy 2.4.6, as np.savez stores it.
    const saved = Buffer.from(
      'k05VTVBZAQB2AHsnZGVzY3InOiAnfFMzJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAphYgD/AXgAAADDqQA=',
      'base64',
    );
    for (const member of ['arr_0.npy', 's.npy']) {
      const archive = Buffer.from(zipSync({ [member]: new Uint8Array(saved) }, { level: 0 }));
      const res = await post(strings, archive, 'application/x-npz').set('Accept', 'application/x-npy').expect(200);
      assert.deepEqual(res.body, saved, member);
    }
  });

  test("object arrays ('|O', which need pickle) and headers numpy would not read are a 400 saying why", async () => {
    const refused = async (body: Buffer, code: string, message: RegExp) => {
      const res = await npy(floats, body).expect(400);
      const answer = JSON.parse((res.body as Buffer).toString()) as { code: string; message: string };
      assert.equal(answer.code, code);
      assert.match(answer.message, message);
    };
    await refused(npyFile(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(8)), 'ERR_NPY_PICKLE', /object array \('\|O'\), which needs pickle to read; smkit refuses pickles/);
    await refused(npyFile(1, "{'descr': '>f4', 'shape': (1, 1), }", Buffer.alloc(4)), 'ERR_NPY_PARSE', /exactly 'descr', 'fortran_order' and 'shape'/);
    await refused(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Buffer.alloc(20)), 'ERR_NPY_PARSE', /truncated: its header promises 24 data bytes but 20 follow/);
    await refused(npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", Buffer.alloc(0)), 'ERR_NPY_PARSE', /invalid shape/);
    // The format's minor version byte: numpy reads only 1.0, 2.0 and 3.0 ("we only support format version (1,0), (2,0), and (3,0)").
    for (const version of [1, 2, 3] as const) {
      const minor = npyFile(version, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(4));
      minor[7] = 1;
      await refused(minor, 'ERR_NPY_PARSE', new RegExp(`format version ${version}\\.1; versions 1\\.0, 2\\.0 and 3\\.0 are supported`));
    }
    // 'shape' is a Python tuple: (3) is the number 3, which np.load refuses ("shape is not valid"), as it does (3,,4).
    await refused(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", Buffer.alloc(12)), 'ERR_NPY_PARSE', /'shape': \(3\), a number rather than a tuple: a 1-dimensional shape is written \(3,\)/);
    await refused(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L), }", Buffer.alloc(12)), 'ERR_NPY_PARSE', /'shape': \(3L\), a number rather than a tuple/);
    await refused(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,1), }", Buffer.alloc(12)), 'ERR_NPY_PARSE', /invalid shape \(3,,1\)/);
    await refused(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", Buffer.alloc(4)), 'ERR_NPY_PARSE', /invalid shape \(,\)/);
  });
});

describe('RFC 4180 CSV: the rules of its section 2, in numbers (identity model of one float64 input [-1, 3])', () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel([{ name: 'x', dtype: 'float64', rank: 2 }]);
  });
  after(() => served?.close());

  const csv = (body: string, type = 'text/csv') => request(served.app).post('/invocations').set('Content-Type', type).set('Accept', 'text/csv').send(body);

  test('CRLF line breaks (rule 1), with or without one after the last record (rule 2), answered with a line per row', async () => {
    for (const body of ['1,2,3\r\n4,5,6\r\n', '1,2,3\r\n4,5,6', '1,2,3\n4,5,6\n']) {
      const res = await csv(body).expect(200);
      assert.equal(res.text, '1,2,3\n4,5,6\n', JSON.stringify(body));
    }
  });

  test('an optional header line (rule 3) is skipped with header=present, and is a 400 saying so without it; its quoted names may hold commas, quotes and line breaks (rules 5 to 7)', async () => {
    const header = '"field_name","a ""quoted"", name","line\r\nbreak"\r\n';
    const res = await csv(`${header}1,2,3\r\n`, 'text/csv; header=present').expect(200);
    assert.equal(res.text, '1,2,3\n');
    const refused = await csv('field_name,field_name,field_name\r\n1,2,3\r\n').expect(400);
    assert.equal(refused.body.code, 'ERR_CSV_PARSE');
    assert.match(refused.body.message, /line 1, column 1: "field_name" is not a number.*header=present/);
  });

  test('fields may be enclosed in double quotes (rule 5), and every record must have as many fields (rule 4)', async () => {
    const res = await csv('"1","2","3"\r\n4,"5",6\r\n').expect(200);
    assert.equal(res.text, '1,2,3\n4,5,6\n');
    const ragged = await csv('1,2,3\r\n4,5\r\n').expect(400);
    assert.equal(ragged.body.code, 'ERR_CSV_PARSE');
    assert.match(ragged.body.message, /line 2/);
  });
});
