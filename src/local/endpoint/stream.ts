import { CLOSED_SESSION_ID_HEADER, SAGEMAKER_HEADERS } from '../../core/sagemaker-headers.js';
import { ContainerFailure, openedSessionOf, requestHeaders, type ChainContainer, type InvokeEndpointRequest } from './chain.js';
import { answerReadFailure, malformedAnswer, unreachableFailure } from './container.js';
import { acquireModel } from './multi-model.js';
import { MAX_ERROR_ANSWER_BYTES, readAtMost } from './read-answer.js';
import { secondsText } from '../../core/seconds-text.js';

/** Response streaming needs a single container; the variant is a serial pipeline. */
export class PipelineStreamingError extends Error {
  constructor(readonly variant: string, readonly containers: number) {
    super(`variant ${variant} is a serial pipeline of ${containers} containers; response streaming needs one`);
    this.name = 'PipelineStreamingError';
  }
}

/**
 * The container did not finish its streamed answer within the invocation timeout: the service ends
 * such a stream with a `ModelStreamError` whose `ErrorCode` is `ModelInvocationTimeExceeded`.
 */
export class StreamTimeoutError extends Error {
  constructor(readonly hostname: string, readonly timeoutMs: number) {
    super(`${hostname} did not finish its streamed answer within ${secondsText(timeoutMs)} s`);
    this.name = 'StreamTimeoutError';
  }
}

/**
 * The container's streamed answer broke part way (its connection closed, or it sent what is not
 * HTTP/1.1): the service ends such a stream with a `ModelStreamError` whose `ErrorCode` is
 * `StreamBroken` ("the TCP connection between the client and the model was reset or closed").
 */
export class StreamBrokenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StreamBrokenError';
  }
}

/** A container's answer as it streams: its content type and the chunks as they arrive. */
export interface StreamedAnswer {
  contentType: string;
  customAttributes?: string;
  /**
   * The stateful session the container closed (its `X-Amzn-SageMaker-Closed-Session-Id`): the
   * streaming operation's output has no `ClosedSessionId`, but the session is over all the same.
   */
  closedSessionId?: string;
  /**
   * A stateful session the container opened all the same (`<id>; Expires=<time>`): the operation
   * cannot ask for one (`NEW_SESSION` is refused), but a body `{"requestType": "NEW_SESSION"}` with
   * an open session's id opens another, whose id the answer's body carries.
   */
  newSessionId?: string;
  chunks: AsyncIterable<Uint8Array>;
}

/** Options of a streamed invocation. */
export interface StreamOptions {
  /** How long the container has to send its whole answer. @defaultValue the endpoint's invocation timeout */
  timeoutMs?: number;
  /**
   * Aborted when the caller has gone (its connection closed): the container's answer is no longer
   * read, its connection is closed, and the stream's chunks end with an error.
   */
  signal?: AbortSignal;
}

/**
 * Opens a streamed invocation of one container (`InvokeEndpointWithResponseStream`,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointWithResponseStream.html): the same `POST /invocations`, read chunk by chunk. An error status
 * arrives before any chunk and throws a {@link ContainerFailure}, like a normal invocation.
 * `signal` (the caller went away) stops the request and the reading of the answer.
 */
export async function openStream(container: ChainContainer, req: InvokeEndpointRequest, timeoutMs: number, signal?: AbortSignal): Promise<StreamedAnswer> {
  const lease = container.multiModel ? await acquireModel(container, container.multiModel, req.targetModel, 0, timeoutMs) : undefined;
  try {
    const answer = await openRoute(container, lease ? `/models/${lease.name}/invoke` : '/invocations', req, timeoutMs, signal);
    if (!lease) return answer;
    // The model is held until its last chunk is read (or the reading stops).
    const chunks = answer.chunks;
    return {
      ...answer,
      chunks: (async function* () {
        try {
          yield* chunks;
        } finally {
          lease.release();
        }
      })(),
    };
  } catch (err) {
    lease?.release();
    throw err;
  }
}

async function openRoute(container: ChainContainer, route: string, req: InvokeEndpointRequest, timeoutMs: number, signal: AbortSignal | undefined): Promise<StreamedAnswer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(`${container.url}${route}`, {
      method: 'POST',
      headers: requestHeaders(req, req.contentType, req.accept),
      body: req.body,
      // As for InvokeEndpoint (chain.ts): a redirect is the container's answer, not followed.
      redirect: 'manual',
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new ContainerFailure('timeout', container, 0, undefined, `no response within ${secondsText(timeoutMs)} s`);
    const malformed = malformedAnswer(err);
    if (malformed !== undefined) throw new ContainerFailure('malformed', container, 0, undefined, malformed);
    throw unreachableFailure(err, container, 0);
  }
  if (res.status >= 400) throw new ContainerFailure('status', container, 0, res.status, await errorAnswer(res, container, timeout, timeoutMs, signal));
  const body = res.body;
  const opened = openedSessionOf(res.headers);
  return {
    contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    ...(res.headers.get(SAGEMAKER_HEADERS.customAttributes.header) === null ? {} : { customAttributes: res.headers.get(SAGEMAKER_HEADERS.customAttributes.header)! }),
    ...(res.headers.get(CLOSED_SESSION_ID_HEADER) === null ? {} : { closedSessionId: res.headers.get(CLOSED_SESSION_ID_HEADER)! }),
    ...(opened === undefined ? {} : { newSessionId: opened }),
    chunks: body ? timed(body as unknown as AsyncIterable<Uint8Array>, container, timeout, timeoutMs) : (async function* () {})(),
  };
}

/**
 * The text of a container's error answer (its first {@link MAX_ERROR_ANSWER_BYTES}). One that does
 * not finish in time, or whose connection is lost part-way, fails as it does for `InvokeEndpoint`
 * (a timeout, a lost connection), not as an error of the front door's own.
 */
async function errorAnswer(res: Response, container: ChainContainer, timeout: AbortSignal, timeoutMs: number, signal: AbortSignal | undefined): Promise<string> {
  try {
    return (await readAtMost(res, MAX_ERROR_ANSWER_BYTES)).body.toString('utf8');
  } catch (err) {
    // The model has answered its error status; a caller leaving while its text is read does not
    // undo that (the status is what Invocation4XX/5XXErrors count).
    if (signal?.aborted) return '(not read: the caller went away)';
    throw answerReadFailure(err, container, 0, timeout.aborted, timeoutMs);
  }
}

/**
 * The chunks of `body`; a read cut by the timeout throws {@link StreamTimeoutError}, any other
 * failure a {@link StreamBrokenError} that says what broke: undici's own message is a bare "terminated", its `cause`
 * says why (the container closed the connection, or sent what is not HTTP/1.1).
 */
async function* timed(body: AsyncIterable<Uint8Array>, container: ChainContainer, timeout: AbortSignal, timeoutMs: number): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (err) {
    if (timeout.aborted) throw new StreamTimeoutError(container.hostname, timeoutMs);
    // The caller went away (its signal aborted the read): nothing broke.
    if ((err as Error | undefined)?.name === 'AbortError') throw err;
    const malformed = malformedAnswer(err);
    if (malformed !== undefined) throw new StreamBrokenError(`container ${container.hostname} sent an answer that is not HTTP/1.1 (${malformed})`, { cause: err });
    const why = (err as { cause?: { message?: unknown } }).cause?.message;
    throw new StreamBrokenError(`the connection to container ${container.hostname} closed before its answer ended${typeof why === 'string' && why !== '' ? ` (${why})` : ''}`, { cause: err });
  }
}
