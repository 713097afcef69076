/**
 * A signal that comes within this long of the one before is taken as its copy, not a second
 * keypress: a terminal sends its Ctrl-C's `SIGINT` to the whole process group, and a wrapper there
 * that forwards signals to its child (npm and npx do; bash, macOS's /bin/sh, execs a script's single
 * command in its place, making smkit npm's child) sends the same one again a moment later.
 */
export const SAME_SIGNAL_MS = 1000;

/**
 * Runs `work` with a signal that aborts on the first SIGINT (Ctrl-C) or SIGTERM, so a command can
 * stop and remove what it made (a partial archive, a staged copy, a build, `.out.partial` files)
 * instead of leaving it behind, as the signal's default action did. Once `work` has settled and
 * `cleanUp` has run, a signal received is raised again, so the process still ends as that signal
 * ends it (exit 130, 143 in a shell). A second Ctrl-C while it cleans up takes the default action;
 * a signal within {@link SAME_SIGNAL_MS} of the first is taken as its copy and ignored.
 */
export async function runInterruptibly<T>(work: (signal: AbortSignal) => Promise<T>, cleanUp?: () => Promise<void>): Promise<T> {
  const interrupt = new AbortController();
  let received: NodeJS.Signals | undefined;
  let receivedAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received === undefined) {
      received = signal;
      receivedAt = performance.now();
      interrupt.abort(new Error(`interrupted by ${signal}`));
      return;
    }
    // One Ctrl-C forwarded by a wrapper (npx) came twice: the copy killed the process before it cleaned up.
    if (performance.now() - receivedAt < SAME_SIGNAL_MS) return;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(interrupt.signal);
  } finally {
    // Heard while it cleans up: a copy of the signal is ignored there too, a second press ends the process.
    try {
      await cleanUp?.();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (received !== undefined) process.kill(process.pid, received);
  }
}
