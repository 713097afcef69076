import { STATUS_CODES, type IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';

/** Longest a refused request's unread body may send nothing while it is drained before the connection is closed anyway. */
const LINGER_MS = 5000;
/** Most bytes of a refused request's unread body drained before the connection is closed anyway. */
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * Options for the `http.Server` in front of `createApp`. Node answers an HTTP/1.1 request without
 * a `Host` header itself, with a bare 400 and no body; with its check off, `createApp` answers it
 * with a catalogued `ERR_BAD_REQUEST` instead. Only WebSocket upgrades leave the HTTP parser.
 */
export const HTTP_SERVER_OPTIONS: Readonly<ServerOptions> = { requireHostHeader: false, shouldUpgradeCallback: isWebSocketUpgrade } as ServerOptions;

/**
 * Which `Upgrade` requests node:http hands over as `upgrade` events: WebSocket ones only (the
 * bidirectional stream). Node 24.9+ and Node 22 (checked on 22.23.5; the first 22.x release with it
 * is not confirmed) ask this (`shouldUpgradeCallback`) and serve every other `Upgrade`, such as
 * curl's `h2c`, as a plain request; Node 20 hands over every `Upgrade`, and those that are not
 * WebSocket get a catalogued 400.
 */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

/**
 * A Host value (RFC 9110 §7.2: `uri-host [ ":" port ]`, RFC 3986's reg-name or IP literal), or
 * empty, as a target without an authority has it (RFC 9112 §3.2).
 */
const HOST_VALUE = /^(?:\[[\w.:%~!$&'()*+,;=-]+\]|[\w.%~!$&'()*+,;=-]*)(?::\d*)?$/;

/** Whether a raw header name is `Host`, in any case, without making a lower-case copy. */
function isHostName(name: string): boolean {
  return (
    name.length === 4 &&
    (name.charCodeAt(0) | 0x20) === 0x68 &&
    (name.charCodeAt(1) | 0x20) === 0x6f &&
    (name.charCodeAt(2) | 0x20) === 0x73 &&
    (name.charCodeAt(3) | 0x20) === 0x74
  );
}

/** Whether a raw header name is `Content-Type`, in any case, without making a lower-case copy. */
function isContentTypeName(name: string): boolean {
  return name.length === 12 && (name === 'content-type' || name === 'Content-Type' || (name.charCodeAt(7) === 0x2d && startsWithLowerCase(name, 'content-type')));
}

/**
 * SageMaker Runtime's request headers, in lower case: those of `InvokeEndpoint`,
 * `InvokeEndpointWithResponseStream` and `InvokeEndpointAsync`. Each carries one string or integer
 * member of the API (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html),
 * never a list; the service strips any other header, and smkit reads no other.
 */
const SAGEMAKER_REQUEST_HEADERS: readonly string[] = [
  'x-amzn-sagemaker-custom-attributes',
  'x-amzn-sagemaker-target-model',
  'x-amzn-sagemaker-target-variant',
  'x-amzn-sagemaker-target-container-hostname',
  'x-amzn-sagemaker-inference-id',
  'x-amzn-sagemaker-enable-explanations',
  'x-amzn-sagemaker-inference-component',
  'x-amzn-sagemaker-session-id',
  'x-amzn-sagemaker-content-type',
  'x-amzn-sagemaker-accept',
  'x-amzn-sagemaker-inputlocation',
  'x-amzn-sagemaker-s3outputpathextension',
  'x-amzn-sagemaker-filename',
  'x-amzn-sagemaker-requestttlseconds',
  'x-amzn-sagemaker-invocationtimeoutseconds',
];

/**
 * The entry of {@link SAGEMAKER_REQUEST_HEADERS} a raw header name is, in any case; undefined for
 * any other name. The `-` at 16 rules out most names at once; the key returned is a constant, so
 * looking it up in `req.headers` costs no lower-case copy of the name.
 */
function sageMakerHeaderKey(name: string): string | undefined {
  if (name.length < 23 || name.charCodeAt(16) !== 0x2d) return undefined;
  for (let k = 0; k < SAGEMAKER_REQUEST_HEADERS.length; k++) {
    const key = SAGEMAKER_REQUEST_HEADERS[k]!;
    if (key.length === name.length && (name === key || startsWithLowerCase(name, key))) return key;
  }
  return undefined;
}

/** Whether `name` starts with `lower` (lower-case letters, digits and `-`) in any case, without making a copy. */
function startsWithLowerCase(name: string, lower: string): boolean {
  if (name.length < lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * The fault of a SageMaker header given on more than one line with different values, or undefined
 * when every line holds the same value; then `req.headers` holds that value once (Node joined the
 * lines with ", "). Only called when a line's value differs from `req.headers`'.
 */
function repeatedSageMakerHeader(req: IncomingMessage, key: string): string | undefined {
  const raw = req.rawHeaders;
  let first: string | undefined;
  let shown = key;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== key.length || raw[i]!.toLowerCase() !== key) continue;
    const value = raw[i + 1]!;
    if (first === undefined) {
      first = value;
      shown = raw[i]!;
    } else if (value !== first) {
      return `the request has more than one ${shown} header line, with different values ("${excerpt(first, 60)}" and "${excerpt(value, 60)}"); send it once (RFC 9110, section 5.3): SageMaker's X-Amzn-SageMaker-* request headers hold one value each, not a list`;
    }
  }
  if (first !== undefined) req.headers[key] = first;
  return undefined;
}

/**
 * The most header lines node:http keeps of a request (`maxHeadersCount`: its default, 2000 names
 * and values). It drops the lines after them without a word, where the 16 KB it takes of names and
 * values (colons and line ends not counted) can hold several thousand small ones: a `Content-Type`,
 * `Accept`, `Host` or `X-Amzn-SageMaker-*` line after the thousandth was never seen (a CSV body read
 * as JSON "without a Content-Type", a second, conflicting `Content-Type` not refused). A request
 * with this many is refused ({@link requestHeadFault}); see {@link limitHeaderLines}. Node 22 and
 * later refuse more lines than this in the parser (`HPE_HEADER_OVERFLOW`, the 431 of a head over 16 KB).
 */
export const MAX_HEADER_LINES = 1000;

/** Sets `server` to keep {@link MAX_HEADER_LINES} header lines of a request, as Node does by default, so that {@link requestHeadFault} can tell a request that had more. */
export function limitHeaderLines(server: { maxHeadersCount: number | null }): void {
  server.maxHeadersCount = MAX_HEADER_LINES;
}

/**
 * What makes a request's head invalid that Node's parser lets through, as a message saying what to
 * send instead; undefined for a sound head. A request of {@link MAX_HEADER_LINES} header lines may
 * have had more, which Node dropped: refused. RFC 9112 §3.2 has a server answer 400 to an HTTP/1.1
 * request without `Host`, to more than one `Host` line (Node keeps the first and drops the rest,
 * so a proxy that routed on the other one and this server would disagree on the target) and to a
 * `Host` value that is not `host[:port]`; and no form of request target holds a fragment (§3.2.1;
 * `#...` stays with the client, §3 has an invalid request line answered 400), which express would
 * cut off and Node's own routing read as part of the path. A field that holds one value, not a list,
 * is sent on one line (RFC 9110 §5.3): two `Content-Type` lines that differ (Node keeps the first,
 * so the body would be decoded by a type a proxy may not have seen) and two lines of one of
 * SageMaker's `X-Amzn-SageMaker-*` request headers that differ (each is one member of the Runtime API; Node joins them
 * with ", " into a value nobody sent, such as a target model "a.tar.gz, b.tar.gz") are refused; lines
 * that repeat the same value are taken as one. Runs on every request: it reads `rawHeaders` once
 * and the URL, and allocates nothing for a sound head.
 *
 * @param requireHost whether an HTTP/1.1 request without `Host` is refused too, as `smkit serve`
 *   refuses it (Node's own check, `requireHostHeader`, would answer a bare 400 without a body).
 */
export function requestHeadFault(req: IncomingMessage, requireHost: boolean): string | undefined {
  const raw = req.rawHeaders;
  if (raw.length >= 2 * MAX_HEADER_LINES) {
    return `the request has ${MAX_HEADER_LINES} header lines or more, and the server reads only the first ${MAX_HEADER_LINES} (the rest, a Content-Type or Accept among them, would be lost); send fewer`;
  }
  let host: string | undefined;
  let contentType: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHostName(name)) {
      if (host !== undefined) return 'the request has more than one Host header line; send exactly one (RFC 9112, section 3.2), such as Host: localhost:8080';
      host = raw[i + 1]!;
    } else if (isContentTypeName(name)) {
      const value = raw[i + 1]!;
      if (contentType === undefined) contentType = value;
      else if (value !== contentType) {
        return `the request has more than one Content-Type header line, with different values ("${excerpt(contentType, 60)}" and "${excerpt(value, 60)}"); send one (RFC 9110, sections 5.3 and 8.3: a body has one media type)`;
      }
    } else {
      // A name given once has its own value in req.headers; a repeated one, the lines joined.
      const key = sageMakerHeaderKey(name);
      if (key !== undefined && req.headers[key] !== raw[i + 1]) {
        const fault = repeatedSageMakerHeader(req, key);
        if (fault !== undefined) return fault;
      }
    }
  }
  if (host === undefined) {
    if (requireHost && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) return 'an HTTP/1.1 request must carry a Host header (for example Host: localhost)';
  } else if (!HOST_VALUE.test(host)) {
    return `the Host header "${excerpt(host, 60)}" is not a host name or address with an optional :port (RFC 9112, section 3.2); send one such as Host: localhost:8080`;
  }
  const url = req.url ?? '';
  const hash = url.indexOf('#');
  if (hash >= 0) {
    return `the request target "${excerpt(url, 100)}" holds a fragment ("#..."), which no form of request target holds (RFC 9112, section 3.2.1: a path and a query only); send the target without it (${excerpt(url.slice(0, hash), 100) || '/'})`;
  }
  return undefined;
}

