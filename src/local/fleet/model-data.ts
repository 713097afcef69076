import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { pipeToFile } from '../../fs/pipe-to-file.js';
import { fileURLToPath } from 'node:url';
import { isModelArchive } from '../../archive/model-archive.js';
import { ModelFetchUnavailableError, type FetchedModel } from '../endpoint/container.js';
import type { ModelDataLease } from './model-data-holds.js';
import { parseS3Location, parseS3Url, type S3Objects } from '../s3/objects.js';
import { keyFiles, type FileAndFolder, type KeyFile } from '../s3/file-and-folder.js';

/** What model data needs of S3: reading objects and listing a prefix. */
export type S3Reader = Pick<S3Objects, 'get' | 'list'>;

/** Model data could not be fetched: the service's `Could not find model data at ...` case. */
export class ModelDataError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelDataError';
  }
}

/** Writing downloaded model data to the local disk failed (no space, no permission): not S3's answer. */
class ModelCacheWriteError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = 'ModelCacheWriteError';
  }
}

/**
 * Why model data at `url` could not be had: what S3 answered (`Could not find model data at ...`),
 * or, for a failure of the local disk, that it was found but could not be stored.
 */
function notFetched(url: string, err: unknown): ModelDataError {
  if (err instanceof ModelCacheWriteError) {
    return new ModelDataError(`Could not store model data from ${url} on this machine's disk (smkit's model cache): ${err.message}. Free disk space or fix the cache folder's permissions, then try again.`, { cause: err.cause });
  }
  if (err instanceof ModelTransferCutError) {
    return new ModelDataError(`Could not download model data from ${url}: the object was found, but the transfer broke off part-way (${err.message}); try again.`, { cause: err.cause });
  }
  return new ModelDataError(`Could not find model data at ${url}: ${(err as Error).message}`, { cause: err });
}

/** S3's answer was found but its body broke off part-way (a cut connection): not a missing object. */
class ModelTransferCutError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = 'ModelTransferCutError';
  }
}

/** Runs a local disk operation, marking its failure as the disk's. */
async function onDisk<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new ModelCacheWriteError(err as Error);
  }
}

/**
 * Writes `body` to `file` through a partial file of its own, renamed into place when complete, so
 * downloads of the same object running at once (instances sharing the cache) never see or remove
 * each other's bytes. Aborting `signal` closes the S3 transfer and removes the partial file. Were
 * this process killed meanwhile, the partial file is as the folder it is in: the local SageMaker's
 * work folder, which the reaper removes, unless kept (`smkit local --keep`).
 */
async function save(body: NodeJS.ReadableStream, file: string, signal?: AbortSignal): Promise<void> {
  const partial = `${file}.partial-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const out = createWriteStream(partial);
  let diskError: Error | undefined;
  let readError: Error | undefined;
  out.on('error', (err) => (diskError = err));
  // A read error is passed on to the write stream too (pipeline destroys it with that error).
  body.on('error', (err: Error) => (readError = err));
  try {
    try {
      await pipeToFile(body, out, signal ? { signal } : {});
    } catch (err) {
      // The write side's failure is the disk's; the read side's is S3's (or the abort).
      if (diskError !== undefined && err === diskError && err !== readError && !signal?.aborted) throw new ModelCacheWriteError(diskError);
      // The object was found (its body is S3's answer): reported as "Could not find model data" it
      // sent users looking for a missing object, where a retry gets it whole.
      if (!signal?.aborted) throw new ModelTransferCutError(err as Error);
      throw err;
    }
    await onDisk(() => rename(partial, file));
  } finally {
    await rm(partial, { force: true });
  }
}

/** The paths, relative to `folder` and split by `/`, of the files in it other than partial downloads ({@link save}). */
async function savedFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => !e.isDirectory() && !/\.partial-[0-9]+-[0-9a-f]*$/.test(e.name))
    .map((e) => relative(folder, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(sep).join('/'));
}

/**
 * A multi-model prefix's object `targetModel` and one already downloaded cannot both be stored under
 * their keys in one folder: one would be a file where the other needs a folder.
 */
class ModelKeyClashError extends Error {
  constructor(bucket: string, prefix: string, clash: FileAndFolder<KeyFile>) {
    const at = (key: string) => `s3://${bucket}/${prefix}${key}`;
    super(
      `the objects ${at(clash.file.key)} and ${at(clash.folder.key)} cannot both be models of this endpoint in the local SageMaker, which stores each TargetModel's object under its key after the prefix: ` +
        `${clash.file.key} would be a file where ${clash.folder.key} needs a folder. Rename one of them.`,
    );
    this.name = 'ModelKeyClashError';
  }
}

