// node:crypto stays loaded with the codecs (50 ms after a worker's model is ready): the first request
// needs it anyway for its id (server/request-id.ts), and then does not wait for it.
import { randomUUID } from 'node:crypto';
import { isBigIntDType, type Tensor } from '../core/tensor.js';
import { float16Bits, float16ToFloat32 } from '../core/float16.js';
import { isTensor } from './tensor-map.js';
import { ToolkitError } from '../errors/catalogue.js';
import { thrownMessage } from '../errors/excerpt.js';
import { floatTensorJsonText } from './number-json-wasm.js';
import { HIGH_HALF, LOW_HALF } from './word-order.js';

/**
 * JSON text for tensors. float32 and float64 tensors are written by WebAssembly
 * (`number-json-wasm.ts`), the same text 1.7-2 times faster; for the rest, measured on Node 20
 * (see `bench/codecs.ts`), building plain nested arrays with simple loops and handing them to
 * `JSON.stringify` beats `TypedArray#join` per row by about 1.5× and hand-written string
 * concatenation by 2×, because V8's JSON serialiser formats doubles natively. NaN and ±Infinity
 * become `null` (standard JSON has no literal for them); a whole float becomes `1.0`, not `1`, as
 * TF Serving, Python's json and numpy write it, so that Python's `json.loads` gives a float and
 * numpy a float array, not int64; -0 becomes `-0.0` (JSON.stringify writes
 * `0`, and Python's json reads `-0` as the integer 0: either way the sign is lost); int64 values outside the safe integer
 * range are written as strings so no client loses precision silently; float32 values are written
 * as the double they widen to, as the Python toolkit does.
 */

/** The tensor as nested JSON arrays (a 0-d tensor as a bare scalar). */
export function tensorToJson(t: Tensor): string {
  const text = floatTensorJsonText(widened(t));
  if (text !== undefined) return text;
  const src = jsonElements(t);
  return floatPoints(JSON.stringify(t.shape.length === 0 ? src[0] : nest(src, t.shape, 0, 0)), t, src, 0, src.length);
}

/** The tensor as nested plain JS values ready for `JSON.stringify`. */
export function tensorToJsonValue(t: Tensor): unknown {
  const src = jsonElements(t);
  if (t.shape.length === 0) return src[0];
  return nest(src, t.shape, 0, 0);
}

/**
 * Each row of the tensor (along the first axis) as JSON, for per-row answers such as TensorFlow
 * Serving predictions and JSON lines. A 1-D tensor's rows are scalars; a 0-d tensor is one row.
 */
export function tensorRowsToJson(t: Tensor): string[] {
  // A few values (one short row: the common answer to one request) are written sooner by
  // JSON.stringify than by a call into the WebAssembly writer, whose fixed cost is about 0.1 µs more.
  const cut = t.shape.length === 0 || t.data.length <= FEW_VALUES ? undefined : floatRowsJson(t);
  if (cut !== undefined) return cut;
  const src = jsonElements(t);
  if (t.shape.length === 0) return [floatPoints(JSON.stringify(src[0]), t, src, 0, 1)];
  const rows = t.shape[0]!;
  const inner = t.shape.slice(1);
  let rowSize = 1;
  for (const d of inner) rowSize *= d;
  const out = new Array<string>(rows);
  for (let i = 0; i < rows; i++) out[i] = floatPoints(JSON.stringify(inner.length === 0 ? src[i] : nest(src, inner, 0, i * rowSize)), t, src, i * rowSize, (i + 1) * rowSize);
  return out;
}

/** Up to this many values {@link tensorRowsToJson} writes with JSON.stringify, row by row. */
const FEW_VALUES = 4;

/** The tensor's elements as one flat JSON array (v2 `data`). */
export function tensorFlatToJson(t: Tensor): string {
  const text = floatTensorJsonText({ ...widened(t), shape: [t.data.length] });
  if (text !== undefined) return text;
  const src = jsonElements(t);
  return floatPoints(JSON.stringify(Array.isArray(src) ? src : Array.from(src as ArrayLike<number>)), t, src, 0, src.length);
}

/**
 * The rows of a float32 or float64 tensor of rank 1 or more as the WebAssembly writer writes them,
 * cut from its text of the whole tensor (one call, not one per row); `undefined` when it does not
 * write the tensor. A row of a rank-r tensor ends where r - 1 brackets close before a comma: inside
 * a row at most r - 2 close before one.
 */
function floatRowsJson(t: Tensor): string[] | undefined {
  const text = floatTensorJsonText(widened(t));
  if (text === undefined) return undefined;
  const rows = t.shape[0]!;
  // One row (the common answer to one request) is the text without its outer brackets.
  if (rows === 1) return [text.slice(1, -1)];
  const rank = t.shape.length;
  if (rank === 1) return text.slice(1, -1).split(',');
  const out = new Array<string>(rows);
  const end = `${']'.repeat(rank - 1)},`;
  let from = 1;
  for (let i = 0; i < rows - 1; i++) {
    const at = text.indexOf(end, from) + rank - 1;
    out[i] = text.slice(from, at);
    from = at + 1;
  }
  out[rows - 1] = text.slice(from, -1);
  return out;
}

