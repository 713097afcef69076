import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, type Tensor, type TensorMap } from '../core/tensor.js';
import type { Codec, DecodeHints, DecodeLimits, DecodedRequest, EncodeOptions, RequestForm, TypedBody } from './codec.js';
import { withinBudget } from './decoded-size.js';
import { findJsonErrorPosition } from './json-error-position.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from './json-depth.js';
import { scanNumericBody } from './json-fast-array.js';
import { isB64Leaf, nestedToTensor, refuseExtraInputs, stackRecords, type NestedOptions } from './json-tensor.js';
import { firstOverflowingLiteral, holdsInfinity, parseJsonWithNonFinite, tfsRowsJson, tfsTensorJson } from './json-tfs.js';
import { withErrorMember } from './protocol-error.js';
import { excerpt, jsonExcerpt, quotedNames } from '../errors/excerpt.js';
import { InexactInteger, decodeV2, encodeV2, encodeV2Answer, exactV2Body, isV2Request } from './json-v2.js';
import { setTensor } from './tensor-map.js';
import { explainUtf16, refuseNonUtf8, refuseUtf16 } from './text-encoding.js';
import { tensorRowsToJson, tensorToJson, valueToJson } from './json-write.js';
import { isTensorMap } from './tensor-map.js';
import { floatTensorJsonBytes } from './number-json-wasm.js';

/** How a JSON body carries bytes, for the message refusing one that is not UTF-8. */
export const JSON_BYTES_HINT = 'as {"b64": "..."} (TF Serving) or as binary BYTES data (v2, Content-Type application/vnd.sagemaker-triton.binary+json)';

/** `application/json` media type. */
export const JSON_MEDIA_TYPE = 'application/json';

/**
 * Throws 400 `ERR_JSON_PARSE` when the JSON text nests arrays and objects deeper than
 * {@link MAX_JSON_DEPTH}, before anything parses it (see `json-depth.ts`).
 * @param what Names the body in the message.
 */
function refuseDeepJson(text: string, what = 'JSON body'): void {
  if (jsonNestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ToolkitError(
      'ERR_JSON_PARSE',
      `${what} nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, the limit; a tensor has at most 64 dimensions, and no request form nests much deeper`,
    );
  }
}

/**
 * Parses a JSON body, turning a syntax error into a 400 that keeps the parser's position. A body
 * nested deeper than {@link MAX_JSON_DEPTH} is refused (400) before it is parsed.
 * @param what Names the body in the message (for example `JSON lines: line 3`).
 */
