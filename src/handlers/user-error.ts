import { ToolkitError } from '../errors/catalogue.js';

/**
 * Turns what user code threw into a {@link ToolkitError}. `ModelError` (and any ToolkitError) keeps
 * its status; any error with a numeric `status` or `statusCode` from 400 to 599 keeps it too, so
 * handler code needs no smkit import to answer a 4xx. Everything else is a 500 naming the hook.
 */
export function toUserError(hook: string, file: string | undefined, err: unknown): ToolkitError {
  if (err instanceof ToolkitError) return err;
  const e = err as { message?: unknown; status?: unknown; statusCode?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const status = Number(e?.status ?? e?.statusCode);
  if (Number.isInteger(status) && status >= 400 && status <= 599) {
    return new ToolkitError('ERR_USER_CODE', message, { status, cause: err });
  }
  return new ToolkitError('ERR_USER_CODE', `${hook}${file ? ` in ${file}` : ''} failed: ${message}`, { cause: err });
}
