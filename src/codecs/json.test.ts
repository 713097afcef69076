import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor, type Tensor, type TensorMap } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import type { DecodedRequest, EncodeOptions } from './codec.js';
import { jsonCodec } from './json.js';
import { jsonLinesCodec } from './jsonlines.js';
import { tritonBinaryCodec } from './triton-binary.js';
import { fromFloat16Bits, toFloat16Bits } from '../core/float16.js';

const decode = (text: string): DecodedRequest => jsonCodec.decode!(Buffer.from(text), {});
const encode = (prediction: unknown, options: EncodeOptions = {}): unknown => JSON.parse(jsonCodec.encode!(prediction, options).toString('utf8'));
const only = (r: DecodedRequest): Tensor => r.tensors[UNNAMED]!;
const plain = (t: Tensor) => ({ dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<unknown>) });
const rejects = (text: string, pattern: RegExp, code = 'ERR_JSON_PARSE'): void => {
  assert.throws(() => decode(text), (err: unknown) => err instanceof ToolkitError && err.code === code && err.status === 400 && pattern.test(err.message));
};

test('C-1.1/1.2: JSON arrays of numbers and strings decode to float64 and string tensors', () => {
  assert.deepEqual(plain(only(decode('[42, 6, 9]'))), { dtype: 'float64', shape: [3], data: [42, 6, 9] });
  assert.deepEqual(plain(only(decode('[42.0, 6.0, 9.0]'))), { dtype: 'float64', shape: [3], data: [42, 6, 9] });
  assert.deepEqual(plain(only(decode('["42", "6", "9"]'))), { dtype: 'string', shape: [3], data: ['42', '6', '9'] });
  assert.equal(decode('[1]').form, 'tensor');
});

