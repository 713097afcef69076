import { ToolkitError } from '../errors/catalogue.js';
import { isOtherRealmTypedArray, valueKind } from '../errors/excerpt.js';
import { MAX_RANK, type Tensor } from '../core/tensor.js';
import { nestedToTensor } from './json-tensor.js';
import { isTensor, isTensorMap } from './tensor-map.js';
import { HIGH_HALF, LOW_HALF } from './word-order.js';

/**
 * The one tensor a single-array format (CSV, NPY, raw bytes) can carry: the only output of a
 * {@link TensorMap}, a bare tensor, or a plain JS value (nested arrays, scalars, typed arrays) from
 * user code. Whole-number arrays become `int64`, other numbers `float64`; arrays holding bigints
 * (with whole numbers) `int64`, or `uint64` when one is past the `int64` range, as JSON answers
 * write them exactly.
 *
 * @throws ToolkitError 406 `ERR_NOT_ACCEPTABLE` for several outputs (naming them), `ERR_ENCODE` for values that are not arrays.
 */
export function toSingleTensor(prediction: unknown, mediaType: string): Tensor {
  if (isTensorMap(prediction)) {
    const names = Object.keys(prediction);
    if (names.length === 1) return prediction[names[0]!]!;
    throw new ToolkitError(
      'ERR_NOT_ACCEPTABLE',
      `${mediaType} holds one array but the prediction has ${names.length} outputs (${names.map((n) => `'${n}'`).join(', ')}); ` +
        'ask for application/json (Accept header), or select one output in the pipeline',
      { details: { outputs: names } },
    );
  }
  if (isTensor(prediction)) return prediction;
  return plainToTensor(prediction, mediaType);
}

/** Converts a plain JS value to a tensor (see {@link toSingleTensor}). */
export function plainToTensor(value: unknown, mediaType: string): Tensor {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return typedArrayToTensor(value);
  if (typeof value === 'bigint') return bigintTensor([value], [], mediaType);
  if (Array.isArray(value) && value.length > 0 && isTypedRow(innermost(value))) return stackedTypedArrays(value, mediaType);
  let t: Tensor;
  try {
    t = nestedToTensor(value, { label: `${mediaType} output`, code: 'ERR_ENCODE' });
  } catch (err) {
    // Arrays holding bigints are looked for only once numbers alone failed: arrays of numbers,
    // the common answer, are walked once, as before bigints were carried.
    const whole = Array.isArray(value) ? bigintArrayTensor(value, mediaType) : undefined;
    if (whole === undefined) throw err;
    return whole;
  }
  if (t.dtype !== 'float64') return t;
  const d = t.data as Float64Array;
  for (let i = 0; i < d.length; i++) if (!Number.isSafeInteger(d[i]!)) return t;
  return { dtype: 'int64', shape: t.shape, data: safeIntegersToInt64(d) };
}

/**
 * Safe integers (|x| < 2^53) as an int64 array, exactly, without a BigInt per element (which took
 * about 230 µs for 256×8 values): each is written as its two 32-bit halves, the high one
 * `Math.floor(x / 2^32)` (exact for safe integers, and within int32) and the low one the rest, in
 * [0, 2^32), the two's complement of x as the int64 it is.
 */
export function safeIntegersToInt64(d: Float64Array): BigInt64Array {
  const out = new BigInt64Array(d.length);
  const halves = new Int32Array(out.buffer);
  for (let i = 0; i < d.length; i++) {
    const x = d[i]!;
    const high = Math.floor(x / 4294967296);
    halves[2 * i + LOW_HALF] = x - high * 4294967296;
    halves[2 * i + HIGH_HALF] = high;
  }
  return out;
}

/** A typed array that can be a row of a tensor (not a DataView). */
function isTypedRow(v: unknown): v is ArrayBufferView & ArrayLike<number | bigint> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/**
 * The first element at the deepest level of nested arrays (`value[0][0]…`), looked for at most
 * {@link MAX_RANK} levels deep (an array that holds itself has no deepest level).
 */
