import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor, type Tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { fromFloat16Bits } from '../core/float16.js';
import { decodeNpy, encodeNpy, npyCodec, npyHeader } from './npy.js';
import { convertExact } from '../core/dtype-convert.js';
import fc from 'fast-check';
import { bytesToString } from './json-tensor.js';

// Written by numpy 2.4.6 `np.save` (base64), see the test names for the arrays.
const NPY: Record<string, string> = {
  f4_2x3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=',
  i8_3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoqAAAAAAAAAAYAAAAAAAAACQAAAAAAAAA=',
  f8_3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABFQAAAAAAAABhAAAAAAAAAIkA=',
  U_3: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPFUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo0AAAAMgAAADYAAAAAAAAAOQAAAAAAAAA=',
  b1: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAA==',
  scalar: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAMQA==',
  fortran: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAwAAAAEAAAAEAAAAAgAAAAUAAAA=',
  be: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAD/wAAAAAAAAQAAAAAAAAABACAAAAAAAAA==',
  f2: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPgDA/3s=',
  obj: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfE8nLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMSwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqABJWeAAAAAAAAAIwWbnVtcHkuX2NvcmUubXVsdGlhcnJheZSMDF9yZWNvbnN0cnVjdJSTlIwFbnVtcHmUjAduZGFycmF5lJOUSwCFlEMBYpSHlFKUKEsBSwGFlGgDjAVkdHlwZZSTlIwCTziUiYiHlFKUKEsDjAF8lE5OTkr/////Sv////9LP3SUYoldlH2USyp9lIwBNpRHQCIAAAAAAABzc2F0lGIu',
  u2_3d: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDQpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAEAAgADAAQABQAGAAcACAAJAAoACwAMAA0ADgAPABAAEQASABMAFAAVABYAFwA=',
  v2: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTInLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAEAAgA=',
  nul_U: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPFUzJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAphAAAAAAAAAGIAAAAAAAAAeAAAAAAAAAA=',
  snan_f4_fortran: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAIB/AABAQAAAAEAAAIBA',
  // Only the header (192 bytes) of np.zeros((1,)*12 + (10, 10), np.float32): 592 bytes in all.
  pad64_header: 'k05VTVBZAQC2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEsIDEwLCAxMCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAK',
  // np.array([b'\xff\x00a', b'hi', 'é'.encode()]): '|S3', bytes that are not UTF-8 first.
  S_bytes: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfFMzJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr/AGFoaQDDqQA=',
  big_first: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEyMzQ1NiwgMCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=',
};
const bytes = (name: string): Buffer => Buffer.from(NPY[name]!, 'base64');
const plain = (t: Tensor) => ({ dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<unknown>) });
const rejects = (buf: Buffer, code: string, pattern: RegExp): void => {
  assert.throws(() => npyCodec.decode!(buf, {}), (e: unknown) => e instanceof ToolkitError && e.code === code && e.status === 400 && pattern.test(e.message));
};

test('C-1.9: numpy arrays decode: int64, float64, unicode strings', () => {
  assert.deepEqual(plain(decodeNpy(bytes('i8_3'))), { dtype: 'int64', shape: [3], data: [42n, 6n, 9n] });
  assert.deepEqual(plain(decodeNpy(bytes('f8_3'))), { dtype: 'float64', shape: [3], data: [42, 6, 9] });
  assert.deepEqual(plain(decodeNpy(bytes('U_3'))), { dtype: 'string', shape: [3], data: ['42', '6', '9'] });
  const r = npyCodec.decode!(bytes('f4_2x3'), {});
  assert.equal(r.form, 'tensor');
  assert.deepEqual(plain(r.tensors[UNNAMED]!), { dtype: 'float32', shape: [2, 3], data: [0, 1, 2, 3, 4, 5] });
});

test('NPY dtypes: bool, float16, uint16 3-D, 0-d scalar, empty, format version 2', () => {
  assert.deepEqual(plain(decodeNpy(bytes('b1'))), { dtype: 'bool', shape: [2], data: [1, 0] });
  const half = decodeNpy(bytes('f2'));
  assert.equal(half.dtype, 'float16');
  assert.deepEqual(Array.from(half.data as Uint16Array, fromFloat16Bits), [1.5, -2, 65504]);
  assert.deepEqual(plain(decodeNpy(bytes('u2_3d'))), { dtype: 'uint16', shape: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => i) });
  assert.deepEqual(plain(decodeNpy(bytes('scalar'))), { dtype: 'float64', shape: [], data: [3.5] });
  assert.deepEqual(plain(decodeNpy(bytes('big_first'))), { dtype: 'float32', shape: [123456, 0], data: [] });
  assert.deepEqual(plain(decodeNpy(bytes('v2'))), { dtype: 'int16', shape: [3], data: [0, 1, 2] });
});