test('C-1.3: nested arrays, scalars, floats and booleans', () => {
  assert.deepEqual(plain(only(decode('[[1,2],[3,4]]'))), { dtype: 'float64', shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(plain(only(decode('42'))), { dtype: 'float64', shape: [], data: [42] });
  assert.deepEqual(plain(only(decode('[1, 2.5]'))), { dtype: 'float64', shape: [2], data: [1, 2.5] });
  assert.deepEqual(plain(only(decode('[true,false]'))), { dtype: 'bool', shape: [2], data: [1, 0] });
  assert.deepEqual(plain(only(decode('[]'))), { dtype: 'float64', shape: [0], data: [] });
  assert.deepEqual(plain(only(decode('[[], []]'))), { dtype: 'float64', shape: [2, 0], data: [] });
});

test('C-1.3 decision: ragged and mixed arrays, null and unknown objects are a 400 saying where', () => {
  rejects('[[1,2],[3]]', /JSON body\[1\]: ragged array: found 1 elements but the first one at this depth has 2/);
  rejects('[[1,2],3]', /JSON body\[1\]: expected an array of 2 elements/);
  rejects('["a", 1]', /JSON body\[1\]: found number 1 where a string was expected/);
  rejects('[[1,2],[3,"x"]]', /JSON body\[1\]\[1\]: found the string "x" where a number was expected/);
  rejects('null', /JSON body is null/);
  rejects('[null]', /null is not a tensor element/);
  rejects('{"a":1}', /keys "a".*instances/);
  rejects('{}', /^JSON body is an empty object; send a nested array, \{"instances": \[\.\.\.\]\}/);
  // An integer datatype reads no infinity; 1e400 reaches it as one, so the message names both.
  rejects('{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1e400]}]}', /data\[0\] is Infinity \(the token Infinity, or a number past the largest double such as 1e400\) but datatype INT32 needs integers/);
  rejects('{"inputs":[{"name":"x","shape":[1],"datatype":"UINT64","data":[-1e400]}]}', /data\[0\] is -Infinity \(the token -Infinity, or a number past the largest double such as -1e400\) but datatype UINT64/);
});

test('malformed JSON is a 400 carrying the parser position', () => {
  rejects('[1, 2', /not valid JSON at line 1, column 6 \(position 5\)/);
  rejects('{"instances": [1,}', /not valid JSON at line 1, column 18 \(position 17\)/);
  rejects('{"a":\n  tru}', /line 2, column 6 \(position 11\)/);
  rejects('[1] x', /column 5/);
  rejects('[', /position 1/);
});

test('an empty body, or one of whitespace only, is a 400 saying it is empty (not "Unexpected end of JSON input" at position 0)', () => {
  rejects('', /^JSON body is empty; send a JSON value/);
  rejects(' \r\n\t', /^JSON body is empty/);
});

test('TFS instances: rows of arrays stack into one tensor and answer {"predictions"}', () => {
  const r = decode('{"instances": [[1,2],[3,4],[5,6]], "signature_name": "serving_default"}');
  assert.equal(r.form, 'tfs-instances');
  assert.deepEqual(plain(only(r)), { dtype: 'float64', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
  const out = { probabilities: tensor('float32', [3, 2], Float32Array.from([0.5, 0.5, 0.25, 0.75, 1, 0])) };
  assert.deepEqual(encode(out, { request: r }), { predictions: [[0.5, 0.5], [0.25, 0.75], [1, 0]] });
});

test('TFS instances of named objects stack per name; several outputs answer one object per row', () => {
  const r = decode('{"instances": [{"a": [1,2], "b": 1}, {"b": 2, "a": [3,4]}]}');
  assert.deepEqual(plain(r.tensors['a']!), { dtype: 'float64', shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(plain(r.tensors['b']!), { dtype: 'float64', shape: [2], data: [1, 2] });
  const out: TensorMap = {
    label: tensor('int64', [2], BigInt64Array.from([1n, 0n])),
    scores: tensor('float64', [2, 2], Float64Array.from([0.1, 0.9, 0.8, 0.2])),
  };
  assert.deepEqual(encode(out, { request: r }), { predictions: [{ label: 1, scores: [0.1, 0.9] }, { label: 0, scores: [0.8, 0.2] }] });
  rejects('{"instances": [{"a": 1}, {"b": 2}]}', /instances\[1\]: has inputs "b" but the first record has "a"/);
  rejects('{"instances": 5}', /"instances" must be an array/);
});

test('per-row answers need outputs with one batch size', () => {
  const r = decode('{"instances": [[1]]}');
  const out: TensorMap = { a: tensor('float64', [2], new Float64Array(2)), b: tensor('float64', [3], new Float64Array(3)) };
  assert.throws(() => encode(out, { request: r }), { code: 'ERR_ENCODE' });
});

test('TFS {"b64": ...} values are byte strings of any length (the REST API doc example)', () => {
  // https://www.tensorflow.org/tfx/serving/api_rest: "image bytes" base64-encoded in a row.
  const doc = {
    signature_name: 'serving_default',
    instances: [
      { tag: 'foo', signal: [1, 2, 3, 4, 5], sensor: [[1, 2], [3, 4]], image_bytes: { b64: 'aW1hZ2UgYnl0ZXM=' } },
      { tag: 'bar', signal: [3, 4, 1, 2, 5], sensor: [[4, 5], [6, 8]], image_bytes: { b64: 'aW1hZ2UgYnl0ZXMy' } },
    ],
  };
  const r = decode(JSON.stringify(doc));
  assert.equal(r.signatureName, 'serving_default');
  assert.deepEqual(plain(r.tensors['image_bytes']!), { dtype: 'string', shape: [2], data: ['image bytes', 'image bytes2'] });
  assert.deepEqual(plain(r.tensors['tag']!), { dtype: 'string', shape: [2], data: ['foo', 'bar'] });
  assert.deepEqual(r.tensors['sensor']!.shape, [2, 2, 2]);
  // Different lengths stack fine; bytes that are not UTF-8 stay one character per byte.
  const b64 = (b: Buffer) => b.toString('base64');
  const mixed = decode(JSON.stringify({ inputs: { blob: [{ b64: b64(Buffer.from('a')) }, { b64: b64(Buffer.from([0xff, 0x00, 0xd8])) }] } }));
  assert.deepEqual(plain(mixed.tensors['blob']!), { dtype: 'string', shape: [2], data: ['a', '\u00ff\u0000\u00d8'] });
  rejects(JSON.stringify({ instances: [{ b64: 'not base64!' }] }), /not valid base64/);
  // Unpadded base64 is read; a last character that completes no byte ('aGkha': 'hi!' and 6 bits) is not dropped silently.
  assert.deepEqual(plain(decode('{"instances": [{"b64": "aGk"}]}').tensors[UNNAMED]!).data, ['hi']);
  rejects('{"instances": [{"b64": "aGkha"}]}', /not valid base64/);
  rejects('{"instances": [{"b64": "a"}]}', /not valid base64/);
});

test('TFS: NaN, Infinity and -Infinity tokens are numbers in requests and are written back as TF Serving writes them', () => {
  const r = decode('{"instances": [[NaN, Infinity], [-Infinity, 1]]}');
  assert.deepEqual(plain(only(r)), { dtype: 'float64', shape: [2, 2], data: [NaN, Infinity, -Infinity, 1] });
  // Tokens inside strings stay text; the strict JSON error stands for other invalid bodies.
  assert.deepEqual(plain(decode('{"inputs": {"s": ["NaN", "a NaN b"], "x": [NaN]}}').tensors['s']!), { dtype: 'string', shape: [2], data: ['NaN', 'a NaN b'] });
  rejects('{"instances": [NaNa]}', /not valid JSON/);
  const out = { y: tensor('float32', [2, 2], Float32Array.from([NaN, 1, -Infinity, Infinity])) };
  const text = (req: DecodedRequest, o: TensorMap) => jsonCodec.encode!(o, { request: req }).toString('utf8');
  assert.equal(text(r, out), '{"predictions":[[NaN,1.0],[-Infinity,Infinity]]}');
  const two = { y: out.y, z: tensor('float16', [2], Uint16Array.from([0x7e00, 0x3c00])) };
  assert.equal(text(r, two), '{"predictions":[{"y":[NaN,1.0],"z":NaN},{"y":[-Infinity,Infinity],"z":1.0}]}');
  assert.equal(text(decode('{"inputs": [1]}'), two), '{"outputs":{"y":[[NaN,1.0],[-Infinity,Infinity]],"z":[NaN,1.0]}}');
  // Plain JSON answers keep null (standard JSON has no such literal).
  assert.equal(text(decode('[1]'), out), '[[null,1.0],[null,null]]');
});

test('TFS and v2: a float16 output whose data holds values, not bits (Node 24\'s Float16Array, any other typed array), gets the NaN/Infinity tokens too', () => {
  const text = (req: DecodedRequest, o: TensorMap) => jsonCodec.encode!(o, { request: req }).toString('utf8');
  const Float16 = (globalThis as { Float16Array?: new (values: number[]) => ArrayLike<number> }).Float16Array;
  for (const data of [Float32Array.from([NaN, -Infinity, 1.5, Infinity]), ...(Float16 ? [new Float16([NaN, -Infinity, 1.5, Infinity])] : [])]) {
    const half = { y: { dtype: 'float16', shape: [2, 2], data } as unknown as Tensor };
    assert.equal(text(decode('{"instances": [1]}'), half), '{"predictions":[[NaN,-Infinity],[1.5,Infinity]]}', data.constructor.name);
    assert.equal(text(decode('{"inputs": [1]}'), half), '{"outputs":[[NaN,-Infinity],[1.5,Infinity]]}', data.constructor.name);
    assert.match(text(decode('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}'), half), /"datatype":"FP16","data":\[NaN,-Infinity,1\.5,Infinity\]/, data.constructor.name);
  }
});

test('TFS: outputs named *_bytes are written as {"b64": ...}; both instances and inputs, or a bad signature_name, are a 400', () => {
  const r = decode('{"instances": [1, 2]}');
  const out = { image_bytes: tensor('string', [2], ['image bytes', 'é']), label: tensor('string', [2], ['a', 'b']) };
  assert.deepEqual(encode(out, { request: r }), {
    predictions: [
      { image_bytes: { b64: 'aW1hZ2UgYnl0ZXM=' }, label: 'a' },
      { image_bytes: { b64: Buffer.from('é').toString('base64') }, label: 'b' },
    ],
  });
  assert.deepEqual(encode({ out_bytes: tensor('string', [1, 1], ['x']) }, { request: decode('{"inputs": [1]}') }), { outputs: [[{ b64: 'eA==' }]] });
  rejects('{"instances": [[1]], "inputs": [[1]]}', /both "instances".*and "inputs"/);
  rejects('{"instances": [[1]], "signature_name": 7}', /"signature_name" must be a string/);
  rejects('{"inputs": {"x": [1]}, "signature_name": null}', /"signature_name" must be a string/);
});

test('errors answering JSON requests carry the protocols\' {"error"} member beside code and message', () => {
  for (const body of ['{"instances": 5}', '{"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}', '{not json']) {
    assert.throws(
      () => decode(body),
      (e: unknown) => e instanceof ToolkitError && e.toJSON()['error'] === e.message && e.toJSON()['code'] === 'ERR_JSON_PARSE',
    );
  }
});

test('deep nesting is a short 400, never a stack overflow or a message echoing the shape', () => {
  const deep = (n: number, leaf = '1') => '['.repeat(n) + leaf + ']'.repeat(n);
  for (const body of [deep(1_000_000), deep(65), '['.repeat(200_000), `{"instances": ${deep(100_000)}}`,
    `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ${deep(1_000_000)}}]}`,
    JSON.stringify({ inputs: [{ name: 'x', shape: new Array(100_000).fill(1), datatype: 'FP32', data: [1] }] })]) {
    assert.throws(() => decode(body), (e: unknown) => e instanceof ToolkitError && e.status === 400 && e.message.length < 300);
  }
  assert.deepEqual(only(decode(deep(64))).shape, new Array(64).fill(1));
  // Long names and many keys are quoted in part, never whole.
  const long = 'n'.repeat(1_000_000);
  const manyKeys = JSON.stringify(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`key${i}`, 1])));
  for (const body of [JSON.stringify({ inputs: [{ name: long, shape: [1], datatype: long, data: [1] }] }), manyKeys, JSON.stringify({ [long]: 1 }),
    JSON.stringify({ inputs: { [long]: [null] } }), JSON.stringify({ instances: [{ a: 1 }, { [long]: 1 }] })]) {
    assert.throws(() => decode(body), (e: unknown) => e instanceof ToolkitError && e.status === 400 && e.message.length < 600);
  }
});

test('TFS columnar inputs: an object of named inputs or one unnamed array; answers {"outputs"}', () => {
  const r = decode('{"inputs": {"x": [[1,2]], "mask": [true]}}');
  assert.equal(r.form, 'tfs-inputs');
  assert.deepEqual(plain(r.tensors['x']!), { dtype: 'float64', shape: [1, 2], data: [1, 2] });
  assert.deepEqual(plain(r.tensors['mask']!), { dtype: 'bool', shape: [1], data: [1] });
  const unnamed = decode('{"inputs": [[1,2],[3,4]]}');
  assert.equal(unnamed.form, 'tfs-inputs');
  assert.deepEqual(only(unnamed).shape, [2, 2]);
  const one = { y: tensor('float32', [1], Float32Array.from([2])) };
  assert.deepEqual(encode(one, { request: r }), { outputs: [2] });
  const two = { y: tensor('float32', [1], Float32Array.from([2])), z: tensor('string', [1], ['a']) };
  assert.deepEqual(encode(two, { request: r }), { outputs: { y: [2], z: ['a'] } });
  rejects('{"inputs": {}}', /empty object/);
  rejects('{"inputs": {"x": [[1],[2,3]]}}', /inputs\.x\[1\]: ragged/);
});

test('v2 request decodes typed inputs, id, outputs and parameters', () => {
  const r = decode(
    JSON.stringify({
      id: 'req-1',
      parameters: { top_k: 2 },
      inputs: [
        { name: 'input', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
        { name: 'ids', shape: [2], datatype: 'INT64', data: [1, '9007199254740993'] },
        { name: 'flags', shape: [1, 2], datatype: 'BOOL', data: [[true, false]] },
        { name: 'text', shape: [1], datatype: 'BYTES', data: ['hi'] },
        { name: 'half', shape: [1], datatype: 'FP16', data: [1.5] },
        { name: 'small', shape: [2], datatype: 'UINT8', data: [0, 255] },
      ],
      outputs: [{ name: 'probabilities' }],
    }),
  );
  assert.equal(r.form, 'v2');
  assert.equal(r.id, 'req-1');
  assert.deepEqual(r.requestedOutputs, ['probabilities']);
  assert.deepEqual(r.parameters, { top_k: 2 });
  assert.deepEqual(plain(r.tensors['input']!), { dtype: 'float32', shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(plain(r.tensors['ids']!), { dtype: 'int64', shape: [2], data: [1n, 9007199254740993n] });
  assert.deepEqual(plain(r.tensors['flags']!), { dtype: 'bool', shape: [1, 2], data: [1, 0] });
  assert.deepEqual(plain(r.tensors['text']!), { dtype: 'string', shape: [1], data: ['hi'] });
  assert.equal(fromFloat16Bits((r.tensors['half']!.data as Uint16Array)[0]!), 1.5);
  assert.deepEqual(plain(r.tensors['small']!), { dtype: 'uint8', shape: [2], data: [0, 255] });
});

test('v2 errors: shape against data length, datatype, names, value types and ranges', () => {
  const v2 = (input: object) => JSON.stringify({ inputs: [input] });
  rejects(v2({ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5] }), /input 'x': shape \[2, 3\] needs 6 values but "data" has 5/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP128', data: [1] }), /datatype "FP128" is not one of/);
  rejects(v2({ shape: [1], datatype: 'FP32', data: [1] }), /"name" must be a non-empty string/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP32', data: ['a'] }), /data\[0\] is "a" but datatype FP32 needs numbers/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'INT8', data: [300] }), /int8 range/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'INT32', data: [1.5] }), /needs integers/);
  rejects(v2({ name: 'x', shape: [-1], datatype: 'FP32', data: [1] }), /non-negative integers/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP32' }), /"data" is missing/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: { binary_data_size: 4 } }), /"binary_data_size" needs the binary tensor data form: send the body as Content-Type application\/vnd.sagemaker-triton.binary\+json;json-header-size=N/);
  rejects(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }, { name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }), /appears twice/);
  // An input's "parameters" is an object (a "binary_data_size" in a string would go unseen).
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: 'binary_data_size=4' }), /input 'x': "parameters" must be an object, found "binary_data_size=4"/);
  rejects(v2({ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: [] }), /input 'x': "parameters" must be an object, found \[\]/);
  // So are the request's and each requested output's.
  rejects(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], parameters: 'binary_data_output' }), /v2 request: "parameters" must be an object, found "binary_data_output"/);
  rejects(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'y', parameters: [true] }] }), /output 'y': "parameters" must be an object, found \[true\]/);
});

