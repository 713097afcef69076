import type { ModelRuntime } from './runtime.js';

/**
 * The longest time model runs of the process held the event loop since it was last asked, for the
 * watchdog that moves a model off the HTTP thread (size-routed-backend.ts): the time a model held
 * the loop, told apart from the time the loop was held by something else (accepting a burst of
 * connections).
 */
export class ModelRunClock {
  #watching = false;
  /** Set when a runtime could not be timed: the watchdog then goes by the loop delay alone. */
  #blind = false;
  #longestMs = 0;
  /** Runs called while watched and not settled yet. */
  #running = 0;
  /** Told of every run called while watched (see {@link onRun}). */
  #onRun: (() => void) | undefined;
  /** When the check phase of the event loop last began with a run pending (see {@link #marked}). */
  #turnStart = 0;
  #markPending = false;
  /** One bound function for every turn of the loop with runs: no timer per run. */
  readonly #marked = (): void => {
    this.#markPending = false;
    this.#turnStart = this.now();
  };

  /** @param now - the clock, in ms (tests pass their own). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Times every later call of `runtime.predict` while runs are watched (see {@link takeLongest}): to
   * its settling from the later of its call and the start of the last check phase of the event loop
   * (marked by a `setImmediate`, one per turn of the loop in which a run is called).
   * onnxruntime-node starts a run from a `setImmediate`, which comes after the loop's poll phase: a
   * burst of connections accepted there is not counted as the model's, but runs that follow one
   * another in one check phase (concurrent requests) count together, as they hold the loop together.
   * Returns `runtime` (its `predict` replaced); one that cannot be changed (frozen) is not timed, and
   * {@link takeLongest} then answers `Infinity` (the model is blamed for any block, as before).
   */
  timed<R extends ModelRuntime>(runtime: R): R {
    const predict = runtime.predict.bind(runtime);
    try {
      runtime.predict = (inputs, cancellation) => {
        if (!this.#watching) return predict(inputs, cancellation);
        this.#onRun?.();
        const called = this.now();
        if (!this.#markPending) {
          this.#markPending = true;
          setImmediate(this.#marked);
        }
        const run = predict(inputs, cancellation);
        this.#running++;
        const settled = () => this.#settled(called);
        // A branch off the run (its rejection is the caller's to handle): the caller awaits the run itself.
        run.then(settled, settled);
        return run;
      };
    } catch {
      this.#blind = true;
      // The loop-delay monitor cannot tell this model's runs: it watches for good from now on.
      this.#onRun?.();
    }
    return runtime;
  }

  #settled(called: number): void {
    this.#running--;
    const ms = this.now() - Math.max(called, this.#turnStart);
    if (ms > this.#longestMs) this.#longestMs = ms;
  }

  /** True once a runtime could not be timed (then {@link takeLongest} answers `Infinity`). */
  get blind(): boolean {
    return this.#blind;
  }

  /** Runs called while watched that have not settled yet. */
  get running(): number {
    return this.#running;
  }

  /**
   * Calls `listener` as each run is called, while runs are watched, before the run starts: the
   * event-loop delay monitor (size-routed-backend.ts) samples only while models run. Also called
   * when a runtime cannot be timed. One listener; a later call replaces it.
   */
  onRun(listener: () => void): void {
    this.#onRun = listener;
  }

  /** Starts watching runs (once asked, runs are timed for good); returns the longest run since the last call, in ms, and starts over. */
  takeLongest(): number {
    this.#watching = true;
    const longest = this.#longestMs;
    this.#longestMs = 0;
    return this.#blind ? Number.POSITIVE_INFINITY : longest;
  }
}

/** This process's (this thread's) {@link ModelRunClock}: every model a pipeline loads is timed by it. */
export const modelRunClock = new ModelRunClock();
