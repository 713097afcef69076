import { ToolkitError } from '../errors/catalogue.js';
import type { Tensor } from '../core/tensor.js';
import { decimalToDouble } from './decimal-to-double.js';
import { takeFloatScratch, tensorFromFloatScratch } from './float-scratch.js';
import { parsePlainCsv } from './numeric-text-wasm.js';

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const DQUOTE = 34;
const COMMA = 44;
const DOT = 46;
const MINUS = 45;
const PLUS = 43;

/** Options for {@link parseNumericCsv}. */
export interface CsvParseOptions {
  /** Skip the first non-blank line (a header row), as `text/csv; header=present` asks. */
  skipHeader?: boolean;
  /**
   * The numbers go to a float32 model input: return a float32 tensor, each value rounded as the
   * model's conversion would round it (a body with a finite number beyond the float32 range still
   * gives float64, so that conversion reports it). Parsing then needs no buffer of its own.
   */
  float32?: boolean;
}

/**
 * Parses numeric CSV straight from the bytes into a `float64` tensor of shape `[rows, columns]`
 * (or `float32`, see {@link CsvParseOptions.float32}). Rows of plain numbers (no spaces, quotes or
 * specials; at most 19 significant digits, exponents within ±22), after the header row when there
 * is one, go through the WebAssembly parser ({@link parsePlainCsv}); every other body, and every
 * error, through {@link parseNumericCsvFull}. Both give the same numbers.
 *
 * @throws ToolkitError 400 `ERR_CSV_PARSE` naming the 1-based line and column of a ragged row or a non-numeric field.
 */
export function parseNumericCsv(buf: Buffer, options: CsvParseOptions = {}): Tensor<'float64' | 'float32'> {
  const start = options.skipHeader ? afterHeader(buf).offset : 0;
  const plain = parsePlainCsv(start > 0 ? buf.subarray(start) : buf, options.float32 === true);
  return plain ?? parseNumericCsvFull(buf, options);
}

/**
 * Where the rows start after a header row (RFC 4180 `header=present`: the first non-blank line,
 * after a UTF-8 BOM), and the 1-based line they start on.
 */
function afterHeader(buf: Buffer): { offset: number; line: number } {
  const len = buf.length;
  let p = len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  let line = 1;
  while (p < len && (buf[p] === LF || buf[p] === CR || buf[p] === SPACE || buf[p] === TAB)) {
    if (buf[p] === LF) line++;
    p++;
  }
  // A quoted header field may hold line breaks (RFC 4180 §2.6: pandas writes such column names).
  let quoted = false;
  let end = -1;
  for (let i = p; i < len; i++) {
    const b = buf[i];
    if (b === DQUOTE) quoted = !quoted;
    else if (b === LF) {
      if (!quoted) {
        end = i;
        break;
      }
      line++;
    }
  }
  return { offset: end < 0 ? len : end + 1, line: line + 1 };
}

/**
 * The TypeScript parser, for every form {@link parseNumericCsv} accepts.
 *
 * Each field is scanned in place; numbers with at most 15 significant digits and a decimal
 * exponent within ±22 are assembled exactly from their digits (one correctly rounded operation,
 * as in Clinger's fast path), up to 19 digits go through {@link decimalToDouble}, and anything
 * else (or an undecided case) through `Number()` on just that field, so results equal
 * `Number(field)` in every case. Accepted: LF or CRLF line ends, blank lines, spaces and tabs around
 * fields, a UTF-8 BOM, leading `+`, exponents, `nan`/`inf`/`infinity` (any case, signed),
 * `true`/`false` (as 1/0) and fields in double quotes.
 *
 * @throws ToolkitError 400 `ERR_CSV_PARSE` naming the 1-based line and column of a ragged row or a non-numeric field.
 */