test('v2 "parameters": null is no parameters, on the request, an input and an output (as KServe and MLServer read it), like a null "id"', () => {
  const input = { name: 'x', shape: [2], datatype: 'FP32', data: [1, 2], parameters: null };
  const r = decode(JSON.stringify({ id: null, inputs: [input], outputs: [{ name: 'y', parameters: null }], parameters: null }));
  assert.deepEqual(plain(r.tensors['x']!), { dtype: 'float32', shape: [2], data: [1, 2] });
  assert.equal(r.parameters, undefined);
  assert.deepEqual(r.requestedOutputs, ['y']);
  assert.equal(r.binaryOutputs, undefined);
});

test('v2 "id": a string is echoed, a number echoed as its string, null is no id; anything else is a 400 (the answer must echo it)', () => {
  const input = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };
  const answer = (id: unknown) => encode({ y: tensor('float32', [1], Float32Array.of(1)) }, { request: decode(JSON.stringify({ id, inputs: [input] })) }) as { id?: string };
  assert.equal(answer('42').id, '42');
  assert.equal(answer(42).id, '42');
  assert.equal(answer('').id, '');
  assert.equal('id' in answer(null), false);
  for (const id of [{ a: 1 }, ['42'], true]) rejects(JSON.stringify({ id, inputs: [input] }), /v2 request: "id" must be a string \(it is echoed in the answer\), found /);
});

