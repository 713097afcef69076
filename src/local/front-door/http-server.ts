import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../../errors/catalogue.js';
import { portBindError } from '../../net/ports.js';
import { isRefusedConnection, limitConnections, MAX_LINGERING_REFUSALS, type Refusal } from '../../server/connection-limit.js';
import { openFilesLimit, RESERVED_FILE_DESCRIPTORS } from '../../server/open-files.js';
import { NODE_CONNECTIONS_CHECKING_INTERVAL_MS, requestTimeoutAfterBodyMs } from '../../server/request-timeout.js';
import { answerClientError, answerConnect, limitHeaderLines, requestHeadFault, sendJsonAndClose, type ParseError } from '../../server/respond.js';
import { frontDoorConnectionsFull } from './runtime-errors.js';

/**
 * How long the front door keeps an idle connection open: longer than the AWS SDKs and the AWS CLI
 * keep theirs between calls. Node's default of 5 s raced with clients that reuse a connection idle
 * for about that long: the server closed it as the next request went out, and the client saw
 * ECONNRESET (an SDK client with retries off failed the call).
 */
export const FRONT_DOOR_KEEP_ALIVE_MS = 65_000;

/** How long a caller has to send a request's headers: a little longer than a connection stays idle. */
export const FRONT_DOOR_HEADERS_TIMEOUT_MS = FRONT_DOOR_KEEP_ALIVE_MS + 1000;

/**
 * The minute a request body has beyond the headers' time: the body reader gives it
 * {@link FRONT_DOOR_BODY_READ_TIMEOUT_MS} once its headers are in. Only the request's arrival is
 * timed, so a slow container (the service allows 60 s per container, a pipeline more) is not cut;
 * a caller that stalls its body is, with a 408.
 */
export const FRONT_DOOR_BODY_TIMEOUT_MS = 60_000;

/**
 * How long the front door's body reader gives a request body once its headers are in, before it
 * answers a 408 in the request's protocol: the headers' time plus {@link FRONT_DOOR_BODY_TIMEOUT_MS}
 * (126 s). Node's own request timeout is later ({@link frontDoorRequestTimeoutMs}).
 */
export const FRONT_DOOR_BODY_READ_TIMEOUT_MS = FRONT_DOOR_HEADERS_TIMEOUT_MS + FRONT_DOOR_BODY_TIMEOUT_MS;

export { NODE_CONNECTIONS_CHECKING_INTERVAL_MS };

/**
 * Node's request timeout for a front door whose body reader times a body out after `bodyReadMs`
 * from its headers ({@link requestTimeoutAfterBodyMs}): with the two timeouts equal Node often closed
 * a stalled request first, with its generic `ERR_REQUEST_TIMEOUT` JSON, which a query-protocol client
 * cannot read.
 */
export function frontDoorRequestTimeoutMs(headersMs: number, bodyReadMs: number, intervalMs: number): number {
  return requestTimeoutAfterBodyMs(headersMs, bodyReadMs, intervalMs);
}

/**
 * How long a caller may take nothing of its answer (a non-streamed answer it does not read, a
 * stream it stops reading) before its connection is closed. Node times neither, so such a caller
 * held its connection, the answer's memory and, for a stream, the instance for good.
 */
export const FRONT_DOOR_SEND_IDLE_MS = 60_000;

/**
 * The connections a front door may hold with `fileLimit` descriptors: half of what
 * {@link RESERVED_FILE_DESCRIPTORS} leaves, since each invocation also opens a connection to its
 * container. Undefined (no limit) when the limit is unknown or unlimited.
 */
export function frontDoorMaxConnections(fileLimit: number | undefined): number | undefined {
  return fileLimit === undefined ? undefined : Math.max(1, Math.floor((fileLimit - RESERVED_FILE_DESCRIPTORS) / 2));
}

/** A connection past the limit, answered as the service answers a call it cannot take now (see {@link frontDoorConnectionsFull}). */
function connectionsFull(open: number, fileLimit: number): Refusal {
  const err = frontDoorConnectionsFull(open, fileLimit);
  return { status: err.status, body: err.body(), headers: { 'x-amzn-ErrorType': err.type, 'x-amzn-RequestId': randomUUID(), 'Retry-After': '1' } };
}

/** Timing of a front door's HTTP server; tests shorten it. */
export interface FrontDoorServerTiming {
  /** Time for a request's headers to arrive. @defaultValue {@link FRONT_DOOR_HEADERS_TIMEOUT_MS} */
  headersTimeoutMs?: number;
  /** The body reader's timeout the app was given (`bodyTimeoutMs` of `createFrontDoor`). @defaultValue {@link FRONT_DOOR_BODY_READ_TIMEOUT_MS} */
  bodyTimeoutMs?: number;
  /** Time for the whole request to arrive (headers and body). @defaultValue {@link frontDoorRequestTimeoutMs} of the other timings */
  requestTimeoutMs?: number;
  /** How often Node checks connections for the request timeout. @defaultValue {@link NODE_CONNECTIONS_CHECKING_INTERVAL_MS} */
  connectionsCheckingIntervalMs?: number;
  /** The open files limit connections are kept within (tests pass a small one). @defaultValue this process's `ulimit -n` */
  fileLimit?: number;
}