export function parseJsonBody(text: string, what = 'JSON body'): unknown {
  refuseDeepJson(text, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    // TF Serving's NaN/Infinity tokens are not JSON; accept them before calling the body invalid.
    const lenient = parseJsonWithNonFinite(text);
    if (lenient !== undefined) return lenient.value;
    // No body at all (curl -X POST without -d): "Unexpected end of JSON input" at position 0 said less.
    if (/^[ \t\n\r]*$/.test(text)) {
      throw new ToolkitError('ERR_JSON_PARSE', `${what} is empty; send a JSON value, such as [[1.0, 2.0]] or {"instances": [[1.0, 2.0]]}`, { cause: err });
    }
    let where = '';
    try {
      const at = findJsonErrorPosition(text);
      where = ` at line ${at.line}, column ${at.column} (position ${at.position})`;
    } catch {
      // The locator recurses; a body nested too deeply for it gets V8's message alone.
    }
    throw new ToolkitError('ERR_JSON_PARSE', `${what} is not valid JSON${where}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Refuses a TF Serving or v2 request (`request`, decoded from JSON `text`) whose float data holds
 * ±Infinity when the text writes a number past the largest double (`1e400`): `JSON.parse` reads it
 * as Infinity, where TF Serving and Triton (rapidjson) refuse the body ("Number too big to be stored
 * in double"), and a value in range of the double but past FP32's (`1e39`) is a 400 already. The
 * text is read only when such data holds an infinity, which the tokens `Infinity`/`-Infinity` give
 * too. Any other request is returned as it is.
 * @throws ToolkitError 400 `ERR_JSON_PARSE`, with the protocols' `"error"` member.
 */
export function refuseOverflowingLiterals(request: DecodedRequest, text: () => string, what: string): DecodedRequest {
  if (request.form !== 'v2' && request.form !== 'tfs-instances' && request.form !== 'tfs-inputs') return request;
  if (!holdsInfinity(request.tensors)) return request;
  const source = text();
  const found = firstOverflowingLiteral(source);
  if (found === undefined) return request;
  let line = 1;
  let lineStart = 0;
  for (let i = source.indexOf('\n'); i !== -1 && i < found.position; i = source.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const token = found.literal.startsWith('-') ? '-Infinity' : 'Infinity';
  throw withErrorMember(
    new ToolkitError(
      'ERR_JSON_PARSE',
      `${what}: the number ${excerpt(found.literal, 40)} at line ${line}, column ${found.position - lineStart + 1} (position ${found.position}) is past the largest double ` +
        `(about 1.8e308), which would make it ${token}; TF Serving and Triton refuse such a number: send the token ${token}, or a number in range`,
    ),
  );
}

/**
 * Parses a JSON body and decodes it with `decode`. A v2 request whose INT64/UINT64 data holds
 * integers past ±2^53, which `JSON.parse` rounds, is parsed again with those literals exact (Triton
 * reads them exactly); every other body is parsed once.
 * @param what Names the body in a syntax error's message, as in {@link parseJsonBody}.
 */
export function decodeJsonText<T>(text: string, what: string, decode: (value: unknown) => T): T {
  try {
    return decode(parseJsonBody(text, what));
  } catch (err) {
    if (!(err instanceof InexactInteger)) throw err;
    const exact = parseJsonWithNonFinite(text, true);
    if (exact === undefined) throw err;
    return decode(exactV2Body(exact.value));
  }
}

/**
 * What a value {@link decodeJsonValue} reads came from, for its messages when it is in no form:
 * `name` (`what input_fn returned`) and `fix`, what to do instead. The default is the JSON body,
 * whose fix is to send one of the forms (or export an inputFn to read other JSON).
 */
export interface JsonValueSource {
  readonly name: string;
  readonly fix: string;
}

/**
 * Decodes a parsed JSON value in any of the accepted request forms: a bare array or scalar
 * (`tensor`), `{"instances": [...]}` (`tfs-instances`), `{"inputs": {...}}` / `{"inputs": [...]}`
 * (`tfs-inputs`), or an Open Inference Protocol v2 request (`v2`). A request naming more than
 * `maxInputs` inputs is refused before its tensors are built (see `DecodeHints.maxInputs`).
 * `source` names the value in the error for a value in none of the forms.
 */
export function decodeJsonValue(value: unknown, maxInputs?: number, source?: JsonValueSource): DecodedRequest {
  if (Array.isArray(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
    return { tensors: { [UNNAMED]: nestedToTensor(value, { label: 'JSON body' }) }, form: 'tensor' };
  }
  if (typeof value !== 'object' || value === null) {
    throw new ToolkitError('ERR_JSON_PARSE', `${source?.name ?? 'JSON body'} is ${String(value)}; ${source?.fix ?? FORMS_HINT}`);
  }
  const body = value as Record<string, unknown>;
  const hasInstances = Object.hasOwn(body, 'instances');
  const hasInputs = Object.hasOwn(body, 'inputs');
  if (hasInstances && hasInputs) {
    throw new ToolkitError('ERR_JSON_PARSE', 'the request has both "instances" (row format) and "inputs" (columnar format); send exactly one of them');
  }
  if (hasInputs && isV2Request(body)) {
    refuseExtraInputs((body['inputs'] as unknown[]).length, maxInputs, 'the v2 request');
    return decodeV2(body);
  }
  if (hasInstances || hasInputs) return decodeTfs(body, hasInstances, maxInputs);
  const keys = Object.keys(body);
  const what = keys.length === 0 ? `${source?.name ?? 'JSON body'} is an empty object` : `${source ? `${source.name} is an object with keys` : 'JSON object has keys'} ${quotedNames(keys)}`;
  throw new ToolkitError('ERR_JSON_PARSE', `${what}; ${source?.fix ?? FORMS_HINT}`);
}

/** TF Serving's row (`instances`) or columnar (`inputs`) form, with its optional `signature_name`. */
function decodeTfs(body: Record<string, unknown>, rows: boolean, maxInputs: number | undefined): DecodedRequest {
  const signature = body['signature_name'];
  if (signature !== undefined && typeof signature !== 'string') {
    throw new ToolkitError('ERR_JSON_PARSE', `"signature_name" must be a string (for example "serving_default"), found ${jsonExcerpt(signature, 40)}`);
  }
  const strings = { binary: new Set<string>(), text: new Set<string>() };
  const request = rows ? decodeInstances(body['instances'], maxInputs, strings) : decodeInputs(body['inputs'], maxInputs, strings);
  if (signature !== undefined) request.signatureName = signature;
  // A string that came both as bytes that are not UTF-8 and as text could be either in an answer: it is left to UTF-8.
  for (const text of strings.text) strings.binary.delete(text);
  if (strings.binary.size > 0) request.binaryStrings = strings.binary;
  return request;
}

type StringSets = NonNullable<NestedOptions['strings']>;

function decodeInstances(instances: unknown, maxInputs: number | undefined, strings: StringSets): DecodedRequest {
  if (!Array.isArray(instances)) throw new ToolkitError('ERR_JSON_PARSE', '"instances" must be an array of rows (or of objects of named inputs)');
  return { tensors: stackRecords(instances, { label: 'instances', allowB64: true, strings, ...(maxInputs === undefined ? {} : { maxInputs }) }), form: 'tfs-instances' };
}

function decodeInputs(inputs: unknown, maxInputs: number | undefined, strings: StringSets): DecodedRequest {
  if (typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs) && !isB64Leaf(inputs)) {
    const names = Object.keys(inputs);
    refuseExtraInputs(names.length, maxInputs, '"inputs"');
    if (names.length === 0) throw new ToolkitError('ERR_JSON_PARSE', '"inputs" is an empty object; name at least one input');
    const tensors: TensorMap = {};
    for (const name of names) {
      setTensor(tensors, name, nestedToTensor((inputs as Record<string, unknown>)[name], { label: `inputs.${excerpt(name)}`, allowB64: true, strings }));
    }
    return { tensors, form: 'tfs-inputs' };
  }
  return { tensors: { [UNNAMED]: nestedToTensor(inputs, { label: 'inputs', allowB64: true, strings }) }, form: 'tfs-inputs' };
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
  const binary = options.request?.binaryStrings;
  switch (formOf(options)) {
    case 'v2':
      return encodeV2(prediction, options);
    case 'tfs-instances':
      return `{"predictions":${single ? tfsTensorJson(names[0]!, single, binary) : `[${perRowObjectList(prediction, (n, t) => tfsRowsJson(n, t, binary), TFS_ROWS_FIX).join(',')}]`}}`;
    case 'tfs-inputs':
      return `{"outputs":${single ? tfsTensorJson(names[0]!, single, binary) : namedObject(prediction, (n, t) => tfsTensorJson(n, t, binary))}}`;
    default:
      return single ? tensorToJson(single) : namedObject(prediction);
  }
}

/** The request's form, as the answer follows it ('tensor' when there is no request). */
function formOf(options: EncodeOptions): RequestForm {
  return options.request?.form ?? 'tensor';
}

/** The tensor answered as its bare nested array (one output, in a form without a wrapper), else `undefined`. */
function bareTensorOf(prediction: unknown, options: EncodeOptions): Tensor | undefined {
  if (!isTensorMap(prediction)) return undefined;
  const form = formOf(options);
  if (form === 'v2' || form === 'tfs-instances' || form === 'tfs-inputs') return undefined;
  const names = Object.keys(prediction);
  return names.length === 1 ? prediction[names[0]!] : undefined;
}

/** `{name: nested, ...}` for several outputs. */
export function namedObject(outputs: TensorMap, write: (name: string, t: Tensor) => string = (_n, t) => tensorToJson(t)): string {
  const parts: string[] = ['{'];
  Object.keys(outputs).forEach((name, i) => parts.push(i > 0 ? ',' : '', JSON.stringify(name), ':', write(name, outputs[name]!)));
  parts.push('}');
  return parts.join('');
}

/**
 * One `{name: row}` object per row of several outputs that share their first dimension
 * (TensorFlow Serving's row format for multi-output models; also JSON lines).
 */
export function perRowObjectList(
  outputs: TensorMap,
  rowsOf: (name: string, t: Tensor) => string[] = (_n, t) => tensorRowsToJson(t),
  fix = 'select the outputs you need in the pipeline, or ask for application/json',
): string[] {
  const names = Object.keys(outputs);
  const batch = (name: string): number | undefined => outputs[name]!.shape[0];
  const rows = batch(names[0]!);
  if (rows === undefined || names.some((n) => batch(n) !== rows)) {
    // `batchDimensions` lets the engine give the fix for outputs a handler's hook returned, which no pipeline step sees.
    const batchDimensions: Record<string, number[]> = {};
    for (const n of names) Object.defineProperty(batchDimensions, n, { value: [...outputs[n]!.shape], enumerable: true });
    throw new ToolkitError('ERR_ENCODE', `${unsharedBatchMessage(batchDimensions)}; ${fix}`, { details: { batchDimensions } });
  }
  const columns = names.map((n) => rowsOf(n, outputs[n]!));
  const keys = names.map((n) => JSON.stringify(n));
  const out = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    let s = '{';
    for (let c = 0; c < names.length; c++) s += `${c > 0 ? ',' : ''}${keys[c]}:${columns[c]![r]}`;
    out[r] = `${s}}`;
  }
  return out;
}

/** The fix for outputs of several batch sizes answering TF Serving's row format ({"instances"}) from a pipeline. */
const TFS_ROWS_FIX = 'select the outputs you need in the pipeline or send {"inputs": ...} for the columnar form';

/**
 * That one `{name: row}` object per row cannot be written for outputs of these shapes (their first
 * dimensions differ, or one has none), without the fix, which depends on who made the outputs.
 */
function unsharedBatchMessage(shapes: Readonly<Record<string, readonly number[]>>): string {
  return `Cannot answer one object per row: outputs ${Object.keys(shapes).map((n) => `'${n}' [${shapes[n]!.join(', ')}]`).join(', ')} do not share their first (batch) dimension`;
}

/**
 * `body` without a leading UTF-8 byte order mark, which JSON parsers may ignore (RFC 8259 §8.1)
 * and Windows tools write; left in, it is an invisible "unexpected token" at position 0.
 */
export function withoutBom(body: Buffer): Buffer {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? body.subarray(3) : body;
}

/** The `application/json` codec: every JSON request form in, the matching response form out. */
export const jsonCodec: Codec = {
  mediaType: JSON_MEDIA_TYPE,
  decode(raw: Buffer, _params: Readonly<Record<string, string>>, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest {
    const body = withoutBom(raw);
    const fast = scanNumericBody(body, hints?.float32);
    if (fast !== undefined) {
      // Only numbers and brackets: latin1 reads them as UTF-8 does.
      const request = refuseOverflowingLiterals({ tensors: { [UNNAMED]: fast.tensor }, form: fast.form }, () => body.toString('latin1'), 'JSON body');
      return withinBudget(request, limits, 'the JSON body');
    }
    try {
      refuseUtf16(body, 'JSON body', 'ERR_JSON_PARSE');
      refuseNonUtf8(body, 'JSON body', 'ERR_JSON_PARSE', JSON_BYTES_HINT);
      const text = body.toString('utf8');
      const request = decodeJsonText(text, 'JSON body', (value) => decodeJsonValue(value, hints?.maxInputs));
      return withinBudget(refuseOverflowingLiterals(request, () => text, 'JSON body'), limits, 'the JSON body');
    } catch (err) {
      // TF Serving and v2 clients read {"error"}; a body that is not even JSON may be either.
      throw withErrorMember(explainUtf16(err, body, 'JSON body', 'ERR_JSON_PARSE'));
    }
  },
  encodeAnswer(prediction: unknown, options: EncodeOptions): TypedBody | undefined {
    // A v2 request that asks for binary outputs gets them as Triton answers it (binary_data,
    // binary_data_output); any other answer is encode's.
    if (options.request?.binaryOutputs === undefined || options.request.form !== 'v2' || !isTensorMap(prediction)) return undefined;
    return encodeV2Answer(prediction, options);
  },
  encode(prediction: unknown, options: EncodeOptions): Buffer {
    // A bare float tensor (the common answer) is written straight to bytes, without a string between.
    const bare = bareTensorOf(prediction, options);
    return (bare && floatTensorJsonBytes(bare)) ?? Buffer.from(encodeJsonText(prediction, options), 'utf8');
  },
};
