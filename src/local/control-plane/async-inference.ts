import { randomUUID } from 'node:crypto';
import { getMaxListeners, setMaxListeners } from 'node:events';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeWhole } from '../../fs/write-whole.js';
import { makeDir } from '../../fs/make-dir.js';
import { captureDestination } from '../capture/destination.js';
import type { AsyncInferenceConfig } from '../../aws/shapes/sagemaker.js';
import type { InvokeEndpointRequest, InvokeEndpointResponse } from '../endpoint/chain.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { AnswerOverBudgetError } from '../endpoint/read-answer.js';
import { ContainerFailure } from '../endpoint/container.js';
import type { BodyBudget } from '../../server/body-budget.js';
import { parseS3Location, type S3Objects } from '../s3/objects.js';

/**
 * Invocations one instance runs at once when `ClientConfig.MaxConcurrentInvocationsPerInstance`
 * is not set. The service chooses a value of its own then; this is the local choice.
 */
export const DEFAULT_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE = 4;
/** `RequestTTLSeconds` when the request does not set it: 6 hours, as on the service. */
export const DEFAULT_REQUEST_TTL_SECONDS = 21_600;
/** `InvocationTimeoutSeconds` when the request does not set it: 15 minutes, as on the service. */
export const DEFAULT_INVOCATION_TIMEOUT_SECONDS = 900;
/** Largest input an asynchronous invocation reads: 1 GB, the service's limit (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html). */
export const MAX_ASYNC_INPUT_BYTES = 1_000_000_000;
/**
 * Largest inference response a notification carries when `IncludeInferenceResponseIn` asks for it:
 * "The inference response is included only if the response size is less than or equal to 128 KB"
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AsyncInferenceNotificationConfig.html).
 */
export const MAX_NOTIFIED_RESPONSE_BYTES = 128 * 1024;
/**
 * Requests one endpoint's queue holds before `InvokeEndpointAsync` refuses more (503): a local
 * bound on memory, since each queued request may carry its inline body.
 */
export const MAX_QUEUED_ASYNC_INVOCATIONS = 10_000;
/**
 * Longest the local SageMaker waits at shutdown, once its fleets have stopped, for the results and
 * failures of each asynchronous endpoint's requests to be written: past it, it gives up on them.
 */
export const ASYNC_SHUTDOWN_WAIT_MS = 10_000;
/**
 * Requests that leave their queue without running (`DeleteEndpoint`, `RequestTTLSeconds` passed
 * while waiting, the local SageMaker stopping) whose failures are written at once, over every
 * asynchronous endpoint of a local SageMaker ({@link AsyncFailureWrites}): a full queue would
 * otherwise send 10 000 PutObjects to S3 together, and each endpoint stopping 16 more.
 */
export const MAX_CONCURRENT_ASYNC_FAILURE_WRITES = 16;

/**
 * The slots in which requests that left their queue without running end (their failure written and
 * notified): {@link MAX_CONCURRENT_ASYNC_FAILURE_WRITES} at once, the others waiting their turn in
 * the order they left. One is shared by the queues of every endpoint of a local SageMaker, so that
 * many endpoints deleted or stopped together do not multiply the writes.
 */
export class AsyncFailureWrites {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size = MAX_CONCURRENT_ASYNC_FAILURE_WRITES) {
    this.#free = size;
  }

  /** Runs `end` once a slot is free; resolves once it has ended, never rejects. */
  run(end: () => void | Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const start = (): void => {
        let ended: void | Promise<void>;
        try {
          ended = end();
        } catch {
          ended = undefined;
        }
        void Promise.resolve(ended)
          .catch(() => undefined)
          .then(() => {
            const next = this.#waiting.shift();
            if (next) next();
            else this.#free++;
            resolve();
          });
      };
      if (this.#free > 0) {
        this.#free--;
        start();
      } else this.#waiting.push(start);
    });
  }
}

/** One `InvokeEndpointAsync` request, as the front door read it. */
export interface AsyncInvocationRequest {
  /** Content type, accept and SageMaker headers for the container (the body is read later). */
  invocation: Omit<InvokeEndpointRequest, 'body'>;
  /** `InputLocation`: where the payload is; exactly one of this and `body`. */
  inputLocation?: string;
  /** `Body`: the payload given inline. */
  body?: Buffer;
  /** `InferenceId`; generated when not given. */
  inferenceId?: string;
  /** `S3OutputPathExtension`: appended to the output (and failure) path. */
  outputPathExtension?: string;
  /** `Filename` of the result. */
  filename?: string;
  /** `RequestTTLSeconds`: longest wait in the queue. @defaultValue {@link DEFAULT_REQUEST_TTL_SECONDS} */
  requestTtlSeconds?: number;
  /** `InvocationTimeoutSeconds`: longest time each container may take. @defaultValue {@link DEFAULT_INVOCATION_TIMEOUT_SECONDS} */
  invocationTimeoutSeconds?: number;
  /**
   * Called once, when the queue holds the request's inline body no longer: it has run, expired, or
   * was dropped with the queue (the front door gives its bytes back to `SMKIT_LOCAL_BODY_MEMORY_MB`).
   */
  release?: () => void;
  /**
   * The memory the front door's bodies share (`SMKIT_LOCAL_BODY_MEMORY_MB`): while the request
   * runs, its input read from `InputLocation` and the containers' answers take from it as they
   * arrive, until the result is written. None is read past what fits: an input with no room yet
   * waits in the queue, one larger than the whole budget and an answer that does not fit fail the
   * invocation. @defaultValue unbounded
   */
  budget?: BodyBudget;
}

