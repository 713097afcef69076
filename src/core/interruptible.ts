/**
 * Runs `work` with a signal that aborts on the first SIGINT (Ctrl-C) or SIGTERM, so a command can
 * stop and remove what it made (a partial archive, a staged copy, a build, `.out.partial` files)
 * instead of leaving it behind, as the signal's default action did. Once `work` has settled and
 * `cleanUp` has run, a signal received is raised again, so the process still ends as that signal
 * ends it (exit 130, 143 in a shell). A second Ctrl-C while it cleans up takes the default action.
 */
export async function runInterruptibly<T>(work: (signal: AbortSignal) => Promise<T>, cleanUp?: () => Promise<void>): Promise<T> {
  const interrupt = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    received = signal;
    interrupt.abort(new Error(`interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(interrupt.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp?.();
    if (received !== undefined) process.kill(process.pid, received);
  }
}
