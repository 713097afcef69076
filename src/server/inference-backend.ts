import type { ToolkitError } from '../errors/catalogue.js';
import type { EngineDescription, InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';
import type { Cancellation } from '../core/cancellation.js';

/** Readiness as `/ping` reports it. */
export type BackendState = 'loading' | 'ready' | 'failed';

/**
 * What the HTTP front needs from whatever runs inference: an inference thread
 * ({@link InferenceWorker}), the calling thread ({@link InProcessBackend}), or both
 * ({@link SizeRoutedBackend}).
 */
export interface InferenceBackend {
  state(): BackendState;
  /** Why loading failed, when it did. */
  failure(): ToolkitError | undefined;
  describe(): EngineDescription | undefined;
  /**
   * Runs one invocation. `timeoutMs` counts from this call (the request's arrival at the backend),
   * including any time spent waiting in a queue. `limitMs` is the timeout the request had when it
   * arrived at the server, which an `ERR_TIMEOUT` quotes: more than `timeoutMs` when time has
   * passed since (a wait for the model's load). @defaultValue timeoutMs
   */
  invoke(request: InvocationRequest, timeoutMs: number, limitMs?: number): Promise<InvocationResponse>;
  /**
   * Serves one bidirectional stream with the handler's `bidiFn` (only when `describe().hooks` lists
   * it): `frames` are the client's messages, the result the replies. Ending the result early
   * (`return()`) stops `bidiFn`; `cancellation` tells it why (`ctx.signal`). A stream is in flight
   * for {@link close} until it ends. `taken` is called each time `bidiFn` takes one of `frames`
   * (in order): a message read from `frames` may still wait on its way to it (in the thread).
   */
  openBidi?(request: BidiRequest, frames: AsyncIterable<BidiFrame>, cancellation: Cancellation, taken?: () => void): AsyncIterable<BidiFrame>;
  /** Resolves once the model is loaded or has failed to load. */
  whenSettled(): Promise<void>;
  /**
   * Waits for in-flight invocations and streamed answers up to `graceMs`, then releases everything;
   * what is still running then fails at once with `reason` (default 503 `ERR_SHUTTING_DOWN`).
   */
  close(graceMs?: number, reason?: ToolkitError): Promise<void>;
}