test('v2 "id": an integer past ±2^53 is echoed as the digits sent, not as the double JSON.parse rounds it to (also in the binary form); one not read exactly is a 400 asking for a string', () => {
  const text = (id: string) => `{"id":${id},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`;
  for (const id of ['12345678901234567891', '-9007199254740993', '18446744073709551615']) {
    assert.equal(decode(text(id)).id, id);
    assert.equal((encode({ y: tensor('float32', [1], Float32Array.of(1)) }, { request: decode(text(id)) }) as { id?: string }).id, id);
    const head = Buffer.from(text(id));
    assert.equal(tritonBinaryCodec.decode!(head, { 'json-header-size': String(head.length) }).id, id);
  }
  // Inputs' data past ±2^53 beside it stays exact too.
  const both = decode('{"id":9007199254740993,"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9007199254740993]}]}');
  assert.equal(both.id, '9007199254740993');
  assert.deepEqual([...(both.tensors['x']!.data as BigInt64Array)], [9007199254740993n]);
  rejects(text('1e30'), /v2 request: "id" 1e\+30 is a number past ±2\^53, which is not read exactly; send the id as a string/);
});

test('v2 "id": a number JSON.parse makes infinite (1e400, 400 digits) or a NaN/Infinity token is a 400 asking for a string, not echoed as "Infinity" or "NaN"', () => {
  const text = (id: string) => `{"id":${id},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`;
  for (const [id, shown] of [['1e400', 'Infinity'], ['-1e400', '-Infinity'], [`9${'0'.repeat(400)}`, 'Infinity'], ['NaN', 'NaN'], ['Infinity', 'Infinity'], ['-Infinity', '-Infinity']] as const) {
    rejects(text(id), new RegExp(`^v2 request: "id" is ${shown} as a number \\(a literal past the largest double, or a NaN/Infinity token\\); send the id as a string$`));
    const head = Buffer.from(text(id));
    assert.throws(() => tritonBinaryCodec.decode!(head, { 'json-header-size': String(head.length) }), (err: unknown) => err instanceof ToolkitError && err.status === 400 && /send the id as a string/.test(err.message), id);
  }
  // A finite number is still echoed as its string.
  assert.equal(decode(text('1.5')).id, '1.5');
  assert.equal(decode(text('-7')).id, '-7');
});

