/**
 * float16 tensors cross the ONNX Runtime boundary as raw half-precision bits in a `Uint16Array` on
 * every Node version, as smkit's own tensors hold them.
 *
 * Where a global `Float16Array` exists (Node 24; Node 22 behind `--js-float16array`),
 * onnxruntime-common wraps float16 data in a `Float16Array` view. onnxruntime-node 1.30's binding
 * reads that view's byte length as 0, so every float16 input failed ("not enough space: expected 2,
 * got 0"; microsoft/onnxruntime pull request 32323), and float16 outputs came back as
 * `Float16Array` values where bits were expected.
 */
import type * as ort from 'onnxruntime-node';

/**
 * Makes `tensor` (built from `bits`) hand ONNX Runtime the bits themselves: the binding accepts a
 * `Uint16Array` for float16 on every version, and reads a tensor's `data` property.
 */
export function feedFloat16Bits(tensor: ort.Tensor, bits: Uint16Array): ort.Tensor {
  if (tensor.data !== bits) Object.defineProperty(tensor, 'data', { value: bits, enumerable: true });
  return tensor;
}

/** The half-precision bits of a float16 output, whichever typed array ONNX Runtime returned them in. */
export function float16OutputBits(data: ort.Tensor['data']): Uint16Array {
  if (data instanceof Uint16Array) return data;
  const view = data as ArrayBufferView;
  return new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
}
