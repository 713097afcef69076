/**
 * IEEE 754 half-precision conversions. smkit stores `float16` tensors as `Uint16Array` bits
 * (as ONNX Runtime does), so codecs and runtimes convert at their edges.
 */

/** Node 24's global `Float16Array` (absent before; behind a flag in Node 22). */
const Float16ArrayCtor = (globalThis as { Float16Array?: new (...args: never[]) => ArrayBufferView }).Float16Array;

/** Rounds a non-negative double to an integer, ties to even. */
function roundHalfEven(y: number): number {
  const r = Math.round(y); // ties away from zero for positive y
  return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Converts a number to float16 bits, rounding the double itself to nearest even (no detour through
 * float32, which would round twice). Values at or past 65520 give ±Infinity; NaN gives a quiet NaN.
 */
export function toFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal (or zero): a multiple of 2^-24. Scaling by a power of two is exact.
    const m = roundHalfEven(a * 2 ** 24);
    return sign | m; // m may reach 1024: that is exactly the smallest normal's bit pattern
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e > 15) return sign | 0x7c00;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

/** Converts float16 bits to a number. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Converts a whole float16 bit array to float32 values (every float16 value is exact in float32). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromFloat16Bits(bits[i]!);
  return out;
}

/**
 * The float16 bits of a float16 tensor's `data`, whatever user code or a runtime filled it with. A
 * `Uint16Array` is bits already. A `Float16Array` (Node 24's global, and what onnxruntime-common
 * returns there) holds the same bytes, so it is viewed, not copied. Any other typed array holds
 * values, rounded to float16.
 */
export function float16Bits(data: ArrayBufferView & ArrayLike<number | bigint>): Uint16Array {
  if (data instanceof Uint16Array) return data;
  if (Float16ArrayCtor !== undefined && data instanceof Float16ArrayCtor) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = toFloat16Bits(Number(data[i]));
  return out;
}
