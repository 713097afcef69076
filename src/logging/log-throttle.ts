/**
 * Caps how many lines of one kind (an error code) a logger writes per window, and reports the rest
 * as one count. Under overload every refused request (a 504 after the timeout, a 4xx from a client
 * that keeps sending the same bad body) would otherwise be a line of its own: thousands a second,
 * which CloudWatch bills by the byte and which bury the lines that matter. Each of them is still
 * counted in `smkit_invocations_total`.
 *
 * @example
 * const throttle = new LogThrottle((key, n) => log.warn({ code: key, notLogged: n }, `${n} more ${key} lines`));
 * if (throttle.admit(error.code)) log.warn({ code: error.code }, error.message);
 */
export class LogThrottle {
  readonly #counts = new Map<string, number>();
  readonly #suppressed = new Map<string, number>();
  #windowEnd = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  /**
   * @param report - called once per key at the end of a window in which lines of that key were
   *   held back, with how many.
   * @param options.perWindow - lines of one key written per window. @defaultValue 10
   * @param options.windowMs - the window. @defaultValue 1000
   * @param options.now - the clock in ms (tests pass their own). @defaultValue performance.now
   */
  constructor(
    private readonly report: (key: string, suppressed: number, windowMs: number) => void,
    options: { perWindow?: number; windowMs?: number; now?: () => number } = {},
  ) {
    this.#perWindow = options.perWindow ?? 10;
    this.#windowMs = options.windowMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when a line of `key` may be written now; otherwise counts it for the window's report. */
  admit(key: string): boolean {
    const now = this.#now();
    if (now >= this.#windowEnd) this.#startWindow(now);
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    if (count <= this.#perWindow) return true;
    this.#suppressed.set(key, (this.#suppressed.get(key) ?? 0) + 1);
    // A timer, not the next call, reports the count: the burst may be the last thing that happens.
    this.#flushTimer ??= setTimeout(() => this.flush(), Math.max(0, this.#windowEnd - now)).unref();
    return false;
  }

  /** Reports what was held back so far and starts counting afresh (also called by the window's timer). */
  flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const [key, n] of this.#suppressed) this.report(key, n, this.#windowMs);
    this.#suppressed.clear();
    this.#counts.clear();
    this.#windowEnd = 0;
  }

  #startWindow(now: number): void {
    if (this.#suppressed.size > 0) this.flush();
    this.#counts.clear();
    this.#windowEnd = now + this.#windowMs;
  }
}
