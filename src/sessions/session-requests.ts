import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import { CLOSED_SESSION_ID_HEADER, NEW_SESSION, NEW_SESSION_ID_HEADER, SESSION_ID_HEADER, isSessionId, newSessionHeaderValue, type SessionRef, type SessionStore } from './session-store.js';

/** A body this large or smaller may be a session request (`{"requestType": "NEW_SESSION"}`); larger ones are inferences. */
const SESSION_REQUEST_MAX_BYTES = 4096;

/** What to do with a request that carries `X-Amzn-SageMaker-Session-Id`. */
export type SessionDecision =
  /** A session request (`requestType` NEW_SESSION or CLOSE): answer this without the model. */
  | { readonly kind: 'answer'; readonly body: string; readonly headers: Record<string, string> }
  /** An inference in a session: run it with the session; `created` when this request opened it. */
  | { readonly kind: 'invoke'; readonly session: SessionRef; readonly created: boolean };

/** The `requestType` of a session request body, or undefined when the body is an ordinary inference. */
function requestTypeOf(body: Buffer): unknown {
  if (body.length > SESSION_REQUEST_MAX_BYTES) return undefined;
  const text = body.toString('utf8').trim();
  if (!text.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.hasOwn(parsed, 'requestType')) return undefined;
  return (parsed as { requestType: unknown }).requestType;
}

/** The response headers of a request that opened `session`: SageMaker's container form and its client form. */
export function openedSessionHeaders(session: SessionRef): Record<string, string> {
  const value = newSessionHeaderValue(session);
  return { [SESSION_ID_HEADER]: value, [NEW_SESSION_ID_HEADER]: value };
}

/** The response header of a request that closed session `id`. */
export function closedSessionHeaders(id: string): Record<string, string> {
  return { [CLOSED_SESSION_ID_HEADER]: id };
}

/**
 * Decides what a request with `X-Amzn-SageMaker-Session-Id: <header>` is, following SageMaker's
 * stateful sessions (https://docs.aws.amazon.com/sagemaker/latest/dg/stateful-sessions.html) and the
 * request bodies of AWS's model hosting container standards:
 * - `{"requestType": "NEW_SESSION"}` opens a session and answers its id;
 * - `{"requestType": "CLOSE"}` with a session id closes that session;
 * - any other body is an inference: with `NEW_SESSION` it runs in a session opened for it, with an
 *   id in that open session.
 * Throws `ERR_SESSIONS_DISABLED` without a store, `ERR_SESSION_NOT_FOUND` for a session that is not
 * open, `ERR_BAD_REQUEST` for another `requestType`.
 */
export async function decideSession(store: SessionStore | undefined, header: string, body: Buffer): Promise<SessionDecision> {
  if (!store) {
    throw new ToolkitError('ERR_SESSIONS_DISABLED', 'this request carries X-Amzn-SageMaker-Session-Id, but stateful sessions are off: set SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true');
  }
  const id = header.trim();
  const requestType = requestTypeOf(body);
  if (requestType !== undefined && requestType !== NEW_SESSION && requestType !== 'CLOSE') {
    throw new ToolkitError('ERR_BAD_REQUEST', `requestType ${excerpt(JSON.stringify(requestType), 80)} is not a session request: use "NEW_SESSION" or "CLOSE" (or leave requestType out of an inference)`);
  }
  if (requestType === NEW_SESSION) {
    // As AWS's container standards do: a session id in the header must name an open session, even here.
    if (id !== NEW_SESSION) await store.open(id);
    const session = await store.create();
    return { kind: 'answer', body: `Session ${session.id} created`, headers: openedSessionHeaders(session) };
  }
  if (requestType === 'CLOSE') {
    if (!isSessionId(id)) throw new ToolkitError('ERR_SESSION_NOT_FOUND', 'a CLOSE request names the session to close in X-Amzn-SageMaker-Session-Id (not NEW_SESSION)');
    const session = await store.open(id);
    await store.close(session.id);
    return { kind: 'answer', body: `Session ${session.id} closed`, headers: closedSessionHeaders(session.id) };
  }
  if (id === NEW_SESSION) return { kind: 'invoke', session: await store.create(), created: true };
  return { kind: 'invoke', session: await store.open(id), created: false };
}
