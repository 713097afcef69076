import { createWriteStream } from 'node:fs';
import { constants, copyFile, mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeToFile } from '../../fs/pipe-to-file.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { keyFiles } from '../s3/file-and-folder.js';
import type { S3Objects } from '../s3/objects.js';
import { jobFolder } from './job-folder.js';

/** How often a running job's checkpoint folder is scanned for new, changed and deleted files. */
export const CHECKPOINT_SCAN_MS = 1000;

/** What {@link CheckpointSync} keeps in step. */
export interface CheckpointSyncOptions {
  s3: () => S3Objects;
  bucket: string;
  /** The key prefix the files go under: `CheckpointConfig.S3Uri`'s key as a folder (`''` or ending in `/`). */
  prefix: string;
  /** The job's checkpoint folder. */
  dir: string;
  /** Where a file is copied before it is uploaded while the job runs. */
  scratch: string;
  /** The job's tree (its `/opt/ml`): a folder the job replaced with a link out of it is not synced. @defaultValue the folder's parent */
  base?: string;
  /** @defaultValue {@link CHECKPOINT_SCAN_MS} */
  intervalMs?: number;
  log?: EndpointLog;
  /** The job, for log lines. */
  job: string;
}

/** A file's size and modification time: when either differs, the file has changed. */
type Signature = string;

/**
 * A training job's checkpoint folder kept in step with `CheckpointConfig.S3Uri`, as SageMaker does
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/model-checkpoints.html): the objects there are
 * restored when the job starts; while it runs, a file that is new or has changed is uploaded once it
 * has stayed the same for one scan, and a file the job deleted is deleted from S3; when the entry
 * point has ended, one last sync uploads whatever is left. Objects added under the URI after the job
 * started are neither downloaded nor deleted.
 */
export class CheckpointSync {
  /** What is in S3 under the prefix, as this job restored or uploaded it, by path relative to the folder. */
  private readonly synced = new Map<string, Signature>();
  /**
   * The key a restored file came from, where it is not the prefix and its path (`ckpt//epoch.pt`
   * restored as `epoch.pt`): its changes and its deletion go to that object, which would otherwise
   * be left behind and restored again by the next job.
   */
  private readonly restoredKeys = new Map<string, string>();
  /** The files of the previous scan. */
  private seen = new Map<string, Signature>();
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private stopped = false;
  private warnedOutside = false;
  /** Links left out that a warning has named (each once, not at every scan). */
  private readonly warnedLinks = new Set<string>();

  constructor(private readonly o: CheckpointSyncOptions) {}

