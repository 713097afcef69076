import { ToolkitError } from '../errors/catalogue.js';
import type { EngineDescription, InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import type { SmkitLogger } from '../logging/logger.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import type { InferenceModeChoice } from './inference-mode.js';

/**
 * Bodies up to this size may run on the HTTP thread. Decoding and encoding them takes about a
 * millisecond with smkit's codecs, so even many at once keep `/ping` well under SageMaker's 2 s;
 * larger bodies and multipart forms (image decoding) always go to the inference thread.
 */
export const INLINE_MAX_BYTES = 256 * 1024;

/** What a {@link SizeRoutedBackend} starts. */
export interface SizeRoutedOptions {
  /** Where the model may run; decided from the model directory (see `chooseInferenceMode`). */
  readonly mode: Promise<InferenceModeChoice>;
  /** Starts the engine on the HTTP thread. */
  readonly inline: () => InferenceBackend;
  /** Starts the engine in an inference thread. */
  readonly thread: () => InferenceBackend;
  readonly log: SmkitLogger;
  readonly inlineMaxBytes?: number;
}

/**
 * `SMKIT_INFERENCE_MODE=auto`: a model that can run inline (see `chooseInferenceMode`) serves small
 * plain bodies on the HTTP thread, which saves the thread hop that a one-row request is mostly made
 * of, and sends large bodies and multipart forms to an inference thread, so no legal request holds
 * the event loop that answers `/ping`. Other models run in the thread only. The thread starts once
 * the inline engine is ready, so it does not slow the first `/ping` 200.
 */
export class SizeRoutedBackend implements InferenceBackend {
  #inline: InferenceBackend | undefined;
  #thread: InferenceBackend | undefined;
  #closed = false;
  readonly #settled: Promise<void>;
  readonly #inlineMaxBytes: number;

  constructor(options: SizeRoutedOptions) {
    this.#inlineMaxBytes = options.inlineMaxBytes ?? INLINE_MAX_BYTES;
    this.#settled = options.mode.then(async (choice) => {
      options.log.debug({ ...choice }, 'inference mode');
      if (this.#closed) return;
      if (choice.mode === 'thread') {
        this.#thread = options.thread();
        return this.#thread.whenSettled();
      }
      const inline = options.inline();
      this.#inline = inline;
      await inline.whenSettled();
      if (inline.state() === 'ready' && !this.#closed) this.#thread = options.thread();
    });
  }

  /** The backend `/ping` reports: the inline engine when there is one, else the thread. */
  #primary(): InferenceBackend | undefined {
    return this.#inline ?? this.#thread;
  }

  state(): BackendState {
    return this.#primary()?.state() ?? 'loading';
  }

  failure(): ToolkitError | undefined {
    return this.#primary()?.failure();
  }

  describe(): EngineDescription | undefined {
    return this.#primary()?.describe();
  }

  whenSettled(): Promise<void> {
    return this.#settled;
  }

  invoke(request: InvocationRequest, timeoutMs: number): Promise<InvocationResponse> {
    const inline = this.#inline;
    const small = !request.parts && request.body.length <= this.#inlineMaxBytes;
    if (inline && (small || !this.#thread)) return inline.invoke(request, timeoutMs);
    const target = this.#thread ?? this.#primary();
    if (!target) return Promise.reject(new ToolkitError('ERR_NOT_READY', 'the model is still loading; retry when GET /ping answers 200'));
    return target.invoke(request, timeoutMs);
  }

  async close(graceMs = 0, reason?: ToolkitError): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#inline?.close(graceMs, reason), this.#thread?.close(graceMs, reason)]);
  }
}
