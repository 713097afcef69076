import type { Readable } from 'node:stream';
import type { SageMakerHeaders } from '../core/context.js';
import { isSageMakerName, NEW_SESSION, PRINTABLE_ID_PATTERN, SAGEMAKER_HEADERS, SAGEMAKER_NAME_PATTERN, SESSION_ID_HEADER, SESSION_ID_MAX_LENGTH, SESSION_ID_PATTERN, STREAM_ACCEPT_HEADER, writeSageMakerHeaders } from '../core/sagemaker-headers.js';
import { invalidFlag, refuseUrlCredentials, urlWithoutPassword } from '../config/flag-values.js';
import { ToolkitError } from '../errors/catalogue.js';
import { eventStreamPayloads } from './event-stream.js';

/** The longest `smkit invoke --timeout` (and `--bidi`'s `--idle`): a day, the most `SAGEMAKER_MODEL_SERVER_TIMEOUT` allows. */
export const MAX_INVOKE_SECONDS = 86_400;

/** Where and how to send one invocation. */
export interface InvocationTarget {
  /**
   * A container URL (`http://host:port`, `/invocations` added when there is no path) or, with
   * `endpoint`, the front door's base URL.
   */
  url: string;
  /** Front-door endpoint name: the request goes to `<url>/endpoints/<endpoint>/invocations`. */
  endpoint?: string;
}

/** Request headers the SageMaker Runtime API knows (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html). */
export interface InvocationHeaders extends SageMakerHeaders {
  contentType: string;
  accept?: string;
  /** `X-Amzn-SageMaker-Session-Id`: `NEW_SESSION` or a stateful session's id. */
  sessionId?: string;
}

/**
 * Refuses (`ERR_CLI_USAGE`) a header flag's value holding a character other than printable ASCII
 * or tab: HTTP cannot carry a line break, fetch cannot send past U+00FF, and SageMaker's patterns
 * for these headers are ASCII (`\p{ASCII}*`, `\p{Print}`, names).
 */
export function checkHeaderFlag(flag: string, value: string | undefined): void {
  if (value === undefined) return;
  const bad = /[^\t\x20-\x7e]/u.exec(value);
  if (bad) {
    throw invalidFlag(flag, value, `printable ASCII and tabs, what SageMaker takes in this header; it holds ${JSON.stringify(bad[0])} at position ${bad.index}`);
  }
}

/**
 * What `InvokeEndpoint`'s API model takes in the headers of these flags, beyond {@link checkHeaderFlag}'s
 * printable ASCII and tabs (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html):
 * `TargetModel` and `InferenceId` are `\A\S[\p{Print}]*\z` (no tab, no leading blank), `TargetVariant`
 * and `SessionId` names.
 */
const SAGEMAKER_HEADER_FLAGS: Readonly<Record<string, { pattern: RegExp; max: number; expected: string }>> = {
  '--target-model': { pattern: PRINTABLE_ID_PATTERN, max: SAGEMAKER_HEADERS.targetModel.max, expected: `1 to ${SAGEMAKER_HEADERS.targetModel.max} printable ASCII characters, no tab, the first not a space, what SageMaker takes in TargetModel` },
  '--inference-id': { pattern: PRINTABLE_ID_PATTERN, max: SAGEMAKER_HEADERS.inferenceId.max, expected: `1 to ${SAGEMAKER_HEADERS.inferenceId.max} printable ASCII characters, no tab, the first not a space, what SageMaker takes in InferenceId` },
  '--target-variant': { pattern: SAGEMAKER_NAME_PATTERN, max: SAGEMAKER_HEADERS.targetVariant.max, expected: `a variant name: 1 to ${SAGEMAKER_HEADERS.targetVariant.max} letters, digits and hyphens, starting and ending with a letter or digit` },
  '--session-id': { pattern: SESSION_ID_PATTERN, max: SESSION_ID_MAX_LENGTH, expected: `${NEW_SESSION} or a session's id: 1 to ${SESSION_ID_MAX_LENGTH} letters, digits and hyphens, starting and ending with a letter or digit` },
};

