import { ToolkitError } from '../errors/catalogue.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import { bigIntToFloat32 } from './float-rounding.js';
import { allocate, type DType, type Tensor } from './tensor.js';

/**
 * Value-exact conversion of request tensors to a model input's dtype. Where {@link castTensor}
 * (a pipeline `cast` step) truncates and wraps as numpy's `astype` does, a request value that the
 * model's dtype cannot hold is a client error: text into a numeric input, a fraction or an
 * out-of-range number into an integer input, a finite number that overflows float32/float16, and
 * anything but 0/1 into a bool input are a 400 `ERR_INPUT_VALUE` naming the input and the element.
 * A tensor of no elements converts to any dtype, text and numbers alike, unless the request stated
 * its dtype (see {@link statedDType}).
 */

const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/** Reads element `i` of any non-string tensor as its value (float16 decoded, bool as 0/1, 64-bit as bigint). */
function elementValue(t: Tensor, i: number): number | bigint {
  const v = (t.data as ArrayLike<number | bigint>)[i]!;
  return t.dtype === 'float16' ? fromFloat16Bits(v as number) : v;
}

/** The data of empty request tensors whose dtype the request stated; data, not tensors, as steps that reshape keep it. */
const STATED = new WeakSet<object>();

/**
 * Marks `t`, when it has no elements, as of a dtype the request stated (a v2 `datatype`, an NPY
 * `descr`), and returns it: {@link convertExact} then refuses it across text and numbers as it would
 * a tensor with values, as Triton refuses a datatype other than the model's. JSON's `[]` states none.
 */
export function statedDType<T extends Tensor>(t: T): T {
  if (t.data.length === 0) STATED.add(t.data);
  return t;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 24 ? `${v.slice(0, 24)}…` : v);
  return String(v);
}

/**
 * Converts `t` to `dtype` without changing any value, or throws a 400 naming `what` (for example
 * `input "x"`) and the first element that does not fit. Returns `t` itself when the dtype matches.
 */
