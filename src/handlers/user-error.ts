import { ToolkitError, isToolkitError } from '../errors/catalogue.js';
import { THROWN_MESSAGE_MAX, thrownMessage } from '../errors/excerpt.js';

/**
 * Turns what user code threw into a {@link ToolkitError}. `ModelError` (and any ToolkitError) keeps
 * its status; any error with a numeric `status` or `statusCode` from 400 to 599 keeps it too, so
 * handler code needs no smkit import to answer a 4xx. Everything else is a 500 naming the hook.
 * Whatever was thrown (a string, `undefined`, an object whose `toString` throws, a Proxy) becomes such an
 * error, its message cut to {@link thrownMessage}'s bound; the thrown value stays the `cause`.
 */
export function toUserError(hook: string, file: string | undefined, err: unknown): ToolkitError {
  if (isToolkitError(err)) {
    if (err.message.length <= THROWN_MESSAGE_MAX) return err;
    return new ToolkitError(err.code, thrownMessage(err), { status: err.status, cause: err, ...(err.details ? { details: err.details } : {}) });
  }
  const message = thrownMessage(err);
  const status = statusOf(err);
  if (Number.isInteger(status) && status >= 400 && status <= 599) {
    return new ToolkitError('ERR_USER_CODE', message, { status, cause: err });
  }
  return new ToolkitError('ERR_USER_CODE', `${hook}${file ? ` in ${file}` : ''} failed: ${message}`, { cause: err });
}

/** The `status` (or `statusCode`) a thrown value carries, NaN when none can be read. */
function statusOf(err: unknown): number {
  try {
    const e = err as { status?: unknown; statusCode?: unknown } | null | undefined;
    return Number(e?.status ?? e?.statusCode);
  } catch {
    return Number.NaN;
  }
}
