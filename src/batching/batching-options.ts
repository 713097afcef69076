/**
 * Dynamic batching's settings, apart from the batcher: a runtime served without batching never
 * loads the batching code (see `batchedRuntime`).
 */

/** How one model batches. `maxSize` 1 turns batching off. */
export interface BatchingOptions {
  /** Most requests run together in one model call. */
  readonly maxSize: number;
  /**
   * How long, at most, a batch waits for more requests once the model is free (measured from its
   * oldest request's arrival). A request that finds the model idle and nothing queued never waits.
   */
  readonly maxDelayMs: number;
  /**
   * The invocation timeout in milliseconds, which `maxDelayMs` must stay below when batching is on
   * (a batch that does not fill waits that long, so its requests would time out first): the server's
   * defaults carry it so that a pipeline step's own `batching:` is checked against it. Unchecked when absent.
   */
  readonly timeoutMs?: number;
}

/** Batching off. */
export const NO_BATCHING: BatchingOptions = Object.freeze({ maxSize: 1, maxDelayMs: 0 });

/** Runtimes that batch concurrent calls, and the most requests one of their runs takes. */
const batchSizes = new WeakMap<object, number>();

/** Records that `runtime` batches concurrent calls, up to `maxSize` requests a run (`BatchedRuntime` does). */
export function recordBatching(runtime: object, maxSize: number): void {
  batchSizes.set(runtime, maxSize);
}

/** The most requests one run of `runtime` takes: 1 unless it was recorded by {@link recordBatching}. */
export function maxBatchSizeOf(runtime: object): number {
  return batchSizes.get(runtime) ?? 1;
}
