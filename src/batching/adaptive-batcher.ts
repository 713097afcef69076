/**
 * Adaptive batching of concurrent calls to one model: a call that finds the model idle runs at
 * once; calls that arrive while a run is in flight wait and form the next run, up to `maxSize`.
 */
import type { Cancellation } from '../core/cancellation.js';
import type { BatchingOptions } from './batching-options.js';

/** Calls `fn`, turning a synchronous throw into a rejection so no waiting call is left unanswered. */
function settle<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The longest a run waits, once it could start, while each turn of the event loop still brings
 * more calls. Reading a request takes tens of microseconds, so this lets a few dozen join; it
 * bounds the wait when requests never stop arriving and the batch never fills.
 */
export const GATHER_LIMIT_MS = 1;

/**
 * A run is left behind (see `AdaptiveBatcher`) only once it has lasted this long: under overload
 * the callers of a run of a few milliseconds may all reach their deadlines while it runs, and
 * starting the next run beside it would only add a second model run to the overloaded cores.
 */
export const LEAVE_BEHIND_AFTER_MS = 1000;

/**
 * Batched runs in a row that failed while every request of theirs then succeeded alone (the
 * batching itself failed, not a bad request) before the batcher stops batching for
 * {@link BATCH_PAUSE_MS}: a model that can only run one row at a time would otherwise pay for a
 * failed batched run on top of each batch's one-by-one retries, for as long as it is served.
 */
export const BATCH_FAILURES_BEFORE_PAUSE = 3;

/**
 * How long calls run one by one (as with batching off) after {@link BATCH_FAILURES_BEFORE_PAUSE}
 * batched runs in a row failed where their requests succeeded alone. Batching is then tried again;
 * one more such failure pauses it again at once, a batched run that succeeds resumes it for good.
 */
export const BATCH_PAUSE_MS = 60_000;

/** One model run of a batcher, as it reports it for metrics once the run has ended. */
export interface BatchRun {
  /** Requests the run took. */
  readonly size: number;
  /** How long each of them waited in the queue, from its arrival to the start of the run, in seconds. */
  readonly waitSeconds: readonly number[];
  /**
   * How long the model call took, in seconds. For a batch that failed, the failed call (its
   * requests are then retried one by one, which is not timed here).
   */
  readonly runSeconds: number;
}

/** What the batcher is told about each model run, for metrics. */
export type BatchObserver = (run: BatchRun) => void;

/** The functions a batcher drives. */
export interface BatchRunner<I, O> {
  /**
   * Runs several compatible inputs in one call; returns one output per input, in order. A throw
   * (or an answer of the wrong length) makes the batcher retry every input alone with `runOne`,
   * so one bad request fails alone.
   */
  runBatch(inputs: I[]): Promise<O[]>;
  /** Runs one input on its own. */
  runOne(input: I): Promise<O>;
  /**
   * Told once when a batched run fails (a throw, or an answer of the wrong length), with the error
   * and the number of inputs, before they are retried one by one: the retries' own errors say
   * nothing of the batch. Optional; what it throws is ignored.
   */
  batchFailed?(error: unknown, size: number): void;
  /**
   * Told when batching pauses (see {@link BATCH_FAILURES_BEFORE_PAUSE}): how many batched runs in a
   * row failed while their requests succeeded alone, and how long calls now run one by one.
   * Optional; what it throws is ignored.
   */
  batchingPaused?(failures: number, pauseMs: number): void;
  /**
   * Which inputs may share a run: equal keys batch together; `undefined` means this input cannot
   * join a batch and runs alone at once.
   */
  keyOf(input: I): string | undefined;
}

interface Waiting<I, O> {
  readonly input: I;
  readonly key: string;
  readonly arrived: number;
  readonly cancellation: Cancellation | undefined;
  resolve(output: O): void;
  reject(error: unknown): void;
}

