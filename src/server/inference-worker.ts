import { Worker } from 'node:worker_threads';
import { isToolkitError, ToolkitError } from '../errors/catalogue.js';
import { loadFailureReason } from './load-failure.js';
import { invocationTimeout } from './timeout-error.js';
import { thrownMessage } from '../errors/excerpt.js';
import type { Logger } from '../core/context.js';
import type { EngineDescription, InvocationRequest, InvocationResponse } from '../handlers/engine.js';
import { ChunkQueue } from './chunk-queue.js';
import { IdTable } from '../core/id-table.js';
import type { Cancellation } from '../core/cancellation.js';
import type { BatchRun } from '../batching/adaptive-batcher.js';
import type { BackendState, InferenceBackend } from './inference-backend.js';
import { BIDI_INPUT_WINDOW, asBuffer, fromWireError, toWireError, transferable, type FromThread, type InferenceThreadData, type ToThread } from './thread-protocol.js';
import { failing, type BidiFrame, type BidiRequest } from '../core/bidi-frame.js';
import { clientGoneError } from '../core/cancellation.js';
import { defaultOnnxRuntimeTelemetryOff } from '../config/onnx-runtime-telemetry.js';
import { RestartBackoff } from '../core/restart-backoff.js';
import { descriptorsBusy, isOutOfDescriptors } from '../core/retrying-load.js';


interface Pending {
  resolve(r: InvocationResponse): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  cancellation: Cancellation | undefined;
}

/**
 * How often invocations handed to the thread are checked for clients that left. A check reads
 * each one's connection; a listener per request instead cost thread mode about 8% of its
 * requests/s on one-row requests.
 */
const GONE_CLIENT_CHECK_MS = 100;

/** Resolves when one of `waiters` is called (the list's owner calls them all), or after `ms`. */
async function waitFor(waiters: (() => void)[], ms: number): Promise<void> {
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    waiters.push(resolve);
    timer = setTimeout(resolve, ms);
  });
  clearTimeout(timer);
}

/** A request waiting for a free slot. */
interface Queued {
  start(): void;
  /** Fires when the request's timeout passes while it is still queued. */
  expiry?: NodeJS.Timeout;
}

const LIVENESS_TIMEOUT_MS = 1000;

/** How an {@link InferenceWorker}'s thread is bounded, and what happens when it runs out of memory. */
export interface ThreadLimits {
  /** The most JavaScript heap (V8's old generation) the thread may hold, in MB; 0 or none: Node's own limit. */
  readonly heapMb?: number;
  /**
   * When given, a thread that runs out of its JavaScript heap after its model loaded is not replaced
   * (a multi-model endpoint's model): the invocations it was running fail with 507
   * `ERR_INSUFFICIENT_RESOURCES`, the rest with 404 `ERR_MODEL_NOT_LOADED`, and this is called, at
   * once, so the owner drops the model. Without it the thread is replaced and the model reloaded.
   */
  readonly onOutOfMemory?: () => void;
  /**
   * When given, a model that served and whose reload fails (its thread ended while serving, and
   * the new thread could not load it) is given up: requests get 404 `ERR_MODEL_NOT_LOADED`, and
   * this is called, once, so the owner drops the model (a multi-model endpoint's, which is then
   * loaded anew when asked for). Without it the model stays failed, `/ping` answering 503.
   */
  readonly onReloadFailed?: () => void;
  /**
   * Called when a load (the first or a reload) has failed and the model is left failed (not given
   * up through {@link onReloadFailed}), with the reason: a single model's worker process acts on a
   * failure of its own, such as a lack of file descriptors, which a new process may not meet.
   */
  readonly onLoadFailed?: (failure: ToolkitError) => void;
  /**
   * While the thread serves bidirectional streams through `bidiFn`, how long it may go without
   * answering a ping before it is taken for blocked (user code in a synchronous loop) and replaced,
   * its streams closed: the invocation timeout, which bounds synchronous work in an invocation too.
   * Streams have no timeout of their own, so without it nothing found such a thread. None: not checked.
   */
  readonly bidiBlockedAfterMs?: number;
}

/** Whether a thread's `error` is Node ending it at its heap limit, not something user code threw. */
function outOfMemory(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
}

/** How long stopping a thread waits for it to write its held log lines. */
const FLUSH_WAIT_MS = 200;

/** How long stopping a thread waits for the runs of invocations answered without it (timed out, client gone). */
const ABANDONED_WAIT_MS = 2000;

