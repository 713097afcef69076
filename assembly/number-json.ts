// AssemblyScript, compiled to dist/src/codecs/number-json.wasm by `npm run build:wasm`.
//
// JSON text for float32 and float64 tensors (src/codecs/json-write.ts): the nested arrays that
// `JSON.stringify` writes for them, byte for byte but for two numbers: a whole number is written with
// `.0` (`1.0`, `1e+21` as is), as TF Serving, Python's json and numpy write floats, and -0 as `-0.0`. Each number is written as JavaScript writes it
// (ECMAScript Number::toString): the shortest digits that read back as the same double, the
// closest of them to it, in the same layout (`1e+21`, `1.5e-7`, `0.000001`). The digits come
// from Grisu3, ported from double-conversion's fast-dtoa.cc, the code V8 itself runs first for
// this; for the few doubles (about 0.5%) where Grisu3 cannot prove its digits shortest and closest,
// V8 falls back to exact big-number arithmetic, and so does this module, by asking the host for
// `String(value)` (the `shortest` import). NaN and ±Infinity are written `null`, as
// `JSON.stringify` does; -0 is written `-0.0`, where `JSON.stringify` writes `0`, so that the sign
// reaches the client (Python's json reads `-0` as the integer 0; it and JSON.parse read `-0.0` as -0).
//
// It writes CSV rows too (src/codecs/csv.ts): the same numbers, a comma between the values of a
// row and a line feed after each row, with NaN and ±Infinity spelled as JavaScript spells them.
//
// Calling convention: the caller sets the shape with `setDim` (JSON), copies the values to
// `inputStart()` and passes an output address after them with room for `maxBytes(n, rank)`.

/** Writes `String(value)` (ASCII) at `out` and answers its length. */
@external("env", "shortest")
declare function shortest(value: f64, out: usize): i32;

const MAX_RANK: i32 = 32;
const OPEN: u8 = 91;
const CLOSE: u8 = 93;
const COMMA: u8 = 44;
const LF: u8 = 10;
const ZERO: u8 = 48;

// Static memory (below `inputStart()`: the caller's values go above it, so nothing is allocated).
const DIMS: usize = memory.data(MAX_RANK * 4, 4);
const INDEX: usize = memory.data(MAX_RANK * 4, 4);
const DIGITS: usize = memory.data(32, 8);

/** Where the input may go: the first 8-byte-aligned address after the static data. */
export function inputStart(): usize {
  return (__heap_base + 7) & ~7;
}

/** Sets dimension `i` of the shape the next write nests its values in. */
export function setDim(i: i32, size: i32): void {
  store<i32>(DIMS + (<usize>i << 2), size);
}

/** The most bytes `n` values of a rank-`rank` tensor take as JSON (25 per number with its `.0`, its comma, the brackets). */
export function maxBytes(n: i32, rank: i32): i32 {
  return n * (26 + 2 * rank) + 2 * rank;
}

/** Writes the `n` float32 values at `src` as nested JSON arrays at `out`; answers the bytes written. */
export function writeJson32(src: usize, n: i32, rank: i32, out: usize): i32 {
  return writeNested<f32>(src, n, rank, out);
}

/** Writes the `n` float64 values at `src` as nested JSON arrays at `out`; answers the bytes written. */
export function writeJson64(src: usize, n: i32, rank: i32, out: usize): i32 {
  return writeNested<f64>(src, n, rank, out);
}

/** Writes the `n` float32 values at `src` as CSV rows of `rowSize` values at `out`; answers the bytes written. */
export function writeCsv32(src: usize, n: i32, rowSize: i32, out: usize): i32 {
  return writeRows<f32>(src, n, rowSize, out);
}

/** Writes the `n` float64 values at `src` as CSV rows of `rowSize` values at `out`; answers the bytes written. */
export function writeCsv64(src: usize, n: i32, rowSize: i32, out: usize): i32 {
  return writeRows<f64>(src, n, rowSize, out);
}

@inline
function writeRows<T>(src: usize, n: i32, rowSize: i32, out: usize): i32 {
  let p = out;
  let column = 0;
  for (let i = 0; i < n; i++) {
    p = writeNumber(<f64>load<T>(src + (<usize>i << alignof<T>())), p, false);
    if (++column < rowSize) {
      store<u8>(p++, COMMA);
    } else {
      store<u8>(p++, LF);
      column = 0;
    }
  }
  return <i32>(p - out);
}

