import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

/** Opens `path` for appending, as the log file of a child's output; rejects when it cannot be opened. */
export async function openChildLog(path: string): Promise<WriteStream> {
  const log = createWriteStream(path, { flags: 'a' });
  await new Promise<void>((ok, ko) => log.once('open', () => ok()).once('error', ko));
  return log;
}

/**
 * Pipes a child's stdout and stderr into `log`, which is left open for the caller to end once the
 * child has exited. Should the file fail after it opened (a full disk, a file-size limit), the
 * output is read and dropped from then on (what else reads it, such as the local CloudWatch Logs,
 * still gets it) and `onError` hears of it once: a stream whose destination failed is unpiped and
 * paused, and the child, its output pipe full, would block on its next write.
 */
export function pipeChildOutput(outputs: readonly Readable[], log: WriteStream, onError?: (err: Error) => void): void {
  for (const output of outputs) output.pipe(log, { end: false });
  let failed = false;
  log.on('error', (err) => {
    if (failed) return;
    failed = true;
    for (const output of outputs) {
      output.unpipe(log);
      output.resume();
    }
    onError?.(err);
  });
}
