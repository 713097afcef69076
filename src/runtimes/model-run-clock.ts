import type { ModelRuntime } from './runtime.js';

/**
 * The longest model run of the process since it was last asked, for the watchdog that moves a
 * model off the HTTP thread (size-routed-backend.ts): the time a model held the event loop, told
 * apart from the time the loop was held by something else (accepting a burst of connections).
 */
export class ModelRunClock {
  #watching = false;
  #longestMs = 0;

  /** @param now - the clock, in ms (tests pass their own). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Times every later call of `runtime.predict` while runs are watched (see {@link takeLongest}):
   * from its call, or from the first check phase of the event loop after it (a `setImmediate`) when
   * the run is still pending then, to its settling. onnxruntime-node starts a run from a
   * `setImmediate`, which comes after the loop's poll phase: a burst of connections accepted there
   * is not counted as the model's. Returns `runtime` (its `predict` replaced), or `runtime` as it
   * is when it is frozen.
   */
  timed<R extends ModelRuntime>(runtime: R): R {
    if (Object.isFrozen(runtime)) return runtime;
    const predict = runtime.predict.bind(runtime);
    runtime.predict = (inputs, cancellation) => {
      if (!this.#watching) return predict(inputs, cancellation);
      let began = this.now();
      const mark = setImmediate(() => (began = this.now()));
      return predict(inputs, cancellation).finally(() => {
        clearImmediate(mark);
        this.#longestMs = Math.max(this.#longestMs, this.now() - began);
      });
    };
    return runtime;
  }

  /** Starts watching runs (once asked, runs are timed for good); returns the longest run since the last call, in ms, and starts over. */
  takeLongest(): number {
    this.#watching = true;
    const longest = this.#longestMs;
    this.#longestMs = 0;
    return longest;
  }
}

/** This process's (this thread's) {@link ModelRunClock}: every model a pipeline loads is timed by it. */
export const modelRunClock = new ModelRunClock();