/** Sends a JSON answer with its length. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Answers a request whose body was not read to its end (a 413 while the client is still sending,
 * a 404 before reading) and closes the connection gracefully. Closing at once would reset the
 * connection while the client writes, and many clients then report EPIPE/ECONNRESET instead of
 * the answer. So the whole answer is written first (its Content-Length tells the client it is
 * complete), the rest of the body is read and discarded while it keeps coming (up to a bounded
 * size; the connection is closed once nothing arrives for a while), and only then is the response
 * ended, which closes the connection (`Connection: close`). The wait is counted from the last
 * byte, not from the answer: a client still sending at a steady pace on a loaded machine or a slow
 * link took more than 5 s for the rest of its body and was reset. A client that trickles is held
 * no longer than the server's `requestTimeout`, which counts until the request is complete.
 *
 * @param drain false when the client is not sending (a stalled body): close right after answering.
 */
export function sendJsonAndClose(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, drain = true, contentType = 'application/json; charset=utf-8'): void {
  sendTextAndClose(req, res, status, JSON.stringify(body), contentType, drain);
}

/** {@link sendJsonAndClose} for a body already written out in its `contentType` (the query protocol's XML). */
export function sendTextAndClose(req: IncomingMessage, res: ServerResponse, status: number, text: string, contentType: string, drain = true): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Connection', 'close');
  if (!drain || req.complete || req.destroyed) {
    res.end(text);
    return;
  }
  res.write(text);
  let drained = 0;
  const end = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', end);
    req.off('close', end);
    if (!res.writableEnded) res.end();
  };
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_BYTES) end();
    else timer.refresh();
  };
  const timer = setTimeout(end, LINGER_MS);
  req.on('data', onData);
  req.on('end', end);
  req.on('close', end);
  req.resume();
}

