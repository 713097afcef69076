import type { TensorMap } from '../core/tensor.js';
import type { DecodeLimits, DecodedRequest } from './codec.js';
import { chargedElements, checkDecodedSize } from './decode-limits.js';

/**
 * What each tensor costs beyond its values: the tensor and shape objects, the typed array and the
 * map entry (about 320 bytes measured on Node 20). A request of 500 000 named scalars
 * (`{"inputs": {"k0": 1, ...}}`, 6 MB) holds 4 MB of values but some 160 MB of tensors.
 */
const TENSOR_OVERHEAD_BYTES = 256;

/**
 * Memory the tensors take: typed-array bytes, or for strings a reference plus two bytes a
 * character, plus a fixed overhead per tensor. An empty tensor is charged for its shape as
 * {@link chargedElements} counts it.
 */
export function decodedBytes(tensors: TensorMap): number {
  let bytes = 0;
  for (const t of Object.values(tensors)) {
    bytes += TENSOR_OVERHEAD_BYTES;
    if (t.data.length === 0) bytes += chargedElements(t.shape) * (Array.isArray(t.data) ? 8 : (t.data as Uint8Array).BYTES_PER_ELEMENT);
    else if (Array.isArray(t.data)) for (const s of t.data) bytes += 8 + 2 * s.length;
    else bytes += (t.data as Uint8Array).byteLength;
  }
  return bytes;
}

/**
 * Holds text decoders (JSON, CSV, JSON lines) to the request's decoded-size budget too. Their output
 * is at most a few times the body (8 bytes per number of at least 2 characters), so they check once
 * decoded rather than in their measured hot loops; binary decoders check before allocating.
 *
 * @throws ToolkitError 413 `ERR_DECODED_TOO_LARGE`.
 */
export function withinBudget(request: DecodedRequest, limits: DecodeLimits | undefined, what: string): DecodedRequest {
  if (limits !== undefined && Number.isFinite(limits.maxDecodedBytes)) checkDecodedSize(decodedBytes(request.tensors), limits, what);
  return request;
}
