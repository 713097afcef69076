import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ToolkitError } from '../../errors/catalogue.js';
import type { BodyBudget } from '../../server/body-budget.js';
import { readBodyThen } from '../../server/body-reader.js';
import { sendJsonAndClose, sendTextAndClose } from '../../server/respond.js';
import { RuntimeApiError } from './runtime-errors.js';

/**
 * The service's answer to a real-time request body over its limit: HTTP 413 with no error type and
 * the message `HTTP content length exceeded <n> bytes.`, which boto3 shows as
 * `An error occurred (413) when calling the InvokeEndpoint operation: HTTP content length exceeded
 * 5246976 bytes.` (reported when the limit was 5 MB: aws/sagemaker-python-sdk#171,
 * https://github.com/aws/sagemaker-python-sdk/issues/171). The service's own byte count is a little
 * over the API's `Body` maximum there; this one is the maximum itself.
 */
export function bodyTooLargeAnswer(maxBytes: number): { message: string } {
  return { message: `HTTP content length exceeded ${maxBytes} bytes.` };
}

/** Options of {@link invokeBody}. */
export interface InvokeBodyOptions {
  /** Largest body, in bytes. */
  maxBytes: number;
  /** Longest time for the body to arrive once its headers have. */
  timeoutMs: number;
  /**
   * Decode a `Content-Encoding` (gzip, deflate, br; another one is refused as unreadable). Off, the
   * body is taken as the bytes sent, whatever the header says. @defaultValue true
   */
  inflate?: boolean;
  /**
   * What the bodies held at once may take together: each chunk is taken as it arrives and the
   * body's bytes are given back when its response is done (sent, or its connection gone); a body
   * that does not fit is refused with `busy`'s 503. Unset: each body is bounded on its own only.
   */
  budget?: { bytes: BodyBudget; busy: () => RuntimeApiError };
  /**
   * The answers of an operation whose errors differ from the real-time ones (`InvokeEndpointAsync`,
   * the control plane's protocols): to a body over `maxBytes`, to one that cannot be read and, when
   * set, to a body refused because the bodies held take `budget` already (`err`, a 503) and to one
   * that did not arrive within `timeoutMs` (a 408; its connection is closed whatever the answer).
   * @defaultValue the real-time 413 ({@link bodyTooLargeAnswer}), a 400 `ValidationError`, `err` as JSON and a 408 `{"message"}`
   */
  refusals?: {
    tooLarge(req: Request): BodyRefusal;
    unreadable(message: string, req: Request): BodyRefusal;
    busy?(err: RuntimeApiError, req: Request): BodyRefusal;
    timedOut?(message: string, req: Request): BodyRefusal;
  };
}

/**
 * An error answer to a body: its status, error type (the `x-amzn-ErrorType` header), JSON body and
 * its `Content-Type` (plain JSON by default), or `text`, a body already written out in
 * `contentType` (the query protocol's XML), and any further headers.
 */
export type BodyRefusal = { status: number; type?: string; contentType?: string; headers?: Readonly<Record<string, string>> } & ({ body: unknown } | { text: string; contentType: string });

function answer(req: Request, res: Response, refusal: BodyRefusal, drain = true): void {
  if (refusal.type !== undefined) res.setHeader('x-amzn-ErrorType', refusal.type);
  for (const [name, value] of Object.entries(refusal.headers ?? {})) res.setHeader(name, value);
  if ('text' in refusal) return sendTextAndClose(req, res, refusal.status, refusal.text, refusal.contentType, drain);
  sendJsonAndClose(req, res, refusal.status, refusal.body, drain, refusal.contentType);
}

/** Gives `bytes` back to `budget` once `res` is done: sent, or its connection gone (now, when it already is). */
export function holdUntilDone(res: Response, budget: BodyBudget, bytes: number): void {
  if (res.destroyed || res.writableFinished) return budget.give(bytes);
  res.once('close', () => budget.give(bytes));
}

/**
 * Reads a request's body into `req.body` (a Buffer; `Content-Encoding` gzip, deflate and br
 * decoded unless `inflate` is false), for the real-time and asynchronous invocations and the control plane, refusing it as it streams: a declared length over the limit before a
 * byte is read, a body that grows past it at that byte. A refused request is answered at once and
 * its connection closed (after a bounded drain, so the client reads the answer), rather than read
 * to its end first: a client declaring or sending a gigabyte is not read for a gigabyte.
 */
export function invokeBody(opts: InvokeBodyOptions): RequestHandler {
  const limits = { maxBytes: opts.maxBytes, timeoutMs: opts.timeoutMs, ...(opts.budget ? { budget: opts.budget.bytes } : {}) };
  return (req: Request, res: Response, next: NextFunction) => {
    readBodyThen(req, limits, opts.inflate ?? true, (err, body) => {
      if (err !== undefined) return refuse(req, res, err as ToolkitError, opts);
      if (opts.budget) holdUntilDone(res, opts.budget.bytes, body!.length);
      req.body = body;
      next();
    });
  };
}

function refuse(req: Request, res: Response, err: ToolkitError, opts: InvokeBodyOptions): void {
  switch (err.code) {
    case 'ERR_PAYLOAD_TOO_LARGE':
      return answer(req, res, opts.refusals?.tooLarge(req) ?? { status: 413, body: bodyTooLargeAnswer(opts.maxBytes) });
    case 'ERR_SERVER_BUSY': {
      const busy = opts.budget!.busy();
      res.setHeader('Retry-After', '1');
      return answer(req, res, opts.refusals?.busy?.(busy, req) ?? { status: busy.status, type: busy.type, body: busy.body() });
    }
    case 'ERR_BODY_TIMEOUT': {
      // As Node answers a request that does not arrive in time: 408, connection closed (the rest of the body is not waited for).
      const message = `The request body did not arrive within ${opts.timeoutMs / 1000} s.`;
      return answer(req, res, opts.refusals?.timedOut?.(message, req) ?? { status: 408, body: { message } }, false);
    }
    default: {
      // A body that could not be decoded, or a client that left before sending it all.
      const message = `The request body could not be read: ${err.message}.`;
      const invalid = new RuntimeApiError('ValidationError', 400, message);
      return answer(req, res, opts.refusals?.unreadable(message, req) ?? { status: invalid.status, type: invalid.type, body: invalid.body() }, !req.destroyed);
    }
  }
}
