/** An abort signal that fires after a time limit, and a way to disarm it once the work is done. */
export interface Deadline {
  /** Aborted with a `TimeoutError` DOMException once the time limit passes, as `AbortSignal.timeout`'s. */
  readonly signal: AbortSignal;
  /** Disarms the timer: call once the work the signal guards has ended. */
  clear(): void;
}

/**
 * A time limit for one request, in place of `AbortSignal.timeout(ms)` on the invocation path. On
 * Node 20 each `AbortSignal.timeout` costs about 13 µs of CPU (its signal is made transferable) and
 * leaves its timer armed until the limit passes, though the request ended long before: at a few
 * thousand invocations a second, a minute's worth of timers. This one costs about 1 µs and is
 * disarmed by {@link Deadline.clear}.
 */
export function deadline(timeoutMs: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeoutMs);
  // A pending request keeps the process alive by its socket; the limit alone should not.
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
