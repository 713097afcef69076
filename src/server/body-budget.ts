import { ToolkitError } from '../errors/catalogue.js';

function megabytes(bytes: number): string {
  return `${+(bytes / (1024 * 1024)).toFixed(2)} MB`;
}

/**
 * The memory all the request bodies one HTTP worker holds may take together
 * (`SMKIT_BODY_MEMORY_MB`): from the first byte read until the invocation is answered, whether the
 * body is still arriving, waiting for the model or being answered; bidirectional streams' messages
 * take from it too until the model's code takes them (`bidi/message-bytes.ts`). Each body is
 * bounded by the payload limit and the body timeout; this bounds their sum, which otherwise grows
 * with the connections a client opens (a thousand slow 6 MB uploads hold 6 GB).
 */
export class BodyBudget {
  /** Bytes taken now. */
  private taken = 0;

  /** @param maxBytes the most all bodies may hold together. */
  constructor(readonly maxBytes: number) {}

  /** The bytes the bodies hold now (`smkit_request_body_bytes`). */
  get held(): number {
    return this.taken;
  }

  /** Whether `bytes` more would still fit (nothing is taken). */
  fits(bytes: number): boolean {
    return this.taken + bytes <= this.maxBytes;
  }

  /** Takes `bytes` if they fit; false, taking nothing, when they would go over. */
  take(bytes: number): boolean {
    if (this.taken + bytes > this.maxBytes) return false;
    this.taken += bytes;
    return true;
  }

  /** Gives back bytes taken before. */
  give(bytes: number): void {
    this.taken -= bytes;
  }

  /** The 503 for a body that does not fit: the server is busy, not the request wrong, so a retry may pass. */
  refusal(): ToolkitError {
    return new ToolkitError(
      'ERR_SERVER_BUSY',
      `the request bodies this worker holds already take ${megabytes(this.taken)} of the ${megabytes(this.maxBytes)} SMKIT_BODY_MEMORY_MB allows; retry shortly, send smaller bodies, or raise SMKIT_BODY_MEMORY_MB`,
    );
  }
}
