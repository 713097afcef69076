import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { tensor } from '../../core/tensor.js';
import { identityModelDir } from '../../../test/helpers/identity-model.js';
import { float16Feed } from './float16-bits.js';
import { loadOnnxModel } from './session.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const Float16ArrayCtor = (globalThis as { Float16Array?: { from(values: number[]): ArrayBufferView & ArrayLike<number> } }).Float16Array;

// Half-precision bit patterns a value round trip would change or lose: -0, the smallest subnormal,
// the largest finite values, infinities and a NaN with a payload.
const BITS = [0x3800, 0x3e00, 0x8000, 0x0001, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e01];

test(`float16 bits reach an ONNX model and come back exactly (Node ${process.versions.node}, global Float16Array: ${Float16ArrayCtor !== undefined})`, async () => {
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
      if (Float16ArrayCtor) {
        // Data user code built as a Float16Array (values) reaches the model as the same bits.
        const values = Float16ArrayCtor.from([0.5, 1.5, -2, 65504]);
        const fromValues = await model.predict({ h: { dtype: 'float16', shape: [1, 4], data: values as unknown as Uint16Array } });
        assert.deepEqual(Array.from(fromValues['h_out']!.data as Uint16Array), [0x3800, 0x3e00, 0xc000, 0x7bff]);
      }
    } finally {
      await model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a float16 feed hands ONNX Runtime the Uint16Array it was built from', () => {
  const bits = Uint16Array.from(BITS);
  const feed = float16Feed(bits, [BITS.length]);
  assert.equal(feed.data, bits);
  assert.equal(feed.type, 'float16');
  assert.deepEqual(feed.dims, [BITS.length]);
});
