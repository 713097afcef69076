import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** How much of a training job's or a container's output its log files keep: the first `headBytes`, then at least the last `tailBytes` (at most twice that). */
export interface LogCap {
  readonly headBytes: number;
  readonly tailBytes: number;
}

/**
 * A training job's log file: 16 MiB of its first output, then at least its last 16 MiB. A job
 * that prints without end (a progress bar per batch, a loop of warnings) fills no disk, and what
 * a user debugging a failed job reads is kept: the start (smkit train's configuration and the
 * command it ran) and the end (the error and the lines before it), while the CloudWatch stream
 * keeps only the end.
 */
export const TRAINING_LOG_CAP: LogCap = { headBytes: 16 * 1024 * 1024, tailBytes: 16 * 1024 * 1024 };

/**
 * A container's log file (`smkit local`): as a training job's, 16 MiB of its first output, then at
 * least its last 16 MiB. A model that prints a line per request fills no disk; what a user reads
 * when it fails to start (its first output) and when it fails later (its last) is kept.
 */
export const CONTAINER_LOG_CAP: LogCap = TRAINING_LOG_CAP;

/** The files of a capped log at `path` (`x.log`): the head is `path`, the tail `x.tail.log`, its previous part `x.tail.1.log`. */
export function cappedLogFiles(path: string): { head: string; tail: string; previousTail: string } {
  const stem = path.endsWith('.log') ? path.slice(0, -4) : path;
  return { head: path, tail: `${stem}.tail.log`, previousTail: `${stem}.tail.1.log` };
}

/** How far back from a file's end a cut looks for a line break to end it on. */
const CUT_LOOKBACK = 4096;

/**
 * Where to cut `chunk` to write at most `room` bytes of it into a file: after a line break among
 * its last 4 KiB; else, when the file is not empty and ends a line, before the chunk (the line goes
 * whole to the next file); else at `room`, or before the UTF-8 character it would split.
 */
function cutAt(chunk: Buffer, room: number, fileEndsLine: boolean, fileEmpty: boolean): number {
  const lastBreak = chunk.lastIndexOf(0x0a, room - 1);
  if (lastBreak >= 0 && lastBreak >= room - CUT_LOOKBACK) return lastBreak + 1;
  if (fileEndsLine && !fileEmpty && room <= CUT_LOOKBACK) return 0;
  // Not inside a UTF-8 character: before its continuation bytes (at most 3).
  let cut = room;
  while (cut > room - 3 && cut > 0 && (chunk[cut]! & 0xc0) === 0x80) cut--;
  return cut > 0 ? cut : room;
}

/**
 * A log file that keeps a head and a tail of what is written to it (see {@link TRAINING_LOG_CAP}):
 * the first `headBytes` go to `path` (cut after a line break where one is near), followed by a
 * line saying where the rest is; the rest goes to the tail file, which, once it holds `tailBytes`,
 * becomes the previous tail (replacing the one before) and starts again. Files of an earlier log at
 * the same path are emptied or removed when it opens, or, opened to append, continued: the head up
 * to its cap, then the tail file.
 */
export class CappedLogFile extends Writable {
  private headWritten = 0;
  /** Whether the head written so far ends with a line break (or is empty). */
  private headEndsLine = true;
  private tailEndsLine = true;
  private tailWritten = 0;
  private tail?: FileHandle;
  private readonly files: ReturnType<typeof cappedLogFiles>;

  private constructor(
    private readonly head: FileHandle,
    private readonly cap: LogCap,
    path: string,
  ) {
    super();
    this.files = cappedLogFiles(path);
  }

  /**
   * Opens the log at `path`, emptied, and removes the tail files of an earlier one; rejects when it
   * cannot be opened. With `append`, what is written continues the log already there (a container
   * started again writes to the same log): after its head, while that is under the cap (its tail
   * files, which cannot belong to it, are removed), else after its tail file, rotated as it fills.
   */
  static async open(path: string, cap: LogCap, opts: { readonly append?: boolean } = {}): Promise<CappedLogFile> {
    const files = cappedLogFiles(path);
    if (!opts.append) {
      await Promise.all([rm(files.tail, { force: true }), rm(files.previousTail, { force: true })]);
      return new CappedLogFile(await open(path, 'w'), cap, path);
    }
    const head = await open(path, 'a');
    try {
      const log = new CappedLogFile(head, cap, path);
      const headSize = (await head.stat()).size;
      if (headSize < cap.headBytes) {
        await Promise.all([rm(files.tail, { force: true }), rm(files.previousTail, { force: true })]);
        log.headWritten = headSize;
        log.headEndsLine = await endsLine(path, headSize);
      } else {
        log.headWritten = cap.headBytes;
        const tailSize = await stat(files.tail).then((s) => s.size, () => 0);
        log.tailWritten = tailSize;
        log.tailEndsLine = await endsLine(files.tail, tailSize);
      }
      return log;
    } catch (err) {
      await head.close();
      throw err;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => done(), done);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    const room = this.cap.headBytes - this.headWritten;
    if (room > 0) {
      const n = chunk.length <= room ? chunk.length : cutAt(chunk, room, this.headEndsLine, this.headWritten === 0);
      await this.head.write(chunk, 0, n);
      this.headWritten += n;
      if (n > 0) this.headEndsLine = chunk[n - 1] === 0x0a;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
      this.headWritten = this.cap.headBytes;
      const note = `${this.headEndsLine ? '' : '\n'}[smkit local: this log keeps the first ${this.cap.headBytes} bytes of the output; the rest is in ${this.files.tail} (its last ${this.cap.tailBytes} bytes at least, the part before them in ${this.files.previousTail})]\n`;
      await this.head.write(note);
    }
    while (chunk.length > 0) {
      // Appended to: when the log was opened to append, this file is its tail so far (else there is none).
      if (this.tail === undefined) this.tail = await open(this.files.tail, 'a');
      const tailRoom = this.cap.tailBytes - this.tailWritten;
      if (tailRoom <= 0) {
        await this.tail.close();
        this.tail = undefined;
        await rename(this.files.tail, this.files.previousTail);
        this.tailWritten = 0;
        this.tailEndsLine = true;
        continue;
      }
      const n = chunk.length <= tailRoom ? chunk.length : cutAt(chunk, tailRoom, this.tailEndsLine, this.tailWritten === 0);
      await this.tail.write(chunk, 0, n);
      if (n > 0) this.tailEndsLine = chunk[n - 1] === 0x0a;
      this.tailWritten += n;
      chunk = chunk.subarray(n);
      // A tail cut short of its room (at a line break) is full: the next part starts the next file.
      if (chunk.length > 0) this.tailWritten = this.cap.tailBytes;
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    this.closeFiles().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.closeFiles().then(() => done(err), () => done(err));
  }

  private closing?: Promise<void>;

  private closeFiles(): Promise<void> {
    this.closing ??= (async () => {
      const tail = this.tail;
      this.tail = undefined;
      await Promise.all([this.head.close(), tail?.close()]);
    })();
    return this.closing;
  }
}

/** Whether the file at `path`, of `size` bytes, is empty or ends with a line break. */
async function endsLine(path: string, size: number): Promise<boolean> {
  if (size === 0) return true;
  const handle = await open(path, 'r');
  try {
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    await handle.close();
  }
}
