import type { Logger } from '../core/context.js';
import { thrownMessage } from '../errors/excerpt.js';
import { toWireError } from './thread-protocol.js';

/**
 * Logs, rather than dies of, the promise rejections nothing awaits or catches in the thread (or
 * process) that runs handler code once its model is loaded: Node's default ends it, which drops
 * every request it holds and reloads the model, for a background failure in user code (a call not
 * awaited) that leaves an MMS or TorchServe worker serving. Each is one error line with code
 * `ERR_USER_CODE`, the reason and its stack (bounded as on the thread's wire).
 *
 * @param runner - what keeps serving, for the line: `the inference thread`, `the worker process`.
 */
export function logUnhandledRejections(log: Logger, runner: string): void {
  process.on('unhandledRejection', (reason: unknown) => {
    log.error(
      { code: 'ERR_USER_CODE', reason: thrownMessage(reason), stack: toWireError(reason).stack },
      `a promise was rejected with nothing awaiting or catching it (handler code that calls an async function without await or .catch); ${runner} keeps serving`,
    );
  });
}
