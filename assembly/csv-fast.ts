// AssemblyScript, compiled to dist/src/codecs/csv-fast.wasm by `npm run build:wasm`.
//
// The fast path of the numeric CSV parser (src/codecs/csv-parse.ts): rows of plain decimals
// ("-1.25", "3", ".5", "+7.") separated by commas, LF or CRLF line ends and blank lines. Anything
// else — a space, a quote, an exponent, more than 15 digits, a ragged row, an empty field, a lone
// CR, nan/inf/true — makes it give up (return -1) and the TypeScript parser reads the whole body,
// so errors, line numbers and every rare form stay in one place. Within the fast path both compute
// the value the same way (an integer of at most 15 digits, exact in a double, divided once by an
// exact power of ten), so they return the same numbers bit for bit.

const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

const LF: u32 = 10;
const CR: u32 = 13;
const COMMA: u32 = 44;
const MINUS: u32 = 45;
const PLUS: u32 = 43;
const DOT: u32 = 46;

/** Columns per row of the last successful parse. */
export let columns: i32 = 0;
/** Rows of the last successful parse. */
export let rows: i32 = 0;

/** Where the caller may put the body: the first 8-byte-aligned address after the static data. */
export function inputStart(): usize {
  return (__heap_base + 7) & ~7;
}

/**
 * Parses the body at [src, src + len), which must be followed by one 0 byte, into float32 (or
 * float64) values written from `out` (8-byte aligned, after the body's sentinel). Grows the memory
 * as the values need it. Returns the number of values, or -1 when the body is not in the fast
 * path's form (and -2 when the memory cannot grow).
 */
export function parse(src: usize, len: i32, out: usize, float32: bool): i32 {
  let p = src;
  const end = src + <usize>len;
  const width: usize = float32 ? 4 : 8;
  let o = out;
  let limit: usize = <usize>memory.size() << 16;
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
    let col: i32 = 0;
    while (true) {
      const neg = c == MINUS;
      p += <usize>(neg || c == PLUS);
      const digitsStart = p;
      let mant: u64 = 0;
      let d: u32 = <u32>load<u8>(p) - 48;
      while (d < 10) {
        mant = mant * 10 + d;
        d = <u32>load<u8>(++p) - 48;
      }
      let fracDigits: i32 = 0;
      const intDigits = <i32>(p - digitsStart);
      if (d == DOT - 48) {
        const fracStart = ++p;
        d = <u32>load<u8>(p) - 48;
        while (d < 10) {
          mant = mant * 10 + d;
          d = <u32>load<u8>(++p) - 48;
        }
        fracDigits = <i32>(p - fracStart);
      }
      // No digits at all, or more than 15 (the integer would no longer be exact, or would wrap).
      if (<u32>(intDigits + fracDigits - 1) >= 15) return -1;
      const magnitude = <f64>mant / unchecked(POW10[fracDigits]);
      const value = neg ? -magnitude : magnitude;
      if (o + width > limit) {
        const pages = <i32>((o + width - limit + 0xffff) >> 16);
        if (memory.grow(max(pages, <i32>(limit >> 17))) < 0) return -2;
        limit = <usize>memory.size() << 16;
      }
      if (float32) store<f32>(o, <f32>value);
      else store<f64>(o, value);
      o += width;
      col++;
      c = d + 48;
      if (c == COMMA) {
        c = load<u8>(++p);
        continue;
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
    if (cols < 0) cols = col;
    else if (col != cols) return -1;
    rowCount++;
  }
  columns = cols;
  rows = rowCount;
  return <i32>((o - out) / width);
}
