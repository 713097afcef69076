/** How many {@link whileInterruptible} sections are running and have not yet taken a signal. */
let covering = 0;

/**
 * Runs `work` with a signal that aborts on the first SIGINT (Ctrl-C) or SIGTERM, so it can clean up
 * what it started (an S3 multipart upload, whose parts are billed until aborted) and then fail.
 * Only while `work` runs: before and after, and for a second signal while it cleans up, the signal
 * takes its default action and ends the process (after {@link cleanUpOnSignal}'s clean-up, if any).
 */
export async function whileInterruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let stopped = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    stop();
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    covering -= 1;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  covering += 1;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    stop();
  }
}

/**
 * Runs `work` so that a SIGINT or SIGTERM that no {@link whileInterruptible} section takes (one
 * between them, or a second one while a section cleans up), or a SIGHUP (a closed terminal) at any
 * time, first runs `cleanup`, synchronously,
 * and then ends the process by that signal, as it would have without this: a `finally` does not
 * run when a signal ends the process, so deploy's folder of packaged archives (as large as the
 * models) stayed in the temporary folder after a Ctrl-C while deploy waited for an endpoint to
 * settle before planning, or between two steps.
 */
export async function cleanUpOnSignal<T>(cleanup: () => void, work: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals): void => {
    // The section's own handler stops its work, whose finally cleans up. No section takes SIGHUP
    // (the terminal has gone, so there is no one to tell what the clean-up did): it cleans up here
    // and ends the process at once, as it always did, in a section or not.
    if (covering > 0 && signal !== 'SIGHUP') return;
    stop();
    try {
      cleanup();
    } finally {
      process.kill(process.pid, signal);
    }
  };
  const stop = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    return await work();
  } finally {
    stop();
  }
}
