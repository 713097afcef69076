import type { IncomingMessage } from 'node:http';
import type { AllowedHosts, AllowedOrigins } from '../../config/settings.js';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { loadFailureReason } from '../load-failure.js';
import { ToolkitError, type ErrorCode } from '../../errors/catalogue.js';
import { excerpt } from '../../errors/excerpt.js';
import { Cancellation, clientGoneError } from '../../core/cancellation.js';
import { readSageMakerHeaders } from '../../core/sagemaker-headers.js';
import type { ServerLogger } from '../../logging/server-logger.js';
import type { InferenceBackend } from '../inference-backend.js';
import { answerOnSocket, isWebSocketUpgrade, requestHeadFault } from '../respond.js';
import { drainingError, type LeavingReason } from '../draining.js';
import { foreignHost, foreignHostError, foreignOrigin, foreignOriginError } from '../foreign-origin.js';
import type { MetricsSink } from '../metrics.js';
import { LogThrottle } from '../../logging/log-throttle.js';
import { pathOf } from '../app.js';
import { nextRequestId } from '../request-id.js';
import { BIDI_PATH, type BidiFrame, type BidiRequest } from '../../core/bidi-frame.js';
import { retryingLoad } from '../../core/retrying-load.js';
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, closeCodeFor, closeReason } from './close-codes.js';
import { FrameInbox } from './frame-inbox.js';
import { answerEachMessage } from './per-message.js';
import { MessageBytes } from './message-bytes.js';
import type { BodyBudget } from '../body-budget.js';
import type { StreamSlots } from './stream-slots.js';

/** How often each open stream is pinged; one that misses {@link MISSED_PONGS_LIMIT} pongs in a row is dropped. */
export const HEARTBEAT_MS = 60_000;
/** Pongs a stream may miss before it is taken for dead (SageMaker's own limit on its side). */
export const MISSED_PONGS_LIMIT = 5;
/**
 * A client's pings are answered only while less than this waits to be written to it: a client that
 * pings without reading would otherwise queue pongs in this process without bound.
 */
export const PONG_BACKLOG_BYTES = 64 * 1024;
/**
 * The largest message limit `ws` can enforce: it reads `maxPayload` as a 32-bit signed integer, so
 * 2048 MB and more wrapped round to no limit at all, or to a smaller one (4097 MB to 1 MB).
 */
export const MAX_MESSAGE_LIMIT_BYTES = 2 ** 31 - 1;

/** What serves the WebSocket at `/invocations-bidirectional-stream`. */
export interface BidiFrontOptions {
  /** The model; undefined on a multi-model endpoint, which serves no bidirectional streams. */
  readonly backend: InferenceBackend | undefined;
  readonly log: ServerLogger;
  /** `SAGEMAKER_MAX_PAYLOAD_IN_MB` in bytes: the largest message (its fragments joined). */
  readonly maxMessageBytes: number;
  /** `SAGEMAKER_MODEL_SERVER_TIMEOUT` in ms, per message of a model without `bidiFn`. */
  readonly timeoutMs: number;
  readonly isDraining: () => boolean;
  /** Why this worker process is leaving on its own, if it is: its refusals say so instead of naming a shutdown. */
  readonly leavingReason?: LeavingReason;
  /** @defaultValue {@link HEARTBEAT_MS} */
  readonly heartbeatMs?: number;
  /** Where streams and messages are counted (`/metrics`); none when SMKIT_METRICS=false. */
  readonly metrics?: MetricsSink;
  /**
   * The memory the worker's request bodies share (`SMKIT_BODY_MEMORY_MB`): the bytes a stream has
   * received and its model's code has not yet read take from it too; a stream they do not fit in is
   * closed with 4503 (`ERR_SERVER_BUSY`).
   */
  readonly budget?: BodyBudget;
  /**
   * `SMKIT_BIDI_STREAMS_MAX`: the most streams open at once, from the accepted handshake until the
   * connection has closed; another handshake gets 503 `ERR_TOO_MANY_STREAMS` with `Retry-After: 1`.
   */
  readonly maxStreams: number;
  /**
   * The server's slots, when several processes share `maxStreams` (`smkit serve`'s workers): each
   * stream takes one as well. Without them, `maxStreams` counts this front's streams alone.
   */
  readonly slots?: StreamSlots;
  /** `SMKIT_CORS_ALLOW_ORIGINS`: web pages of other sites whose handshakes are not refused as foreign. */
  readonly allowedOrigins?: AllowedOrigins;
  /** `Host` names allowed besides addresses and localhost (`SMKIT_ALLOWED_HOSTS`); undefined: any. */
  readonly allowedHosts?: AllowedHosts;
}