/**
 * Queues calls while a run is in flight and runs them together when it ends. One batched run is in
 * flight at a time; calls that cannot batch (no key) bypass the queue. The next batch is the oldest
 * waiting call plus the following ones with the same key, up to `maxSize`. A call whose caller gave
 * up while it waited (its {@link Cancellation} is set: a timeout, a client that left) is dropped
 * with the cancellation's reason instead of being run, so under overload the model's time goes to
 * requests that someone still waits for. Runs start on the next
 * turn of the event loop (`setImmediate`): a model runtime that computes synchronously (ONNX
 * Runtime's Node binding does) holds the loop while it runs, and the requests that arrived meanwhile
 * are read in the turn after it, so they join the next batch instead of one of them running alone.
 * While turns keep bringing calls, the run waits for one more (see {@link GATHER_LIMIT_MS}).
 *
 * A run whose every caller has given up, and that has lasted {@link LEAVE_BEHIND_AFTER_MS}, is left
 * behind once another call arrives: its calls fail with their reasons and the next run starts. A
 * run that never ends (a `predictBatchFn` awaiting something that never comes) would otherwise hold
 * every later call until it timed out, for as long as the process lives, while nothing looked
 * stuck. Every such run is left behind, however many are still going: with a cap on them, a handler
 * that hung on a few requests (a network call with no timeout) held the model for good once the cap
 * was reached, every later request answered 504 while `/ping` said healthy. Runs left behind pile
 * up as the same calls would with batching off, each running on its own. While a run that old holds
 * the model (one of its callers still waits), each arriving call drops the queued calls whose
 * callers gave up.
 */
export class AdaptiveBatcher<I, O> {
  readonly #queue: Waiting<I, O>[] = [];
  #running = false;
  /** The calls of the run in flight, and the run's number: a run left behind (see #leaveBehind) has an old one. */
  #inFlight: Waiting<I, O>[] | undefined;
  #run = 0;
  /** When the run in flight began (`performance.now()`). */
  #runBegan = 0;
  #starting = false;
  #timer: NodeJS.Timeout | undefined;
  /** Batched runs in a row that failed while the requests they held succeeded alone. */
  #batchingFailures = 0;
  /** Until when (`performance.now()`) calls run one by one; 0 when batching is not paused. */
  #pausedUntil = 0;

