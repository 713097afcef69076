/**
 * `SMKIT_BIDI_STREAMS_MAX` across `smkit serve`'s worker processes: each bidirectional stream holds
 * one of the server's slots, from the handshake its worker accepts until its connection has closed.
 * Workers ask the primary for a slot and give it back; the primary counts them per worker, so a
 * worker that dies gives back its own.
 */

/** Where a {@link BidiFront} takes a slot for each stream it opens, and gives it back. */
export interface StreamSlots {
  /** Resolves true with a slot taken, false when the server holds every slot already. */
  take(): Promise<boolean>;
  /** Gives back a slot {@link take} granted. */
  give(): void;
}

/** The worker's messages about slots, and the primary's answer. */
export type SlotRequest = { type: 'bidi-slot'; id: number };
export type SlotReturn = { type: 'bidi-slot-free' };
export type SlotAnswer = { type: 'bidi-slot-answer'; id: number; granted: boolean };

/** The worker side: each slot is asked of the primary. */
export class ClusterStreamSlots implements StreamSlots {
  #nextId = 1;
  readonly #waiting = new Map<number, (granted: boolean) => void>();

  /** @param send sends to the primary; false when the channel is closed (the worker is exiting). */
  constructor(private readonly send: (msg: SlotRequest | SlotReturn) => boolean) {}

  take(): Promise<boolean> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      if (!this.send({ type: 'bidi-slot', id })) this.onAnswer({ type: 'bidi-slot-answer', id, granted: false });
    });
  }

  give(): void {
    this.send({ type: 'bidi-slot-free' });
  }

  /** The primary's answer to {@link take}. */
  onAnswer(msg: SlotAnswer): void {
    const resolve = this.#waiting.get(msg.id);
    this.#waiting.delete(msg.id);
    resolve?.(msg.granted);
  }

  /** The primary is gone: no slot asked for will be granted. */
  abandon(): void {
    for (const resolve of this.#waiting.values()) resolve(false);
    this.#waiting.clear();
  }
}

/** The primary side: the slots each worker holds, at most `max` in all. */
export class StreamSlotCounter {
  readonly #held = new Map<number, number>();
  #total = 0;

  constructor(private readonly max: number) {}

  /** Takes a slot for worker `id`; false when every slot is held. */
  take(id: number): boolean {
    if (this.#total >= this.max) return false;
    this.#total += 1;
    this.#held.set(id, (this.#held.get(id) ?? 0) + 1);
    return true;
  }

  /** Worker `id` gives back one of its slots. */
  give(id: number): void {
    const held = this.#held.get(id) ?? 0;
    if (held === 0) return;
    this.#held.set(id, held - 1);
    this.#total -= 1;
  }

  /** Worker `id` exited: every slot it held is free. */
  forget(id: number): void {
    this.#total -= this.#held.get(id) ?? 0;
    this.#held.delete(id);
  }

  /** The slots held now, by every worker. */
  get total(): number {
    return this.#total;
  }
}