export function convertExact<T extends DType>(t: Tensor, dtype: T, what: string): Tensor<T> {
  if (t.dtype === dtype) return t as Tensor<T>;
  const n = t.data.length;
  // No value to misread: JSON's [] and [[]] (float64 by default) must reach a string input as its
  // empty tensor. A dtype the request stated is held to, as with values: v2 FP32 [] is not text.
  if (n === 0 && !STATED.has(t.data)) return { dtype, shape: [...t.shape], data: allocate(dtype, 0) } as Tensor<T>;
  const fail = (i: number, why: string): never => {
    throw new ToolkitError('ERR_INPUT_VALUE', `${what} takes ${dtype} values: element ${i} ${why}`, {
      details: { input: what, dtype, element: i },
    });
  };
  if (dtype === 'string') {
    throw new ToolkitError('ERR_INPUT_VALUE', `${what} takes strings but the request sent ${t.dtype} values; send the values as text`, {
      details: { input: what, dtype },
    });
  }
  if (t.dtype === 'string') {
    const first = n > 0 ? ` (element 0 is ${show((t.data as string[])[0])})` : '';
    throw new ToolkitError('ERR_INPUT_VALUE', `${what} takes ${dtype} numbers but the request sent text${first}; send numbers, not strings`, {
      details: { input: what, dtype },
    });
  }
  const out = allocate(dtype, n);
  switch (dtype) {
    case 'float64': {
      const o = out as Float64Array;
      for (let i = 0; i < n; i++) o[i] = Number(elementValue(t, i));
      break;
    }
    case 'float32': {
      const o = out as Float32Array;
      if (t.dtype === 'float64') {
        const src = t.data as Float64Array;
        for (let i = 0; i < n; i++) {
          const v = src[i]!;
          o[i] = v;
          const f = o[i]!; // the stored (rounded) value, not the assignment's right-hand side
          if ((f === Infinity || f === -Infinity) && Number.isFinite(v)) fail(i, `is ${v}, outside the float32 range (±3.4028234663852886e38)`);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const e = elementValue(t, i);
          // An int64 past 2^53 rounds once, to the float32 itself, not first to a double.
          const v = typeof e === 'bigint' ? bigIntToFloat32(e) : e;
          o[i] = v;
          const f = o[i]!;
          if ((f === Infinity || f === -Infinity) && Number.isFinite(v)) fail(i, `is ${elementValue(t, i)}, outside the float32 range (±3.4028234663852886e38)`);
        }
      }
      break;
    }
    case 'float16': {
      const o = out as Uint16Array;
      for (let i = 0; i < n; i++) {
        const v = Number(elementValue(t, i));
        const bits = toFloat16Bits(v);
        if ((bits & 0x7fff) === 0x7c00 && Number.isFinite(v)) fail(i, `is ${elementValue(t, i)}, outside the float16 range (±65504)`);
        o[i] = bits;
      }
      break;
    }
    case 'bool': {
      const o = out as Uint8Array;
      for (let i = 0; i < n; i++) {
        const v = elementValue(t, i);
        if (v === 0 || v === 1 || v === 0n || v === 1n) o[i] = Number(v);
        else fail(i, `is ${show(v)}; a bool input takes true/false (or 0/1)`);
      }
      break;
    }
    case 'int64':
    case 'uint64': {
      const o = out as BigInt64Array | BigUint64Array;
      const min = dtype === 'int64' ? INT64_MIN : 0n;
      const max = dtype === 'int64' ? INT64_MAX : UINT64_MAX;
      for (let i = 0; i < n; i++) {
        const v = elementValue(t, i);
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else {
          if (!Number.isInteger(v)) fail(i, `is ${show(v)}, which is not an integer`);
          // Doubles past 2^63 (2^64) cannot be int64 (uint64) values; compare before BigInt(). 2^63
          // (2^64) itself is what the largest int64 (uint64) becomes as a double, so it is answered
          // below as a value past 2^53, the fix for which is the same.
          if (dtype === 'int64' ? v > TWO_63 || v < -TWO_63 : v > TWO_64 || v < 0) fail(i, `is ${v}, outside the ${dtype} range [${min}, ${max}]`);
          // Past 2^53 a number read from text (JSON, CSV) may already have been rounded to the
          // nearest double: 9007199254740993 arrives as ...992. Refuse rather than guess.
          if (!Number.isSafeInteger(v)) {
            fail(i, `is ${v}, beyond ±2^53, where numbers lose integer precision; send ${dtype} data (NPY <${dtype === 'int64' ? 'i8' : 'u8'}, or v2 ${dtype.toUpperCase()} with the value as a string)`);
          }
          b = BigInt(v);
        }
        if (b < min || b > max) fail(i, `is ${b}, outside the ${dtype} range [${min}, ${max}]`);
        o[i] = b;
      }
      break;
    }
    default: {
      const [min, max] = INT_RANGES[dtype]!;
      const o = out as Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
      for (let i = 0; i < n; i++) {
        const raw = elementValue(t, i);
        const v = typeof raw === 'bigint' ? (raw >= BigInt(min) && raw <= BigInt(max) ? Number(raw) : NaN) : raw;
        if (typeof raw !== 'bigint' && !Number.isInteger(v)) fail(i, `is ${show(raw)}, which is not an integer`);
        if (!(v >= min && v <= max)) fail(i, `is ${show(raw)}, outside the ${dtype} range [${min}, ${max}]`);
        o[i] = v;
      }
    }
  }
  return { dtype, shape: [...t.shape], data: out } as Tensor<T>;
}

/**
 * `src` as float32, each value rounded as {@link convertExact} rounds it, or `undefined` when a
 * finite value overflows float32: the caller then keeps float64, so the model's own conversion
 * reports that element in its 400. Infinities and NaN carry over.
 */
export function float64ToFloat32(src: Float64Array): Float32Array | undefined {
  const n = src.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    out[i] = v;
    const f = out[i]!;
    // v - v is 0 exactly for finite v.
    if ((f === Infinity || f === -Infinity) && v - v === 0) return undefined;
  }
  return out;
}