test('v2 INT64/UINT64 strings: leading zeros are fine, and a string of more digits than any 64-bit integer has is refused before BigInt reads it', () => {
  const v2 = (datatype: string, data: string[]) => Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [data.length], datatype, data }] }));
  assert.deepEqual(jsonCodec.decode!(v2('INT64', ['-0009223372036854775808', '000', `${'0'.repeat(1000)}18`]), {}).tensors['x']!.data, BigInt64Array.of(-(2n ** 63n), 0n, 18n));
  assert.deepEqual(jsonCodec.decode!(v2('UINT64', ['18446744073709551615']), {}).tensors['x']!.data, BigUint64Array.of(2n ** 64n - 1n));
  // BigInt takes about a microsecond a digit: a body of millions of digits would hold the thread for seconds.
  const real = globalThis.BigInt;
  let longest = 0;
  globalThis.BigInt = Object.assign((v: string | number | bigint | boolean) => {
    longest = Math.max(longest, String(v).length);
    return real(v);
  }, real) as BigIntConstructor;
  try {
    rejects(v2('INT64', ['9'.repeat(100_000)]).toString(), /data\[0\] is "9{20,}… but datatype INT64 needs values in the int64 range/);
    rejects(v2('UINT64', [`-${'1'.repeat(50)}`]).toString(), /uint64 range/);
  } finally {
    globalThis.BigInt = real;
  }
  assert.ok(longest <= 21, `BigInt read a string of ${longest} characters`);
});

test('v2 response: model_name, id, outputs with shape, datatype and flat data; requested outputs only', () => {
  const r = decode(JSON.stringify({ id: '7', inputs: [{ name: 'input', shape: [1], datatype: 'FP32', data: [1] }] }));
  const out: TensorMap = {
    probabilities: tensor('float32', [2, 2], Float32Array.from([0.5, 0.5, 0.25, 0.75])),
    label: tensor('int64', [2], BigInt64Array.from([0n, 1n])),
  };
  assert.deepEqual(encode(out, { request: r, modelName: 'iris' }), {
    model_name: 'iris',
    id: '7',
    outputs: [
      { name: 'probabilities', shape: [2, 2], datatype: 'FP32', data: [0.5, 0.5, 0.25, 0.75] },
      { name: 'label', shape: [2], datatype: 'INT64', data: [0, 1] },
    ],
  });
  const picked = { ...r, requestedOutputs: ['label'] };
  assert.deepEqual((encode(out, { request: picked }) as { outputs: { name: string }[] }).outputs.map((o) => o.name), ['label']);
  assert.throws(() => encode(out, { request: { ...r, requestedOutputs: ['nope'] } }), (e: unknown) => e instanceof ToolkitError && e.status === 400 && /"nope" do not exist/.test(e.message));
  // An unnamed output (a handler's single tensor) is answered as output0, and can be asked for by that name.
  const unnamed: TensorMap = { [UNNAMED]: tensor('float32', [1], Float32Array.of(2)) };
  assert.deepEqual(encode(unnamed, { request: { ...r, requestedOutputs: ['output0'] } }), { model_name: 'model', id: '7', outputs: [{ name: 'output0', shape: [1], datatype: 'FP32', data: [2] }] });
  assert.throws(() => encode(unnamed, { request: { ...r, requestedOutputs: ['y'] } }), (e: unknown) => e instanceof ToolkitError && /"y" do not exist; the model produces: "output0"/.test(e.message));
});