/**
 * `json` (JSON.stringify's text of the float elements `[from, to)` of `src`) as the WebAssembly
 * writer writes it: each whole number with `.0` (`1.0`), each -0 as `-0.0`. JSON.stringify writes a
 * whole number as an integer token, and -0 as `0`, the token it writes for +0 too, so the k-th
 * standalone `0` is the k-th zero element. Text of other dtypes is returned as it is.
 */
function floatPoints(json: string, t: Tensor, src: ArrayLike<unknown>, from: number, to: number): string {
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16') return json;
  const values = src as ArrayLike<number>;
  let negative: boolean[] | undefined;
  let zeros = 0;
  let whole = false;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v !== 0) {
      whole ||= Number.isInteger(v);
      continue;
    }
    whole = true;
    if (1 / v < 0) (negative ??= new Array<boolean>(zeros).fill(false))[zeros] = true;
    else if (negative) negative[zeros] = false;
    zeros++;
  }
  // No whole number (the usual scores): nothing to rewrite, and the regex costs more than JSON.stringify.
  if (!whole) return json;
  let k = 0;
  return json.replace(WHOLE_NUMBER, (token) => (token === '0' && negative?.[k++] ? '-0.0' : `${token}.0`));
}

/** An integer token standing alone in JSON.stringify's text of numbers (no point, no exponent). */
const WHOLE_NUMBER = /(?<=^|[[,])-?\d+(?=$|[\],])/g;

/**
 * JSON for any value from user code: typed arrays become arrays, bigints numbers when safe (else
 * strings), tensors nested arrays. Buffers keep Node's `{"type":"Buffer","data":[...]}` form.
 *
 * @throws ToolkitError `ERR_ENCODE` for a value JSON cannot hold (one that refers to itself, or
 *   whose `toJSON` throws), with JSON.stringify's reason.
 */
export function valueToJson(value: unknown): string {
  if (isTensor(value)) return tensorToJson(value);
  let text: string | undefined;
  try {
    text = stringifyValue(value);
  } catch (err) {
    throw new ToolkitError('ERR_ENCODE', `the prediction cannot be written as JSON (${thrownMessage(err, 300)}); return plain data: objects, arrays, numbers, strings, typed arrays`, { cause: err });
  }
  // JSON.stringify answers undefined for undefined and functions; `null` keeps the body valid JSON.
  return text ?? 'null';
}

function stringifyValue(value: unknown): string | undefined {
  // A float tensor (or Float32Array, Float64Array) is written by tensorToJson (whole numbers as `1.0`,
  // -0 as `-0.0`), in place of a string naming it: a replacer hands JSON.stringify values, which
  // writes them as `1` and `0`. The random mark is no string of the value's.
  let floats: Tensor[] | undefined;
  let mark: string | undefined;
  const written = (t: Tensor): string => {
    mark ??= randomUUID();
    return `${mark}:${(floats ??= []).push(t) - 1}`;
  };
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null) return typeof v === 'bigint' ? bigintToJsonValue(v) : v;
    if (Array.isArray(v)) return v;
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      if (v instanceof Float32Array || v instanceof Float64Array) return written({ dtype: v instanceof Float32Array ? 'float32' : 'float64', shape: [v.length], data: v } as Tensor);
      return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? bigintToJsonValue(x) : x));
    }
    if (isTensor(v)) return v.dtype === 'float32' || v.dtype === 'float64' || v.dtype === 'float16' ? written(v) : tensorToJsonValue(v);
    if (Object.getPrototypeOf(v) !== Object.prototype) refuseOpaque(v);
    return v;
  });
  if (floats === undefined || text === undefined) return text;
  // Found with indexOf, not a RegExp of the mark: a pattern new on every call is compiled on every
  // call, which cost 60-100 µs, 20 times the rest, for an object holding a short Float32Array (a
  // streamed chunk, a bidiFn reply). The mark is hex and dashes, which JSON writes as they are.
  const open = `"${mark!}:`;
  let out = '';
  let from = 0;
  for (let at = text.indexOf(open); at !== -1; at = text.indexOf(open, from)) {
    const end = text.indexOf('"', at + open.length);
    out += text.slice(from, at) + tensorToJson(floats[Number(text.slice(at + open.length, end))]!);
    from = end + 1;
  }
  return out + text.slice(from);
}

/**
 * Throws for an object whose content JSON.stringify does not see, so that it would write `{}` (or a
 * stream's internal state) in its place: a Map, a Set, a Promise, an ArrayBuffer or DataView, a
 * Blob, a fetch Response, Request or Headers, a FormData or URLSearchParams, a WeakRef, a RegExp, an
 * Error, a generator, an async iterable (a Node stream). Python's json refuses such values too ("is not JSON serializable").
 * Told by their tag, not `instanceof`, so that one from another realm (a vm context), for which
 * `instanceof Map` is false, is refused too; the cost is the same (about 0.1 µs per class instance).
 */
