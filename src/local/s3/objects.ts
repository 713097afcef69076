import type { Readable } from 'node:stream';

/** The S3 operations the local SageMaker uses: model data in, data capture out. */
export interface S3Objects {
  /** The object's bytes as a stream; rejects when it does not exist. */
  get(bucket: string, key: string): Promise<Readable>;
  /** Keys under a prefix (all pages). */
  list(bucket: string, prefix: string): Promise<string[]>;
  /** Writes (or replaces) an object, with `contentType` as its `Content-Type` when given. */
  put(bucket: string, key: string, body: Buffer, contentType?: string): Promise<void>;
}

/** `s3://bucket/key` → its parts; undefined for anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}
