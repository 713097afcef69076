import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  AbortMultipartUploadCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ToolkitError } from '../errors/catalogue.js';
import type { ContainerConfig, EndpointConfig } from '../endpoint-file/schema.js';
import { sha256File } from '../fs/sha256-file.js';
import { packageModel } from '../package/package.js';
import { serviceError } from './service-error.js';

/** One file to have in S3 under a content-hash key. */
export interface ArchiveFile {
  /** The local file uploaded. */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly key: string;
}

/** What a container's `model` becomes in S3: one archive, or (multi-model) a prefix of archives. */
export interface ContainerArtifact {
  /** The container's `model` as written in the file (resolved). */
  readonly source: string;
  readonly bucket: string;
  /** The archive key, or the prefix (ending in `/`) for a multi-model container. */
  readonly key: string;
  /** `s3://bucket/key`: the container's `ModelDataUrl`. */
  readonly uri: string;
  readonly files: readonly ArchiveFile[];
}

/** `s3://bucket/prefix/` split into its parts; the prefix is empty or ends in `/`. */
export function parseS3Prefix(uri: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new ToolkitError('ERR_DEPLOY_CONFIG', `deploy.artifacts: ${uri} is not an s3://bucket/prefix/ URI`);
  const prefix = m[2]!;
  return { bucket: m[1]!, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
}

async function archiveFor(source: string, workDir: string, log: (line: string) => void, signal?: AbortSignal): Promise<{ file: string; sha256: string; bytes: number }> {
  const st = await fs.stat(source).catch(() => undefined);
  if (!st) throw new ToolkitError('ERR_DEPLOY_CONFIG', `model ${source} does not exist`);
  if (st.isFile()) {
    if (!/\.(tar\.gz|tgz)$/i.test(source)) throw new ToolkitError('ERR_DEPLOY_CONFIG', `model ${source}: expected a model directory or a model.tar.gz`);
    return { file: source, sha256: await sha256File(source), bytes: st.size };
  }
  const outFile = path.join(workDir, `${createHash('sha256').update(source).digest('hex').slice(0, 16)}.tar.gz`);
  const packed = await packageModel(source, { outFile, ...(signal !== undefined ? { signal } : {}) }).catch((err: unknown) => {
    if (!signal?.aborted) throw err;
    throw new ToolkitError('ERR_DEPLOY_FAILED', `${(signal.reason as Error).message} while packaging ${source}: nothing was uploaded or changed`, { cause: err });
  });
  log(`packaged ${source}: ${packed.bytes} bytes, sha256 ${packed.sha256.slice(0, 12)}…`);
  return { file: packed.outFile, sha256: packed.sha256, bytes: packed.bytes };
}

async function listArchives(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listArchives(dir, childRel)));
    else if (entry.isFile() && /\.(tar\.gz|tgz)$/i.test(entry.name)) out.push(childRel);
  }
  return out;
}

/**
 * Packages (with `smkit package`'s checks and deterministic archives) every container's model of
 * the endpoints and names its S3 key by content: `<prefix><sha256>/model.tar.gz`. A multi-model
 * container's folder of archives becomes `<prefix>mme-<hash of the listing>/<path>`. Nothing is
 * uploaded here. Returns one entry per distinct model path. Aborting `signal` stops the packing
 * (its partial archive and staging folder removed) with `ERR_DEPLOY_FAILED`.
 */
export async function prepareArtifacts(
  endpoints: readonly EndpointConfig[],
  artifacts: string,
  workDir: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<Map<string, ContainerArtifact>> {
  const { bucket, prefix } = parseS3Prefix(artifacts);
  const out = new Map<string, ContainerArtifact>();
  const containers: ContainerConfig[] = endpoints.flatMap((e) => [...e.variants, ...(e.shadow ? [e.shadow] : [])].flatMap((v) => v.containers));
  for (const c of containers) {
    if (out.has(c.model)) continue;
    if (c.mode === 'MultiModel') {
      const names = await listArchives(c.model).catch(() => {
        throw new ToolkitError('ERR_DEPLOY_CONFIG', `multi-model folder ${c.model} cannot be read`);
      });
      if (names.length === 0) throw new ToolkitError('ERR_DEPLOY_CONFIG', `multi-model folder ${c.model} holds no .tar.gz archives to upload`);
      const files = [];
      for (const name of names) {
        const file = path.join(c.model, name);
        files.push({ name, file, sha256: await sha256File(file), bytes: (await fs.stat(file)).size });
      }
      const listing = createHash('sha256').update(files.map((f) => `${f.name}\0${f.sha256}`).join('\n')).digest('hex');
      const dirKey = `${prefix}mme-${listing}/`;
      out.set(c.model, {
        source: c.model,
        bucket,
        key: dirKey,
        uri: `s3://${bucket}/${dirKey}`,
        files: files.map((f) => ({ file: f.file, bytes: f.bytes, sha256: f.sha256, key: `${dirKey}${f.name}` })),
      });
      continue;
    }
    const archive = await archiveFor(c.model, workDir, log, signal);
    const key = `${prefix}${archive.sha256}/model.tar.gz`;
    out.set(c.model, { source: c.model, bucket, key, uri: `s3://${bucket}/${key}`, files: [{ ...archive, key }] });
  }
  return out;
}

/** True when the object is already in S3 (a content-hash key never changes content). */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
    throw serviceError(`S3 HeadObject s3://${bucket}/${key}`, err);
  }
}

