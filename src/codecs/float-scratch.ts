/**
 * One reusable `Float64Array` for the text parsers (CSV, JSON) when their numbers are copied into
 * a float32 tensor at the end anyway. Without it every request allocated a buffer of its row count
 * times 8 bytes plus margin; on Node 24 that churn of large ArrayBuffers set off a full garbage
 * collection every 60-70 ms under load (see docs/benchmarks-history.md, eleventh session).
 *
 * Take and give back: a parser owns the buffer between the two, so a nested or failed parse
 * simply allocates its own.
 */

import type { Tensor } from '../core/tensor.js';
import { float64ToFloat32 } from '../core/dtype-convert.js';

/** Buffers larger than this (2 MiB of float64) are not kept: one huge request must not pin its memory. */
const KEEP_MAX_VALUES = 1 << 18;

let kept: Float64Array | undefined;

/** A Float64Array with at least `capacity` slots: the kept one when large enough, else a new one. */
export function takeFloatScratch(capacity: number): Float64Array {
  const k = kept;
  if (k !== undefined && k.length >= capacity) {
    kept = undefined;
    return k;
  }
  return new Float64Array(capacity);
}

/** Gives a buffer back for the next parse (its contents are garbage from then on). */
export function giveBackFloatScratch(buffer: Float64Array): void {
  if (buffer.length <= KEEP_MAX_VALUES && (kept === undefined || buffer.length > kept.length)) kept = buffer;
}

/**
 * The first `n` values of a scratch buffer as a float32 tensor of `shape` (float64 when a finite
 * value overflows float32, so the model's conversion reports it), then gives the buffer back.
 */
export function tensorFromFloatScratch(buffer: Float64Array, n: number, shape: number[]): Tensor<'float64' | 'float32'> {
  const narrowed = float64ToFloat32(buffer.subarray(0, n));
  const tensor: Tensor<'float64' | 'float32'> = narrowed ? { dtype: 'float32', shape, data: narrowed } : { dtype: 'float64', shape, data: buffer.slice(0, n) };
  giveBackFloatScratch(buffer);
  return tensor;
}
