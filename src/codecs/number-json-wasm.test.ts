import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Tensor } from '../core/tensor.js';
import { floatTensorCsvBytes, floatTensorJsonBytes, floatTensorJsonText, numberJsonWasmAvailable, numberJsonWasmMemoryBytes } from './number-json-wasm.js';
import { csvCodec, tensorToCsv } from './csv.js';
import { tensorFlatToJson, tensorRowsToJson, tensorToJson } from './json-write.js';
import { jsonCodec } from './json.js';
import { LazyWasm } from './wasm-module.js';

/**
 * The WebAssembly writer must write exactly what `JSON.stringify` writes for the same nested
 * arrays, but for whole numbers (written `1.0`, as TF Serving, Python's json and numpy write
 * floats) and -0 (written `-0.0`), for every double and float32 value (the reference below builds
 * the text by hand), and hand back every tensor it does not take.
 */

/** One number as the JSON answers write a float: `String`'s text, `.0` after a whole number, -0 as `-0.0`, non-finite `null`. */
function floatText(v: number): string {
  if (!Number.isFinite(v)) return 'null';
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** `data` nested in `shape` as JSON, each number as {@link floatText} writes it: the reference text. */
function reference(data: ArrayLike<number>, shape: readonly number[]): string {
  const nest = (dim: number, offset: number): string => {
    if (dim === shape.length) return floatText(data[offset]!);
    let stride = 1;
    for (let d = dim + 1; d < shape.length; d++) stride *= shape[d]!;
    return `[${Array.from({ length: shape[dim]! }, (_, i) => nest(dim + 1, offset + i * stride)).join(',')}]`;
  };
  return nest(0, 0);
}

const float64 = (data: ArrayLike<number>, shape: number[]): Tensor => ({ dtype: 'float64', shape, data: Float64Array.from(data) });
const float32 = (data: ArrayLike<number>, shape: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });

function assertWritesAsStringify(t: Tensor): void {
  const want = reference(t.data as ArrayLike<number>, t.shape);
  assert.equal(floatTensorJsonText(t), want);
  assert.deepEqual(floatTensorJsonBytes(t), Buffer.from(want));
}

/** Any double, NaN, infinities, -0 and subnormals included: from its 64 bits. */
const anyDouble = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((bits) => new Float64Array(new BigUint64Array([bits]).buffer)[0]!);
/** Any float32 value: from its 32 bits. */
const anyFloat32 = fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((bits) => new Float32Array(new Uint32Array([bits]).buffer)[0]!);
/** What models answer: scores, logits, probabilities. */
const modelOutput = fc.oneof(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }));

/** A shape of rank 1-5 with dimensions 1-4, and values for it. */
function tensorOf(value: fc.Arbitrary<number>): fc.Arbitrary<{ data: number[]; shape: number[] }> {
  return fc
    .array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 })
    .chain((shape) => fc.array(value, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((data) => ({ data, shape })));
}

test('the writer is built and loads', () => {
  assert.equal(numberJsonWasmAvailable(), true, 'dist/src/codecs/number-json.wasm is missing: run npm run build');
});

test('every double is written as JSON.stringify writes it (property, from random bits)', () => {
  fc.assert(
    fc.property(fc.array(anyDouble, { minLength: 1, maxLength: 64 }), (values) => assertWritesAsStringify(float64(values, [values.length]))),
    { numRuns: 3000 },
  );
});

test('every float32 value is written as JSON.stringify writes the double it widens to (property, from random bits)', () => {
  fc.assert(
    fc.property(fc.array(anyFloat32, { minLength: 1, maxLength: 64 }), (values) => assertWritesAsStringify(float32(values, [values.length]))),
    { numRuns: 3000 },
  );
});

test('nested shapes get their brackets where JSON.stringify puts them (property)', () => {
  fc.assert(
    fc.property(tensorOf(modelOutput), fc.boolean(), ({ data, shape }, single) => assertWritesAsStringify(single ? float32(data, shape) : float64(data, shape))),
    { numRuns: 2000 },
  );
});

test('the layouts of Number::toString: exponents, small and large magnitudes, integers, signs, non-finite values', () => {
  const values = [
    0, -0, 1, -1, 7, -2147483648, 2147483647, 2147483648, -2147483649, 2 ** 53, 2 ** 53 + 2, 123456789012345680000, 1e20, 1e21, 1.5e21, 1e22,
    0.1, 0.5, 1 / 3, -2 / 3, 4.35, 0.3, 1e-6, 1.5e-6, 1e-7, 1.5e-7, 0.000001234, 0.0000001234, 123.456, 5e-324, -5e-324,
    2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308, -1.7976931348623157e308, NaN, Infinity, -Infinity,
  ];
  assertWritesAsStringify(float64(values, [values.length]));
  assertWritesAsStringify(float32(values, [values.length]));
});