const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** An RFC 9110 token: what each subprotocol a client offers must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `Sec-WebSocket-Protocol` is a comma-separated list of distinct tokens, as `ws` requires. */
function validSubprotocols(header: string): boolean {
  const names = header.split(',').map((name) => name.trim());
  return names.every((name) => TOKEN.test(name)) && new Set(names).size === names.length;
}

/** A reason to refuse the handshake, as a catalogued error; undefined when the stream may open. */
function refusal(
  req: IncomingMessage,
  backend: InferenceBackend | undefined,
  isDraining: () => boolean,
  leavingReason?: LeavingReason,
  allowedOrigins?: AllowedOrigins,
  allowedHosts?: AllowedHosts,
): { error: ToolkitError; headers?: Record<string, string> } | undefined {
  const refuse = (code: ErrorCode, message: string, status?: number) => ({ error: new ToolkitError(code, message, status === undefined ? {} : { status }) });
  const fault = requestHeadFault(req, true);
  if (fault !== undefined) return refuse('ERR_BAD_REQUEST', fault);
  // Any page may open a WebSocket to any host (no CORS applies): one of another site is refused before the switch.
  const from = foreignOrigin(req, allowedOrigins);
  if (from !== undefined) return { error: foreignOriginError(from) };
  const host = allowedHosts === undefined ? undefined : foreignHost(req, allowedHosts);
  if (host !== undefined) return { error: foreignHostError(host) };
  if (!isWebSocketUpgrade(req)) {
    return refuse('ERR_BAD_REQUEST', `this server switches only to WebSocket, at ${BIDI_PATH}; send the request without "Upgrade: ${excerpt(String(req.headers.upgrade ?? ''), 40)}"`);
  }
  if (req.method !== 'GET') return { ...refuse('ERR_METHOD_NOT_ALLOWED', `a WebSocket opens with GET, not ${excerpt(req.method ?? '', 20)}`), headers: { Allow: 'GET' } };
  if (req.headers['sec-websocket-version'] !== '13') {
    return { ...refuse('ERR_BAD_REQUEST', 'Sec-WebSocket-Version must be 13 (RFC 6455)', 426), headers: { 'Sec-WebSocket-Version': '13' } };
  }
  if (!WEBSOCKET_KEY.test(req.headers['sec-websocket-key'] ?? '')) return refuse('ERR_BAD_REQUEST', 'Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455)');
  // What ws would refuse itself, with a text/html 400 of its own.
  const upgrade = String(req.headers.upgrade);
  if (upgrade.trim().toLowerCase() !== 'websocket') {
    return refuse('ERR_BAD_REQUEST', `Upgrade must be websocket alone, not "${excerpt(upgrade, 60)}": this server switches only to WebSocket`);
  }
  const subprotocols = req.headers['sec-websocket-protocol'];
  if (subprotocols !== undefined && !validSubprotocols(subprotocols)) {
    return refuse('ERR_BAD_REQUEST', `Sec-WebSocket-Protocol must be a comma-separated list of distinct tokens (RFC 6455), not "${excerpt(subprotocols, 60)}"; send it without the header`);
  }
  if (!backend) return refuse('ERR_NOT_FOUND', 'a multi-model endpoint serves no bidirectional streams: invoke its models with POST /models/{name}/invoke');
  if (isDraining()) return { error: drainingError(leavingReason?.(), 'the server is shutting down') };
  if (backend.state() !== 'ready') {
    return refuse('ERR_NOT_READY', backend.state() === 'failed' ? `the model failed to load: ${loadFailureReason(backend.failure())}` : 'the model is still loading; retry when GET /ping answers 200');
  }
  // A client may name its own path (SageMaker's ModelInvocationPath): bidiFn serves any, and reads it in ctx.path.
  const path = pathOf(req.url);
  if (path !== BIDI_PATH && !hasBidiFn(backend)) {
    return refuse('ERR_NOT_FOUND', `no WebSocket at ${excerpt(path, 100)}: bidirectional streams are served at ${BIDI_PATH} (a handler's bidiFn serves any path)`);
  }
  return undefined;
}

