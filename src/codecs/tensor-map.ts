import type { DType, Tensor, TensorMap } from '../core/tensor.js';
import { putOwn } from '../core/own-property.js';

const DTYPES: ReadonlySet<string> = new Set<DType>([
  'float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string',
]);

/**
 * True when `value` looks like a {@link Tensor}: a known `dtype`, a `shape` of non-negative integers
 * and `data` (a typed array, or a string array for `string`) whose length fits the shape.
 */
export function isTensor(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { dtype?: unknown; shape?: unknown; data?: unknown };
  if (typeof v.dtype !== 'string' || !DTYPES.has(v.dtype) || !Array.isArray(v.shape)) return false;
  let size = 1;
  for (const d of v.shape) {
    if (!Number.isInteger(d) || (d as number) < 0) return false;
    size *= d as number;
  }
  const data = v.data;
  if (v.dtype === 'string') return Array.isArray(data) && data.length === size;
  return ArrayBuffer.isView(data) && !(data instanceof DataView) && (data as unknown as ArrayLike<unknown>).length === size;
}

/**
 * True when `value` is a {@link TensorMap}: a plain object with at least one entry whose values are
 * all tensors (what runtimes and pipeline steps return). Anything else is a user value, encoded as is.
 */
export function isTensorMap(value: unknown): value is TensorMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const values = Object.values(value);
  return values.length > 0 && values.every(isTensor);
}

/**
 * Adds the tensor `name` to a map as an own property even when a request names it `__proto__`
 * ({@link putOwn}). The map keeps its ordinary prototype, as user hooks expect.
 */
export function setTensor(map: TensorMap, name: string, tensor: Tensor): void {
  putOwn(map, name, tensor);
}
