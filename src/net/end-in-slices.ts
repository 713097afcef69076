import type { ServerResponse } from 'node:http';

/** The most of an answer written to the socket at once: a caller reading 2 KB/s takes it in half a minute. */
export const ANSWER_SLICE_BYTES = 64 * 1024;

/**
 * Ends `res` with `body`, written {@link ANSWER_SLICE_BYTES} at a time, each slice once the one
 * before has gone to the caller.
 *
 * A socket's idle timer (`res.setTimeout`, the front door's send idle time) is reset only when a
 * write completes, and a write completes only once all of it has gone: an answer written at once
 * left a caller that reads it slowly, but reads, seen as idle until the last byte, and dropped.
 */
export function endInSlices(res: ServerResponse, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  // As res.end(body) would send it: with its length, not chunked.
  if (!res.headersSent && !res.hasHeader('Content-Length')) res.setHeader('Content-Length', bytes.length);
  let offset = 0;
  const next = (): void => {
    while (!res.destroyed && bytes.length - offset > ANSWER_SLICE_BYTES) {
      const slice = bytes.subarray(offset, offset + ANSWER_SLICE_BYTES);
      offset += slice.length;
      if (!res.write(slice)) return void res.once('drain', next);
    }
    if (!res.destroyed) res.end(bytes.subarray(offset));
  };
  next();
}