/** Whether the model's handler serves bidirectional streams itself (`bidiFn`). */
function hasBidiFn(backend: InferenceBackend): boolean {
  return backend.describe()?.hooks.includes('bidiFn') === true && backend.openBidi !== undefined;
}

/** The query string's parameters (SageMaker's `ModelQueryString`), decoded; the last of a repeated name wins. */
function queryOf(url: string | undefined): Record<string, string> {
  const q = url?.indexOf('?') ?? -1;
  if (q < 0) return {};
  return Object.fromEntries(new URLSearchParams(url!.slice(q + 1)));
}

/**
 * The WebSocket at `/invocations-bidirectional-stream` (SageMaker's bidirectional streaming, for
 * containers labelled `com.amazonaws.sagemaker.capabilities.bidirectional-streaming=true`). Each
 * client message is a whole WebSocket message; a model whose handler exports `bidiFn` reads them
 * and replies as it likes, any other model answers each message as one invocation. A stream that
 * fails is closed with `4000 + status` and `<code>: <message>` as the reason; `ws` is loaded with
 * the first stream.
 */
export class BidiFront {
  readonly #open = new Set<WebSocket>();
  /** Handshakes accepted and not yet switched (ws loading, the 101 on its way): they count toward the cap too. */
  readonly #opening = new Set<Duplex>();
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #missedPongs = new WeakMap<WebSocket, number>();
  /** The close code the server sent first, when it closed the stream: what the metrics count it as, whatever the client answers. */
  readonly #sentCodes = new WeakMap<WebSocket, number>();
  /** How each stream being served is stopped: its replies' iterator ended, its messages ended, its signal aborted. */
  readonly #stops = new Map<WebSocket, (reason: ToolkitError) => void>();
  /** At most 10 lines per error code a second for failed streams and protocol errors; the rest are counted. */
  readonly #errorLines: LogThrottle;

  constructor(private readonly options: BidiFrontOptions) {
    options.metrics?.trackBidiStreams(() => this.#open.size);
    this.#errorLines = new LogThrottle((code, n, windowMs) =>
      options.log.warn({ code, notLogged: n }, `${n} more bidirectional streams ended with ${code} in the last ${windowMs / 1000} s were not logged one by one (smkit_bidi_streams_closed_total counts them all)`),
    );
  }

  /**
   * Closes every open stream with 1001 (going away): for a shutdown, or, with `reason`, for a worker
   * process that leaves on its own (its close reason then says why).
   */
  closeAll(reason: ToolkitError = new ToolkitError('ERR_SHUTTING_DOWN', 'the server is shutting down')): void {
    for (const ws of this.#open) {
      this.#close(ws, CLOSE_GOING_AWAY, closeReason(reason));
      // bidiFn ends now, not once the client answers the close frame: a client that does not read
      // never does, and its stream would hold the shutdown for its whole grace.
      this.#stops.get(ws)?.(reason);
    }
  }

