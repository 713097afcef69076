import type { BodyBudget } from '../body-budget.js';

/** What {@link MessageBytes} counts: the raw connection under a WebSocket. */
export interface ByteSource {
  prependListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/**
 * Takes the bytes a bidirectional stream receives from the worker's {@link BodyBudget}, the one
 * request bodies share, and gives them back once the message they belong to has been read by the
 * model's code: the message `ws` is still assembling and those waiting in the inbox count, so many
 * streams sending large messages slowly cannot hold more memory than the budget. Bytes are counted
 * as they arrive on the connection (frame headers and control frames too, a few bytes each); a
 * chunk read from the connection that ends one message and starts the next counts toward the first,
 * so what is given back runs ahead of the memory freed by at most one chunk (64 KB).
 */
export class MessageBytes {
  /** Bytes received since the last complete message. */
  #arriving = 0;
  /** Bytes of each complete message not yet read, oldest first. */
  readonly #waiting: number[] = [];
  #over = false;
  #closed = false;

  /**
   * @param onOver called once, when a chunk does not fit: the stream should be closed. Bytes that
   * arrive after it (while the close completes) are not counted.
   * @param isOpen whether the stream is still open: once it is closing, what the client still sends
   * is never read (ws may wait 30 s for a client that does not answer the close), so a chunk that
   * arrives then gives back every byte the stream holds, and nothing more is counted.
   */
  constructor(
    private readonly budget: BodyBudget,
    source: ByteSource,
    onOver: () => void,
    isOpen: () => boolean = () => true,
  ) {
    // Before ws's own listener: a chunk is counted (or refused) before ws keeps it, and the chunk
    // that completes a message counts toward that message.
    source.prependListener('data', (chunk) => {
      if (this.#closed) return;
      if (!isOpen()) return this.close();
      if (this.#over) return;
      if (!budget.take(chunk.length)) {
        this.#over = true;
        return onOver();
      }
      this.#arriving += chunk.length;
    });
  }

  /**
   * A whole message arrived: the bytes received since the last one are its. Once the stream is
   * closed there is nothing to count: what a client sends while the close completes (ws may wait
   * 30 s for its answer) is read and dropped, and an entry for each of its messages would grow
   * without bound (tiny frames at the connection's speed).
   */
  messageArrived(): void {
    if (this.#closed) return;
    this.#waiting.push(this.#arriving);
    this.#arriving = 0;
  }

  /** The oldest waiting message was handed to the model's code: its bytes are given back. */
  messageRead(): void {
    const bytes = this.#waiting.shift();
    if (bytes !== undefined) this.budget.give(bytes);
  }

  /** The stream ended: every byte it still holds is given back. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let held = this.#arriving;
    for (const bytes of this.#waiting) held += bytes;
    this.#waiting.length = 0;
    this.#arriving = 0;
    this.budget.give(held);
  }
}