test('v2 JSON request asking for binary outputs: answered in Triton\'s binary form (as Triton on SageMaker answers it); otherwise encode\'s JSON', () => {
  const out: TensorMap = { y: tensor('float32', [2], Float32Array.of(0.5, -1)), n: tensor('int32', [1], Int32Array.of(7)) };
  const asked = decode(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'n' }] }));
  const answer = jsonCodec.encodeAnswer!(out, { request: asked, modelName: 'm' })!;
  const m = /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=(\d+)$/.exec(answer.contentType)!;
  const size = Number(m[1]);
  assert.deepEqual(JSON.parse(answer.body.subarray(0, size).toString()).outputs, [
    { name: 'y', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
    { name: 'n', shape: [1], datatype: 'INT32', data: [7] },
  ]);
  assert.deepEqual(answer.body.subarray(size), Buffer.from(Float32Array.of(0.5, -1).buffer));
  // binary_data false, absent, or no outputs at all: the JSON codec's own answer.
  for (const request of [
    { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] },
    { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'y', parameters: { binary_data: false } }], parameters: { binary_data_output: false } },
  ]) {
    const r = decode(JSON.stringify(request));
    assert.equal(r.binaryOutputs, undefined);
    assert.equal(jsonCodec.encodeAnswer!(out, { request: r }), undefined);
  }
  rejects(JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [{ name: 'y', parameters: { binary_data: 1 } }] }), /output 'y': "binary_data" must be true or false, found 1/);
});

test('tensor form answers: one output → nested array, several → {name: nested}', () => {
  const r = decode('[[1,2]]');
  assert.deepEqual(encode({ y: tensor('float32', [1, 3], Float32Array.from([1, 2, 3])) }, { request: r }), [[1, 2, 3]]);
  assert.deepEqual(encode({ a: tensor('bool', [2], Uint8Array.from([1, 0])), b: tensor('string', [], ['x']) }), { a: [true, false], b: 'x' });
});

test('C-2.1/C-2.2: user values encode as JSON (semantic equality), typed arrays and bigints included', () => {
  assert.deepEqual(encode([42, 6, 9]), [42, 6, 9]);
  assert.deepEqual(encode(['42', '6', '9']), ['42', '6', '9']);
  assert.deepEqual(encode({ 42: { 6: 9.0 } }), { 42: { 6: 9 } });
  assert.deepEqual(encode([[1, 2], [3, 4]]), [[1, 2], [3, 4]]);
  assert.deepEqual(encode([true, false]), [true, false]);
  assert.equal(encode(null), null);
  assert.equal(encode(Float32Array.of(0.1)[0]), 0.10000000149011612);
  assert.deepEqual(encode([1e-7, 1e20]), [1e-7, 1e20]);
  assert.equal(encode('hello'), 'hello');
  assert.deepEqual(encode({ scores: Float64Array.from([0.5, 1]), n: 3n, big: 2n ** 60n }), { scores: [0.5, 1], n: 3, big: '1152921504606846976' });
  assert.equal(encode(undefined), null);
});

test('JSON output: NaN/Infinity become null, unsafe int64 become strings, float16 decoded', () => {
  assert.deepEqual(encode({ y: tensor('float64', [3], Float64Array.from([NaN, Infinity, 1])) }), [null, null, 1]);
  assert.deepEqual(encode({ y: tensor('int64', [2], BigInt64Array.from([2n ** 62n, -5n])) }), ['4611686018427387904', -5]);
  assert.deepEqual(encode({ y: tensor('float16', [2], Uint16Array.from([toFloat16Bits(0.5), toFloat16Bits(-2)])) }), [0.5, -2]);
  assert.deepEqual(encode({ y: tensor('float64', [], Float64Array.from([3])) }), 3);
  assert.deepEqual(encode({ y: tensor('uint8', [2, 1, 2], Uint8Array.from([1, 2, 3, 4])) }), [[[1, 2]], [[3, 4]]]);
});

test('float16 conversion rounds to nearest and keeps specials', () => {
  for (const v of [0, -0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity, -Infinity]) {
    assert.ok(Object.is(fromFloat16Bits(toFloat16Bits(v)), v), String(v));
  }
  assert.equal(fromFloat16Bits(toFloat16Bits(70000)), Infinity);
  assert.equal(fromFloat16Bits(toFloat16Bits(0.1)), 0.0999755859375);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
});

test('a value from user code that JSON cannot hold (it refers to itself, its toJSON throws) is ERR_ENCODE saying why, also as JSON lines', () => {
  const loop: Record<string, unknown> = { label: 'a' };
  loop['self'] = loop;
  const throwing = { toJSON: () => { throw new Error('not serialisable'); } };
  for (const [value, reason] of [
    [loop, /the prediction cannot be written as JSON \(Converting circular structure to JSON[^)]*\); return plain data/s],
    [[throwing], /the prediction cannot be written as JSON \(not serialisable\)/],
  ] as const) {
    assert.throws(() => jsonCodec.encode!(value, {}), (err: ToolkitError) => err instanceof ToolkitError && err.code === 'ERR_ENCODE' && reason.test(err.message));
    assert.throws(() => jsonLinesCodec.encode!(value, {}), { code: 'ERR_ENCODE' });
  }
});