/**
 * Most invocations answered without the thread that a shutdown remembers to wait for: the newest.
 * A handler that never settles adds one per request, and the list must not grow with them.
 */
export const ABANDONED_MAX = 64;

/** How long stopping a thread that is still loading its model waits for the load to end. */
const LOAD_WAIT_MS = 5000;

/**
 * One inference thread and its request bookkeeping. Requests beyond `concurrency` wait in a queue.
 * A request past its timeout is answered 504; if the thread then does not answer a liveness ping
 * (user code is stuck in a synchronous loop), the thread is replaced and its model reloaded.
 * A thread that dies is replaced too.
 */
export class InferenceWorker implements InferenceBackend {
  #worker!: Worker;
  #state: BackendState = 'loading';
  #failure?: ToolkitError;
  #description?: EngineDescription;
  #nextId = 1;
  /** Invocations the thread is running, by request id (not a `Map`: see `IdTable`). */
  #pending = new IdTable<Pending>();
  #pongs = new Map<number, (running: number) => void>();
  /** Waiting for the thread to write the log lines it holds. */
  #flushWaiters: (() => void)[] = [];
  #streams = new Map<number, ChunkQueue>();
  /** Each stream's custom attributes as its first chunk (or its end) brought them, until it does. */
  #lateAttributes = new Map<number, (value: string) => void>();
  /**
   * Open bidirectional streams: their replies, how the thread's acks of the client's messages reach
   * the sender, and how the sender is stopped once the stream is over.
   */
  #bidis = new Map<number, { replies: ChunkQueue<BidiFrame>; inputTaken(): void; stop(): void }>();
  /** Pings the thread while it serves bidirectional streams (see {@link ThreadLimits.bidiBlockedAfterMs}). */
  #bidiWatch: NodeJS.Timeout | undefined;
  /** The watch's ping the thread has not answered yet. */
  #bidiPing: { id: number; sentAt: number; generation: number } | undefined;
  #queue: Queued[] = [];
  #active = 0;
  #closing = false;
  #goneClientTimer: NodeJS.Timeout | undefined;
  /**
   * Invocations answered without the thread (timed out, or their client left) that it may still be
   * running: a shutdown waits a little for them too, because a thread stopped inside ONNX Runtime's
   * native run takes the whole process down ("terminate called after throwing an instance of
   * 'Napi::Error'"). Not for long: one may be user code that never ends.
   */
  readonly #abandoned = new Set<number>();
  #abandonedWaiters: (() => void)[] = [];
  #generation = 0;
  /** Spaces out the replacements of a thread that keeps ending after its load (see `#spawn`). */
  readonly #restarts = new RestartBackoff();
  /** Set while a thread that ended waits to be replaced: there is no thread to talk to meanwhile. */
  #respawnTimer: NodeJS.Timeout | undefined;
  #readyWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  /** Set by close(): why requests are refused from then on. */
  #closedWith?: ToolkitError;
  /** The model loaded once: a load that fails after is a reload (see {@link ThreadLimits.onReloadFailed}). */
  #served = false;

  #concurrency: number;

  /**
   * @param concurrency requests the thread runs at once; raised to twice the engine's largest
   *   batch when batching is on, so a full batch can form while one runs.
   * @param observeBatch told of every batched model run in the thread.
   * @param limits the thread's heap limit, and what its running out of memory does.
   */
  constructor(
    private readonly threadFile: URL,
    private readonly data: InferenceThreadData,
    private readonly concurrency: number,
    private readonly log: Logger,
    private readonly observeBatch?: (step: string, run: BatchRun) => void,
    private readonly limits: ThreadLimits = {},
  ) {
    this.#concurrency = concurrency;
    this.#spawn();
  }

  state(): BackendState {
    return this.#state;
  }

  failure(): ToolkitError | undefined {
    return this.#failure;
  }

  describe(): EngineDescription | undefined {
    return this.#description;
  }

