import { ToolkitError } from '../errors/catalogue.js';
import type { EngineDescription, InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import type { ServerLogger } from '../logging/server-logger.js';
import { modelRunClock } from '../runtimes/model-run-clock.js';
import { WorkGatedLoopDelay } from './work-gated-loop-delay.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import { loadFailureReason } from './load-failure.js';
import type { InferenceModeChoice } from './inference-mode.js';
import type { Cancellation } from '../core/cancellation.js';
import type { BidiFrame, BidiRequest } from '../core/bidi-frame.js';

/**
 * Bodies up to this size may run on the HTTP thread. Decoding and encoding them takes about a
 * millisecond with smkit's codecs, so even many at once keep `/ping` well under SageMaker's 2 s;
 * larger bodies and multipart forms (image decoding) always go to the inference thread.
 */
export const INLINE_MAX_BYTES = 256 * 1024;

/**
 * Bodies whose decoded size has nothing to do with their own: compressed pixels (a 100 KB PNG can
 * hold 30 megapixels, decoded while the calling thread waits) and deflated NPZ archives. They
 * always go to the inference thread, however small: a dozen such bodies decoded inline held `/ping`
 * for over 2 s.
 */
const EXPANDING_TYPES = /^\s*(image\/|application\/x-npz\b)/i;

/**
 * ONNX Runtime's Node binding runs a model synchronously on the calling thread, so a model that is
 * slow even on small inputs would hold the event loop. When the loop is seen blocked this long
 * (half of SageMaker's 2 s `/ping` limit) in {@link INLINE_BLOCKED_CHECKS} checks in a row, or once
 * for 2 s or more, the model moves to the inference thread for good. A single delay of a second or
 * so is more likely a starved machine than a slow model, which blocks on every request. Only the
 * part of a block the model's own runs account for counts (see model-run-clock.ts): a loop held
 * 2.3 s accepting a burst of 9 000 connections moved a one-millisecond model before.
 */
export const INLINE_MAX_BLOCK_MS = 1000;

/** Consecutive checks (one a second) that must see the loop blocked before a model leaves the HTTP thread. */
export const INLINE_BLOCKED_CHECKS = 3;

/** The longest recent event-loop delay, in ms; the default watches this process. */
export type LoopDelayProbe = () => number;

/** The longest model run since the last call, in ms; the default is {@link modelRunClock}. */
export type ModelRunProbe = () => number;

/**
 * How often the loop-delay monitor samples while models run, ms. A block is read up to this much
 * long: against the 1000 ms of {@link INLINE_MAX_BLOCK_MS}, and capped by the model's own runs,
 * 100 ms is precise enough.
 */
const LOOP_DELAY_RESOLUTION_MS = 100;

let sharedProbe: LoopDelayProbe | undefined;

/**
 * One event-loop delay monitor for the whole process (a multi-model endpoint has a backend per
 * model): the probe answers the longest delay seen in the last full window of about a second.
 *
 * It samples only while models run (see work-gated-loop-delay.ts): from a run's call (the clock
 * calls it before the run starts, so the run's block is measured) until two checks in a row have
 * found no run called and none running; the second of them has read a window without runs, so the
 * probe answers an undelayed loop while it waits for the next. An idle worker's monitor woke it 11
 * times a second for nothing (each sample, and the window's turn): the watch blames the model for
 * no more of a block than its runs in the check's window or the one before, none when it is idle.
 * A runtime the clock cannot time (it then blames the model for any block) keeps it sampling for good.
 */
function processLoopDelay(): LoopDelayProbe {
  if (sharedProbe) return sharedProbe;
  let lastMax = 0;
  const sampler: WorkGatedLoopDelay = new WorkGatedLoopDelay({
    resolutionMs: LOOP_DELAY_RESOLUTION_MS,
    busy: () => modelRunClock.blind || modelRunClock.running > 0,
    quietChecks: 2,
    onCheck: () => {
      lastMax = sampler.max / 1e6;
      sampler.reset();
    },
  });
  modelRunClock.onRun(() => sampler.markBusy());
  if (modelRunClock.blind) sampler.markBusy();
  sharedProbe = () => lastMax;
  return sharedProbe;
}

/** What a {@link SizeRoutedBackend} starts. */
export interface SizeRoutedOptions {
  /** Where the model may run; decided from the model directory (see `chooseInferenceMode`). */
  readonly mode: Promise<InferenceModeChoice>;
  /** Starts the engine on the HTTP thread. */
  readonly inline: () => InferenceBackend;
  /** Starts the engine in an inference thread (its code may be loaded first). */
  readonly thread: () => InferenceBackend | Promise<InferenceBackend>;
  readonly log: ServerLogger;
  readonly inlineMaxBytes?: number;
  /** Measures event-loop blocking while requests run inline (tests pass their own). */
  readonly loopDelay?: LoopDelayProbe;
  /** Measures the longest model run between checks (tests pass their own). */
  readonly modelRuns?: ModelRunProbe;
  /** How often the loop delay is checked, ms. @defaultValue 1000 */
  readonly checkEveryMs?: number;
}

/**
 * `SMKIT_INFERENCE_MODE=auto`: a model that can run inline (see `chooseInferenceMode`) serves small
 * plain bodies on the HTTP thread, which saves the thread hop that a one-row request is mostly made
 * of, and sends large bodies, images, NPZ archives and multipart forms to an inference thread, so no legal request holds
 * the event loop that answers `/ping`. Other models run in the thread only.
 *
 * For a model that can run inline, the thread starts with the first request that needs it (a large
 * body, or any body once the model moved off the HTTP thread), which waits until the thread has
 * loaded its copy of the model. A worker that only ever gets small bodies never loads the model
 * twice, and a new worker does not spend its first second under load starting a thread beside the
 * requests it answers (`npm run bench`, `warmup`). A thread that cannot start, or whose model fails
 * to load, is logged once, and the requests that needed it run inline; one that could not for want
 * of file descriptors (503 `ERR_SERVER_BUSY`) is started again by a later request that needs it.
 */
export class SizeRoutedBackend implements InferenceBackend {
  #inline: InferenceBackend | undefined;
  /** The inference thread, once started (its model may still be loading). */
  #thread: InferenceBackend | undefined;
  /** The thread's start: undefined until something needs it; rejects if the thread could not start. */
  #threadStart: Promise<InferenceBackend | undefined> | undefined;
  /** For a model that also runs inline: the thread once its model is ready, or undefined if it failed (then requests stay inline). */
  #threadReady: Promise<InferenceBackend | undefined> | undefined;
  /** What {@link #threadReady} resolved to, when it was a thread. */
  #readyThread: InferenceBackend | undefined;
  /** True once {@link #threadReady} resolved without a thread: the requests that needed it run inline, with no wait. */
  #threadFailed = false;
  /** For a model that runs only in the thread: why its thread could not be started (the backend is then `failed`). */
  #startFailure: ToolkitError | undefined;
  #closed = false;
  #watch: NodeJS.Timeout | undefined;
  readonly #settled: Promise<void>;
  readonly #inlineMaxBytes: number;
  readonly #log: ServerLogger;
  readonly #options: SizeRoutedOptions;

  constructor(options: SizeRoutedOptions) {
    this.#options = options;
    this.#inlineMaxBytes = options.inlineMaxBytes ?? INLINE_MAX_BYTES;
    this.#log = options.log;
    this.#settled = options.mode.then(async (choice) => {
      options.log.debug({ ...choice }, 'inference mode');
      if (this.#closed) return;
      if (choice.mode === 'thread') return this.#startThreadOnly();
      const inline = options.inline();
      this.#inline = inline;
      await inline.whenSettled();
      if (inline.state() === 'ready' && !this.#closed) this.#watchLoop(options.loopDelay ?? processLoopDelay(), options.modelRuns ?? (() => modelRunClock.takeLongest()), options.checkEveryMs ?? 1000);
    });
  }

  /** Starts the inference thread at the first call (none once closed); every later call shares it. */
  #ensureThread(): Promise<InferenceBackend | undefined> {
    return (this.#threadStart ??= this.#closed
      ? Promise.resolve(undefined)
      : Promise.resolve()
          .then(() => this.#options.thread())
          .then((thread) => (this.#thread = thread)));
  }

  /**
   * Starts the thread of a model that runs only there, resolved once its model has settled. A start
   * that fails (its code cannot be loaded: no file descriptors to spare, a broken install) leaves the
   * backend `failed` with the reason, for the caller to act on, rather than a rejection.
   */
  async #startThreadOnly(): Promise<void> {
    try {
      const thread = await this.#ensureThread();
      await thread?.whenSettled();
    } catch (err) {
      this.#startFailure = err instanceof ToolkitError ? err : new ToolkitError('ERR_MODEL_LOAD', `the inference thread could not be started: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      this.#log.error({ code: this.#startFailure.code, err }, 'could not start the inference thread');
    }
  }

  /** {@link #ensureThread} for a model that also runs inline, resolved once the thread's model is ready. */
  #threadOrInline(): Promise<InferenceBackend | undefined> {
    return (this.#threadReady ??= this.#ensureThread().then(
      async (thread) => {
        if (!thread) return undefined;
        await thread.whenSettled();
        if (thread.state() === 'ready') return (this.#readyThread = thread);
        const failure = thread.failure();
        if (failure?.code === 'ERR_SERVER_BUSY' && !this.#closed) {
          // Its load met the process short of file descriptors (see retrying-load.ts): as for the
          // thread's code, these requests run inline, and a later one starts a new thread.
          this.#log.warn({ reason: failure.message }, 'the inference thread could not load the model now; the requests that needed it run inline');
          this.#threadStart = this.#threadReady = this.#thread = undefined;
          await thread.close(0);
          return undefined;
        }
        this.#log.error({ reason: thread.failure()?.message }, 'the inference thread could not load the model; every request of this model runs inline');
        this.#threadFailed = true;
        return undefined;
      },
      (err: unknown) => {
        if (err instanceof ToolkitError && err.code === 'ERR_SERVER_BUSY') {
          // Its code could not be loaded for want of file descriptors (see retrying-load.ts): these
          // requests run inline, and a later one that needs the thread tries again.
          this.#log.warn({ reason: err.message }, 'could not start the inference thread now; the requests that needed it run inline');
          this.#threadStart = this.#threadReady = undefined;
          return undefined;
        }
        this.#log.error({ err }, 'could not start the inference thread; every request of this model runs inline');
        this.#threadFailed = true;
        return undefined;
      },
    ));
  }

  /** True while small requests still run on the HTTP thread. */
  get servesInline(): boolean {
    return this.#inline?.state() === 'ready' && !this.#demoted;
  }

  /** True once the inference thread has been started (its code is loaded; its model may still be loading). */
  get threadStarted(): boolean {
    return this.#thread !== undefined;
  }

  #demoted = false;

  #watchLoop(delay: LoopDelayProbe, modelRuns: ModelRunProbe, everyMs: number): void {
    let strikes = 0;
    modelRuns(); // Runs are timed from now on.
    let previousRun = 0;
    this.#watch = setInterval(() => {
      // The model is blamed for no more of a block than its longest run lasted (in this check's
      // window or the one before: the loop delay monitor's second is not this one).
      const run = modelRuns();
      const blocked = Math.min(delay(), Math.max(run, previousRun));
      previousRun = run;
      // A block past SageMaker's whole 2 s limit moves the model at once.
      strikes = blocked < INLINE_MAX_BLOCK_MS ? 0 : blocked >= 2 * INLINE_MAX_BLOCK_MS ? INLINE_BLOCKED_CHECKS : strikes + 1;
      if (strikes < INLINE_BLOCKED_CHECKS) return;
      this.#demoted = true;
      clearInterval(this.#watch);
      void this.#threadOrInline();
      this.#log.warn({ blockedMs: Math.round(blocked) }, 'inline model runs held the event loop too long; every request of this model now runs in the inference thread');
    }, everyMs);
    this.#watch.unref();
  }

  /** The backend `/ping` reports: the inline engine when there is one, else the thread. */
  #primary(): InferenceBackend | undefined {
    return this.#inline ?? this.#thread;
  }

  state(): BackendState {
    if (this.#startFailure) return 'failed';
    return this.#primary()?.state() ?? 'loading';
  }

  failure(): ToolkitError | undefined {
    return this.#startFailure ?? this.#primary()?.failure();
  }

  describe(): EngineDescription | undefined {
    return this.#primary()?.describe();
  }

  whenSettled(): Promise<void> {
    return this.#settled;
  }

  invoke(request: InvocationRequest, timeoutMs: number, limitMs = timeoutMs): Promise<InvocationResponse> {
    const inline = this.#inline;
    if (this.#startFailure) return Promise.reject(new ToolkitError('ERR_NOT_READY', `the model failed to load: ${loadFailureReason(this.#startFailure)}`));
    if (!inline) {
      // `thread` mode: the thread queues requests while its model loads.
      if (this.#thread) return this.#thread.invoke(request, timeoutMs, limitMs);
      return Promise.reject(new ToolkitError('ERR_NOT_READY', 'the model is still loading; retry when GET /ping answers 200'));
    }
    const small = !request.parts && request.body.length <= this.#inlineMaxBytes && !this.#demoted && !EXPANDING_TYPES.test(request.contentType ?? '');
    if (small || inline.state() !== 'ready' || this.#threadFailed) return inline.invoke(request, timeoutMs, limitMs);
    if (this.#readyThread) return this.#readyThread.invoke(request, timeoutMs, limitMs);
    return this.#invokeOnceThreadReady(inline, request, timeoutMs, limitMs);
  }

  /**
   * The first requests that need the thread wait for it (within their timeout), then run there, or
   * inline if it failed. A request whose client leaves meanwhile stops waiting at once, with the
   * cancellation's reason.
   */
  async #invokeOnceThreadReady(inline: InferenceBackend, request: InvocationRequest, timeoutMs: number, limitMs: number): Promise<InvocationResponse> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const signal = request.cancellation?.signal;
    let onAbort: (() => void) | undefined;
    const gone = new Promise<'gone'>((resolve) => {
      if (signal?.aborted) return resolve('gone');
      signal?.addEventListener('abort', (onAbort = () => resolve('gone')), { once: true });
    });
    let target: InferenceBackend | undefined | 'late' | 'gone';
    try {
      target = await Promise.race([this.#threadOrInline(), late, gone]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    if (target === 'gone') throw request.cancellation!.reason;
    if (target === 'late') throw new ToolkitError('ERR_TIMEOUT', `the invocation took longer than ${limitMs / 1000} s (waiting for the inference thread to load the model)`);
    return (target ?? inline).invoke(request, Math.max(1, timeoutMs - (performance.now() - started)), limitMs);
  }

  /** A model with `bidiFn` has user code, so it runs in the thread (inline only when forced). */
  openBidi(request: BidiRequest, frames: AsyncIterable<BidiFrame>, cancellation: Cancellation, taken?: () => void): AsyncIterable<BidiFrame> {
    const target = this.#thread ?? this.#primary();
    if (!target?.openBidi) throw new ToolkitError('ERR_NOT_READY', 'the model is still loading; retry when GET /ping answers 200');
    return target.openBidi(request, frames, cancellation, taken);
  }

  async close(graceMs = 0, reason?: ToolkitError): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watch);
    // A thread still starting is waited for, then closed like one that had started.
    const thread = async () => (this.#thread ?? (await this.#threadStart?.catch(() => undefined)))?.close(graceMs, reason);
    await Promise.all([this.#inline?.close(graceMs, reason), thread()]);
  }
}
