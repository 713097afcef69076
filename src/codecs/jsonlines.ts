import { ToolkitError } from '../errors/catalogue.js';
import { UNNAMED, type Tensor } from '../core/tensor.js';
import { scanNumericArray } from './json-fast-array.js';
import { parsePlainJsonLines } from './numeric-text-wasm.js';
import type { Codec, DecodeHints, DecodeLimits, DecodedRequest, EncodeOptions } from './codec.js';
import { withinBudget } from './decoded-size.js';
import { MAX_JSON_DEPTH, closingQuote } from './json-depth.js';
import { parseJsonBody, perRowObjectList, withoutBom } from './json.js';
import { stackRecords } from './json-tensor.js';
import { tensorRowsToJson, valueToJson } from './json-write.js';
import { isTensor, isTensorMap } from './tensor-map.js';
import { explainUtf16, refuseNonUtf8, refuseUtf16 } from './text-encoding.js';

/** `application/jsonlines` media type. */
export const JSONLINES_MEDIA_TYPE = 'application/jsonlines';

/**
 * Reads JSON lines: every non-blank line is one record. Records that are arrays (or scalars)
 * stack into one tensor `[N, ...]`; records that are objects stack per key into named tensors.
 */
export function decodeJsonLines(raw: Buffer, hints?: DecodeHints): DecodedRequest {
  const body = withoutBom(raw);
  refuseUtf16(body, 'JSON lines body', 'ERR_JSON_PARSE');
  const fast = scanNumericLines(body, hints?.float32 === true);
  if (fast !== undefined) return { tensors: { [UNNAMED]: fast }, form: 'tensor' };
  refuseNonUtf8(body, 'JSON lines body', 'ERR_JSON_PARSE', 'in user code (export an inputFn) or as application/octet-stream');
  const text = body.toString('utf8');
  const joinable = recordsKeepToTheirLines(text);
  const lines = text.split('\n');
  const kept: string[] = [];
  const lineNumbers: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() !== '') {
      kept.push(line);
      lineNumbers.push(i + 1);
    }
  });
  if (kept.length === 0) throw new ToolkitError('ERR_JSON_PARSE', 'JSON lines body is empty; send one JSON record per line');
  let records: unknown[] | undefined;
  if (joinable) {
    try {
      // One parse of the whole batch is much faster than one per line; the slow path below only runs to locate an error.
      records = JSON.parse(`[${kept.join(',')}]`) as unknown[];
    } catch {
      // Located line by line below.
    }
  }
  records ??= kept.map((line, i) => parseJsonBody(line, `JSON lines: line ${lineNumbers[i]}`));
  if (records.length !== kept.length) {
    // A line such as `1,2` parses as two records when joined; find it.
    kept.forEach((line, i) => parseJsonBody(`[${line}]`, `JSON lines: line ${lineNumbers[i]}`) as unknown[]);
    const bad = kept.findIndex((line) => (JSON.parse(`[${line}]`) as unknown[]).length !== 1);
    throw new ToolkitError('ERR_JSON_PARSE', `JSON lines: line ${lineNumbers[bad]} holds more than one JSON value; put one record per line`);
  }
  return { tensors: stackRecords(records, { label: 'JSON lines record', ...(hints?.maxInputs === undefined ? {} : { maxInputs: hints.maxInputs }) }), form: 'tensor' };
}

/**
 * True when the lines may be parsed joined by commas, as one array: no string or bracket stays open
 * across a line break, and nothing nests deeper than {@link MAX_JSON_DEPTH}. Lines that fail it are
 * parsed one by one, which names the bad one. Joined, the two invalid lines `[1` and `2],[3,4]`
 * parse as the records [1, 2] and [3, 4], as many as there are lines: a value broken across lines
 * would be read as another one, where each line on its own is not JSON. Valid records close every
 * bracket and string they open, so a line break inside one is a line that is not a record.
 */
