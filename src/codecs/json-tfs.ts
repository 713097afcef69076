import { isBigIntDType, type Tensor } from '../core/tensor.js';
import { float16Bits } from '../core/float16.js';
import { tensorRowsToJson, tensorToJson } from './json-write.js';

/**
 * TensorFlow Serving's JSON dialect (https://www.tensorflow.org/tfx/serving/api_rest): requests may
 * hold the non-standard tokens `NaN`, `Infinity` and `-Infinity` as numbers, and responses write
 * non-finite floats with the same tokens; string outputs whose names end in `_bytes` are written as
 * `{"b64": "..."}` objects.
 */

const TOKENS = ['-Infinity', 'Infinity', 'NaN'] as const;
const TOKEN_VALUES: Readonly<Record<(typeof TOKENS)[number], number>> = { '-Infinity': -Infinity, Infinity: Infinity, NaN: NaN };

/** True for bytes that may follow a JSON value (whitespace, `,`, `]`, `}`) or the end of text. */
function endsValue(ch: string | undefined): boolean {
  return ch === undefined || ch === ',' || ch === ']' || ch === '}' || ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t';
}

/** A JSON number token: sign, integer part, fraction, exponent. */
const NUMBER_TOKEN = /-?\d+(\.\d*)?([eE][+-]?\d*)?/y;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parses JSON that may use TF Serving's `NaN`, `Infinity` and `-Infinity` number tokens. Returns
 * `undefined` when the text has no such token outside strings (the caller's strict parse error then
 * stands) or still is not valid JSON.
 * @param exactIntegers Also read each integer literal past ±2^53 (digits only: no fraction or
 *   exponent) as the exact bigint it writes, where `JSON.parse` rounds it to a double; such a
 *   literal counts as a token found.
 */
export function parseJsonWithNonFinite(text: string, exactIntegers = false): { value: unknown } | undefined {
  // Each token outside strings becomes a string holding a per-call marker, then is swapped back.
  let marker = `\u0000nf${Math.random().toString(36).slice(2)}:`;
  while (text.includes(marker)) marker += 'x';
  const parts: string[] = [];
  let from = 0;
  let found = false;
  let inString = false;
  for (let p = 0; p < text.length; p++) {
    const ch = text[p]!;
    if (inString) {
      if (ch === '\\') p++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      continue;
    }
    if (exactIntegers && (ch === '-' || (ch >= '0' && ch <= '9'))) {
      // Outside strings a digit or '-' starts a number token (or -Infinity): read it whole, so that no
      // digit of a fraction or exponent is taken for an integer.
      NUMBER_TOKEN.lastIndex = p;
      const m = NUMBER_TOKEN.exec(text);
      if (m !== null) {
        const digits = m[0];
        const length = digits.length - (ch === '-' ? 1 : 0);
        // No int64 or uint64 has more than 20 digits: a longer literal is left to JSON.parse (and out
        // of range wherever an exact integer is needed), rather than read by BigInt a digit at a time.
        if (m[1] === undefined && m[2] === undefined && length >= 16 && length <= 21) {
          const big = BigInt(digits);
          if (big > MAX_SAFE || big < -MAX_SAFE) {
            parts.push(text.slice(from, p), JSON.stringify(`${marker}#${digits}`));
            found = true;
            from = p + digits.length;
          }
        }
        p += digits.length - 1;
        continue;
      }
    }
    if (ch !== 'N' && ch !== 'I' && ch !== '-') continue;
    const token = TOKENS.find((t) => text.startsWith(t, p) && endsValue(text[p + t.length]));
    if (token === undefined) continue;
    parts.push(text.slice(from, p), JSON.stringify(marker + token));
    from = p + token.length;
    p = from - 1;
    found = true;
  }
  if (!found) return undefined;
  parts.push(text.slice(from));
  let value: unknown;
  try {
    value = JSON.parse(parts.join(''));
  } catch {
    return undefined;
  }
  const swap = (v: unknown): unknown => {
    if (typeof v !== 'string' || !v.startsWith(marker)) return v;
    const token = v.slice(marker.length);
    return token.startsWith('#') ? BigInt(token.slice(1)) : TOKEN_VALUES[token as (typeof TOKENS)[number]];
  };
  // An explicit stack, not recursion: the body may nest deeply.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        if (typeof v === 'object' && v !== null) stack.push(v);
        else node[i] = swap(v);
      }
    } else if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const v = o[k];
        if (typeof v === 'object' && v !== null) stack.push(v);
        else o[k] = swap(v);
      }
    }
  }
  return { value: swap(value) };
}

