import { ToolkitError } from '../errors/catalogue.js';
import { excerpt, isOtherRealmTypedArray, valueKind, withArticle } from '../errors/excerpt.js';
import { float16Bits, fromFloat16Bits, toFloat16Bits } from './float16.js';
import { bigIntToFloat32 } from './float-rounding.js';

/**
 * Tensors as smkit passes them between codecs, pipeline steps and runtimes: a dtype, a shape and a
 * flat, row-major typed array. Runtimes convert to and from their own tensor types at their edge.
 */

/** Element types smkit understands (ONNX Runtime's names). `bool` is stored as `Uint8Array`, `float16` as `Uint16Array` bits. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** The storage for each {@link DType}. */
export interface DataTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

/** Any tensor storage. */
export type TensorData = DataTypeMap[DType];

/** A dense tensor. `data.length` equals the product of `shape`. */
export interface Tensor<T extends DType = DType> {
  readonly dtype: T;
  readonly shape: readonly number[];
  readonly data: DataTypeMap[T];
}

/** Named tensors. The key {@link UNNAMED} holds a single input sent without a name. */
export type TensorMap = Record<string, Tensor>;

/**
 * The most dimensions a request tensor may have (numpy's limit). Deeper nesting is refused early
 * with a short message, so a body nested millions of levels deep cannot exhaust the stack or echo
 * a million-entry shape back.
 */
export const MAX_RANK = 64;

/** Key of a tensor that arrived without a name (bare JSON array, CSV, NPY); runtimes bind it to a single-input model. */
export const UNNAMED = '';

const TYPED_ARRAY_CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const;

/** Number of elements a shape holds (Infinity when the product overflows a double). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    // An empty dimension empties the tensor: the product so far may have overflowed to Infinity, and Infinity × 0 is NaN.
    if (d === 0) return 0;
    n *= d;
  }
  return n;
}

/** True for dtypes stored as BigInt arrays. */
export function isBigIntDType(dtype: DType): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/** Allocates zeroed storage for `length` elements of `dtype`. */
export function allocate<T extends DType>(dtype: T, length: number): DataTypeMap[T] {
  if (dtype === 'string') return new Array<string>(length).fill('') as DataTypeMap[T];
  const Ctor = TYPED_ARRAY_CTORS[dtype as Exclude<DType, 'string'>];
  return new Ctor(length) as DataTypeMap[T];
}

/**
 * `map` with every float16 tensor holding `Uint16Array` bits, as smkit's codecs and runtimes read
 * them; `map` itself when all do. Applied where user code hands tensors to smkit, which on Node 24
 * may build float16 data as a `Float16Array` (see {@link float16Bits}).
 */
export function withFloat16Bits(map: TensorMap): TensorMap {
  if (typeof map !== 'object' || map === null) return map;
  let out: TensorMap | undefined;
  // for-in, not Object.entries: this runs on every pipeline call and should not allocate.
  for (const name in map) {
    if (!Object.hasOwn(map, name)) continue;
    const t = map[name];
    if (t?.dtype !== 'float16' || t.data instanceof Uint16Array || !ArrayBuffer.isView(t.data) || t.data instanceof DataView) continue;
    out ??= { ...map };
    Object.defineProperty(out, name, { value: { dtype: 'float16', shape: t.shape, data: float16Bits(t.data as ArrayBufferView & ArrayLike<number>) }, enumerable: true, writable: true, configurable: true });
  }
  return out ?? map;
}

/** True when `t`'s data is its dtype's storage ({@link DataTypeMap}: a `Float32Array` for `float32`, an array for `string`). */
export function holdsOwnStorage(t: Tensor): boolean {
  return t.dtype === 'string' ? Array.isArray(t.data) : t.data instanceof TYPED_ARRAY_CTORS[t.dtype];
}

/**
 * Refuses tensors from user code whose data is another typed array than their dtype's storage
 * (`float32` data in an `Int32Array`): the encoders read the bytes as the dtype says, so the answer
 * would be other numbers (1 as 1.4e-45), not an error. Run after {@link withFloat16Bits}, which
 * turns a float16 tensor's data into its storage first.
 *
 * @param source what returned the tensors, for the message (`predictFn`)
 * @param did what `source` did with them, for the message (`returned`, `was given`)
 * @throws ToolkitError 500 `ERR_USER_CODE` naming the tensor, its dtype and the array it needs
 */
