import type { Codec } from './codec.js';
import { csvCodec } from './csv.js';
import { imageCodecs } from './image.js';
import { jsonCodec } from './json.js';
import { jsonLinesCodec } from './jsonlines.js';
import { npyCodec } from './npy.js';
import { npzCodec } from './npz.js';
import { rawCodec } from './raw.js';
import { tritonBinaryCodec } from './triton-binary.js';
import { CodecRegistry } from './registry.js';

/**
 * The built-in codecs, in the order wildcard `Accept` entries consider them (JSON first).
 * Add a codec by appending it here (or `register` it on the registry you get back).
 */
export const DEFAULT_CODECS: readonly Codec[] = [jsonCodec, csvCodec, npyCodec, npzCodec, jsonLinesCodec, rawCodec, ...imageCodecs, tritonBinaryCodec];

/**
 * A registry holding every built-in codec: `application/json`, `text/csv`, `application/x-npy`,
 * `application/x-npz` (decode only), `application/jsonlines` (+ aliases) and `application/octet-stream`,
 * then the image codecs from `image.ts`, then Triton's v2 binary tensor data form
 * (`application/vnd.sagemaker-triton.binary+json`, answered in its own type whatever Accept says).
 */
export function createDefaultCodecs(): CodecRegistry {
  const registry = new CodecRegistry();
  for (const codec of DEFAULT_CODECS) registry.register(codec);
  return registry;
}
