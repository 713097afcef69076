/** A minimal structured logger (pino-compatible subset) handed to user code and steps. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  /** Whether a level is logged (lets hot paths skip building debug records). */
  isLevelEnabled?(level: string): boolean;
}

/** SageMaker request headers that reach user code (lower-cased names, see https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html). */
export interface SageMakerHeaders {
  /** `X-Amzn-SageMaker-Custom-Attributes`, opaque, up to 1024 ASCII characters. */
  customAttributes?: string;
  /** `X-Amzn-SageMaker-Inference-Id`. */
  inferenceId?: string;
  /** `X-Amzn-SageMaker-Target-Model` (multi-model endpoints). */
  targetModel?: string;
  /** `X-Amzn-SageMaker-Target-Variant`. */
  targetVariant?: string;
}

/**
 * The stateful session an invocation runs in (`X-Amzn-SageMaker-Session-Id`, with
 * `SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true`). Its store is a folder every worker of the server
 * shares, so state put by one request is there for the next, whichever worker takes it.
 */
export interface InvocationSession {
  /** The session id the client sends back in `X-Amzn-SageMaker-Session-Id`. */
  readonly id: string;
  /** When the session expires. */
  readonly expiresAt: Date;
  /** The session's own folder, for state that is not JSON; removed when the session ends. */
  readonly dir: string;
  /** The JSON value stored under `key` (1 to 128 letters, digits, `.`, `_`, `-`), or `fallback`. */
  get<T = unknown>(key: string, fallback?: T): Promise<T | undefined>;
  /** Stores a JSON value under `key`. */
  put(key: string, value: unknown): Promise<void>;
  /** Ends the session once this answer is sent (the answer carries `X-Amzn-SageMaker-Closed-Session-Id`). */
  close(): void;
}

/**
 * What user code and pipeline steps learn about the current invocation. Passed as the last
 * argument to every handler hook.
 */
export interface InvocationContext extends SageMakerHeaders {
  /** Unique id of this request (also in every log line about it). */
  readonly requestId: string;
  /** The request `Content-Type`, as sent (parameters kept). */
  readonly contentType: string;
  /** The media type chosen for the response (after Accept negotiation). */
  readonly accept: string;
  /** The model directory (read-only on SageMaker). */
  readonly modelDir: string;
  /** Logger bound to this request. */
  readonly log: Logger;
  /** Sets the `X-Amzn-SageMaker-Custom-Attributes` response header. */
  setCustomAttributes(value: string): void;
  /**
   * Aborts when nobody waits for this answer any more: the invocation ran past
   * `SAGEMAKER_MODEL_SERVER_TIMEOUT`, its client closed the connection, or the server stopped.
   * `signal.reason` says which (`code` `ERR_TIMEOUT`, `ERR_CLIENT_GONE`, `ERR_SHUTTING_DOWN`; on a
   * bidirectional stream also `ERR_PAYLOAD_TOO_LARGE` or `ERR_BAD_REQUEST` after a protocol error). Pass it
   * to `fetch` or check it in long loops to stop work that would be thrown away.
   */
  readonly signal: AbortSignal;
  /** The stateful session this invocation runs in; undefined outside sessions. */
  readonly session?: InvocationSession;
}
