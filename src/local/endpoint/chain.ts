import type { SageMakerHeaders } from '../../core/context.js';
import { CLOSED_SESSION_ID_HEADER, NEW_SESSION_ID_HEADER, SAGEMAKER_HEADERS, SESSION_ID_HEADER, writeSageMakerHeaders } from '../../core/sagemaker-headers.js';
import { answerReadFailure, ContainerFailure, malformedAnswer, unreachableFailure, type ChainContainer } from './container.js';
import { acquireModel, type ModelLease } from './multi-model.js';
import type { BodyBudget } from '../../server/body-budget.js';
import { deadline } from './deadline.js';
import { AnswerOverBudgetError, MAX_ERROR_ANSWER_BYTES, MAX_REALTIME_ANSWER_BYTES, readAtMost, type CappedAnswer } from './read-answer.js';
import { secondsText } from '../../core/seconds-text.js';

/** Re-exported for callers of {@link invokeChain}, which takes these containers and throws these failures. */
export { ContainerFailure, type ChainContainer } from './container.js';

/** An `InvokeEndpoint` call as the caller sent it (the Runtime API's request members). */
export interface InvokeEndpointRequest extends SageMakerHeaders {
  body: Buffer;
  contentType: string;
  accept?: string;
  /** `TargetContainerHostname`: the one container of a Direct-mode pipeline to invoke. */
  targetContainerHostname?: string;
  /** `SessionId`: `NEW_SESSION`, or the stateful session the request belongs to. */
  sessionId?: string;
  /** `PrefixAwareId`: with the body's prefix, chooses the instance of a `PREFIX_AWARE` variant; never sent to a container. */
  prefixAwareId?: string;
}

/** What an endpoint answers an `InvokeEndpoint` call with: the (last) container's successful answer. */
export interface InvokeEndpointResponse {
  body: Buffer;
  contentType: string;
  customAttributes?: string;
  /** `NewSessionId`: the session the container opened, `<id>; Expires=<time>`. */
  newSessionId?: string;
  /** `ClosedSessionId`: the session the container closed. */
  closedSessionId?: string;
  /**
   * The first container that answered without `Content-Length` (chunked): `InvokeEndpoint` takes
   * such an answer, asynchronous inference does not.
   */
  unsizedBy?: string;
}

/**
 * The session a container says it opened: AWS's stateful-sessions page has the container answer
 * `X-Amzn-SageMaker-Session-Id: <id>; Expires=<time>`, AWS's model hosting container standards
 * answer `X-Amzn-SageMaker-New-Session-Id`, with `; Expires=<time>` for their own sessions and as
 * the id alone for an engine's (its create-session transform); either is taken. Only the first
 * names a session already open too, in a container that echoes it: without `Expires` it is not taken.
 */
export function openedSessionOf(headers: Headers): string | undefined {
  const announced = headers.get(NEW_SESSION_ID_HEADER)?.trim();
  if (announced) return announced;
  const value = headers.get(SESSION_ID_HEADER) ?? undefined;
  return value !== undefined && /;\s*Expires=/i.test(value) ? value : undefined;
}

/** Options of {@link invokeChain}. */
export interface ChainOptions {
  /** Per-container time limit (SageMaker allows 60 s, https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html). @defaultValue 60 000 */
  timeoutMs?: number;
  /**
   * Largest answer read from each container: one longer is not read further and fails the
   * invocation (`ContainerFailure` of kind `too-large`), so memory stays bounded whatever the
   * container sends. @defaultValue {@link MAX_REALTIME_ANSWER_BYTES}, the real-time response limit
   */
  maxAnswerBytes?: number;
  /**
   * The memory the front door's bodies share (`SMKIT_LOCAL_BODY_MEMORY_MB`): each answer's bytes
   * are taken from it as they arrive; one that does not fit fails the invocation with
   * `AnswerOverBudgetError`. An earlier container's answer is given back once the next one's is
   * read; the last one's `body.length` bytes are the caller's to give back. @defaultValue unbounded
   */
  budget?: BodyBudget;
  /**
   * Fails a container's 3xx answer (`ContainerFailure` of kind `status`) instead of taking it as
   * the container's answer: for a health check (the deep ping), which only a 2xx passes.
   * @defaultValue false
   */
  refuseRedirects?: boolean;
}

