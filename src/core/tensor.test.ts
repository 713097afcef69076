import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runInNewContext } from 'node:vm';
import { castTensor, checkTensorStorage, tensor, toNested, withFloat16Bits, type TensorMap } from './tensor.js';
import { float16Bits, fromFloat16Bits, toFloat16Bits } from './float16.js';

test('toNested rebuilds nested arrays in row-major order', () => {
  const t = tensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(toNested(t), [[1, 2, 3], [4, 5, 6]]);
});

test('castTensor converts numbers to int64 and bool', () => {
  const t = tensor('float64', [3], Float64Array.from([1.9, -2.5, 0]));
  assert.deepEqual([...castTensor(t, 'int64').data], [1n, -2n, 0n]);
  assert.deepEqual(toNested(castTensor(t, 'bool')), [true, true, false]);
});

test('tensor() refuses data that does not fit the shape', () => {
  assert.throws(() => tensor('float32', [2, 2], new Float32Array(3)), /needs 4/);
});

test('float16 tensors read back as numbers, not raw bits', () => {
  const t = tensor('float16', [2], Uint16Array.from([0x3c00, 0xc000]));
  assert.deepEqual(toNested(t), [1, -2]);
});

test('castTensor reads numeric strings as numpy astype does and refuses text instead of making NaN', () => {
  const t = tensor('string', [5], ['1.5', ' -2 ', 'nan', '-inf', 'Infinity']);
  const f = castTensor(t, 'float64').data as Float64Array;
  assert.deepEqual([f[0], f[1], f[3], f[4]], [1.5, -2, -Infinity, Infinity]);
  assert.ok(Number.isNaN(f[2]));
  for (const bad of ['abc', '', '0x10', '1,5']) {
    assert.throws(() => castTensor(tensor('string', [1], [bad]), 'float32'), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'ERR_INPUT_VALUE' && /not a number/.test(e.message), bad);
  }
});

const Float16ArrayCtor = (globalThis as { Float16Array?: { from(values: number[]): ArrayBufferView & ArrayLike<number> } }).Float16Array;

test('float16Bits: a Uint16Array is bits as it is; other typed arrays hold values, rounded to float16', () => {
  const bits = Uint16Array.from([0x3800, 0x7e01]);
  assert.equal(float16Bits(bits), bits);
  assert.deepEqual(Array.from(float16Bits(Float32Array.from([0.5, -2, 1e6, 0.1]))), [0x3800, 0xc000, 0x7c00, toFloat16Bits(0.1)]);
  assert.deepEqual(Array.from(float16Bits(Float64Array.from([-0]))), [0x8000]);
  fc.assert(
    fc.property(fc.double({ noNaN: true, min: -65504, max: 65504 }), (v) => fromFloat16Bits(float16Bits(Float64Array.of(v))[0]!) === fromFloat16Bits(toFloat16Bits(v))),
  );
});

test('float16Bits views a Float16Array as its own bytes, without copying', { skip: Float16ArrayCtor ? false : 'no global Float16Array on this Node' }, () => {
  const values = Float16ArrayCtor!.from([0.5, 1.5, -2, 65504, 2 ** -24]);
  const bits = float16Bits(values);
  assert.deepEqual(Array.from(bits), [0x3800, 0x3e00, 0xc000, 0x7bff, 0x0001]);
  assert.equal(bits.buffer, values.buffer);
});

test('withFloat16Bits: float16 data user code built as values becomes bits; other tensors and an all-bits map are kept', () => {
  const keep: TensorMap = { a: tensor('float16', [1], Uint16Array.of(0x3c00)), b: tensor('float32', [1], Float32Array.of(2)) };
  assert.equal(withFloat16Bits(keep), keep);
  const user = { h: { dtype: 'float16' as const, shape: [2], data: Float32Array.from([1, -0.5]) as unknown as Uint16Array }, f: keep['b']! };
  const fixed = withFloat16Bits(user);
  assert.notEqual(fixed, user);
  assert.deepEqual(Array.from(fixed['h']!.data as Uint16Array), [0x3c00, 0xb800]);
  assert.ok(fixed['h']!.data instanceof Uint16Array);
  assert.equal(fixed['f'], keep['b']);
  assert.ok(user.h.data instanceof Float32Array, 'the caller\'s map is not changed');
  // A tensor named __proto__ stays an own entry of the new map.
  const odd: TensorMap = {};
  Object.defineProperty(odd, '__proto__', { value: user.h, enumerable: true, writable: true, configurable: true });
  const oddFixed = withFloat16Bits(odd);
  assert.ok(Object.hasOwn(oddFixed, '__proto__'));
  assert.deepEqual(Array.from(oddFixed['__proto__']!.data as Uint16Array), [0x3c00, 0xb800]);
});

test('checkTensorStorage names the data it refuses without running its code (a constructor getter that throws)', () => {
  const data = Float64Array.of(7);
  Object.defineProperty(data, 'constructor', { get() { throw new Error('ran'); } });
  assert.throws(() => checkTensorStorage({ ids: { dtype: 'int64', shape: [1], data } as unknown as TensorMap[string] }, 'predictFn'), {
    code: 'ERR_USER_CODE',
    message: 'predictFn returned tensor "ids" with dtype int64 but its data is a Float64Array: put int64 data in a BigInt64Array, or give the dtype of the data',
  });
});

test("checkTensorStorage says when the data is the dtype's own array but of another realm (a vm context), which it would otherwise ask for", () => {
  const data = runInNewContext('Float64Array.of(7)') as Float64Array;
  // Before: 'its data is a Float64Array: put float64 data in a Float64Array'.
  assert.throws(() => checkTensorStorage({ x: { dtype: 'float64', shape: [1], data } }, 'predictFn'), {
    code: 'ERR_USER_CODE',
    message: "predictFn returned tensor \"x\" with dtype float64 but its data is a Float64Array made in another realm (a vm context): put float64 data in a Float64Array of this realm's, or give the dtype of the data",
  });
});

test('checkTensorStorage quotes a long tensor name in part between characters (an echo of a request\'s input name can hold emoji)', () => {
  const name = `${'n'.repeat(59)}😀😀`;
  assert.throws(() => checkTensorStorage({ [name]: { dtype: 'float32', shape: [1], data: Float64Array.of(1) } as unknown as TensorMap[string] }, 'predictFn'), {
    code: 'ERR_USER_CODE',
    message: `predictFn returned tensor "${'n'.repeat(59)}…" with dtype float32 but its data is a Float64Array: put float32 data in a Float32Array, or give the dtype of the data`,
  });
});
