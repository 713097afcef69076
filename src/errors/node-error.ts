/**
 * Whether `err` is one of Node's own errors (its `code` is `ERR_...`: a missing package, an unknown
 * file extension; or `MODULE_NOT_FOUND`, what `require` of a missing package throws in a CommonJS
 * module), whose message says what to fix, rather than one user code threw.
 */
export function isNodeError(err: unknown): boolean {
  try {
    const code = (err as { code?: unknown } | null | undefined)?.code;
    return typeof code === 'string' && (code.startsWith('ERR_') || code === 'MODULE_NOT_FOUND');
  } catch {
    return false;
  }
}
