import net from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A client connection's native handle (libuv's TCP handle), as a worker process sends it to the
 * primary over cluster IPC: the primary then holds a duplicate of the connection's file descriptor
 * that outlives the worker. Node's own cluster hands connections to workers the same way.
 */
export interface NativeHandle {
  close(): void;
}

/**
 * The native handle of `socket`, to send to the primary with an IPC message (Node sends a TCP
 * handle as is, `net.Native`, and keeps it open in the sender); undefined once it is closed.
 * A `net.Socket` itself is not sent: the receiving side wraps it in a socket that starts reading,
 * and would take the bytes of the worker's next request.
 */
export function nativeHandleOf(socket: Socket | undefined): object | undefined {
  const handle = (socket as unknown as { _handle?: object | null } | undefined)?._handle;
  return handle ?? undefined;
}

/** Whether what came with an IPC message is a connection handle the primary can answer on. */
export function isNativeHandle(handle: unknown): handle is NativeHandle {
  return typeof handle === 'object' && handle !== null && typeof (handle as { close?: unknown }).close === 'function';
}

/** The primary's copy is no longer needed (the worker answers): the connection stays open in the worker. */
export function releaseConnection(handle: NativeHandle): void {
  handle.close();
}

/** How long the primary reads and discards what a client still sends after its answer, before it closes anyway. */
const LINGER_MS = 5000;

/** Takes over a connection whose worker process has died: only the primary holds it then. */
function adopt(handle: NativeHandle): net.Socket {
  const socket = new net.Socket({ handle } as net.SocketConstructorOpts);
  socket.on('error', () => socket.destroy());
  return socket;
}

/** Writes one answer; `last` closes the connection after it (`Connection: close`). */
function writeAnswer(socket: net.Socket, status: number, body: unknown, last: boolean): void {
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    `Date: ${new Date().toUTCString()}`,
    ...(last ? ['Connection: close'] : []),
  ];
  const answer = `${head.join('\r\n')}\r\n\r\n${text}`;
  if (!last) {
    socket.write(answer);
    return;
  }
  // What the client still sends is discarded until it closes, so closing with unread bytes does
  // not reset the connection before the client has read the answer.
  socket.end(answer);
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Answers the request in flight on a connection whose worker process has died, from the primary,
 * with `Connection: close`.
 */
export function answerOnConnection(handle: NativeHandle, status: number, body: unknown): void {
  writeAnswer(adopt(handle), status, body, true);
}

/** A request whose connection the primary holds a copy of, until it is answered. */
interface HeldRequest {
  handle: NativeHandle;
  /** The request answered just before it on the same connection, if that one is held too. */
  prev?: HeldRequest;
  next?: HeldRequest;
  /** A request ahead of it on its connection is not held here: the primary cannot answer this one in order. */
  broken: boolean;
  /** `not-ours`: the worker answered it, or the primary could not (an answer ahead of it was the worker's). */
  state: 'pending' | 'not-ours' | 'ready' | 'written';
  answer?: { status: number; body: unknown };
  /** The connection, once the primary has written on it. */
  socket?: net.Socket;
}

/**
 * The connections of one worker process's requests the primary holds (multi-model loads), so that
 * it can answer them if the worker dies: in the order the worker read them, when several were
 * pipelined on one connection, each after the one before it and the last with `Connection: close`.
 */
export class HeldConnections {
  readonly #pending = new Map<number, HeldRequest>();

  /**
   * Holds request `id`'s connection; `after` is the held request of the same worker answered just
   * before it on that connection (the worker sends it only when every request ahead is held).
   */
  hold(id: number, handle: NativeHandle, after?: number): { answeredByWorker(): void; answer(status: number, body: unknown): void } {
    const prev = after === undefined ? undefined : this.#pending.get(after);
    const held: HeldRequest = { handle, prev, broken: after !== undefined && prev === undefined, state: 'pending' };
    if (prev) prev.next = held;
    this.#pending.set(id, held);
    return {
      answeredByWorker: () => {
        this.#pending.delete(id);
        held.state = 'not-ours';
        releaseConnection(handle);
        if (held.next) this.#flush(held.next);
      },
      answer: (status, body) => {
        this.#pending.delete(id);
        held.state = 'ready';
        held.answer = { status, body };
        this.#flush(held);
      },
    };
  }

  /** Writes `held`'s answer once every request ahead of it on its connection has its own written. */
  #flush(held: HeldRequest): void {
    if (held.state !== 'ready') return;
    const prev = held.prev;
    if (held.broken || prev?.state === 'not-ours') {
      // The answer before it is the worker's, which may never have been written: one from here could be read as that one.
      releaseConnection(held.handle);
      held.state = 'not-ours';
      if (held.next) this.#flush(held.next);
      return;
    }
    if (prev && prev.state !== 'written') return;
    if (prev?.socket) releaseConnection(held.handle);
    held.socket = prev?.socket ?? adopt(held.handle);
    held.state = 'written';
    // The worker is gone, so every request it sent on this connection is known: the last one closes it.
    writeAnswer(held.socket, held.answer!.status, held.answer!.body, held.next === undefined);
    if (held.next) this.#flush(held.next);
  }
}
