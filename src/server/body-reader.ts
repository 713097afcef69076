import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { ToolkitError } from '../errors/catalogue.js';
import { excerpt } from '../errors/excerpt.js';
import { lazyRequire } from '../core/lazy-require.js';
import { DeadlineWatch } from '../core/deadline-watch.js';
import type { BodyBudget } from './body-budget.js';

/** Only compressed bodies need zlib: it is loaded at the first one, not at start-up. */
const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');

/** How much of a request body the server reads, and for how long. */
export interface BodyLimits {
  /** Largest body, in bytes (after decompression too). */
  readonly maxBytes: number;
  /** Longest time to receive the whole body once the headers arrived, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * What all the bodies being held may take together: each chunk kept is taken from it, and a body
   * that does not fit is refused (503 `ERR_SERVER_BUSY`). On success the caller owns the body's
   * bytes and gives them back once it is done with the body; on refusal they are given back here.
   */
  readonly budget?: BodyBudget;
}

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${+(bytes / (1024 * 1024)).toFixed(2)} MB` : `${bytes} bytes`;
}

/** The 413 for a body over `SAGEMAKER_MAX_PAYLOAD_IN_MB`. */
export function payloadTooLarge(maxBytes: number, length?: number | string): ToolkitError {
  return new ToolkitError(
    'ERR_PAYLOAD_TOO_LARGE',
    `the request body${length ? ` (${length} bytes)` : ''} is larger than ${sizeText(maxBytes)}; raise SAGEMAKER_MAX_PAYLOAD_IN_MB or send smaller batches`,
  );
}

/** The 408 for a body that did not arrive in time. */
export function bodyTimeout(timeoutMs: number): ToolkitError {
  return new ToolkitError('ERR_BODY_TIMEOUT', `the request body did not arrive within ${timeoutMs / 1000} s (SMKIT_BODY_TIMEOUT_SECONDS); the connection is closed`);
}

/**
 * The declared `Content-Length`, or undefined when absent or malformed (chunked bodies). Node's
 * parser takes any length up to 2^64 - 1: one past 2^53 is not exact as a number, but still far
 * over any limit, so it is kept (it was read as none, and such a body waited out the body timeout
 * for a 408, with a `100 Continue` first, instead of its 413 at once).
 */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Refuses at once a body whose declared length is over the limit, before reading any of it. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const length = declaredLength(req);
  // The header's digits: a length past 2^53 as a number is not the one sent.
  if (length !== undefined && length > maxBytes) throw payloadTooLarge(maxBytes, req.headers['content-length']);
}

/** The content codings a request body may come in, as an `Accept-Encoding` value. */
export const BODY_CODINGS = 'gzip, deflate, br';

/**
 * The one content coding of a request body, from its `Content-Encoding`, in lower case (`x-gzip` is
 * `gzip`, RFC 9110 §8.4.1.3); undefined for a body sent as it is. The header is a list (RFC 9110
 * §8.4): empty elements are skipped (§5.6.1), and so is `identity`, which is no coding (a token of
 * `Accept-Encoding`, §12.5.3) and which a body sent as it is may still carry, once or more. An
 * unknown coding, or more than one (a body compressed twice), is a 415.
 */
export function contentCodingOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  let coding: string | undefined;
  for (const element of header.split(',')) {
    const c = element.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    if (c !== 'gzip' && c !== 'x-gzip' && c !== 'deflate' && c !== 'br') {
      throw new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${excerpt(header)}" is not supported; send gzip, deflate or br (or no Content-Encoding)`);
    }
    if (coding !== undefined) {
      throw new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${excerpt(header)}" names more than one coding; compress the body once, with gzip, deflate or br`);
    }
    coding = c === 'x-gzip' ? 'gzip' : c;
  }
  return coding;
}

function decoderFor(coding: string | undefined): Readable & NodeJS.WritableStream | undefined {
  switch (coding) {
    case undefined:
      return undefined;
    case 'gzip':
      return zlib().createGunzip();
    case 'deflate':
      return zlib().createInflate();
    default:
      return zlib().createBrotliDecompress();
  }
}

/** Chunks kept as they arrive before small ones are copied together (a one-chunk body is never copied). */
const CHUNKS_KEPT_AS_IS = 8;
/** Chunks under this size, past {@link CHUNKS_KEPT_AS_IS}, are copied into one buffer of the body's size so far, up to {@link COALESCE_BYTES}. */
const SMALL_CHUNK_BYTES = 1024;
const COALESCE_BYTES = 64 * 1024;

/** Body timeouts of every request being read, checked together (a timeout fires up to 100 ms late). */
const bodyDeadlines = new DeadlineWatch(100);

/** Told once how a body read ended: with the whole body, or with the reason it was refused. */
export type BodyCallback = (err: unknown, body?: Buffer) => void;

/**
 * Reads a whole request body into one Buffer, refusing it while it streams: a declared length over
 * the limit is refused before a byte is read, and a body (or its decompressed form) that grows past
 * it is refused at that byte, not after the client has sent everything. A body that does not
 * arrive within `timeoutMs` is refused with 408. On refusal the request is paused, unread: the
 * caller answers and then drains or closes (see `sendRefusal`).
 *
 * @param inflate decode `Content-Encoding` (gzip, deflate, br); without it an encoded body is read as is.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits, inflate = false): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => readBodyThen(req, limits, inflate, (err, body) => (err === undefined ? resolve(body!) : reject(err))));
}

/**
 * {@link readBody} with a callback instead of a promise, for the one-row path, which calls it on
 * every request and has no use for the promise. `done` is called once.
 */