// The values in row-major order, with `[` and `]` where an index along some axis starts or ends
// (an odometer over the dimensions). Every dimension is at least 1 and n is their product.
@inline
function writeNested<T>(src: usize, n: i32, rank: i32, out: usize): i32 {
  let p = out;
  for (let d = 0; d < rank; d++) {
    store<u8>(p++, OPEN);
    store<i32>(INDEX + (<usize>d << 2), 0);
  }
  const inner = load<i32>(DIMS + (<usize>(rank - 1) << 2));
  let column = 0;
  for (let i = 0; i < n; i++) {
    p = writeNumber(<f64>load<T>(src + (<usize>i << alignof<T>())), p, true);
    if (++column < inner) {
      store<u8>(p++, COMMA);
      continue;
    }
    column = 0;
    store<u8>(p++, CLOSE);
    let d = rank - 2;
    let reopen = 1;
    while (d >= 0) {
      const at = INDEX + (<usize>d << 2);
      const next = load<i32>(at) + 1;
      if (next < load<i32>(DIMS + (<usize>d << 2))) {
        store<i32>(at, next);
        break;
      }
      store<i32>(at, 0);
      store<u8>(p++, CLOSE);
      reopen++;
      d--;
    }
    if (d < 0) break;
    store<u8>(p++, COMMA);
    for (let k = 0; k < reopen; k++) store<u8>(p++, OPEN);
  }
  return <i32>(p - out);
}

/**
 * Writes one number as `JSON.stringify` does (`json`), or as `String` does, -0 as `-0.0` in both, at
 * `p`; answers the address after it. They differ only for NaN and ±Infinity: `null` in JSON.
 */
@inline
function writeNumber(v: f64, p: usize, json: bool): usize {
  if (v != v || v == Infinity || v == -Infinity) return json ? writeNull(p) : writeNonFinite(v, p);
  // Small integers (and +0) as V8 writes them: their decimal digits.
  if (v >= -2147483648.0 && v <= 2147483647.0) {
    const i = <i32>v;
    if (<f64>i == v) {
      if (i == 0 && reinterpret<i64>(v) < 0) return writeNegativeZero(p);
      const end = writeInt(i, p);
      return json ? writePointZero(end) : end;
    }
  }
  let q = p;
  let a = v;
  if (a < 0) {
    store<u8>(q++, 45); // '-'
    a = -a;
  }
  if (!grisu3(a)) {
    const end = p + <usize>shortest(v, p);
    return json && isWhole(p, end) ? writePointZero(end) : end;
  }
  const end = format(q);
  // Laid out without a point or an exponent (digits, then zeros up to the point) only when whole.
  return json && decimalPoint >= length && decimalPoint <= 21 ? writePointZero(end) : end;
}

/**
 * Writes `.0` at `p` (after a whole number in JSON, as TF Serving, Python's json and numpy write a
 * float, so that the client reads a float, not an integer); answers the address after it.
 */
function writePointZero(p: usize): usize {
  store<u16>(p, 0x302e); // ".0"
  return p + 2;
}

/** Whether the number text in `[from, to)` has neither a point nor an exponent. */
function isWhole(from: usize, to: usize): bool {
  for (let at = from; at < to; at++) {
    const c = load<u8>(at);
    if (c == 46 || c == 101) return false;
  }
  return true;
}

function writeNegativeZero(p: usize): usize {
  store<u32>(p, 0x302e302d); // "-0.0"
  return p + 4;
}

function writeNull(p: usize): usize {
  store<u32>(p, 0x6c6c756e); // "null"
  return p + 4;
}

function writeNonFinite(v: f64, p: usize): usize {
  if (v != v) {
    store<u16>(p, 0x614e); // "Na"
    store<u8>(p + 2, 78); // "N"
    return p + 3;
  }
  if (v < 0) store<u8>(p++, 45);
  store<u64>(p, 0x74696e69666e49); // "Infinit"
  store<u8>(p + 7, 121); // "y"
  return p + 8;
}

function writeInt(value: i32, p: usize): usize {
  let q = p;
  let u = <u32>value;
  if (value < 0) {
    store<u8>(q++, 45);
    u = <u32>(-value);
  }
  let digits = 1;
  for (let t = u; t >= 10; t /= 10) digits++;
  let end = q + <usize>digits;
  let at = end;
  do {
    store<u8>(--at, ZERO + <u8>(u % 10));
    u /= 10;
  } while (u != 0);
  return end;
}