/**
 * The `connect` listener for `http.Server`: a `CONNECT` request (a proxy tunnel, which this server
 * is not) gets a catalogued 405 instead of having its connection dropped without an answer, which
 * is what Node does when nothing listens for `connect`. `headers` are added to the answer.
 */
export function answerConnect(req: IncomingMessage, socket: Duplex, headers: Readonly<Record<string, string>> = {}): void {
  answerOnSocket(socket, 405, { code: 'ERR_METHOD_NOT_ALLOWED' satisfies ErrorCode, message: `CONNECT is not allowed on ${excerpt(req.url ?? '')}; this server is not a proxy` }, headers);
}

/**
 * Writes a JSON answer straight to a connection that left node:http (a `CONNECT` or an `Upgrade`
 * request) and closes it.
 */
export function answerOnSocket(socket: Duplex, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}Connection: close\r\n\r\n${text}`);
}

/** A parse error of Node's HTTP parser (llhttp), with what it says about the bytes it refused. */
export interface ParseError extends NodeJS.ErrnoException {
  /** llhttp's own words ("Duplicate Content-Length", "Invalid character in chunk size"). */
  reason?: string;
  /** The bytes being parsed, and how many of them were read before the error. */
  rawPacket?: Buffer;
  bytesParsed?: number;
}

/** How to fix the request, for the parse errors a client's own code can cause. */
const FRAMING_HINT = 'lines end with CRLF, and each chunk holds exactly as many bytes as its size says';
const PARSE_ERROR_HINTS: ReadonlyMap<string, string> = new Map([
  ['HPE_UNEXPECTED_CONTENT_LENGTH', 'send one Content-Length header'],
  ['HPE_INVALID_CONTENT_LENGTH', 'Content-Length must be one whole number of bytes'],
  ['HPE_INVALID_TRANSFER_ENCODING', 'send either Content-Length or Transfer-Encoding: chunked (once), not both'],
  ['HPE_INVALID_CHUNK_SIZE', 'each chunk starts with its size in hexadecimal and CRLF; the last is 0 and CRLF CRLF'],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 'send each chunk size without extensions (";name=value" after the size), which Node reads no more than 16 KB of'],
  ['HPE_CR_EXPECTED', FRAMING_HINT],
  ['HPE_LF_EXPECTED', FRAMING_HINT],
  ['HPE_INVALID_HEADER_TOKEN', 'header names are letters, digits and -, and header values visible characters'],
  ['HPE_INVALID_METHOD', 'a request starts with a method, the path and HTTP/1.1, as in POST /invocations HTTP/1.1'],
  ['HPE_INVALID_URL', 'the path starts with / and has no spaces or control characters (percent-encode them)'],
  ['HPE_INVALID_EOF_STATE', 'the connection was closed before the whole body arrived: send as many bytes as Content-Length says, or with Transfer-Encoding: chunked every chunk up to the last, 0-size one'],
]);

/**
 * The message for bytes Node's HTTP parser refused: what it found wrong and how to fix it. A TLS
 * handshake or an HTTP/2 preface (a client set up for another protocol) is named as such, since
 * the parser's own words for them ("Invalid method encountered") point the wrong way.
 */
function parseErrorMessage(err: ParseError): string {
  if (err.code === 'HPE_INVALID_METHOD' && err.bytesParsed === 0 && err.rawPacket?.[0] === 0x16) {
    return 'the connection began with a TLS handshake, but this server speaks plain HTTP: call it with http://, not https://';
  }
  if (err.code === 'HPE_PAUSED_H2_UPGRADE') return 'the connection began with the HTTP/2 preface, but this server speaks HTTP/1.1 only: send HTTP/1.1 (curl --http1.1)';
  const hint = err.code === undefined ? undefined : PARSE_ERROR_HINTS.get(err.code);
  return `the request is not valid HTTP/1.1: ${excerpt(err.reason ?? err.message, 120)} (${err.code ?? 'parse error'})${hint ? `; ${hint}` : ''}`;
}

/** What {@link answerClientError} answered on a connection, while the connection is referenced. */
export interface ClientErrorAnswer {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}
const clientErrorAnswers = new WeakMap<Duplex, ClientErrorAnswer>();

/**
 * The answer {@link answerClientError} wrote on `socket`, if it wrote one: a request whose body the
 * parser refused part way (a malformed chunk, or the client's end of file, HPE_INVALID_EOF_STATE)
 * was answered with it, so it is counted with it, not as a client that left unanswered.
 */
export function clientErrorAnswer(socket: Duplex): ClientErrorAnswer | undefined {
  return clientErrorAnswers.get(socket);
}

/**
 * The `clientError` listener for `http.Server`: bytes that are not HTTP/1.1 (a malformed request
 * line, an invalid header, headers over 16 KB or too slow) get a JSON answer with a catalogued code
 * instead of Node's bare `400 Bad Request`, then the connection is closed. `headers` are added to
 * the answer (the local front door's `x-amzn-RequestId`, which all its answers carry).
 */
export function answerClientError(err: ParseError, socket: Duplex, headers: Readonly<Record<string, string>> = {}): void {
  const inResponse = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (inResponse) {
    // The request was answered before its body failed to parse (a refusal sent on the headers
    // alone): let what was written reach the client, then close. Destroying would drop it.
    socket.end();
    return;
  }
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? // Node 22 and later also answer this to more header lines than maxHeadersCount, where Node 20 drops them.
        [431, 'ERR_HEADERS_TOO_LARGE', `the request headers (with the request line, its URL included) are larger than the 16 KB the server accepts, or more than ${MAX_HEADER_LINES} lines; send data in the body, not in the URL or headers`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'ERR_REQUEST_TIMEOUT', 'the request did not arrive in time; the connection is closed']
        : err.code === 'HPE_CLOSED_CONNECTION'
          ? // A request that closes its connection (HTTP/1.0, or Connection: close) ends at its headers
            // when it announces no body (RFC 9112 §6.3); what follows is not a request.
            [400, 'ERR_BAD_REQUEST', 'bytes arrived after a request that ended at its headers: a request body needs a Content-Length header (in HTTP/1.0 always; in HTTP/1.1 Content-Length or Transfer-Encoding: chunked)']
          : [400, 'ERR_BAD_REQUEST', parseErrorMessage(err)];
  clientErrorAnswers.set(socket, { status, code, message });
  answerOnSocket(socket, status, { code, message }, headers);
}
