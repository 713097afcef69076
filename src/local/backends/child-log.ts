import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

/** Opens `path` for appending, as the log file of a child's output; rejects when it cannot be opened. */
export async function openChildLog(path: string): Promise<WriteStream> {
  const log = createWriteStream(path, { flags: 'a' });
  await new Promise<void>((ok, ko) => log.once('open', () => ok()).once('error', ko));
  return log;
}

/**
 * Pipes a child's stdout and stderr into `log`; the returned function, called once the child has
 * exited, ends the log. Should the file fail after it opened (a full disk, a file-size limit), the
 * output is read and dropped from then on (what else reads it, such as the local CloudWatch Logs,
 * still gets it) and `onError` hears of it once: a stream whose destination failed is unpiped and
 * paused, and the child, its output pipe full, would block on its next write.
 *
 * The outputs are let go of before the log ends, and read on: ended under a pipe, the log would
 * unpipe and pause them too once finished (what a process the child left behind writes then would
 * reach no other reader, and block it once the pipe is full; the outputs would never close), and
 * fail with a write after its end for output that came in between.
 */
export function pipeChildOutput(outputs: readonly Readable[], log: WriteStream, onError?: (err: Error) => void): () => void {
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
  return () => {
    letGo();
    log.end();
  };
}
