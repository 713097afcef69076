/**
 * The WebAssembly fast paths of the numeric text decoders: `assembly/numeric-text.ts`
 * (AssemblyScript), built into `numeric-text.wasm` beside this module. They read CSV rows, JSON
 * nested arrays and JSON lines of such arrays, of numbers with up to 19 significant digits and
 * exponents within ±22, 1.7-3 times faster than the TypeScript parsers, and give up on anything
 * else, which the caller then parses in TypeScript; where they answer, the numbers are the same
 * bit for bit.
 */

import type { Tensor } from '../core/tensor.js';
import { ensureMemory, LazyWasm, type WasmExports } from './wasm-module.js';

interface NumericTextExports extends WasmExports {
  readonly columns: { readonly value: number };
  readonly rows: { readonly value: number };
  readonly jsonRank: { readonly value: number };
  readonly jsonEnd: { readonly value: number };
  inputStart(): number;
  separators(src: number, len: number): number;
  jsonDim(i: number): number;
  parseCsv32(src: number, len: number, out: number): number;
  parseCsv64(src: number, len: number, out: number): number;
  parseJsonArray32(src: number, len: number, out: number): number;
  parseJsonArray64(src: number, len: number, out: number): number;
  parseJsonLines32(src: number, len: number, out: number): number;
  parseJsonLines64(src: number, len: number, out: number): number;
}

/**
 * Longer texts go to the TypeScript parsers. Here the text, its values and their copy out are held
 * at once: for a text of the shortest numbers (`1,1,1,…`) read as float64, about ten times its
 * size beside the body, twice what the TypeScript parsers take.
 */
const MAX_TEXT_BYTES = 32 * 1024 * 1024;

const numericText = new LazyWasm<NumericTextExports>(new URL('./numeric-text.wasm', import.meta.url));

/** Whether the WebAssembly parsers are built and load (the build's tests assert it). */
export function numericWasmAvailable(): boolean {
  return numericText.get() !== undefined;
}

/** The bytes the parsers' memory holds now: 0 before the first body and after one too large to keep. */
export function numericWasmMemoryBytes(): number {
  return numericText.memoryBytes();
}

/** The longest start of a text whose separators estimate how many values it holds. */
const SAMPLE_BYTES = 4096;

/**
 * Texts up to this long get room for the most values their length allows (two bytes each: at most
 * 256 KB of float64) without counting their separators first. On a one-row body that count read
 * most of the text a second time, a third of the parse, to save a few kilobytes of memory.
 */
const UNSAMPLED_MAX_BYTES = 64 * 1024;

let sampledTexts = 0;

/** How many texts had their output area sized from a sample of their separators (for tests). */
export function numericWasmSampledTexts(): number {
  return sampledTexts;
}

/**
 * Copies `text[start, end)` into the parsers' memory followed by a 0 sentinel, and runs `parse`
 * on it with an output area after it. Answers the parser's value count (≤ 0: gave up) and where
 * its values are, or `undefined` when the text does not fit in a memory.
 *
 * The output area holds the most values a text of up to {@link UNSAMPLED_MAX_BYTES} may hold;
 * for a longer one it is sized from the commas and line feeds in its first 4 KB, with a quarter to
 * spare. The parsers do not check it, so a text whose values get shorter past that sample writes
 * past the memory's end, which traps, and is parsed again with room for the most values its length
 * allows (two bytes each).
 */
function runParser(
  wasm: NumericTextExports,
  text: Uint8Array,
  start: number,
  end: number,
  width: number,
  parse: (src: number, len: number, out: number) => number,
): { n: number; out: number } | undefined {
  const len = end - start;
  if (len > MAX_TEXT_BYTES) return undefined;
  const src = wasm.inputStart();
  const out = (src + len + 1 + 7) & ~7;
  const most = (len >> 1) + 1;
  if (!ensureMemory(wasm, out)) return undefined;
  const bytes = new Uint8Array(wasm.memory.buffer);
  bytes.set(start === 0 && end === text.length ? text : text.subarray(start, end), src);
  bytes[src + len] = 0;
  if (!ensureMemory(wasm, out + roomFor(wasm, src, len, most) * width)) return undefined;
  try {
    return { n: parse(src, len, out), out };
  } catch {
    // Already that large, the trap was not a lack of room: the TypeScript parser answers instead.
    if (wasm.memory.buffer.byteLength >= out + most * width || !ensureMemory(wasm, out + most * width)) return undefined;
  }
  try {
    return { n: parse(src, len, out), out };
  } catch {
    return undefined;
  }
}