test('big-endian data is byte-swapped and Fortran order is reordered to C order', () => {
  assert.deepEqual(plain(decodeNpy(bytes('be'))), { dtype: 'float64', shape: [4], data: [0, 1, 2, 3] });
  assert.deepEqual(plain(decodeNpy(bytes('fortran'))), { dtype: 'int32', shape: [2, 3], data: [0, 1, 2, 3, 4, 5] });
  // [[sNaN 0x7f800001, 2], [3, 4]] in Fortran order: the NaN keeps its bits (it was quieted to 0x7fc00001).
  const nan = decodeNpy(bytes('snan_f4_fortran'));
  assert.deepEqual(nan.shape, [2, 2]);
  const data = nan.data as Float32Array;
  assert.deepEqual(Array.from(new Uint32Array(data.buffer, data.byteOffset, 4), (b) => b.toString(16)), ['7f800001', '40000000', '40400000', '40800000']);
});

test('unicode strings keep a NUL inside them; numpy strips trailing ones only', () => {
  assert.deepEqual(plain(decodeNpy(bytes('nul_U'))), { dtype: 'string', shape: [2], data: ['a\u0000b', '\u0000x'] });
});

test("'|S' byte strings keep their bytes: UTF-8 ones as text, others as binary strings (one character per byte), not U+FFFD", () => {
  const t = decodeNpy(bytes('S_bytes'));
  assert.deepEqual(plain(t), { dtype: 'string', shape: [3], data: ['\u00ff\u0000a', 'hi', 'é'] });
  assert.deepEqual([...Buffer.from((t.data as string[])[0]!, 'latin1')], [0xff, 0x00, 0x61]);
});

test('aligned data is a zero-copy view of the body; unaligned data is copied', () => {
  const body = bytes('f8_3');
  const aligned = Buffer.alloc(body.length + 8);
  body.copy(aligned, 8);
  const view = decodeNpy(aligned.subarray(8));
  assert.equal((view.data as Float64Array).buffer, aligned.buffer);
  const odd = Buffer.alloc(body.length + 1);
  body.copy(odd, 1);
  const copied = decodeNpy(odd.subarray(1));
  assert.notEqual((copied.data as Float64Array).buffer, odd.buffer);
  assert.deepEqual(Array.from(copied.data as Float64Array), [42, 6, 9]);
});

test('C-1.9 decision: pickled object arrays are refused with 400 ERR_NPY_PICKLE', () => {
  rejects(bytes('obj'), 'ERR_NPY_PICKLE', /object array.*refuses pickles/);
});

test('malformed NPY bodies are a 400 saying what is wrong', () => {
  rejects(Buffer.from('[1,2,3]'), 'ERR_NPY_PARSE', /magic string/);
  rejects(bytes('f4_2x3').subarray(0, 140), 'ERR_NPY_PARSE', /truncated: its header promises 24 data bytes but 12 follow/);
  const complex = Buffer.from(bytes('f8_3'));
  complex.write("'<c8'", complex.indexOf("'<f8'"), 'latin1');
  rejects(complex, 'ERR_NPY_PARSE', /dtype '<c8'/);
  const v9 = Buffer.from(bytes('f8_3'));
  v9[6] = 9;
  rejects(v9, 'ERR_NPY_PARSE', /version 9/);
});

