import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { tensor } from '../../core/tensor.js';
import { identityModelDir } from '../../../test/helpers/identity-model.js';
import { feedFloat16Bits, float16OutputBits } from './float16-bits.js';
import { loadOnnxModel } from './session.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

// Half-precision bit patterns a value round trip would change or lose: -0, the smallest subnormal,
// the largest finite values, infinities and a NaN with a payload.
const BITS = [0x3800, 0x3e00, 0x8000, 0x0001, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e01];

test(`float16 bits reach an ONNX model and come back exactly (Node ${process.versions.node}, global Float16Array: ${typeof (globalThis as { Float16Array?: unknown }).Float16Array !== 'undefined'})`, async () => {
  const dir = identityModelDir([{ name: 'h', dtype: 'float16', rank: 2 }]);
  try {
    const model = await loadOnnxModel(path.join(dir, 'model.onnx'), { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet });
    try {
      const out = await model.predict({ h: tensor('float16', [1, BITS.length], Uint16Array.from(BITS)) });
      const h = out['h_out']!;
      assert.equal(h.dtype, 'float16');
      assert.deepEqual(h.shape, [1, BITS.length]);
      assert.ok(h.data instanceof Uint16Array, `float16 output held in ${h.data.constructor.name}, not Uint16Array bits`);
      assert.deepEqual(Array.from(h.data), BITS);
    } finally {
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a float16 feed hands ONNX Runtime the Uint16Array it was built from', () => {
  const bits = Uint16Array.from(BITS);
  const feed = feedFloat16Bits(new ort.Tensor('float16', bits, [BITS.length]), bits);
  assert.equal(feed.data, bits);
  assert.equal(feed.type, 'float16');
  assert.deepEqual(feed.dims, [BITS.length]);
});

test('float16 output data in another typed array is read as the same bits, sharing its memory', () => {
  const other = Int16Array.from([-1, 0x3800, -32768]);
  const bits = float16OutputBits(other as unknown as ort.Tensor['data']);
  assert.deepEqual(Array.from(bits), [0xffff, 0x3800, 0x8000]);
  assert.equal(bits.buffer, other.buffer);
  const same = Uint16Array.from(BITS);
  assert.equal(float16OutputBits(same), same);
});
