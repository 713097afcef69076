/** How the HTTP side steers the producer of a streamed answer on the inference thread. */
export interface ChunkFlow {
  /** One chunk was taken by the HTTP response: the producer may send one more. */
  consumed(): void;
  /** The client went away: the producer should stop (its iterator's `return()` is called). */
  cancel(): void;
}

/**
 * An async iterable fed by pushes: the chunks of a streamed answer arriving from the inference
 * thread one message at a time. It never holds more than the producer's window (the producer sends
 * one chunk per {@link ChunkFlow.consumed}), so a client that stops reading stops the producer.
 * `return()` (the consumer giving up) cancels the producer at once, even while a `next()` waits.
 */
export class ChunkQueue<T = Uint8Array> implements AsyncIterable<T> {
  readonly #chunks: T[] = [];
  #done = false;
  #error: unknown;
  #waiter: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | undefined;

  constructor(private readonly flow: ChunkFlow) {}

  push(chunk: T): void {
    if (this.#done) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      this.flow.consumed();
      waiter.resolve({ value: chunk, done: false });
    } else this.#chunks.push(chunk);
  }

  end(): void {
    this.#done = true;
    this.#settleWaiter();
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = error ?? new Error('stream failed');
    this.#done = true;
    this.#settleWaiter();
  }

  #settleWaiter(): void {
    const waiter = this.#waiter;
    if (!waiter || this.#chunks.length > 0) return;
    this.#waiter = undefined;
    if (this.#error !== undefined) waiter.reject(this.#error);
    else waiter.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#chunks.length > 0) {
          const chunk = this.#chunks.shift()!;
          this.flow.consumed();
          return Promise.resolve({ value: chunk, done: false });
        }
        if (this.#error !== undefined) return Promise.reject(this.#error);
        if (this.#done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
      },
      return: () => {
        if (!this.#done) {
          this.#done = true;
          this.#chunks.length = 0;
          this.flow.cancel();
        }
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter?.resolve({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
