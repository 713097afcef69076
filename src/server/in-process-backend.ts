import { ToolkitError } from '../errors/catalogue.js';
import { loadFailureReason } from './load-failure.js';
import { invocationTimeout } from './timeout-error.js';
import type { ServerLogger } from '../logging/server-logger.js';
import { InferenceEngine, type EngineOptions, type EngineDescription, type InvocationRequest, type InvocationResponse } from '../handlers/engine.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import { DeadlineWatch } from '../core/deadline-watch.js';
import type { Cancellation } from '../core/cancellation.js';
import { failing, type BidiFrame, type BidiRequest } from '../core/bidi-frame.js';

/** How often in-flight invocations are checked against their deadlines; a timeout fires this late at most. */
export const DEADLINE_CHECK_MS = 100;

/**
 * Runs the engine on the calling thread: no thread hop per request. `smkit serve` uses it for
 * models that cannot hold the event loop (see `chooseInferenceMode`), and tests embed it; user code
 * runs in an {@link InferenceWorker} instead so it never blocks `/ping`.
 */
export class InProcessBackend implements InferenceBackend {
  #engine?: InferenceEngine;
  #state: BackendState = 'loading';
  #failure?: ToolkitError;
  /** Invocations in flight, as their deadlines: one timer checks them all, and closing fails each. */
  readonly #deadlines = new DeadlineWatch(DEADLINE_CHECK_MS);
  /** Streamed answers in flight: how to fail each. */
  readonly #streams = new Set<(err: ToolkitError) => void>();
  #idleWaiters: (() => void)[] = [];
  #closedWith?: ToolkitError;
  readonly loaded: Promise<void>;
  /** Set when user code runs per invocation: its `context.log` then carries the request's id, as in the thread. */
  #requestLogs = false;

  constructor(options: EngineOptions, private readonly log: ServerLogger) {
    this.loaded = InferenceEngine.load(options).then(
      (engine) => {
        this.#engine = engine;
        this.#requestLogs = engine.runsUserCode;
        this.#state = 'ready';
        log.info({ mode: 'inline', ...engine.describe() }, 'model ready');
      },
      (err: unknown) => {
        this.#state = 'failed';
        this.#failure = err instanceof ToolkitError ? err : new ToolkitError('ERR_MODEL_LOAD', String((err as Error)?.message ?? err));
        log.error({ err, code: this.#failure.code, reason: this.#failure.message }, 'model failed to load');
      },
    );
  }

  /** Resolves once the model is loaded or has failed to load. */
  whenSettled(): Promise<void> {
    return this.loaded;
  }

  state(): BackendState {
    return this.#state;
  }

  failure(): ToolkitError | undefined {
    return this.#failure;
  }

  describe(): EngineDescription | undefined {
    return this.#engine?.describe();
  }

  /**
   * Runs one invocation. It fails with `ERR_TIMEOUT` once `timeoutMs` has passed (checked every
   * {@link DEADLINE_CHECK_MS}), or with the close reason if the backend closes first; the engine's
   * late answer is then dropped.
   */
  invoke(request: InvocationRequest, timeoutMs: number, limitMs = timeoutMs): Promise<InvocationResponse> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    const engine = this.#engine;
    if (!engine) return Promise.reject(new ToolkitError('ERR_NOT_READY', this.#failure ? `the model failed to load: ${loadFailureReason(this.#failure)}` : 'the model is still loading'));
    return new Promise<InvocationResponse>((resolve, reject) => {
      const deadline = this.#deadlines.watch(timeoutMs, (reason = invocationTimeout(limitMs, engine.describe())) => {
        // A request still waiting for a batch is dropped there; user code sees ctx.signal abort.
        request.cancellation?.cancel(reason);
        reject(reason);
        this.#checkIdle();
      });
      // A child logger per request only where user code may log: smkit's own steps log nothing per request.
      engine.invoke(request, this.#requestLogs ? this.log.child({ requestId: request.requestId }) : this.log).then(
        (response) => {
          // A call that timed out (or was failed by close) is no longer watched: its answer is dropped.
          if (!this.#deadlines.cancel(deadline)) return;
          if (response.stream) response.stream = this.#tracked(response.stream);
          resolve(response);
          this.#checkIdle();
        },
        (err: unknown) => {
          if (!this.#deadlines.cancel(deadline)) return;
          reject(err);
          this.#checkIdle();
        },
      );
    });
  }

  openBidi(request: BidiRequest, frames: AsyncIterable<BidiFrame>, cancellation: Cancellation, taken?: () => void): AsyncIterable<BidiFrame> {
    const engine = this.#engine;
    if (this.#closedWith) return failing(this.#closedWith);
    if (!engine) return failing(new ToolkitError('ERR_NOT_READY', 'the model is still loading'));
    return this.#tracked(engine.openBidi(request, taken ? takenOneByOne(frames, taken) : frames, this.log.child({ requestId: request.requestId }), cancellation));
  }

  /** A streamed answer counted as in flight until it ends, fails or its consumer leaves. */
  async *#tracked<T>(stream: AsyncIterable<T>): AsyncIterable<T> {
    let closedWith: ToolkitError | undefined;
    const answer = (err: ToolkitError) => (closedWith = err);
    this.#streams.add(answer);
    try {
      for await (const chunk of stream) {
        if (closedWith) throw closedWith;
        yield chunk;
      }
    } finally {
      this.#streams.delete(answer);
      this.#checkIdle();
    }
  }

  /** Invocations and streamed answers in flight. */
  get #inFlight(): number {
    return this.#deadlines.size + this.#streams.size;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length > 0 && this.#inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /**
   * Waits for in-flight invocations and streamed answers (up to `graceMs`), then releases the
   * model; what is still running then fails with `reason`.
   */
  async close(graceMs = 0, reason = new ToolkitError('ERR_SHUTTING_DOWN', 'the server stopped before this request finished')): Promise<void> {
    if (this.#inFlight > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    this.#closedWith = reason;
    this.#deadlines.expireAll(reason);
    for (const fail of [...this.#streams]) {
      this.#streams.delete(fail);
      fail(reason);
    }
    await this.#engine?.dispose();
  }
}

/** `frames` as `bidiFn` reads them here, in this thread: `taken` is called as each is handed over. */
async function* takenOneByOne(frames: AsyncIterable<BidiFrame>, taken: () => void): AsyncIterable<BidiFrame> {
  for await (const frame of frames) {
    taken();
    yield frame;
  }
}
