import { ToolkitError } from '../errors/catalogue.js';
import type { ServerLogger } from '../logging/server-logger.js';
import { InferenceEngine, type EngineOptions, type EngineDescription, type InvocationRequest, type InvocationResponse } from '../handlers/engine.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';

/**
 * Runs the engine on the calling thread: no thread hop per request. `smkit serve` uses it for
 * models that cannot hold the event loop (see `chooseInferenceMode`), and tests embed it; user code
 * runs in an {@link InferenceWorker} instead so it never blocks `/ping`.
 */
export class InProcessBackend implements InferenceBackend {
  #engine?: InferenceEngine;
  #state: BackendState = 'loading';
  #failure?: ToolkitError;
  /** Invocations and streamed answers in flight, each with a way to fail it at close. */
  readonly #inFlight = new Set<(err: ToolkitError) => void>();
  #idleWaiters: (() => void)[] = [];
  #closedWith?: ToolkitError;
  readonly loaded: Promise<void>;

  constructor(options: EngineOptions, private readonly log: ServerLogger) {
    this.loaded = InferenceEngine.load(options).then(
      (engine) => {
        this.#engine = engine;
        this.#state = 'ready';
        log.info({ mode: 'inline', ...engine.describe() }, 'model ready');
      },
      (err: unknown) => {
        this.#state = 'failed';
        this.#failure = err instanceof ToolkitError ? err : new ToolkitError('ERR_MODEL_LOAD', String((err as Error)?.message ?? err));
        log.error({ err, code: this.#failure.code, reason: this.#failure.message }, 'model failed to load; /ping answers 503');
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

  async invoke(request: InvocationRequest, timeoutMs: number): Promise<InvocationResponse> {
    if (this.#closedWith) throw this.#closedWith;
    if (!this.#engine) throw new ToolkitError('ERR_NOT_READY', this.#failure ? `the model failed to load: ${this.#failure.message}` : 'the model is still loading');
    let timer: NodeJS.Timeout | undefined;
    let fail!: (err: ToolkitError) => void;
    const stopped = new Promise<never>((_, reject) => {
      fail = reject;
      timer = setTimeout(() => reject(new ToolkitError('ERR_TIMEOUT', `the invocation took longer than ${timeoutMs / 1000} s`)), timeoutMs);
    });
    this.#inFlight.add(fail);
    let response: InvocationResponse | undefined;
    try {
      response = await Promise.race([this.#engine.invoke(request, this.log), stopped]);
      return response;
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(fail);
      if (response?.stream) response.stream = this.#tracked(response.stream);
      this.#checkIdle();
    }
  }

  /** A streamed answer counted as in flight until it ends, fails or its consumer leaves. */
  async *#tracked(stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    let closedWith: ToolkitError | undefined;
    const fail = (err: ToolkitError) => (closedWith = err);
    this.#inFlight.add(fail);
    try {
      for await (const chunk of stream) {
        if (closedWith) throw closedWith;
        yield chunk;
      }
    } finally {
      this.#inFlight.delete(fail);
      this.#checkIdle();
    }
  }

  #checkIdle(): void {
    if (this.#inFlight.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /**
   * Waits for in-flight invocations and streamed answers (up to `graceMs`), then releases the
   * model; what is still running then fails with `reason`.
   */
  async close(graceMs = 0, reason = new ToolkitError('ERR_SHUTTING_DOWN', 'the server stopped before this request finished')): Promise<void> {
    if (this.#inFlight.size > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    this.#closedWith = reason;
    for (const fail of this.#inFlight) fail(reason);
    await this.#engine?.dispose();
  }
}
