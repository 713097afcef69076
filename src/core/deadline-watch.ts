/** A deadline being watched; pass it to {@link DeadlineWatch.cancel}. */
export interface Deadline {
  /** When it expires (`performance.now()` ms). */
  readonly at: number;
  readonly onExpire: () => void;
}

/**
 * Many deadlines checked by one timer. A request's own `setTimeout` costs a timer-list insert and
 * removal on the one-row hot path; here a deadline is a set insert, checked every `everyMs`, so it
 * fires up to that much late. The timer runs only while deadlines are watched, and does not keep
 * the process alive.
 */
export class DeadlineWatch {
  readonly #deadlines = new Set<Deadline>();
  #timer: NodeJS.Timeout | undefined;

  /** @param everyMs how often deadlines are checked: how late one may fire at most. */
  constructor(private readonly everyMs = 100) {}

  /** Calls `onExpire` once `ms` have passed, unless cancelled before. */
  watch(ms: number, onExpire: () => void): Deadline {
    const deadline = { at: performance.now() + ms, onExpire };
    this.#deadlines.add(deadline);
    this.#timer ??= setInterval(() => this.#check(), this.everyMs).unref();
    return deadline;
  }

  /** Stops watching; false if it had already expired (or was cancelled). */
  cancel(deadline: Deadline): boolean {
    return this.#deadlines.delete(deadline);
  }

  /** Stops watching every deadline (none fires) and stops the timer. */
  clear(): void {
    this.#deadlines.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Deadlines being watched. */
  get size(): number {
    return this.#deadlines.size;
  }

  #check(): void {
    const now = performance.now();
    for (const deadline of this.#deadlines) {
      if (deadline.at > now) continue;
      this.#deadlines.delete(deadline);
      deadline.onExpire();
    }
    if (this.#deadlines.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
