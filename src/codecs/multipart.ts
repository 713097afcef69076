import { type Tensor, type TensorMap, UNNAMED, allocate } from '../core/tensor.js';
import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import type { DecodeLimits, DecodedRequest } from './codec.js';
import { checkDecodedSize } from './decode-limits.js';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from './json-depth.js';
import { IMAGE_MEDIA_TYPES, channelsParam, decodeImageSync, sniffImageType } from './image.js';
import { parseMediaType } from './media-type.js';
import type { CodecRegistry } from './registry.js';
import { setTensor } from './tensor-map.js';

/** One part of a `multipart/form-data` body, as the HTTP front hands it to the worker. */
export interface FormPart {
  /** The form field name. */
  field: string;
  /** The file name, for file parts; absent for plain text fields. */
  filename?: string;
  /** The part's media type (`text/plain` for text fields). */
  contentType: string;
  data: Buffer;
}

const TEXT_TYPES = new Set(['', 'text/plain']);

function isImageType(t: string): boolean {
  return (IMAGE_MEDIA_TYPES as readonly string[]).includes(t) || t === 'image/jpg' || t === 'image/pjpeg';
}

/** Memory a decoded tensor takes (strings counted as UTF-16). */
function tensorBytes(t: Tensor): number {
  const data = t.data as { byteLength?: number };
  if (typeof data.byteLength === 'number') return data.byteLength;
  let n = 0;
  for (const v of t.data as readonly unknown[]) n += typeof v === 'string' ? v.length * 2 : 8;
  return n;
}

function label(part: FormPart): string {
  return part.filename ? `file "${part.filename}" (field "${part.field}")` : `field "${part.field}"`;
}

/** Decodes one file part to tensors: images with sharp, anything else with the codec for its type. */
function decodeFile(part: FormPart, codecs: CodecRegistry, limits: DecodeLimits | undefined): { tensors: TensorMap; image: boolean; request?: DecodedRequest } {
  const { mediaType, params } = parseMediaType(part.contentType);
  // A file part sent without a Content-Type (Python requests' `files=` does that) reaches us as
  // text/plain, RFC 7578's default: like octet-stream, its type is read from its bytes.
  const unlabelled = mediaType === '' || mediaType === 'application/octet-stream' || mediaType === 'text/plain';
  const type = unlabelled ? (sniffImageType(part.data) ?? mediaType) : mediaType;
  try {
    if (isImageType(type)) return { tensors: { [UNNAMED]: decodeImageSync(part.data, channelsParam(params), `${label(part)} ${type}`, limits) }, image: true };
    if (unlabelled) {
      throw new ToolkitError(
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        `${label(part)} has no recognisable type (${mediaType === 'text/plain' ? 'text/plain, what a part without a Content-Type is' : mediaType || 'none given'}): ` +
          'send it with a Content-Type (image/jpeg, image/png, image/webp, text/csv, application/x-npy, application/json ...)',
      );
    }
    const request = codecs.decode(part.contentType, part.data, limits);
    return { tensors: request.tensors, image: false, request };
  } catch (err) {
    if (isToolkitError(err) && !err.message.includes(label(part))) {
      throw new ToolkitError(err.code, `${label(part)}: ${err.message}`, { status: err.status, cause: err });
    }
    throw err;
  }
}

/** Decodes a text field's value as JSON (a number, nested list, or any JSON tensor form). */
function decodeTextInput(part: FormPart, codecs: CodecRegistry, limits: DecodeLimits | undefined): TensorMap {
  try {
    return codecs.decode('application/json', part.data, limits).tensors;
  } catch (err) {
    if (isToolkitError(err) && err.code === 'ERR_DECODED_TOO_LARGE') throw err;
    throw new ToolkitError('ERR_BAD_REQUEST', `${label(part)} names a model input, so its value must be JSON (a number or nested list): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** JSON text whose value is an array or object: a bracket after JSON's whitespace. */
const OPENS_WITH_BRACKET = /^[ \t\n\r]*[[{]/;

function parameterValue(part: FormPart): unknown {
  const text = part.data.toString('utf8');
  // Only text that opens with a bracket can nest: any other is a scalar or, as JSON.parse stops at
  // once, the plain-text parameter it always was (a prompt may hold any number of "[").
  if (OPENS_WITH_BRACKET.test(text) && jsonNestsDeeperThan(text)) {
    throw new ToolkitError('ERR_BAD_REQUEST', `${label(part)} nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, the limit for JSON in a request`);
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Stacks tensors along a new leading axis (images: H×W×C each → N×H×W×C) or, for tensors that are
 * already batches (rank ≥ 2, not images), concatenates them along axis 0.
 */
export function batchTensors(list: readonly Tensor[], images: boolean, what: string): Tensor {
  if (list.length === 1) return list[0]!;
  const first = list[0]!;
  const inner = images ? first.shape : first.shape.slice(1);
  for (const t of list) {
    const same = t.dtype === first.dtype && (images ? t.shape : t.shape.slice(1)).join(',') === inner.join(',');
    if (!same) {
      if (images) {
        throw new ToolkitError(
          'ERR_IMAGE_SIZE_MISMATCH',
          `${what}: images sent together become one batch, so they must share one size; got ${first.shape.slice(0, 2).join('×')} and ${t.shape.slice(0, 2).join('×')} (height×width). Resize them before sending, or send them in separate requests`,
        );
      }
      throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: files sent together are joined along the first axis, so they must agree on dtype and trailing shape; got ${first.dtype}[${first.shape.join(', ')}] and ${t.dtype}[${t.shape.join(', ')}]`);
    }
  }
  const rows = images ? list.length : list.reduce((n, t) => n + (t.shape[0] ?? 1), 0);
  const total = list.reduce((n, t) => n + t.data.length, 0);
  const data = allocate(first.dtype, total);
  let at = 0;
  for (const t of list) {
    if (Array.isArray(data)) for (let i = 0; i < t.data.length; i++) (data as string[])[at + i] = (t.data as string[])[i]!;
    else (data as Uint8Array).set(t.data as Uint8Array, at);
    at += t.data.length;
  }
  return { dtype: first.dtype, shape: [rows, ...inner], data };
}

