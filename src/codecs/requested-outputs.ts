import type { TensorMap } from '../core/tensor.js';
import { ToolkitError } from '../errors/catalogue.js';
import { quotedNames } from '../errors/excerpt.js';
import type { EncodeOptions } from './codec.js';

/** Name given to an unnamed tensor in a v2 response. */
export const V2_UNNAMED_OUTPUT = 'output0';

/**
 * The keys of `outputs` a v2 request's `"outputs": [{"name"}]` asks for, in the order asked (an
 * unnamed output answers to `output0`), or all of them when it names none.
 * @throws ToolkitError 400 `ERR_BAD_REQUEST` naming the outputs that do not exist.
 */
export function requestedOutputKeys(outputs: TensorMap, requested: readonly string[] | undefined): string[] {
  const names = Object.keys(outputs);
  if (requested === undefined || requested.length === 0) return names;
  const key = (n: string): string | undefined =>
    Object.hasOwn(outputs, n) ? n : n === V2_UNNAMED_OUTPUT && Object.hasOwn(outputs, '') ? '' : undefined;
  const missing = requested.filter((n) => key(n) === undefined);
  if (missing.length > 0) {
    throw new ToolkitError(
      'ERR_BAD_REQUEST',
      `Requested output(s) ${quotedNames(missing)} do not exist; the model produces: ${quotedNames(names.map((n) => (n === '' ? V2_UNNAMED_OUTPUT : n)))}`,
    );
  }
  return requested.map((n) => key(n)!);
}

/**
 * `prediction` with only the outputs a v2 request named in `"outputs"`, for an answer in any type
 * (CSV, NPY, JSON lines, raw bytes as well as v2 JSON); any other prediction or request as it is.
 */
export function withRequestedOutputs(prediction: unknown, options: EncodeOptions, isMap: (v: unknown) => v is TensorMap): unknown {
  const requested = options.request?.requestedOutputs;
  if (requested === undefined || requested.length === 0 || options.request?.form !== 'v2' || !isMap(prediction)) return prediction;
  const keys = requestedOutputKeys(prediction, requested);
  if (keys.length === Object.keys(prediction).length) return prediction;
  const out: TensorMap = {};
  for (const k of keys) Object.defineProperty(out, k, { value: prediction[k], enumerable: true, writable: true, configurable: true });
  return out;
}
