/**
 * The WebAssembly fast path of the numeric CSV parser: `assembly/csv-fast.ts` (AssemblyScript),
 * built into `csv-fast.wasm` beside this module. It reads rows of plain decimals 2-3 times faster
 * than the TypeScript parser and gives up on anything else, which the caller then parses in
 * TypeScript; where it answers, the numbers are the same bit for bit.
 */

import { readFileSync } from 'node:fs';
import type { Tensor } from '../core/tensor.js';

interface CsvFastExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly columns: { readonly value: number };
  readonly rows: { readonly value: number };
  inputStart(): number;
  parse(src: number, len: number, out: number, float32: number): number;
}

/** The part of the WebAssembly global used here (TypeScript's ES and Node libraries do not declare it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const PAGE = 65536;

/**
 * A memory grown past this by one large body is dropped after that parse (a new instance is made
 * for the next body), so one huge request does not pin its memory in every worker.
 */
const KEEP_MAX_BYTES = 16 * 1024 * 1024;

let compiled: object | null | undefined;
let instance: CsvFastExports | undefined;

function exportsOrUndefined(): CsvFastExports | undefined {
  if (instance) return instance;
  if (compiled === undefined) {
    try {
      compiled = new Module(readFileSync(new URL('./csv-fast.wasm', import.meta.url)));
    } catch {
      // Not built (tsc without `npm run build:wasm`): the TypeScript parser serves every body.
      compiled = null;
    }
  }
  if (compiled === null) return undefined;
  instance = new Instance(compiled, {}).exports as CsvFastExports;
  return instance;
}

/** Whether the WebAssembly parser is built and loads (the build's tests assert it). */
export function csvWasmAvailable(): boolean {
  return exportsOrUndefined() !== undefined;
}

/**
 * Parses `buf` as rows of plain decimals (see `assembly/csv-fast.ts` for the exact form) into a
 * `[rows, columns]` float32 or float64 tensor, or returns `undefined` when the body is in any other
 * form (or holds no row, or the parser is not built): the caller then parses it itself.
 */
export function parsePlainCsv(buf: Uint8Array, float32: boolean): Tensor<'float64' | 'float32'> | undefined {
  const wasm = exportsOrUndefined();
  if (!wasm) return undefined;
  const src = wasm.inputStart();
  const len = buf.length;
  const out = (src + len + 1 + 7) & ~7;
  // Room for the body, its 0 sentinel and a first share of the values; the parser grows the rest.
  const need = out + Math.min(len * 2, 1 << 20) + 8;
  const have = wasm.memory.buffer.byteLength;
  if (need > have) {
    try {
      wasm.memory.grow(Math.ceil((need - have) / PAGE));
    } catch {
      return undefined; // beyond what a memory can hold: the TypeScript parser decides
    }
  }
  const bytes = new Uint8Array(wasm.memory.buffer);
  bytes.set(buf, src);
  bytes[src + len] = 0;
  const n = wasm.parse(src, len, out, float32 ? 1 : 0);
  let tensor: Tensor<'float64' | 'float32'> | undefined;
  if (n > 0) {
    const shape = [wasm.rows.value, wasm.columns.value];
    // The memory may have grown during the parse: its buffer is read again.
    const memory = wasm.memory.buffer;
    tensor = float32
      ? { dtype: 'float32', shape, data: new Float32Array(memory, out, n).slice() }
      : { dtype: 'float64', shape, data: new Float64Array(memory, out, n).slice() };
  }
  if (wasm.memory.buffer.byteLength > KEEP_MAX_BYTES) instance = undefined;
  return tensor;
}

/** The bytes the parser's memory holds now: 0 before the first body and after one too large to keep. */
export function csvWasmMemoryBytes(): number {
  return instance ? instance.memory.buffer.byteLength : 0;
}
