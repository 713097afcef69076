import { ToolkitError } from '../errors/catalogue.js';
import { hasFreeDescriptors } from './free-descriptors.js';

/** Whether `err`, or an error it was caused by, is a lack of file descriptors (EMFILE, ENFILE). */
export function isOutOfDescriptors(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EMFILE' || code === 'ENFILE') return true;
  }
  return false;
}

/** The 503 for code that cannot be loaded now for want of file descriptors (answered with `Retry-After: 1`). */
export function descriptorsBusy(what: string, cause?: unknown): ToolkitError {
  return new ToolkitError('ERR_SERVER_BUSY', `${what} cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly`, { cause });
}

/**
 * A lazy load (an `import()` of code only some requests need) done once and kept, but neither tried
 * while the process has no file descriptors to spare nor kept once it failed. Node keeps a module
 * it could not open (EMFILE) failed for good, and a package whose `package.json` it could not read
 * missing for good (see free-descriptors.ts): tried during a connection flood, the feature would
 * stay broken once the flood is over. The call that finds no descriptors, or whose load failed for
 * want of them, rejects with 503 `ERR_SERVER_BUSY`; the next call tries again. Once loaded, a call
 * costs no check.
 *
 * @param what - what is loaded, for the error's message ("the session support").
 * @param canLoad - whether to try now (tests pass their own).
 */
export function retryingLoad<T>(what: string, load: () => Promise<T>, canLoad: () => boolean = hasFreeDescriptors): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (loading) return loading;
    if (!canLoad()) return Promise.reject(descriptorsBusy(what));
    const attempt: Promise<T> = Promise.resolve()
      .then(load)
      .catch((err: unknown) => {
        if (loading === attempt) loading = undefined;
        throw isOutOfDescriptors(err) ? descriptorsBusy(what, err) : err;
      });
    loading = attempt;
    return attempt;
  };
}
