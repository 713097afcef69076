import type { SageMakerHeaders } from '../core/context.js';

/**
 * One whole WebSocket message of a bidirectional stream (its fragments joined), as it crosses from
 * the HTTP thread to the inference thread and back. `binary` false means a text frame (UTF-8).
 */
export interface BidiFrame {
  readonly data: Uint8Array;
  readonly binary: boolean;
  /**
   * True for a frame that more of the same message follow (no FIN bit: a `PayloadPart` whose
   * `CompletionState` is `PARTIAL`); absent or false for a frame that ends its message. Only replies
   * are sent in parts: the client's messages reach the model joined.
   */
  readonly partial?: boolean;
}

/** What is known of a bidirectional stream when its WebSocket opens. */
export interface BidiRequest {
  readonly requestId: string;
  /** The WebSocket path (`/invocations-bidirectional-stream`). */
  readonly path: string;
  /** The query string's parameters (SageMaker's `ModelQueryString`), decoded. */
  readonly query: Readonly<Record<string, string>>;
  readonly headers: SageMakerHeaders;
}

/** The path SageMaker opens the WebSocket on, unless the client names another (`ModelInvocationPath`). */
export const BIDI_PATH = '/invocations-bidirectional-stream';

/** An iterable that fails at once with `err` (a stream that could not open). */
// eslint-disable-next-line require-yield
export async function* failing(err: unknown): AsyncIterable<never> {
  throw err;
}