/** What `InvokeEndpointAsync` answers (202) once the request is queued. */
export interface AsyncInvocationAccepted {
  inferenceId: string;
  outputLocation: string;
  failureLocation?: string;
}

/** The endpoint is not asynchronous: its endpoint config has no `AsyncInferenceConfig`. */
export class AsyncInferenceNotConfiguredError extends Error {
  constructor(readonly endpoint: string) {
    super(`Endpoint ${endpoint} is not an asynchronous endpoint: its endpoint configuration has no AsyncInferenceConfig. Use InvokeEndpoint, or create the endpoint from a configuration with AsyncInferenceConfig.`);
    this.name = 'AsyncInferenceNotConfiguredError';
  }
}

/** The endpoint's queue holds {@link MAX_QUEUED_ASYNC_INVOCATIONS} requests already. */
export class AsyncQueueFullError extends Error {
  constructor(readonly endpoint: string) {
    super(`Endpoint ${endpoint} has ${MAX_QUEUED_ASYNC_INVOCATIONS} asynchronous requests waiting, as many as the local SageMaker queues for one endpoint; retry once some have run.`);
    this.name = 'AsyncQueueFullError';
  }
}

/** The endpoint's queue is closed: the endpoint is being deleted or the local SageMaker is stopping. */
export class AsyncQueueClosedError extends Error {
  constructor(readonly endpoint: string) {
    super(`Endpoint ${endpoint} takes no more asynchronous requests: it is being deleted, or the local SageMaker is stopping. Send the request again to an endpoint that is InService.`);
    this.name = 'AsyncQueueClosedError';
  }
}

/** `S3OutputPathExtension` climbs (`..`) out of the local folder the results go to. */
export class AsyncOutputOutsideFolderError extends Error {
  constructor(readonly extension: string) {
    super(`S3OutputPathExtension ${extension} has a '..' segment: this endpoint writes its results to a local folder, and the result would land outside it. Use an extension without '..' segments.`);
    this.name = 'AsyncOutputOutsideFolderError';
  }
}

/**
 * Longest name a local folder's file system takes for one file or folder (`NAME_MAX` on Linux and
 * macOS): an `S3OutputPathExtension` segment longer than it could not be created there.
 */
export const MAX_LOCAL_NAME_BYTES = 255;

/** An `S3OutputPathExtension` segment is longer than a local folder's file system takes ({@link MAX_LOCAL_NAME_BYTES}). */
export class AsyncOutputNameTooLongError extends Error {
  constructor(readonly segment: string) {
    super(
      `S3OutputPathExtension has a segment of ${Buffer.byteLength(segment)} characters (${segment.slice(0, 16)}…): this endpoint writes its results to a local folder, whose file system takes names of at most ${MAX_LOCAL_NAME_BYTES} bytes, so neither the result nor the failure could be written there. Split the extension into segments of at most ${MAX_LOCAL_NAME_BYTES} characters with '/'.`,
    );
    this.name = 'AsyncOutputNameTooLongError';
  }
}

/**
 * Longest S3 object key, in UTF-8 bytes: "The object key name consists of a sequence of Unicode
 * characters encoded in UTF-8, with a maximum length of 1,024 bytes", prefixes included
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
 */
export const MAX_S3_KEY_BYTES = 1024;

/**
 * The request's result or failure object would have an S3 key over {@link MAX_S3_KEY_BYTES}: S3
 * would refuse the write once the request had run, so the request is refused instead.
 */
export class AsyncOutputKeyTooLongError extends Error {
  constructor(
    readonly member: 'OutputLocation' | 'FailureLocation',
    readonly keyBytes: number,
  ) {
    const path = member === 'OutputLocation' ? 'S3OutputPath' : 'S3FailurePath';
    const name = member === 'OutputLocation' ? 'Filename or InferenceId' : 'InferenceId';
    super(
      `The ${member} of this request would be an S3 object whose key is ${keyBytes} bytes long, more than the ${MAX_S3_KEY_BYTES} bytes S3 allows in a key, so it could not be written. The key is the endpoint's ${path} key, the S3OutputPathExtension and the object's name (from the ${name}): shorten the S3OutputPathExtension or the ${name}, or use an endpoint config whose ${path} is shorter.`,
    );
    this.name = 'AsyncOutputKeyTooLongError';
  }
}

/** What {@link QueuedInvocation.run} resolves with when the request could not start yet and goes back to the head of the queue. */
export const NOT_YET = 'not-yet';

