import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { LocalSageMakerSettings } from '../../config/local-sagemaker.js';
import type { S3Objects } from './objects.js';

const ignore = (): void => {};
const SILENT_LOGGER = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore };

/**
 * The first `length` bytes of the file at `path`, as a stream that fails when the file ends sooner
 * (it shrank after its length was taken): an upload sent with that Content-Length would otherwise
 * wait for the missing bytes for ever.
 */
function fileBody(path: string, length: number): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    let sent = 0;
    for await (const chunk of createReadStream(path, { end: length - 1 })) {
      sent += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (sent < length) throw new Error(`${path} has ${sent} bytes, fewer than the ${length} being uploaded: it shrank during the upload`);
  }
  return Readable.from(length === 0 ? [] : bytes());
}

/**
 * {@link S3Objects} on `@aws-sdk/client-s3` (loaded on first use), honouring the standard
 * endpoint settings: with `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` set it uses path-style
 * addressing, as local S3 servers need, and dummy credentials when none are configured.
 * Request checksums are sent only where an operation requires them (not for PutObject): with the
 * SDK's default a streamed body is sent in the `aws-chunked` encoding, which local S3 servers
 * such as s3rver store as the object's bytes, chunk framing included.
 */
export function createS3Objects(settings: Pick<LocalSageMakerSettings, 's3EndpointUrl' | 'region' | 'credentials'>): S3Objects {
  let client: Promise<{ send: (cmd: unknown, opts?: { abortSignal?: AbortSignal }) => Promise<unknown>; mod: typeof import('@aws-sdk/client-s3') }> | undefined;
  const get = () =>
    (client ??= import('@aws-sdk/client-s3').then((mod) => {
      const local = settings.s3EndpointUrl !== undefined;
      const c = new mod.S3Client({
        region: settings.region,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        // Without a logger the SDK prints a warning of its own to the console for each failed
        // streamed upload; callers report the error itself (a capture upload is tried every 5 s).
        logger: SILENT_LOGGER,
        ...(local ? { endpoint: settings.s3EndpointUrl, forcePathStyle: true } : {}),
        ...(settings.credentials ? { credentials: settings.credentials } : local ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
      });
      return { send: (cmd: unknown, opts?: { abortSignal?: AbortSignal }) => c.send(cmd as never, opts), mod };
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
    async putFile(bucket, key, path, contentType, options = {}) {
      const { send, mod } = await get();
      const length = options.length ?? (await stat(path)).size;
      const body = fileBody(path, length);
      // The SDK pipes the body into the request, which a failing body leaves open: abort it.
      const abort = new AbortController();
      body.once('error', (err) => abort.abort(err));
      try {
        await send(
          new mod.PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: length,
            ...(contentType === undefined ? {} : { ContentType: contentType }),
            ...(options.kmsKeyId === undefined ? {} : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.kmsKeyId }),
          }),
          { abortSignal: abort.signal },
        );
      } catch (err) {
        throw abort.signal.aborted ? (abort.signal.reason as Error) : err;
      } finally {
        // A refused upload leaves the body unread: close its file, or each retry keeps one open.
        body.destroy();
      }
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
