import type { Logger } from '../core/context.js';
import { ToolkitError, type ErrorCode } from '../errors/catalogue.js';
import { excerpt, thrownMessage } from '../errors/excerpt.js';
import { LogThrottle } from '../logging/log-throttle.js';

/**
 * A batcher's `batchFailed` for a server: a warning per failed batched run of `step`, with how many
 * requests it held and the error's code and message, never their bodies (each request's own error,
 * after its retry alone, is logged as any answer is). At most 10 such lines per code a second, the
 * rest counted in one line: a client that keeps sending an input the model fails on makes every
 * batch it joins fail.
 *
 * @param otherCode the code of an error that is not a `ToolkitError` (user code's own throw: `ERR_USER_CODE`).
 */
export function batchFailureLogger(log: Logger, step: string, otherCode: ErrorCode = 'ERR_INTERNAL'): (error: unknown, size: number) => void {
  const throttle = new LogThrottle((code, n, windowMs) =>
    log.warn({ step, code, notLogged: n }, `${n} more batched runs of ${step} failed with ${code} in the last ${windowMs / 1000} s (not logged one by one)`),
  );
  return (error, size) => {
    const code = error instanceof ToolkitError ? error.code : otherCode;
    if (!throttle.admit(code)) return;
    log.warn({ step, batchSize: size, code }, `a batched run of ${size} requests of ${step} failed (${code}: ${excerpt(thrownMessage(error), 300)}); each request is retried alone`);
  };
}

/**
 * A batcher's `batchingPaused` for a server: one warning, naming `step`, that batched runs kept
 * failing while their requests succeeded alone and that its requests now run one by one for a while.
 */
export function batchingPauseLogger(log: Logger, step: string): (failures: number, pauseMs: number) => void {
  return (n, pauseMs) =>
    log.warn(
      { step, failedBatches: n, pauseSeconds: pauseMs / 1000 },
      `${step}: ${n} batched runs in a row failed while each of their requests succeeded alone; requests run one by one for the next ${pauseMs / 1000} s, then batching is tried again`,
    );
}