/** One request in an {@link AsyncInvocationQueue}. */
export interface QueuedInvocation {
  /** Epoch ms after which the request is expired instead of run (its `RequestTTLSeconds`). */
  expiresAt: number;
  /**
   * Runs the request; resolves with {@link NOT_YET} when it could not start for now (no memory
   * for its input): it is put back at the head of the queue and tried again when another request
   * ends or at the next wake.
   */
  run(): Promise<void | typeof NOT_YET>;
  /**
   * Its input is in memory already (an inline `Body`, held since it was queued): it needs no more
   * memory to start, so it may start while one ahead of it waits for memory ({@link NOT_YET}).
   */
  inputHeld?: boolean;
  expire(): Promise<void>;
  /**
   * Called instead of either when the queue is closed while the request waits, with the reason the
   * queue was closed for when it gave one (the request then fails with it); resolves once that
   * failure is written.
   */
  drop?(reason?: string): void | Promise<void>;
}

/** How often a queue with requests waiting looks for capacity and for requests past their TTL, ms. */
export const ASYNC_QUEUE_WAKE_MS = 250;

/**
 * Abort listeners one S3 call of the AWS SDK holds on its signal at once, at most: its HTTP
 * request's until that closes, and its retry's while it waits for the next attempt, which starts
 * before a dropped connection's request has closed.
 */
const LISTENERS_PER_S3_CALL = 2;

/**
 * An asynchronous endpoint's queue: requests run in arrival order, at most `slots()` at once
 * (`MaxConcurrentInvocationsPerInstance` × the instances in service). While requests wait, every
 * `wakeMs` the queue expires those past their TTL (they leave the queue and the backlog then, even
 * while every slot is busy with long invocations) and starts the others once capacity is there, as
 * after a scale-out from zero instances, or while the only instance is being replaced. A request
 * whose run finds no room for its input yet ({@link NOT_YET}) goes back to the head of the queue;
 * the requests behind it whose input is held already ({@link QueuedInvocation.inputHeld}) may start
 * past it. Requests that leave without running (expired while waiting, dropped at `close`) end in
 * the slots of `failureWrites` (shared with other queues), the others waiting their turn.
 */
export class AsyncInvocationQueue {
  readonly #waiting: Array<QueuedInvocation & { queuedAt: number }> = [];
  #running = 0;
  /** Requests that left the queue without running and have not ended yet (their end started or waiting for a slot). */
  #leaving = 0;
  readonly #abandoned = new AbortController();
  readonly #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #closeReason: string | undefined;

  constructor(
    private readonly endpoint: string,
    private readonly slots: () => number,
    private readonly now: () => number = Date.now,
    private readonly wakeMs = ASYNC_QUEUE_WAKE_MS,
    /** Where requests that leave without running end. @defaultValue slots of this queue's own */
    private readonly failureWrites = new AsyncFailureWrites(),
  ) {}

  /** Requests queued and not yet started. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Requests running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Aborted by {@link abandon}: the S3 reads and writes of the requests still ending stop then, and
   * their failures are no longer written.
   */
  get signal(): AbortSignal {
    return this.#abandoned.signal;
  }

  /** Resolves once no request runs and every one that left the queue has ended (its failure written). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Gives up on the requests still running or ending, as the server stops without waiting longer
   * for them: aborts {@link signal} with `reason`, and answers how many there were.
   */
  abandon(reason: string): number {
    const unfinished = this.#running + this.#leaving;
    this.#abandoned.abort(new Error(reason));
    return unfinished;
  }