// --- Grisu3 (double-conversion's fast-dtoa.cc, FAST_DTOA_SHORTEST) ---------------------------
//
// Ported from https://github.com/google/double-conversion (fast-dtoa.cc, cached-powers.cc,
// diy-fp.h, ieee.h), under its license:
//
// Copyright 2006-2012 the V8 project authors. All rights reserved.
// Redistribution and use in source and binary forms, with or without
// modification, are permitted provided that the following conditions are
// met:
//
//     * Redistributions of source code must retain the above copyright
//       notice, this list of conditions and the following disclaimer.
//     * Redistributions in binary form must reproduce the above
//       copyright notice, this list of conditions and the following
//       disclaimer in the documentation and/or other materials provided
//       with the distribution.
//     * Neither the name of Google Inc. nor the names of its
//       contributors may be used to endorse or promote products derived
//       from this software without specific prior written permission.
//
// THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
// "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
// LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
// A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
// OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
// SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
// LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
// DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
// THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
// (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
// OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

/** Digits of the last successful `grisu3`, at DIGITS. */
let length: i32 = 0;
/** Where the decimal point goes in those digits: the value is 0.DIGITS × 10^decimalPoint. */
let decimalPoint: i32 = 0;
let kappa: i32 = 0;

const MIN_TARGET_EXPONENT: i32 = -60;
const D_1_LOG2_10: f64 = 0.30102999566398114;

// Powers of ten 10^(-348 + 8i) as 64-bit significands and binary exponents (cached-powers.cc).
const CACHED_SIGNIFICANDS: StaticArray<u64> = [
  0xfa8fd5a0081c0288, 0xbaaee17fa23ebf76, 0x8b16fb203055ac76, 0xcf42894a5dce35ea,
  0x9a6bb0aa55653b2d, 0xe61acf033d1a45df, 0xab70fe17c79ac6ca, 0xff77b1fcbebcdc4f,
  0xbe5691ef416bd60c, 0x8dd01fad907ffc3c, 0xd3515c2831559a83, 0x9d71ac8fada6c9b5,
  0xea9c227723ee8bcb, 0xaecc49914078536d, 0x823c12795db6ce57, 0xc21094364dfb5637,
  0x9096ea6f3848984f, 0xd77485cb25823ac7, 0xa086cfcd97bf97f4, 0xef340a98172aace5,
  0xb23867fb2a35b28e, 0x84c8d4dfd2c63f3b, 0xc5dd44271ad3cdba, 0x936b9fcebb25c996,
  0xdbac6c247d62a584, 0xa3ab66580d5fdaf6, 0xf3e2f893dec3f126, 0xb5b5ada8aaff80b8,
  0x87625f056c7c4a8b, 0xc9bcff6034c13053, 0x964e858c91ba2655, 0xdff9772470297ebd,
  0xa6dfbd9fb8e5b88f, 0xf8a95fcf88747d94, 0xb94470938fa89bcf, 0x8a08f0f8bf0f156b,
  0xcdb02555653131b6, 0x993fe2c6d07b7fac, 0xe45c10c42a2b3b06, 0xaa242499697392d3,
  0xfd87b5f28300ca0e, 0xbce5086492111aeb, 0x8cbccc096f5088cc, 0xd1b71758e219652c,
  0x9c40000000000000, 0xe8d4a51000000000, 0xad78ebc5ac620000, 0x813f3978f8940984,
  0xc097ce7bc90715b3, 0x8f7e32ce7bea5c70, 0xd5d238a4abe98068, 0x9f4f2726179a2245,
  0xed63a231d4c4fb27, 0xb0de65388cc8ada8, 0x83c7088e1aab65db, 0xc45d1df942711d9a,
  0x924d692ca61be758, 0xda01ee641a708dea, 0xa26da3999aef774a, 0xf209787bb47d6b85,
  0xb454e4a179dd1877, 0x865b86925b9bc5c2, 0xc83553c5c8965d3d, 0x952ab45cfa97a0b3,
  0xde469fbd99a05fe3, 0xa59bc234db398c25, 0xf6c69a72a3989f5c, 0xb7dcbf5354e9bece,
  0x88fcf317f22241e2, 0xcc20ce9bd35c78a5, 0x98165af37b2153df, 0xe2a0b5dc971f303a,
  0xa8d9d1535ce3b396, 0xfb9b7cd9a4a7443c, 0xbb764c4ca7a44410, 0x8bab8eefb6409c1a,
  0xd01fef10a657842c, 0x9b10a4e5e9913129, 0xe7109bfba19c0c9d, 0xac2820d9623bf429,
  0x80444b5e7aa7cf85, 0xbf21e44003acdd2d, 0x8e679c2f5e44ff8f, 0xd433179d9c8cb841,
  0x9e19db92b4e31ba9, 0xeb96bf6ebadf77d9, 0xaf87023b9bf0ee6b,
];
const CACHED_BINARY_EXPONENTS: StaticArray<i16> = [
  -1220, -1193, -1166, -1140, -1113, -1087, -1060, -1034, -1007, -980, -954, -927, -901, -874, -847, -821,
  -794, -768, -741, -715, -688, -661, -635, -608, -582, -555, -529, -502, -475, -449, -422, -396,
  -369, -343, -316, -289, -263, -236, -210, -183, -157, -130, -103, -77, -50, -24, 3, 30,
  56, 83, 109, 136, 162, 189, 216, 242, 269, 295, 322, 348, 375, 402, 428, 455,
  481, 508, 534, 561, 588, 614, 641, 667, 694, 720, 747, 774, 800, 827, 853, 880,
  907, 933, 960, 986, 1013, 1039, 1066,
];