  /**
   * Serves one request node:http handed over as an `upgrade` (its `socket` already has an `error`
   * listener): opens the stream, or answers a catalogued error and closes the connection.
   */
  async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refused = refusal(req, this.options.backend, this.options.isDraining, this.options.leavingReason, this.options.allowedOrigins, this.options.allowedHosts);
    if (refused) return answerOnSocket(socket, refused.error.status, refused.error.toJSON(), refused.headers);
    const { maxStreams, slots } = this.options;
    if (this.#open.size + this.#opening.size >= maxStreams) return this.#tooMany(socket);
    // Counted from now, so handshakes that arrive together while ws loads cannot all pass the check.
    this.#opening.add(socket);
    const release = () => this.#opening.delete(socket);
    // A handshake ws aborts (or a client that leaves meanwhile) never reaches the callback.
    socket.once('close', release);
    if (slots) {
      if (!(await slots.take())) {
        release();
        return this.#tooMany(socket);
      }
      let given = false;
      const giveBack = () => {
        if (given) return;
        given = true;
        slots.give();
      };
      socket.once('close', giveBack);
      // A client that left while the slot was asked for: its close may have been emitted already.
      if (socket.destroyed) return void (giveBack(), release());
    }
    let wss: WebSocketServer;
    try {
      wss = await this.#webSocketServer();
    } catch (err) {
      release();
      // No descriptors to spare (see retrying-load.ts): a retry shortly may open.
      if (err instanceof ToolkitError && err.code === 'ERR_SERVER_BUSY') return answerOnSocket(socket, err.status, err.toJSON(), { 'Retry-After': '1' });
      this.options.log.error({ err }, 'could not load the WebSocket server (ws)');
      return answerOnSocket(socket, 500, new ToolkitError('ERR_INTERNAL', 'bidirectional streaming is unavailable: see the server log').toJSON());
    }
    if (socket.destroyed) return void release();
    // A shutdown that began while ws loaded has closed every stream already: this one would stay open.
    if (this.options.isDraining()) {
      release();
      const error = drainingError(this.options.leavingReason?.(), 'the server is shutting down');
      return answerOnSocket(socket, error.status, error.toJSON());
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      release();
      void this.#serve(ws, req, socket);
    });
  }

  /** Refuses a handshake with 503 `ERR_TOO_MANY_STREAMS`: the server holds `SMKIT_BIDI_STREAMS_MAX` streams. */
  #tooMany(socket: Duplex): void {
    const { maxStreams } = this.options;
    const error = new ToolkitError(
      'ERR_TOO_MANY_STREAMS',
      `this server already holds SMKIT_BIDI_STREAMS_MAX=${maxStreams} bidirectional streams: retry once one has ended, or raise SMKIT_BIDI_STREAMS_MAX`,
    );
    if (this.#errorLines.admit(error.code)) this.options.log.warn({ code: error.code, open: this.#open.size, opening: this.#opening.size }, error.message);
    // As a busy server's 503 says (RFC 9110 §10.2.3): streams end at any time, so a retry soon may open.
    answerOnSocket(socket, error.status, error.toJSON(), { 'Retry-After': '1' });
  }

  #webSocketServer = retryingLoad('the WebSocket server (ws)', () =>
    import('ws').then(({ WebSocketServer }) => {
      // No compression: a client's small compressed frame could inflate to the whole message limit.
      // No subprotocol is chosen (ws picks the client's first): SageMaker's contract names none, so
      // agreeing to one would claim a protocol this server does not speak (RFC 6455 §4.2.2).
      return new WebSocketServer({ noServer: true, maxPayload: messageLimit(this.options.maxMessageBytes), perMessageDeflate: false, autoPong: false, handleProtocols: () => false });
    }),
  );

  #watch(ws: WebSocket): void {
    this.#open.add(ws);
    this.#missedPongs.set(ws, 0);
    ws.on('pong', () => this.#missedPongs.set(ws, 0));
    ws.on('ping', (data: Buffer) => {
      if (ws.bufferedAmount < PONG_BACKLOG_BYTES) ws.pong(data);
    });
    ws.once('close', (code: number) => {
      // A client that does not answer the server's close frame leaves ws with 1006: the stream still
      // ended with the code the server sent.
      const sent = this.#sentCodes.get(ws);
      this.options.metrics?.observeBidiClose(sent ?? clientMetricCode(code));
      this.#open.delete(ws);
      if (this.#open.size === 0) {
        clearInterval(this.#heartbeat);
        this.#heartbeat = undefined;
      }
    });
    this.#heartbeat ??= setInterval(() => {
      for (const open of this.#open) {
        const missed = (this.#missedPongs.get(open) ?? 0) + 1;
        if (missed > MISSED_PONGS_LIMIT) {
          open.terminate();
          continue;
        }
        this.#missedPongs.set(open, missed);
        open.ping();
      }
    }, this.options.heartbeatMs ?? HEARTBEAT_MS).unref();
  }

  async #serve(ws: WebSocket, req: IncomingMessage, socket: Duplex): Promise<void> {
    const { backend, log, timeoutMs } = this.options;
    this.#watch(ws);
    const request: BidiRequest = {
      requestId: nextRequestId(),
      path: pathOf(req.url),
      query: queryOf(req.url),
      headers: readSageMakerHeaders((name) => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : undefined;
      }),
    };
    const streamLog = log.child({ requestId: request.requestId });
    // A protocol error (a message over the limit, invalid UTF-8 in a text frame, a bad opcode): ws
    // closes the stream with its code (1009, 1007, 1002) after this.
    let protocolError: ToolkitError | undefined;
    ws.on('error', (err: Error & { code?: string }) => {
      // ws has sent its close frame already (a protocol error is found in what the client sends
      // before any close of its own).
      if (!this.#sentCodes.has(ws)) this.#sentCodes.set(ws, protocolCloseCode(err.code));
      protocolError ??= protocolErrorFor(err, this.options.maxMessageBytes);
      if (this.#errorLines.admit(err.code ?? 'WS_ERR')) streamLog.warn({ code: err.code, reason: err.message }, 'bidirectional stream closed for a protocol error');
    });
    const cancellation = new Cancellation();
    const budget = this.options.budget;
    // Closes the stream when its bytes do not fit; once the replies run, it stops them too (below).
    let overBudget = (error: ToolkitError): void => void this.#fail(ws, error, streamLog);
    let bytes: MessageBytes | undefined;
    if (budget) {
      const held = new MessageBytes(budget, socket, () => overBudget(budget.refusal()), () => ws.readyState === ws.OPEN);
      // Before the inbox's own listener: a message handed on at once is read right after it arrived.
      ws.on('message', () => held.messageArrived());
      ws.once('close', () => held.close());
      bytes = held;
    }
    const withBidiFn = hasBidiFn(backend!);
    // A message's bytes are given back once the model's code has it: bidiFn takes it (in the thread,
    // maybe after the inbox handed it on), or an invocation per message reads it from the inbox.
    const messageRead = bytes && (() => bytes.messageRead());
    const inbox = new FrameInbox(ws, withBidiFn ? undefined : messageRead);
    const metrics = this.options.metrics;
    if (metrics) ws.on('message', () => metrics.countBidiMessage('in'));
    let replies: AsyncIterable<BidiFrame>;
    try {
      replies = withBidiFn
        ? backend!.openBidi!(request, inbox, cancellation, messageRead)
        : answerEachMessage(backend!, request, inbox, { contentType: request.query['content-type'], accept: request.query['accept'], timeoutMs }, cancellation);
    } catch (err) {
      this.#fail(ws, err, streamLog);
      return;
    }
    const iterator = replies[Symbol.asyncIterator]();
    let stopped = false;
    let finished = false;
    const stop = (reason: ToolkitError) => {
      if (stopped || finished) return;
      stopped = true;
      cancellation.cancel(reason);
      inbox.end();
      // Stops bidiFn (or the invocation in flight) without waiting for its next reply. Inline, a
      // `finally` of bidiFn that throws rejects this: unhandled, it would end the whole process.
      iterator.return?.().catch((err: unknown) => {
        const code = err instanceof ToolkitError ? err.code : 'ERR_INTERNAL';
        if (this.#errorLines.admit(code)) streamLog.warn({ code, err }, 'bidiFn failed while it was being stopped');
      });
    };
    this.#stops.set(ws, stop);
    overBudget = (error) => stop(this.#fail(ws, error, streamLog));
    // bidiFn's signal says why: the client's protocol error, else that the client left.
    ws.once('close', () => stop(protocolError ?? clientGoneError()));
    streamLog.debug({ bidiFn: withBidiFn, path: request.path, query: request.query }, 'bidirectional stream opened');
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) finished = true;
        if (next.done || stopped) break;
        try {
          await send(ws, next.value);
        } catch (err) {
          // The client closed the stream, or broke the protocol, while this reply was on its way (ws
          // refuses to send once it is closing): the client left, nothing failed here.
          if (ws.readyState !== ws.OPEN) {
            stop(protocolError ?? clientGoneError());
            break;
          }
          throw err;
        }
        if (next.value.partial !== true) metrics?.countBidiMessage('out');
      }
      if (!stopped) this.#close(ws, CLOSE_NORMAL);
    } catch (err) {
      // A failure of bidiFn, or a reply that could not be sent (the stream is closing): then bidiFn
      // is still running, and is stopped here rather than left to the close handshake.
      if (!stopped) stop(this.#fail(ws, err, streamLog));
    } finally {
      this.#stops.delete(ws);
      inbox.end();
    }
  }

  /** Closes a stream that failed with `err`'s close code and reason; returns `err` as a catalogued error. */
  #fail(ws: WebSocket, err: unknown, log: ServerLogger): ToolkitError {
    const error = err instanceof ToolkitError ? err : new ToolkitError('ERR_INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
    if (this.#errorLines.admit(error.code)) {
      // A stream closed because the memory budget is full is the server refusing work, not a failure.
      const failure = error.status >= 500 && error.code !== 'ERR_SERVER_BUSY';
      const logged = { code: error.code, status: error.status, ...(failure ? { err: error } : {}) };
      if (failure) log.error(logged, error.message);
      else log.warn(logged, error.message);
    }
    this.#close(ws, closeCodeFor(error), closeReason(error));
    return error;
  }

  /** Closes a stream, noting the code when the server is the one that closes it. */
  #close(ws: WebSocket, code: number, reason?: string): void {
    if (ws.readyState === ws.OPEN) this.#sentCodes.set(ws, code);
    ws.close(code, reason);
  }
}