  /** Resolves once the model is loaded or has failed to load. */
  whenSettled(): Promise<void> {
    if (this.#state !== 'loading') return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #spawn(): void {
    const generation = ++this.#generation;
    this.#state = 'loading';
    this.#restarts.started(0);
    // ONNX Runtime in the thread reads the process's environment, which only this thread can write.
    defaultOnnxRuntimeTelemetryOff();
    const heapMb = this.limits.heapMb ?? 0;
    this.#worker = new Worker(this.threadFile, { workerData: this.data, ...(heapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: heapMb } } : {}) });
    this.#worker.on('message', (msg: FromThread) => this.#onMessage(msg));
    let uncaught: unknown;
    this.#worker.on('error', (err) => {
      uncaught = err;
      if (outOfMemory(err)) this.log.error({ code: 'ERR_WORKER_CRASHED', err }, 'the inference thread ran out of memory (its JavaScript heap)');
      else this.log.error({ code: 'ERR_USER_CODE', err }, 'an error nothing caught ended the inference thread (thrown from a timer, an event handler or a callback, outside any awaited promise)');
    });
    this.#worker.on('exit', (code) => {
      // A failed load ends the thread by itself; reloading would only fail again in a loop.
      if (generation !== this.#generation || this.#closing || this.#state === 'failed') return;
      // This thread is gone: a liveness check still waiting on it (a request that timed out as it
      // ended) must not replace it as well, which started a second thread the respawn then left running.
      this.#generation++;
      if (this.#state === 'loading') return this.#threadEndedLoading(code, uncaught);
      if (outOfMemory(uncaught) && this.limits.onOutOfMemory) return this.#lostToOutOfMemory(this.limits.onOutOfMemory);
      // What user code threw is for the log (above): it is not this request's, and may hold a secret.
      const cause =
        uncaught === undefined
          ? `user code called process.exit(${code})`
          : outOfMemory(uncaught)
            ? 'it ran out of memory (its JavaScript heap: what the model and the handler hold, and the requests in flight, did not fit)'
            : 'user code threw an error nothing caught (from a timer, an event handler or a callback), which is in the server log';
      // A thread whose code ends it again soon after each load (a timer set at import) would be
      // reloaded back to back, for good: replacements are spaced out as crashed worker processes are.
      const delay = this.#restarts.delayAfterCrash(0);
      this.log.error({ exitCode: code, restartInMs: delay }, `inference thread exited (${cause}); starting a new one`);
      this.#state = 'loading';
      const fix = outOfMemory(uncaught) ? `Send smaller requests, or ${this.#moreHeap()}` : "Catch errors in the handler's callbacks, and do not call process.exit";
      this.#failAll(new ToolkitError('ERR_WORKER_CRASHED', `the inference thread ended while this request ran: ${cause}; it is being replaced and the model reloaded, so retry once GET /ping answers 200. ${fix}`));
      this.#respawnTimer = setTimeout(() => {
        this.#respawnTimer = undefined;
        this.#spawn();
      }, delay);
    });
  }

  /** What to change for a thread that ran out of its JavaScript heap. */
  #moreHeap(): string {
    const heapMb = this.limits.heapMb ?? 0;
    return heapMb > 0 ? `raise SMKIT_INFERENCE_THREAD_HEAP_MB (${heapMb} MB now), within the container's memory` : 'give the container more memory';
  }

  /**
   * The model's thread ran out of memory while serving (see {@link ThreadLimits.onOutOfMemory}).
   * No thread is started again: the owner unloads the model from every worker process, so the
   * endpoint's list stays true (a reload here that failed would leave a model listed nowhere yet
   * holding its name) and the model is loaded anew when asked for.
   */
  #lostToOutOfMemory(onOutOfMemory: () => void): void {
    const heapMb = this.limits.heapMb ?? 0;
    const heap = heapMb > 0 ? `its JavaScript heap, limited to ${heapMb} MB by SMKIT_INFERENCE_THREAD_HEAP_MB` : 'its JavaScript heap';
    this.log.error({ code: 'ERR_INSUFFICIENT_RESOURCES' }, `the model's inference thread ran out of memory (${heap}); the model is unloaded`);
    this.#state = 'failed';
    this.#failure = new ToolkitError('ERR_MODEL_LOAD', `the model's inference thread ran out of memory (${heap}) and the model was unloaded`);
    // Invocations that come later find the model gone, as after DELETE /models/{name}: load it again.
    this.#closedWith = new ToolkitError('ERR_MODEL_NOT_LOADED', `the model was unloaded: its inference thread ran out of memory (${heap}) while running other requests; load it again (POST /models)`);
    this.#failAll(
      new ToolkitError('ERR_INSUFFICIENT_RESOURCES', `the model's inference thread ran out of memory while this request ran (${heap}: what the model and the handler hold, and the requests in flight, did not fit); the model was unloaded. Send smaller requests, or ${this.#moreHeap()}`),
    );
    onOutOfMemory();
  }

  /**
   * The thread ended before its model load did: user code called `process.exit`, or threw outside
   * any awaited promise (a timer, an event handler), in the handler module or a load hook. That is
   * a failed load (`/ping` 503 with the reason): a new thread would only end the same way, in a loop.
   */
  #threadEndedLoading(code: number, uncaught: unknown): void {
    const cause = uncaught === undefined ? `process.exit(${code}) was called` : `an uncaught error: ${thrownMessage(uncaught)}`;
    this.#state = 'failed';
    this.#failure = isOutOfDescriptors(uncaught)
      ? // The thread's code could not be opened (files ran out since the load was let start): not
        // user code's fault, and a new thread (a later POST /models) loads its code afresh.
        descriptorsBusy("the inference thread's code", uncaught)
      : outOfMemory(uncaught)
      ? // Node's own words, which clients may read: they say what to fix.
        new ToolkitError('ERR_MODEL_LOAD', `the inference thread ran out of memory (its JavaScript heap) while loading the model; ${this.#moreHeap()}, or load a smaller model`)
      : new ToolkitError(
          'ERR_MODEL_LOAD',
          `the inference thread ended while loading the model (${cause}); look in the handler module and its modelFn/preModelFn/modelWarmupFn for process.exit or an error thrown where nothing awaits it`,
          // What user code threw is for the log only (see loadFailureReason).
          uncaught === undefined ? {} : { details: { hook: 'the handler module or its modelFn/preModelFn/modelWarmupFn' } },
        );
    if (this.#reloadFailed()) return;
    this.log.error({ exitCode: code, code: this.#failure.code, reason: this.#failure.message }, 'model failed to load');
    this.#settle();
    this.#failAll(this.#notReady());
    if (!this.#closing) this.limits.onLoadFailed?.(this.#failure);
  }

  /**
   * A reload that failed, when the owner gives such a model up ({@link ThreadLimits.onReloadFailed}):
   * its requests, queued and later, find it unloaded. False when the load is a first one, or the
   * owner keeps the model failed.
   */
  #reloadFailed(): boolean {
    const onReloadFailed = this.limits.onReloadFailed;
    if (!this.#served || !onReloadFailed) return false;
    const reason = loadFailureReason(this.#failure);
    this.log.error({ code: this.#failure?.code, reason }, 'the model could not be loaded again after its inference thread ended; the model is unloaded');
    this.#closedWith = new ToolkitError('ERR_MODEL_NOT_LOADED', `the model was unloaded: its inference thread ended and could not load it again (${reason}); load it again (POST /models) once that is fixed`);
    this.#settle();
    this.#failAll(this.#closedWith);
    onReloadFailed();
    return true;
  }

  #settle(): void {
    for (const w of this.#readyWaiters.splice(0)) w();
  }

  #onMessage(msg: FromThread): void {
    switch (msg.type) {
      case 'ready':
        this.#served = true;
        this.#state = 'ready';
        this.#failure = undefined;
        this.#description = msg.description;
        this.#concurrency = msg.description.maxBatchSize > 1 ? Math.max(this.concurrency, 2 * msg.description.maxBatchSize) : this.concurrency;
        this.log.info({ mode: 'thread', loadMs: msg.loadMs, ...msg.description }, 'model ready');
        this.#settle();
        this.#drainQueue();
        return;
      case 'load-failed':
        this.#state = 'failed';
        this.#failure = fromWireError(msg.error);
        if (this.#reloadFailed()) return;
        this.log.error({ code: msg.error.code, reason: msg.error.message }, 'model failed to load');
        this.#settle();
        this.#failAll(this.#notReady());
        if (!this.#closing) this.limits.onLoadFailed?.(this.#failure);
        return;
      case 'pong':
        this.#pongs.get(msg.id)?.(msg.running);
        return;
      case 'flushed':
        for (const done of this.#flushWaiters.splice(0)) done();
        return;
      case 'batch':
        this.observeBatch?.(msg.step, msg.run);
        return;
      case 'stream-start': {
        const p = this.#pending.get(msg.id);
        if (!p) {
          // Answered already (timed out, or its client left): nobody reads this stream.
          this.#post({ type: 'stream-cancel', id: msg.id });
          return this.#threadDone(msg.id);
        }
        // The first chunk is the answer: the timeout and the concurrency slot end here.
        this.#finish(msg.id, p);
        const id = msg.id;
        const queue = new ChunkQueue({
          consumed: () => this.#post({ type: 'stream-ack', id }),
          cancel: () => {
            this.#streams.delete(id);
            this.#lateAttributes.delete(id);
            // Why the request gave up (its first chunk timed out, its client left), for ctx.signal in the thread.
            const reason = p.cancellation?.reason;
            this.#post({ type: 'stream-cancel', id, ...(reason === undefined ? {} : { error: toWireError(reason) }) });
            this.#checkIdle();
            // A first chunk that never came may be user code stuck in a synchronous loop, as for a whole answer.
            if (isToolkitError(reason) && reason.code === 'ERR_TIMEOUT') void this.#checkLiveness();
            // A client that gave up on a stream part way may have left it to a producer holding the thread.
            else this.#watchBidis();
          },
        });
        this.#streams.set(id, queue);
        // Past its first chunk a streamed answer has no timeout: a producer stuck in synchronous code is found by the watch.
        this.#watchBidis();
        let late = msg.customAttributes;
        this.#lateAttributes.set(id, (value) => (late = value));
        p.resolve({ body: Buffer.alloc(0), contentType: msg.contentType, customAttributes: msg.customAttributes, ...(msg.closeSession ? { closeSession: true } : {}), stream: queue, takeCustomAttributes: () => late });
        return;
      }
      case 'stream-chunk':
        this.#takeLateAttributes(msg);
        this.#streams.get(msg.id)?.push(msg.data);
        return;
      case 'stream-end':
        this.#takeLateAttributes(msg);
        this.#streams.get(msg.id)?.end();
        this.#streams.delete(msg.id);
        this.#checkIdle();
        return;
      case 'stream-error':
        this.#lateAttributes.delete(msg.id);
        this.#streams.get(msg.id)?.fail(fromWireError(msg.error));
        this.#streams.delete(msg.id);
        this.#checkIdle();
        return;
      case 'bidi-out':
        this.#bidis.get(msg.id)?.replies.push({ data: msg.frame.data, binary: msg.frame.binary, partial: msg.frame.partial });
        return;
      case 'bidi-in-ack':
        this.#bidis.get(msg.id)?.inputTaken();
        return;
      case 'bidi-end':
      case 'bidi-error': {
        const bidi = this.#bidis.get(msg.id);
        this.#bidis.delete(msg.id);
        bidi?.stop();
        if (msg.type === 'bidi-end') bidi?.replies.end();
        else bidi?.replies.fail(fromWireError(msg.error));
        this.#checkIdle();
        return;
      }
      case 'result':
      case 'error': {
        const p = this.#pending.get(msg.id);
        if (!p) return this.#threadDone(msg.id); // answered already (timed out, or its client left)
        this.#finish(msg.id, p);
        if (msg.type === 'result') p.resolve({ ...msg.response, body: asBuffer(msg.response.body) });
        else p.reject(fromWireError(msg.error));
      }
    }
  }

  #notReady(): ToolkitError {
    return this.#state === 'failed'
      ? new ToolkitError('ERR_NOT_READY', `the model failed to load: ${loadFailureReason(this.#failure)}`)
      : new ToolkitError('ERR_NOT_READY', 'the model is still loading; retry when GET /ping answers 200');
  }

  #finish(id: number, p: Pending): void {
    clearTimeout(p.timer);
    this.#pending.delete(id);
    this.#active--;
    this.#drainQueue();
    this.#checkIdle();
  }

  /** Posts to the thread unless it is gone (a late ack after a restart or close). */
  #post(msg: ToThread): void {
    if (this.#closing) return;
    this.#worker.postMessage(msg);
  }

  #idle(): boolean {
    return this.#active === 0 && this.#queue.length === 0 && this.#streams.size === 0 && this.#bidis.size === 0;
  }

  /** The thread has ended invocation `id`, which was answered without it. */
  #threadDone(id: number): void {
    if (this.#abandoned.delete(id) && this.#abandoned.size === 0) for (const w of this.#abandonedWaiters.splice(0)) w();
  }

  #checkIdle(): void {
    if (this.#idle()) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #drainQueue(): void {
    while (this.#state === 'ready' && this.#active < this.#concurrency && this.#queue.length > 0) this.#queue.shift()!.start();
  }

  /** A stream's first chunk (or end) brings the custom attributes set until then; later ones bring none. */
  #takeLateAttributes(msg: { id: number; customAttributes?: string }): void {
    const set = this.#lateAttributes.get(msg.id);
    if (set === undefined) return;
    this.#lateAttributes.delete(msg.id);
    if (msg.customAttributes !== undefined) set(msg.customAttributes);
  }

  #failAll(err: ToolkitError): void {
    // A thread that failed or is replaced runs nothing more (close() has waited for these already).
    for (const id of [...this.#abandoned]) this.#threadDone(id);
    for (const queue of this.#streams.values()) queue.fail(err);
    this.#streams.clear();
    this.#lateAttributes.clear();
    for (const bidi of this.#bidis.values()) {
      bidi.stop();
      bidi.replies.fail(err);
    }
    this.#bidis.clear();
    for (const [id, p] of this.#pending.entries()) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(err);
    }
    this.#active = 0;
    if (this.#state === 'failed') for (const queued of this.#queue.splice(0)) queued.start();
  }

  /**
   * Runs `bidiFn` in the thread for one bidirectional stream. The client's messages go over as the
   * thread takes them ({@link BIDI_INPUT_WINDOW} ahead at most), so a client that sends faster than
   * `bidiFn` reads is held back by its own connection; the replies come back the same way.
   */
  openBidi(request: BidiRequest, frames: AsyncIterable<BidiFrame>, cancellation: Cancellation, taken?: () => void): AsyncIterable<BidiFrame> {
    if (this.#closedWith) return failing(this.#closedWith);
    if (this.#state !== 'ready') return failing(this.#notReady());
    const id = this.#nextId++;
    let credit = BIDI_INPUT_WINDOW;
    let wake: (() => void) | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    const replies = new ChunkQueue<BidiFrame>({
      consumed: () => this.#post({ type: 'stream-ack', id }),
      cancel: () => {
        // The client left (or the stream's reader gave up): bidiFn stops, its ctx.signal says why.
        stop();
        this.#bidis.delete(id);
        this.#post({ type: 'bidi-cancel', id, error: toWireError(cancellation.reason ?? clientGoneError()) });
        // A client that left may have given up on a thread held by bidiFn: the watch checks it once more.
        this.#watchBidis();
        this.#checkIdle();
      },
    });
    this.#bidis.set(id, {
      replies,
      inputTaken: () => {
        taken?.();
        credit++;
        wake?.();
      },
      stop,
    });
    this.#post({ type: 'bidi-open', id, request });
    this.#watchBidis();
    void (async () => {
      try {
        for await (const frame of frames) {
          while (credit <= 0 && !stopped) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          if (stopped || this.#closing || !this.#bidis.has(id)) return;
          credit--;
          // A view into a larger buffer (a socket read) is copied: posting it would clone the whole buffer.
          const owned = transferable(frame.data).length > 0 ? frame.data : new Uint8Array(frame.data);
          this.#worker.postMessage({ type: 'bidi-in', id, frame: { data: owned, binary: frame.binary } } satisfies ToThread, [owned.buffer as ArrayBuffer]);
        }
        if (this.#bidis.has(id)) this.#post({ type: 'bidi-in-end', id });
      } catch (err) {
        replies.fail(err);
      }
    })();
    return replies;
  }

  /**
   * Watches the thread while it serves bidirectional streams or streamed answers past their first
   * chunk, and once such a stream's client has left,
   * with a ping always outstanding: one not answered within {@link ThreadLimits.bidiBlockedAfterMs}
   * means the thread has not turned its event loop for that long, which only synchronous code does
   * (a `bidiFn` in a loop that never ends), and it is replaced as a thread blocked past an
   * invocation's timeout is. Its streams, and those opened later, would otherwise wait for good with
   * `/ping` healthy; streams have no timeout of their own, and their clients may leave first.
   */
  #watchBidis(): void {
    const limitMs = this.limits.bidiBlockedAfterMs;
    if (limitMs === undefined || this.#closing) return;
    if (this.#bidiPing === undefined) this.#pingForBidis();
    if (this.#bidiWatch !== undefined) return;
    this.#bidiWatch = setInterval(() => {
      const ping = this.#bidiPing;
      if (ping !== undefined && performance.now() - ping.sentAt >= limitMs) {
        this.#bidiPing = undefined;
        this.#pongs.delete(ping.id);
        // Not a thread that ended (and was replaced) since the ping: that one could not answer.
        if (ping.generation === this.#generation && this.#state === 'ready' && !this.#closing) {
          void this.#replaceBlocked(`the inference thread answered nothing for ${limitMs / 1000} s (SAGEMAKER_MODEL_SERVER_TIMEOUT) while it served streams: synchronous code holds it (bidiFn, or a streamed answer's producer, in a loop that never ends, a long computation that never awaits); it was restarted and the model reloaded`, ping.id);
        }
      }
      if (this.#bidiPing !== undefined) return;
      if ((this.#bidis.size > 0 || this.#streams.size > 0) && !this.#closing) return this.#pingForBidis();
      clearInterval(this.#bidiWatch);
      this.#bidiWatch = undefined;
    }, Math.max(50, limitMs / 4)).unref();
  }

  #pingForBidis(): void {
    const id = this.#nextId++;
    this.#bidiPing = { id, sentAt: performance.now(), generation: this.#generation };
    this.#pongs.set(id, () => {
      this.#pongs.delete(id);
      if (this.#bidiPing?.id === id) this.#bidiPing = undefined;
    });
    this.#worker.postMessage({ type: 'ping', id } satisfies ToThread);
  }

  invoke(request: InvocationRequest, timeoutMs: number, limitMs = timeoutMs): Promise<InvocationResponse> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    if (this.#state === 'failed') return Promise.reject(this.#notReady());
    const { cancellation, ...fields } = request;
    return new Promise((resolve, reject) => {
      const arrived = Date.now();
      const entry: Queued = {
        start: () => {
          clearTimeout(entry.expiry);
          if (this.#closedWith) return reject(this.#closedWith);
          if (this.#state !== 'ready') return reject(this.#notReady());
          // The timeout counts from arrival: time spent queued behind other requests is part of it.
          const remaining = timeoutMs - (Date.now() - arrived);
          if (remaining <= 0) return reject(invocationTimeout(limitMs, this.#description, true));
          // A client that left while this request waited for a slot costs the thread nothing.
          if (cancellation?.cancelled) return reject(cancellation.reason);
          const id = this.#nextId++;
          this.#active++;
          const timer = setTimeout(() => this.#onTimeout(id, limitMs), remaining);
          this.#pending.set(id, { resolve, reject, timer, cancellation });
          const body = new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength);
          const msg: ToThread = { type: 'invoke', id, request: { ...fields, body } };
          this.#worker.postMessage(msg, transferable(body));
          this.#checkForGoneClients();
        },
      };
      if (this.#state === 'ready' && this.#active < this.#concurrency) return entry.start();
      // Queued requests behind a stuck one time out on their own clock, not when a slot frees.
      entry.expiry = setTimeout(() => {
        const at = this.#queue.indexOf(entry);
        if (at === -1) return;
        this.#queue.splice(at, 1);
        reject(invocationTimeout(limitMs, this.#description, true));
      }, timeoutMs);
      this.#queue.push(entry);
    });
  }

  /** Invocation `id` ran past its timeout; `limitMs` is the one its error quotes. */
  #onTimeout(id: number, limitMs: number): void {
    if (this.#cancelPosted(id, invocationTimeout(limitMs, this.#description))) void this.#checkLiveness();
  }

  /**
   * While invocations are with the thread, checks them every {@link GONE_CLIENT_CHECK_MS}: one
   * whose client left frees its slot, and the thread drops it if it has not run yet.
   */
  #checkForGoneClients(): void {
    if (this.#goneClientTimer) return;
    this.#goneClientTimer = setInterval(() => {
      if (this.#pending.size === 0) {
        clearInterval(this.#goneClientTimer);
        this.#goneClientTimer = undefined;
        return;
      }
      for (const [id, p] of this.#pending.entries()) if (p.cancellation?.cancelled) this.#cancelPosted(id, p.cancellation.reason);
    }, GONE_CLIENT_CHECK_MS).unref();
  }

  /**
   * Answers invocation `id` with `reason` if the thread has not answered it yet, and tells the
   * thread, which drops it if it still waits for a batch (user code sees ctx.signal abort).
   */
  #cancelPosted(id: number, reason: unknown): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    this.#abandoned.add(id);
    // The oldest goes first (a Set keeps insertion order): one still running after its newer peers is likely hung for good.
    if (this.#abandoned.size > ABANDONED_MAX) this.#threadDone(this.#abandoned.values().next().value!);
    this.#finish(id, p);
    p.reject(reason);
    this.#post({ type: 'cancel', id, error: toWireError(reason) });
    return true;
  }

  /**
   * Invocations this side holds: running in the thread and not answered yet, or answered without it
   * and remembered for a shutdown to wait for (at most {@link ABANDONED_MAX}). For tests and
   * diagnostics: it must stay bounded when user code never settles.
   */
  get held(): number {
    return this.#pending.size + this.#abandoned.size;
  }

  /**
   * Invocations the thread itself holds (asked by a ping), or undefined when it does not answer
   * within a second. For tests and diagnostics, as {@link held}.
   */
  async threadHeld(): Promise<number | undefined> {
    const id = this.#nextId++;
    let timer: NodeJS.Timeout | undefined;
    const running = await new Promise<number | undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), LIVENESS_TIMEOUT_MS);
      this.#pongs.set(id, resolve);
      this.#worker.postMessage({ type: 'ping', id } satisfies ToThread);
    });
    clearTimeout(timer);
    this.#pongs.delete(id);
    return running;
  }

  /** Replaces the thread when it cannot even answer a ping (blocked by synchronous user code). */
  async #checkLiveness(): Promise<void> {
    const generation = this.#generation;
    const id = this.#nextId++;
    const alive = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), LIVENESS_TIMEOUT_MS);
      this.#pongs.set(id, () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.#worker.postMessage({ type: 'ping', id } satisfies ToThread);
    });
    this.#pongs.delete(id);
    if (alive || generation !== this.#generation || this.#closing) return;
    await this.#replaceBlocked('the inference worker was blocked by another request past the timeout and was restarted', id);
  }

  /**
   * Replaces a thread held by synchronous code, failing what it held with `reason`. `pingId` is the
   * ping it did not answer: the thread takes its messages in the order they were posted, so an
   * invocation posted after that ping (a larger id) never reached user code. It is answered 503
   * `ERR_NOT_READY`, which a client may retry as it is, not 500 as one that may have run.
   */
  async #replaceBlocked(reason: string, pingId: number): Promise<void> {
    this.log.error({ code: 'ERR_WORKER_CRASHED', reason }, 'inference thread is blocked past the timeout; replacing it and reloading the model');
    this.#generation++;
    const old = this.#worker;
    const neverRan = new ToolkitError('ERR_NOT_READY', `this request never ran: the inference thread it was sent to was held by synchronous code (another request's or a stream's) and is being replaced, the model reloaded; retry once GET /ping answers 200`);
    for (const [id, p] of [...this.#pending.entries()]) {
      if (id < pingId) continue;
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(neverRan);
    }
    this.#failAll(new ToolkitError('ERR_WORKER_CRASHED', reason));
    this.#spawn();
    await old.terminate();
  }

  /**
   * Waits for in-flight requests and streamed answers (up to `graceMs`), then stops the thread;
   * anything still running or queued then fails at once with `reason`.
   */
  async close(graceMs = 0, reason = new ToolkitError('ERR_SHUTTING_DOWN', 'the server stopped before this request finished')): Promise<void> {
    if (!this.#idle()) await waitFor(this.#idleWaiters, graceMs);
    if (this.#abandoned.size > 0) await waitFor(this.#abandonedWaiters, Math.min(graceMs, ABANDONED_WAIT_MS));
    this.#closing = true;
    this.#closedWith = reason;
    clearInterval(this.#bidiWatch);
    this.#bidiWatch = undefined;
    this.#failAll(reason);
    for (const queued of this.#queue.splice(0)) queued.start();
    // A thread that ended and waits to be replaced has nothing to finish or flush.
    const ended = this.#respawnTimer !== undefined;
    clearTimeout(this.#respawnTimer);
    this.#respawnTimer = undefined;
    // A thread stopped inside ONNX Runtime's native session set-up takes the whole process down
    // ("terminate called after throwing an instance of 'Napi::Error'"): a load under way ends first.
    if (this.#state === 'loading' && !ended) await this.#loadEnded(LOAD_WAIT_MS);
    // A thread whose load failed has ended already, its error (and what came before) written.
    if (this.#state !== 'failed' && !ended) await this.#flushThreadLog();
    await this.#worker.terminate();
  }

  /** Resolves when the thread's model load ends (loaded, failed, or the thread exited), or after `ms`. */
  async #loadEnded(ms: number): Promise<void> {
    const worker = this.#worker;
    let timer: NodeJS.Timeout | undefined;
    let onExit: (() => void) | undefined;
    await Promise.race([
      this.whenSettled(),
      new Promise<void>((resolve) => {
        onExit = resolve;
        worker.once('exit', onExit);
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
    if (onExit) worker.off('exit', onExit);
  }

  /**
   * Asks the thread to write the log lines it still holds (a thread that is loading its model holds
   * them, and a terminated thread runs no exit handlers), waiting at most {@link FLUSH_WAIT_MS}:
   * a thread stuck in synchronous code cannot answer.
   */
  async #flushThreadLog(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#flushWaiters.push(resolve);
      timer = setTimeout(resolve, FLUSH_WAIT_MS);
      this.#worker.postMessage({ type: 'flush' } satisfies ToThread);
    });
    clearTimeout(timer);
  }
}
