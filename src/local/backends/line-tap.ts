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
 * without a line break. At most `maxBytes` of an unfinished line are held. The stream is only
 * listened to: it may be piped elsewhere as well.
 */
export function tapLines(stream: Readable, sink: LineSink, maxBytes = MAX_LOG_LINE_BYTES): void {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const give = (bytes: Buffer): void => {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    if (end > 0) sink(bytes.toString('utf8', 0, end));
  };
  /** Gives whole pieces of `maxBytes` from the front of what is held, keeping the rest. */
  const giveFullPieces = (): void => {
    if (heldBytes <= maxBytes) return;
    let rest = Buffer.concat(held, heldBytes);
    while (rest.length > maxBytes) {
      const cut = charBoundary(rest, maxBytes);
      give(rest.subarray(0, cut));
      rest = rest.subarray(cut);
    }
    held = [rest];
    heldBytes = rest.length;
  };
  stream.on('data', (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a, start); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
      held.push(bytes.subarray(start, nl));
      heldBytes += nl - start;
      giveFullPieces();
      give(Buffer.concat(held, heldBytes));
      held = [];
      heldBytes = 0;
      start = nl + 1;
    }
    if (start < bytes.length) {
      // Copied: the held piece must not keep the whole chunk alive.
      held.push(Buffer.from(bytes.subarray(start)));
      heldBytes += bytes.length - start;
      giveFullPieces();
    }
  });
  stream.once('end', () => {
    if (heldBytes > 0) give(Buffer.concat(held, heldBytes));
    held = [];
    heldBytes = 0;
  });
}