/**
 * Refuses (`ERR_CLI_USAGE`) a value of `--target-model`, `--inference-id`, `--target-variant` or
 * `--session-id` that SageMaker's API model does not take: sent, it came back as an HTTP 400
 * ValidationError from the front door (a tab in --target-model), after the help had said tabs were
 * fine; a container behind SageMaker never sees such a value.
 */
export function checkSageMakerHeaderFlag(flag: string, value: string | undefined): void {
  const rule = SAGEMAKER_HEADER_FLAGS[flag];
  if (value === undefined || rule === undefined || (flag === '--session-id' && value === NEW_SESSION)) return;
  checkHeaderFlag(flag, value);
  if (value.length > rule.max || !rule.pattern.test(value)) {
    const tab = value.indexOf('\t');
    throw invalidFlag(flag, value, `${rule.expected}${value.length > rule.max ? `; it has ${value.length}` : tab >= 0 ? `; it holds "\\t" at position ${tab}` : ''}`);
  }
}

/**
 * A request body: bytes in memory, or bytes read as they are sent, so that a body of any size is
 * sent without being held: a file's with its `length` as Content-Length (as with bytes), a pipe's,
 * whose length is not known, chunked.
 */
export type InvocationBody = Buffer | { readonly length?: number; readonly chunks: Readable };

/** The answer, whatever its status. */
export interface InvocationResult {
  url: string;
  status: number;
  statusText: string;
  headers: Headers;
  body: Buffer;
}

/** The HTTP request headers for an invocation; `acceptHeader` names where Accept goes. */
function httpHeaders(headers: InvocationHeaders, acceptHeader: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': headers.contentType };
  if (headers.accept) h[acceptHeader] = headers.accept;
  if (headers.sessionId !== undefined) h[SESSION_ID_HEADER] = headers.sessionId;
  return writeSageMakerHeaders(headers, h);
}

/**
 * `text` as an http(s) URL, else `ERR_CLI_USAGE` naming it: `localhost:8080` parses as a URL of
 * scheme `localhost:`, which fetch could only fail to reach ("Is the server running?").
 */
function httpUrl(text: string, example: string, flag?: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(text);
  } catch {
    // named below
  }
  if (parsed?.protocol === 'http:' || parsed?.protocol === 'https:') {
    // fetch refuses a URL with credentials in it, which read as "could not reach ...: Is the server running?".
    refuseUrlCredentials(parsed, 'smkit invoke', flag);
    return parsed;
  }
  const hostPort = /^[\w.-]+:\d+(\/|$)/.test(text);
  const shown = urlWithoutPassword(text);
  if (flag !== undefined) throw invalidFlag(flag, shown, `an http:// or https:// URL such as ${hostPort ? `http://${text}` : example}`);
  throw new ToolkitError('ERR_CLI_USAGE', `${shown} is not ${parsed === undefined ? 'a URL' : 'an http:// or https:// URL'}; expected e.g. ${hostPort ? `http://${text}` : example}`);
}

/** The URL {@link invokeOnce} posts to. */
export function invocationUrl(target: InvocationTarget): string {
  const base = target.url.replace(/\/+$/, '');
  if (target.endpoint !== undefined) {
    if (!isSageMakerName(target.endpoint)) {
      throw invalidFlag('--endpoint', target.endpoint, 'an endpoint name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit');
    }
    // The path goes on the URL's path: appended to the text, it went after a query or a fragment
    // (--front-door 'http://h:8080/?x' posted to /?x/endpoints/...; '#x' posted to /).
    const front = httpUrl(base, 'http://127.0.0.1:8080', '--front-door');
    front.pathname = `${front.pathname.replace(/\/+$/, '')}/endpoints/${target.endpoint}/invocations`;
    front.hash = '';
    return front.toString();
  }
  const parsed = httpUrl(base, 'http://127.0.0.1:8080/invocations');
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/invocations';
  return parsed.toString();
}

/** Posts `body` with SageMaker's invocation headers; never throws for an HTTP error status. */
export async function invokeOnce(target: InvocationTarget, body: Buffer, headers: InvocationHeaders, timeoutMs = 60_000): Promise<InvocationResult> {
  const url = invocationUrl(target);
  const h = httpHeaders(headers, 'accept');
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: h, body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new ToolkitError('ERR_INVOKE_FAILED', `could not reach ${url}: ${fetchFailure(err, timeoutMs)}. Is the server running (smkit serve / smkit local)?`, { cause: err });
  }
  let answer: Buffer;
  try {
    answer = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw answerBrokeOff(url, res.status, err, timeoutMs);
  }
  return { url, status: res.status, statusText: res.statusText, headers: res.headers, body: answer };
}

