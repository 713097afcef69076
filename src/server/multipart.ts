import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Writable } from 'node:stream';
import type { Request, Response } from 'express';
import multer from 'multer';
import { ToolkitError } from '../errors/catalogue.js';
import type { FormPart } from '../codecs/multipart.js';
import { bodyTimeout, checkDeclaredLength, clientLeftMidBody, payloadTooLarge } from './body-reader.js';

/** Limits on one `multipart/form-data` request. */
export interface FormLimits {
  /** Largest file part, in bytes (also the largest text field). */
  readonly maxFileBytes: number;
  /** Most file parts. */
  readonly maxFiles: number;
  /** Most non-file fields. */
  readonly maxFields: number;
  /** Largest whole body, in bytes: refused with 413 at that byte, while it streams. */
  readonly maxTotalBytes: number;
  /** Longest time to receive the whole body, in milliseconds (then 408). */
  readonly timeoutMs: number;
}

/** Longest field name, in bytes. */
const MAX_FIELD_NAME_BYTES = 200;
/**
 * Bracketed field names (`a[b][0]`) nest at most this deep. multer expands them into objects and
 * arrays, and an index such as `p[300000000]` would make a sparse array that costs seconds to walk.
 */
const MAX_FIELD_NESTING = 4;

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${+(bytes / (1024 * 1024)).toFixed(2)} MB` : `${bytes} bytes`;
}

/** Maps multer's and busboy's errors to smkit's: sizes → 413, counts → 400, malformed bodies → 400. */
export function formError(err: unknown, limits: FormLimits): ToolkitError {
  if (err instanceof ToolkitError) return err;
  if (err instanceof multer.MulterError) {
    const field = err.field ? ` (field "${err.field}")` : '';
    switch (err.code as string) {
      case 'LIMIT_FILE_SIZE':
        return new ToolkitError('ERR_MULTIPART_TOO_LARGE', `a file${field} is larger than the ${mb(limits.maxFileBytes)} allowed per file`);
      case 'LIMIT_FIELD_VALUE':
        return new ToolkitError('ERR_MULTIPART_TOO_LARGE', `a text field${field} is longer than the ${mb(limits.maxFileBytes)} allowed`);
      case 'LIMIT_FILE_COUNT':
        return new ToolkitError('ERR_MULTIPART_TOO_MANY', `the form has more than ${limits.maxFiles} files; send at most ${limits.maxFiles} per request`);
      case 'LIMIT_FIELD_COUNT':
        return new ToolkitError('ERR_MULTIPART_TOO_MANY', `the form has more than ${limits.maxFields} text fields; send at most ${limits.maxFields} per request`);
      case 'LIMIT_PART_COUNT':
        return new ToolkitError('ERR_MULTIPART_TOO_MANY', `the form has more than ${limits.maxFiles + limits.maxFields} parts in all`);
      case 'LIMIT_FIELD_KEY':
        return new ToolkitError('ERR_MULTIPART_FIELD_NAME', `a field name is longer than ${MAX_FIELD_NAME_BYTES} bytes`);
      case 'LIMIT_FIELD_NESTING':
        return new ToolkitError('ERR_MULTIPART_FIELD_NAME', `the field name${field} nests brackets more than ${MAX_FIELD_NESTING} deep; use plain field names`);
      case 'LIMIT_FIELD_ARRAY_INDEX':
        return new ToolkitError('ERR_MULTIPART_FIELD_NAME', `the field name${field} has an array index over ${limits.maxFields} (the most fields a form may have); use plain field names`);
      case 'MISSING_FIELD_NAME':
      case 'INVALID_FIELD_NAME':
        return new ToolkitError('ERR_MULTIPART_FIELD_NAME', `a field name is missing or invalid${field}`);
      default:
        return new ToolkitError('ERR_MULTIPART_PARSE', `the multipart/form-data body was refused: ${err.message}${field}`);
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ToolkitError('ERR_MULTIPART_PARSE', `the multipart/form-data body is malformed: ${message}`, { cause: err });
}

function textParts(field: string, value: unknown): FormPart[] {
  if (Array.isArray(value)) return value.flatMap((v) => textParts(field, v));
  // multer expands bracketed names (`a[b]`) into objects; hand them on as JSON under the original key.
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return [{ field, contentType: 'text/plain', data: Buffer.from(text, 'utf8') }];
}

/** Chunks under this size are copied together, into buffers of the form's size so far up to {@link COALESCE_BYTES}, before the form parser sees them. */
const SMALL_CHUNK_BYTES = 1024;
const COALESCE_BYTES = 64 * 1024;

/**
 * Copies small chunks together on their way to the form parser: it keeps each part as the chunks
 * it is given, a Buffer object of a few hundred bytes each whatever its size, so a 1 MB form sent
 * as a million 1-byte chunks held 400 MB.
 */
function coalesceSmallChunks(): Transform {
  let small: Buffer | undefined;
  let used = 0;
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (chunk.length >= SMALL_CHUNK_BYTES) {
        // A copy of the few bytes before it, so that `small` is used again rather than kept for them.
        if (used > 0) this.push(Buffer.from(small!.subarray(0, used)));
        used = 0;
        return callback(null, chunk);
      }
      if (small !== undefined && used + chunk.length > small.length) {
        this.push(small.subarray(0, used));
        small = undefined;
        used = 0;
      }
      // Sized to the form so far: a form that stalls after a few bytes does not hold 64 KB.
      small ??= Buffer.allocUnsafe(Math.min(COALESCE_BYTES, Math.max(SMALL_CHUNK_BYTES, received)));
      used += chunk.copy(small, used);
      callback();
    },
    flush(callback) {
      callback(null, used > 0 ? small!.subarray(0, used) : undefined);
    },
  });
}

/** Reads a multipart/form-data request into its parts (files and text fields, in order). */
export type FormPartsParser = (req: IncomingMessage, res: ServerResponse) => Promise<FormPart[]>;

/**
 * Creates the HTTP-front parser for `multipart/form-data` requests (multer, in memory): files and
 * text fields become {@link FormPart}s, in the order files first, then fields. A file or field over
 * the size limit is a 413 `ERR_MULTIPART_TOO_LARGE`; too many files or fields a 400
 * `ERR_MULTIPART_TOO_MANY`; a malformed body a 400 `ERR_MULTIPART_PARSE`.
 *
 * @example
 * const parseForm = createFormPartsParser({ maxFileBytes: 6 * 1024 * 1024, maxFiles: 16, maxFields: 64 });
 * const parts = await parseForm(req, res);
 */
export function createFormPartsParser(limits: FormLimits): FormPartsParser {
  // The whole body is bounded while it streams: multer alone bounds each part, and on an error
  // reads the rest of the body before answering, so a 10 GB upload would be read to its end first.
  const refusals = new WeakMap<IncomingMessage, (err: ToolkitError) => void>();
  const streamHandler = (req: IncomingMessage, busboy: Writable) => {
    let received = 0;
    const coalesced = coalesceSmallChunks();
    const refuse = (err: ToolkitError) => {
      clearTimeout(timer);
      req.off('data', count);
      req.unpipe(coalesced);
      coalesced.unpipe(busboy);
      busboy.destroy(err);
      refusals.get(req)?.(err);
    };
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxTotalBytes) refuse(payloadTooLarge(limits.maxTotalBytes));
    };
    const timer = setTimeout(() => refuse(bodyTimeout(limits.timeoutMs)), limits.timeoutMs);
    req.on('data', count);
    req.once('end', () => clearTimeout(timer));
    // A client that left mid-body: the form parser may never hear of it (a request already closed
    // when the parser, loaded with the first form, came to it gave no callback, and the invocation
    // was held, with its share of SMKIT_BODY_MEMORY_MB, until SMKIT_BODY_TIMEOUT_SECONDS, then
    // counted as a body that did not arrive in time). A whole body not yet read when the request
    // closed (an HTTP/1.0 or half-closed client) is dropped with it: no 'end' is to come either.
    const left = () => (req.readableEnded ? clearTimeout(timer) : refuse(clientLeftMidBody(req.complete)));
    if (req.destroyed) return refuse(clientLeftMidBody(req.complete));
    req.once('close', left);
    req.pipe(coalesced).pipe(busboy);
  };
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: limits.maxFileBytes,
      files: limits.maxFiles,
      fields: limits.maxFields,
      fieldSize: limits.maxFileBytes,
      fieldNameSize: MAX_FIELD_NAME_BYTES,
      fieldNestingDepth: MAX_FIELD_NESTING,
      fieldArrayIndexLimit: limits.maxFields,
      parts: limits.maxFiles + limits.maxFields,
    },
    streamHandler,
  } as multer.Options).any();
  return (req, res) =>
    new Promise<FormPart[]>((resolve, reject) => {
      try {
        checkDeclaredLength(req, limits.maxTotalBytes);
      } catch (err) {
        return reject(err);
      }
      refusals.set(req, reject);
      // multer is express middleware, but reads only what node:http gives (headers, the stream); it
      // leaves the files and fields on the request.
      const request = req as Request;
      upload(request, res as Response, (err?: unknown) => {
        refusals.delete(req);
        if (err) {
          reject(formError(err, limits));
          return;
        }
        const files = (request.files as Express.Multer.File[] | undefined) ?? [];
        const parts: FormPart[] = files.map((f) => ({ field: f.fieldname, filename: f.originalname, contentType: f.mimetype || 'application/octet-stream', data: f.buffer }));
        const body = (request.body ?? {}) as Record<string, unknown>;
        for (const [field, value] of Object.entries(body)) parts.push(...textParts(field, value));
        resolve(parts);
      });
    });
}