export function checkTensorStorage(map: TensorMap, source: string, did = 'returned'): void {
  for (const name in map) {
    if (!Object.hasOwn(map, name)) continue;
    const t = map[name]!;
    if (t.dtype === 'string') continue;
    const Ctor = TYPED_ARRAY_CTORS[t.dtype];
    if (t.data instanceof Ctor) continue;
    const otherRealm = isOtherRealmTypedArray(t.data);
    throw new ToolkitError(
      'ERR_USER_CODE',
      `${source} ${did} tensor "${excerpt(name, 60)}" with dtype ${t.dtype} but its data is ${valueKind(t.data)}${otherRealm ? ' made in another realm (a vm context)' : ''}: put ${t.dtype} data in ${withArticle(Ctor.name)}${otherRealm ? " of this realm's" : ''}${t.dtype === 'bool' ? ' of 0 and 1' : ''}, or give the dtype of the data`,
    );
  }
}

/**
 * {@link checkTensorStorage} for tensors user code hands to a model (inputFn's, a pipeline's
 * `run()` called from a handler): only data in another typed array than its dtype's is refused,
 * which a model step took as it was (ONNX Runtime: 500 ERR_STEP_FAILED) or by value (TF.js, a
 * batch's concatenation). Plain arrays of numbers, which every runtime reads by value, and tensors
 * of an unknown dtype (refused where they are read) pass.
 */
export function checkInputStorage(map: TensorMap, source: string, did: string): void {
  for (const name in map) {
    if (!Object.hasOwn(map, name)) continue;
    const t = map[name] as Partial<Tensor> | undefined;
    if (typeof t !== 'object' || t === null || t.dtype === 'string' || !ArrayBuffer.isView(t.data) || t.data instanceof DataView) continue;
    const Ctor = TYPED_ARRAY_CTORS[t.dtype as Exclude<DType, 'string'>] as (new () => unknown) | undefined;
    if (Ctor === undefined || t.data instanceof Ctor) continue;
    checkTensorStorage({ [name]: t as Tensor }, source, did);
  }
}

/** Builds a tensor, checking that the data fits the shape. */
export function tensor<T extends DType>(dtype: T, shape: readonly number[], data: DataTypeMap[T]): Tensor<T> {
  const expected = sizeOf(shape);
  if (data.length !== expected) {
    throw new RangeError(`tensor data has ${data.length} elements but shape [${shape.join(', ')}] needs ${expected}`);
  }
  return { dtype, shape: [...shape], data };
}

/**
 * Converts a tensor to another dtype the way numpy's `astype` does: numbers round toward zero for
 * integer targets and wrap when out of range (NaN and infinities become 0 for 64-bit targets);
 * bool is x != 0; float16 is read and written as values, not raw bits; strings must hold numbers
 * (`"1.5"`, `"nan"`, `"inf"`), else a 400 `ERR_INPUT_VALUE`. For request values bound to
 * a model input use `convertExact` (`core/dtype-convert.ts`), which refuses lossy conversions.
 * Returns the same tensor when the dtype already matches.
 */
export function castTensor<T extends DType>(t: Tensor, dtype: T): Tensor<T> {
  if (t.dtype === dtype) return t as Tensor<T>;
  const n = t.data.length;
  const out = allocate(dtype, n);
  if (dtype === 'string') {
    const o = out as string[];
    const src = toFlatArray(t);
    for (let i = 0; i < n; i++) o[i] = String(src[i]);
    return { dtype, shape: [...t.shape], data: out };
  }
  const src = t.data as ArrayLike<number | bigint | string>;
  const half = t.dtype === 'float16';
  const read = (i: number): number | bigint => {
    const v = src[i]!;
    if (typeof v === 'string') return parseNumericString(v, dtype);
    return half ? fromFloat16Bits(v as number) : v;
  };
  if (isBigIntDType(dtype)) {
    const o = out as BigInt64Array | BigUint64Array;
    const wrap = dtype === 'int64' ? (b: bigint) => BigInt.asIntN(64, b) : (b: bigint) => BigInt.asUintN(64, b);
    for (let i = 0; i < n; i++) {
      const v = read(i);
      o[i] = typeof v === 'bigint' ? wrap(v) : Number.isFinite(v) ? wrap(BigInt(Math.trunc(v))) : 0n;
    }
  } else if (dtype === 'bool') {
    const o = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const v = read(i);
      o[i] = v !== 0 && v !== 0n ? 1 : 0;
    }
  } else if (dtype === 'float16') {
    const o = out as Uint16Array;
    for (let i = 0; i < n; i++) o[i] = toFloat16Bits(Number(read(i)));
  } else {
    const o = out as Exclude<TensorData, string[] | BigInt64Array | BigUint64Array>;
    // A 64-bit integer is wrapped (or rounded, for float32) from its exact value: through a double
    // first, one past 2^53 would have lost its low bits (int64 2^63 - 1 to int8 is -1, not 0).
    const narrow = bigIntNarrowing(dtype);
    for (let i = 0; i < n; i++) {
      const v = read(i);
      o[i] = typeof v === 'bigint' ? narrow(v) : v;
    }
  }
  return { dtype, shape: [...t.shape], data: out };
}

