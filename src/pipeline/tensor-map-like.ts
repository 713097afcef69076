import type { TensorMap } from '../core/tensor.js';

/** True when `v` looks like a tensor: `{ dtype, shape, data }`. */
export function isTensorLike(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  return typeof t['dtype'] === 'string' && Array.isArray(t['shape']) && (ArrayBuffer.isView(t['data']) || Array.isArray(t['data']));
}

/** True when `v` is a non-empty object whose values all look like tensors. */
export function isTensorMapLike(v: unknown): v is TensorMap {
  if (!v || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v) || Buffer.isBuffer(v)) return false;
  const values = Object.values(v);
  return values.length > 0 && values.every(isTensorLike);
}