test('doubles at the edge of Grisu3\'s safety margin keep their 17th digit', () => {
  // Found by relaxing the margin check in assembly/number-json.ts: each then lost its last digit.
  const values = [-146780528114244380, -521857492496738370, -6.8283701989368945e43, -29047843955792108, -6.1024644560454584e168, 4.5362063797132016e-248, -1.8105199954646752e185, -2.3107354948067241e241];
  assertWritesAsStringify(float64(values, [values.length]));
});

test('values whose digits Grisu3 cannot prove are written by the host (String), the same text', () => {
  // float32 values such as fround(897 / 7) = 128.14285278320312 make Grisu3 give up.
  const values = Array.from({ length: 2000 }, (_, i) => Math.fround((i + 1) / 7));
  const t = float32(values, [1000, 2]);
  assertWritesAsStringify(t);
  assert.ok(floatTensorJsonText(float32([Math.fround(897 / 7)], [1]))!.includes('128.14285278320312'));
});

test('tensors the writer does not take are handed back, and the JSON writers still answer them', () => {
  const hand = (t: Tensor) => assert.equal(floatTensorJsonText(t), undefined, `${t.dtype} [${t.shape.join(', ')}]`);
  hand({ dtype: 'int32', shape: [2], data: Int32Array.from([1, 2]) });
  hand({ dtype: 'float32', shape: [], data: Float32Array.from([1.5]) });
  hand({ dtype: 'float32', shape: [2, 0], data: new Float32Array(0) });
  hand({ dtype: 'float32', shape: [3], data: new Float32Array(2) });
  hand({ dtype: 'float64', shape: Array.from({ length: 33 }, () => 1), data: new Float64Array(1) });
  hand({ dtype: 'float64', shape: [2 ** 20 + 1], data: new Float64Array(2 ** 20 + 1) });
  hand({ dtype: 'float32', shape: [-1, -4], data: new Float32Array(4) });
  hand({ dtype: 'float32', shape: [2.5, 2], data: new Float32Array(5) });
  assert.equal(floatTensorCsvBytes({ dtype: 'float32', shape: [-2, -2], data: new Float32Array(4) }), undefined);
  assert.equal(tensorToJson({ dtype: 'float32', shape: [], data: Float32Array.from([1.5]) }), '1.5');
  assert.equal(tensorToJson({ dtype: 'float32', shape: [2, 0], data: new Float32Array(0) }), '[[],[]]');
  assert.equal(tensorFlatToJson({ dtype: 'float32', shape: [], data: Float32Array.from([0.25]) }), '[0.25]');
  assert.equal(tensorFlatToJson(float64([1.5, -2, 0.1, 3], [2, 2])), '[1.5,-2.0,0.1,3.0]');
  // The TypeScript writers write whole floats as the WebAssembly writer does.
  assert.equal(tensorToJson({ dtype: 'float32', shape: [], data: Float32Array.from([3]) }), '3.0');
  assert.equal(tensorToJson({ dtype: 'float64', shape: [], data: Float64Array.from([-0]) }), '-0.0');
  assert.equal(tensorToJson(float64(Array.from({ length: 2 ** 20 + 1 }, (_, i) => i % 3 === 0 ? -0 : i / 2), [2 ** 20 + 1])), reference(Array.from({ length: 2 ** 20 + 1 }, (_, i) => i % 3 === 0 ? -0 : i / 2), [2 ** 20 + 1]));
});

