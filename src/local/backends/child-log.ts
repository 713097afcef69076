import type { Socket } from 'node:net';
import { finished, type Readable, type Writable } from 'node:stream';
import { CappedLogFile, CONTAINER_LOG_CAP, type LogCap } from './capped-log.js';

/** How long a child's log waits after its exit for the outputs to end: a process it left behind may hold them open. */
export const OUTPUT_DRAIN_MS = 2000;

/**
 * Opens `path` for appending (emptied first with `truncate`), as the log file of a child's output,
 * capped by `cap` (see {@link CappedLogFile}: past its head, the output goes to `<path>.tail.log`);
 * rejects when it cannot be opened.
 */
export async function openChildLog(path: string, opts: { readonly truncate?: boolean; readonly cap?: LogCap } = {}): Promise<CappedLogFile> {
  return CappedLogFile.open(path, opts.cap ?? CONTAINER_LOG_CAP, { append: !opts.truncate });
}

/**
 * Pipes a child's stdout and stderr into `log`; the returned function, called once the child has
 * exited, ends the log. Should the file fail after it opened (a full disk, a file-size limit), the
 * output is read and dropped from then on (what else reads it, such as the local CloudWatch Logs,
 * still gets it) and `onError` hears of it once: a stream whose destination failed is unpiped and
 * paused, and the child, its output pipe full, would block on its next write.
 *
 * The log ends once the outputs have ended (the child's last output may still be in the pipes at
 * its exit), or after `drainMs` when a process the child left behind holds them open (a wait that
 * does not by itself keep this process alive, nor do those outputs after it). The outputs are let
 * go of before the log ends, and read on: ended under a pipe, the log would unpipe and pause them
 * too once finished (what a process the child left behind writes then would reach no other reader,
 * and block it once the pipe is full; the outputs would never close), and fail with a write after
 * its end for output that came in between.
 */
export function pipeChildOutput(outputs: readonly Readable[], log: Writable, onError?: (err: Error) => void, drainMs = OUTPUT_DRAIN_MS): () => void {
  for (const output of outputs) output.pipe(log, { end: false });
  let piped = true;
  const letGo = (): void => {
    if (!piped) return;
    piped = false;
    for (const output of outputs) {
      output.unpipe(log);
      output.resume();
    }
  };
  let failed = false;
  log.on('error', (err) => {
    letGo();
    if (failed) return;
    failed = true;
    onError?.(err);
  });
  let ending = false;
  return () => {
    if (ending) return;
    ending = true;
    const open = outputs.filter((output) => !output.readableEnded && !output.destroyed);
    let left = open.length;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      letGo();
      log.end();
    };
    // Neither the wait nor, once it is over, the outputs a process the child left behind holds open
    // keep this process alive (a command such as `smkit package --verify` would wait for as long as
    // that process lives); in a process that stays alive they are still read.
    const unref = (): void => {
      for (const output of open) (output as Partial<Socket>).unref?.();
    };
    // A log that failed has nothing to wait for.
    if (!piped) unref();
    if (left === 0 || !piped) return end();
    timer = setTimeout(() => {
      unref();
      end();
    }, drainMs).unref();
    for (const output of open) {
      finished(output, { writable: false }, () => {
        if (--left === 0) end();
      });
    }
  };
}
