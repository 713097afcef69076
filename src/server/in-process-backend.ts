import { ToolkitError } from '../errors/catalogue.js';
import type { Logger } from '../core/context.js';
import { InferenceEngine, type EngineOptions, type EngineDescription, type InvocationRequest, type InvocationResponse } from '../handlers/engine.js';
import type { BackendState, InferenceBackend } from './inference-worker.js';

/**
 * Runs the engine on the calling thread. For embedding the HTTP app in tests and tools; `smkit
 * serve` uses {@link InferenceWorker} so user code never blocks `/ping`.
 */
export class InProcessBackend implements InferenceBackend {
  #engine?: InferenceEngine;
  #state: BackendState = 'loading';
  #failure?: ToolkitError;
  readonly loaded: Promise<void>;

  constructor(options: EngineOptions, private readonly log: Logger) {
    this.loaded = InferenceEngine.load(options).then(
      (engine) => {
        this.#engine = engine;
        this.#state = 'ready';
      },
      (err: unknown) => {
        this.#state = 'failed';
        this.#failure = err instanceof ToolkitError ? err : new ToolkitError('ERR_MODEL_LOAD', String((err as Error)?.message ?? err));
      },
    );
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
    try {
      return await Promise.race([this.#engine.invoke(request, this.log), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#engine?.dispose();
  }
}