  constructor(
    private readonly runner: BatchRunner<I, O>,
    private readonly options: BatchingOptions,
    private readonly observe: BatchObserver = () => undefined,
    private readonly gatherLimitMs = GATHER_LIMIT_MS,
    private readonly leaveBehindAfterMs = LEAVE_BEHIND_AFTER_MS,
    private readonly failuresBeforePause = BATCH_FAILURES_BEFORE_PAUSE,
    private readonly pauseMs = BATCH_PAUSE_MS,
  ) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new RangeError('maxSize must be a whole number of at least 1');
    if (!(options.maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be 0 or more');
  }

  /** Whether batching is paused after batched runs kept failing (see {@link BATCH_FAILURES_BEFORE_PAUSE}). */
  get paused(): boolean {
    if (this.#pausedUntil !== 0 && performance.now() >= this.#pausedUntil) this.#pausedUntil = 0;
    return this.#pausedUntil !== 0;
  }

  /** Requests waiting for the next run (for tests and metrics). */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Runs `input`, alone or together with other calls; resolves with its own output or error. A
   * call cancelled before its run starts fails with the cancellation's reason and is not run.
   */
  submit(input: I, cancellation?: Cancellation): Promise<O> {
    if (cancellation?.cancelled) return Promise.reject(cancellation.reason);
    const key = this.runner.keyOf(input);
    // A call that cannot join a batch is a run of one all the same: smkit_batch_size shows it, so a
    // model whose requests never batch reads as runs of 1, not as no runs at all.
    if (key === undefined) return this.#timed(settle(() => this.runner.runOne(input)), [0], performance.now());
    if (this.options.maxSize === 1) return this.#timed(settle(() => this.runner.runOne(input)), [0], performance.now());
    // Paused: as with batching off, each call runs on its own at once.
    if (this.paused) return this.#timed(settle(() => this.runner.runOne(input)), [0], performance.now());
    return new Promise<O>((resolve, reject) => {
      const idle = !this.#running && !this.#starting && this.#queue.length === 0;
      this.#queue.push({ input, key, arrived: performance.now(), cancellation, resolve, reject });
      // A call that finds the model idle runs without waiting for maxDelayMs: no added latency at
      // low concurrency. It starts on the next turn of the event loop, so calls decoded in this
      // same turn (a burst of requests read together) join it.
      if (idle) this.#start();
      else this.#schedule();
    });
  }

  /**
   * Starts the next run once the event loop has taken in what already arrived. While a turn of the
   * loop brings more calls (the clients of the last run sending their next requests, a burst being
   * read), it takes one more turn, up to `maxSize` calls or `gatherLimitMs`: a call read just
   * after the run started would wait for all of it and then for its own. A turn that brings nothing
   * starts the run, so a lone call or a quiet model waits no longer than before.
   */
  #start(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#starting = true;
    const began = performance.now();
    let seen = this.#queue.length;
    const turn = (): void => {
      const queued = this.#queue.length;
      if (queued > seen && queued < this.options.maxSize && performance.now() - began < this.gatherLimitMs) {
        seen = queued;
        setImmediate(turn);
        return;
      }
      this.#starting = false;
      if (queued > 0) void this.#runNext();
    };
    setImmediate(turn);
  }

  /** Starts the next run when the model is free and the batch is full or has waited long enough. */
  #schedule(): void {
    if (this.#running && performance.now() - this.#runBegan >= this.leaveBehindAfterMs) {
      if (this.#inFlight?.every((w) => w.cancellation?.cancelled === true)) this.#leaveBehind(this.#inFlight);
      // A run this old may never end: calls given up meanwhile leave the queue now, not when it
      // ends, so a model held for good does not keep the input of every request that timed out.
      else this.#dropGivenUp();
    }
    if (this.#running || this.#starting || this.#queue.length === 0) return;
    const head = this.#queue[0]!;
    const waited = performance.now() - head.arrived;
    if (waited >= this.options.maxDelayMs || this.#countWithKey(head.key) >= this.options.maxSize) return this.#start();
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#schedule();
    }, this.options.maxDelayMs - waited);
  }

  /** Reports a run once `running` settles (either way), and passes its outcome on. */
  #timed<T>(running: Promise<T>, waitSeconds: number[], began: number): Promise<T> {
    const report = () => {
      // Metrics must not change an answer: an observer that throws would fail, and so retry, the batch.
      try {
        this.observe({ size: waitSeconds.length, waitSeconds, runSeconds: (performance.now() - began) / 1000 });
      } catch {
        // nothing to do: the run itself went as it went
      }
    };
    return running.then(
      (value) => (report(), value),
      (err: unknown) => {
        report();
        throw err;
      },
    );
  }

  #countWithKey(key: string): number {
    let n = 0;
    for (const w of this.#queue) if (w.key === key) n++;
    return n;
  }

