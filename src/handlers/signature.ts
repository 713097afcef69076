import { ToolkitError } from '../errors/catalogue.js';
import type { DecodedRequest } from '../codecs/codec.js';

/** TF Serving's default signature key. smkit serves one signature per model, under this name. */
export const DEFAULT_SIGNATURE = 'serving_default';

/**
 * Refuses a TF Serving request whose `signature_name` the model does not serve (TF Serving answers
 * such a request with an error too, rather than running another signature). An empty name means
 * the default, as in TF Serving. `served` is the model's signature (a SavedModel loaded with another
 * `signature` option), else `serving_default`.
 *
 * @throws ToolkitError 400 `ERR_BAD_REQUEST` naming the signature that is served.
 */
export function checkSignatureName(request: DecodedRequest | undefined, served: string = DEFAULT_SIGNATURE): void {
  const name = request?.signatureName;
  if (name === undefined || name === '' || name === served) return;
  throw new ToolkitError(
    'ERR_BAD_REQUEST',
    `signature_name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not served; this model serves "${served}" (or leave signature_name out)`,
  );
}