function innermost(value: unknown[]): unknown {
  let v: unknown = value;
  for (let d = 0; d < MAX_RANK && Array.isArray(v) && v.length > 0; d++) v = v[0];
  return v;
}

/**
 * Nested arrays whose elements are typed arrays of one kind and length (`rows.map((r) => new
 * Float32Array(...))`), as JSON answers write them: one tensor of that typed array's dtype, the
 * typed arrays its last axis. The shape is read from the first element at each depth, and every
 * array must have its depth's length and every typed array sit at the deepest level.
 */
function stackedTypedArrays(value: unknown[], mediaType: string): Tensor {
  const first = typedArrayToTensor(innermost(value) as ArrayBufferView);
  const rowLength = first.shape[0]!;
  const shape: number[] = [];
  for (let v: unknown = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const fail = (message: string): never => {
    throw new ToolkitError('ERR_ENCODE', `${mediaType} output: ${message}; return one tensor ({dtype, shape, data}) or nested arrays of numbers`);
  };
  if (shape.length >= MAX_RANK) fail(`arrays are nested more than ${MAX_RANK - 1} levels deep around typed arrays; a tensor has at most ${MAX_RANK} dimensions`);
  const rows: ArrayLike<number | bigint>[] = [];
  const walk = (v: unknown, d: number): void => {
    if (d === shape.length) {
      if (!isTypedRow(v)) return fail(`${valueKind(v)} sits where the first element at this depth is a typed array`);
      const row = typedArrayToTensor(v);
      if (row.dtype !== first.dtype || row.shape[0] !== rowLength) {
        fail(`its typed arrays differ (${first.dtype} of ${rowLength} values, then ${row.dtype} of ${row.shape[0]}); they must be of one dtype and length`);
      }
      rows.push(first.dtype === 'uint8' ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v);
      return;
    }
    if (!Array.isArray(v)) return fail(`${valueKind(v)} sits beside arrays of typed arrays`);
    if (v.length !== shape[d]) fail(`ragged arrays: found ${v.length} elements where the first at this depth has ${shape[d]}`);
    for (const x of v) walk(x, d + 1);
  };
  walk(value, 0);
  const data = new (first.data.constructor as new (n: number) => { set(a: ArrayLike<number | bigint>, at: number): void })(rows.length * rowLength);
  rows.forEach((r, i) => data.set(r, i * rowLength));
  return { dtype: first.dtype, shape: [...shape, rowLength], data } as unknown as Tensor;
}

/**
 * Rectangular nested arrays of bigints and numbers holding at least one bigint, as
 * {@link bigintTensor} types them; `undefined` when no bigint comes before the first element that
 * does not fit (then {@link nestedToTensor}'s refusal stands). The shape is read from the first
 * element at each depth, at most {@link MAX_RANK} deep, and the walk stops at the first misfit, so
 * arrays nested without end or holding themselves are refused at once.
 */
function bigintArrayTensor(value: unknown[], mediaType: string): Tensor | undefined {
  const shape: number[] = [];
  let probe: unknown = value;
  while (Array.isArray(probe) && probe.length > 0 && shape.length < MAX_RANK) {
    shape.push(probe.length);
    probe = probe[0];
  }
  if (typeof probe !== 'bigint' && typeof probe !== 'number') return undefined;
  const values: (bigint | number)[] = [];
  const path: number[] = [];
  let bigints = false;
  let misfit = '';
  const walk = (v: unknown, d: number): boolean => {
    if (d === shape.length) {
      if (typeof v === 'bigint') bigints = true;
      else if (typeof v !== 'number') {
        misfit = `${valueKind(v)} sits among whole numbers and bigints`;
        return false;
      }
      values.push(v);
      return true;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      misfit = `ragged arrays: found ${Array.isArray(v) ? `${v.length} elements` : valueKind(v)} where the first at this depth has ${shape[d]} elements; nested arrays must be rectangular`;
      return false;
    }
    path.push(0);
    for (let i = 0; i < v.length; i++) {
      path[d] = i;
      if (!walk(v[i], d + 1)) return false;
    }
    path.pop();
    return true;
  };
  const whole = walk(value, 0);
  if (!bigints) return undefined;
  if (!whole) throw new ToolkitError('ERR_ENCODE', `${mediaType} output${path.map((i) => `[${i}]`).join('')}: ${misfit}`);
  return bigintTensor(values, shape, mediaType);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * An `int64` tensor of whole values (bigints, and numbers that are safe integers), or `uint64` when
 * one is past `int64` and none negative, as numpy types `np.array([1, 2**63])`.
 */
function bigintTensor(values: readonly (bigint | number)[], shape: number[], mediaType: string): Tensor {
  const whole: bigint[] = values.map((x, i) => {
    if (typeof x === 'bigint') return x;
    if (Number.isSafeInteger(x)) return BigInt(x);
    throw new ToolkitError('ERR_ENCODE', `${mediaType} output: element ${i} (${String(x)}) is not a whole number, and an array with bigints is written as 64-bit integers; return numbers alone (or bigints alone)`);
  });
  let min = 0n;
  let max = 0n;
  for (const x of whole) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min >= INT64_MIN && max <= INT64_MAX) return { dtype: 'int64', shape, data: BigInt64Array.from(whole) };
  if (min >= 0n && max <= UINT64_MAX) return { dtype: 'uint64', shape, data: BigUint64Array.from(whole) };
  const past = min < INT64_MIN ? min : max;
  throw new ToolkitError('ERR_ENCODE', `${mediaType} output: bigint ${past} is past the 64-bit integer range (int64 from -2^63, uint64 up to 2^64 - 1)`);
}

/** The typed arrays {@link typedArrayToTensor} carries, by name. */
const CARRIED: ReadonlySet<string> = new Set(['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array']);

function typedArrayToTensor(v: ArrayBufferView): Tensor {
  const shape = [(v as unknown as ArrayLike<unknown>).length];
  if (v instanceof Float32Array) return { dtype: 'float32', shape, data: v };
  if (v instanceof Float64Array) return { dtype: 'float64', shape, data: v };
  if (v instanceof Int8Array) return { dtype: 'int8', shape, data: v };
  if (v instanceof Uint8Array || v instanceof Uint8ClampedArray) return { dtype: 'uint8', shape: [v.byteLength], data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  if (v instanceof Int16Array) return { dtype: 'int16', shape, data: v };
  if (v instanceof Uint16Array) return { dtype: 'uint16', shape, data: v };
  if (v instanceof Int32Array) return { dtype: 'int32', shape, data: v };
  if (v instanceof Uint32Array) return { dtype: 'uint32', shape, data: v };
  if (v instanceof BigInt64Array) return { dtype: 'int64', shape, data: v };
  if (v instanceof BigUint64Array) return { dtype: 'uint64', shape, data: v };
  // Not a typed array of any realm: a DataView of another realm (this realm's does not come here).
  if (valueKind(v) === 'an object') throw new ToolkitError('ERR_ENCODE', 'Cannot encode a DataView');
  // One of another realm is no instance of this realm's arrays, though it may be of a kind carried
  // here: only then is copying it the cure (a Float16Array would be refused in this realm too).
  const kind = valueKind(v);
  const name = kind.replace(/^an? /, '');
  const otherRealm = CARRIED.has(name) && isOtherRealmTypedArray(v) ? ` made in another realm (a vm context): copy it into one of this realm's (new ${name}(value))` : '';
  throw new ToolkitError('ERR_ENCODE', `Cannot encode ${kind}${otherRealm}`);
}