/**
 * Turns the parts of a `multipart/form-data` request into model inputs.
 *
 * - A part whose field name is one of `inputNames` becomes that named input (files decoded by their
 *   type, text fields as JSON). Several files under the same input name form a batch.
 * - Every other file goes into one unnamed batch: images stack into N×H×W×C (one image stays
 *   H×W×C, like an `image/jpeg` body) and must share one size (else 400 `ERR_IMAGE_SIZE_MISMATCH`);
 *   CSV, NPY or JSON files are joined along their first axis.
 * - Other text fields become request `parameters` (JSON values where they parse, else strings).
 * - Files sent as `application/octet-stream` are recognised as JPEG, PNG or WebP by their bytes.
 *
 * `limits` bound all the parts together: each part may decode only what the parts before it left
 * (413 `ERR_DECODED_TOO_LARGE`), checked from image headers before their pixels are decoded.
 */
export function decodeFormParts(parts: readonly FormPart[], codecs: CodecRegistry, inputNames: readonly string[], limits?: DecodeLimits): DecodedRequest {
  let used = 0;
  const left = (): DecodeLimits | undefined => (limits ? { maxDecodedBytes: limits.maxDecodedBytes - used } : undefined);
  const groups = new Map<string, { tensors: Tensor[]; images: boolean }>();
  const parameters: Record<string, unknown> = {};
  // Bytes that were not UTF-8 ('|S' NPY files, {"b64"} values), and whether a file was a '|S' array:
  // answered as those bytes again, as for a body of that type (see DecodedRequest).
  const binaryStrings = new Set<string>();
  let npyBytes = false;
  // Each part's string tensors with the strings that part read as bytes: a string one part read as
  // bytes and another as text is left to UTF-8, as within one body (see DecodedRequest.binaryStrings).
  const stringParts: { tensors: TensorMap; binary: ReadonlySet<string> | undefined }[] = [];
  const add = (key: string, t: Tensor, image: boolean) => {
    const g = groups.get(key) ?? { tensors: [], images: image };
    g.images &&= image;
    g.tensors.push(t);
    groups.set(key, g);
  };
  for (const part of parts) {
    const isText = part.filename === undefined && TEXT_TYPES.has(parseMediaType(part.contentType).mediaType);
    const named = inputNames.includes(part.field);
    if (isText && !named) {
      // Defined, not assigned: a field named __proto__ would set the object's prototype and be lost.
      Object.defineProperty(parameters, part.field, { value: parameterValue(part), enumerable: true, writable: true, configurable: true });
      continue;
    }
    const decoded = isText ? { tensors: decodeTextInput(part, codecs, left()), image: false } : decodeFile(part, codecs, left());
    const partBinary = 'request' in decoded ? decoded.request?.binaryStrings : undefined;
    if ('request' in decoded && decoded.request !== undefined) {
      for (const s of partBinary ?? []) binaryStrings.add(s);
      npyBytes ||= decoded.request.npyBytes === true;
    }
    stringParts.push({ tensors: decoded.tensors, binary: partBinary });
    for (const [name, t] of Object.entries(decoded.tensors)) {
      used += tensorBytes(t);
      checkDecodedSize(used, limits, `${label(part)} together with the parts before it`);
      // A lone unnamed tensor takes the field's name when that names an input; named tensors (NPZ, v2 JSON) keep theirs.
      const key = name === UNNAMED ? (named ? part.field : UNNAMED) : name;
      add(key, t, decoded.image);
    }
  }
  if (groups.size === 0) {
    throw new ToolkitError(
      'ERR_BAD_REQUEST',
      `the form has no files${inputNames.length ? ` and no field named after a model input (${inputNames.join(', ')})` : ''}; send images or data files as file parts (curl -F "image=@cat.jpg")`,
    );
  }
  if (binaryStrings.size > 0) {
    for (const part of stringParts) {
      for (const t of Object.values(part.tensors)) {
        if (t.dtype !== 'string') continue;
        for (const text of t.data as string[]) if (binaryStrings.has(text) && !part.binary?.has(text)) binaryStrings.delete(text);
      }
    }
  }
  const tensors: TensorMap = {};
  for (const [key, g] of groups) setTensor(tensors, key, batchTensors(g.tensors, g.images, key === UNNAMED ? 'files' : `input "${key}"`));
  return {
    tensors,
    form: 'tensor',
    ...(Object.keys(parameters).length ? { parameters } : {}),
    ...(binaryStrings.size > 0 ? { binaryStrings } : {}),
    ...(npyBytes ? { npyBytes } : {}),
  };
}