/** How a 64-bit integer becomes a value of a narrower numeric dtype, as numpy's `astype` does it. */
function bigIntNarrowing(dtype: DType): (v: bigint) => number {
  switch (dtype) {
    case 'int8':
      return (v) => Number(BigInt.asIntN(8, v));
    case 'int16':
      return (v) => Number(BigInt.asIntN(16, v));
    case 'int32':
      return (v) => Number(BigInt.asIntN(32, v));
    case 'uint8':
      return (v) => Number(BigInt.asUintN(8, v));
    case 'uint16':
      return (v) => Number(BigInt.asUintN(16, v));
    case 'uint32':
      return (v) => Number(BigInt.asUintN(32, v));
    case 'float32':
      return bigIntToFloat32;
    default:
      return Number;
  }
}

/**
 * A string as a number, as numpy's `astype` reads it: decimal and exponent forms, `nan`, `inf` and
 * `infinity` (any case, signed). Anything else (text, an empty string) is a 400, never a silent NaN.
 */
function parseNumericString(text: string, dtype: DType): number {
  const s = text.trim();
  const special = /^([+-]?)(nan|inf|infinity)$/i.exec(s);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const v = s === '' || /^[+-]?0[xob]/i.test(s) ? NaN : Number(s);
  if (Number.isNaN(v)) {
    const shown = JSON.stringify(s.length > 24 ? `${s.slice(0, 24)}…` : s);
    throw new ToolkitError('ERR_INPUT_VALUE', `cannot convert the string ${shown} to ${dtype}: it is not a number`);
  }
  return v;
}

/**
 * Converts a tensor to nested JS arrays (numbers, booleans, strings; int64 values become numbers
 * when they are safe integers, else strings so no precision is lost silently).
 */
export function toNested(t: Tensor): unknown {
  const flat = toFlatArray(t);
  if (t.shape.length === 0) return flat[0];
  return nest(flat, t.shape, 0, 0).value;
}

/** Converts the tensor's storage to a plain JS array of numbers, booleans or strings. */
export function toFlatArray(t: Tensor): unknown[] {
  const n = t.data.length;
  const out = new Array<unknown>(n);
  if (t.dtype === 'bool') {
    const d = t.data as Uint8Array;
    for (let i = 0; i < n; i++) out[i] = d[i] !== 0;
  } else if (t.dtype === 'float16') {
    const d = t.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = fromFloat16Bits(d[i]!);
  } else if (isBigIntDType(t.dtype)) {
    const d = t.data as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const v = d[i]!;
      out[i] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    }
  } else {
    const d = t.data as ArrayLike<number | string>;
    for (let i = 0; i < n; i++) out[i] = d[i];
  }
  return out;
}

function nest(flat: unknown[], shape: readonly number[], dim: number, offset: number): { value: unknown[]; next: number } {
  const len = shape[dim]!;
  const out = new Array<unknown>(len);
  if (dim === shape.length - 1) {
    for (let i = 0; i < len; i++) out[i] = flat[offset + i];
    return { value: out, next: offset + len };
  }
  let at = offset;
  for (let i = 0; i < len; i++) {
    const r = nest(flat, shape, dim + 1, at);
    out[i] = r.value;
    at = r.next;
  }
  return { value: out, next: at };
}
