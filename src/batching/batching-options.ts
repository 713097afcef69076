/**
 * Dynamic batching's settings, apart from the batcher: a model served without batching never
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
}

/** Batching off. */
export const NO_BATCHING: BatchingOptions = Object.freeze({ maxSize: 1, maxDelayMs: 0 });
