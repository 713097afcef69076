import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Calls `fn` every `ms` until the returned function is called; the default timer does not keep the process alive. */
export type RepeatTimer = (fn: () => void, ms: number) => () => void;

const unrefInterval: RepeatTimer = (fn, ms) => {
  const timer = setInterval(fn, ms).unref();
  return () => clearInterval(timer);
};

/** How long after its last work a process still samples, about: the gate is checked this often. */
export const IDLE_CHECK_MS = 1000;

/** What a {@link WorkGatedLoopDelay} is built with. */
export interface WorkGatedLoopDelayOptions {
  /** How often the loop is sampled while there is work, ms (prom-client's default precision is 10). */
  readonly resolutionMs: number;
  /** Whether the process holds work now (invocations, streams): sampling goes on while it does. */
  readonly busy: () => boolean;
  /** Called at each check, before the gate is checked: every {@link IDLE_CHECK_MS} or more while sampling. */
  readonly onCheck?: () => void;
  /** Checks in a row that must find no new work and none held before sampling stops. @defaultValue 1 */
  readonly quietChecks?: number;
  /** The repeating timer (tests pass their own). */
  readonly every?: RepeatTimer;
  /** The clock, ms (tests pass their own). */
  readonly now?: () => number;
}

/**
 * Event-loop delay, measured as `monitorEventLoopDelay` measures it (the time between two runs of a
 * repeating timer, in ns), but only while the process has work: for prom-client's
 * `nodejs_eventloop_lag_*` gauges (it reads this object as the histogram it would have made, see
 * metrics.ts) and for the watch that moves a model off the HTTP thread (size-routed-backend.ts).
 *
 * prom-client's own monitor woke every worker 100 times a second for good: on a 2-vCPU VM that was
 * about three quarters of an idle worker's CPU (0.15 of its 0.2 CPU-seconds in 30 s). A loop with
 * nothing to do is not delayed, so its samples only said that nothing ran. Here the timer starts
 * with the work ({@link markBusy}: an invocation or a stream message arriving, a model run called)
 * and stops once a check ({@link IDLE_CHECK_MS}) finds no new work since the one before and none
 * held. A `monitorEventLoopDelay` cannot be stopped and started again without a bogus sample (its
 * first interval after `enable()` is the whole pause) or, reset, missing a block in its first
 * interval, hence a timer of its own, sampling from the work's arrival, into a histogram that
 * keeps its samples across pauses.
 *
 * Its statistics therefore describe the loop while it had work: with no sample since the last
 * reset, it reads as an undelayed loop (every statistic the resolution, the deviation 0), which
 * the monitor gave an idle worker before.
 */
export class WorkGatedLoopDelay {
  readonly #samples: RecordableHistogram = createHistogram();
  readonly #resolutionMs: number;
  readonly #busy: () => boolean;
  readonly #every: RepeatTimer;
  readonly #now: () => number;
  readonly #onCheck: (() => void) | undefined;
  readonly #quietChecks: number;
  #quiet = 0;
  #stop: (() => void) | undefined;
  #last = 0;
  /** When the gate was last checked (or sampling started). */
  #checkedAt = 0;
  /** Work arrived since the gate was last checked. */
  #marked = false;

  constructor(options: WorkGatedLoopDelayOptions) {
    this.#resolutionMs = options.resolutionMs;
    this.#busy = options.busy;
    this.#every = options.every ?? unrefInterval;
    this.#now = options.now ?? (() => performance.now());
    this.#onCheck = options.onCheck;
    this.#quietChecks = options.quietChecks ?? 1;
  }

  /** Work arrived: samples from now on, until a check finds the process idle. Cheap enough for every request. */
  markBusy(): void {
    this.#marked = true;
    if (this.#stop) return;
    this.#last = this.#checkedAt = this.#now();
    this.#quiet = 0;
    this.#stop = this.#every(this.#tick, this.#resolutionMs);
  }

  /** True while the sampling timer runs. */
  get sampling(): boolean {
    return this.#stop !== undefined;
  }

  readonly #tick = (): void => {
    const now = this.#now();
    this.#samples.record(Math.max(1, Math.round((now - this.#last) * 1e6)));
    this.#last = now;
    // By the clock, not by a count of timer runs: while runs block the loop for a second or more
    // each, ten timer runs would span ten blocks, and the window onCheck turns with them.
    if (now - this.#checkedAt < IDLE_CHECK_MS) return;
    this.#checkedAt = now;
    this.#onCheck?.();
    if (this.#marked || this.#busy()) {
      this.#marked = false;
      this.#quiet = 0;
      return;
    }
    if (++this.#quiet < this.#quietChecks) return;
    this.#stop?.();
    this.#stop = undefined;
  };

  /** Does nothing: prom-client enables the monitor it made; this one starts with work. */
  enable(): boolean {
    return true;
  }

  /** Stops sampling (until the next work). */
  disable(): boolean {
    const was = this.#stop !== undefined;
    this.#stop?.();
    this.#stop = undefined;
    return was;
  }

  /** Samples since the last {@link reset}. */
  get count(): number {
    return this.#samples.count;
  }

  /** In ns, as the statistics below: an undelayed loop's sample when there is none. */
  get min(): number {
    return this.#samples.count === 0 ? this.#idleNs : this.#samples.min;
  }

  get max(): number {
    return this.#samples.count === 0 ? this.#idleNs : this.#samples.max;
  }

  get mean(): number {
    return this.#samples.count === 0 ? this.#idleNs : this.#samples.mean;
  }

  get stddev(): number {
    return this.#samples.count === 0 ? 0 : this.#samples.stddev;
  }

  percentile(p: number): number {
    return this.#samples.count === 0 ? this.#idleNs : this.#samples.percentile(p);
  }

  /** Forgets the samples (prom-client does at each scrape). */
  reset(): void {
    this.#samples.reset();
  }

  get #idleNs(): number {
    return this.#resolutionMs * 1e6;
  }
}
