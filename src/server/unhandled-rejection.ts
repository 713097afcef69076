import type { Logger } from '../core/context.js';
import { thrownMessage } from '../errors/excerpt.js';
import { LogThrottle } from '../logging/log-throttle.js';
import { toWireError } from './thread-protocol.js';

/**
 * Logs, rather than dies of, the promise rejections nothing awaits or catches in the thread (or
 * process) that runs handler code once its model is loaded: Node's default ends it, which drops
 * every request it holds and reloads the model, for a background failure in user code (a call not
 * awaited) that leaves an MMS or TorchServe worker serving. See {@link unhandledRejectionLogger}.
 *
 * @param runner - what keeps serving, for the line: `the inference thread`, `the worker process`.
 */
export function logUnhandledRejections(log: Logger, runner: string): void {
  process.on('unhandledRejection', unhandledRejectionLogger(log, runner));
}

/**
 * What {@link logUnhandledRejections} does with each rejection: one error line with code
 * `ERR_USER_CODE`, the reason and its stack (bounded as on the thread's wire), at most 10 a second
 * (every one at debug level): a handler that leaves one behind per request would otherwise write a
 * line with a stack per request. The rest are counted in one line per second.
 *
 * @param now - the clock in ms, for tests. @defaultValue performance.now
 */
export function unhandledRejectionLogger(log: Logger, runner: string, now?: () => number): (reason: unknown) => void {
  const throttle = new LogThrottle(
    (_key, n, windowMs) => log.warn({ code: 'ERR_USER_CODE', notLogged: n }, `${n} more promise rejections with nothing awaiting or catching them in the last ${windowMs / 1000} s were not logged one by one`),
    now ? { now } : {},
  );
  return (reason) => {
    if (!(log.isLevelEnabled?.('debug') ?? false) && !throttle.admit('ERR_USER_CODE')) return;
    log.error(
      { code: 'ERR_USER_CODE', reason: thrownMessage(reason), stack: toWireError(reason).stack },
      `a promise was rejected with nothing awaiting or catching it (handler code that calls an async function without await or .catch); ${runner} keeps serving`,
    );
  };
}
