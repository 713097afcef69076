import type { IncomingMessage, ServerResponse } from 'node:http';

/** Longest a refused request's unread body is drained before the connection is closed anyway. */
const LINGER_MS = 5000;
/** Most bytes of a refused request's unread body drained before the connection is closed anyway. */
const LINGER_BYTES = 64 * 1024 * 1024;

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
 * complete), the rest of the body is read and discarded for a bounded time and size, and only then
 * is the response ended, which closes the connection (`Connection: close`).
 *
 * @param drain false when the client is not sending (a stalled body): close right after answering.
 */
export function sendJsonAndClose(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, drain = true): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
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
  };
  const timer = setTimeout(end, LINGER_MS);
  req.on('data', onData);
  req.on('end', end);
  req.on('close', end);
  req.resume();
}