const SMALL_POWERS_OF_TEN: StaticArray<u32> = [0, 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** The upper 64 bits of the 128-bit product, rounded (DiyFp::Multiply). */
@inline
function multiplyHigh(x: u64, y: u64): u64 {
  const M32: u64 = 0xffffffff;
  const a = x >> 32;
  const b = x & M32;
  const c = y >> 32;
  const d = y & M32;
  const ac = a * c;
  const bc = b * c;
  const ad = a * d;
  const bd = b * d;
  let tmp = (bd >> 32) + (ad & M32) + (bc & M32);
  tmp += <u64>1 << 31;
  return ac + (ad >> 32) + (bc >> 32) + (tmp >> 32);
}

/**
 * The shortest digits of the positive finite double `v` that read back as `v`, the closest of
 * them, into DIGITS, `length` and `decimalPoint`; false when Grisu3 cannot be sure of them.
 */
function grisu3(v: f64): bool {
  const bits = reinterpret<u64>(v);
  const biased = <i32>((bits >> 52) & 0x7ff);
  const fraction = bits & 0x000fffffffffffff;
  let f: u64;
  let e: i32;
  if (biased == 0) {
    f = fraction;
    e = -1074;
  } else {
    f = fraction | 0x0010000000000000;
    e = biased - 1075;
  }
  // Boundaries m+ and m- (Double::NormalizedBoundaries), at the normalized exponent.
  let plus = (f << 1) + 1;
  const plusShift = <i32>clz(plus);
  plus <<= <u64>plusShift;
  const exponent = e - 1 - plusShift;
  let minus: u64;
  let minusE: i32;
  if (fraction == 0 && biased > 1) {
    minus = (f << 2) - 1;
    minusE = e - 2;
  } else {
    minus = (f << 1) - 1;
    minusE = e - 1;
  }
  minus <<= <u64>(minusE - exponent);
  const w = f << clz(f); // its exponent equals `exponent`

  const minBinary = MIN_TARGET_EXPONENT - (exponent + 64);
  const k = <i32>Math.ceil(<f64>(minBinary + 64 - 1) * D_1_LOG2_10);
  const index = (348 + k - 1) / 8 + 1;
  const cached = unchecked(CACHED_SIGNIFICANDS[index]);
  const shift = -(exponent + <i32>unchecked(CACHED_BINARY_EXPONENTS[index]) + 64);
  const mk = -348 + (index << 3);

  const ok = digitGen(multiplyHigh(minus, cached), multiplyHigh(w, cached), multiplyHigh(plus, cached), shift);
  decimalPoint = length - mk + kappa;
  return ok;
}

function digitGen(low: u64, w: u64, high: u64, shift: i32): bool {
  let unit: u64 = 1;
  const tooLow = low - unit;
  const tooHigh = high + unit;
  let unsafeInterval = tooHigh - tooLow;
  const one: u64 = <u64>1 << <u64>shift;
  const mask = one - 1;
  let integrals = <u32>(tooHigh >> <u64>shift);
  let fractionals = tooHigh & mask;
  // BiggestPowerTen(integrals, 64 - shift)
  let guess = (((64 - shift) + 1) * 1233 >> 12) + 1;
  if (integrals < unchecked(SMALL_POWERS_OF_TEN[guess])) guess--;
  let divisor = unchecked(SMALL_POWERS_OF_TEN[guess]);
  // `kappa` and `length` counted in locals, the globals set once: V8 loads and stores a global at each use.
  let kap = guess;
  let len = 0;
  // The rest only shrinks digit by digit, so when even the fractions alone are outside the unsafe
  // interval no integral digit can end the digits: write them all at once (division by a constant
  // compiles to a multiplication; the loop below divides by a variable power of ten per digit).
  if (fractionals >= unsafeInterval) {
    let at = DIGITS + <usize>kap;
    for (let i = 0; i < kap; i++) {
      store<u8>(--at, ZERO + <u8>(integrals % 10));
      integrals /= 10;
    }
    len = kap;
    kap = 0;
  }
  while (kap > 0) {
    const digit = integrals / divisor;
    store<u8>(DIGITS + <usize>len, ZERO + <u8>digit);
    len++;
    integrals %= divisor;
    kap--;
    const rest = (<u64>integrals << <u64>shift) + fractionals;
    if (rest < unsafeInterval) {
      length = len;
      kappa = kap;
      return roundWeed(tooHigh - w, unsafeInterval, rest, <u64>divisor << <u64>shift, unit);
    }
    divisor /= 10;
  }
  for (;;) {
    fractionals *= 10;
    unit *= 10;
    unsafeInterval *= 10;
    const digit = <u32>(fractionals >> <u64>shift);
    store<u8>(DIGITS + <usize>len, ZERO + <u8>digit);
    len++;
    fractionals &= mask;
    kap--;
    if (fractionals < unsafeInterval) {
      length = len;
      kappa = kap;
      return roundWeed((tooHigh - w) * unit, unsafeInterval, fractionals, one, unit);
    }
  }
  return false; // not reached: the loop returns once the interval holds the rest
}

function roundWeed(distanceTooHighW: u64, unsafeInterval: u64, rest: u64, tenKappa: u64, unit: u64): bool {
  const smallDistance = distanceTooHighW - unit;
  const bigDistance = distanceTooHighW + unit;
  const last = DIGITS + <usize>(length - 1);
  while (
    rest < smallDistance &&
    unsafeInterval - rest >= tenKappa &&
    (rest + tenKappa < smallDistance || smallDistance - rest >= rest + tenKappa - smallDistance)
  ) {
    store<u8>(last, load<u8>(last) - 1);
    rest += tenKappa;
  }
  if (
    rest < bigDistance &&
    unsafeInterval - rest >= tenKappa &&
    (rest + tenKappa < bigDistance || bigDistance - rest > rest + tenKappa - bigDistance)
  ) {
    return false;
  }
  return 2 * unit <= rest && rest <= unsafeInterval - 4 * unit;
}

// --- layout (V8's DoubleToCString, ECMAScript Number::toString) -------------------------------

function copyDigits(from: i32, to: i32, p: usize): usize {
  for (let i = from; i < to; i++) store<u8>(p++, load<u8>(DIGITS + <usize>i));
  return p;
}

/** Writes DIGITS with `decimalPoint` as JavaScript lays it out, at `p`; answers the address after. */
function format(p: usize): usize {
  const n = length;
  const point = decimalPoint;
  if (n <= point && point <= 21) {
    p = copyDigits(0, n, p);
    for (let i = n; i < point; i++) store<u8>(p++, ZERO);
    return p;
  }
  if (0 < point && point <= 21) {
    p = copyDigits(0, point, p);
    store<u8>(p++, 46); // '.'
    return copyDigits(point, n, p);
  }
  if (point <= 0 && point > -6) {
    store<u8>(p++, ZERO);
    store<u8>(p++, 46);
    for (let i = point; i < 0; i++) store<u8>(p++, ZERO);
    return copyDigits(0, n, p);
  }
  store<u8>(p++, load<u8>(DIGITS));
  if (n != 1) {
    store<u8>(p++, 46);
    p = copyDigits(1, n, p);
  }
  store<u8>(p++, 101); // 'e'
  let exponent = point - 1;
  store<u8>(p++, exponent >= 0 ? 43 : 45); // '+' or '-'
  if (exponent < 0) exponent = -exponent;
  return writeInt(exponent, p);
}