function recordsKeepToTheirLines(text: string): boolean {
  let depth = 0;
  // The first line break at or after the string being read; found again only once passed, so a line of many strings is not read once per string.
  let lineBreak = -1;
  const structural = /[[\]{}"\n]/g;
  while (structural.test(text)) {
    const at = structural.lastIndex - 1;
    const c = text.charCodeAt(at);
    if (c === 0x0a /* \n */) {
      if (depth > 0) return false;
    } else if (c === 0x22 /* " */) {
      const end = closingQuote(text, at);
      if (end < 0) return false;
      if (lineBreak < at) lineBreak = text.indexOf('\n', at) >>> 0; // none: 2^32 - 1, past any string
      if (lineBreak < end) return false;
      structural.lastIndex = end + 1;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > MAX_JSON_DEPTH) return false;
    } else if (depth > 0) {
      depth--;
    }
  }
  return true;
}

/**
 * Fast path for lines that are all numeric arrays of one shape (what batch transform usually sends):
 * read by the WebAssembly parser ({@link parsePlainJsonLines}) when it answers, else each line is
 * scanned from the bytes and copied into one `[N, ...]` tensor. `undefined` otherwise.
 */
function scanNumericLines(body: Buffer, float32: boolean): Tensor<'float64' | 'float32'> | undefined {
  return parsePlainJsonLines(body, float32) ?? scanNumericLinesInScript(body, float32);
}

/** The TypeScript reading of {@link scanNumericLines}. */
export function scanNumericLinesInScript(body: Buffer, float32: boolean): Tensor<'float64' | 'float32'> | undefined {
  const rows: Tensor<'float64' | 'float32'>[] = [];
  let p = 0;
  while (p < body.length) {
    const c = body[p]!;
    if (c === 32 || c === 10 || c === 13 || c === 9) {
      p++;
      continue;
    }
    if (c !== 91) return undefined;
    const lineEnd = body.indexOf(10, p);
    const r = scanNumericArray(body, p, lineEnd === -1 ? body.length : lineEnd, float32);
    if (r === undefined) return undefined;
    if (rows.length > 0 && !sameShape(rows[0]!.shape, r.tensor.shape)) return undefined;
    rows.push(r.tensor);
    p = r.end;
    // Only blanks may follow on the same line.
    while (p < body.length && (body[p] === 32 || body[p] === 9 || body[p] === 13)) p++;
    if (p < body.length && body[p] !== 10) return undefined;
  }
  if (rows.length === 0) return undefined;
  // A line beyond float32 makes the whole body float64, read again: the same values as without the hint.
  if (float32 && rows.some((t) => t.dtype !== 'float32')) return scanNumericLinesInScript(body, false);
  const shape = [rows.length, ...rows[0]!.shape];
  const size = rows.length * rows[0]!.data.length;
  return float32 ? { dtype: 'float32', shape, data: stack(new Float32Array(size), rows) } : { dtype: 'float64', shape, data: stack(new Float64Array(size), rows) };
}

/** Copies the rows' data one after another into `out`. */
function stack<T extends Float32Array | Float64Array>(out: T, rows: readonly Tensor[]): T {
  let offset = 0;
  for (const t of rows) {
    out.set(t.data as Float64Array, offset);
    offset += t.data.length;
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Writes one JSON line per row of the prediction (several outputs: one `{name: row}` object per row). */
export function encodeJsonLines(prediction: unknown): string {
  let lines: string[];
  if (isTensorMap(prediction)) {
    const names = Object.keys(prediction);
    lines = names.length === 1 ? tensorRowsToJson(prediction[names[0]!]!) : perRowObjectList(prediction);
  } else if (isTensor(prediction)) {
    lines = tensorRowsToJson(prediction);
  } else if (Array.isArray(prediction)) {
    lines = prediction.map(valueToJson);
  } else {
    lines = [valueToJson(prediction)];
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The `application/jsonlines` codec (also `application/x-jsonlines`, `application/jsonl`). */
export const jsonLinesCodec: Codec = {
  mediaType: JSONLINES_MEDIA_TYPE,
  aliases: ['application/x-jsonlines', 'application/jsonl'],
  decode(body: Buffer, _params: Readonly<Record<string, string>>, limits?: DecodeLimits, hints?: DecodeHints): DecodedRequest {
    let decoded: DecodedRequest;
    try {
      decoded = decodeJsonLines(body, hints);
    } catch (err) {
      throw explainUtf16(err, body, 'JSON lines body', 'ERR_JSON_PARSE');
    }
    return withinBudget(decoded, limits, 'the JSON lines body');
  },
  encode(prediction: unknown, _options: EncodeOptions): Buffer {
    return Buffer.from(encodeJsonLines(prediction), 'utf8');
  },
};