/** Files of at least this size go up in parts (S3 allows 5 GB in one PutObject). */
export const MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024;
const PART_BYTES = 16 * 1024 * 1024;

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

/**
 * Throws `ERR_DEPLOY_FAILED` when what was read of `file` for its upload is not what was hashed for
 * its key: the object would hold other bytes than its content-hash key says, for good, since a later
 * deploy finds the key in S3 and uploads nothing. `sha256` undefined: the size alone is known wrong.
 */
function checkUnchanged(file: ArchiveFile, bytes: number, sha256: string | undefined): void {
  if (bytes === file.bytes && sha256 === file.sha256) return;
  const what =
    bytes > file.bytes
      ? `it is now longer than the ${file.bytes} bytes it had`
      : bytes < file.bytes
        ? `it is now ${bytes} bytes where it had ${file.bytes}`
        : `its sha256 is now ${sha256?.slice(0, 12)}…, not ${file.sha256.slice(0, 12)}…`;
  throw new ToolkitError(
    'ERR_DEPLOY_FAILED',
    `${file.file} changed after deploy hashed it for its key ${file.key} (${what}): it was not stored in S3. Let whatever writes it finish, then run deploy again.`,
  );
}

/**
 * Uploads one file to `s3://bucket/key`, with a progress line per part (multipart above
 * `threshold` bytes) or once done. Throws `ERR_DEPLOY_FAILED` with the S3 error. A multipart upload
 * that fails or is stopped by `signal` is aborted (S3 bills its parts until it is completed or
 * aborted: https://docs.aws.amazon.com/AmazonS3/latest/userguide/abort-mpu.html); if the abort
 * fails too, the error says how to abort it by hand.
 */
export async function uploadFile(
  s3: S3Client,
  bucket: string,
  file: ArchiveFile,
  log: (line: string) => void,
  threshold = MULTIPART_THRESHOLD_BYTES,
  signal?: AbortSignal,
): Promise<void> {
  const where = `s3://${bucket}/${file.key}`;
  if (file.bytes < threshold) {
    const body = await fs.readFile(file.file);
    checkUnchanged(file, body.length, createHash('sha256').update(body).digest('hex'));
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: file.key, Body: body, ContentType: 'application/gzip' }));
    } catch (err) {
      throw serviceError(`S3 PutObject ${where}`, err);
    }
    log(`uploaded ${where} (${formatBytes(file.bytes)})`);
    return;
  }
  let uploadId: string | undefined;
  try {
    uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: file.key, ContentType: 'application/gzip' }))).UploadId;
    const parts: { ETag: string; PartNumber: number }[] = [];
    const hash = createHash('sha256');
    let read = 0;
    const handle = await fs.open(file.file, 'r');
    try {
      for (let offset = 0, part = 1; offset < file.bytes; offset += PART_BYTES, part++) {
        signal?.throwIfAborted();
        const length = Math.min(PART_BYTES, file.bytes - offset);
        const buf = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        read += bytesRead;
        // A file cut short since it was hashed: the rest of this part would go up as zeros.
        if (bytesRead < length) checkUnchanged(file, read, undefined);
        hash.update(buf);
        const res = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: file.key, UploadId: uploadId, PartNumber: part, Body: buf }), { abortSignal: signal });
        parts.push({ ETag: res.ETag ?? '', PartNumber: part });
        log(`uploading ${where}: ${formatBytes(offset + length)} of ${formatBytes(file.bytes)} (${Math.round(((offset + length) / file.bytes) * 100)}%)`);
      }
      read += (await handle.read(Buffer.alloc(1), 0, 1, file.bytes)).bytesRead;
    } finally {
      await handle.close();
    }
    checkUnchanged(file, read, hash.digest('hex'));
    signal?.throwIfAborted();
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: file.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    const failure = signal?.aborted
      ? new ToolkitError('ERR_DEPLOY_FAILED', `S3 multipart upload ${where} stopped: ${signal.reason instanceof Error ? signal.reason.message : String(signal.reason)}`, { cause: err })
      : serviceError(`S3 multipart upload ${where}`, err);
    if (uploadId === undefined) throw failure;
    // Not with `signal`: the upload is aborted also (above all) when the signal stopped it.
    const abortError = await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: file.key, UploadId: uploadId })).then(() => undefined, (e: unknown) => e);
    const parts = abortError === undefined
      ? 'the upload was aborted, no parts are left'
      : `its parts stay in S3 until the upload is aborted (${serviceError('AbortMultipartUpload', abortError).message}): aws s3api abort-multipart-upload --bucket ${bucket} --key ${file.key} --upload-id ${uploadId}`;
    throw new ToolkitError('ERR_DEPLOY_FAILED', `${failure.message}; ${parts}`, { cause: err, ...(failure.details ? { details: failure.details } : {}) });
  }
  log(`uploaded ${where} (${formatBytes(file.bytes)})`);
}