/**
 * The headers one container of a chain gets: the caller's SageMaker headers, this stage's content
 * type and Accept, and `Accept-Encoding: identity`.
 */
export function requestHeaders(req: InvokeEndpointRequest, contentType: string, accept: string | undefined): Record<string, string> {
  // `*/*` (what fetch would send anyway) means "your SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT". fetch
  // would also ask for `gzip, deflate`, which a container's compression middleware takes up; the
  // InvokeEndpoint response has no Content-Encoding (API_runtime_InvokeEndpoint), so the answer is asked for as is.
  const headers = writeSageMakerHeaders(req, { 'content-type': contentType, accept: accept ?? '*/*', 'accept-encoding': 'identity' });
  if (req.sessionId !== undefined) headers[SESSION_ID_HEADER] = req.sessionId;
  return headers;
}

/**
 * POSTs `body` to one container's `route` and reads its answer (an error answer up to
 * {@link MAX_ERROR_ANSWER_BYTES}). Only a successful answer that was read whole keeps its bytes of
 * `budget`; an error or cut one has given them back already.
 */
async function post(container: ChainContainer, index: number, route: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, maxAnswerBytes: number, budget: BodyBudget | undefined): Promise<{ res: Response; answer: CappedAnswer }> {
  const limit = deadline(timeoutMs);
  try {
    return await postWithin(container, index, route, headers, body, timeoutMs, maxAnswerBytes, budget, limit.signal);
  } finally {
    limit.clear();
  }
}

/** {@link post} under `timeout`, which aborts the request and the reading of its answer. */
async function postWithin(container: ChainContainer, index: number, route: string, headers: Record<string, string>, body: Buffer, timeoutMs: number, maxAnswerBytes: number, budget: BodyBudget | undefined, timeout: AbortSignal): Promise<{ res: Response; answer: CappedAnswer }> {
  let res: Response;
  try {
    // A redirect is not followed (to whatever host the container names): its answer is the container's.
    res = await fetch(`${container.url}${route}`, { method: 'POST', headers, body, redirect: 'manual', signal: timeout });
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ContainerFailure('timeout', container, index, undefined, `no response within ${secondsText(timeoutMs)} s`);
    }
    const malformed = malformedAnswer(err);
    if (malformed !== undefined) throw new ContainerFailure('malformed', container, index, undefined, malformed);
    throw unreachableFailure(err, container, index);
  }
  let answer: CappedAnswer;
  try {
    answer = await readAtMost(res, res.status >= 400 ? MAX_ERROR_ANSWER_BYTES : maxAnswerBytes, budget && { bytes: budget, hostname: container.hostname });
  } catch (err) {
    if (err instanceof AnswerOverBudgetError) throw err;
    // The answer started but did not finish in time: a timeout, as when it does not start.
    throw answerReadFailure(err, container, index, timeout.aborted, timeoutMs);
  }
  if (res.status >= 400 || answer.cut) budget?.give(answer.body.length);
  return { res, answer };
}

/**
 * Sends a request through one container or a serial inference pipeline (https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-real-time.html): container i's response body and `Content-Type` become container i+1's
 * request; the caller's `Accept` goes to the last container only; the earlier ones get `Accept: *\/*`
 * and so answer in their own `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`. Throws {@link ContainerFailure} naming the
 * container that failed.
 */
