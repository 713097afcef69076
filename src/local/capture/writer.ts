import { randomUUID } from 'node:crypto';
import { appendFile, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DataCaptureConfig } from '../../endpoint-file/schema.js';
import { makeDir } from '../../fs/make-dir.js';
import { fillCaptureData, measureCaptureRecord, type CaptureEvent } from './record.js';

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `<dest>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, by UTC invocation time (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html). */
export function capturePartition(destination: string, endpoint: string, variant: string, at: Date): string {
  return join(destination, endpoint, variant, String(at.getUTCFullYear()), pad(at.getUTCMonth() + 1), pad(at.getUTCDate()), pad(at.getUTCHours()));
}

/** `<MM>-<SS>-<mmm>-<uuid>.jsonl`, the file-name shape seen in AWS capture output. */
export function captureFileName(at: Date): string {
  return `${pad(at.getUTCMinutes())}-${pad(at.getUTCSeconds())}-${pad(at.getUTCMilliseconds(), 3)}-${randomUUID()}.jsonl`;
}

/**
 * Characters of records that may wait for a write (default of
 * {@link CaptureWriterLimits.maxBacklogChars}): about 128 MB, eight records of 6 MB payloads in and
 * out as base64.
 */
export const MAX_CAPTURE_BACKLOG_CHARS = 128 * 1024 * 1024;

/**
 * Characters a capture file takes before later records go to a new one (default of
 * {@link CaptureWriterLimits.maxFileChars}): about 64 MB, so a file stays small enough to upload
 * whole again each time it grows (an S3 object cannot be appended to).
 */
export const MAX_CAPTURE_FILE_CHARS = 64 * 1024 * 1024;

/**
 * Characters one record's JSON line may take (default of {@link CaptureWriterLimits.maxRecordChars}):
 * a capture file's limit, {@link MAX_CAPTURE_FILE_CHARS}. A real-time invocation's record (6 MB in and
 * out, as base64 about 16 M characters) fits unless its CSV or JSON text is mostly control characters
 * (six characters each once escaped); an asynchronous invocation's payload may be 1 GB, whose text
 * would cost several times its size in memory to build.
 */
export const MAX_CAPTURE_RECORD_CHARS = MAX_CAPTURE_FILE_CHARS;

/** What a {@link CaptureWriter} may hold and how it writes (tests shrink and stall them). */
export interface CaptureWriterLimits {
  /** Appends to a file. @defaultValue `appendFile` */
  append?: (file: string, data: string) => Promise<void>;
  /** @defaultValue {@link MAX_CAPTURE_BACKLOG_CHARS} */
  maxBacklogChars?: number;
  /** @defaultValue {@link MAX_CAPTURE_FILE_CHARS} */
  maxFileChars?: number;
  /** @defaultValue {@link MAX_CAPTURE_RECORD_CHARS} */
  maxRecordChars?: number;
}

/**
 * Writes Model Monitor data-capture records for one endpoint: samples by percentage, keeps one
 * file per variant and hour (and a new one each `maxFileChars`), and appends whole lines in order.
 * Records that arrive while a write is under way are written together in the next one (one append
 * per file), so the writer keeps up with any invocation rate instead of queueing one file operation
 * per record. Records that would make the waiting ones more than `maxBacklogChars` (a disk slower
 * than the traffic) are dropped and reported, as SageMaker stops capturing rather than impact
 * inference (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html);
 * so is a record longer than `maxRecordChars`, measured from its payloads' bytes before their text is made.
 */
export class CaptureWriter {
  private readonly files = new Map<string, string>();
  /** Bytes written to each file so far (whole lines only). */
  private readonly sizes = new Map<string, number>();
  /** Lines waiting for the next write, by file, in arrival order. */
  private readonly buffered = new Map<string, string[]>();
  /** Characters in `buffered`. */
  private bufferedChars = 0;
  /** Whether records were dropped since the last write began (reported once per such stretch). */
  private behind = false;
  private readonly madeDirs = new Set<string>();
  private draining: Promise<void> | undefined;
  /** The kind (error code) of the write failure last reported, while writes keep failing. */
  private failing: string | undefined;
  /** Characters of the lines given to each file so far. */
  private readonly assigned = new Map<string, number>();
  private readonly append: (file: string, data: string) => Promise<void>;
  private readonly maxBacklogChars: number;
  private readonly maxFileChars: number;
  private readonly maxRecordChars: number;
  /**
   * Where the records end up when `config.destination` only stages them (an `s3://` URI whose
   * files are uploaded from a work folder); shown by {@link shownDestination}.
   */
  uploadsTo: string | undefined;
  /** Records written so far (for tests and the shutdown summary). */
  written = 0;
  /** Records not written: dropped (behind, too large) or lost to a failed write (for tests and the shutdown summary). */
  failed = 0;

  constructor(
    readonly endpoint: string,
    readonly config: DataCaptureConfig,
    private readonly random: () => number = Math.random,
    private readonly onError: (err: Error) => void = () => {},
    limits: CaptureWriterLimits = {},
  ) {
    this.append = limits.append ?? appendFile;
    this.maxBacklogChars = limits.maxBacklogChars ?? MAX_CAPTURE_BACKLOG_CHARS;
    this.maxFileChars = limits.maxFileChars ?? MAX_CAPTURE_FILE_CHARS;
    this.maxRecordChars = limits.maxRecordChars ?? MAX_CAPTURE_RECORD_CHARS;
  }

  /** Where the records end up, for the start-up banner and the shutdown summary: `uploadsTo`, else the folder written to. */
  get shownDestination(): string {
    return this.uploadsTo ?? this.config.destination;
  }

  /** Decides by the sampling percentage whether to capture the next invocation. */
  sample(): boolean {
    return this.random() * 100 < this.config.samplingPercentage;
  }

  /** Queues a record for `variant`; never throws into the request path. */
  capture(variant: string, event: CaptureEvent): void {
    const captured: CaptureEvent = { ...event, input: this.config.captureInput ? event.input : undefined, output: this.config.captureOutput ? event.output : undefined };
    let lineLength: number;
    let exact: boolean;
    let line: string | undefined;
    try {
      // Measured before the text is made: a payload of hundreds of MB would cost several times that in strings.
      const measured = measureCaptureRecord(captured, this.config, this.maxRecordChars);
      lineLength = measured.lineLength;
      exact = measured.exact;
      if (lineLength <= this.maxRecordChars) {
        fillCaptureData(measured.record, captured);
        line = `${JSON.stringify(measured.record)}\n`;
      }
    } catch (err) {
      // Never into the request path (an invalid `at` throws in toISOString).
      this.failed += 1;
      this.onError(err as Error);
      return;
    }
    if (line === undefined) {
      this.failed += 1;
      const id = event.inferenceId === undefined ? '' : ` (inference id ${event.inferenceId})`;
      this.onError(new Error(`data capture skipped an invocation of ${variant}${id}: its record would take ${exact ? '' : 'at least '}${lineLength} characters, more than the ${this.maxRecordChars} one record may take`));
      return;
    }
    // Held without bound, records behind a slow disk would exhaust memory (and join past the longest string).
    if (this.bufferedChars > 0 && this.bufferedChars + line.length > this.maxBacklogChars) {
      this.failed += 1;
      if (!this.behind) this.onError(new Error(`data capture is behind: ${this.bufferedChars} characters of records wait to be written; records are dropped until they are`));
      this.behind = true;
      return;
    }
    this.bufferedChars += line.length;
    const file = this.fileFor(variant, event.at);
    const size = (this.assigned.get(file) ?? 0) + line.length;
    this.assigned.set(file, size);
    // A file is uploaded whole each time it grows: past the limit, later records start another.
    if (size >= this.maxFileChars) this.startNewFile(file);
    const lines = this.buffered.get(file);
    if (lines) lines.push(line);
    else this.buffered.set(file, [line]);
    this.startWriting();
  }

  /** Resolves once every record captured so far is on disk. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private startWriting(): void {
    if (this.draining) return;
    this.draining = this.writeBuffered().finally(() => {
      this.draining = undefined;
      if (this.buffered.size > 0) this.startWriting();
    });
  }

  private async writeBuffered(): Promise<void> {
    while (this.buffered.size > 0) {
      const batch = [...this.buffered];
      this.buffered.clear();
      this.bufferedChars = 0;
      this.behind = false;
      for (const [queued, lines] of batch) {
        let file = queued;
        try {
          const dir = dirname(file);
          if (!this.madeDirs.has(dir)) {
            await makeDir(dir);
            this.madeDirs.add(dir);
          }
          const data = lines.join('');
          try {
            await this.append(file, data);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
            // The folder was removed while the endpoint runs (capture output cleared between two
            // test runs): make it again, or every later record of this hour would fail with ENOENT.
            // Into a new file: the old name, now holding only the later records, would be uploaded
            // over the S3 object that holds the earlier ones.
            await makeDir(dir);
            file = this.replaceFile(file, data.length);
            await this.append(file, data);
          }
          this.sizes.set(file, (this.sizes.get(file) ?? 0) + Buffer.byteLength(data));
          this.written += lines.length;
          this.failing = undefined;
        } catch (err) {
          this.failed += lines.length;
          // A destination that stays unwritable fails every write: one report until a write succeeds
          // (or fails another way), not a warning per batch under load.
          const kind = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          if (kind !== this.failing) this.onError(err as Error);
          this.failing = kind;
          // A write cut short (a full disk) may have left part of a line: cut it off, and start a new
          // file, so no later record is appended to it and every line stays one whole record.
          await truncate(file, this.sizes.get(file) ?? 0).catch(() => {});
          this.startNewFile(file);
        }
      }
    }
  }

  /**
   * A file in `file`'s folder, named as `file` with another UUID, that takes its place: the records
   * that would go to `file`, those waiting for a write included, go to it instead. `writing` is the
   * characters of the records being written to it now.
   */
  private replaceFile(file: string, writing: number): string {
    const next = join(dirname(file), basename(file).replace(/[0-9a-f-]{36}\.jsonl$/, `${randomUUID()}.jsonl`));
    for (const [key, f] of this.files) if (f === file) this.files.set(key, next);
    const waiting = this.buffered.get(file);
    this.buffered.delete(file);
    if (waiting) this.buffered.set(next, waiting);
    // Counted from what the new file will hold: the removed file's records would start another file too soon.
    if (this.assigned.delete(file)) this.assigned.set(next, writing + (waiting ?? []).reduce((n, line) => n + line.length, 0));
    return next;
  }

  /** Sends the records that would go to `file` to a new file from now on. */
  private startNewFile(file: string): void {
    for (const [key, f] of this.files) if (f === file) this.files.delete(key);
    this.assigned.delete(file);
  }

  private fileFor(variant: string, at: Date): string {
    const dir = capturePartition(this.config.destination, this.endpoint, variant, at);
    let file = this.files.get(`${variant}\0${dir}`);
    if (!file) {
      file = join(dir, captureFileName(at));
      this.files.set(`${variant}\0${dir}`, file);
    }
    return file;
  }
}