/**
 * A multi-model folder's fetches in this process: the TargetModels being fetched into it now
 * (counted, as two invocations can fetch one model at once), and the queue its clash checks and
 * releases run in, one at a time.
 */
interface FolderFetches {
  readonly keys: Map<string, number>;
  queue: Promise<unknown>;
  queued: number;
}

/** {@link FolderFetches} by resolved folder: endpoints of one `ModelDataUrl` fetch into one folder. */
const fetchesByFolder = new Map<string, FolderFetches>();

/** Runs `op` on `root`'s fetches once the ops queued for it before have run; the entry goes when nothing holds it. */
async function inTurn<T>(root: string, op: (fetches: FolderFetches) => T | Promise<T>): Promise<T> {
  let fetches = fetchesByFolder.get(root);
  if (fetches === undefined) fetchesByFolder.set(root, (fetches = { keys: new Map(), queue: Promise.resolve(), queued: 0 }));
  const mine = fetches;
  mine.queued += 1;
  const run = mine.queue.then(() => op(mine));
  mine.queue = run.catch(() => undefined);
  try {
    return await run;
  } finally {
    mine.queued -= 1;
    if (mine.queued === 0 && mine.keys.size === 0) fetchesByFolder.delete(root);
  }
}

/**
 * The folder under `target` holding `key`'s current version as `name`: downloaded unless that
 * version (by its ETag) already is, so a deployment after the object was replaced in S3 gets the
 * new bytes, as the service downloads the model data for each deployment, while deployments of an
 * unchanged object share one copy. Rejects with what S3 answered.
 */
async function currentVersion(s3: S3Reader, bucket: string, key: string, target: string, name: string, lease?: ModelDataLease, signal?: AbortSignal): Promise<string> {
  const body = await s3.get(bucket, key, signal ? { signal } : {});
  const folder = join(target, body.etag === undefined ? 'unversioned' : createHash('sha256').update(body.etag).digest('hex').slice(0, 16));
  const file = join(folder, name);
  await lease?.hold(folder);
  if (await stat(file).catch(() => undefined)) {
    body.destroy();
    return folder;
  }
  try {
    await mkdir(folder, { recursive: true });
  } catch (err) {
    // Unread, the body would hold its S3 connection open until the socket timeout.
    body.destroy();
    throw new ModelCacheWriteError(err as Error);
  }
  await save(body, file, signal);
  return folder;
}

/** The prefix a `MultiModel` container's `ModelDataUrl` names, ending in `/` unless empty. */
function multiModelPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

/**
 * For a `MultiModel` container whose `ModelDataUrl` is an `s3://` prefix: fetches
 * `<prefix><TargetModel>` into `folder` (what {@link resolveModelData} returned) when an invocation
 * names a model that was not there when the endpoint started, as the service downloads each model on
 * its first invocation and models "can be added to ... the endpoint" by copying them to the prefix
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/how-multi-mode-endpoints-work.html). The fetcher
 * says whether S3 had the object, and rejects with what S3 answered when it could not tell, or with
 * `signal`'s reason once it aborts (the transfer closed, nothing of it left). Undefined for model
 * data that is not in S3.
 */