test('the TypeScript writers (tensors the WebAssembly writer does not take) write the bytes it writes: whole numbers as 1.0, -0 as -0.0, exponents as they are (property)', () => {
  // Rank 0 and rank 33 go to the TypeScript writers; the same values of rank 1 to the WebAssembly one.
  const deep = Array.from({ length: 32 }, () => 1);
  const values = fc.oneof(anyDouble, fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.constantFrom(0, -0, 1e21, -1e21, 1e20, 2 ** 53, 2 ** 64, 0.5, 1e-7, 5e-324, NaN, Infinity, -Infinity));
  fc.assert(
    fc.property(fc.array(values, { minLength: 1, maxLength: 16 }), fc.boolean(), (list, single) => {
      const flat = (shape: number[]): Tensor => (single ? float64(list, shape) : { dtype: 'float32', shape, data: Float32Array.from(list) });
      const wasm = floatTensorJsonText(flat([list.length]));
      assert.equal(wasm, reference(flat([list.length]).data as ArrayLike<number>, [list.length]));
      assert.equal(tensorToJson(flat([...deep, list.length])), `${'['.repeat(32)}${wasm}${']'.repeat(32)}`);
      assert.deepEqual(tensorRowsToJson(flat([...deep, list.length])), [`${'['.repeat(31)}${wasm}${']'.repeat(31)}`]);
      const scalars = Array.from(flat([list.length]).data as ArrayLike<number>, (v) => tensorToJson(single ? float64([v], []) : { dtype: 'float32', shape: [], data: Float32Array.of(v) }));
      assert.equal(`[${scalars.join(',')}]`, wasm);
      assert.deepEqual(tensorRowsToJson(flat([list.length])), scalars);
    }),
    { numRuns: 2000 },
  );
});

test('the JSON codec answers a float tensor with the same bytes, bare or wrapped, and keeps TF Serving\'s NaN tokens', () => {
  const t = float32([0.1, -2.5, NaN, 1e-7, Infinity, 3], [2, 3]);
  const text = reference(t.data as Float32Array, t.shape);
  assert.equal(jsonCodec.encode!({ out: t }, {}).toString(), text);
  assert.equal(jsonCodec.encode!({ out: t }, { request: { tensors: {}, form: 'tensor' } }).toString(), text);
  assert.equal(
    jsonCodec.encode!({ out: t }, { request: { tensors: {}, form: 'tfs-inputs' } }).toString(),
    `{"outputs":${text.replace('null', 'NaN').replace('null', 'Infinity')}}`,
  );
});

/** The CSV the TypeScript writer writes for `t`, as bytes. */
const csvReference = (t: Tensor) => Buffer.from(tensorToCsv(t), 'latin1');

test('CSV rows are the bytes the TypeScript CSV writer writes, NaN and Infinity included (property)', () => {
  const shaped = fc.oneof(
    tensorOf(fc.oneof(anyDouble, modelOutput)),
    fc.array(anyDouble, { minLength: 1, maxLength: 1 }).map((data) => ({ data, shape: [] as number[] })),
  );
  fc.assert(
    fc.property(shaped, fc.boolean(), ({ data, shape }, single) => {
      const t = single ? float32(data, shape) : float64(data, shape);
      assert.deepEqual(floatTensorCsvBytes(t), csvReference(t));
      assert.deepEqual(csvCodec.encode!({ out: t }, {}), csvReference(t));
    }),
    { numRuns: 2000 },
  );
  const special = float64([NaN, -Infinity, Infinity, -0, 1e21, 1e-7, 2147483648, -1.5], [2, 4]);
  assert.equal(floatTensorCsvBytes(special)!.toString(), 'NaN,-Infinity,Infinity,-0.0\n1e+21,1e-7,2147483648,-1.5\n');
});

test('a tensor without rows or values is left to the TypeScript CSV writer', () => {
  assert.equal(floatTensorCsvBytes({ dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }), undefined);
  assert.equal(floatTensorCsvBytes({ dtype: 'int32', shape: [1], data: Int32Array.from([1]) }), undefined);
  assert.equal(csvCodec.encode!({ out: { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) } }, {}).length, 0);
});

test('a memory grown past 16 MB by one large tensor is let go after it', () => {
  const big = float64(
    Array.from({ length: 2 ** 20 }, (_, i) => i / 3),
    [2 ** 19, 2],
  );
  const text = floatTensorJsonText(big)!;
  assert.equal(text.length, reference(big.data as Float64Array, big.shape).length);
  assert.equal(numberJsonWasmMemoryBytes(), 0, 'a memory over the keep limit is dropped after its write');
  assertWritesAsStringify(float32([1, 2.5], [2]));
  assert.ok(numberJsonWasmMemoryBytes() > 0 && numberJsonWasmMemoryBytes() <= 16 * 1024 * 1024);
});

test('a module that is not built loads as undefined (the TypeScript writers then answer)', () => {
  const missing = new LazyWasm(new URL('./no-such-module.wasm', import.meta.url));
  assert.equal(missing.get(), undefined);
  assert.equal(missing.memoryBytes(), 0);
});
