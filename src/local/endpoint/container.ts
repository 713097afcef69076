import { secondsText } from '../../core/seconds-text.js';
/** What {@link MultiModelHost.fetch} did: `found` the model (it is now in `source`) or not, at `at` (its S3 URI). */
export interface FetchedModel {
  found: boolean;
  at: string;
}

/**
 * A multi-model fetch that S3 failed on its own side: a 5xx (`SlowDown`, `InternalError`), no answer
 * at all (not reachable, timed out), or a transfer broken part-way; or a download that other loads
 * deleted from the disk after each of two fetches of it. Not the caller's `TargetModel`,
 * which a retry may well load, so not a `ValidationError` (which the SDKs do not retry): the front
 * door answers 503 `ServiceUnavailable`, which they do.
 */
export class ModelFetchUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelFetchUnavailableError';
  }
}

/** Where a multi-model container's models come from and go to, and what the front door has loaded in it. */
export interface MultiModelHost {
  /** Folder of model archives or folders, standing in for the model's S3 prefix (`ModelDataUrl`). */
  source: string;
  /** Host folder the container loads from (`<its /opt/ml>/models`). */
  hostDir: string;
  /** The same folder as the container sees it (`/opt/ml/models` in an image; `hostDir` for a process). */
  containerDir: string;
  /**
   * `MultiModelConfig.ModelCacheSetting`: `Disabled` unloads each model and deletes its copy once
   * no invocation uses it (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-caching.html).
   */
  cacheModels: boolean;
  /** Loads done or under way, by `TargetModel`: each resolves to the container's model name. */
  loads: Map<string, Promise<string>>;
  /** Invocations holding each `TargetModel` (from the wait for its load to their answer): never unloaded. */
  inUse: Map<string, number>;
  /** `TargetModel`s loaded, least recently invoked first: what a 507 from the container unloads first. */
  recent: Set<string>;
  /** Unloads under way, by `TargetModel`: a new load of it waits for its unload. */
  unloading: Map<string, Promise<void>>;
  /** Aborted when the container's instance stops: cuts short every load of it (download, extraction, `POST /models`). */
  stopping: AbortController;
  /** Loads under way (settled or not), which the stop waits for. */
  pending: Set<Promise<unknown>>;
  /**
   * `TargetModel`s whose last load failed on what was fetched (an archive that cannot be extracted,
   * a model the container would not load): the next load fetches the object again and extracts it
   * anew, so an object fixed in S3 (or in the folder) since is what loads.
   */
  failed: Set<string>;
  /**
   * Puts a `TargetModel` that `source` does not hold there from where the model data lives (the
   * S3 prefix), as the service downloads a model on its first invocation; aborting `signal` stops
   * the download and removes what it wrote. Absent: `source` is all there is.
   */
  fetch?: (targetModel: string, signal: AbortSignal) => Promise<FetchedModel>;
}

/** A {@link MultiModelHost} with nothing loaded yet. */
export function multiModelHost(where: { source: string; hostDir: string; containerDir: string; fetch?: (targetModel: string, signal: AbortSignal) => Promise<FetchedModel> }, cacheModels = true): MultiModelHost {
  return { ...where, cacheModels, loads: new Map(), inUse: new Map(), recent: new Set(), unloading: new Map(), stopping: new AbortController(), pending: new Set(), failed: new Set() };
}

/** A container as the front door sees it: where it listens and where its log goes. */
export interface ChainContainer {
  hostname: string;
  url: string;
  logFile: string;
  /** Set for a multi-model container: models load on demand by `TargetModel`. */
  multiModel?: MultiModelHost;
}

/**
 * Why a container failed: it answered 4xx/5xx, could not be reached, ran past the timeout,
 * answered with more than the invocation may return (`too-large`), or answered what cannot be read
 * as an HTTP/1.1 response (`malformed`).
 */
