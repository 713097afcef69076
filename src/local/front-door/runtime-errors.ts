import { ToolkitError } from '../../errors/catalogue.js';
import { firstChars } from '../../errors/text-cut.js';
import type { ContainerFailure } from '../endpoint/container.js';
import { ServerlessThrottlingError } from '../fleet/serverless-pool.js';
import { InstanceStartError } from '../fleet/instance-launcher.js';

/** Error types of the SageMaker Runtime API (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors). */
export type RuntimeErrorType = 'ValidationError' | 'ModelError' | 'ModelNotReadyException' | 'InternalFailure' | 'ServiceUnavailable' | 'UnknownOperationException' | 'ThrottlingException' | 'AccessDeniedException';

/**
 * An error answered the way the SageMaker Runtime service answers (restJson1): HTTP status, the
 * `x-amzn-ErrorType` header, and a JSON body with `Message` plus type-specific members, so that AWS
 * SDKs raise their usual exception classes.
 */
export class RuntimeApiError extends Error {
  constructor(
    readonly type: RuntimeErrorType,
    readonly status: number,
    message: string,
    readonly members: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }

  /** The JSON body: `{"Message": ..., ...members}`. */
  body(): Record<string, unknown> {
    return { Message: this.message, ...this.members };
  }
}

/** One failed constraint, in the words AWS services use for request validation. */
export interface ConstraintViolation {
  value: string;
  member: string;
  constraint: string;
  /**
   * A member the API model marks `sensitive` (`Body`, `CustomAttributes`): its value is not
   * quoted, as the service words it ("Value at 'body' failed to satisfy constraint: ...",
   * aws/aws-sdk-js#4203), so it never reaches an error message or a log.
   */
  sensitive?: boolean;
}

/**
 * `1 validation error detected: Value 'x' at 'targetVariant' failed to satisfy constraint: ...`
 * (`Value at 'customAttributes' ...` for a sensitive member).
 */
export function validationError(violations: readonly ConstraintViolation[]): RuntimeApiError {
  const n = violations.length;
  const shown = (v: ConstraintViolation) => (v.sensitive ? 'Value' : `Value '${v.value.length > 100 ? `${firstChars(v.value, 100)}...` : v.value}'`);
  const parts = violations.map((v) => `${shown(v)} at '${v.member}' failed to satisfy constraint: ${v.constraint}`);
  return new RuntimeApiError('ValidationError', 400, `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`);
}

/** The unknown-endpoint error, worded as the service words it. */
export function endpointNotFound(endpoint: string, accountId: string): RuntimeApiError {
  return new RuntimeApiError('ValidationError', 400, `Endpoint ${endpoint} of account ${accountId} not found.`);
}

/**
 * Longest `Message` and `OriginalMessage` the SageMaker Runtime API model allows (shape `Message`,
 * `max: 2048`, botocore `sagemaker-runtime/2017-05-13/service-2.json`).
 */
export const MAX_MESSAGE_LENGTH = 2048;

/** Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair. */
export function truncateMessage(text: string, max = MAX_MESSAGE_LENGTH): string {
  return firstChars(text, max);
}

/**
 * Maps a container failure to what the service returns:
 * - a 4xx/5xx answer → 424 `ModelError` with `OriginalStatusCode`, `OriginalMessage` and
 *   `LogStreamArn`: the ARN of the endpoint's log group (`arn:aws:logs:<region>:<account>:log-group:/aws/sagemaker/Endpoints/<name>`,
 *   as the service answers) when `logGroupArn` is given, else the container's log file; the message
 *   names the log file either way, and is modelled on observed service messages;
 *   `Message` and `OriginalMessage` are at most 2048 characters, as the API model says: a body too
 *   long to quote whole is described instead of quoted, and `OriginalMessage` is its first 2048;
 * - a timeout → 424 `ModelError` (status 0), as the service reports invocation timeouts;
 * - an answer over the 6 MB response limit, or one that cannot be read as HTTP/1.1 (an invalid
 *   character in a header, a bad status line, headers over 16 KB) → 424 `ModelError` (status 0) saying so. What the service answers
 *   then is not documented (an answer it cannot return is the model's failure, as a timeout is, so
 *   it is reported the way a timeout is, and not as a 503 the SDKs would retry for the same answer);
 * - a container that cannot be reached → 503 `ServiceUnavailable`.
 */
export function modelErrorFor(failure: ContainerFailure, logGroupArn?: string): RuntimeApiError {
  const { container } = failure;
  const logStreamArn = logGroupArn ?? container.logFile;
  const see = `See ${container.logFile} for more information.`;
  if (failure.kind === 'status') {
    const status = failure.status!;
    // A 3xx is a multi-model load's redirect, which is not followed: no error class of its own.
    const kind = status >= 500 ? 'server error' : status >= 400 ? 'client error' : 'redirect';
    const quoted = `Received ${kind} (${status}) from ${container.hostname} with message "${failure.detail}". ${see}`;
    const message =
      quoted.length <= MAX_MESSAGE_LENGTH
        ? quoted
        : `Received ${kind} (${status}) from ${container.hostname} and could not load the entire response body. ${see}`;
    return new RuntimeApiError('ModelError', 424, truncateMessage(message), {
      OriginalStatusCode: status,
      OriginalMessage: truncateMessage(failure.detail),
      LogStreamArn: logStreamArn,
    });
  }
  if (failure.kind === 'timeout' || failure.kind === 'too-large' || failure.kind === 'malformed') {
    const original =
      failure.kind === 'timeout'
        ? `Your invocation timed out while waiting for a response from container ${container.hostname} (${failure.detail}). Check its log, resolve the issue, and try again.`
        : failure.kind === 'too-large'
          ? `The response from container ${container.hostname} could not be returned: ${failure.detail}. Return a smaller answer, or use InvokeEndpointWithResponseStream or an asynchronous endpoint for large ones.`
          : `The response from container ${container.hostname} could not be read as HTTP/1.1 (${failure.detail}). Fix how the container writes its answer: its status line, its headers (no control characters in a name or value, at most 16 KB in all) and, when chunked, its chunk sizes.`;
    return new RuntimeApiError('ModelError', 424, truncateMessage(`Received server error (0) from ${container.hostname} with message "${original}". ${see}`), {
      OriginalStatusCode: 0,
      OriginalMessage: truncateMessage(original),
      LogStreamArn: logStreamArn,
    });
  }
  return new RuntimeApiError('ServiceUnavailable', 503, `Container ${container.hostname} is not reachable (${failure.detail}); ${failure.advice ?? 'it may have exited'}. ${see}`);
}