test('a value from user code whose content JSON.stringify does not see (a Map, a Set, a Promise, an ArrayBuffer, a Blob, a fetch Response or Headers, a URLSearchParams, a RegExp, an Error, a generator, a stream) is ERR_ENCODE naming it, not a silent {}', async () => {
  const { Readable } = await import('node:stream');
  const { runInNewContext } = await import('node:vm');
  for (const [value, what] of [
    [new Map([['a', 1]]), /a Map/],
    [{ labels: new Set(['a']) }, /a Set/],
    [{ p: Promise.resolve(1) }, /a Promise/],
    [[new Error('lost')], /an Error \(lost\)/],
    [new ArrayBuffer(4), /an ArrayBuffer \(bytes/],
    [{ view: new DataView(new ArrayBuffer(4)) }, /a DataView/],
    [new Blob(['image bytes']), /a Blob \(bytes: read them with await blob\.arrayBuffer\(\)/],
    [{ upload: new File(['x'], 'x.bin') }, /a File/],
    // fetch's and the URL API's objects went out as {} too.
    [{ page: new Response('{"a":1}') }, /a fetch Response \(read its body first: await res\.json\(\)/],
    [[new Request('http://localhost/x')], /a fetch Request/],
    [{ headers: new Headers({ a: 'b' }) }, /a Headers \(turn it into an object first: Object\.fromEntries\(headers\)\)/],
    [{ form: new FormData() }, /a FormData/],
    [{ query: new URL('http://localhost/?q=1').searchParams }, /a URLSearchParams/],
    [{ ref: new WeakRef({ a: 1 }) }, /a WeakRef \(answer its target: ref\.deref\(\)\)/],
    [{ pattern: /ab+c/ }, /a RegExp/],
    [(function* () { yield 1; })(), /a generator/],
    [(async function* () { yield 1; })(), /an async iterable/],
    [Readable.from(['a']), /an async iterable/],
    // From another realm (a vm context), where instanceof Map is false.
    [{ m: runInNewContext('new Map([[1, 2]])') as unknown }, /a Map/],
    [[runInNewContext("new TypeError('elsewhere')") as unknown], /an Error \(elsewhere\)/],
  ] as const) {
    assert.throws(() => jsonCodec.encode!(value, {}), (err: ToolkitError) => err.code === 'ERR_ENCODE' && what.test(err.message), String(what));
    assert.throws(() => jsonLinesCodec.encode!(value, {}), { code: 'ERR_ENCODE' });
  }
  // Class instances, null-prototype objects, Dates and bigints are written as before.
  class Point { constructor(readonly x: number) {} }
  assert.equal(jsonCodec.encode!({ p: new Point(1), n: Object.assign(Object.create(null), { a: 1 }), d: new Date(0), b: 2n }, {}).toString(), '{"p":{"x":1},"n":{"a":1},"d":"1970-01-01T00:00:00.000Z","b":2}');
});

test('a tensor inside another value keeps a -0 as -0.0, as a tensor answered alone does', () => {
  const scores: Tensor = { dtype: 'float32', shape: [2, 2], data: Float32Array.from([-0, 0, 0.5, -0]) };
  const half: Tensor = { dtype: 'float16', shape: [], data: Uint16Array.from([0x8000]) };
  const body = jsonCodec.encode!({ scores, half, zeros: [scores], model: 'v1', n: -0 }, {}).toString();
  assert.equal(body, '{"scores":[[-0.0,0.0],[0.5,-0.0]],"half":-0.0,"zeros":[[[-0.0,0.0],[0.5,-0.0]]],"model":"v1","n":0}');
});

test('a small body whose first elements claim a huge shape is a 400 naming the misfit, not a RangeError or a huge allocation', () => {
  // [[[[0 × 6000], 0 × 5999], ...]]: 48 kB whose first elements claim 6000^4 (1.3 × 10^15) elements.
  const level = (inner: string): string => `[${inner}${',0'.repeat(5999)}]`;
  const body = level(level(level(`[0${',0'.repeat(5999)}]`)));
  for (const text of [body, `{"instances": ${body}}`, `{"inputs": {"x": ${body}}}`, `{"inputs": ${body}}`]) {
    rejects(text, /\[0\]\[0\]\[1\]: expected an array of 6000 elements/);
  }
  assert.throws(() => jsonLinesCodec.decode!(Buffer.from(body), {}), (e: unknown) => e instanceof ToolkitError && e.status === 400);
  const strings = body.replaceAll('0', '"s"');
  rejects(strings, /expected an array of 6000 elements/);
  // Rectangular tensors past the size checked first decode as before.
  const rows = JSON.stringify(Array.from({ length: 1025 }, (_, r) => Array.from({ length: 1024 }, (_, c) => (r + c) % 7)));
  const t = decode(`{"inputs": {"big": ${rows}, "small": 1}}`).tensors['big']!;
  assert.deepEqual([t.shape, t.data[1024 * 1024 + 3]], [[1025, 1024], (1024 + 3) % 7]);
});

test('a whole float is written 1.0 in every JSON answer, as TF Serving, Python and numpy write it, so that it reads back as a float', () => {
  // JSON.stringify writes 1, which Python's json.loads reads as an int and numpy as int64.
  const f32 = tensor('float32', [2, 2], Float32Array.from([1, 0.5, -3, 0]));
  const f64 = tensor('float64', [2], Float64Array.from([2, 1e21]));
  const f16 = tensor('float16', [2], Uint16Array.from([toFloat16Bits(4), toFloat16Bits(0.5)]));
  const out = { a: f32, b: f64, c: f16 };
  const text = (o: unknown, options: EncodeOptions = {}) => jsonCodec.encode!(o, options).toString('utf8');
  assert.equal(text({ a: f32 }), '[[1.0,0.5],[-3.0,0.0]]');
  assert.equal(text(out), '{"a":[[1.0,0.5],[-3.0,0.0]],"b":[2.0,1e+21],"c":[4.0,0.5]}');
  // TF Serving, row and columnar.
  assert.equal(text(out, { request: decode('{"instances": [1, 2]}') }), '{"predictions":[{"a":[1.0,0.5],"b":2.0,"c":4.0},{"a":[-3.0,0.0],"b":1e+21,"c":0.5}]}');
  assert.equal(text({ a: f32 }, { request: decode('{"instances": [1, 2]}') }), '{"predictions":[[1.0,0.5],[-3.0,0.0]]}');
  assert.equal(text(out, { request: decode('{"inputs": [1]}') }), '{"outputs":{"a":[[1.0,0.5],[-3.0,0.0]],"b":[2.0,1e+21],"c":[4.0,0.5]}}');
  // v2 (flat data).
  assert.match(text({ a: f32 }, { request: decode('{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}') }), /"data":\[1\.0,0\.5,-3\.0,0\.0\]/);
  // JSON lines, one output and several.
  assert.equal(jsonLinesCodec.encode!({ a: f32 }, {}).toString(), '[1.0,0.5]\n[-3.0,0.0]\n');
  assert.equal(jsonLinesCodec.encode!({ b: f64, c: f16 }, {}).toString(), '{"b":2.0,"c":4.0}\n{"b":1e+21,"c":0.5}\n');
  // Values from user code: float tensors and float typed arrays inside other values, a 0-d tensor.
  assert.equal(text({ scores: f32, raw: Float64Array.from([5, 0.25]), ids: Int32Array.from([1]), n: 2 }), '{"scores":[[1.0,0.5],[-3.0,0.0]],"raw":[5.0,0.25],"ids":[1],"n":2}');
  assert.equal(text(tensor('float32', [], Float32Array.from([7]))), '7.0');
  // Past what the WebAssembly writer takes (2^20 values), the TypeScript writer does the same.
  const big = tensor('float64', [2 ** 20 + 2], new Float64Array(2 ** 20 + 2).fill(3));
  big.data[1] = -0;
  const bigText = text(big);
  assert.equal(bigText.slice(0, 15), '[3.0,-0.0,3.0,3');
  assert.equal(bigText.length, 1 + 4 * (2 ** 20 + 2) + 1);
  // Integer dtypes stay integers.
  assert.equal(text(tensor('int32', [2], Int32Array.from([1, 2]))), '[1,2]');
});

test('TF Serving answers write int64 and uint64 as exact integer literals past 2^53, as TF Serving does, not strings', () => {
  const ids = tensor('int64', [2, 2], BigInt64Array.from([9007199254740993n, -9223372036854775808n, 1n, 0n]));
  const big = tensor('uint64', [2], BigUint64Array.from([18446744073709551615n, 2n]));
  const text = (o: TensorMap, body: string) => jsonCodec.encode!(o, { request: decode(body) }).toString('utf8');
  assert.equal(text({ ids }, '{"instances": [1, 2]}'), '{"predictions":[[9007199254740993,-9223372036854775808],[1,0]]}');
  assert.equal(text({ ids, big }, '{"instances": [1, 2]}'), '{"predictions":[{"ids":[9007199254740993,-9223372036854775808],"big":18446744073709551615},{"ids":[1,0],"big":2}]}');
  assert.equal(text({ ids, big }, '{"inputs": [1]}'), '{"outputs":{"ids":[[9007199254740993,-9223372036854775808],[1,0]],"big":[18446744073709551615,2]}}');
  assert.equal(text({ s: tensor('int64', [], BigInt64Array.from([-9007199254740993n])) }, '{"inputs": [1]}'), '{"outputs":-9007199254740993}');
  // Plain JSON keeps strings past 2^53, so that JavaScript's JSON.parse loses nothing silently.
  assert.equal(jsonCodec.encode!({ ids }, {}).toString(), '[["9007199254740993","-9223372036854775808"],[1,0]]');
});

test('plain data from user code holding several float arrays and tensors: each written in its place (whole floats as 1.0), strings that look like the place marks left alone', () => {
  const text = jsonCodec.encode!(
    {
      a: new Float32Array([1, 0.5]),
      s: '"0:0" and a mark: 1',
      nested: [{ b: tensor('float64', [2, 1], Float64Array.from([-0, 2])) }, new Float64Array([3])],
      ids: new Int32Array([4]),
      c: new Float32Array(0),
    },
    {},
  ).toString('utf8');
  assert.equal(text, '{"a":[1.0,0.5],"s":"\\"0:0\\" and a mark: 1","nested":[{"b":[[-0.0],[2.0]]},[3.0]],"ids":[4],"c":[]}');
});
