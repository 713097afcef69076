import { ToolkitError } from '../errors/catalogue.js';
import type { SmkitLogger } from '../logging/logger.js';
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
  #active = 0;
  readonly loaded: Promise<void>;

  constructor(options: EngineOptions, private readonly log: SmkitLogger) {
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
    if (!this.#engine) throw new ToolkitError('ERR_NOT_READY', this.#failure ? `the model failed to load: ${this.#failure.message}` : 'the model is still loading');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ToolkitError('ERR_TIMEOUT', `the invocation took longer than ${timeoutMs / 1000} s`)), timeoutMs);
    });
    this.#active++;
    try {
      return await Promise.race([this.#engine.invoke(request, this.log), timeout]);
    } finally {
      this.#active--;
      clearTimeout(timer);
    }
  }

  /** Waits for in-flight invocations (up to `graceMs`), then releases the model. */
  async close(graceMs = 0): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.#active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.#engine?.dispose();
  }
}
