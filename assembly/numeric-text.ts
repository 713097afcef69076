// AssemblyScript, compiled to dist/src/codecs/numeric-text.wasm by `npm run build:wasm`.
//
// The fast paths of the numeric text decoders: CSV rows (src/codecs/csv-parse.ts) and JSON nested
// arrays (src/codecs/json-fast-array.ts) of numbers with at most 19 significant digits and a
// decimal exponent within ±22 (what numpy, pandas, Python's repr and JavaScript's String write).
// Anything else (a space in CSV, quotes, more digits, a far exponent, a ragged row or array, an
// empty field, nan/inf/true, a rounding case too close to call) makes a parser give up (return -1)
// and the TypeScript parser reads the whole body, so errors, positions and every rare form stay in
// one place. Each number is computed with the same arithmetic as there (Clinger's fast path up to
// 15 digits, the double-double check of src/codecs/decimal-to-double.ts for 16-19), so both
// return the same numbers bit for bit.
//
// Calling convention: the caller copies the text to `inputStart()`, puts one 0 byte after it (a
// sentinel, so digit loops need no bounds check) and passes an 8-byte-aligned `out` after that.
// The parsers do not check room for their values (a test per value measured 5% of the parse): the
// caller sizes the memory from a sample of the text, and should that be short, writing past the
// memory's end traps and the caller grows the memory and calls again.

const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
  1e18, 1e19, 1e20, 1e21, 1e22,
];
const POW10_INT: StaticArray<u64> = [1, 10, 100, 1000, 10000];

const LF: u32 = 10;
const CR: u32 = 13;
const COMMA: u32 = 44;
const MINUS: u32 = 45;
const PLUS: u32 = 43;
const DOT: u32 = 46;
const OPEN: u32 = 91;
const CLOSE: u32 = 93;
const MAX_RANK: i32 = 64;

/** Columns per row of the last successful CSV parse. */
export let columns: i32 = 0;
/** Rows of the last successful CSV parse, or lines of the last JSON lines parse. */
export let rows: i32 = 0;
/** The rank of the last successful JSON array parse; its sizes are `jsonDim(0 .. rank - 1)`. */
export let jsonRank: i32 = 0;
/** Where the last successful JSON array parse ended: the offset just after its closing `]`. */
export let jsonEnd: i32 = 0;

// Per-depth sizes and counts of the JSON parser, in static memory (below `inputStart()`: the
// caller's text goes above it, so nothing may be allocated on the heap).
const SHAPE: usize = memory.data(MAX_RANK * 4, 4);
const COUNTS: usize = memory.data(MAX_RANK * 4, 4);
const FIRST_SHAPE: usize = memory.data(MAX_RANK * 4, 4);