  /**
   * Takes the oldest call and the next ones with its key, up to maxSize, out of the queue. Calls
   * met on the way whose caller gave up leave the queue too, failed with their reason.
   */
  #take(): Waiting<I, O>[] {
    let key: string | undefined;
    const batch: Waiting<I, O>[] = [];
    let kept = 0;
    // Calls queued before batching paused run one at a time.
    const most = this.paused ? 1 : this.options.maxSize;
    for (let i = 0; i < this.#queue.length; i++) {
      const w = this.#queue[i]!;
      if (batch.length < most && (key === undefined || w.key === key)) {
        if (w.cancellation?.cancelled) {
          w.reject(w.cancellation.reason);
          continue;
        }
        key = w.key;
        batch.push(w);
      } else this.#queue[kept++] = w;
    }
    this.#queue.length = kept;
    return batch;
  }

  /** Takes the calls whose caller gave up out of the queue, failed with their reasons. */
  #dropGivenUp(): void {
    let kept = 0;
    for (const w of this.#queue) {
      if (w.cancellation?.cancelled) w.reject(w.cancellation.reason);
      else this.#queue[kept++] = w;
    }
    this.#queue.length = kept;
  }

  /** Stops batching for `pauseMs` and says so. */
  #pause(): void {
    this.#pausedUntil = performance.now() + this.pauseMs;
    try {
      this.runner.batchingPaused?.(this.#batchingFailures, this.pauseMs);
    } catch {
      // A report must not change what runs.
    }
  }

  /** Fails the calls of the run in flight, whose callers have all given up, and frees the model for the next run. */
  #leaveBehind(calls: Waiting<I, O>[]): void {
    for (const w of calls) w.reject(w.cancellation!.reason);
    this.#run++;
    this.#inFlight = undefined;
    this.#running = false;
  }

  async #runNext(): Promise<void> {
    this.#running = true;
    const batch = this.#take();
    if (batch.length === 0) {
      this.#running = false;
      return this.#schedule();
    }
    const run = ++this.#run;
    this.#inFlight = batch;
    const began = performance.now();
    this.#runBegan = began;
    const waitSeconds = batch.map((w) => (began - w.arrived) / 1000);
    try {
      if (batch.length === 1) {
        const only = batch[0]!;
        await this.#timed(settle(() => this.runner.runOne(only.input)), waitSeconds, began).then(only.resolve, only.reject);
        return;
      }
      let outputs: O[] | undefined;
      let failure: unknown;
      try {
        outputs = await this.#timed(settle(() => this.runner.runBatch(batch.map((w) => w.input))), waitSeconds, began);
        if (outputs.length !== batch.length) {
          failure = new Error(`a batched run of ${batch.length} inputs answered ${outputs.length} outputs`);
          outputs = undefined;
        }
      } catch (err) {
        failure = err;
        outputs = undefined;
      }
      if (outputs) {
        this.#batchingFailures = 0;
        batch.forEach((w, i) => w.resolve(outputs[i]!));
        return;
      }
      // A caller of the batch gave up by the time it failed: the failure may be the give-up's (a
      // predictBatchFn whose upstream call takes its callers' signals, aborted as one left or timed
      // out), not the batching's. Under overload, when callers time out, batching matters most:
      // such a failure must not pause it.
      const gaveUp = batch.some((w) => w.cancellation?.cancelled);
      try {
        this.runner.batchFailed?.(failure, batch.length);
      } catch {
        // A report must not change an answer: the retries run as they would without it.
      }
      // One bad request must not fail the others: run each alone, in order (skipping those whose
      // caller gave up meanwhile). Each call answered leaves the run's calls in flight: a retry that
      // never ends is left behind (see #schedule) once the calls still waiting for it gave up, which
      // the calls answered before it, whose callers have their answers, must not prevent.
      // Each retry is a run of its own: its age (for leaving it behind) counts from its start, not
      // the batch's, or a retry that just started after a long failed batch would be left behind at
      // once and the next run started beside it.
      const unanswered = [...batch];
      if (run === this.#run) this.#inFlight = unanswered;
      let retried = 0;
      let retriesFailed = 0;
      for (const w of batch) {
        if (w.cancellation?.cancelled) w.reject(w.cancellation.reason);
        else {
          if (run === this.#run) this.#runBegan = performance.now();
          retried++;
          await settle(() => this.runner.runOne(w.input)).then(w.resolve, (err: unknown) => {
            retriesFailed++;
            w.reject(err);
          });
        }
        unanswered.shift();
      }
      // A request that fails alone too explains the batch's failure; requests that all succeed alone
      // do not: it is the batching that fails.
      if (retriesFailed > 0) this.#batchingFailures = 0;
      else if (retried > 0 && !gaveUp && ++this.#batchingFailures >= this.failuresBeforePause) this.#pause();
    } finally {
      // A run left behind ends long after its calls were failed: the runs since are not its to touch.
      if (run === this.#run) {
        this.#inFlight = undefined;
        this.#running = false;
        this.#schedule();
      }
    }
  }
}
