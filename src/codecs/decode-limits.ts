import { ToolkitError } from '../errors/catalogue.js';
import type { DecodeLimits } from './codec.js';

function mb(bytes: number): string {
  return `${+(bytes / (1024 * 1024)).toFixed(2)} MB`;
}

/**
 * The elements a declared shape is charged for against the budget: its element count, or for an
 * empty shape the count with each zero dimension taken as one (`[N, 0]` as `[N, 1]`). An empty
 * tensor holds nothing, but its answer writes a row for each of the N (`[[],[],...]` in JSON, a line
 * each in CSV and JSON lines) and a model may compute one for each, so a shape such as
 * `[10^15, 0]` in a few bytes must not pass as free.
 */
export function chargedElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d === 0 ? 1 : d;
  return n;
}

/**
 * Throws 413 `ERR_DECODED_TOO_LARGE` when decoding `what` would take `bytes` of memory and that is
 * more than `limits` leaves. Call it with the size a header or declared shape promises, before
 * allocating anything.
 *
 * @example
 * checkDecodedSize(width * height * channels, limits, 'the image/png body');
 */
export function checkDecodedSize(bytes: number, limits: DecodeLimits | undefined, what: string): void {
  if (limits === undefined || !(bytes > limits.maxDecodedBytes)) return;
  throw new ToolkitError(
    'ERR_DECODED_TOO_LARGE',
    `${what} would decode to ${mb(bytes)}, more than the ${mb(limits.maxDecodedBytes)} this request may still decode (SMKIT_MAX_DECODED_MB); send smaller inputs or fewer per request`,
    { details: { decodedBytes: bytes, maxDecodedBytes: limits.maxDecodedBytes } },
  );
}