/** A protocol error of `ws` (it closes the stream with 1009, 1007, 1008 or 1002 next) as a catalogued error. */
function protocolErrorFor(err: Error & { code?: string }, maxMessageBytes: number): ToolkitError {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
    const limit = messageLimit(maxMessageBytes);
    const why = limit < maxMessageBytes ? 'the most a WebSocket message may be here, though SAGEMAKER_MAX_PAYLOAD_IN_MB allows more' : 'SAGEMAKER_MAX_PAYLOAD_IN_MB';
    return new ToolkitError('ERR_PAYLOAD_TOO_LARGE', `a message was larger than ${limit} bytes (${why}): the stream was closed with 1009`);
  }
  return new ToolkitError('ERR_BAD_REQUEST', `the client broke the WebSocket protocol (${err.code ?? 'WS_ERR'}: ${err.message}): the stream was closed`);
}

/** The message limit `ws` is given: `SAGEMAKER_MAX_PAYLOAD_IN_MB`, at most {@link MAX_MESSAGE_LIMIT_BYTES}. */
function messageLimit(maxMessageBytes: number): number {
  return Math.min(maxMessageBytes, MAX_MESSAGE_LIMIT_BYTES);
}

/** RFC 6455's codes. */
const KNOWN_CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011]);

/**
 * A close code a client chose as a metric label: any but RFC 6455's is `other` (smkit's own 4400 to
 * 4599 too, which only the server sends), so clients cannot add series at will.
 */
function clientMetricCode(code: number): number | 'other' {
  return KNOWN_CLOSE_CODES.has(code) ? code : 'other';
}

/** The code `ws` closes a stream with for one of its protocol errors. */
function protocolCloseCode(wsCode: string | undefined): number {
  switch (wsCode) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 1009;
    case 'WS_ERR_INVALID_UTF8':
      return 1007;
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return 1008;
    default:
      return 1002;
  }
}

/** Sends one frame; resolves once it was handed to the connection, so a client that stops reading holds the stream back. */
function send(ws: WebSocket, frame: BidiFrame): Promise<void> {
  return new Promise((resolve, reject) => ws.send(frame.data, { binary: frame.binary, fin: frame.partial !== true }, (err) => (err ? reject(err) : resolve())));
}
