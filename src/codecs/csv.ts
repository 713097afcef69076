import { UNNAMED, isBigIntDType, type Tensor } from '../core/tensor.js';
import { explainUtf16, refuseUtf16 } from './text-encoding.js';
import type { Codec, DecodeHints, DecodeLimits, DecodedRequest, EncodeOptions } from './codec.js';
import { withinBudget } from './decoded-size.js';
import { parseNumericCsv } from './csv-parse.js';
import { float16Bits, float16ToFloat32 } from '../core/float16.js';
import { toSingleTensor } from './single-output.js';
import { floatTensorCsvBytes } from './number-json-wasm.js';

/** `text/csv` media type. */
export const CSV_MEDIA_TYPE = 'text/csv';

/**
 * Writes a tensor as CSV (float32 and float64 tensors are written by WebAssembly instead, the same
 * bytes: `number-json-wasm.ts`): one line per row (first axis), trailing axes flattened into the row;
 * a 1-D tensor gives one value per line, a scalar one line, a row of no values an empty line. Lines end in `\n`. Strings are quoted
 * per RFC 4180 when they hold a comma, quote, CR or LF, and a row of one empty string is `""`; booleans are `true`/`false`; NaN and
 * infinities are `NaN`, `Infinity`, `-Infinity` (Python's `float()` reads them), -0 is `-0.0`.
 */
export function tensorToCsv(t: Tensor): string {
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  const total = t.data.length;
  if (rows === 0) return '';
  // Rows of no values are still rows: batch transform joins the answer's lines to the records sent.
  if (total === 0) return '\n'.repeat(rows);
  const rowSize = total / rows;
  if (isFinitePlain(t)) return fastNumericCsv(t.data as Exclude<Tensor['data'], string[] | BigInt64Array | BigUint64Array>, rowSize);
  const fmt = csvFormatter(t, rowSize);
  if (rowSize === 1) return `${fmt.join(0, total, '\n')}\n`;
  const lines = new Array<string>(rows);
  for (let r = 0; r < rows; r++) lines[r] = fmt.join(r * rowSize, (r + 1) * rowSize, ',');
  lines.push('');
  return lines.join('\n');
}

interface CsvFormatter {
  join(start: number, end: number, sep: string): string;
}

function csvFormatter(t: Tensor, rowSize: number): CsvFormatter {
  if (t.dtype === 'string') {
    const d = t.data as string[];
    // A row of one empty string is `""`, as Python's csv writes it: an empty line is a row of no
    // values, which Python's csv reads as [] and pandas skips, so later rows would move up a line.
    const quote = rowSize === 1 ? (f: string) => (f === '' ? '""' : quoteCsv(f)) : quoteCsv;
    return { join: (s, e, sep) => d.slice(s, e).map(quote).join(sep) };
  }
  if (t.dtype === 'bool') {
    const d = t.data as Uint8Array;
    return { join: (s, e, sep) => Array.from(d.subarray(s, e), (x) => (x !== 0 ? 'true' : 'false')).join(sep) };
  }
  const d = t.dtype === 'float16' ? float16ToFloat32(float16Bits(t.data as Uint16Array)) : (t.data as Exclude<Tensor['data'], string[]>);
  // join writes -0 as 0; `-0.0` keeps its sign for Python's float() and pandas, as the WebAssembly writer writes it.
  if (d instanceof Float32Array || d instanceof Float64Array) {
    if ((d as Float64Array).some((x) => x === 0 && 1 / x < 0)) {
      return { join: (s, e, sep) => Array.from(d.subarray(s, e), (x) => (x === 0 && 1 / x < 0 ? '-0.0' : String(x))).join(sep) };
    }
  }
  return { join: (s, e, sep) => d.subarray(s, e).join(sep) };
}

/**
 * Numeric rows via one `JSON.stringify` of the flat values, cut into rows at every `rowSize`-th
 * comma: V8's JSON number formatting is about twice as fast as `TypedArray#join` (measured in
 * `bench/codecs.ts`). Only for finite float/int data without -0, where JSON and CSV spell numbers alike.
 */
function fastNumericCsv(d: Exclude<Tensor['data'], string[] | BigInt64Array | BigUint64Array>, rowSize: number): string {
  const json = JSON.stringify(Array.from(d));
  if (rowSize === 1) return `${json.slice(1, -1).replaceAll(',', '\n')}\n`;
  const rows = d.length / rowSize;
  const lines = new Array<string>(rows + 1);
  let pos = 1;
  for (let r = 0; r < rows; r++) {
    let end = pos;
    for (let j = 0; j < rowSize; j++) {
      end = json.indexOf(',', end + 1);
      if (end < 0) {
        end = json.length - 1;
        break;
      }
    }
    lines[r] = json.slice(pos, end);
    pos = end + 1;
  }
  lines[rows] = '';
  return lines.join('\n');
}

function isFinitePlain(t: Tensor): boolean {
  if (t.dtype === 'string' || t.dtype === 'bool' || t.dtype === 'float16' || isBigIntDType(t.dtype)) return false;
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return true;
  const d = t.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) {
    // x - x is NaN exactly for NaN and ±Infinity.
    const x = d[i]!;
    if (x - x !== 0 || (x === 0 && 1 / x < 0)) return false;
  }
  return true;
}

/** Quotes a CSV field per RFC 4180 when it needs it. */
export function quoteCsv(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

/**
 * The `text/csv` codec: numeric rows in (a 2-D float64 tensor, float32 when the hints allow), rows out. A header row is skipped
 * when the request says `Content-Type: text/csv; header=present` (RFC 4180 section 3).
 */
export const csvCodec: Codec = {
  mediaType: CSV_MEDIA_TYPE,
  decode(body: Buffer, params: Readonly<Record<string, string>>, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest {
    refuseUtf16(body, 'CSV body', 'ERR_CSV_PARSE');
    const skipHeader = params['header']?.toLowerCase() === 'present';
    let tensor: Tensor;
    try {
      tensor = parseNumericCsv(body, { skipHeader, float32: hints?.float32 });
    } catch (err) {
      throw explainUtf16(err, body, 'CSV body', 'ERR_CSV_PARSE');
    }
    return withinBudget({ tensors: { [UNNAMED]: tensor }, form: 'tensor' }, limits, 'the CSV body');
  },
  encode(prediction: unknown, _options: EncodeOptions): Buffer {
    if (typeof prediction === 'string') return Buffer.from(prediction.endsWith('\n') ? prediction : `${prediction}\n`, 'utf8');
    const t = toSingleTensor(prediction, CSV_MEDIA_TYPE);
    const bytes = floatTensorCsvBytes(t);
    if (bytes) return bytes;
    const text = tensorToCsv(t);
    return Buffer.from(text, t.dtype === 'string' ? 'utf8' : 'latin1');
  },
};
