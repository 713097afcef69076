import { ToolkitError } from '../errors/catalogue.js';
import type { RequestForm } from './codec.js';

/**
 * TensorFlow Serving and Open Inference Protocol v2 clients read a failed request's reason from an
 * `{"error": "..."}` member. Errors answering those forms carry it beside smkit's `code` and
 * `message` (through `details`, which the error body spreads).
 */
export function withErrorMember(err: unknown): unknown {
  if (!(err instanceof ToolkitError) || err.details?.['error'] !== undefined) return err;
  return new ToolkitError(err.code, err.message, { status: err.status, cause: err, details: { ...err.details, error: err.message } });
}

/** True for the request forms whose protocol answers errors as `{"error": "..."}`. */
export function hasErrorMember(form: RequestForm | undefined): boolean {
  return form === 'v2' || form === 'tfs-instances' || form === 'tfs-inputs';
}

/** {@link withErrorMember} for an error answering a request of `form`; other forms' errors pass unchanged. */
export function withProtocolError(err: unknown, form: RequestForm | undefined): unknown {
  return hasErrorMember(form) ? withErrorMember(err) : err;
}
