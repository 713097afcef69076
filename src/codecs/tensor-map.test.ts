import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { tensor } from '../core/tensor.js';
import { isTensor, isTensorMap } from './tensor-map.js';
import { plainToTensor } from './single-output.js';
import { decodeJsonValue } from './json.js';

test('isTensor checks dtype, shape and data length', () => {
  assert.ok(isTensor(tensor('float32', [2], Float32Array.of(1, 2))));
  assert.ok(isTensor({ dtype: 'string', shape: [1], data: ['a'] }));
  assert.ok(isTensor({ dtype: 'uint8', shape: [3], data: Buffer.from('abc') }));
  assert.ok(!isTensor({ dtype: 'float32', shape: [3], data: Float32Array.of(1, 2) }));
  assert.ok(!isTensor({ dtype: 'complex64', shape: [1], data: Float32Array.of(1) }));
  assert.ok(!isTensor({ dtype: 'float32', shape: [1.5], data: Float32Array.of(1) }));
  assert.ok(!isTensor({ dtype: 'float32', shape: [1], data: [1] }));
  assert.ok(!isTensor([1, 2]));
});

test('isTensorMap needs a non-empty plain object of tensors', () => {
  assert.ok(isTensorMap({ y: tensor('float32', [1], Float32Array.of(1)) }));
  assert.ok(!isTensorMap({}));
  assert.ok(!isTensorMap({ y: tensor('float32', [1], Float32Array.of(1)), label: 'x' }));
  assert.ok(!isTensorMap([tensor('float32', [1], Float32Array.of(1))]));
  assert.ok(!isTensorMap(null));
  assert.ok(!isTensorMap(Float32Array.of(1)));
});

test('plain JS values become tensors: whole numbers int64, others float64, typed arrays by type', () => {
  assert.equal(plainToTensor([1, 2], 'x').dtype, 'int64');
  assert.equal(plainToTensor([1, 2.5], 'x').dtype, 'float64');
  assert.equal(plainToTensor([true], 'x').dtype, 'bool');
  assert.equal(plainToTensor(Int32Array.of(1), 'x').dtype, 'int32');
  assert.deepEqual(plainToTensor(5n, 'x').shape, []);
  assert.throws(() => plainToTensor({ a: 1 }, 'text/csv'), { code: 'ERR_ENCODE' });
});

test('inputs a request names __proto__ stay own entries of an ordinary object (JSON, v2, instances)', () => {
  const bodies = [
    '{"inputs": {"__proto__": [1], "x": [2]}}',
    '{"inputs": [{"name": "__proto__", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "x", "shape": [1], "datatype": "FP32", "data": [2]}]}',
    '{"instances": [{"__proto__": 1, "x": 2}]}',
  ];
  for (const body of bodies) {
    const { tensors } = decodeJsonValue(JSON.parse(body));
    assert.deepEqual(Object.keys(tensors), ['__proto__', 'x'], body);
    assert.equal(Object.getPrototypeOf(tensors), Object.prototype, 'user hooks get an ordinary object');
    assert.ok(Object.hasOwn(tensors, '__proto__') && isTensor(tensors['__proto__']), body);
  }
});

test('a typed array single-array formats cannot carry is named with its article, and none of its code runs', () => {
  // Another realm's Int32Array is no Int32Array of this one; its constructor is not read (a getter could throw).
  const foreign = runInNewContext('const a = new Int32Array(2); Object.defineProperty(a, "constructor", { get() { throw new Error("ran"); } }); a') as unknown;
  // Before, its constructor's name was read: this getter threw 'ran', and a plain one gave 'Cannot encode a Int32Array', a kind single-array formats do carry.
  assert.throws(() => plainToTensor(foreign, 'text/csv'), {
    code: 'ERR_ENCODE',
    message: "Cannot encode an Int32Array made in another realm (a vm context): copy it into one of this realm's (new Int32Array(value))",
  });
});

test("another realm's DataView is named as one", () => {
  // Before: 'Cannot encode an object' (a DataView has no typed-array tag).
  assert.throws(() => plainToTensor(runInNewContext('new DataView(new ArrayBuffer(4))'), 'text/csv'), { code: 'ERR_ENCODE', message: 'Cannot encode a DataView' });
  assert.throws(() => plainToTensor(new DataView(new ArrayBuffer(4)), 'text/csv'), { code: 'ERR_ENCODE' });
});

test("another realm's Float16Array, which no realm's single-array formats carry, is refused without the hint to copy it", { skip: runInNewContext('typeof Float16Array') === 'undefined' && 'no Float16Array in this Node' }, () => {
  // Before: '... made in another realm (a vm context): copy it into one of this realm's (new Float16Array(value))', which is refused too.
  assert.throws(() => plainToTensor(runInNewContext('new Float16Array(2)'), 'text/csv'), { code: 'ERR_ENCODE', message: 'Cannot encode a Float16Array' });
});
