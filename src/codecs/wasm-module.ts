/**
 * Loading smkit's WebAssembly modules (AssemblyScript in `assembly/`, built by `npm run
 * build:wasm` beside the modules that use them): compiled on first use, one instance at a time,
 * and an instance whose memory one large input grew is let go so it does not stay pinned.
 */

import { readFileSync } from 'node:fs';

/** What every module exports. */
export interface WasmExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
}

/** The part of the WebAssembly global used here (TypeScript's ES and Node libraries do not declare it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

const PAGE = 65536;

/**
 * A memory grown past this by one large input is dropped after that call (a new instance is made
 * for the next), so one huge request does not pin its memory in every worker.
 */
export const KEEP_MAX_BYTES = 16 * 1024 * 1024;

/** One WebAssembly module, compiled and instantiated on first use. */
export class LazyWasm<E extends WasmExports> {
  #compiled: object | null | undefined;
  #instance: E | undefined;

  /**
   * @param file - the `.wasm` file.
   * @param imports - the imports of a new instance; `self` answers that instance (for imports that
   *   read or write its memory).
   */
  constructor(
    private readonly file: URL,
    private readonly imports: (self: () => E) => object = () => ({}),
  ) {}

  /** The instance, or `undefined` when the module is not built (tsc without `npm run build:wasm`). */
  get(): E | undefined {
    if (this.#instance) return this.#instance;
    if (this.#compiled === undefined) {
      try {
        this.#compiled = new Module(readFileSync(this.file));
      } catch {
        this.#compiled = null;
      }
    }
    if (this.#compiled === null) return undefined;
    let made: E | undefined;
    made = new Instance(this.#compiled, this.imports(() => made!)).exports as E;
    this.#instance = made;
    return made;
  }

  /** The bytes the instance's memory holds: 0 before first use and after one too large to keep. */
  memoryBytes(): number {
    return this.#instance ? this.#instance.memory.buffer.byteLength : 0;
  }

  /** Lets the instance go if its memory grew past {@link KEEP_MAX_BYTES}. */
  releaseIfLarge(): void {
    if (this.memoryBytes() > KEEP_MAX_BYTES) this.#instance = undefined;
  }
}

/** Grows `wasm`'s memory to at least `bytes`; false when it cannot grow that far. */
export function ensureMemory(wasm: WasmExports, bytes: number): boolean {
  const have = wasm.memory.buffer.byteLength;
  if (bytes <= have) return true;
  try {
    wasm.memory.grow(Math.ceil((bytes - have) / PAGE));
    return true;
  } catch {
    return false;
  }
}
