import type { Readable } from 'node:stream';

/**
 * Longest log line passed on whole, in UTF-8 bytes: CloudWatch Logs takes events of at most 1 MB
 * (1,048,576 bytes), counted as the message's UTF-8 bytes plus 26 (PutLogEvents); a longer line
 * is passed on in pieces of at most this many bytes.
 */
export const MAX_LOG_LINE_BYTES = 1_048_576 - 26;

/** Receives one line of a process's output, without its line break. */
export type LineSink = (line: string) => void;

/** The longest start of `bytes` that ends on a UTF-8 character boundary and is at most `max` bytes (`max` itself when none does). */
function charBoundary(bytes: Buffer, max: number): number {
  let cut = max;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return cut === 0 ? max : cut;
}

/**
 * Reads `stream` (a child's stdout or stderr) as lines and gives each to `sink`: split at `\n`
 * (a `\r` before it dropped), empty lines skipped (a log event has at least one character), a line
 * longer than `maxBytes` given in pieces, and the last line given when the stream ends even
 * without a line break. At most `maxBytes` of an unfinished line are held, in one buffer that
 * grows by doubling (at most twice that): kept as the chunks that brought it, a line written a
 * byte at a time (`print('.', end='', flush=True)` per step) held a Buffer object per byte, about
 * 120 MB of heap for its 1 MB. The stream is only listened to: it may be piped elsewhere as well.
 */
export function tapLines(stream: Readable, sink: LineSink, maxBytes = MAX_LOG_LINE_BYTES): void {
  /** The unfinished line: its first `heldBytes` bytes. */
  let held = EMPTY;
  let heldBytes = 0;
  const give = (bytes: Buffer): void => {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    if (end > 0) sink(bytes.toString('utf8', 0, end));
  };
  /** Appends `bytes` to what is held, then gives whole pieces of `maxBytes` from its front. */
  const hold = (bytes: Buffer): void => {
    if (heldBytes + bytes.length > held.length) {
      const grown = Buffer.allocUnsafe(Math.max(heldBytes + bytes.length, Math.min(held.length * 2, maxBytes + 1), 256));
      held.copy(grown, 0, 0, heldBytes);
      held = grown;
    }
    bytes.copy(held, heldBytes);
    heldBytes += bytes.length;
    if (heldBytes <= maxBytes) return;
    let start = 0;
    while (heldBytes - start > maxBytes) {
      const cut = charBoundary(held.subarray(start, heldBytes), maxBytes);
      give(held.subarray(start, start + cut));
      start += cut;
    }
    held.copy(held, 0, start, heldBytes);
    heldBytes -= start;
  };
  /** Gives what is held as a line (`sink` has made a string of it: the buffer can be reused). */
  const giveHeld = (): void => {
    give(held.subarray(0, heldBytes));
    heldBytes = 0;
    // A long line's buffer is not kept for the short ones after it.
    if (held.length > 64 * 1024) held = EMPTY;
  };
  stream.on('data', (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a, start); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
      if (heldBytes === 0 && nl - start <= maxBytes) give(bytes.subarray(start, nl));
      else {
        hold(bytes.subarray(start, nl));
        giveHeld();
      }
      start = nl + 1;
    }
    // Copied into the held buffer: nothing held keeps the whole chunk alive.
    if (start < bytes.length) hold(bytes.subarray(start));
  });
  stream.once('end', () => {
    if (heldBytes > 0) giveHeld();
    held = EMPTY;
  });
}

const EMPTY = Buffer.alloc(0);