/**
 * The request and response bodies the front door holds already take the memory
 * `SMKIT_LOCAL_BODY_MEMORY_MB` allows. The service answers a request it cannot take now with 503
 * `ServiceUnavailable` ("The service is unavailable. Try your call again.", InvokeEndpoint's errors,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors),
 * which the AWS SDKs retry: the caller is not wrong, and a retry may pass.
 */
export function frontDoorBusy(heldBytes: number, maxBytes: number): RuntimeApiError {
  const mb = (bytes: number) => `${+(bytes / (1024 * 1024)).toFixed(2)} MB`;
  return new RuntimeApiError(
    'ServiceUnavailable',
    503,
    `The request and response bodies the local front door holds already take ${mb(heldBytes)} of the ${mb(maxBytes)} SMKIT_LOCAL_BODY_MEMORY_MB allows; retry shortly, send smaller bodies, or raise SMKIT_LOCAL_BODY_MEMORY_MB.`,
  );
}

/**
 * The front door already holds as many connections as its open files limit leaves room for: 503
 * `ServiceUnavailable`, as {@link frontDoorBusy} (the SageMaker Runtime API has no throttling error
 * of its own; the AWS SDKs retry a 503).
 */
export function frontDoorConnectionsFull(open: number, fileLimit: number): RuntimeApiError {
  return new RuntimeApiError(
    'ServiceUnavailable',
    503,
    `The local front door already holds ${open} connections, as many as its open files limit (ulimit -n ${fileLimit}) leaves room for; retry shortly, or raise the limit.`,
  );
}

/**
 * A variant with no instance in service (`ERR_NO_INSTANCE_IN_SERVICE`: every instance died and
 * replacements are starting) answers as the service does when it cannot serve a request: 503
 * `ServiceUnavailable` ("The service is unavailable. Try your call again."), which AWS SDKs retry.
 * Undefined for any other error.
 */
export function noInstanceInService(endpoint: string, err: unknown): RuntimeApiError | undefined {
  if (!(err instanceof ToolkitError) || err.code !== 'ERR_NO_INSTANCE_IN_SERVICE') return undefined;
  return new RuntimeApiError('ServiceUnavailable', 503, `Endpoint ${endpoint}: ${err.message}`);
}

/**
 * The instance a serverless cold start launched for this invocation did not pass `/ping` (its
 * model failed to load, it exited, or it did not answer 200 within the 3 minutes): 500
 * `InternalFailure` naming the container, what it did and its last log lines. AWS documents no
 * answer for a failed cold start; like any 500 the AWS SDKs retry it, each retry a cold start of
 * its own. Undefined for any other error.
 */
export function coldStartFailed(endpoint: string, err: unknown): RuntimeApiError | undefined {
  if (!(err instanceof InstanceStartError)) return undefined;
  const tail = err.logTail.trim() === '' ? '' : ` Its last log lines:\n${err.logTail.trimEnd()}`;
  return new RuntimeApiError('InternalFailure', 500, truncateMessage(`Endpoint ${endpoint}: the instance started for this invocation (a serverless cold start) did not pass the ping health check: container ${err.hostname} ${err.reason}; fix the model or its container, then try your call again.${tail}`));
}

/**
 * A serverless variant already serving `MaxConcurrency` requests throttles the next one. The
 * runtime API answers throttling as `ThrottlingException` with HTTP 400 (CommonErrors in the
 * SageMaker API reference; the AWS SDKs retry it as a throttling error). Undefined for any other error.
 */
export function serverlessThrottled(endpoint: string, err: unknown): RuntimeApiError | undefined {
  if (!(err instanceof ServerlessThrottlingError)) return undefined;
  return new RuntimeApiError('ThrottlingException', 400, `Endpoint ${endpoint}: ${err.message}`);
}

/**
 * Every instance of the variant already has the invocations `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE`
 * allows in flight (`ERR_INSTANCES_BUSY`). SageMaker sends each request to a container as it comes
 * and throttles, at once, those an endpoint cannot take (an AWS answer on re:Post: "we do have
 * throttling in place ... In case of throttling you will get the error response immediately",
 * https://repost.aws/questions/QUfOh3ije6SsGZ-xrzRz0xzg), as `ThrottlingException` with HTTP 400
 * (CommonErrors in the SageMaker API reference), which the AWS SDKs retry with backoff.
 * Undefined for any other error.
 */
export function instancesBusy(endpoint: string, err: unknown): RuntimeApiError | undefined {
  if (!(err instanceof ToolkitError) || err.code !== 'ERR_INSTANCES_BUSY') return undefined;
  return new RuntimeApiError('ThrottlingException', 400, `Endpoint ${endpoint}: ${err.message}`);
}