  /**
   * Downloads every object under the prefix into the folder; stops early when `stopping()` turns
   * true, and closes the transfer in flight when `signal` aborts (rejecting with its reason).
   * Rejects before downloading any when one object would be a file where another needs a folder.
   */
  async restore(stopping: () => boolean, signal?: AbortSignal): Promise<void> {
    const dir = resolve(this.o.dir);
    const at = (key: string): string => `s3://${this.o.bucket}/${key}`;
    let listed: string[];
    try {
      listed = await this.o.s3().list(this.o.bucket, this.o.prefix, { signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      // Said as the other checkpoint failures are: the job's FailureReason would not name the checkpoints.
      throw new Error(`Could not restore the checkpoints from ${at(this.o.prefix)}: ${(err as Error).message}`, { cause: err });
    }
    // Folder objects (keys ending in /, from the S3 console) hold no file.
    const keys = listed.filter((k) => !k.endsWith('/'));
    // Slashes at the start of a key past the prefix (`ckpt//epoch.pt`) separate it from the prefix, as in a channel: the file is `epoch.pt`.
    const { files, clash } = keyFiles(dir, keys, (key) => key.slice(this.o.prefix.length).replace(/^\/+/, ''));
    const kept = new Set(files.map((f) => f.key));
    const leftOut = keys.filter((k) => !kept.has(k));
    if (leftOut.length > 0) {
      this.o.log?.('warn', "checkpoint objects whose keys lead out of the checkpoint folder ('..' segments) are not restored", { trainingJob: this.o.job, count: leftOut.length, first: at(leftOut[0]!) });
    }
    if (clash !== undefined) {
      throw new Error(`Could not restore the checkpoints: ${at(clash.file.key)} would be a file where ${at(clash.folder.key)} needs a folder in the checkpoint folder, where the objects under ${at(this.o.prefix)} are downloaded under their keys after it; rename one of them.`);
    }
    for (const { key, file } of files) {
      if (stopping()) return;
      try {
        await mkdir(dirname(file), { recursive: true });
        await pipeToFile(await this.o.s3().get(this.o.bucket, key, { signal }), createWriteStream(file), { signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        // S3's message (Access Denied) names neither the object nor that it is a checkpoint.
        throw new Error(`Could not restore the checkpoint ${at(key)} to ${file}: ${(err as Error).message}`, { cause: err });
      }
      const rel = this.relative(file);
      this.synced.set(rel, await signature(file));
      if (key !== this.keyOf(rel)) this.restoredKeys.set(rel, key);
    }
  }

  /** Starts the periodic sync (the entry point is running); {@link CheckpointSync.stop} or {@link CheckpointSync.finish} ends it. */
  start(): void {
    if (this.stopped || this.timer) return;
    const next = (): void => {
      this.timer = setTimeout(() => {
        this.scanning = this.sync(false)
          .catch((err: unknown) => this.o.log?.('warn', 'checkpoint sync failed; retrying at the next scan', { trainingJob: this.o.job, error: (err as Error).message }))
          .finally(() => {
            this.scanning = undefined;
            if (!this.stopped) next();
          });
      }, this.o.intervalMs ?? CHECKPOINT_SCAN_MS).unref();
    };
    next();
  }

  /** Stops the periodic sync (a scan in flight ends on its own). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Stops the periodic sync, waits for a scan in flight, then syncs the folder one last time; rejects when that fails. */
  async finish(): Promise<void> {
    this.stop();
    await this.scanning;
    await this.sync(true);
  }

  /**
   * One pass over the folder. While the job runs (`final` false) a file is uploaded only once it is
   * unchanged since the previous scan, and from a copy: the job may rewrite it during the upload, and
   * a body shorter or longer than the length announced would break the request.
   */
  private async sync(final: boolean): Promise<void> {
    const files = await this.files();
    if (files === undefined) return;
    for (const [rel, sig] of files) {
      if (this.synced.get(rel) === sig) continue;
      if (!final && this.seen.get(rel) !== sig) continue;
      const file = join(this.o.dir, rel);
      const key = this.keyOf(rel);
      if (final) {
        await this.o.s3().putFile(this.o.bucket, key, file);
      } else {
        try {
          await copyFile(file, this.o.scratch, constants.COPYFILE_FICLONE);
        } catch (err) {
          // Deleted or replaced since the scan: the next scan sees what is there now.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        try {
          await this.o.s3().putFile(this.o.bucket, key, this.o.scratch);
        } finally {
          await rm(this.o.scratch, { force: true });
        }
      }
      this.synced.set(rel, sig);
    }
    for (const rel of [...this.synced.keys()]) {
      if (files.has(rel)) continue;
      await this.o.s3().delete(this.o.bucket, this.keyOf(rel));
      this.synced.delete(rel);
      this.restoredKeys.delete(rel);
    }
    this.seen = files;
  }

  /**
   * The folder's regular files (at any depth), with their signatures; undefined when the job has
   * replaced the folder (or one above it) with a link out of its tree, whose files are the host's.
   */
  private async files(): Promise<Map<string, Signature> | undefined> {
    const out = new Map<string, Signature>();
    const real = await jobFolder(this.o.dir, this.o.base ?? dirname(this.o.dir), { create: false });
    if (real === undefined) {
      if (!this.warnedOutside) this.o.log?.('warn', "the checkpoint folder leads out of the job's tree or nowhere (the job replaced it, or a folder above it, with a symbolic link); it is not synced, and what is in S3 is kept", { trainingJob: this.o.job, folder: this.o.dir });
      this.warnedOutside = true;
      return undefined;
    }
    // A file (or a FIFO) in the folder's place holds no checkpoints to sync, and none to delete from S3.
    if ((await stat(real).catch(() => undefined))?.isDirectory() === false) {
      if (!this.warnedOutside) this.o.log?.('warn', 'the checkpoint folder is not a folder (the job replaced it with a file); it is not synced, and what is in S3 is kept', { trainingJob: this.o.job, folder: this.o.dir });
      this.warnedOutside = true;
      return undefined;
    }
    const entries = await readdir(this.o.dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const e of entries) {
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      const file = join(e.parentPath ?? e.path, e.name);
      if (e.isSymbolicLink() && !(await this.linkedFileInside(file, real))) continue;
      try {
        out.set(this.relative(file), await signature(file));
      } catch (err) {
        // Deleted between the listing and the stat.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return out;
  }

  /**
   * Whether the symbolic link `link` leads to a regular file inside the checkpoint folder (`real`,
   * its real path): such a link (`latest` to `ckpt-10.pt`, which a script reads to resume) is
   * synced as the file it points to, as S3 has no links. One to a folder, out of the folder (the
   * job runs as smkit's own user, outside any container, so a link to `~/.aws` would put the
   * host's files in S3), to nowhere, round a loop of links or to a FIFO (whose read would wait for
   * a writer) is left out, with a warning the first time it is seen.
   */
  private async linkedFileInside(link: string, real: string): Promise<boolean> {
    let loop = false;
    const target = await realpath(link).catch((err: NodeJS.ErrnoException) => void (loop = err.code === 'ELOOP'));
    const inside = target !== undefined && target.startsWith(real + sep);
    const found = inside ? await stat(target).catch(() => undefined) : undefined;
    if (found?.isFile()) return true;
    const rel = this.relative(link);
    if (!this.warnedLinks.has(rel)) {
      this.warnedLinks.add(rel);
      const why =
        target === undefined ? (loop ? 'it is one of a loop of links' : 'it leads nowhere')
        : !inside ? 'it leads out of the checkpoint folder'
        : found === undefined ? 'it leads nowhere'
        : found.isDirectory() ? 'it leads to a folder'
        : 'it leads to something other than a file (a FIFO, a socket, a device)';
      this.o.log?.('warn', 'a symbolic link in the checkpoint folder is not synced to S3', { trainingJob: this.o.job, link, why });
    }
    return false;
  }

  /** The object a file of the folder (by its path in it) is kept in. */
  private keyOf(rel: string): string {
    return this.restoredKeys.get(rel) ?? this.o.prefix + rel.split(sep).join('/');
  }

  private relative(file: string): string {
    return relative(resolve(this.o.dir), resolve(file));
  }
}

async function signature(file: string): Promise<Signature> {
  const s = await stat(file, { bigint: true });
  return `${s.size}:${s.mtimeNs}`;
}
