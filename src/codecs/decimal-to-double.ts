/**
 * Correctly rounded decimal → double conversion for up to 19 significant digits and a decimal
 * exponent within ±22, without building a string. It covers what Python's `repr`, pandas
 * `to_csv` and JavaScript's `String(x)` write (16–17 digits), which Clinger's classic fast path
 * (at most 15 digits) does not.
 *
 * Method: the mantissa `M = a·10^r + b` is held exactly as a double-double; a candidate `c` is
 * `hi/10^k` (or `hi·10^k`); the exact residual `M − c·10^k` (or `M·10^k − c`) is formed with
 * error-free products (Dekker) and compared with half the gap to `c`'s neighbour on that side (half
 * an ulp of `c`, a quarter below a power of two). When the residual is too close to that midpoint
 * to decide, or two neighbours fail, `NaN` is returned and the caller falls back to `Number(text)`.
 * So the answer is always the double `Number()` gives.
 */

import { HIGH_HALF, LOW_HALF } from './word-order.js';

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const SPLITTER = 134217729; // 2^27 + 1
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = HIGH_HALF;
const LO = LOW_HALF;

// Results of twoProduct, kept in module variables to avoid allocating a pair per call.
let prodHi = 0;
let prodLo = 0;

function twoProduct(a: number, b: number): void {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  prodHi = p;
  prodLo = ah * bh - p + ah * bl + al * bh + al * bl;
}

const POW2 = Float64Array.from({ length: 2048 }, (_, e) => 2 ** (e - 1075));

/** Distance from positive normal `c` to the next double up. */
function ulp(c: number): number {
  f64[0] = c;
  return POW2[(u32[HI]! >>> 20) & 0x7ff]!;
}

/** Whether positive normal `c` is a power of two (no mantissa bits): the doubles below it are twice as dense. */
function isPowerOfTwo(c: number): boolean {
  f64[0] = c;
  return u32[LO] === 0 && (u32[HI]! & 0xfffff) === 0;
}

function nextUp(c: number): number {
  f64[0] = c;
  if (u32[LO] === 0xffffffff) {
    u32[LO] = 0;
    u32[HI] = u32[HI]! + 1;
  } else {
    u32[LO] = u32[LO]! + 1;
  }
  return f64[0]!;
}

function nextDown(c: number): number {
  f64[0] = c;
  if (u32[LO] === 0) {
    u32[LO] = 0xffffffff;
    u32[HI] = u32[HI]! - 1;
  } else {
    u32[LO] = u32[LO]! - 1;
  }
  return f64[0]!;
}

/**
 * The double nearest to `(a·10^r + b) · 10^exp10`, or `NaN` when this fast path cannot decide.
 * Preconditions: `a < 10^15` and `b < 10^r` are non-negative integers, `0 ≤ r ≤ 4`, `|exp10| ≤ 22`.
 */
export function decimalToDouble(a: number, r: number, b: number, exp10: number): number {
  // Exact M = hi + lo: a·10^r splits into two doubles exactly; adding b keeps the parts integral and small.
  twoProduct(a, POW10[r]!);
  const hi0 = prodHi + b;
  const hi = hi0;
  const lo = prodLo + (b - (hi0 - prodHi));
  if (hi === 0) return 0;
  const p = POW10[exp10 < 0 ? -exp10 : exp10]!;
  let c = exp10 < 0 ? hi / p : hi * p;
  for (let attempt = 0; attempt < 3; attempt++) {
    let residual: number;
    let half: number;
    if (exp10 < 0) {
      // M − c·p, compared with p·ulp(c)/2.
      twoProduct(c, p);
      residual = hi - prodHi - prodLo + lo;
      half = (p * ulp(c)) / 2;
    } else {
      // M·p − c, compared with ulp(c)/2.
      twoProduct(hi, p);
      const xHi = prodHi;
      const xLo = prodLo;
      twoProduct(lo, p);
      residual = xHi - c + xLo + prodHi + prodLo;
      half = ulp(c) / 2;
    }
    // Below a power of two the next double down is half an ulp(c) away: the midpoint, a quarter.
    if (residual < 0 && isPowerOfTwo(c)) half /= 2;
    const distance = Math.abs(residual);
    // The residual is computed with a few roundings of relative size 2^-53; stay well clear of the tie.
    const margin = half * 2 ** -30;
    if (distance < half - margin) return c;
    if (distance <= half + margin) return NaN;
    c = residual > 0 ? nextUp(c) : nextDown(c);
  }
  return NaN;
}