/** Why a fetch failed: the timeout, or the error with its cause's code (ECONNREFUSED). */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string } };
  return e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
}

/** The answer's status line arrived but its body did not (the connection closed, or --timeout passed). */
function answerBrokeOff(url: string, status: number, err: unknown, timeoutMs: number): ToolkitError {
  const e = err as Error & { cause?: { message?: string } };
  // undici says 'terminated'; its cause says why ('other side closed').
  const why = e.name === 'TimeoutError' ? `it did not finish within ${timeoutMs / 1000} s` : `${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  return new ToolkitError('ERR_INVOKE_FAILED', `${url} answered ${status} but its body broke off: ${why}`, { cause: err, details: { status } });
}

/** The body's chunks, a failure while reading them thrown as {@link answerBrokeOff}. */
async function* guardedChunks(url: string, status: number, body: AsyncIterable<Uint8Array>, timeoutMs: number): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (err) {
    throw answerBrokeOff(url, status, err, timeoutMs);
  }
}

/**
 * A one-line description of an error answer: the smkit `{code, message}` body, the front door's
 * SageMaker-style error (`x-amzn-ErrorType`, `OriginalStatusCode`, `OriginalMessage`), or raw text.
 */
export function describeError(result: InvocationResult): string {
  const type = result.headers.get('x-amzn-errortype')?.split(':')[0];
  const text = result.body.toString('utf8');
  let detail = text.trim();
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const message = j['message'] ?? j['Message'];
    const parts: string[] = [];
    if (typeof j['code'] === 'string') parts.push(j['code']);
    if (typeof message === 'string') parts.push(message);
    const said = typeof message === 'string' ? message : '';
    // The front door's message usually quotes the container's answer and log already; do not repeat them.
    if (j['OriginalStatusCode'] !== undefined && !(typeof j['OriginalMessage'] === 'string' && said.includes(j['OriginalMessage']))) {
      parts.push(`container answered ${String(j['OriginalStatusCode'])}${typeof j['OriginalMessage'] === 'string' ? `: ${j['OriginalMessage']}` : ''}`);
    }
    if (typeof j['LogStreamArn'] === 'string' && !said.includes(j['LogStreamArn'])) parts.push(`log: ${j['LogStreamArn']}`);
    if (parts.length > 0) detail = parts.join(' | ');
  } catch {
    // not JSON: keep the text
  }
  return `HTTP ${result.status} ${result.statusText}${type ? ` (${type})` : ''}${detail ? `: ${capDetail(detail, result.body.length >= ERROR_BODY_MAX_BYTES)}` : ''}`;
}

/** The most of an error answer's text (or of its JSON message) {@link describeError} shows. */
export const ERROR_DETAIL_MAX_CHARS = 2000;

/**
 * `detail` cut to {@link ERROR_DETAIL_MAX_CHARS}, saying how much was left out: a JSON message was
 * shown whole (a 1 MB stack trace filled the terminal) and raw text was cut without a word.
 */
function capDetail(detail: string, bodyCut: boolean): string {
  if (detail.length <= ERROR_DETAIL_MAX_CHARS && !bodyCut) return detail;
  if (detail.length <= ERROR_DETAIL_MAX_CHARS) return `${detail} ... (the answer's body was longer than ${ERROR_BODY_MAX_BYTES} bytes: the rest was not read)`;
  // Not half a surrogate pair at the cut.
  const end = /[\uD800-\uDBFF]/.test(detail[ERROR_DETAIL_MAX_CHARS - 1]!) ? ERROR_DETAIL_MAX_CHARS - 1 : ERROR_DETAIL_MAX_CHARS;
  return `${detail.slice(0, end)} ... (${detail.length - end} more characters${bodyCut ? `, and the answer's body past its first ${ERROR_BODY_MAX_BYTES} bytes,` : ''} not shown)`;
}

/** A streamed answer: the status line, and the body chunks as they arrive (empty on an error status). */
export interface StreamedInvocation {
  url: string;
  status: number;
  statusText: string;
  headers: Headers;
  /** The whole body of an error answer (status outside 2xx), for {@link describeError}. */
  errorBody?: Buffer;
  chunks: AsyncIterable<Uint8Array>;
}

/** The most of an error answer's body kept for {@link describeError}, which shows 2000 characters of it. */
export const ERROR_BODY_MAX_BYTES = 1024 * 1024;

/** An error answer's body, its first {@link ERROR_BODY_MAX_BYTES} bytes when larger (the rest is not read). */
async function errorBodyOf(res: Response): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    chunks.push(Buffer.from(chunk));
    size += chunk.length;
    // Leaving the loop cancels the rest of the body.
    if (size >= ERROR_BODY_MAX_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, ERROR_BODY_MAX_BYTES);
}

