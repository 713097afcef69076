import { ToolkitError } from '../errors/catalogue.js';
import { hasFreeDescriptors } from './free-descriptors.js';

/** Marks an error as coming of a lack of file descriptors where no system error says so (see {@link markOutOfDescriptors}). */
const OUT_OF_DESCRIPTORS = Symbol('smkit.outOfDescriptors');

/**
 * Marks `err` as coming of a lack of file descriptors, for {@link isOutOfDescriptors}: a shortage
 * found before anything was opened, or one an error that crossed from a thread said. A mark, not
 * a made-up cause, so what is logged of the error stays what happened.
 */
export function markOutOfDescriptors<E extends Error>(err: E): E {
  Object.defineProperty(err, OUT_OF_DESCRIPTORS, { value: true });
  return err;
}

/**
 * Whether `err`, or an error it was caused by, is a lack of file descriptors (EMFILE, ENFILE; a
 * native addon that could not be opened for that reason, ONNX Runtime's or sharp's binding: Node's
 * `ERR_DLOPEN_FAILED` carries only dlopen's text, "cannot open shared object file: Too many open
 * files"; a thread Node could not create for that reason, `ERR_WORKER_INIT_FAILED` "Worker
 * initialization failure: EMFILE"; or one marked by {@link markOutOfDescriptors}).
 */
export function isOutOfDescriptors(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { [OUT_OF_DESCRIPTORS]?: boolean })[OUT_OF_DESCRIPTORS] === true) return true;
    const code = (e as { code?: unknown }).code;
    if (code === 'EMFILE' || code === 'ENFILE') return true;
    const message = String((e as { message?: unknown }).message);
    if (code === 'ERR_DLOPEN_FAILED' && /too many open files/i.test(message)) return true;
    if (code === 'ERR_WORKER_INIT_FAILED' && /\b(EMFILE|ENFILE)\b/.test(message)) return true;
  }
  return false;
}

/** The 503 for code that cannot be loaded now for want of file descriptors (answered with `Retry-After: 1`). */
export function descriptorsBusy(what: string, cause?: unknown): ToolkitError {
  const err = new ToolkitError('ERR_SERVER_BUSY', `${what} cannot be loaded now: this process has no file descriptors to spare (its open files limit, ulimit -n); retry shortly`, { cause });
  return markOutOfDescriptors(err);
}

/**
 * The 500 for code Node will not load again in this process: an `import()` that failed for want of
 * file descriptors is kept failed by Node's module loader (a later `import()` of it rejects with
 * the very same error), so telling the client to retry would have it retry for the life of the
 * worker.
 */
export function keptFailed(what: string, cause: unknown): ToolkitError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ToolkitError(
    'ERR_INTERNAL',
    `${what} could not be loaded for want of file descriptors (${why}), and Node does not load a module again once it failed in this process: restart the server, and raise its open files limit (ulimit -n)`,
    { cause },
  );
}

/** A lazy load: call it for the value (loaded once); `loaded` is that value once it has been loaded, for callers that can go on synchronously. */
export interface RetryingLoad<T> {
  (): Promise<T>;
  /** The loaded value, once a load has succeeded: a caller on a hot path uses it without a promise. */
  readonly loaded: T | undefined;
}

/**
 * A lazy load (an `import()` of code only some requests need) done once and kept, but neither tried
 * while the process has no file descriptors to spare nor kept once it failed. Node keeps a module
 * it could not open (EMFILE) failed for good, and a package whose `package.json` it could not read
 * missing for good (see free-descriptors.ts): tried during a connection flood, the feature would
 * stay broken once the flood is over. The call that finds no descriptors, or whose load failed for
 * want of them, rejects with 503 `ERR_SERVER_BUSY`; the next call tries again. A load that fails
 * again with the very error of an earlier attempt was kept failed by Node (an `import()`; a
 * `require` is tried afresh): that call rejects with 500 `ERR_INTERNAL` saying so (see
 * {@link keptFailed}), not with a 503 the client would retry for the life of the process. Once
 * loaded, a call costs no check, and `loaded` holds the value.
 *
 * @param what - what is loaded, for the error's message ("the session support").
 * @param canLoad - whether to try now (tests pass their own).
 */
export function retryingLoad<T>(what: string, load: () => Promise<T>, canLoad: () => boolean = hasFreeDescriptors): RetryingLoad<T> {
  let loading: Promise<T> | undefined;
  /** The errors of attempts that failed for want of descriptors: met again, Node kept the failure. */
  let failures: WeakSet<object> | undefined;
  const get = (() => {
    if (loading) return loading;
    if (!canLoad()) return Promise.reject(descriptorsBusy(what));
    const attempt: Promise<T> = Promise.resolve()
      .then(load)
      .then(
        (value) => {
          (get as { loaded: T | undefined }).loaded = value;
          return value;
        },
        (err: unknown) => {
          if (loading === attempt) loading = undefined;
          if (!isOutOfDescriptors(err)) throw err;
          // An error that says EMFILE is an object (see isOutOfDescriptors).
          if (failures?.has(err as object)) throw keptFailed(what, err);
          (failures ??= new WeakSet()).add(err as object);
          throw descriptorsBusy(what, err);
        },
      );
    loading = attempt;
    return attempt;
  }) as RetryingLoad<T>;
  (get as { loaded: T | undefined }).loaded = undefined;
  return get;
}