@inline
function getAt(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

@inline
function setAt(base: usize, i: i32, value: i32): void {
  store<i32>(base + (<usize>i << 2), value);
}

/** Where the input may go: the first 8-byte-aligned address after the static data. */
export function inputStart(): usize {
  return (__heap_base + 7) & ~7;
}

/** How many commas and line feeds [src, src + len) holds: a sample that sizes the output area. */
export function separators(src: usize, len: i32): i32 {
  let count: i32 = 0;
  const end = src + <usize>len;
  for (let p = src; p < end; p++) {
    const c: u32 = load<u8>(p);
    count += <i32>(c == COMMA) + <i32>(c == LF);
  }
  return count;
}

// --- decimal to double: a port of src/codecs/decimal-to-double.ts, operation for operation ------

const SPLITTER: f64 = 134217729; // 2^27 + 1
let prodHi: f64 = 0;
let prodLo: f64 = 0;

@inline
function twoProduct(a: f64, b: f64): void {
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

/** 2^(e - 1075) for the biased exponent e of `c`: the distance to the next double up. */
@inline
function ulp(c: f64): f64 {
  const e = <i64>((reinterpret<u64>(c) >> 52) & 0x7ff);
  if (e >= 53) return reinterpret<f64>(<u64>(e - 52) << 52);
  return e > 0 ? reinterpret<f64>(<u64>1 << <u64>(e - 1)) : 0; // 2^-1075 rounds to 0, as in the TypeScript table
}

/**
 * The double nearest to `(a·10^r + b) · 10^exp10`, or NaN when the check cannot decide (the
 * TypeScript parser then asks Number()). `a < 10^15`, `b < 10^r`, `0 ≤ r ≤ 4`, `|exp10| ≤ 22`.
 */
function decimalToDouble(a: f64, r: i32, b: f64, exp10: i32): f64 {
  twoProduct(a, unchecked(POW10[r]));
  const hi = prodHi + b;
  const lo = prodLo + (b - (hi - prodHi));
  if (hi == 0) return 0;
  const p = unchecked(POW10[exp10 < 0 ? -exp10 : exp10]);
  let c = exp10 < 0 ? hi / p : hi * p;
  for (let attempt = 0; attempt < 3; attempt++) {
    let residual: f64;
    let half: f64;
    if (exp10 < 0) {
      twoProduct(c, p);
      residual = hi - prodHi - prodLo + lo;
      half = (p * ulp(c)) / 2;
    } else {
      twoProduct(hi, p);
      const xHi = prodHi;
      const xLo = prodLo;
      twoProduct(lo, p);
      residual = xHi - c + xLo + prodHi + prodLo;
      half = ulp(c) / 2;
    }
    // Below a power of two (no mantissa bits) the next double down is half an ulp(c) away: the midpoint, a quarter.
    if (residual < 0 && (reinterpret<u64>(c) & 0xfffffffffffff) == 0) half /= 2;
    const distance = abs(residual);
    const margin = half * 9.313225746154785e-10; // 2^-30
    if (distance < half - margin) return c;
    if (distance <= half + margin) return NaN;
    const bits = reinterpret<u64>(c);
    c = reinterpret<f64>(residual > 0 ? bits + 1 : bits - 1);
  }
  return NaN;
}

// --- one number ------------------------------------------------------------------------------

/** Where the last `scanExponent` stopped. */
let exponentEnd: usize = 0;

/**
 * The exponent after the `e` or `E` at `p` (an optional sign, then digits), with `exponentEnd`
 * set after it; `i32.MIN_VALUE` when no digit follows.
 */
function scanExponent(p: usize): i32 {
  const sign = load<u8>(++p);
  const negative = sign == MINUS;
  p += <usize>(negative || sign == PLUS);
  const start = p;
  let x: i32 = 0;
  let d: u32 = <u32>load<u8>(p) - 48;
  while (d < 10) {
    if (x < 100000) x = x * 10 + <i32>d;
    d = <u32>load<u8>(++p) - 48;
  }
  exponentEnd = p;
  if (p == start) return i32.MIN_VALUE;
  return negative ? -x : x;
}

// What `scanDigits` found besides the digits' value (globals: a function returns one value).
let digitsEnd: usize = 0;
let digitCount: i32 = 0;
let fractionDigits: i32 = 0;
let hasPoint = false;

/**
 * The digits at `p`, with at most one point among them, as one u64 (exact up to 19 significant
 * digits): sets `digitsEnd` after them, `digitCount` (before and after the point),
 * `fractionDigits` and `hasPoint`. Inlined into the JSON parser; the CSV parser, the hot one, has
 * the same loops written out with its results in locals (each global is a store and a load in V8's
 * code: 5% of a CSV parse).
 */
@inline
function scanDigits(p: usize): u64 {
  const start = p;
  let all: u64 = 0;
  let d: u32 = <u32>load<u8>(p) - 48;
  while (d < 10) {
    all = all * 10 + d;
    d = <u32>load<u8>(++p) - 48;
  }
  let count = <i32>(p - start);
  let frac: i32 = 0;
  const point = d == DOT - 48;
  if (point) {
    const fracStart = ++p;
    d = <u32>load<u8>(p) - 48;
    while (d < 10) {
      all = all * 10 + d;
      d = <u32>load<u8>(++p) - 48;
    }
    frac = <i32>(p - fracStart);
    count += frac;
  }
  digitsEnd = p;
  digitCount = count;
  fractionDigits = frac;
  hasPoint = point;
  return all;
}

/**
 * The magnitude of the decimal whose `digits` digits start at `start` (a point may sit among
 * them) and are held in `all`, times 10^exp: what the TypeScript parser computes for it, or NaN
 * where it would ask Number() (an exponent beyond ±22, more than 19 significant digits, a rounding
 * too close to call).
 */
function decimalValue(start: usize, digits: i32, all: u64, exp: i32): f64 {
  if (exp < -22 || exp > 22) return NaN;
  let significant = digits;
  if (digits > 15) {
    // Leading zeros (before or after the point) are not significant.
    for (let q = start; ; q++) {
      const c = load<u8>(q);
      if (c == 48) significant--;
      else if (c != DOT) break;
    }
  }
  if (significant <= 15) return exp < 0 ? <f64>all / unchecked(POW10[-exp]) : <f64>all * unchecked(POW10[exp]);
  if (significant > 19) return NaN;
  // As the TypeScript parser splits them: the first 15 significant digits, then the rest.
  const r = significant - 15;
  const scale = unchecked(POW10_INT[r]);
  return decimalToDouble(<f64>(all / scale), r, <f64>(all % scale), exp);
}

/** `magnitude` fits the output type: finite as a T (a value past float32's range is the TypeScript parser's). */
@inline
function fits<T>(magnitude: f64): bool {
  return !isNaN(magnitude) && (sizeof<T>() == 8 || isFinite(<f32>magnitude));
}

// --- CSV ---------------------------------------------------------------------------------------

/**
 * Parses CSV at [src, src + len) into values of type T from `out`: rows of numbers separated by
 * commas, LF or CRLF line ends, blank lines. Returns the number of values, or -1 for any other
 * text. Values past the output area the caller sized run past the memory's end: the access traps
 * and the caller grows the memory and calls again.
 */
@inline
function parseCsvAs<T>(src: usize, len: i32, out: usize): i32 {
  let p = src;
  const end = src + <usize>len;
  let o = out;
  let cols: i32 = -1;
  let rowCount: i32 = 0;
  while (p < end) {
    let c: u32 = load<u8>(p);
    if (c == LF) {
      p++;
      continue;
    }
    if (c == CR) {
      if (load<u8>(p + 1) != LF) return -1;
      p += 2;
      continue;
    }
    const rowOut = o;
    while (true) {
      // The common number (at most 15 digits, no exponent, then a comma) costs one division and
      // no other test.
      const neg = c == MINUS;
      p += <usize>(neg || c == PLUS);
      const start = p;
      // scanDigits, written out (see there).
      let all: u64 = 0;
      let d: u32 = <u32>load<u8>(p) - 48;
      while (d < 10) {
        all = all * 10 + d;
        d = <u32>load<u8>(++p) - 48;
      }
      let digits = <i32>(p - start);
      let fracDigits: i32 = 0;
      if (d == DOT - 48) {
        const fracStart = ++p;
        d = <u32>load<u8>(p) - 48;
        while (d < 10) {
          all = all * 10 + d;
          d = <u32>load<u8>(++p) - 48;
        }
        fracDigits = <i32>(p - fracStart);
        digits += fracDigits;
      }
      c = d + 48;
      let magnitude: f64 = 0;
      // Below 10^15 the signed conversion is the unsigned one, without its test of the top bit.
      if (<u32>(digits - 1) < 15) magnitude = <f64><i64>all / unchecked(POW10[fracDigits]);
      else if (digits == 0) return -1;
      else if ((c | 32) != 101) {
        magnitude = decimalValue(start, digits, all, -fracDigits);
        if (!fits<T>(magnitude)) return -1;
      }
      store<T>(o, <T>(neg ? -magnitude : magnitude));
      o += sizeof<T>();
      if (c == COMMA) {
        c = load<u8>(++p);
        continue;
      }
      if ((c | 32) == 101) {
        // An exponent: the value just stored is replaced.
        const exp = scanExponent(p);
        if (exp == i32.MIN_VALUE) return -1;
        p = exponentEnd;
        magnitude = decimalValue(start, digits, all, exp - fracDigits);
        if (!fits<T>(magnitude)) return -1;
        store<T>(o - sizeof<T>(), <T>(neg ? -magnitude : magnitude));
        c = load<u8>(p);
        if (c == COMMA) {
          c = load<u8>(++p);
          continue;
        }
      }
      if (c == LF) {
        p++;
        break;
      }
      if (c == CR && load<u8>(p + 1) == LF) {
        p += 2;
        break;
      }
      if (p >= end) break;
      return -1;
    }
    // Counted from the values stored rather than per value: one register fewer in the loop.
    const col = <i32>((o - rowOut) / sizeof<T>());
    if (cols < 0) cols = col;
    else if (col != cols) return -1;
    rowCount++;
  }
  columns = cols;
  rows = rowCount;
  return <i32>((o - out) / sizeof<T>());
}

/** {@link parseCsvAs} into float32 values. */
export function parseCsv32(src: usize, len: i32, out: usize): i32 {
  return parseCsvAs<f32>(src, len, out);
}

/** {@link parseCsvAs} into float64 values. */
export function parseCsv64(src: usize, len: i32, out: usize): i32 {
  return parseCsvAs<f64>(src, len, out);
}

// --- JSON --------------------------------------------------------------------------------------

/** Size `i` (0-based) of the last successful JSON array parse. */
export function jsonDim(i: i32): i32 {
  return getAt(SHAPE, i);
}

/** Where the last `scanArrayAs` ended: just after its closing `]`. */
let arrayEnd: usize = 0;

/**
 * Reads the JSON array that starts at `p` (its `[`) and ends before `end` into values of type T
 * from `o`: a rectangular nested array of numbers, strict JSON (within one line when `oneLine`).
 * Returns where its values end, with `jsonRank`, the sizes (`jsonDim`) and `arrayEnd` set; 0 for
 * any other text. Writes past the memory's end trap, as in {@link parseCsvAs}.
 */
@inline
function scanArrayAs<T>(p: usize, end: usize, o: usize, oneLine: bool): usize {
  const out = o;
  let depth: i32 = 0;
  let leafDepth: i32 = -1;
  let expectValue = true;
  let afterOpen = false;
  while (p < end) {
    const c: u32 = load<u8>(p);
    if (c == 32 || c == LF || c == CR || c == 9) {
      if (oneLine && c == LF) return 0;
      p++;
      continue;
    }
    if (expectValue) {
      if (c == OPEN) {
        if ((leafDepth >= 0 && depth >= leafDepth) || depth == MAX_RANK) return 0;
        setAt(COUNTS, depth, 0);
        if (leafDepth < 0) setAt(SHAPE, depth, -1);
        depth++;
        p++;
        afterOpen = true;
        continue;
      }
      // Not an array's `[`: a number, at the one depth numbers may be at (empty arrays are the TypeScript parser's).
      if (leafDepth < 0) {
        if (depth == 0) return 0;
        leafDepth = depth;
      } else if (depth != leafDepth) return 0;
      // Strict JSON: an optional minus, digits without a leading zero, at least one digit after a point.
      const neg = c == MINUS;
      p += <usize>neg;
      const start = p;
      const first: u32 = <u32>load<u8>(p) - 48;
      if (first >= 10 || (first == 0 && <u32>load<u8>(p + 1) - 48 < 10)) return 0;
      const all = scanDigits(p);
      p = digitsEnd;
      const digits = digitCount;
      const fracDigits = fractionDigits;
      if (hasPoint && fracDigits == 0) return 0;
      const next: u32 = load<u8>(p);
      let magnitude: f64;
      if ((next | 32) == 101) {
        const exp = scanExponent(p);
        if (exp == i32.MIN_VALUE) return 0;
        p = exponentEnd;
        magnitude = decimalValue(start, digits, all, exp - fracDigits);
        if (!fits<T>(magnitude)) return 0;
      } else if (digits <= 15) {
        magnitude = <f64>all / unchecked(POW10[fracDigits]);
      } else {
        magnitude = decimalValue(start, digits, all, -fracDigits);
        if (!fits<T>(magnitude)) return 0;
      }
      store<T>(o, <T>(neg ? -magnitude : magnitude));
      o += sizeof<T>();
      setAt(COUNTS, depth - 1, getAt(COUNTS, depth - 1) + 1);
      expectValue = false;
      afterOpen = false;
      continue;
    }
    if (c == COMMA) {
      expectValue = true;
      afterOpen = false;
      p++;
      continue;
    }
    if (c == CLOSE) {
      depth--;
      const count = getAt(COUNTS, depth);
      const seen = getAt(SHAPE, depth);
      if (seen < 0) setAt(SHAPE, depth, count);
      else if (seen != count) return 0;
      p++;
      if (depth == 0) {
        const n = <i32>((o - out) / sizeof<T>());
        let size: i64 = 1;
        for (let i = 0; i < leafDepth; i++) size *= <i64>getAt(SHAPE, i);
        if (n == 0 || size != <i64>n) return 0;
        jsonRank = leafDepth;
        arrayEnd = p;
        return o;
      }
      setAt(COUNTS, depth - 1, getAt(COUNTS, depth - 1) + 1);
      continue;
    }
    return 0;
  }
  return 0;
}

/**
 * Parses the JSON array that starts at `src` (its `[`) and ends before `src + len` into values of
 * type T from `out` (see {@link scanArrayAs}). Returns the number of values (`jsonRank`, `jsonDim`
 * and `jsonEnd` tell the rest), or -1 for any other text.
 */
@inline
function parseJsonArrayAs<T>(src: usize, len: i32, out: usize): i32 {
  const o = scanArrayAs<T>(src, src + <usize>len, out, false);
  if (o == 0) return -1;
  jsonEnd = <i32>(arrayEnd - src);
  return <i32>((o - out) / sizeof<T>());
}

/**
 * Parses JSON lines at [src, src + len), each a JSON array of the same shape within its line
 * (blank lines and blanks around the arrays allowed), into values of type T from `out`, the
 * lines' values one after another. Returns the number of values (`rows` lines; `jsonRank` and
 * `jsonDim` give one line's shape), or -1 for any other text.
 */
@inline
function parseJsonLinesAs<T>(src: usize, len: i32, out: usize): i32 {
  let p = src;
  const end = src + <usize>len;
  let o = out;
  let lines: i32 = 0;
  let rank: i32 = 0;
  while (p < end) {
    const c: u32 = load<u8>(p);
    if (c == 32 || c == LF || c == CR || c == 9) {
      p++;
      continue;
    }
    if (c != OPEN) return -1;
    const next = scanArrayAs<T>(p, end, o, true);
    if (next == 0) return -1;
    if (lines == 0) {
      rank = jsonRank;
      for (let i = 0; i < rank; i++) setAt(FIRST_SHAPE, i, getAt(SHAPE, i));
    } else {
      if (jsonRank != rank) return -1;
      for (let i = 0; i < rank; i++) if (getAt(SHAPE, i) != getAt(FIRST_SHAPE, i)) return -1;
    }
    o = next;
    lines++;
    p = arrayEnd;
    // Only blanks may follow on the same line.
    let b: u32 = load<u8>(p);
    while (p < end && (b == 32 || b == 9 || b == CR)) b = load<u8>(++p);
    if (p < end && b != LF) return -1;
  }
  if (lines == 0) return -1;
  jsonRank = rank;
  for (let i = 0; i < rank; i++) setAt(SHAPE, i, getAt(FIRST_SHAPE, i));
  rows = lines;
  return <i32>((o - out) / sizeof<T>());
}

/** {@link parseJsonArrayAs} into float32 values. */
export function parseJsonArray32(src: usize, len: i32, out: usize): i32 {
  return parseJsonArrayAs<f32>(src, len, out);
}

/** {@link parseJsonArrayAs} into float64 values. */
export function parseJsonArray64(src: usize, len: i32, out: usize): i32 {
  return parseJsonArrayAs<f64>(src, len, out);
}

/** {@link parseJsonLinesAs} into float32 values. */
export function parseJsonLines32(src: usize, len: i32, out: usize): i32 {
  return parseJsonLinesAs<f32>(src, len, out);
}

/** {@link parseJsonLinesAs} into float64 values. */
export function parseJsonLines64(src: usize, len: i32, out: usize): i32 {
  return parseJsonLinesAs<f64>(src, len, out);
}