/**
 * Sends one invocation and hands back its body as it arrives: to a container (its answer, chunked
 * or not), or to a front door's `InvokeEndpointWithResponseStream` (`/invocations-response-stream`,
 * Accept sent as `X-Amzn-SageMaker-Accept`, the event stream unwrapped to its payload bytes), or
 * with `responseStream` false its `InvokeEndpoint`.
 */
export async function invokeStream(target: InvocationTarget, body: InvocationBody, headers: InvocationHeaders, timeoutMs = 60_000, responseStream = target.endpoint !== undefined): Promise<StreamedInvocation> {
  const plain = invocationUrl(target);
  const eventStream = responseStream && target.endpoint !== undefined;
  const streamUrl = new URL(plain);
  streamUrl.pathname += '-response-stream';
  const url = eventStream ? streamUrl.toString() : plain;
  // InvokeEndpointWithResponseStream carries Accept as X-Amzn-SageMaker-Accept (API_runtime_InvokeEndpointWithResponseStream).
  const h = httpHeaders(headers, eventStream ? STREAM_ACCEPT_HEADER : 'accept');
  // undici sends a stream chunked unless told its length; SageMaker's InvokeEndpoint wants Content-Length.
  const sent = Buffer.isBuffer(body)
    ? { body }
    : { body: body.chunks, duplex: 'half' as const, ...(body.length === undefined ? {} : { headers: { ...h, 'content-length': String(body.length) } }) };
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: h, signal: AbortSignal.timeout(timeoutMs), ...sent });
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
      throw new ToolkitError('ERR_INVOKE_FAILED', `the request to ${url} was cut off: the file sent was no longer the ${body.length} bytes it had when opened (it changed while it was read)`, { cause: err });
    }
    throw new ToolkitError('ERR_INVOKE_FAILED', `could not reach ${url}: ${fetchFailure(err, timeoutMs)}. Is the server running (smkit serve / smkit local)?`, { cause: err });
  }
  const base = { url, status: res.status, statusText: res.statusText, headers: res.headers };
  if (res.status < 200 || res.status >= 300) {
    let errorBody: Buffer;
    try {
      errorBody = await errorBodyOf(res);
    } catch (err) {
      throw answerBrokeOff(url, res.status, err, timeoutMs);
    }
    return { ...base, errorBody, chunks: (async function* () {})() };
  }
  const raw = guardedChunks(url, res.status, (res.body ?? (async function* () {})()) as AsyncIterable<Uint8Array>, timeoutMs);
  return { ...base, chunks: eventStream ? eventStreamPayloads(url, raw) : raw };
}
