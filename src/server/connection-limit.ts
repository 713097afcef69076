import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../errors/catalogue.js';
import { openFilesLimit, RESERVED_FILE_DESCRIPTORS } from './open-files.js';
import { answerOnSocket } from './respond.js';

/**
 * How long a refused connection may stay half-open once its 503 is sent: node:http keeps the
 * reading side open (`allowHalfOpen`), and a client that never closes its side would hold the
 * descriptor the limit is there to keep.
 */
const REFUSED_LINGER_MS = 2000;

/**
 * Refused connections that may wait out {@link REFUSED_LINGER_MS} at one time; past these a refused
 * connection is closed as soon as its 503 is written. They hold descriptors the limit does not
 * count: clients that kept theirs half-open, flooding faster than the linger let them go, took the
 * reserved descriptors too and hung the server as a flood without the limit did.
 */
export const MAX_LINGERING_REFUSALS = RESERVED_FILE_DESCRIPTORS / 4;

/** Marks a connection answered 503 by {@link limitConnections}: its requests are not served. */
const REFUSED = Symbol('smkit.connectionRefused');

/** The answer a refused connection gets: its status, JSON body and extra headers. */
export interface Refusal {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/** What a connection past the limit is answered, given the connections held and the open files limit. */
export type RefusalAnswer = (open: number, fileLimit: number) => Refusal;

/** smkit serve's answer: 503 `ERR_SERVER_BUSY`, to be retried in a second. */
export const serverBusy: RefusalAnswer = (open, fileLimit) => ({
  status: 503,
  body: {
    code: 'ERR_SERVER_BUSY' satisfies ErrorCode,
    message: `this worker already holds ${open} connections, as many as its open files limit (ulimit -n ${fileLimit}) leaves room for; retry shortly, or raise the limit`,
  },
  headers: { 'Retry-After': '1' },
});

/** Whether {@link limitConnections} answered this connection's first bytes itself: its requests are to be left alone. */
export function isRefusedConnection(socket: Socket): boolean {
  return (socket as Socket & { [REFUSED]?: true })[REFUSED] === true;
}

/**
 * Keeps a worker's connections within its file descriptor limit: past `maxConnections` a new
 * connection gets `refusal`'s answer (by default a 503 `ERR_SERVER_BUSY`) and is closed (once the client closes its side, at most
 * {@link REFUSED_LINGER_MS} later; at once while `maxLingering` refused ones are still open).
 * Without this, a flood of connections took every descriptor: a connection the cluster primary
 * handed over was then lost on the way (the kernel drops a descriptor the receiver has no room
 * for), the primary waited for its acknowledgement for good and gave the worker no connection
 * again, and a package loaded on first use could not be opened.
 */
export function limitConnections(server: Server, maxConnections: number, fileLimit: number, maxLingering = MAX_LINGERING_REFUSALS, refusal: RefusalAnswer = serverBusy): void {
  let open = 0;
  let lingering = 0;
  // Before node:http's own listener, so that a refused connection is marked before it is parsed.
  server.prependListener('connection', (socket: Socket) => {
    if (open >= maxConnections) {
      (socket as Socket & { [REFUSED]?: true })[REFUSED] = true;
      const { status, body, headers } = refusal(open, fileLimit);
      answerOnSocket(socket, status, body, headers);
      // Node writes a new connection's first bytes at once: the 503 goes out before the close,
      // unless the client's request is already waiting unread (then the client sees a reset).
      if (lingering >= maxLingering) {
        socket.destroy();
        return;
      }
      lingering++;
      const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
      socket.once('close', () => {
        lingering--;
        clearTimeout(linger);
      });
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
}

/**
 * {@link limitConnections} with the limit this process's open files limit allows, less
 * {@link RESERVED_FILE_DESCRIPTORS}; nothing when the limit is unknown or unlimited.
 */
export function limitConnectionsToFileLimit(server: Server, fileLimit = openFilesLimit()): void {
  if (fileLimit === undefined) return;
  limitConnections(server, Math.max(1, fileLimit - RESERVED_FILE_DESCRIPTORS), fileLimit);
}