export async function invokeChain(containers: readonly ChainContainer[], req: InvokeEndpointRequest, opts: ChainOptions = {}): Promise<InvokeEndpointResponse> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const maxAnswerBytes = opts.maxAnswerBytes ?? MAX_REALTIME_ANSWER_BYTES;
  let body = req.body;
  let contentType = req.contentType;
  let customAttributes: string | undefined;
  let newSessionId: string | undefined;
  let closedSessionId: string | undefined;
  let unsizedBy: string | undefined;
  // Bytes of `body` taken from the budget (the caller's request body is not this chain's to give back).
  let held = 0;
  // Each multi-model load is held until its container has answered.
  const leases: ModelLease[] = [];
  try {
    for (const [index, container] of containers.entries()) {
      const last = index === containers.length - 1;
      const headers = requestHeaders(req, contentType, last ? req.accept : undefined);
      let lease: ModelLease | undefined;
      if (container.multiModel) {
        lease = await acquireModel(container, container.multiModel, req.targetModel, index, timeoutMs);
        leases.push(lease);
      }
      const route = lease ? `/models/${lease.name}/invoke` : '/invocations';
      let { res, answer } = await post(container, index, route, headers, body, timeoutMs, maxAnswerBytes, opts.budget);
      // A 404 from a multi-model container may mean the model is no longer loaded there: the
      // service loads a model that is not loaded, so it is loaded again and invoked once more.
      if (res.status === 404 && lease && (await lease.reload(timeoutMs))) {
        ({ res, answer } = await post(container, index, route, headers, body, timeoutMs, maxAnswerBytes, opts.budget));
      }
      // A 507: not enough memory (a GPU's) for the invocation, which on the service triggers the
      // unloading of unused models; as for a load's 507, the least recently used idle one goes and
      // the invocation is sent once more.
      if (res.status === 507 && lease) {
        const refused = answer;
        const unloaded = await lease.makeRoom();
        let why = unloaded === undefined ? 'no other model was loaded and idle to unload; give the container more memory or invoke fewer models at a time' : undefined;
        if (unloaded !== undefined) {
          ({ res, answer } = await post(container, index, route, headers, body, timeoutMs, maxAnswerBytes, opts.budget));
          if (res.status === 507) why = `still 507 after unloading the least recently used idle model ${unloaded}; give the container more memory or invoke fewer models at a time`;
          // A container may unload the model its memory failed (smkit serve does, for a thread out
          // of heap): that 404 says only so, and the caller gets the 507 (the model is not loaded
          // and run a third time for a request that has just run it out of memory).
          else if (res.status === 404) {
            why = `sent again after unloading the least recently used idle model ${unloaded}, it was no longer loaded (404): the container unloaded it with its 507, and the next invocation loads it again; give the container more memory or send smaller requests`;
            answer = refused;
          }
        }
        if (why !== undefined) throw new ContainerFailure('status', container, index, 507, `${answer.body.toString('utf8')} (invoking ${req.targetModel}: ${why})`);
      }
      if (opts.refuseRedirects && res.status >= 300 && res.status < 400) {
        opts.budget?.give(answer.body.length);
        const location = res.headers.get('location');
        throw new ContainerFailure('status', container, index, res.status, `a redirect${location === null ? '' : ` to ${location}`}, which is not followed and is not a 2xx answer: ${answer.body.toString('utf8')}`);
      }
      if (res.status >= 400 || answer.cut) {
        if (res.status >= 400) throw new ContainerFailure('status', container, index, res.status, answer.body.toString('utf8'), { body: answer.body, contentType: res.headers.get('content-type') ?? undefined });
        throw new ContainerFailure('too-large', container, index, undefined, `its answer is larger than ${maxAnswerBytes} bytes, the most an invocation returns; it was not read further`);
      }
      opts.budget?.give(held);
      body = answer.body;
      held = body.length;
      if (!res.headers.has('content-length')) unsizedBy ??= container.hostname;
      contentType = res.headers.get('content-type') ?? 'application/octet-stream';
      customAttributes = res.headers.get(SAGEMAKER_HEADERS.customAttributes.header) ?? undefined;
      newSessionId = openedSessionOf(res.headers) ?? newSessionId;
      closedSessionId = res.headers.get(CLOSED_SESSION_ID_HEADER) ?? closedSessionId;
    }
  } catch (err) {
    opts.budget?.give(held);
    throw err;
  } finally {
    for (const lease of leases) lease.release();
  }
  const response: InvokeEndpointResponse = { body, contentType };
  if (customAttributes !== undefined) response.customAttributes = customAttributes;
  if (newSessionId !== undefined) response.newSessionId = newSessionId;
  if (closedSessionId !== undefined) response.closedSessionId = closedSessionId;
  if (unsizedBy !== undefined) response.unsizedBy = unsizedBy;
  return response;
}
