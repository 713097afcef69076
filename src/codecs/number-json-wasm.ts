/**
 * The WebAssembly writer of JSON and CSV for float32 and float64 tensors: `assembly/number-json.ts`
 * (AssemblyScript), built into `number-json.wasm` beside this module. It writes the nested arrays
 * `JSON.stringify` writes for a tensor, byte for byte but -0 as `-0.0`, 1.7-2 times faster than `JSON.stringify` of
 * nested arrays (256 × 8 float32 values: 130-150 µs against 220-300 µs with the Buffer, Node 20
 * and 24), and the CSV rows `src/codecs/csv.ts` writes. Each number is laid out as JavaScript's
 * `String(number)` lays it out, with the digits of Grisu3 as V8 computes them; where Grisu3
 * cannot be sure (about 1% of float32 values), the module asks for `String(number)` itself.
 */

import type { Tensor } from '../core/tensor.js';
import { ensureMemory, LazyWasm, type WasmExports } from './wasm-module.js';

interface NumberJsonExports extends WasmExports {
  inputStart(): number;
  setDim(i: number, size: number): void;
  maxBytes(n: number, rank: number): number;
  writeJson32(src: number, n: number, rank: number, out: number): number;
  writeJson64(src: number, n: number, rank: number, out: number): number;
  writeCsv32(src: number, n: number, rowSize: number, out: number): number;
  writeCsv64(src: number, n: number, rowSize: number, out: number): number;
}

/** The deepest tensor the module nests (its static shape holds this many dimensions). */
const MAX_RANK = 32;

/** Larger tensors go to the TypeScript writers: here the values and up to 30 bytes of text each are held at once. */
const MAX_VALUES = 1 << 20;

const numberJson = new LazyWasm<NumberJsonExports>(new URL('./number-json.wasm', import.meta.url), (self) => ({
  env: {
    /** Writes `String(value)` at `out` (ASCII, at most 25 bytes) and answers its length. */
    shortest(value: number, out: number): number {
      const text = String(value);
      const bytes = new Uint8Array(self().memory.buffer, out, text.length);
      for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      return text.length;
    },
  },
}));

/** Whether the writer is built and loads (the build's tests assert it). */
export function numberJsonWasmAvailable(): boolean {
  return numberJson.get() !== undefined;
}

/** The bytes the writer's memory holds now: 0 before the first tensor and after one too large to keep. */
export function numberJsonWasmMemoryBytes(): number {
  return numberJson.memoryBytes();
}

/** One of the module's writers: JSON nests the values in the tensor's shape, CSV writes rows of `rowSize`. */
type Writer = (wasm: NumberJsonExports, float32: boolean, src: number, n: number, out: number) => number;

const JSON_NESTED = (rank: number): Writer => (wasm, float32, src, n, out) => (float32 ? wasm.writeJson32(src, n, rank, out) : wasm.writeJson64(src, n, rank, out));
const CSV_ROWS = (rowSize: number): Writer => (wasm, float32, src, n, out) => (float32 ? wasm.writeCsv32(src, n, rowSize, out) : wasm.writeCsv64(src, n, rowSize, out));

/**
 * Runs `write` on the values of `t` and hands the text (a view of the module's memory, valid until
 * the next call) to `take`; `undefined` for tensors it does not write: other dtypes, no values,
 * more than 2^20 values, or when the module is not built. The callers check the shape.
 */
function run<R>(t: Tensor, write: Writer, take: (text: Buffer) => R): R | undefined {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return undefined;
  const data = t.data as Float32Array | Float64Array;
  const n = data.length;
  if (n === 0 || n > MAX_VALUES) return undefined;
  const wasm = numberJson.get();
  if (!wasm) return undefined;
  const src = wasm.inputStart();
  const out = (src + data.byteLength + 7) & ~7;
  if (!ensureMemory(wasm, out + wasm.maxBytes(n, Math.max(1, t.shape.length)))) return undefined;
  new Uint8Array(wasm.memory.buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), src);
  const length = write(wasm, t.dtype === 'float32', src, n, out);
  const result = take(Buffer.from(wasm.memory.buffer, out, length));
  numberJson.releaseIfLarge();
  return result;
}

/** Runs the JSON writer on `t` when its shape is one the writer nests (rank 1-32, whole dimensions of at least 1). */
function runJson<R>(t: Tensor, take: (text: Buffer) => R): R | undefined {
  const { shape } = t;
  const rank = shape.length;
  if (rank === 0 || rank > MAX_RANK) return undefined;
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) return undefined;
    size *= d;
  }
  if (size !== t.data.length) return undefined;
  const wasm = numberJson.get();
  if (!wasm) return undefined;
  for (let i = 0; i < rank; i++) wasm.setDim(i, shape[i]!);
  return run(t, JSON_NESTED(rank), take);
}

/** `JSON.stringify` of `t` as nested arrays (-0 as `-0.0`), for float32 and float64 tensors; else `undefined`. */
export function floatTensorJsonText(t: Tensor): string | undefined {
  return runJson(t, (text) => text.toString('latin1'));
}

/** The same text as {@link floatTensorJsonText}, as bytes (UTF-8 and ASCII are the same here). */
export function floatTensorJsonBytes(t: Tensor): Buffer | undefined {
  return runJson(t, (text) => Buffer.from(text));
}

/**
 * `t` as CSV rows, for float32 and float64 tensors: a line per index of the first axis (one line
 * for a 0-d tensor), the rest flattened into it, each line ended by `\n`, numbers as `String`
 * writes them; else `undefined`.
 */
export function floatTensorCsvBytes(t: Tensor): Buffer | undefined {
  const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
  if (!Number.isInteger(rows) || rows <= 0 || t.data.length % rows !== 0) return undefined;
  return run(t, CSV_ROWS(t.data.length / rows), (text) => Buffer.from(text));
}
