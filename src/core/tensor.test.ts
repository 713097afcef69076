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
