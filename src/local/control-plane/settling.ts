/** How `promise` settled, or `undefined` when it has not within `ms`. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `promise`, or the signal's reason as soon as it is aborted (a stopped job does not wait on S3).
 * `promise` is followed even when the signal was aborted before the call: a request started with
 * that signal rejects a moment later, and left unfollowed that rejection would be unhandled,
 * which ends the process (Node's default) or fails whatever test is running. A value it still
 * resolves with after the abort, which no caller gets, is given to `discard` (to close it).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, discard?: (late: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    const settle = (value: T): void => {
      // Aborted, the caller was already given the reason (onAbort ran at the abort, or at the call).
      if (signal.aborted) discard?.(value);
      else resolve(value);
    };
    promise.then(settle, reject).finally(() => signal.removeEventListener('abort', onAbort));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