/**
 * The first number literal outside the strings of JSON `text` that is past the largest double
 * (`1e400`, 400 digits), which `JSON.parse` reads as ±Infinity, with its position; undefined when
 * there is none. TF Serving and Triton parse with rapidjson, which refuses such a number ("Number
 * too big to be stored in double"), where Infinity is written as the token.
 */
export function firstOverflowingLiteral(text: string): { literal: string; position: number } | undefined {
  let inString = false;
  for (let p = 0; p < text.length; p++) {
    const ch = text[p]!;
    if (inString) {
      if (ch === '\\') p++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      continue;
    }
    if (ch !== '-' && (ch < '0' || ch > '9')) continue;
    NUMBER_TOKEN.lastIndex = p;
    const m = NUMBER_TOKEN.exec(text);
    if (m === null) continue;
    // Only an exponent or 309 digits or more reach past the largest double (about 1.8e308, itself 309
    // digits: "9" repeated 309 times is past it, with no sign or fraction to lengthen the literal).
    if ((m[2] !== undefined || m[0].length >= 309) && Math.abs(Number(m[0])) === Infinity) return { literal: m[0], position: p };
    p += m[0].length - 1;
  }
  return undefined;
}

/**
 * True when a float tensor of `tensors` holds +Infinity or -Infinity (float16 as its bits). It reads
 * every value of every v2 and TF Serving request, so float64 and float32 each have their own loop:
 * one loop over both array types reads about half as fast.
 */
export function holdsInfinity(tensors: Readonly<Record<string, Tensor>>): boolean {
  for (const name in tensors) {
    const t = tensors[name]!;
    if (t.dtype === 'float64' ? holdsInfinity64(t.data as Float64Array) : t.dtype === 'float32' ? holdsInfinity32(t.data as Float32Array) : t.dtype === 'float16' && holdsInfinity16(float16Bits(t.data as Uint16Array))) return true;
  }
  return false;
}

function holdsInfinity64(d: Float64Array): boolean {
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v === Infinity || v === -Infinity) return true;
  }
  return false;
}

function holdsInfinity32(d: Float32Array): boolean {
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v === Infinity || v === -Infinity) return true;
  }
  return false;
}

function holdsInfinity16(bits: Uint16Array): boolean {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7fff) === 0x7c00) return true;
  return false;
}

function isFloat(t: Tensor): boolean {
  return t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16';
}

/**
 * A float tensor's elements as {@link restoreNonFinite} reads them: numbers, or for float16 its bits
 * whatever `data` holds (a `Float16Array` on Node 24 holds values, not bits).
 */
function floatElements(t: Tensor): { d: ArrayLike<number>; half: boolean } {
  const half = t.dtype === 'float16';
  return { d: half ? float16Bits(t.data as Uint16Array) : (t.data as ArrayLike<number>), half };
}

/** Replaces, in order, the `null`s the JSON writers wrote for the non-finite elements `[from, to)`. */
function restoreNonFinite(json: string, { d, half }: { d: ArrayLike<number>; half: boolean }, from: number, to: number): string {
  if (!json.includes('null')) return json;
  const tokens: string[] = [];
  for (let i = from; i < to; i++) {
    const v = d[i]!;
    // float16 bits: exponent all ones is Infinity or NaN.
    if (half ? (v & 0x7c00) === 0x7c00 : !Number.isFinite(v)) {
      tokens.push((half ? (v & 0x3ff) !== 0 : Number.isNaN(v)) ? 'NaN' : (half ? v & 0x8000 : v < 0) ? '-Infinity' : 'Infinity');
    }
  }
  if (tokens.length === 0) return json;
  let k = 0;
  return json.replace(/null/g, () => tokens[k++] ?? 'null');
}

