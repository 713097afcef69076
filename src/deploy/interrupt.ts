/**
 * Runs `work` with a signal that aborts on the first SIGINT (Ctrl-C) or SIGTERM, so it can clean up
 * what it started (an S3 multipart upload, whose parts are billed until aborted) and then fail.
 * Only while `work` runs: before and after, and for a second signal while it cleans up, the signal
 * takes its default action and ends the process.
 */
export async function whileInterruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    stop();
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  const stop = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    stop();
  }
}
