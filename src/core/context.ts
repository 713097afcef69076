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
   * `signal.reason` says which (`code` `ERR_TIMEOUT`, `ERR_CLIENT_GONE`, `ERR_SHUTTING_DOWN`). Pass it
   * to `fetch` or check it in long loops to stop work that would be thrown away.
   */
  readonly signal: AbortSignal;
}
