import net from 'node:net';
import { lazyRequire } from '../core/lazy-require.js';
import type { Socket } from 'node:net';

/** `node:http`, for its status texts: loaded with the first answer written here, not with the primary's start (which imports this module). */
const http = lazyRequire<typeof import('node:http')>('node:http');

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
    `HTTP/1.1 ${status} ${http().STATUS_CODES[status] ?? 'Error'}`,
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
  /** The primary's copy of the connection; undefined once let go or taken over. */
  handle: NativeHandle | undefined;
  /** The request answered just before it on the same connection, if that one is held too. */
  prev?: HeldRequest;
  next?: HeldRequest;
  /** A request ahead of it on its connection is not held here: the primary cannot answer this one in order. */
  broken: boolean;
  /** `settled`: its outcome is known; `done`: written by the primary (`socket`) or left to the worker. */
  state: 'pending' | 'settled' | 'done';
  /** Its outcome went to the worker, which writes it unless it died before it could. */
  toWorker: boolean;
  answer?: { status: number; body: unknown };
  /** The connection, once the primary has written this answer on it. */
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
   * `answeredByWorker` says its outcome was sent to the worker; `answer` that the worker is gone.
   */
  hold(id: number, handle: NativeHandle, after?: number): { answeredByWorker(status: number, body: unknown): void; answer(status: number, body: unknown): void } {
    const prev = after === undefined ? undefined : this.#pending.get(after);
    const held: HeldRequest = { handle, prev, broken: after !== undefined && prev === undefined, state: 'pending', toWorker: false };
    if (prev) prev.next = held;
    this.#pending.set(id, held);
    const settle = (status: number, body: unknown, toWorker: boolean) => {
      if (held.state !== 'pending') return;
      this.#pending.delete(id);
      held.state = 'settled';
      held.toWorker = toWorker;
      held.answer = { status, body };
      // Written by the primary, if at all, on the connection of the first answer it writes.
      if (toWorker) release(held);
      this.#flush(held);
    };
    return { answeredByWorker: (status, body) => settle(status, body, true), answer: (status, body) => settle(status, body, false) };
  }

  /**
   * Settles `held` once every request ahead of it on its connection is done. The primary writes
   * its answer when it wrote the one just ahead (then the worker, which never wrote that one, did
   * not write this one either, even if it got its outcome), or when it is the first and the worker
   * is gone; it leaves it to the worker when the answer ahead is the worker's, which may never
   * have been written: one from here could be read as that one.
   */
  #flush(held: HeldRequest): void {
    if (held.state !== 'settled') return;
    const prev = held.prev;
    if (prev && prev.state !== 'done') return;
    const write = !held.broken && (prev ? prev.socket !== undefined : !held.toWorker);
    held.state = 'done';
    if (write) {
      if (prev?.socket) release(held);
      held.socket = prev?.socket ?? adopt(held.handle!);
      held.handle = undefined;
      // The worker is gone, so every request it sent on this connection is known: the last one closes it.
      writeAnswer(held.socket, held.answer!.status, held.answer!.body, held.next === undefined);
    } else {
      release(held);
    }
    held.answer = undefined;
    if (held.next) this.#flush(held.next);
  }
}

/** Lets the primary's copy of a held request's connection go, once. */
function release(held: HeldRequest): void {
  if (held.handle) releaseConnection(held.handle);
  held.handle = undefined;
}