/**
 * A front door's request listener. One that answers some refused request heads in their own
 * protocol (the front door app answers the control plane's as its services answer errors) has
 * `answerHeadFault`, which returns false for a request it leaves to the server's own answer.
 */
export type FrontDoorListener = RequestListener & { answerHeadFault?(req: IncomingMessage, res: ServerResponse, fault: string): boolean };

/** The HTTP server of a local front door (the local SageMaker, `smkit local` endpoints). */
export function createFrontDoorServer(app: FrontDoorListener, timing: FrontDoorServerTiming = {}): Server {
  // Two Host lines, an invalid Host or a fragment in the target are refused as smkit serve refuses
  // them, before the routes: express would route the request on the first Host and without the fragment.
  const listener: RequestListener = (req, res) => {
    // Answered already, by the connection limit.
    if (isRefusedConnection(req.socket)) return;
    const fault = requestHeadFault(req, false);
    if (fault === undefined) return app(req, res);
    if (app.answerHeadFault?.(req, res, fault) === true) return;
    res.setHeader('x-amzn-RequestId', randomUUID());
    sendJsonAndClose(req, res, 400, { code: 'ERR_BAD_REQUEST' satisfies ErrorCode, message: fault });
  };
  const intervalMs = timing.connectionsCheckingIntervalMs ?? NODE_CONNECTIONS_CHECKING_INTERVAL_MS;
  // Without a Host header a request is still routed (Node would answer a bare 400 itself).
  const server = createServer({ requireHostHeader: false, connectionsCheckingInterval: intervalMs }, listener);
  // A request of more header lines than Node keeps is refused, not served without the lines it dropped.
  limitHeaderLines(server);
  // Without a limit a flood of connections took every descriptor: the front door could then open
  // no connection to a container, no file, and no log.
  const fileLimit = 'fileLimit' in timing ? timing.fileLimit : openFilesLimit();
  const maxConnections = frontDoorMaxConnections(fileLimit);
  if (maxConnections !== undefined) limitConnections(server, maxConnections, fileLimit!, MAX_LINGERING_REFUSALS, connectionsFull);
  server.keepAliveTimeout = FRONT_DOOR_KEEP_ALIVE_MS;
  server.headersTimeout = timing.headersTimeoutMs ?? FRONT_DOOR_HEADERS_TIMEOUT_MS;
  // The body reader's 408 answers in the request's protocol: Node's own must never come first.
  server.requestTimeout = timing.requestTimeoutMs ?? frontDoorRequestTimeoutMs(server.headersTimeout, timing.bodyTimeoutMs ?? FRONT_DOOR_BODY_READ_TIMEOUT_MS, intervalMs);
  // Bytes that are not HTTP/1.1, headers over 16 KB and a CONNECT get a catalogued JSON answer, as
  // smkit serve gives them, instead of Node's bare status line or a dropped connection; with a
  // request id, as every answer of the front door (an SDK client's error $metadata.requestId).
  server.on('clientError', (err: ParseError, socket: Duplex) => answerClientError(err, socket, { 'x-amzn-RequestId': randomUUID() }));
  server.on('connect', (req: IncomingMessage, socket: Duplex) => answerConnect(req, socket, { 'x-amzn-RequestId': randomUUID() }));
  // An expectation other than 100-continue is ignored (RFC 9110 §10.1.1 allows it), not a bare 417.
  server.on('checkExpectation', listener);
  // Expect: 100-continue: a body the route refuses on its headers (a declared length over the
  // operation's limit) gets that answer instead of a 100 Continue, which would have the client send
  // the body for nothing (Node's own answer writes the 100 before the route runs).
  server.on('checkContinue', (req, res) => {
    if (isRefusedConnection(req.socket)) return;
    listener(req, res);
    if (!res.headersSent) res.writeContinue();
  });
  return server;
}

/**
 * Listens on 127.0.0.1:`port` (0: any free port) and resolves with the port bound. A port that
 * cannot be bound (another process holds it, it needs privileges) rejects with `ERR_PORT_IN_USE`,
 * saying how to choose another.
 */
export function listenFrontDoor(server: Server, port: number): Promise<number> {
  return new Promise((ok, ko) => {
    server.once('error', (err: NodeJS.ErrnoException) => ko(portBindError(err, '127.0.0.1', port)));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      ok(typeof address === 'object' && address ? address.port : port);
    });
  });
}
