import { ToolkitError } from '../errors/catalogue.js';
import type { DecodedRequest } from '../codecs/codec.js';

/** TF Serving's default signature key. smkit serves one signature per model, under this name. */
export const DEFAULT_SIGNATURE = 'serving_default';

/**
 * Refuses a TF Serving request whose `signature_name` the model does not serve (TF Serving answers
 * such a request with an error too, rather than running another signature). An empty name means
 * the default, as in TF Serving.
 *
 * @throws ToolkitError 400 `ERR_BAD_REQUEST` naming the signature that is served.
 */
export function checkSignatureName(request: DecodedRequest | undefined): void {
  const name = request?.signatureName;
  if (name === undefined || name === '' || name === DEFAULT_SIGNATURE) return;
  throw new ToolkitError(
    'ERR_BAD_REQUEST',
    `signature_name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not served; this model serves "${DEFAULT_SIGNATURE}" (or leave signature_name out)`,
  );
}
