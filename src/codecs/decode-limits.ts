import { ToolkitError } from '../errors/catalogue.js';
import type { DecodeLimits } from './codec.js';

function mb(bytes: number): string {
  return `${+(bytes / (1024 * 1024)).toFixed(2)} MB`;
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