export function parseNumericCsvFull(buf: Buffer, options: CsvParseOptions = {}): Tensor<'float64' | 'float32'> {
  const len = buf.length;
  let p = len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  let line = 1;
  if (options.skipHeader) ({ offset: p, line } = afterHeader(buf));
  let cols = -1;
  let firstLine = 0;
  let rows = 0;
  // Every value but the last takes at least two bytes ("1,"): no body holds more than len/2 + 1.
  // Small bodies (one-row requests) then get one small allocation instead of a 1024-slot one.
  const most = (len >> 1) + 1;
  const float32 = options.float32 === true;
  let cap = Math.min(1024, most);
  let out: Float64Array = float32 ? takeFloatScratch(cap) : new Float64Array(cap);
  cap = out.length;
  let n = 0;
  let text: string | undefined;

  while (p < len) {
    const lineStart = p;
    let c = buf[p]!;
    while ((c === SPACE || c === TAB) && p < len) c = buf[++p]!;
    if (p >= len) break;
    if (c === LF || c === CR) {
      p += c === CR && buf[p + 1] === LF ? 2 : 1;
      line++;
      continue;
    }
    let col = 0;
    for (;;) {
      col++;
      if (cols >= 0 && col > cols) raggedError(line, col + countFields(buf, p) - 1, firstLine, cols);
      const fieldStart = p;
      let value = 0;
      let neg = false;
      c = buf[p]!;
      if (c === MINUS) {
        neg = true;
        p++;
      } else if (c === PLUS) {
        p++;
      }
      // The digit loops are inlined here and in the other numeric parser on purpose: a shared
      // scanner function measured up to a third slower on large bodies.
      // mant holds the first 15 significant digits exactly (leading zeros keep it 0); later digits go to extra.
      const numStart = p;
      let mant = 0;
      let extra = 0;
      let extraDigits = 0;
      let d = 0;
      while (p < len && (d = buf[p]! - 48) >>> 0 < 10) {
        if (mant < 1e14) mant = mant * 10 + d;
        else {
          extra = extra * 10 + d;
          extraDigits++;
        }
        p++;
      }
      let digits = p - numStart;
      let fracDigits = 0;
      if (p < len && buf[p] === DOT) {
        p++;
        const fracStart = p;
        while (p < len && (d = buf[p]! - 48) >>> 0 < 10) {
          if (mant < 1e14) mant = mant * 10 + d;
          else {
            extra = extra * 10 + d;
            extraDigits++;
          }
          p++;
        }
        fracDigits = p - fracStart;
        digits += fracDigits;
      }
      let exp = -fracDigits;
      let ok = digits > 0;
      if (ok && p < len && (buf[p]! | 32) === 101) {
        p++;
        let eneg = false;
        if (buf[p] === MINUS) {
          eneg = true;
          p++;
        } else if (buf[p] === PLUS) {
          p++;
        }
        let e = 0;
        let ed = 0;
        while (p < len && (d = buf[p]! - 48) >>> 0 < 10) {
          if (e < 100000) e = e * 10 + d;
          ed++;
          p++;
        }
        ok = ed > 0;
        exp += eneg ? -e : e;
      }
      if (ok) {
        if (extraDigits === 0 && exp >= -22 && exp <= 22) {
          value = exp < 0 ? mant / POW10[-exp]! : mant * POW10[exp]!;
          if (neg) value = -value;
        } else if (extraDigits <= 4 && exp >= -22 && exp <= 22 && (value = decimalToDouble(mant, extraDigits, extra, exp)) === value) {
          if (neg) value = -value;
        } else {
          // One latin1 copy of the body, made on first need: substrings of it are cheaper than a Buffer decode per field.
          text ??= buf.toString('latin1');
          value = Number(text.substring(fieldStart, p));
        }
        c = buf[p]!;
        while ((c === SPACE || c === TAB) && p < len) c = buf[++p]!;
        if (p < len && c !== COMMA && c !== LF && c !== CR) ok = false;
      }
      if (!ok) {
        p = fieldEnd(buf, fieldStart);
        value = parseSpecial(buf, fieldStart, p, line, col, rows === 0);
        c = buf[p]!;
      }
      if (n === cap) {
        cap *= 2;
        out = grow(out, cap, n);
      }
      out[n++] = value;
      if (p < len && c === COMMA) {
        p++;
        c = buf[p]!;
        while ((c === SPACE || c === TAB) && p < len) c = buf[++p]!;
        continue;
      }
      break;
    }
    if (p < len) p += buf[p] === CR && buf[p + 1] === LF ? 2 : 1;
    if (cols < 0) {
      cols = col;
      firstLine = line;
      // Size the output from the first row so large bodies are not copied over and over while growing
      // (a one-row body, the usual real-time request, needs nothing more).
      const estimate = p >= len ? 0 : Math.min(most, (Math.ceil(((len - lineStart) / Math.max(1, p - lineStart)) * 1.25) + 16) * cols);
      if (estimate > cap) {
        cap = estimate;
        out = grow(out, cap, n);
      }
    } else if (col !== cols) {
      raggedError(line, col, firstLine, cols);
    }
    rows++;
    line++;
  }
  if (rows === 0) throw new ToolkitError('ERR_CSV_PARSE', 'CSV body is empty; send at least one row of numbers');
  if (float32) return tensorFromFloatScratch(out, n, [rows, cols]);
  // A buffer over twice its data (a first row much shorter than the rest) is trimmed; otherwise the
  // tensor is a view. The sizing margin only lives as long as its request (runtimes convert or copy
  // the tensor), and skipping the copy measured 5-8% more 256-row requests/s.
  const data = n === cap ? out : cap - n > n && cap > 4096 ? out.slice(0, n) : out.subarray(0, n);
  return { dtype: 'float64', shape: [rows, cols], data };
}

function grow(out: Float64Array, cap: number, n: number): Float64Array {
  const next = new Float64Array(cap);
  next.set(out.subarray(0, n));
  return next;
}

/** Index of the comma, CR, LF or end that closes the field starting at `start` (quotes respected). */
function fieldEnd(buf: Uint8Array, start: number): number {
  let p = start;
  let quoted = false;
  while (p < buf.length) {
    const c = buf[p]!;
    if (c === 34) quoted = !quoted;
    else if (!quoted && (c === COMMA || c === LF || c === CR)) break;
    p++;
  }
  return p;
}

function countFields(buf: Uint8Array, p: number): number {
  let count = 1;
  for (let end = fieldEnd(buf, p); end < buf.length && buf[end] === COMMA; end = fieldEnd(buf, end + 1)) count++;
  return count;
}

const SPECIAL: Record<string, number> = {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
  true: 1,
  false: 0,
};

function parseSpecial(buf: Buffer, start: number, end: number, line: number, col: number, firstRow: boolean): number {
  let text = buf.toString('utf8', start, end).trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim();
  const special = SPECIAL[text.toLowerCase()];
  if (special !== undefined) return special;
  // Number('') is 0, so empty fields are checked first.
  if (text !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  const shown = text === '' ? 'an empty field' : JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  const hint = firstRow && text !== '' ? ' (for a header row send Content-Type: text/csv; header=present, or remove it)' : '';
  throw new ToolkitError('ERR_CSV_PARSE', `CSV line ${line}, column ${col}: ${shown} is not a number; rows must hold numbers only${hint}`, {
    details: { line, column: col },
  });
}

function raggedError(line: number, got: number, firstLine: number, expected: number): never {
  throw new ToolkitError(
    'ERR_CSV_PARSE',
    `CSV line ${line} has ${got} columns but line ${firstLine} has ${expected}; every row must have the same number of columns`,
    { details: { line, columns: got, expected } },
  );
}
