import { open, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { S3Objects } from '../s3/objects.js';

/** Bytes read at a time when looking for a file's last line end. */
const TAIL_CHUNK_BYTES = 64 * 1024;

/**
 * Length of the complete lines at the start of the `size`-byte file `path`: up to and including its
 * last `\n` (0 when it has none). Reads back from the end a chunk at a time, so a capture file's
 * size, or a record's, costs no memory.
 */
export async function completeLinesLength(path: string, size: number, chunkBytes = TAIL_CHUNK_BYTES): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(chunkBytes, size));
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) return start + at + 1;
      end = start;
    }
    return 0;
  } finally {
    await handle.close();
  }
}

/** Options of {@link CaptureS3Sync}. */
export interface CaptureS3SyncOptions {
  /** Local folder the capture writer writes into (its `destination`). */
  localDir: string;
  bucket: string;
  /** Key prefix from `DestinationS3Uri` (no leading or trailing slash needed). */
  prefix: string;
  s3: () => Pick<S3Objects, 'putFile'>;
  /** Time between uploads. @defaultValue 5 000 ms */
  intervalMs?: number;
  onError?: (err: Error) => void;
  /** `DataCaptureConfig.KmsKeyId`: the KMS key S3 encrypts the uploads with (SSE-KMS). */
  kmsKeyId?: string;
  /** Keep the local copy ({@link CaptureS3Sync.removeUploaded} removes nothing): `smkit local --keep`. */
  keepLocal?: boolean;
}

async function walk(dir: string, out: string[]): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Writes data capture to an `s3://` destination: the capture writer appends to local files (one
 * per variant and hour, in SageMaker's `<endpoint>/<variant>/yyyy/mm/dd/hh/` layout), and this
 * uploads every file that grew (its complete lines) to `s3://<bucket>/<prefix>/<same path>`, every few seconds and on
 * `flush`. An S3 object cannot be appended to, so a growing file is uploaded whole again, streamed
 * from disk. With `kmsKeyId` S3 encrypts each upload with that KMS key, as SageMaker has it encrypt
 * captured data (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html).
 */
export class CaptureS3Sync {
  private readonly uploaded = new Map<string, number>();
  /** The failure last reported for each file whose uploads keep failing. */
  private readonly failing = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** The pass queued behind the running one, not started yet. */
  private queued: Promise<void> | undefined;

  constructor(private readonly opts: CaptureS3SyncOptions) {}

  /** The local folder uploaded from. */
  get localDir(): string {
    return this.opts.localDir;
  }

  /** Starts the periodic upload (the timer never keeps the process alive). */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.opts.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** Stops the periodic upload (call {@link flush} for a last upload). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Uploads every file that changed since its last upload; resolves when done. A file that fails
   * is reported to `onError` and tried again on the next pass (reported again only once it fails
   * another way, or after an upload of it succeeded); the other files still go up. A call while a
   * pass is queued shares it: that pass reads the files when it starts, so it uploads what the
   * caller wrote, and an S3 slower than the interval (one timing out) does not pile up passes.
   */
  flush(): Promise<void> {
    this.queued ??= this.running
      .then(() => {
        this.queued = undefined;
        return this.uploadChanged();
      })
      .catch((err: Error) => this.opts.onError?.(err));
    this.running = this.queued;
    return this.queued;
  }

  /**
   * Removes the local copy once its writer is done (its deployment stopped) and {@link flush} has
   * run: each file whose whole content is in S3, then the folders left empty, `localDir` included.
   * Kept, a deleted or updated endpoint's captured data stayed in the work folder until `smkit
   * local` stopped, and every endpoint deleted or updated added its own. A file whose upload
   * failed stays, as it holds data S3 does not have; an empty one goes.
   */
  async removeUploaded(): Promise<void> {
    if (this.opts.keepLocal) return;
    const dirs = new Set<string>();
    for (const file of await walk(this.opts.localDir, [])) {
      const size = await stat(file).then((s) => s.size, () => undefined);
      // An empty file (the writer's first append to it cut short, then truncated back) holds
      // nothing S3 lacks: kept, it and its folders stayed until smkit local stopped.
      if (size === undefined || (size > 0 && this.uploaded.get(file) !== size)) continue;
      await rm(file, { force: true }).catch(() => {});
      for (let dir = dirname(file); dir.startsWith(this.opts.localDir) && !dirs.has(dir); dir = dirname(dir)) dirs.add(dir);
    }
    dirs.add(this.opts.localDir);
    // Deepest first; a folder still holding something (a file kept, another deployment's) stays.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => {});
  }

  private async uploadChanged(): Promise<void> {
    for (const file of await walk(this.opts.localDir, [])) {
      try {
        await this.uploadIfChanged(file);
        this.failing.delete(file);
      } catch (err) {
        // An S3 that keeps refusing (no KMS for the key, no such bucket) would warn every pass.
        const message = (err as Error).message;
        if (this.failing.get(file) !== message) this.opts.onError?.(err as Error);
        this.failing.set(file, message);
      }
    }
  }

  private async uploadIfChanged(file: string): Promise<void> {
    const size = (await stat(file)).size;
    if (this.uploaded.get(file) === size) return;
    // The writer may be between creating the file and finishing a line: upload complete JSON
    // lines only, so a reader of the object never sees an empty file or half a record.
    const length = await completeLinesLength(file, size);
    if (length === 0 || this.uploaded.get(file) === length) return;
    const prefix = this.opts.prefix.replace(/^\/+|\/+$/g, '');
    const rel = relative(this.opts.localDir, file).split(sep).join('/');
    const key = prefix === '' ? rel : `${prefix}/${rel}`;
    const kmsKeyId = this.opts.kmsKeyId;
    try {
      await this.opts.s3().putFile(this.opts.bucket, key, file, undefined, { length, ...(kmsKeyId === undefined ? {} : { kmsKeyId }) });
    } catch (err) {
      // A local S3 server without a KMS refuses SSE-KMS uploads: say where the key comes from.
      const sse = kmsKeyId === undefined ? '' : ` with SSE-KMS key ${kmsKeyId} (DataCaptureConfig.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the endpoint config there)`;
      throw new Error(`Uploading data capture to s3://${this.opts.bucket}/${key}${sse} failed: ${(err as Error).message}`, { cause: err });
    }
    this.uploaded.set(file, length);
  }
}