function refuseOpaque(v: object): void {
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  let what = OPAQUE_TAGS.get(tag);
  if (tag === 'Error' || (what === undefined && v instanceof Error)) what = `an Error (${thrownMessage(v, 200)})`;
  else if (what === undefined && typeof (v as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function') what = 'an async iterable (a stream: only outputFn and transformFn stream their answer)';
  if (what !== undefined) throw new TypeError(`it holds ${what}, whose content JSON cannot hold`);
}

const BYTES = '(bytes: answer them as application/octet-stream, or put them in a typed array)';
const OPAQUE_TAGS = new Map<string, string>([
  ['Map', 'a Map'],
  ['WeakMap', 'a Map'],
  ['Set', 'a Set'],
  ['WeakSet', 'a Set'],
  ['Promise', 'a Promise (a value not awaited)'],
  ['ArrayBuffer', `an ArrayBuffer ${BYTES}`],
  ['SharedArrayBuffer', `an ArrayBuffer ${BYTES}`],
  ['DataView', `a DataView ${BYTES}`],
  // A Blob's bytes are read asynchronously: written as {} it lost them with a 200.
  ['Blob', 'a Blob (bytes: read them with await blob.arrayBuffer() and answer them as application/octet-stream, or put them in a typed array)'],
  ['File', 'a File (bytes: read them with await file.arrayBuffer() and answer them as application/octet-stream, or put them in a typed array)'],
  // fetch's and the URL API's objects keep their content out of JSON.stringify's sight as a Blob
  // does: a handler answering { page: await fetch(url) } or { query: url.searchParams } got {}.
  ['Response', 'a fetch Response (read its body first: await res.json(), await res.text() or await res.arrayBuffer())'],
  ['Request', 'a fetch Request (read what it holds first: await req.json(), req.url)'],
  ['Headers', 'a Headers (turn it into an object first: Object.fromEntries(headers))'],
  ['FormData', 'a FormData (turn it into an object first: Object.fromEntries(form))'],
  ['URLSearchParams', 'a URLSearchParams (turn it into an object or a string first: Object.fromEntries(params), params.toString())'],
  ['WeakRef', 'a WeakRef (answer its target: ref.deref())'],
  ['RegExp', 'a RegExp (answer its text: re.source)'],
  ['Generator', 'a generator'],
  ['AsyncGenerator', 'an async iterable (a stream: only outputFn and transformFn stream their answer)'],
]);

/** A bigint as a JSON number when it is a safe integer, else as a decimal string. */
export function bigintToJsonValue(v: bigint): number | string {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString();
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

const TWO_32 = 4294967296;
const TWO_21 = 2097152;

/**
 * {@link bigintToJsonValue} of every element, read from each one's two 32-bit halves: a safe
 * integer (high half within ±2^21, -2^53 itself aside) is `high * 2^32 + low`, exactly, without the
 * BigInt comparisons and conversion per element that took about 230 µs for 2048 values (a batch
 * of a classifier's int64 labels), 40 µs this way; the rest, past ±2^53, as their decimal strings.
 */
export function int64JsonValues(d: BigInt64Array | BigUint64Array): (number | string)[] {
  const n = d.length;
  const out = new Array<number | string>(n);
  const h = new Int32Array(d.buffer, d.byteOffset, 2 * n);
  const unsigned = d instanceof BigUint64Array;
  for (let i = 0; i < n; i++) {
    const low = h[2 * i + LOW_HALF]! >>> 0;
    const high = unsigned ? h[2 * i + HIGH_HALF]! >>> 0 : h[2 * i + HIGH_HALF]!;
    out[i] = high < TWO_21 && (high > -TWO_21 || (high === -TWO_21 && low !== 0)) ? high * TWO_32 + low : d[i]!.toString();
  }
  return out;
}

/**
 * A float16 tensor as the float32 tensor of the same values (each exact in float32), which the
 * WebAssembly writer writes; any other tensor as it is.
 */
function widened(t: Tensor): Tensor {
  return t.dtype === 'float16' ? ({ dtype: 'float32', shape: t.shape, data: float16ToFloat32(float16Bits(t.data as Uint16Array)) } as Tensor) : t;
}

/** The tensor's elements as values `JSON.stringify` writes correctly (numbers, booleans, strings). */
function jsonElements(t: Tensor): ArrayLike<unknown> {
  if (t.dtype === 'float16') return float16ToFloat32(float16Bits(t.data as Uint16Array));
  if (t.dtype === 'bool') return Array.from(t.data as Uint8Array, (x) => x !== 0);
  if (isBigIntDType(t.dtype)) return int64JsonValues(t.data as BigInt64Array | BigUint64Array);
  return t.data as ArrayLike<unknown>;
}

function nest(src: ArrayLike<unknown>, shape: readonly number[], dim: number, offset: number): unknown[] {
  const len = shape[dim]!;
  const out = new Array<unknown>(len);
  if (dim === shape.length - 1) {
    for (let i = 0; i < len; i++) out[i] = src[offset + i];
    return out;
  }
  let stride = 1;
  for (let d = dim + 1; d < shape.length; d++) stride *= shape[d]!;
  for (let i = 0; i < len; i++) out[i] = nest(src, shape, dim + 1, offset + i * stride);
  return out;
}
