import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNNAMED, tensor, type Tensor } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { csvCodec } from './csv.js';
import { toFloat16Bits } from '../core/float16.js';

const decode = (text: string): Tensor => csvCodec.decode!(Buffer.from(text), {}).tensors[UNNAMED]!;
const rows = (text: string) => {
  const t = decode(text);
  assert.equal(t.dtype, 'float64');
  return { shape: [...t.shape], data: Array.from(t.data as Float64Array) };
};
const encode = (prediction: unknown): string => csvCodec.encode!(prediction, {}).toString('utf8');
const rejects = (text: string, pattern: RegExp): void => {
  assert.throws(() => decode(text), (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_CSV_PARSE' && e.status === 400 && pattern.test(e.message));
};

test('C-1.4 (decision: one column is N×1): a single column of numbers', () => {
  assert.deepEqual(rows('42\n6\n9\n'), { shape: [3, 1], data: [42, 6, 9] });
  assert.deepEqual(rows('42.0\n6.0\n9.0\n'), { shape: [3, 1], data: [42, 6, 9] });
});

test('C-1.5: rows, CRLF, blank lines, spaces, exponents', () => {
  assert.deepEqual(rows('1,2,3\n4,5,6\n'), { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
  assert.deepEqual(rows('1,2,3'), { shape: [1, 3], data: [1, 2, 3] });
  assert.deepEqual(rows('1,2,3\r\n4,5,6\r\n'), { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
  assert.deepEqual(rows('1,2\n3,4\n\n'), { shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(rows('\n\n1,2\n  \n3,4\r\n\r\n'), { shape: [2, 2], data: [1, 2, 3, 4] });
  assert.deepEqual(rows(' 1 , 2 '), { shape: [1, 2], data: [1, 2] });
  assert.deepEqual(rows('\t1\t,\t2\t\n'), { shape: [1, 2], data: [1, 2] });
  assert.deepEqual(rows('1e-3,2E5'), { shape: [1, 2], data: [0.001, 200000] });
  assert.deepEqual(rows('true,false'), { shape: [1, 2], data: [1, 0] });
});

test('C-1.7/C-1.10: mixed ints and floats give one homogeneous float matrix', () => {
  assert.deepEqual(rows('1.5,2\n3,4\n'), { shape: [2, 2], data: [1.5, 2, 3, 4] });
});

test('numbers: leading +, signs, bare dots, NaN/inf spellings, quoted fields, BOM', () => {
  const t = rows('\uFEFF+1.5,-2,.5,5.,-0\nnan,-inf,Infinity,"3","-1e2"\n');
  assert.deepEqual(t.shape, [2, 5]);
  assert.deepEqual(t.data.slice(0, 4), [1.5, -2, 0.5, 5]);
  assert.ok(Object.is(t.data[4], -0));
  assert.ok(Number.isNaN(t.data[5]));
  assert.deepEqual(t.data.slice(6), [-Infinity, Infinity, 3, -100]);
});

test('every field parses exactly as Number() would', () => {
  const samples = ['0.1', '0.30000000000000004', '9007199254740993', '9007199254740992.5', '1.00000000000000011', '0.12345678901234567',
    '2.2250738585072011', '9999999999999999999', '1.0000000000000000000001', '0.000000000000000000012345678901234567', '123456789012345678', '1.7976931348623157e308', '5e-324', '2.2250738585072014e-308', '9007199254740993', '1e23', '0.000001234', '-8.5e-10', '1e400', '00012'];
  const t = rows(samples.join(','));
  samples.forEach((s, i) => assert.ok(Object.is(t.data[i], Number(s)), s));
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const fields = Array.from({ length: 2000 }, (_, i) => {
    const x = (random() - 0.5) * 10 ** Math.floor(random() * 30 - 15);
    return [String(x), x.toFixed(6), x.toExponential(3), x.toPrecision(16), x.toPrecision(17), x.toPrecision(19), x.toFixed(18)][i % 7]!;
  });
  const big = rows(fields.join(','));
  fields.forEach((s, i) => assert.ok(Object.is(big.data[i], Number(s)), s));
});

test('text/csv; header=present skips the header row (RFC 4180), keeping line numbers in errors', () => {
  const withHeader = (text: string) => csvCodec.decode!(Buffer.from(text), { header: 'present' }).tensors[UNNAMED]!;
  assert.deepEqual(Array.from(withHeader('a,b\n1,2\n3,4\n').data as Float64Array), [1, 2, 3, 4]);
  assert.deepEqual(withHeader('\n"x","y"\r\n1,2\r\n').shape, [1, 2]);
  assert.throws(() => withHeader('a,b\n1,2\n3,z\n'), /CSV line 3, column 2/);
  assert.throws(() => withHeader('a,b\n'), /empty/);
});

test('the decoded tensor holds at most about twice its data, whatever the first row suggests', () => {
  const data = (text: string): Float64Array => decode(text).data as Float64Array;
  // A first row much shorter than the rest makes the parser size its buffer for far more rows.
  const short = data(`1\n${'1.0000000000000\n'.repeat(5000)}`);
  assert.equal(short.length, 5001);
  assert.ok(short.buffer.byteLength <= 2 * short.byteLength, `buffer ${short.buffer.byteLength} bytes for ${short.byteLength} bytes of data`);
  // Rows of even length: the tensor is a view that keeps the parser's sizing margin instead of a copy.
  const even = data('1.5,2.5\n'.repeat(5000));
  assert.equal(even.length, 10000);
  assert.ok(even.buffer.byteLength <= 2 * even.byteLength);
  assert.deepEqual(Array.from(even.subarray(0, 4)), [1.5, 2.5, 1.5, 2.5]);
});

test('C-1.6: ragged rows are a 400 naming the line and both column counts', () => {
  rejects('1,2,3\r\n1,2,3,4\r\n', /CSV line 2 has 4 columns but line 1 has 3/);
  rejects('1,2,3\n\n1,2\n', /CSV line 3 has 2 columns but line 1 has 3/);
});

test('C-1.8 decision: non-numeric fields are a 400 naming line and column', () => {
  rejects('a,b\n1,2\n', /CSV line 1, column 1: "a" is not a number.*header=present/);
  rejects('1,2\n3,x4\n', /CSV line 2, column 2: "x4" is not a number/);
  rejects('1,,3', /CSV line 1, column 2: an empty field/);
  rejects('1,2,', /column 3: an empty field/);
  rejects('1;2', /column 1: "1;2"/);
  rejects('1.2.3', /"1.2.3"/);
  rejects('1e', /"1e"/);
  rejects('', /empty/);
  rejects('\n', /empty/);
});

test('C-2.3/C-2.4: a 1-D output is one value per line, 2-D is one row per line', () => {
  assert.equal(encode([42, 6, 9]), '42\n6\n9\n');
  assert.equal(encode(['42', '6', '9']), '42\n6\n9\n');
  assert.equal(encode([[1, 2], [3, 4]]), '1,2\n3,4\n');
  assert.equal(encode([[1.5, 2.0], [3.0, 4.0]]), '1.5,2\n3,4\n');
  assert.equal(encode([true, false]), 'true\nfalse\n');
  assert.equal(encode({ y: tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])) }), '1,2,3\n4,5,6\n');
  assert.equal(encode({ y: tensor('float32', [2, 1], Float32Array.from([0.5, 0.25])) }), '0.5\n0.25\n');
});

test('C-2.4 decision: strings are quoted per RFC 4180', () => {
  assert.equal(encode(['a,b', 'c']), '"a,b"\nc\n');
  assert.equal(encode(['False,', 'True.', 'False,']), '"False,"\nTrue.\n"False,"\n');
  assert.equal(encode(['aaa', 'b"bb', 'ccc']), 'aaa\n"b""bb"\nccc\n');
  assert.equal(encode(['a\nb', 'c']), '"a\nb"\nc\n');
  assert.equal(encode([['x', 'y,z']]), 'x,"y,z"\n');
  // A row of one empty string is "" (as Python's csv writes it), not an empty line: that is a row of no values, which pandas skips.
  assert.equal(encode(['x', '', 'y']), 'x\n""\ny\n');
  assert.equal(encode({ y: tensor('string', [2, 1], ['', 'z']) }), '""\nz\n');
  assert.equal(encode({ y: tensor('string', [], ['']) }), '""\n');
  assert.equal(encode([['', '']]), ',\n');
});

test('CSV output: scalars, >2-D, int64, float16, NaN and an empty batch', () => {
  assert.equal(encode(42), '42\n');
  assert.equal(encode({ y: tensor('float64', [], Float64Array.from([2.5])) }), '2.5\n');
  assert.equal(encode({ y: tensor('int32', [2, 2, 2], Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8])) }), '1,2,3,4\n5,6,7,8\n');
  assert.equal(encode({ y: tensor('int64', [2], BigInt64Array.from([2n ** 62n, -1n])) }), '4611686018427387904\n-1\n');
  assert.equal(encode({ y: tensor('float16', [1, 2], Uint16Array.from([toFloat16Bits(0.5), toFloat16Bits(2)])) }), '0.5,2\n');
  assert.equal(encode({ y: tensor('float64', [1, 3], Float64Array.from([NaN, -Infinity, 1])) }), 'NaN,-Infinity,1\n');
  assert.equal(encode({ y: tensor('float32', [0, 3], new Float32Array(0)) }), '');
  assert.equal(encode(Float32Array.from([0.5, 1])), '0.5\n1\n');
});

test('CSV output round-trips through the decoder', () => {
  const data = Float64Array.from({ length: 300 }, (_, i) => (i - 150) / 7);
  const text = encode({ y: tensor('float64', [100, 3], data) });
  assert.deepEqual(Array.from(decode(text).data as Float64Array), Array.from(data));
});

test('several outputs are a 406 naming them', () => {
  assert.throws(
    () => encode({ a: tensor('float32', [1], Float32Array.of(1)), b: tensor('float32', [1], Float32Array.of(2)) }),
    (e: unknown) => e instanceof ToolkitError && e.code === 'ERR_NOT_ACCEPTABLE' && e.status === 406 && /'a', 'b'.*application\/json.*select one output/.test(e.message),
  );
});

test('objects from user code cannot be CSV', () => {
  assert.throws(() => encode({ a: 1 }), { code: 'ERR_ENCODE' });
  assert.throws(() => encode([[1, 2], [3]]), { code: 'ERR_ENCODE' });
});
