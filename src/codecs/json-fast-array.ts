import { MAX_RANK, type Tensor } from '../core/tensor.js';
import { decimalToDouble } from './decimal-to-double.js';
import { takeFloatScratch, tensorFromFloatScratch } from './float-scratch.js';
import { scanPlainJsonArray } from './numeric-text-wasm.js';

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Fast path for the most common JSON payload, a rectangular nested array of numbers
 * (`[[5.1, 3.5], [6.7, 3.0]]`), read straight from the bytes into a `float64` tensor without
 * building JS arrays: about twice as fast as `JSON.parse` plus a walk. It is strict JSON; on
 * anything else (strings, booleans, null, objects, ragged rows, empty arrays, invalid syntax) it
 * answers `undefined` and the caller uses the general path, which also produces the error message.
 *
 * @param start Offset of the opening `[`.
 * @param limit Offset the array must close before (a JSON lines record ends at its line's end).
 * @param float32 The numbers go to a float32 model input (`DecodeHints.float32`): return float32, each
 *   value rounded as the model's conversion would round it, or float64 when a finite number is beyond
 *   the float32 range (so that conversion reports it).
 * @returns The tensor and the offset just after the closing `]`, or `undefined`.
 */
export function scanNumericArray(
  buf: Uint8Array,
  start: number,
  limit = buf.length,
  float32 = false,
): { tensor: Tensor<'float64' | 'float32'>; end: number } | undefined {
  // Buffers and text are sized from [start, limit) only: one scan per JSON line must not cost the whole body.
  const len = Math.min(limit, buf.length);
  const shape: number[] = [];
  const counts: number[] = [];
  let leafDepth = -1;
  let depth = 0;
  let cap = Math.max(16, (len - start) >> 3);
  // A scan that gives up (not a plain numeric array) does not give the scratch buffer back.
  let out = float32 ? takeFloatScratch(cap) : new Float64Array(cap);
  cap = out.length;
  let n = 0;
  let p = start;
  let text: string | undefined;
  // Expecting a value (after '[' or ','); `afterOpen` allows an immediate ']' only where it is legal.
  let expectValue = true;
  let afterOpen = false;

  while (p < len) {
    let c = buf[p]!;
    if (c === 32 || c === 10 || c === 13 || c === 9) {
      p++;
      continue;
    }
    if (expectValue) {
      if (c === 91 /* [ */) {
        if ((leafDepth >= 0 && depth >= leafDepth) || depth === MAX_RANK) return undefined;
        counts[depth] = 0;
        depth++;
        p++;
        afterOpen = true;
        continue;
      }
      if (c === 93 /* ] */ && afterOpen) return undefined; // empty arrays: let the general path decide the shape
      // A number, strict JSON grammar.
      if (leafDepth < 0) leafDepth = depth;
      else if (depth !== leafDepth) return undefined;
      const numStart = p;
      let neg = false;
      if (c === 45) {
        neg = true;
        c = buf[++p]!;
      }
      if (p >= len || (c - 48) >>> 0 >= 10) return undefined;
      if (c === 48 && p + 1 < len && (buf[p + 1]! - 48) >>> 0 < 10) return undefined; // leading zero
      // The digit loops are inlined here and in the other numeric parser on purpose: a shared
      // scanner function measured up to a third slower on large bodies.
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
      let exp = 0;
      if (p < len && buf[p] === 46) {
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
        if (p === fracStart) return undefined;
        exp = fracStart - p;
      }
      if (p < len && (buf[p]! | 32) === 101) {
        p++;
        let eneg = false;
        if (buf[p] === 45) {
          eneg = true;
          p++;
        } else if (buf[p] === 43) {
          p++;
        }
        const expStart = p;
        let e = 0;
        while (p < len && (d = buf[p]! - 48) >>> 0 < 10) {
          if (e < 100000) e = e * 10 + d;
          p++;
        }
        if (p === expStart) return undefined;
        exp += eneg ? -e : e;
      }
      let value: number;
      if (extraDigits === 0 && exp >= -22 && exp <= 22) {
        value = exp < 0 ? mant / POW10[-exp]! : mant * POW10[exp]!;
        if (neg) value = -value;
      } else if (extraDigits <= 4 && exp >= -22 && exp <= 22 && (value = decimalToDouble(mant, extraDigits, extra, exp)) === value) {
        if (neg) value = -value;
      } else {
        text ??= Buffer.from(buf.buffer, buf.byteOffset + start, len - start).toString('latin1');
        value = Number(text.substring(numStart - start, p - start));
      }
      if (n === cap) {
        cap *= 2;
        const next = new Float64Array(cap);
        next.set(out);
        out = next;
      }
      out[n++] = value;
      counts[depth - 1]!++;
      expectValue = false;
      afterOpen = false;
      continue;
    }
    // After a value: ',' or ']'.
    if (c === 44 /* , */) {
      if (depth === 0) return undefined;
      expectValue = true;
      afterOpen = false;
      p++;
      continue;
    }
    if (c === 93 /* ] */) {
      if (depth === 0) return undefined;
      depth--;
      const count = counts[depth]!;
      if (shape[depth] === undefined) shape[depth] = count;
      else if (shape[depth] !== count) return undefined;
      p++;
      if (depth === 0) {
        if (n === 0) return undefined;
        const size = shape.reduce((a, b) => a * b, 1);
        if (size !== n) return undefined;
        if (float32) return { tensor: tensorFromFloatScratch(out, n, shape), end: p };
        return { tensor: { dtype: 'float64', shape, data: n === cap ? out : out.slice(0, n) }, end: p };
      }
      counts[depth - 1]!++;
      continue;
    }
    return undefined;
  }
  return undefined;
}

const KEYS: ReadonlyArray<{ key: Buffer; form: 'tfs-instances' | 'tfs-inputs' }> = [
  { key: Buffer.from('"instances"'), form: 'tfs-instances' },
  { key: Buffer.from('"inputs"'), form: 'tfs-inputs' },
];

/**
 * The fast path for whole bodies: a bare numeric array (form `tensor`) or an object with just
 * `"instances"` or `"inputs"` holding one (forms `tfs-instances`, `tfs-inputs`). `undefined` for
 * anything else, including trailing garbage, so the general path reports it. The array goes
 * through the WebAssembly scanner first ({@link scanPlainJsonArray}), which gives the same numbers.
 */
export function scanNumericBody(buf: Uint8Array, float32 = false): { tensor: Tensor<'float64' | 'float32'>; form: 'tensor' | 'tfs-instances' | 'tfs-inputs' } | undefined {
  let p = skipWs(buf, 0);
  if (buf[p] === 91) {
    const r = scanWholeArray(buf, p, float32);
    return r && skipWs(buf, r.end) === buf.length ? { tensor: r.tensor, form: 'tensor' } : undefined;
  }
  if (buf[p] !== 123 /* { */) return undefined;
  p = skipWs(buf, p + 1);
  const match = KEYS.find(({ key }) => key.every((b, i) => buf[p + i] === b));
  if (match === undefined) return undefined;
  p = skipWs(buf, p + match.key.length);
  if (buf[p] !== 58 /* : */) return undefined;
  p = skipWs(buf, p + 1);
  if (buf[p] !== 91) return undefined;
  const r = scanWholeArray(buf, p, float32);
  if (r === undefined) return undefined;
  p = skipWs(buf, r.end);
  if (buf[p] !== 125 /* } */ || skipWs(buf, p + 1) !== buf.length) return undefined;
  return { tensor: r.tensor, form: match.form };
}

/** The array at `start` through the WebAssembly scanner when it answers, else {@link scanNumericArray}. */
function scanWholeArray(buf: Uint8Array, start: number, float32: boolean): ReturnType<typeof scanNumericArray> {
  return scanPlainJsonArray(buf, start, buf.length, float32) ?? scanNumericArray(buf, start, buf.length, float32);
}

function skipWs(buf: Uint8Array, p: number): number {
  while (p < buf.length) {
    const c = buf[p]!;
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    p++;
  }
  return p;
}
