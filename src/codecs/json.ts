import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, type TensorMap } from '../core/tensor.js';
import type { Codec, DecodedRequest, EncodeOptions } from './codec.js';
import { findJsonErrorPosition } from './json-error-position.js';
import { scanNumericBody } from './json-fast-array.js';
import { nestedToTensor, stackRecords } from './json-tensor.js';
import { decodeV2, encodeV2, isV2Request } from './json-v2.js';
import { tensorRowsToJson, tensorToJson, valueToJson } from './json-write.js';
import { isTensorMap } from './tensor-map.js';

/** `application/json` media type. */
export const JSON_MEDIA_TYPE = 'application/json';

/**
 * Parses a JSON body, turning a syntax error into a 400 that keeps the parser's position.
 * @param what Names the body in the message (for example `JSON lines: line 3`).
 */
export function parseJsonBody(text: string, what = 'JSON body'): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = findJsonErrorPosition(text);
    throw new ToolkitError(
      'ERR_JSON_PARSE',
      `${what} is not valid JSON at line ${at.line}, column ${at.column} (position ${at.position}): ${(err as Error).message}`,
      { cause: err, details: { ...at } },
    );
  }
}

/**
 * Decodes a parsed JSON value in any of the accepted request forms: a bare array or scalar
 * (`tensor`), `{"instances": [...]}` (`tfs-instances`), `{"inputs": {...}}` / `{"inputs": [...]}`
 * (`tfs-inputs`), or an Open Inference Protocol v2 request (`v2`).
 */
export function decodeJsonValue(value: unknown): DecodedRequest {
  if (Array.isArray(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
    return { tensors: { [UNNAMED]: nestedToTensor(value, { label: 'JSON body' }) }, form: 'tensor' };
  }
  if (typeof value !== 'object' || value === null) {
    throw new ToolkitError('ERR_JSON_PARSE', `JSON body is ${String(value)}; ${FORMS_HINT}`);
  }
  const body = value as Record<string, unknown>;
  if ('instances' in body) {
    const instances = body['instances'];
    if (!Array.isArray(instances)) throw new ToolkitError('ERR_JSON_PARSE', '"instances" must be an array of rows (or of objects of named inputs)');
    return { tensors: stackRecords(instances, { label: 'instances', allowB64: true }), form: 'tfs-instances' };
  }
  if ('inputs' in body) {
    if (isV2Request(body)) return decodeV2(body);
    const inputs = body['inputs'];
    if (typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs)) {
      const names = Object.keys(inputs);
      if (names.length === 0) throw new ToolkitError('ERR_JSON_PARSE', '"inputs" is an empty object; name at least one input');
      const tensors: TensorMap = {};
      for (const name of names) {
        tensors[name] = nestedToTensor((inputs as Record<string, unknown>)[name], { label: `inputs.${name}`, allowB64: true });
      }
      return { tensors, form: 'tfs-inputs' };
    }
    return { tensors: { [UNNAMED]: nestedToTensor(inputs, { label: 'inputs', allowB64: true }) }, form: 'tfs-inputs' };
  }
  throw new ToolkitError('ERR_JSON_PARSE', `JSON object has keys [${Object.keys(body).join(', ')}]; ${FORMS_HINT}`);
}

const FORMS_HINT =
  'send a nested array, {"instances": [...]}, {"inputs": {...}} or a v2 request {"inputs": [{"name", "shape", "datatype", "data"}]} ' +
  '(or export an inputFn to read other JSON)';

/**
 * Encodes a prediction as JSON text. A {@link TensorMap} is answered in the request's form:
 * - `tensor` (and `npz`, `raw`, no request): one output → its nested array; several → `{name: nested}`.
 * - `tfs-instances`: `{"predictions": one output → nested; several → one object per row}`.
 * - `tfs-inputs`: `{"outputs": one output → nested; several → {name: nested}}`.
 * - `v2`: `{"model_name", "id"?, "outputs": [{name, shape, datatype, data}]}`.
 * Other values (from user code) are written as JSON, typed arrays as arrays.
 */
export function encodeJsonText(prediction: unknown, options: EncodeOptions): string {
  if (!isTensorMap(prediction)) return valueToJson(prediction);
  const names = Object.keys(prediction);
  const single = names.length === 1 ? prediction[names[0]!]! : undefined;
  switch (options.request?.form) {
    case 'v2':
      return encodeV2(prediction, options);
    case 'tfs-instances':
      return `{"predictions":${single ? tensorToJson(single) : perRowObjects(prediction)}}`;
    case 'tfs-inputs':
      return `{"outputs":${single ? tensorToJson(single) : namedObject(prediction)}}`;
    default:
      return single ? tensorToJson(single) : namedObject(prediction);
  }
}

/** `{name: nested, ...}` for several outputs. */
export function namedObject(outputs: TensorMap): string {
  const parts: string[] = ['{'];
  Object.keys(outputs).forEach((name, i) => parts.push(i > 0 ? ',' : '', JSON.stringify(name), ':', tensorToJson(outputs[name]!)));
  parts.push('}');
  return parts.join('');
}

/**
 * One `{name: row}` object per row of several outputs that share their first dimension
 * (TensorFlow Serving's row format for multi-output models; also JSON lines).
 */
export function perRowObjectList(outputs: TensorMap): string[] {
  const names = Object.keys(outputs);
  const batch = (name: string): number | undefined => outputs[name]!.shape[0];
  const rows = batch(names[0]!);
  if (rows === undefined || names.some((n) => batch(n) !== rows)) {
    throw new ToolkitError(
      'ERR_ENCODE',
      `Cannot answer one object per row: outputs ${names.map((n) => `'${n}' [${outputs[n]!.shape.join(', ')}]`).join(', ')} ` +
        'do not share their first (batch) dimension; select the outputs you need in the pipeline or send {"inputs": ...} for the columnar form',
    );
  }
  const columns = names.map((n) => tensorRowsToJson(outputs[n]!));
  const keys = names.map((n) => JSON.stringify(n));
  const out = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    let s = '{';
    for (let c = 0; c < names.length; c++) s += `${c > 0 ? ',' : ''}${keys[c]}:${columns[c]![r]}`;
    out[r] = `${s}}`;
  }
  return out;
}

function perRowObjects(outputs: TensorMap): string {
  return `[${perRowObjectList(outputs).join(',')}]`;
}

/** The `application/json` codec: every JSON request form in, the matching response form out. */
export const jsonCodec: Codec = {
  mediaType: JSON_MEDIA_TYPE,
  decode(body: Buffer): DecodedRequest {
    const fast = scanNumericBody(body);
    if (fast !== undefined) return { tensors: { [UNNAMED]: fast.tensor }, form: fast.form };
    return decodeJsonValue(parseJsonBody(body.toString('utf8')));
  },
  encode(prediction: unknown, options: EncodeOptions): Buffer {
    return Buffer.from(encodeJsonText(prediction, options), 'utf8');
  },
};