export function readBodyThen(req: IncomingMessage, limits: BodyLimits, inflate: boolean, done: BodyCallback): void {
  const budget = limits.budget;
  // A request whose connection closed before it was read (its reader loaded in the meantime, on a
  // route's first use): no 'close' is to come, and its body was dropped with it.
  if (req.destroyed) return done(clientLeftMidBody(req.complete));
  try {
    checkDeclaredLength(req, limits.maxBytes);
  } catch (err) {
    return done(err);
  }
  // A declared length that cannot fit is refused before a byte is read (the bytes are taken as they come).
  const length = budget && declaredLength(req);
  if (length && !budget.fits(length)) return done(budget.refusal());
  let decoder: (Readable & NodeJS.WritableStream) | undefined;
  let coding: string | undefined;
  try {
    coding = inflate ? contentCodingOf(req.headers['content-encoding']) : undefined;
    decoder = decoderFor(coding);
  } catch (err) {
    return done(err);
  }
  const source: Readable = decoder ?? req;
  const chunks: Buffer[] = [];
  // Each chunk of a chunked body is a Buffer object of its own, a few hundred bytes of memory
  // whatever its size: a 1 MB body sent as a million 1-byte chunks held 400 MB. Past the first few,
  // small chunks are copied into `small` instead, so a body takes about its size however it is cut.
  let small: Buffer | undefined;
  let smallUsed = 0;
  /** Moves the small chunks copied so far into `chunks`: a copy of them while `small` is reused, else `small` itself. */
  const keepSmall = (reuse: boolean) => {
    const kept = small!.subarray(0, smallUsed);
    chunks.push(reuse ? Buffer.from(kept) : kept);
    if (!reuse) small = undefined;
    smallUsed = 0;
  };
  let received = 0;
  let settled = false;
  // The listeners stay attached once settled (each checks `settled`): removing them per request
  // costs more than it saves, and a refused body that the caller drains is not kept.
  const finish = (err: unknown, body?: Buffer) => {
    if (settled) return;
    settled = true;
    bodyDeadlines.cancel(deadline);
    if (err !== undefined) {
      budget?.give(received);
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      req.pause();
    }
    done(err, body);
  };
  const deadline = bodyDeadlines.watch(limits.timeoutMs, () => finish(bodyTimeout(limits.timeoutMs)));
  source.on('data', (chunk: Buffer) => {
    if (settled) return;
    if (received + chunk.length > limits.maxBytes) return finish(payloadTooLarge(limits.maxBytes));
    if (budget && !budget.take(chunk.length)) return finish(budget.refusal());
    received += chunk.length;
    if (chunk.length >= SMALL_CHUNK_BYTES || chunks.length < CHUNKS_KEPT_AS_IS) {
      if (smallUsed > 0) keepSmall(true);
      chunks.push(chunk);
      return;
    }
    if (small !== undefined && smallUsed + chunk.length > small.length) keepSmall(false);
    // Sized to the body so far: a body that stalls after a few small chunks does not hold 64 KB.
    small ??= Buffer.allocUnsafe(Math.min(COALESCE_BYTES, Math.max(SMALL_CHUNK_BYTES, received)));
    smallUsed += chunk.copy(small, smallUsed);
  });
  source.on('end', () => {
    if (smallUsed > 0) keepSmall(false);
    finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
  });
  // A client that leaves mid-body destroys the request: 'close' comes with the body incomplete, or
  // whole but not all read (what was not read is dropped with the request: no 'end' is to come).
  // (Node emits the request's own 'error' only to listeners, so none is needed for it.)
  req.on('close', () => {
    if (!req.readableEnded) finish(clientLeftMidBody(req.complete));
  });
  if (decoder) {
    decoder.on('error', (err: Error) => finish(new ToolkitError('ERR_BAD_REQUEST', `the ${coding} body could not be decompressed: ${err.message}`)));
    // The limit holds for the bytes sent too: a chunked body of empty gzip members inflates to
    // nothing, so counting the inflated bytes alone would let it run on without end.
    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > limits.maxBytes) finish(payloadTooLarge(limits.maxBytes));
    });
    req.pipe(decoder);
  }
}

/**
 * The client closed its connection before its request's body was whole, or, `whole`, before the
 * server read it (an HTTP/1.0 or half-closed client whose reader was still loading): 499
 * `ERR_CLIENT_GONE`, logged and counted as such, as no answer can reach it. (A connection whose
 * end the HTTP parser answered, as a body cut short, is counted with that answer: see `readFailed`.)
 */
export function clientLeftMidBody(whole = false): ToolkitError {
  return new ToolkitError(
    'ERR_CLIENT_GONE',
    whole ? 'the client closed the connection before its request was read; the request was dropped' : 'the client closed the connection before sending the whole body; the request was dropped',
  );
}

/**
 * A `checkContinue` listener for `http.Server`: a client that sends `Expect: 100-continue` (curl
 * does for bodies over 1 MB) is told to go on only when its declared length is within the limit
 * and the request was not refused on its headers alone (a 404, 405, 415, 503); otherwise it gets
 * the refusal before it sends the body (RFC 9110 §10.1.1).
 */
export function continueWithinLimit(listener: RequestListener, maxBytes: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    listener(req, res);
    // Refusals made on the headers are answered before the listener returns (the 413 of a
    // declared length included); a 100 Continue after one would have the client send the body for nothing.
    if (res.headersSent) return;
    const length = declaredLength(req);
    if (length === undefined || length <= maxBytes) res.writeContinue();
  };
}
