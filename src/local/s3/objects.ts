import type { Readable } from 'node:stream';

/** The S3 operations the local SageMaker uses: model data in, data capture out. */
export interface S3Objects {
  /**
   * The object's bytes as a stream, with the `contentLength` and `etag` S3 gave for them when it did; rejects
   * when it does not exist. Destroying the stream unread closes the transfer; aborting
   * `options.signal` closes it at any point (while S3 has not answered, or part-way through the body).
   */
  get(bucket: string, key: string, options?: AbortOptions): Promise<Readable & { contentLength?: number; etag?: string }>;
  /**
   * Keys under a prefix (all pages), folder objects (keys ending in `/`, which the S3 console makes)
   * included: uncompressed model data fails on them; aborting `options.signal` closes the request out.
   * A prefix holding more than `options.maxKeys` objects fails with `ERR_S3_TOO_MANY_KEYS`, naming
   * the prefix and the limit, at the page (1000 keys) that takes it past them (unless `options.firstOnly`).
   */
  list(bucket: string, prefix: string, options?: ListOptions): Promise<string[]>;
  /**
   * Writes (or replaces) an object, with `contentType` as its `Content-Type` when given, encrypted
   * with `options.kmsKeyId` when given (as {@link PutFileOptions.kmsKeyId}); aborting
   * `options.signal` closes the request out.
   */
  put(bucket: string, key: string, body: Buffer, contentType?: string, options?: PutOptions): Promise<void>;
  /**
   * As {@link S3Objects.put}, with the file at `path` streamed as the body (never read whole into
   * memory). Rejects, rather than waiting for bytes that never come, when the file holds fewer bytes
   * than are being sent (it shrank during the upload).
   */
  putFile(bucket: string, key: string, path: string, contentType?: string, options?: PutFileOptions): Promise<void>;
  /** Deletes an object (S3 answers a missing key as deleted too). */
  delete(bucket: string, key: string): Promise<void>;
}

/** A signal whose abort closes the S3 request at once (StopTransformJob), rather than leaving it to S3's timeout. */
export interface AbortOptions {
  signal?: AbortSignal;
}

/**
 * Most keys {@link S3Objects.list} collects by default: each is held in memory with the file it is
 * downloaded to (a few hundred bytes), and every one is downloaded, one after the other.
 */
export const MAX_LISTED_KEYS = 100_000;

/** Options of {@link S3Objects.list}. */
export interface ListOptions extends AbortOptions {
  /** Most keys to list. @defaultValue {@link MAX_LISTED_KEYS} */
  maxKeys?: number;
  /**
   * Return the first `maxKeys` keys, without listing further, when the prefix holds more, rather
   * than failing: for a caller that needs only some (whether the prefix can be listed at all).
   */
  firstOnly?: boolean;
}

/** Options of {@link S3Objects.put}. */
export type PutOptions = Pick<PutFileOptions, 'kmsKeyId' | 'signal'>;

/** Options of {@link S3Objects.putFile}. */
export interface PutFileOptions extends AbortOptions {
  /** Upload the file's first `length` bytes only (a file still being appended to). @defaultValue its size */
  length?: number;
  /**
   * KMS key (key id, key ARN, alias name or alias ARN) S3 encrypts the object with: the request
   * asks for SSE-KMS (`ServerSideEncryption: aws:kms`, `SSEKMSKeyId`). Without it the bucket's
   * default encryption applies.
   */
  kmsKeyId?: string;
}

export { parseS3Location, parseS3Url } from '../../aws/s3-location.js';
