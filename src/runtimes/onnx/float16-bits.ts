/**
 * float16 tensors cross the ONNX Runtime boundary as raw half-precision bits in a `Uint16Array` on
 * every Node version, as smkit's own tensors hold them.
 *
 * Where a global `Float16Array` exists (Node 24; Node 22 behind `--js-float16array`),
 * onnxruntime-common wraps float16 data in a `Float16Array` view. onnxruntime-node 1.30's binding
 * reads that view's byte length as 0, so every float16 input failed ("not enough space: expected 2,
 * got 0"; microsoft/onnxruntime pull request 32323). Outputs come back as `Float16Array` there too;
 * `float16Bits` (core/float16.ts) reads them as bits.
 */
import { createRequire } from 'node:module';
import type * as ort from 'onnxruntime-node';

/** Required, not imported, as in session.ts (the same module). */
const onnx = createRequire(import.meta.url)('onnxruntime-node') as typeof ort;

/**
 * An ONNX Runtime float16 tensor that hands the binding `bits` themselves: the binding accepts a
 * `Uint16Array` for float16 on every version, and reads a tensor's `data` property.
 */
export function float16Feed(bits: Uint16Array, dims: readonly number[]): ort.Tensor {
  const tensor = new onnx.Tensor('float16', bits, dims);
  if (tensor.data !== bits) Object.defineProperty(tensor, 'data', { value: bits, enumerable: true });
  return tensor;
}
