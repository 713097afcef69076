import type { Request, Response } from 'express';
import multer from 'multer';
import { ToolkitError } from '../errors/catalogue.js';
import type { FormPart } from '../codecs/multipart.js';

/** Limits on one `multipart/form-data` request. */
export interface FormLimits {
  /** Largest file part, in bytes (also the largest text field). */
  readonly maxFileBytes: number;
  /** Most file parts. */
  readonly maxFiles: number;
  /** Most non-file fields. */
  readonly maxFields: number;
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${+(bytes / (1024 * 1024)).toFixed(2)} MB` : `${bytes} bytes`;
}

/** Maps multer's and busboy's errors to smkit's: sizes → 413, counts → 400, malformed bodies → 400. */
export function formError(err: unknown, limits: FormLimits): ToolkitError {
  if (err instanceof ToolkitError) return err;
  if (err instanceof multer.MulterError) {
    const field = err.field ? ` (field "${err.field}")` : '';
    switch (err.code) {
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
export function createFormPartsParser(limits: FormLimits): (req: Request, res: Response) => Promise<FormPart[]> {
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: limits.maxFileBytes,
      files: limits.maxFiles,
      fields: limits.maxFields,
      fieldSize: limits.maxFileBytes,
      parts: limits.maxFiles + limits.maxFields,
    },
  }).any();
  return (req, res) =>
    new Promise<FormPart[]>((resolve, reject) => {
      upload(req, res, (err?: unknown) => {
        if (err) {
          reject(formError(err, limits));
          return;
        }
        const files = (req.files as Express.Multer.File[] | undefined) ?? [];
        const parts: FormPart[] = files.map((f) => ({ field: f.fieldname, filename: f.originalname, contentType: f.mimetype || 'application/octet-stream', data: f.buffer }));
        const body = (req.body ?? {}) as Record<string, unknown>;
        for (const [field, value] of Object.entries(body)) parts.push(...textParts(field, value));
        resolve(parts);
      });
    });
}