/**
 * `json`, the text the JSON writers made of tensor `t` (nested or flat), with the `null` each wrote
 * for a non-finite float replaced by the token `NaN`, `Infinity` or `-Infinity`, as TF Serving and
 * Triton write them. The text of a tensor that is not float, or has no `null`, is returned unchanged.
 */
export function withNonFiniteTokens(json: string, t: Tensor): string {
  return isFloat(t) ? restoreNonFinite(json, floatElements(t), 0, t.data.length) : json;
}

/**
 * A string tensor as nested `{"b64": ...}` objects: the base64 of each string's UTF-8 bytes, or for
 * a string the request's `{"b64"}` bytes that were not UTF-8 gave (`binaryStrings`), of those bytes.
 */
function b64Json(t: Tensor, from: number, shape: readonly number[], binaryStrings: ReadonlySet<string> | undefined): string {
  const strings = t.data as string[];
  let k = from;
  const build = (dim: number): unknown => {
    if (dim === shape.length) {
      const s = strings[k++]!;
      return { b64: Buffer.from(s, binaryStrings?.has(s) ? 'latin1' : 'utf8').toString('base64') };
    }
    return Array.from({ length: shape[dim]! }, () => build(dim + 1));
  };
  return JSON.stringify(build(0));
}

/** True when TF Serving writes this output's strings as `{"b64": ...}` (its name ends in `_bytes`). */
function isBytesOutput(name: string, t: Tensor): boolean {
  return t.dtype === 'string' && name.endsWith('_bytes');
}

/**
 * One output as TF Serving writes it: nested arrays with `NaN`/`Infinity` tokens, or `{"b64"}` strings
 * for `*_bytes` outputs (`binaryStrings`: the request's `DecodedRequest.binaryStrings`).
 */
export function tfsTensorJson(name: string, t: Tensor, binaryStrings?: ReadonlySet<string>): string {
  if (isBytesOutput(name, t)) return b64Json(t, 0, t.shape, binaryStrings);
  if (isBigIntDType(t.dtype)) return exactIntegersJson(t.data as BigInt64Array, 0, t.shape);
  return withNonFiniteTokens(tensorToJson(t), t);
}

/** Each row (first axis) of one output as TF Serving writes it, for `{"predictions": [...]}` (see {@link tfsTensorJson}). */
export function tfsRowsJson(name: string, t: Tensor, binaryStrings?: ReadonlySet<string>): string[] {
  if (t.shape.length === 0) return [tfsTensorJson(name, t, binaryStrings)];
  const rows = t.shape[0]!;
  const rowSize = rows === 0 ? 0 : t.data.length / rows;
  if (isBytesOutput(name, t)) return Array.from({ length: rows }, (_, r) => b64Json(t, r * rowSize, t.shape.slice(1), binaryStrings));
  if (isBigIntDType(t.dtype)) return Array.from({ length: rows }, (_, r) => exactIntegersJson(t.data as BigInt64Array, r * rowSize, t.shape.slice(1)));
  const json = tensorRowsToJson(t);
  if (!isFloat(t)) return json;
  const elements = floatElements(t);
  return json.map((row, r) => restoreNonFinite(row, elements, r * rowSize, (r + 1) * rowSize));
}

/**
 * The int64 or uint64 elements of `d` from `from`, nested in `shape`, as exact integer literals
 * (`9007199254740993`), as TF Serving writes them (rapidjson's `Int64`/`Uint64`), also past ±2^53:
 * its clients read numbers there, and Python's json reads such a literal exactly.
 */
function exactIntegersJson(d: BigInt64Array | BigUint64Array, from: number, shape: readonly number[]): string {
  if (shape.length === 0) return String(d[from]);
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const nest = (dim: number, offset: number): string => {
    if (dim === shape.length - 1) return `[${d.subarray(offset, offset + shape[dim]!).join(',')}]`;
    const parts = new Array<string>(shape[dim]!);
    for (let i = 0; i < parts.length; i++) parts[i] = nest(dim + 1, offset + i * strides[dim]!);
    return `[${parts.join(',')}]`;
  };
  return nest(0, from);
}