test("a header without exactly numpy's keys is a 400, as np.load refuses it (no 'fortran_order' read as C order); so is a repeated key, which np.load reads as its last", () => {
  const npy = (dict: string, data: Buffer) => {
    const h = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    h.writeUInt16LE(dict.length + 1, 8);
    return Buffer.concat([h, Buffer.from(`${dict}\n`, 'latin1'), data]);
  };
  const i2x3 = Buffer.from(Int16Array.of(1, 4, 2, 5, 3, 6).buffer);
  // Fortran data whose header lost its 'fortran_order': read as C order it would be transposed.
  rejects(npy("{'descr': '<i2', 'shape': (2, 3), }", i2x3), 'ERR_NPY_PARSE', /header has the keys 'descr', 'shape'; np.load reads exactly 'descr', 'fortran_order' and 'shape'$/);
  rejects(npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }", i2x3), 'ERR_NPY_PARSE', /the keys 'descr', 'fortran_order', 'shape', 'x';/);
  rejects(npy("{'descr': '<i2', 'descr': '<i2', 'shape': (2, 3), }", i2x3), 'ERR_NPY_PARSE', /the keys 'descr', 'descr', 'shape';/);
  // numpy reads the last of a repeated key ('<f8' here: 6 bytes short), smkit's regexes the first.
  rejects(npy("{'descr': '<i2', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", i2x3), 'ERR_NPY_PARSE', /header has 'descr' more than once; numpy writes each of 'descr', 'fortran_order' and 'shape' once \(np.load would read the last\)/);
  // Over a thousand keys (within numpy's 10 000-character header): the first eight are named.
  rejects(npy(`{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), ${"'k': 1, ".repeat(1200)}}`, i2x3), 'ERR_NPY_PARSE', /the keys 'descr', 'fortran_order', 'shape', 'k', 'k', 'k', 'k', 'k', …;/);
  // Double quotes and any key order are still numpy's keys.
  const ok = npyCodec.decode!(npy('{"shape": (2, 3), "fortran_order": True, "descr": "<i2"}', i2x3), {}).tensors[UNNAMED]!;
  assert.deepEqual(plain(ok), { dtype: 'int16', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
});

test("'shape' is read as numpy reads it, a Python tuple: (3) is the number 3 and (3,,1) no tuple at all, both a 400 (np.load: \"shape is not valid\"); a trailing comma and Python 2's 3L are taken", () => {
  const npy = (shape: string, data: Buffer) => {
    const dict = `{'descr': '<i2', 'fortran_order': False, 'shape': ${shape}, }`;
    const h = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    h.writeUInt16LE(dict.length + 1, 8);
    return Buffer.concat([h, Buffer.from(`${dict}\n`, 'latin1'), data]);
  };
  const three = Buffer.from(Int16Array.of(1, 2, 3).buffer);
  rejects(npy('(3)', three), 'ERR_NPY_PARSE', /'shape': \(3\), a number rather than a tuple: a 1-dimensional shape is written \(3,\), as numpy writes it/);
  rejects(npy('( 3L )', three), 'ERR_NPY_PARSE', /'shape': \(3L\), a number rather than a tuple/);
  rejects(npy('(3,,1)', three), 'ERR_NPY_PARSE', /invalid shape \(3,,1\)/);
  rejects(npy('(,3)', three), 'ERR_NPY_PARSE', /invalid shape \(,3\)/);
  rejects(npy('(,)', Buffer.from(Int16Array.of(1).buffer)), 'ERR_NPY_PARSE', /invalid shape \(,\)/);
  for (const [shape, dims] of [['(3,)', [3]], ['(3L,)', [3]], ['( 3 , )', [3]], ['(3, 1,)', [3, 1]], ['(1, 3L)', [1, 3]]] as const) {
    assert.deepEqual(plain(decodeNpy(npy(shape, three))), { dtype: 'int16', shape: dims, data: [1, 2, 3] }, shape);
  }
  assert.deepEqual(plain(decodeNpy(npy('()', Buffer.from(Int16Array.of(7).buffer)))), { dtype: 'int16', shape: [], data: [7] });
});

test('C-2.6: the header layout is byte-identical to numpy (2×3 float32: 118-byte header, 152 bytes)', () => {
  const out = encodeNpy(tensor('float32', [2, 3], Float32Array.from([0, 1, 2, 3, 4, 5])));
  assert.equal(out.readUInt16LE(8), 118);
  assert.equal(out.length, 152);
  assert.deepEqual(out, bytes('f4_2x3'));
  for (const name of ['i8_3', 'f8_3', 'u2_3d', 'scalar', 'b1', 'f2', 'U_3', 'big_first']) {
    assert.deepEqual(encodeNpy(decodeNpy(bytes(name))), bytes(name), name);
  }
  // A dict that already ends on the 64-byte boundary gets 64 spaces, as numpy pads it.
  const padded = encodeNpy(tensor('float32', [...Array<number>(12).fill(1), 10, 10], new Float32Array(100)));
  assert.equal(padded.length, 592);
  assert.deepEqual(padded.subarray(0, 192), bytes('pad64_header'));
});

test('C-2.6: plain JS values encode as <i8 (integers), <f8 (numbers), |b1 and <U', () => {
  const enc = (v: unknown) => decodeNpy(npyCodec.encode!(v, {}));
  assert.deepEqual(plain(enc([42, 6, 9])), { dtype: 'int64', shape: [3], data: [42n, 6n, 9n] });
  assert.deepEqual(npyCodec.encode!([42, 6, 9], {}), bytes('i8_3'));
  assert.deepEqual(plain(enc([42.5, 6, 9])), { dtype: 'float64', shape: [3], data: [42.5, 6, 9] });
  assert.deepEqual(plain(enc([[true], [false]])), { dtype: 'bool', shape: [2, 1], data: [1, 0] });
  assert.deepEqual(npyCodec.encode!(['42', '6', '9'], {}), bytes('U_3'));
  assert.deepEqual(plain(enc(Float32Array.from([1, 2]))), { dtype: 'float32', shape: [2], data: [1, 2] });
});

test('every aligned round trip preserves the preamble alignment to 64 bytes', () => {
  for (const shape of [[1], [10, 10], [1000000, 2], [3, 4, 5, 6]]) {
    const size = shape.reduce((a, b) => a * b, 1);
    const out = encodeNpy(tensor('float32', shape, new Float32Array(size)));
    assert.equal((10 + out.readUInt16LE(8)) % 64, 0, shape.join('x'));
    assert.deepEqual(decodeNpy(out).shape, shape);
  }
});

test('several outputs are a 406 naming them', () => {
  assert.throws(
    () => npyCodec.encode!({ a: tensor('float32', [1], Float32Array.of(1)), b: tensor('float32', [1], Float32Array.of(2)) }, {}),
    (e: unknown) => e instanceof ToolkitError && e.status === 406 && /'a', 'b'/.test(e.message),
  );
});

test('hostile NPY headers and unicode data are a short 400 (or 413 past the budget), never a crash or a big allocation', () => {
  const npy = (descr: string, shape: string, data: Buffer = Buffer.alloc(0)) => {
    const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }\n`;
    const h = Buffer.alloc(10);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
    h.writeUInt16LE(dict.length, 8);
    return Buffer.concat([h, Buffer.from(dict, 'latin1'), data]);
  };
  const u32 = (...codes: number[]) => Buffer.from(Uint32Array.from(codes).buffer);
  const short400 = (e: unknown) => e instanceof ToolkitError && e.status === 400 && e.message.length < 400;
  for (const [descr, shape, data] of [
    ['<U2', '(1,)', u32(0x41, 0x110000)], // not a code point
    ['<U1', '(1,)', u32(0xffffffff)],
    ['<U99999999999', '(1,)', u32(0x41)], // huge itemsize
    ['<U0', '(1000000000,)', Buffer.alloc(0)], // zero width: a billion empty strings from nothing
    ['<f8', '(-1,)', Buffer.alloc(0)],
    ['<f8', '(99999999999999999999,)', Buffer.alloc(0)],
    ['<f8', `(${'1,'.repeat(65)})`, Buffer.alloc(8)],
    [`<${'x'.repeat(20_000)}`, '(1,)', Buffer.alloc(0)],
  ] as const) {
    assert.throws(() => npyCodec.decode!(npy(descr, shape, data), {}), short400, `${descr.slice(0, 20)} ${shape.slice(0, 20)}`);
  }
  // A long unicode string decodes (no argument-spread stack overflow) ...
  const long = npyCodec.decode!(npy('<U1000000', '(1,)', Buffer.from(new Uint32Array(1_000_000).fill(0x1f600).buffer)), {}).tensors[UNNAMED]!;
  assert.equal((long.data as string[])[0]!.length, 2_000_000);
  // ... and the decoded-size budget counts it.
  assert.throws(
    () => npyCodec.decode!(npy('<U1000000', '(1,)', Buffer.from(new Uint32Array(1_000_000).fill(0x41).buffer)), {}, { maxDecodedBytes: 1_000_000 }),
    (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_DECODED_TOO_LARGE',
  );
});

/** An NPY file of `major`.0 for a float32 [2] array whose header is padded to `chars` characters, `extra` written before the padding. */
const paddedNpy = (major: 1 | 3, chars: number, extra = ''): Buffer => {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }${extra}`;
  const header = `${dict}${' '.repeat(chars - [...dict].length - 1)}\n`;
  const text = Buffer.from(header, major === 3 ? 'utf8' : 'latin1');
  const preamble = Buffer.alloc(major === 1 ? 10 : 12);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(preamble);
  if (major === 1) preamble.writeUInt16LE(text.length, 8);
  else preamble.writeUInt32LE(text.length, 8);
  return Buffer.concat([preamble, text, Buffer.from(new Float32Array([1.5, -2]).buffer)]);
};

test("a header longer than numpy's max_header_size (10 000 characters) is a 400, as np.load refuses it; 10 000 is read", () => {
  assert.deepEqual(Array.from(decodeNpy(paddedNpy(1, 10_000)).data as Float32Array), [1.5, -2]);
  rejects(paddedNpy(1, 10_001), 'ERR_NPY_PARSE', /header is 10001 characters long, more than the 10 000 np\.load reads by default \(numpy's max_header_size\)/);
  // numpy counts a version 3 (UTF-8) header's characters, not its bytes or UTF-16 units: 😀 is one.
  const emoji = '😀'.repeat(100);
  const v3 = paddedNpy(3, 10_000, emoji);
  assert.ok(v3.readUInt32LE(8) > 10_000);
  assert.deepEqual(Array.from(decodeNpy(v3).data as Float32Array), [1.5, -2]);
  rejects(paddedNpy(3, 10_001, emoji), 'ERR_NPY_PARSE', /header is 10001 characters long/);
});

test('an empty array keeps the dtype its header states: <U of shape (0,) is not numbers for an int64 input, nor <f4 of shape (2, 0) text', () => {
  assert.throws(() => convertExact(decodeNpy(encodeNpy(tensor('string', [0], []))), 'int64', 'input "n"'), (e: unknown) => e instanceof ToolkitError && e.status === 400 && /sent text/.test(e.message));
  assert.throws(() => convertExact(decodeNpy(encodeNpy(tensor('float32', [2, 0], new Float32Array(0)))), 'string', 'input "s"'), (e: unknown) => e instanceof ToolkitError && /sent float32 values/.test(e.message));
  // Numbers to numbers convert, as with values.
  assert.deepEqual(convertExact(decodeNpy(encodeNpy(tensor('float32', [2, 0], new Float32Array(0)))), 'int64', 'x').shape, [2, 0]);
});

test("a version 3 (UTF-8) header's text is quoted in part between characters: half an emoji would reach the 400's JSON as a lone surrogate, which Python cannot print", () => {
  const header = `{'descr': '<f4', 'fortran_order': ${'x'.repeat(59)}😀y, 'shape': (2,), }\n`;
  const text = Buffer.from(header, 'utf8');
  const preamble = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0, 0, 0, 0, 0]);
  preamble.writeUInt32LE(text.length, 8);
  assert.throws(
    () => decodeNpy(Buffer.concat([preamble, text, Buffer.alloc(8)])),
    (e: unknown) => e instanceof ToolkitError && e.message === `NPY body has 'fortran_order': ${'x'.repeat(59)}…; it must be True or False`,
  );
});

test('a string tensor of a million elements encodes as <U (its width found without spreading the elements into Math.max, which overflowed the stack: a 500); code points, not UTF-16 units, set the width', () => {
  const n = 1_000_000;
  const data = new Array<string>(n).fill('a');
  data[n - 1] = 'é😀';
  const out = encodeNpy(tensor('string', [n], data));
  const back = decodeNpy(out);
  assert.match(out.subarray(0, 64).toString('latin1'), /'descr': '<U2'/);
  assert.equal(back.data.length, n);
  assert.equal((back.data as string[])[n - 1], 'é😀');
  assert.equal((back.data as string[])[0], 'a');
});

test("property: any '|S' array answered in NPY is '|S' again with every element's bytes (numpy's trailing NULs aside), unless two elements read as the same string", () => {
  const element = fc.uint8Array({ maxLength: 6 }).map((b) => {
    let end = b.length;
    while (end > 0 && b[end - 1] === 0) end--;
    return Buffer.from(b.subarray(0, end));
  });
  fc.assert(
    fc.property(fc.array(element, { maxLength: 8 }), (elements) => {
      // b'\xe9' (not UTF-8: one character per byte) and b'\xc3\xa9' (UTF-8) both read as 'é': such an array cannot say which was which.
      const read = elements.map((b) => bytesToString(b));
      fc.pre(new Set(read).size === new Set(elements.map((b) => b.toString('hex'))).size);
      const width = Math.max(1, ...elements.map((b) => b.length));
      const body = Buffer.concat([npyHeader(`|S${width}`, [elements.length]), ...elements.map((b) => Buffer.concat([b, Buffer.alloc(width - b.length)]))]);
      const request = npyCodec.decode!(body, {});
      const answer = npyCodec.encode!(request.tensors, { request });
      assert.deepEqual(answer, body);
    }),
    { numRuns: 500 },
  );
});

