import { setTimeout as sleep } from 'node:timers/promises';

/** A probe's answer while the awaited condition does not hold yet. */
export type NotYet = undefined | null | false;

/** How {@link until} polls. */
export interface UntilOptions {
  /** Give up after this long (default 60 s: generous for a loaded 2-core machine). */
  timeoutMs?: number;
  /**
   * Pause between probes (default 50 ms). 100 ms saved no CPU beyond run-to-run noise in the files
   * leaning on the default (serve-bidi, serve-multi-model, websocket-front, start-local, each pair
   * run back to back); callers whose probes cost something (SDK calls, HTTP to a child) pass their own.
   */
  intervalMs?: number;
  /** Run between probes instead of pausing (e.g. send traffic a metric needs). */
  between?: () => Promise<unknown>;
  /**
   * Treat a probe that throws as "not yet" (e.g. a server still starting refuses connections);
   * the last error is named in the failure message. By default an error fails at once.
   */
  retryErrors?: boolean;
  /** Extra text for the failure message, read when the deadline passes (e.g. a child's output). */
  detail?: () => string;
}

/** Default deadline of {@link until}. */
export const UNTIL_DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Polls `probe` until it returns something other than `undefined`, `null` or `false`, and returns
 * that value (so a probe can both test a condition and hand back what it found). Fails with an
 * error naming `what` was awaited once `timeoutMs` passes: tests wait for conditions with a
 * deadline instead of sleeping and hoping.
 *
 * @example
 * const reason = await until('the endpoint to fail', async () => {
 *   const d = await describe();
 *   return d.EndpointStatus === 'Failed' ? d.FailureReason : undefined;
 * });
 */
export async function until<T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, options: UntilOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? UNTIL_DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      if (!options.retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      const detail = options.detail ? `\n${options.detail()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}${detail}`);
    }
    if (options.between) await options.between();
    else await sleep(options.intervalMs ?? 50);
  }
}

/**
 * Polls `read` until its value has not changed for `quietMs` (or `deadlineMs` passes), and returns
 * it: how far a producer got once something stopped it (a client that stopped reading).
 */
export async function whenSteady(read: () => number, quietMs: number, deadlineMs: number): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(100);
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}
