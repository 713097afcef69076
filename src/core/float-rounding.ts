/**
 * Correctly rounded conversions to the narrow float formats where going through another format
 * first would round twice: int64/uint64 to float32, and doubles to bfloat16.
 */

const TWO_POW_53 = 2n ** 53n;

/**
 * The float32 nearest to `v` (ties to even), as numpy's `astype(np.float32)` gives it. Through a
 * double first, a value past 2^53 would be rounded twice: 2^60 + 2^36 + 1 would come out 2^60
 * instead of 2^60 + 2^37.
 */
export function bigIntToFloat32(v: bigint): number {
  const negative = v < 0n;
  const magnitude = negative ? -v : v;
  // Up to 2^53 the double is exact, so Math.fround rounds once.
  if (magnitude <= TWO_POW_53) return Math.fround(Number(v));
  const shift = BigInt(magnitude.toString(2).length - 24);
  let top = magnitude >> shift;
  const rest = magnitude - (top << shift);
  const half = 1n << (shift - 1n);
  if (rest > half || (rest === half && (top & 1n) === 1n)) top += 1n;
  // At most 25 significant bits times a power of two: exact as a double, and a float32 value.
  const value = Number(top) * 2 ** Number(shift);
  return negative ? -value : value;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The bfloat16 value nearest to `x` (ties to even), as a number: the top 16 bits of a float32.
 * `x` goes to float32 first rounded to odd (of the two float32 around it, the one whose last bit is
 * set), which keeps it on its own side of every bfloat16 midpoint, so the second rounding is
 * right: rounding to nearest there would take 1.0039063 to 1.00390625, a tie, and then to 1.
 */
export function roundToBfloat16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  f32[0] = x;
  let bits = u32[0]!;
  const rounded = f32[0]!;
  if (rounded !== x && Number.isFinite(x)) {
    // Past the float32 maximum: that maximum, whose last bit is set.
    if (!Number.isFinite(rounded)) bits = (bits & 0x80000000) | 0x7f7fffff;
    else if ((bits & 1) === 0) bits += Math.abs(x) > Math.abs(rounded) ? 1 : -1;
  }
  u32[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return f32[0]!;
}
