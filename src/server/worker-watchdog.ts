/**
 * Replacing an HTTP worker process whose event loop no longer turns.
 *
 * With `SMKIT_INFERENCE_MODE=inline` handler code runs on the worker's own event loop: a
 * `predictFn` stuck in `while (true) {}`, a catastrophic regular expression or a huge synchronous
 * computation holds the process for good, its connections (and SageMaker's `/ping` on them)
 * unanswered, and it never ends by itself. So each worker sends the primary a heartbeat over the
 * cluster channel every {@link heartbeatMs} (one timer per worker, not per request), and the
 * primary kills (`SIGKILL`) a worker it has not heard from for longer than its bound, which the
 * usual replacement path then replaces: as gunicorn kills a worker silent for longer than its
 * `--timeout`, and TorchServe ends a worker that does not answer within its response timeout.
 */

/** How often a worker sends its heartbeat: a quarter of the bound, at most once a second. */
export function heartbeatMs(blockedTimeoutSeconds: number): number {
  return Math.min(1000, (blockedTimeoutSeconds * 1000) / 4);
}

/**
 * The primary's side: how long each worker has been silent. Silence is counted in the primary's
 * own ticks, each adding at most one heartbeat interval: a primary that was itself held up (a
 * loaded machine, a long collection) has not read the heartbeats waiting on its channel yet, and
 * must not take that for its workers' silence.
 */
export class WorkerWatchdog {
  readonly #silentMs = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;
  #stopped = false;

  /**
   * @param intervalMs - how often the workers send heartbeats and silence is checked.
   * @param boundMs - how long worker `id` may be silent now.
   * @param onBlocked - worker `id` has been silent for `silentMs`, longer than its bound; it is no longer watched.
   */
  constructor(
    private readonly intervalMs: number,
    private readonly boundMs: (id: number) => number,
    private readonly onBlocked: (id: number, silentMs: number) => void,
  ) {}

  /** Worker `id` sent a heartbeat (or said hello): it is watched, its silence starting now. */
  heard(id: number): void {
    if (this.#stopped) return;
    this.#silentMs.set(id, 0);
    if (this.#timer) return;
    this.#lastTick = Date.now();
    this.#timer = setInterval(() => this.tick(Date.now()), this.intervalMs).unref();
  }

  /** Stops watching a worker that exited. */
  forget(id: number): void {
    this.#silentMs.delete(id);
  }

  /** Stops watching every worker (the server is stopping: its workers have their grace period). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#silentMs.clear();
  }

  /** Adds the time since the last tick, at most one interval, to every worker's silence. Called by the timer; public for tests. */
  tick(now: number): void {
    const elapsed = Math.min(Math.max(0, now - this.#lastTick), this.intervalMs);
    this.#lastTick = now;
    for (const [id, silent] of this.#silentMs) {
      const total = silent + elapsed;
      this.#silentMs.set(id, total);
      if (total <= this.boundMs(id)) continue;
      this.#silentMs.delete(id);
      this.onBlocked(id, total);
    }
  }
}
