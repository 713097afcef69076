import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { LocalSageMakerSettings } from '../../config/local-sagemaker.js';
import type { S3Objects } from './objects.js';

/**
 * {@link S3Objects} on `@aws-sdk/client-s3` (loaded on first use), honouring the standard
 * endpoint settings: with `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` set it uses path-style
 * addressing, as local S3 servers need, and dummy credentials when none are configured.
 * Request checksums are sent only where an operation requires them (not for PutObject): with the
 * SDK's default a streamed body is sent in the `aws-chunked` encoding, which local S3 servers
 * such as s3rver store as the object's bytes, chunk framing included.
 */
export function createS3Objects(settings: Pick<LocalSageMakerSettings, 's3EndpointUrl' | 'region' | 'credentials'>): S3Objects {
  let client: Promise<{ send: (cmd: unknown) => Promise<unknown>; mod: typeof import('@aws-sdk/client-s3') }> | undefined;
  const get = () =>
    (client ??= import('@aws-sdk/client-s3').then((mod) => {
      const local = settings.s3EndpointUrl !== undefined;
      const c = new mod.S3Client({
        region: settings.region,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        ...(local ? { endpoint: settings.s3EndpointUrl, forcePathStyle: true } : {}),
        ...(settings.credentials ? { credentials: settings.credentials } : local ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
      });
      return { send: (cmd: unknown) => c.send(cmd as never), mod };
    }));
  return {
    async get(bucket, key) {
      const { send, mod } = await get();
      const out = (await send(new mod.GetObjectCommand({ Bucket: bucket, Key: key }))) as { Body?: unknown };
      if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return out.Body as Readable;
    },
    async put(bucket, key, body, contentType) {
      const { send, mod } = await get();
      await send(new mod.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(contentType === undefined ? {} : { ContentType: contentType }) }));
    },
    async putFile(bucket, key, path, contentType) {
      const { send, mod } = await get();
      const { size } = await stat(path);
      await send(
        new mod.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ...(contentType === undefined ? {} : { ContentType: contentType }),
        }),
      );
    },
    async delete(bucket, key) {
      const { send, mod } = await get();
      await send(new mod.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async list(bucket, prefix) {
      const { send, mod } = await get();
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = (await send(new mod.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }))) as {
          Contents?: Array<{ Key?: string }>;
          NextContinuationToken?: string;
          IsTruncated?: boolean;
        };
        for (const o of out.Contents ?? []) if (o.Key && !o.Key.endsWith('/')) keys.push(o.Key);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}
