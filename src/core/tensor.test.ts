import { test } from 'node:test';
import assert from 'node:assert/strict';
import { castTensor, tensor, toNested } from './tensor.js';

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