  /**
   * Each request running or ending waits on at most one S3 request at a time, which listens on
   * {@link signal} until it closes, and for a moment twice ({@link LISTENERS_PER_S3_CALL}). A long
   * queue deleted at once has dozens for a moment, which Node would print as a possible leak
   * (MaxListenersExceededWarning) past its default of 10: the limit follows what the queue holds,
   * so a listener that stays still shows. From Node 22 an AbortSignal has no limit (0), which is
   * kept: a limit of what the queue holds would be passed at once.
   */
  #fitSignalListeners(): void {
    const needed = (this.#running + this.#leaving) * LISTENERS_PER_S3_CALL;
    const max = getMaxListeners(this.#abandoned.signal);
    if (max !== 0 && needed > max) setMaxListeners(needed, this.#abandoned.signal);
  }

  #isIdle(): boolean {
    return this.#running === 0 && this.#leaving === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Seconds the oldest waiting request has waited (0 when none waits): `ApproximateAgeOfOldestRequest`. */
  oldestWaitSeconds(): number {
    const oldest = this.#waiting[0];
    return oldest === undefined ? 0 : Math.max(0, this.now() - oldest.queuedAt) / 1000;
  }

  /** Queues a request; throws {@link AsyncQueueFullError} when the queue is full, {@link AsyncQueueClosedError} once it is closed. */
  add(job: QueuedInvocation): void {
    // A closed queue never runs what it holds.
    if (this.#closed) throw new AsyncQueueClosedError(this.endpoint);
    if (this.#waiting.length >= MAX_QUEUED_ASYNC_INVOCATIONS) throw new AsyncQueueFullError(this.endpoint);
    this.#waiting.push({ ...job, queuedAt: this.now() });
    this.#pump();
  }

  /**
   * Drops the requests still waiting and stops looking for capacity (the endpoint is deleted or the
   * server stops); with a `reason`, each of them fails with it.
   */
  close(reason?: string): void {
    // Closed once: a deleted endpoint's queue keeps the reason it was deleted for when the server stops.
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const job of this.#waiting.splice(0)) this.#leave(() => job.drop?.(reason));
    this.#watch();
  }

  /** Runs `end` (a request's expiry or drop) once a slot of `failureWrites` is free. */
  #leave(end: () => void | Promise<void>): void {
    this.#leaving++;
    this.#fitSignalListeners();
    void this.failureWrites.run(end).then(() => {
      this.#leaving--;
      this.#checkIdle();
    });
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.slots() && this.#waiting.length > 0) this.#start(this.#waiting.shift()!);
    this.#watch();
  }

  #start(job: QueuedInvocation & { queuedAt: number }): void {
    this.#running++;
    this.#fitSignalListeners();
    const task: Promise<void | typeof NOT_YET> = this.now() > job.expiresAt ? job.expire() : job.run();
    void task
      .catch(() => undefined)
      .then((outcome) => {
        this.#running--;
        if (outcome !== NOT_YET) {
          this.#pump();
          return this.#checkIdle();
        }
        // Tried again when another request ends (which may free what it lacked) or at the next
        // wake; pumping now would retry it at once, over and over.
        if (this.#closed) return this.#leave(() => job.drop?.(this.#closeReason));
        this.#waiting.unshift(job);
        // Requests behind it whose input is held already start past it: the memory it waits for
        // may be theirs, given back only once they have run, so waiting behind it would hold both
        // until its RequestTTLSeconds pass.
        for (let i = 1; i < this.#waiting.length && this.#running < this.slots(); ) {
          if (this.#waiting[i]!.inputHeld) this.#start(this.#waiting.splice(i, 1)[0]!);
          else i++;
        }
        this.#watch();
      });
  }

  /**
   * A request that ends pumps the queue, but with none running nothing would, and a request past its
   * TTL must not wait for a slot to be expired: a timer runs while any request waits.
   */
  #watch(): void {
    const stalled = !this.#closed && this.#waiting.length > 0;
    if (stalled && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#wake(), this.wakeMs);
      this.#timer.unref();
    } else if (!stalled && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Expires the waiting requests whose TTL passed (they need no instance), then starts what capacity allows. */
  #wake(): void {
    const now = this.now();
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const job = this.#waiting[i]!;
      if (now <= job.expiresAt) continue;
      this.#waiting.splice(i, 1);
      this.#leave(() => job.expire());
    }
    this.#pump();
  }
}

/**
 * True when the local SageMaker can write results to `path` (an `S3OutputPath` or `S3FailurePath`):
 * the same places as a data capture destination ({@link captureDestination}), an `s3://bucket[/prefix]`
 * URI or Amazon S3 `https://` URL, a `file://` URL of a local path or a local folder. Any other URL
 * (`s3://` without a bucket, an `https://` URL of another host, one a slash short such as
 * `s3:/bucket/key`) would be taken for a folder named after it, relative to the working directory,
 * and '' for the working directory itself.
 */
export function writableAsyncOutputPath(path: string): boolean {
  return captureDestination(path) !== undefined;
}

/** `base/extension/name`, for an `s3://` URI or a local folder alike. */
function locate(base: string, extension: string | undefined, name: string): string {
  const parts = [base.replace(/\/+$/, ''), ...(extension ? [extension.replace(/^\/+|\/+$/g, '')] : []), name];
  return parts.filter((p) => p !== '').join('/');
}

/**
 * `id` as an object name under `base`: percent-encoded, so that an id with '/' or '..' stays one
 * name in S3 and inside a local folder; once more under an `https://` or `file://` URL, whose path
 * is decoded into the key or the file's path, so the key is the same as under the `s3://` URI and
 * the file the same as in the folder (a `file://` path may not hold an encoded '/' at all).
 */
function idName(base: string, id: string): string {
  const name = encodeURIComponent(id);
  return base.startsWith('https://') || base.startsWith('file://') ? encodeURIComponent(name) : name;
}

function localPath(location: string): string {
  return location.startsWith('file://') ? fileURLToPath(location) : location;
}

function megabytes(bytes: number): string {
  return `${+(bytes / (1024 * 1024)).toFixed(2)} MB`;
}

/** The failure's message for an answer that does not fit in `budget`, of which the invocation itself holds `own` bytes. */
function overBudget(what: string, budget: BodyBudget, own: number): string {
  return `${what} does not fit in the memory the local SageMaker holds request and response bodies in (SMKIT_LOCAL_BODY_MEMORY_MB: ${megabytes(budget.maxBytes)}, ${megabytes(budget.held - own)} of it held by other requests now), so it was not read further. Invoke again once fewer requests are running, or raise SMKIT_LOCAL_BODY_MEMORY_MB.`;
}

/** The failure's message for an input larger than all of `budget`. */
function overMemory(location: string, budget: BodyBudget): string {
  return `InputLocation ${location} holds more than the ${megabytes(budget.maxBytes)} SMKIT_LOCAL_BODY_MEMORY_MB lets the local SageMaker hold in request and response bodies, so it was not read further. Raise SMKIT_LOCAL_BODY_MEMORY_MB: the input and its answer must fit in it together.`;
}

/** An input does not fit in what the budget has left now, but would in the whole of it: the request waits. */
export class NoRoomYet extends Error {
  /** @param needs bytes the input is known to hold at least. */
  constructor(readonly needs: number) {
    super(`no room yet for ${needs} bytes`);
  }
}

/**
 * Reads at most `maxBytes` of `stream`, each chunk taken from `budget` as it arrives: a chunk over
 * either stops the reading (the stream is destroyed), gives the bytes back and throws, a
 * {@link NoRoomYet} when the input read so far would fit in the whole budget. On success the
 * caller holds `body.length` bytes of the budget. With the `length` S3 announced, that much is
 * taken from the budget at once and the chunks are copied into one buffer of that size as they
 * come, so an input of up to 1 GB is not held twice (its chunks and their concatenation) at the
 * end, nor allocated before the budget counts it. Exported for its tests.
 */
export async function readAtMost(stream: AsyncIterable<Uint8Array>, maxBytes: number, location: string, budget: BodyBudget | undefined, length?: number): Promise<Buffer> {
  // Bytes of the budget held now: all of the announced length before its buffer is allocated, as
  // another input read meanwhile must not find that memory free (when it is not free, chunk by chunk).
  let taken = 0;
  let whole: Buffer | undefined;
  if (length !== undefined && length > 0 && length <= maxBytes && (budget?.take(length) ?? true)) {
    if (budget) taken = length;
    whole = Buffer.allocUnsafe(length);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      if (total + chunk.length > maxBytes) throw new Error(`InputLocation ${location} holds more than ${maxBytes} bytes, the most an asynchronous invocation takes.`);
      const more = total + chunk.length - taken;
      if (budget && more > 0) {
        if (!budget.take(more)) {
          if (total + chunk.length <= budget.maxBytes) throw new NoRoomYet(total + chunk.length);
          throw new Error(overMemory(location, budget));
        }
        taken += more;
      }
      if (whole && total + chunk.length > whole.length) {
        // More than announced: gathered as chunks from here on.
        chunks.push(whole.subarray(0, total));
        whole = undefined;
      }
      if (whole) whole.set(chunk, total);
      else chunks.push(Buffer.from(chunk));
      total += chunk.length;
    }
  } catch (err) {
    budget?.give(taken);
    throw err;
  }
  // Less than announced: the caller holds what the body holds.
  if (budget && taken > total) budget.give(taken - total);
  return whole ? whole.subarray(0, total) : Buffer.concat(chunks, total);
}

/** What an asynchronous invocation needs of its surroundings. */
export interface AsyncInvocationContext {
  endpoint: string;
  config: AsyncInferenceConfig;
  queue: AsyncInvocationQueue;
  s3: () => S3Objects;
  /**
   * Runs the invocation on the endpoint (routing, capture and metrics as for `InvokeEndpoint`, but an
   * answer without `Content-Length`, which fails here, is not captured, and the capture record
   * carries `inferenceId`, given or generated), each container within `timeoutMs` and answering at
   * most `maxAnswerBytes`; with a `budget`, the answers take from it as they arrive
   * (`AnswerOverBudgetError` when one does not fit), and the caller gives back the resolved
   * `response.body.length` bytes.
   */
  invoke: (req: InvokeEndpointRequest, timeoutMs: number, maxAnswerBytes: number, inferenceId: string, budget?: BodyBudget) => Promise<{ variant: string; response: InvokeEndpointResponse }>;
  log?: EndpointLog;
  /** `awsRegion` of the notifications {@link startAsyncInvocation} logs. @defaultValue us-east-1 */
  region?: string;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** The queues (one per endpoint) whose endpoint's log said once that its notifications are not delivered. */
const notificationsNoted = new WeakSet<AsyncInvocationQueue>();

/**
 * The message SageMaker publishes to `NotificationConfig`'s topic when an invocation completes or
 * fails (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html).
 */
export interface AsyncInferenceNotification {
  awsRegion: string;
  eventTime: string;
  receivedTime: string;
  invocationStatus: 'Completed' | 'Failed';
  failureReason?: string;
  requestParameters: { contentType?: string; endpointName: string; inputLocation?: string };
  responseParameters?: { contentType?: string; outputLocation: string };
  /**
   * The inference response, when `IncludeInferenceResponseIn` names the topic and the response is at
   * most {@link MAX_NOTIFIED_RESPONSE_BYTES}: a result base64-encoded (`encoding: 'BASE64'`); a
   * model's error answer as text, with the failure's message (base64 too when it is not UTF-8).
   */
  responseBody?: { content: string; encoding?: 'BASE64'; message?: string };
  inferenceId: string;
  eventVersion: '1.0';
  eventSource: 'aws:sagemaker';
  eventName: 'InferenceResult';
}

/** A model's error answer as a notification carries it: its text, or base64 when it is not UTF-8. */
function asText(body: Buffer): { content: string; encoding?: 'BASE64' } {
  try {
    return { content: new TextDecoder('utf-8', { fatal: true }).decode(body) };
  } catch {
    return { content: body.toString('base64'), encoding: 'BASE64' };
  }
}

async function readInput(location: string, s3: () => S3Objects, budget: BodyBudget | undefined, signal: AbortSignal): Promise<Buffer> {
  const s3Url = parseS3Location(location);
  if (!s3Url) throw new Error(`InputLocation ${location} is neither an s3:// URI nor an Amazon S3 https:// URL; the local SageMaker reads input from S3 (or take the payload inline as Body).`);
  // GetObject with an empty key is a GET of the bucket, which S3 answers with its listing: that would be the input.
  if (s3Url.key === '') throw new Error(`InputLocation ${location} names the bucket ${s3Url.bucket} but no object in it: give the URI of the object that holds the payload, such as s3://${s3Url.bucket}/path/to/input.`);
  let stream: Awaited<ReturnType<S3Objects['get']>>;
  try {
    stream = await s3().get(s3Url.bucket, s3Url.key, { signal });
  } catch (err) {
    // S3 has no folders: a location ending with '/' is a prefix, which GetObject answers NoSuchKey.
    if ((err as Error).name === 'NoSuchKey' && s3Url.key.endsWith('/')) {
      throw new Error(`InputLocation ${location} ends with '/': it names a folder (a key prefix) of bucket ${s3Url.bucket}, and S3 has no object with the key ${s3Url.key} (NoSuchKey). Give the URI of the object that holds the payload, such as ${location}input.json.`, { cause: err });
    }
    throw new Error(`Reading InputLocation ${location} failed: ${(err as Error).message}`, { cause: err });
  }
  // Refused from its size, as the service refuses an input over 1 GB: reading it would take up to
  // 1 GB of memory and of S3's time only to fail.
  const length = stream.contentLength;
  if (length !== undefined && length > MAX_ASYNC_INPUT_BYTES) {
    stream.destroy();
    throw new Error(`InputLocation ${location} holds ${length} bytes, more than the ${MAX_ASYNC_INPUT_BYTES} bytes (1 GB) an asynchronous invocation takes; it was not read.`);
  }
  // So is one that could never fit in the budget, and one that does not fit yet waits for room for
  // all of it: reading it first would hold the budget (and S3) only to give up part-way.
  if (budget && length !== undefined && !budget.fits(length)) {
    stream.destroy();
    if (length > budget.maxBytes) throw new Error(overMemory(location, budget));
    throw new NoRoomYet(length);
  }
  return readAtMost(stream, MAX_ASYNC_INPUT_BYTES, location, budget, length);
}

/**
 * Writes a result or failure; to S3 encrypted with `kmsKeyId` (`OutputConfig.KmsKeyId`) when given,
 * which a local folder ignores. Aborting `signal` closes an S3 write out.
 */
async function writeResult(location: string, body: Buffer, s3: () => S3Objects, signal: AbortSignal, contentType?: string, kmsKeyId?: string): Promise<void> {
  const s3Url = parseS3Location(location);
  if (s3Url) {
    return s3()
      .put(s3Url.bucket, s3Url.key, body, contentType, kmsKeyId === undefined ? { signal } : { kmsKeyId, signal })
      .catch((err: Error) => {
        // A local S3 server without a KMS refuses SSE-KMS uploads: say where the key comes from.
        if (kmsKeyId === undefined) throw err;
        throw new Error(`Writing ${location} with SSE-KMS key ${kmsKeyId} (AsyncInferenceConfig.OutputConfig.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the endpoint config there) failed: ${err.message}`, { cause: err });
      });
  }
  const path = localPath(location);
  await makeDir(dirname(path));
  // Whole or not at all, as an S3 put: a caller polling for the result never reads an empty file.
  await writeWhole(path, body);
}

/**
 * Queues one asynchronous invocation and answers at once where its result will be. When its turn
 * comes, the input is read (from `InputLocation` or the inline `Body`), the endpoint invoked, and
 * the container's answer written to `<S3OutputPath>[/<extension>]/<Filename, else <InferenceId>.out>`
 * (an S3 object with the answer's `Content-Type`; the id, the caller's or a generated one, is
 * percent-encoded). A failure (an answer without `Content-Length`, sent chunked, is one, as on the
 * service), or a request that waited longer than its `RequestTTLSeconds`, writes its message (a
 * container's error answer: that answer, as sent) to
 * `<S3FailurePath>[/<extension>]/<InferenceId>-error.out` when the config names a failure path
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html). With a `budget`, an
 * `InputLocation` input that finds no room in it yet waits at the head of the queue; one larger
 * than all of it, or an answer that does not fit, is a failure. With a `NotificationConfig` topic for
 * the outcome, the {@link AsyncInferenceNotification} SNS would carry is logged, with the inference
 * response when `IncludeInferenceResponseIn` names that topic (there is no local SNS; the
 * endpoint's log says so once).
 * `s3://` locations and Amazon S3 `https://` URLs go through S3; any other is a local path. Throws
 * {@link AsyncQueueFullError} when the queue is full, {@link AsyncQueueClosedError} once it is
 * closed, {@link AsyncOutputOutsideFolderError} when the extension would leave a local folder,
 * {@link AsyncOutputNameTooLongError} when a segment of it is too long for a local folder, and
 * {@link AsyncOutputKeyTooLongError} when the result's or the failure's S3 key would be over 1024 bytes.
 */
export function startAsyncInvocation(ctx: AsyncInvocationContext, req: AsyncInvocationRequest): AsyncInvocationAccepted {
  const output = ctx.config.OutputConfig;
  const now = ctx.now ?? Date.now;
  const inferenceId = req.inferenceId ?? randomUUID();
  // Named after the inference id, as the service names them ("If not specified, Amazon SageMaker AI
  // generates a filename based on the inference ID", Filename of InvokeEndpointAsync).
  const outputLocation = locate(output.S3OutputPath!, req.outputPathExtension, req.filename ?? `${idName(output.S3OutputPath!, inferenceId)}.out`);
  const failureLocation = output.S3FailurePath === undefined ? undefined : locate(output.S3FailurePath, req.outputPathExtension, `${idName(output.S3FailurePath, inferenceId)}-error.out`);
  // In S3 `..` is part of a key; in a local folder it would climb out of it.
  const local = !parseS3Location(outputLocation) || (failureLocation !== undefined && !parseS3Location(failureLocation));
  if (local && req.outputPathExtension?.split('/').includes('..')) throw new AsyncOutputOutsideFolderError(req.outputPathExtension);
  // The generated names fit (a percent-encoded id is at most 192 bytes); the extension's segments may not.
  const longSegment = local ? req.outputPathExtension?.split('/').find((segment) => Buffer.byteLength(segment) > MAX_LOCAL_NAME_BYTES) : undefined;
  if (longSegment !== undefined) throw new AsyncOutputNameTooLongError(longSegment);
  // Refused now, not once the request has run and S3 refuses the write (the failure's write too, when its key is as long).
  for (const [member, location] of [['OutputLocation', outputLocation], ['FailureLocation', failureLocation]] as const) {
    const key = location === undefined ? undefined : parseS3Location(location)?.key;
    if (key !== undefined && Buffer.byteLength(key) > MAX_S3_KEY_BYTES) throw new AsyncOutputKeyTooLongError(member, Buffer.byteLength(key));
  }
  // As the service encrypts "the asynchronous inference output in Amazon S3" with it: results and failures. An empty key is no key.
  const kmsKeyId = output.KmsKeyId || undefined;
  const ttlSeconds = req.requestTtlSeconds ?? DEFAULT_REQUEST_TTL_SECONDS;
  const timeoutMs = (req.invocationTimeoutSeconds ?? DEFAULT_INVOCATION_TIMEOUT_SECONDS) * 1000;
  const receivedTime = new Date(now()).toISOString();
  // There is no local SNS: the message the topic would get is logged, so a test can read it.
  const notify = (topic: string | undefined, outcome: Pick<AsyncInferenceNotification, 'invocationStatus' | 'failureReason' | 'responseParameters' | 'responseBody'>): void => {
    if (!topic || !ctx.log) return;
    if (!notificationsNoted.has(ctx.queue)) {
      notificationsNoted.add(ctx.queue);
      ctx.log('warn', 'asynchronous inference notifications are not delivered', {
        endpoint: ctx.endpoint,
        notificationConfig: output.NotificationConfig,
        message: 'The local SageMaker has no Amazon SNS: the message each topic would get is logged as "asynchronous inference notification" instead. Poll the output and failure locations for results.',
      });
    }
    const notification: AsyncInferenceNotification = {
      awsRegion: ctx.region ?? 'us-east-1',
      eventTime: new Date(now()).toISOString(),
      receivedTime,
      invocationStatus: outcome.invocationStatus,
      ...(outcome.failureReason === undefined ? {} : { failureReason: outcome.failureReason }),
      requestParameters: { ...(outcome.invocationStatus === 'Completed' ? { contentType: req.invocation.contentType } : {}), endpointName: ctx.endpoint, ...(req.inputLocation === undefined ? {} : { inputLocation: req.inputLocation }) },
      ...(outcome.responseParameters === undefined ? {} : { responseParameters: outcome.responseParameters }),
      ...(outcome.responseBody === undefined ? {} : { responseBody: outcome.responseBody }),
      inferenceId,
      eventVersion: '1.0',
      eventSource: 'aws:sagemaker',
      eventName: 'InferenceResult',
    };
    ctx.log('info', 'asynchronous inference notification', { endpoint: ctx.endpoint, inferenceId, topic, notification });
  };
  /** `answer`: the model's error answer, which the failure location gets as the model sent it, in place of `message`. */
  const fail = async (message: string, answer?: { body: Buffer; contentType: string | undefined }): Promise<void> => {
    ctx.log?.('warn', 'asynchronous invocation failed', { endpoint: ctx.endpoint, inferenceId, failureLocation: failureLocation ?? null, message });
    // Given up on at shutdown: the line above names the failure location that stays empty.
    if (failureLocation !== undefined && !ctx.queue.signal.aborted) {
      await writeResult(failureLocation, answer?.body ?? Buffer.from(message), ctx.s3, ctx.queue.signal, answer?.contentType, kmsKeyId).catch((writeErr: Error) =>
        ctx.log?.('warn', 'writing the failure of an asynchronous invocation failed', { endpoint: ctx.endpoint, inferenceId, failureLocation, message: writeErr.message }),
      );
    }
    const included = answer !== undefined && answer.body.length <= MAX_NOTIFIED_RESPONSE_BYTES && output.NotificationConfig?.IncludeInferenceResponseIn?.includes('ERROR_NOTIFICATION_TOPIC');
    notify(output.NotificationConfig?.ErrorTopic, { invocationStatus: 'Failed', failureReason: message, ...(included ? { responseBody: { ...asText(answer.body), message } } : {}) });
  };
  let held = req.release !== undefined;
  // Logged once: a request may find no room for its input several times before it runs.
  let waitedForMemory = false;
  // Bytes its input was found to hold at least, when it found no room.
  let inputNeeds = 0;
  const release = (): void => {
    if (held) req.release!();
    held = false;
  };
  ctx.queue.add({
    expiresAt: now() + ttlSeconds * 1000,
    expire: () =>
      fail(`Request expired: it waited in the queue of endpoint ${ctx.endpoint} for longer than its RequestTTLSeconds (${ttlSeconds} s) before ${waitedForMemory ? 'there was memory for its input (SMKIT_LOCAL_BODY_MEMORY_MB)' : 'an instance was free'}.`).finally(release),
    drop: (reason) => (reason === undefined ? release() : fail(reason).finally(release)),
    ...(req.inputLocation === undefined ? { inputHeld: true } : {}),
    run: async () => {
      // Bytes of the budget this run took (the inline body's are the front door's, given back by `release`).
      let taken = 0;
      let waits = false;
      try {
        let body: Buffer;
        if (req.inputLocation === undefined) body = req.body ?? Buffer.alloc(0);
        else {
          // Not read again before there is room for as much as it was found to hold.
          if (req.budget && !req.budget.fits(inputNeeds)) {
            waits = true;
            return NOT_YET;
          }
          try {
            body = await readInput(req.inputLocation, ctx.s3, req.budget, ctx.queue.signal);
          } catch (err) {
            if (!(err instanceof NoRoomYet)) throw err;
            if (!waitedForMemory) ctx.log?.('info', 'asynchronous invocation waits for memory', { endpoint: ctx.endpoint, inferenceId, heldBytes: req.budget!.held, maxBytes: req.budget!.maxBytes });
            waitedForMemory = waits = true;
            inputNeeds = err.needs;
            return NOT_YET;
          }
          if (req.budget) taken += body.length;
        }
        // An asynchronous answer goes to S3, not into a 6 MB response: it may be as large as the 1 GB payloads.
        const { response } = await ctx.invoke({ ...req.invocation, body }, timeoutMs, MAX_ASYNC_INPUT_BYTES, inferenceId, req.budget);
        if (req.budget) taken += response.body.length;
        // The service needs the answer's length: a chunked answer fails, in the service's words.
        if (response.unsizedBy !== undefined) throw new Error(`The response from container ${response.unsizedBy} did not specify the required Content-Length header`);
        // The object carries the container's Content-Type, as the service's do: the SageMaker Python
        // SDK's AsyncPredictor picks its deserializer by the output object's ContentType.
        await writeResult(outputLocation, response.body, ctx.s3, ctx.queue.signal, response.contentType, kmsKeyId);
        const included = response.body.length <= MAX_NOTIFIED_RESPONSE_BYTES && output.NotificationConfig?.IncludeInferenceResponseIn?.includes('SUCCESS_NOTIFICATION_TOPIC');
        notify(output.NotificationConfig?.SuccessTopic, {
          invocationStatus: 'Completed',
          responseParameters: { ...(response.contentType === undefined ? {} : { contentType: response.contentType }), outputLocation },
          ...(included ? { responseBody: { content: response.body.toString('base64'), encoding: 'BASE64' as const } } : {}),
        });
      } catch (err) {
        if (err instanceof AnswerOverBudgetError) await fail(overBudget(`The response from container ${err.hostname}`, req.budget!, taken));
        // "The Amazon S3 URI where the inference failure response payload is stored" (FailureLocation):
        // the model's error answer, as the SageMaker Python SDK's AsyncInferenceResponse deserializes it.
        else if (err instanceof ContainerFailure && err.answer && err.answer.body.length > 0) await fail(err.message, err.answer);
        // A model slower than the request's InvocationTimeoutSeconds (15 minutes unless set): say where the limit is raised.
        else if (err instanceof ContainerFailure && err.kind === 'timeout') await fail(`${err.message} (InvocationTimeoutSeconds)`);
        else await fail((err as Error).message);
      } finally {
        req.budget?.give(taken);
        if (!waits) release();
      }
    },
  });
  return { inferenceId, outputLocation, ...(failureLocation === undefined ? {} : { failureLocation }) };
}
