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

/**
 * Answers the request in flight on a connection whose worker process has died, from the primary,
 * with `Connection: close`. Only the primary holds the connection then, so it may read: what the
 * client still sends is discarded until it closes, so closing with unread bytes does not reset the
 * connection before the client has read the answer.
 */
export function answerOnConnection(handle: NativeHandle, status: number, body: unknown): void {
  const socket = new net.Socket({ handle } as net.SocketConstructorOpts);
  socket.on('error', () => socket.destroy());
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    `Date: ${new Date().toUTCString()}`,
    'Connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
