import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** What a path that is not a regular file is, for a message. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A regular file's bytes, at most `maxBytes`; anything else is refused before a byte is read, with
 * the error `refuse` makes of the problem (a clause such as "it is a FIFO (named pipe), expected a
 * regular file", or the system's message with its error as `cause`): a FIFO would hold the read
 * until a writer came, and a device such as /dev/zero, or a huge file, would be read into memory
 * without end. The file opened is checked again (the path may name another since), and read no
 * further than the limit: a file that grew, or one whose size says 0 and is not
 * (/proc/self/pagemap holds gigabytes).
 */
export function readBoundedFile(file: string, maxBytes: number, refuse: (problem: string, cause?: unknown) => Error): Buffer {
  const refusals = new WeakSet<object>();
  const refusal = (problem: string, cause?: unknown): Error => {
    const err = refuse(problem, cause);
    refusals.add(err);
    return err;
  };
  const asRefusal = (err: unknown): Error => (err instanceof Error && refusals.has(err) ? err : refusal((err as Error).message, err));
  const check = (stats: Stats): void => {
    if (!stats.isFile()) throw refusal(`it is ${kindOf(stats)}, expected a regular file`);
    if (stats.size > maxBytes) throw refusal(`it is ${stats.size} bytes, over the ${maxBytes} bytes read`);
  };
  let fd: number;
  try {
    // Looked at before it is opened: opening a FIFO waits for a writer, and a device may act on it.
    check(statSync(file));
    // Non-blocking: a FIFO put in its place meanwhile does not hold the open (fstat refuses it).
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw asRefusal(err);
  }
  try {
    check(fstatSync(fd));
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      // Whole 64 KiB reads: some /proc files (pagemap) refuse a read of an odd length.
      const part = Buffer.allocUnsafe(64 * 1024);
      const read = readSync(fd, part, 0, part.length, null);
      if (read === 0) return Buffer.concat(parts, size);
      parts.push(part.subarray(0, read));
      size += read;
      if (size > maxBytes) throw refusal(`it holds more than the ${maxBytes} bytes read`);
    }
  } catch (err) {
    throw asRefusal(err);
  } finally {
    closeSync(fd);
  }
}
