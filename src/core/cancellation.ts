import { ToolkitError } from '../errors/catalogue.js';

/**
 * Where a cancellation learns that the client went away: an HTTP response (`ServerResponse` fits)
 * is destroyed once its connection closes before the answer was sent.
 */
export interface ClientConnection {
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  on(event: 'close', listener: () => void): unknown;
}

/** The reason given when the client closed its connection before its answer was ready. */
export function clientGoneError(): ToolkitError {
  return new ToolkitError('ERR_CLIENT_GONE', 'the client closed the connection before the answer was ready; the request was dropped');
}

/** A signal that never aborts, for invocations nobody can cancel (tests, in-process callers). */
const NEVER_ABORTED = new AbortController().signal;

/**
 * Whether the caller of one invocation has given up, and why: its deadline passed
 * (`SAGEMAKER_MODEL_SERVER_TIMEOUT`), its client disconnected, or the server stopped. Work that has
 * not started yet, such as a request waiting for a batch, is skipped once this is set, so a
 * backlog of abandoned requests does not hold the model; user code follows it through `ctx.signal`.
 *
 * Cheap to create for every request: the `AbortSignal` (about 3 µs to make) is made only when user
 * code asks for it, and a client's disconnect is read from its connection when asked
 * ({@link cancelled}): a `close` listener per request costs more than the checks, so one is added
 * only for a {@link signal} (which must abort on its own).
 */
export class Cancellation {
  #cancelled = false;
  #reason: unknown;
  #controller: AbortController | undefined;

  constructor(private readonly client?: ClientConnection) {}

  /** True once the caller gave up. */
  get cancelled(): boolean {
    if (this.#cancelled) return true;
    if (this.client?.destroyed && !this.client.writableFinished) {
      this.cancel(clientGoneError());
      return true;
    }
    return false;
  }

  /** Why the caller gave up (an error such as `ERR_TIMEOUT`); undefined while it still waits. */
  get reason(): unknown {
    return this.cancelled ? this.#reason : undefined;
  }

  /** An `AbortSignal` that aborts (with {@link reason}) when the caller gives up. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.cancelled) this.#controller.abort(this.#reason);
      else this.#listenToClient();
    }
    return this.#controller.signal;
  }

  /** Records that the caller gave up (the first reason wins) and aborts {@link signal}. */
  cancel(reason: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  #listenToClient(): void {
    const client = this.client;
    // 'close' comes once: `on` spares the wrapper `once` makes.
    client?.on('close', () => {
      if (!client.writableFinished) this.cancel(clientGoneError());
    });
  }

  /** The signal of `cancellation`, or one that never aborts. */
  static signalOf(cancellation: Cancellation | undefined): AbortSignal {
    return cancellation ? cancellation.signal : NEVER_ABORTED;
  }
}

/**
 * The key under which the engine puts an invocation's {@link Cancellation} on its context, for the
 * steps that pass it on to their runtime (not part of the context user code sees).
 */
export const CANCELLATION: unique symbol = Symbol('smkit.cancellation');

/** The cancellation the engine attached to `ctx`, if any. */
export function cancellationOf(ctx: object | undefined): Cancellation | undefined {
  return (ctx as { [CANCELLATION]?: Cancellation } | undefined)?.[CANCELLATION];
}