/** How many values to make room for: all a short text may hold, else an estimate from its first {@link SAMPLE_BYTES}. */
function roomFor(wasm: NumericTextExports, src: number, len: number, most: number): number {
  if (len <= UNSAMPLED_MAX_BYTES) return most;
  sampledTexts++;
  const sample = Math.min(len, SAMPLE_BYTES);
  return Math.min(most, Math.ceil((len * (wasm.separators(src, sample) + 1) * 1.25) / Math.max(1, sample)) + 16);
}

/** A copy of `n` values at `out` (the memory may have grown during the parse, so its buffer is read again). */
function copyValues(wasm: NumericTextExports, out: number, n: number, float32: boolean, shape: number[]): Tensor<'float64' | 'float32'> {
  const memory = wasm.memory.buffer;
  return float32
    ? { dtype: 'float32', shape, data: new Float32Array(memory, out, n).slice() }
    : { dtype: 'float64', shape, data: new Float64Array(memory, out, n).slice() };
}

/** The pair of parsers for one text form, and how to read the shape of what they parsed. */
interface Form {
  parser(wasm: NumericTextExports, float32: boolean): (src: number, len: number, out: number) => number;
  shape(wasm: NumericTextExports): number[];
}

const jsonShape = (wasm: NumericTextExports): number[] => Array.from({ length: wasm.jsonRank.value }, (_, i) => wasm.jsonDim(i));

const CSV: Form = {
  parser: (wasm, float32) => (float32 ? wasm.parseCsv32 : wasm.parseCsv64),
  shape: (wasm) => [wasm.rows.value, wasm.columns.value],
};
const JSON_ARRAY: Form = {
  parser: (wasm, float32) => (float32 ? wasm.parseJsonArray32 : wasm.parseJsonArray64),
  shape: jsonShape,
};
const JSON_LINES: Form = {
  parser: (wasm, float32) => (float32 ? wasm.parseJsonLines32 : wasm.parseJsonLines64),
  shape: (wasm) => [wasm.rows.value, ...jsonShape(wasm)],
};

/**
 * `text[start, end)` read in `form` into a tensor, with the instance that read it (its globals
 * tell the rest); `undefined` when the parser is not built or gives up. A memory that one large
 * body grew past `KEEP_MAX_BYTES` is let go afterwards.
 */
function read(text: Uint8Array, start: number, end: number, float32: boolean, form: Form): { tensor: Tensor<'float64' | 'float32'>; wasm: NumericTextExports } | undefined {
  const wasm = numericText.get();
  if (!wasm) return undefined;
  const run = runParser(wasm, text, start, end, float32 ? 4 : 8, form.parser(wasm, float32));
  const tensor = run && run.n > 0 ? copyValues(wasm, run.out, run.n, float32, form.shape(wasm)) : undefined;
  numericText.releaseIfLarge();
  return tensor && { tensor, wasm };
}

/**
 * Parses `buf` as CSV rows of numbers (see `assembly/numeric-text.ts` for the exact form)
 * into a `[rows, columns]` float32 or float64 tensor, or returns `undefined` when the body is in any
 * other form (or holds no row, or the parser is not built): the caller then parses it itself.
 */
export function parsePlainCsv(buf: Uint8Array, float32: boolean): Tensor<'float64' | 'float32'> | undefined {
  return read(buf, 0, buf.length, float32, CSV)?.tensor;
}

/**
 * Reads the JSON array that opens at `buf[start]` and closes before `limit` as a rectangular nested
 * array of numbers (strict JSON, see `assembly/numeric-text.ts`) into a float32 or
 * float64 tensor, with the offset just after its closing `]`; `undefined` for anything else.
 */
export function scanPlainJsonArray(
  buf: Uint8Array,
  start: number,
  limit: number,
  float32: boolean,
): { tensor: Tensor<'float64' | 'float32'>; end: number } | undefined {
  const r = read(buf, start, Math.min(limit, buf.length), float32, JSON_ARRAY);
  return r && { tensor: r.tensor, end: start + r.wasm.jsonEnd.value };
}

/**
 * Reads JSON lines that are each a numeric JSON array of one shape (strict JSON, see
 * `assembly/numeric-text.ts`) into one `[lines, ...shape]` float32 or float64 tensor; `undefined`
 * for anything else.
 */
export function parsePlainJsonLines(buf: Uint8Array, float32: boolean): Tensor<'float64' | 'float32'> | undefined {
  return read(buf, 0, buf.length, float32, JSON_LINES)?.tensor;
}
