import type { BidiFrame } from '../../core/bidi-frame.js';

/** What a {@link FrameInbox} reads from: a `ws` WebSocket fits. */
export interface MessageSource {
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  pause(): void;
  resume(): void;
}

/**
 * Messages held before the WebSocket stops reading from its connection. Few: a message may be as
 * large as `SAGEMAKER_MAX_PAYLOAD_IN_MB`, and every open stream may hold this many.
 */
export const INBOX_HIGH_WATER = 2;

/**
 * A message's bytes in a buffer of their own. `ws` hands every empty message the same Buffer (its
 * `EMPTY_BUFFER`): an inference thread moving that one would detach it for every stream of the
 * process, and the next empty message on any of them could no longer be read (4500).
 */
function asBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data.byteLength === 0) return new Uint8Array(0);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

/**
 * The client's messages as an async iterable. While {@link INBOX_HIGH_WATER} messages wait to be
 * read, the WebSocket stops reading its connection, so a client that sends faster than the model
 * answers fills its own TCP window rather than this process's memory. It ends when the client
 * closes the WebSocket.
 */
export class FrameInbox implements AsyncIterable<BidiFrame> {
  readonly #frames: BidiFrame[] = [];
  #ended = false;
  #paused = false;
  #waiter: ((r: IteratorResult<BidiFrame>) => void) | undefined;

  /** @param onRead called each time a message is handed to the reader (oldest first). */
  constructor(
    private readonly source: MessageSource,
    private readonly onRead?: () => void,
  ) {
    source.on('message', (data, isBinary) => this.#push({ data: asBytes(data), binary: isBinary }));
    source.on('close', () => this.end());
  }

  #push(frame: BidiFrame): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      this.onRead?.();
      waiter({ value: frame, done: false });
      return;
    }
    this.#frames.push(frame);
    if (this.#frames.length >= INBOX_HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.source.pause();
    }
  }

  /** No more messages will be read (the client closed, or the stream's reader stopped). */
  end(): void {
    this.#ended = true;
    // A paused WebSocket would not read the client's answer to its close frame either: ws would
    // wait its whole close timeout (30 s) before dropping the connection.
    if (this.#paused) {
      this.#paused = false;
      this.source.resume();
    }
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (this.#frames.length === 0) waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<BidiFrame> {
    return {
      next: () => {
        const frame = this.#frames.shift();
        if (frame) {
          this.onRead?.();
          if (this.#paused && this.#frames.length <= INBOX_HIGH_WATER / 2) {
            this.#paused = false;
            this.source.resume();
          }
          return Promise.resolve({ value: frame, done: false });
        }
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.#waiter = resolve));
      },
      return: () => {
        this.#frames.length = 0;
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