export type FailureKind = 'status' | 'unreachable' | 'timeout' | 'too-large' | 'malformed';

/**
 * What fetch's error says of a container answer that cannot be read as HTTP/1.1 (an invalid
 * character in a header, a bad status line or chunk size: undici's `HTTPParserError`; headers over
 * the 16 KB it reads: `HeadersOverflowError`), as `<code>: <message>`; undefined for any other
 * error (a refused or reset connection).
 */
export function malformedAnswer(err: unknown): string | undefined {
  const cause = (err as { cause?: { name?: string; code?: string; message?: string } } | undefined)?.cause;
  return cause?.name === 'HTTPParserError' || cause?.name === 'HeadersOverflowError' ? `${cause.code ?? cause.name}: ${cause.message ?? ''}` : undefined;
}

/**
 * The failure that reading a container's answer (its body, once its status and headers came) threw
 * `err` stands for: a timeout when `timedOut` (the time it had ran out first), `malformed` for an
 * answer that cannot be read as HTTP/1.1, else a connection lost part-way. `doing` (`loading
 * <model>: `) opens the detail.
 */
export function answerReadFailure(err: unknown, container: ChainContainer, index: number, timedOut: boolean, timeoutMs: number, doing = ''): ContainerFailure {
  if (timedOut) return new ContainerFailure('timeout', container, index, undefined, `${doing}no complete response within ${secondsText(timeoutMs)} s`);
  const malformed = malformedAnswer(err);
  if (malformed !== undefined) return new ContainerFailure('malformed', container, index, undefined, `${doing}${malformed}`);
  return new ContainerFailure('unreachable', container, index, undefined, `${doing}connection lost while reading the response: ${(err as Error).message}`);
}

/** What the caller can do about a connection that failed with `code` (undici's cause). */
function connectionAdvice(code: string | undefined): string {
  switch (code) {
    case 'EMFILE':
    case 'ENFILE':
      return 'this process (smkit local) has no file descriptors to spare: raise its open files limit (ulimit -n) or send fewer requests at once, then retry';
    case 'ECONNREFUSED':
      return 'nothing listens at its address: the container may have exited or be restarting';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'the container closed the connection: it may have exited or be restarting';
    default:
      return 'it may have exited';
  }
}

/**
 * The failure for a request to a container that fetch could not make (`err`): undici's own
 * message is a bare "fetch failed", its `cause` says why (ECONNREFUSED, EMFILE, UND_ERR_SOCKET),
 * which the detail names, after `doing` (`loading <model>: `), with what the caller can do.
 */
export function unreachableFailure(err: unknown, container: ChainContainer, index: number, doing = ''): ContainerFailure {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const said = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : undefined;
  const why = said === undefined ? (code ?? (err as Error).message) : code === undefined || said.includes(code) ? said : `${code}: ${said}`;
  const failure = new ContainerFailure('unreachable', container, index, undefined, `${doing}${why}`);
  failure.advice = connectionAdvice(code);
  return failure;
}

/** A container in a chain failed; carries what the front door needs for a `ModelError`. */
export class ContainerFailure extends Error {
  /** What the caller can do (kind `unreachable`), when known. */
  advice?: string;

  constructor(
    readonly kind: FailureKind,
    readonly container: ChainContainer,
    /** Position in the chain, from 0. */
    readonly index: number,
    /** The container's HTTP status (kind `status`). */
    readonly status: number | undefined,
    /** The container's response body as text (kind `status`), else a description. */
    readonly detail: string,
    /**
     * The container's error answer as it sent it (kind `status`, from a chain; at most
     * `MAX_ERROR_ANSWER_BYTES`): an asynchronous invocation's failure location gets it.
     */
    readonly answer?: { body: Buffer; contentType: string | undefined },
  ) {
    super(`${container.hostname}: ${kind}${status === undefined ? '' : ` ${status}`}: ${detail}`);
    this.name = 'ContainerFailure';
  }
}