export function multiModelFetcher(url: string | undefined, folder: string, s3: () => S3Reader): ((targetModel: string, signal: AbortSignal) => Promise<FetchedModel>) | undefined {
  const s3Url = url === undefined ? undefined : parseS3Url(url);
  if (!s3Url) return undefined;
  const prefix = multiModelPrefix(s3Url.key);
  return async (targetModel, signal) => {
    const at = `s3://${s3Url.bucket}/${prefix}${targetModel}`;
    const file = resolve(folder, targetModel);
    if (!file.startsWith(resolve(folder) + sep)) return { found: false, at };
    let body: Awaited<ReturnType<S3Reader['get']>>;
    try {
      signal.throwIfAborted();
      body = await s3().get(s3Url.bucket, prefix + targetModel, { signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return { found: false, at };
      // S3's own failure (a 5xx, or no answer at all) is not the caller's: a retry may load the model.
      // No credentials for S3 (none found, an SSO session expired) is no answer either, but is
      // this side's to fix, as a 403 is: retrying will not help.
      const status = e.$metadata?.httpStatusCode;
      if (status === undefined ? e.name !== 'CredentialsProviderError' : status >= 500) throw new ModelFetchUnavailableError(`${at}: ${(err as Error).message}`, { cause: err });
      throw new Error(`${at}: ${(err as Error).message}`, { cause: err });
    }
    // Checked once S3 has the object (one it has not is no clash but absent), against what is stored
    // and what is being fetched: two clashing fetches at once would both find the folder without the
    // other, and the second to reach the disk would fail with its EISDIR or EEXIST. A fetch holds its
    // key from its check until it is on disk (or failed), and checks and releases take turns.
    const root = resolve(folder);
    let clash: FileAndFolder<KeyFile> | undefined;
    try {
      clash = await inTurn(root, async (fetches) => {
        const others = new Set([...(await savedFiles(folder)), ...fetches.keys.keys()]);
        others.delete(targetModel);
        const found = keyFiles(root, [...others, targetModel], (key) => key).clash;
        if (found !== undefined) return found;
        // A folder where the model goes, with no model under it (that would be a clash), is what a
        // failed fetch of a key under it (a/b.tar.gz for a) left: gone, so the rename does not fail with EISDIR.
        if ((await stat(file).catch(() => undefined))?.isDirectory()) await onDisk(() => rm(file, { recursive: true, force: true }));
        fetches.keys.set(targetModel, (fetches.keys.get(targetModel) ?? 0) + 1);
        return undefined;
      });
    } catch (err) {
      body.destroy();
      throw err;
    }
    if (clash) {
      body.destroy();
      throw new ModelKeyClashError(s3Url.bucket, prefix, clash);
    }
    try {
      await onDisk(() => mkdir(dirname(file), { recursive: true }));
      await save(body, file, signal);
      return { found: true, at };
    } catch (err) {
      body.destroy();
      if (signal.aborted) throw signal.reason;
      // The transfer broke part-way (the local disk's failures are ModelCacheWriteErrors): a retry may get it whole.
      if (!(err instanceof ModelCacheWriteError)) throw new ModelFetchUnavailableError(`${at}: the transfer broke off part-way (${(err as Error).message})`, { cause: err });
      throw new Error(`${at}: ${(err as Error).message}`, { cause: err });
    } finally {
      await inTurn(root, (fetches) => {
        const left = (fetches.keys.get(targetModel) ?? 1) - 1;
        if (left === 0) fetches.keys.delete(targetModel);
        else fetches.keys.set(targetModel, left);
      });
    }
  };
}

/**
 * Makes a container's `ModelDataUrl` available as a local path, as SageMaker downloads it before
 * the container starts: an `s3://` object (a `model.tar.gz`) is downloaded into `cacheDir` once per version (ETag);
 * for a `MultiModel` container the URL is a prefix, checked to be readable, whose models
 * {@link multiModelFetcher} fetches into the folder returned on first use. A `file://` URL or a path is used in place. No URL: an empty folder (the image brings its model).
 * With a `lease`, what is downloaded is held by it (and removed from disk once no lease holds it).
 * Aborting `signal` (the endpoint deleted while Creating, the local SageMaker stopping) closes the
 * S3 transfer under way and rejects with the signal's reason, nothing of the transfer left on disk.
 */
export async function resolveModelData(url: string | undefined, mode: 'SingleModel' | 'MultiModel', cacheDir: string, s3: () => S3Reader, lease?: ModelDataLease, signal?: AbortSignal): Promise<string> {
  if (url === undefined) {
    const empty = join(cacheDir, 'empty-model');
    await mkdir(empty, { recursive: true });
    return empty;
  }
  const s3Url = parseS3Url(url);
  if (!s3Url) {
    if (/^https:\/\//.test(url)) throw new ModelDataError(`Could not find model data at ${url}: the local SageMaker reads s3:// URLs, file:// URLs and local paths, not https:// URLs.`);
    const path = url.startsWith('file://') ? fileURLToPath(url) : resolve(url);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new ModelDataError(`Could not find model data at ${url}.`);
    return path;
  }
  const target = join(cacheDir, 's3', createHash('sha256').update(`${mode}\0${url}`).digest('hex').slice(0, 24));
  if (mode === 'MultiModel') {
    const prefix = multiModelPrefix(s3Url.key);
    // Listed only to fail the deployment when the prefix cannot be read: the models themselves are
    // fetched on first use (multiModelFetcher), as the service does "instead of downloading all of
    // the models ... when you create the endpoint". One key tells: the prefix may hold any number.
    try {
      await s3().list(s3Url.bucket, prefix, { maxKeys: 1, firstOnly: true, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new ModelDataError(`Could not list model data at ${url}: ${(err as Error).message}`, { cause: err });
    }
    await lease?.hold(target);
    await mkdir(target, { recursive: true });
    return target;
  }
  // s3://bucket or s3://bucket/ names no object: a GetObject of the empty key lists the bucket.
  if (s3Url.key === '') throw new ModelDataError(`Could not find model data at ${url}: it names a bucket, not an object; give the key of the model.tar.gz (s3://${s3Url.bucket}/path/model.tar.gz).`);
  // The service extracts a ModelDataUrl as a gzipped tar whatever its name ends in (it is "a
  // single gzip compressed tar archive"), so the copy is named as one: an object that is not one
  // fails extraction, naming the URL, rather than being refused for its name.
  const last = s3Url.key.split('/').pop() ?? '';
  const name = isModelArchive(last) ? last : 'model.tar.gz';
  try {
    return join(await currentVersion(s3(), s3Url.bucket, s3Url.key, target, name, lease, signal), name);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw notFetched(url, err);
  }
}

/** `ContainerDefinition.ModelDataSource.S3DataSource`, as far as locating the model goes. */
export interface S3ModelDataSource {
  S3Uri: string;
  S3DataType: 'S3Prefix' | 'S3Object';
  CompressionType: 'None' | 'Gzip';
}

/** Longest file or folder name, in UTF-8 bytes, that uncompressed model data may use. */
const MAX_MODEL_NAME_BYTES = 255;

/**
 * Why `name` cannot be a file or folder name of uncompressed model data, or undefined when it can:
 * the names `S3ModelDataSource` forbids ("An empty or blank string", null bytes, more than 255 bytes,
 * `.` and `..`).
 */
function badModelName(name: string): string | undefined {
  if (name.trim() === '') return 'an empty or blank name';
  if (name.includes('\0')) return 'a name with a null byte';
  if (Buffer.byteLength(name) > MAX_MODEL_NAME_BYTES) return `a name of more than ${MAX_MODEL_NAME_BYTES} bytes`;
  if (name === '.' || name === '..') return `the name "${name}"`;
  return undefined;
}

/**
 * The files an `S3Prefix` makes under `/opt/ml/model`, as paths relative to it, with the key of each;
 * `ModelDataError` for a key that would make a forbidden name (a folder object, whose key ends in
 * `/`, makes an empty one) or a file where another key needs a folder, which fail the deployment
 * on the service (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3ModelDataSource.html).
 */
function prefixFiles(url: string, bucket: string, prefix: string, keys: readonly string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const key of keys) {
    const rel = key.slice(prefix.length);
    for (const name of rel.split('/')) {
      const why = badModelName(name);
      if (why !== undefined) throw new ModelDataError(`Could not place model data at ${url} in /opt/ml/model: the object s3://${bucket}/${key} would make ${why} there (a folder made in the S3 console is an object whose key ends in /). Remove or rename it.`);
    }
    files.set(rel, key);
  }
  for (const [rel, key] of files) {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folderKey = files.get(parts.slice(0, i).join('/'));
      if (folderKey !== undefined) throw new ModelDataError(`Could not place model data at ${url} in /opt/ml/model: the object s3://${bucket}/${folderKey} would be a file named as the folder that s3://${bucket}/${key} needs. Remove or rename one of them.`);
    }
  }
  return files;
}

/** The `link` failures that say a hard link cannot be made here, where a copy can. */
const NO_LINK_HERE: ReadonlySet<string> = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Makes `file` a hard link to `blob`, or a copy of it where a link cannot be made (another
 * filesystem, `EXDEV`; one without hard links, `EPERM`; too many links, `EMLINK`). Any other
 * failure is thrown, and the copy never replaces a file already there: a file system that does
 * not tell upper from lower case (macOS, Windows) has `Model.bin` where `model.bin` goes
 * (`EEXIST`), which a copy would have overwritten with the other object's bytes.
 * `linkFile` is the link call (tests give one that fails).
 */
export async function linkOrCopy(blob: string, file: string, linkFile: (from: string, to: string) => Promise<void> = link): Promise<void> {
  try {
    await linkFile(blob, file);
  } catch (err) {
    if (!NO_LINK_HERE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    await copyFile(blob, file, constants.COPYFILE_EXCL);
  }
}

/**
 * The model folder of an `S3Prefix` under `target`, from `files` (its paths and their keys): each
 * object's current version (by its ETag) is downloaded once into `target/objects`, and the folder,
 * named by the versions it holds, is made of hard links to them (copies where links cannot be made),
 * so a deployment after objects under the prefix were replaced, added or removed gets the prefix as
 * it now is, while deployments of an unchanged prefix share one copy. `ModelDataError` names an
 * object that cannot be downloaded.
 */
async function prefixVersion(s3: S3Reader, bucket: string, files: ReadonlyMap<string, string>, target: string, lease?: ModelDataLease, signal?: AbortSignal): Promise<string> {
  const objects = join(target, 'objects');
  await mkdir(objects, { recursive: true });
  const placed: Array<{ rel: string; blob: string }> = [];
  for (const [rel, key] of files) {
    try {
      const body = await s3.get(bucket, key, signal ? { signal } : {});
      const blob = join(objects, createHash('sha256').update(`${key}\0${body.etag ?? ''}`).digest('hex').slice(0, 32));
      await lease?.hold(blob);
      if (await stat(blob).catch(() => undefined)) body.destroy();
      else await save(body, blob, signal);
      placed.push({ rel, blob });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw notFetched(`s3://${bucket}/${key}`, err);
    }
  }
  const folder = join(target, createHash('sha256').update(placed.map(({ rel, blob }) => `${rel}\0${basename(blob)}`).join('\0')).digest('hex').slice(0, 24));
  await lease?.hold(folder);
  if (await stat(folder).catch(() => undefined)) return folder;
  const partial = `${folder}.partial-${process.pid}-${Math.random().toString(16).slice(2)}`;
  try {
    for (const { rel, blob } of placed) {
      const file = join(partial, ...rel.split('/'));
      await mkdir(dirname(file), { recursive: true });
      try {
        await linkOrCopy(blob, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Two keys whose names differ only in case, on a file system that does not tell them apart.
        const other = placed.find((p) => p.rel !== rel && p.rel.toLowerCase() === rel.toLowerCase());
        const at = (r: string) => `s3://${bucket}/${files.get(r)}`;
        throw new ModelDataError(
          `Could not place model data in /opt/ml/model: the object ${at(rel)} would be the same file as ${other ? at(other.rel) : 'another object'} on this machine, whose file system does not tell upper from lower case in names (on SageMaker they are two files). Rename one of them, or run smkit local on a case-sensitive file system.`,
          { cause: err },
        );
      }
    }
    // Another deployment of the same prefix may have made the folder meanwhile: its files are the same.
    await rename(partial, folder).catch(async (err: unknown) => {
      if (!(await stat(folder).catch(() => undefined))) throw err;
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return folder;
}

/**
 * Makes a container's `ModelDataSource` available as a local path, following the rules of
 * `S3ModelDataSource` in the SageMaker API reference: a Gzip `S3Object` is a `model.tar.gz`
 * (as `ModelDataUrl`); an uncompressed `S3Object` becomes the one file of the model folder, named
 * by the key's last part; under an `S3Prefix` each object becomes the file at its key less the
 * prefix. A name those rules forbid (empty, as a folder object's key ending in `/` makes, `.`,
 * `..`, a null byte, more than 255 bytes) or a file where a folder is needed fails the deployment
 * (`ModelDataError`) before anything is downloaded, as on the service. With a `lease`, what is
 * downloaded is held by it, and aborting `signal` cuts the download short (see {@link resolveModelData}).
 */
export async function resolveModelDataSource(source: S3ModelDataSource, cacheDir: string, s3: () => S3Reader, lease?: ModelDataLease, signal?: AbortSignal): Promise<string> {
  const url = source.S3Uri;
  const location = parseS3Location(url);
  if (!location) throw new ModelDataError(`Could not find model data at ${url}: the local SageMaker reads ModelDataSource from s3:// URIs and Amazon S3 https:// URLs.`);
  if (source.S3DataType === 'S3Object' && source.CompressionType === 'Gzip') return resolveModelData(`s3://${location.bucket}/${location.key}`, 'SingleModel', cacheDir, s3, lease, signal);
  const target = join(cacheDir, 's3', createHash('sha256').update(`${source.S3DataType}\0${url}`).digest('hex').slice(0, 24));
  if (source.S3DataType === 'S3Object') {
    const name = location.key.split('/').pop()!;
    const why = badModelName(name);
    if (why !== undefined) throw new ModelDataError(`Could not place model data at ${url} in /opt/ml/model: an uncompressed S3Object is stored under the last part of its key, and that would make ${why}.`);
    try {
      return await currentVersion(s3(), location.bucket, location.key, target, name, lease, signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw notFetched(url, err);
    }
  }
  let keys: string[];
  try {
    keys = await s3().list(location.bucket, location.key, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new ModelDataError(`Could not list model data at ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (keys.length === 0) throw new ModelDataError(`Could not find model data at ${url}: no object has that key prefix.`);
  return prefixVersion(s3(), location.bucket, prefixFiles(url, location.bucket, location.key, keys), target, lease, signal);
}
