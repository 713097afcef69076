/** How {@link RestartBackoff} spaces out replacements of a crashing worker. */
export interface BackoffPolicy {
  /** Delay after the first crash, doubled for each crash that follows soon after. */
  readonly baseMs: number;
  /** The longest delay. */
  readonly maxMs: number;
  /** A worker that ran this long before crashing was healthy: its next delay starts again from `baseMs`. */
  readonly healthyMs: number;
}

/** smkit serve's policy: 0.1 s, 0.2 s, 0.4 s … up to 10 s while crashes repeat; back to 0.1 s after 30 healthy seconds. */
export const WORKER_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 100, maxMs: 10_000, healthyMs: 30_000 });

/**
 * Exponential backoff for replacing crashed worker processes, per worker slot. A crash loop slows
 * down (so a broken model does not fork hundreds of processes), but a single crash after a healthy
 * spell is replaced at once instead of paying for crashes long past.
 */
export class RestartBackoff {
  readonly #slots = new Map<number, { startedAt: number; crashes: number }>();

  constructor(
    private readonly policy: BackoffPolicy = WORKER_BACKOFF,
    private readonly now: () => number = Date.now,
  ) {}

  /** Slot `index` started a worker now. */
  started(index: number): void {
    const slot = this.#slots.get(index);
    if (slot) slot.startedAt = this.now();
    else this.#slots.set(index, { startedAt: this.now(), crashes: 0 });
  }

  /**
   * Slot `index`'s worker died: how long to wait before starting its replacement. One that never
   * `served` (it ended because it could not load the model) had no healthy spell, however long it ran.
   */
  delayAfterCrash(index: number, { served = true }: { served?: boolean } = {}): number {
    const slot = this.#slots.get(index) ?? { startedAt: this.now(), crashes: 0 };
    slot.crashes = served && this.now() - slot.startedAt >= this.policy.healthyMs ? 1 : slot.crashes + 1;
    this.#slots.set(index, slot);
    return Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** (slot.crashes - 1));
  }
}
