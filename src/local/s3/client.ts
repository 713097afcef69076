import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Agent } from 'node:http';
import { Readable } from 'node:stream';
import { DEFAULT_S3_TIMEOUT_SECONDS, type LocalSageMakerSettings } from '../../config/local-sagemaker.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { countText } from '../../errors/count-text.js';
import { excerpt } from '../../errors/excerpt.js';
import { unknownProfile } from '../../aws/shared-profiles.js';
import { MAX_LISTED_KEYS, type PutFileOptions, type S3Objects } from './objects.js';

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

/** Attempts of a streamed upload, as many as the SDK makes of a request it can send again. */
const PUT_FILE_ATTEMPTS = 3;
/** The pause before the second attempt of a streamed upload (twice that before the third), as the SDK's base delay. */
const RETRY_PAUSE_MS = 100;

/**
 * Whether `err` is S3 closing or resetting the connection before its answer: a keep-alive
 * connection the server closed as it was reused (a race Node's HTTP agent leaves open) fails so.
 */
function isConnectionDropped(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** The error for a connection S3 dropped before answering, `tries` being e.g. ` (3 attempts)` or empty. */
function connectionDropped(cause: unknown, endpoint: string, code: string, tries: string): Error {
  const message = `S3 at ${endpoint} closed the connection before it answered (${code})${tries}: check that S3 is running and reachable there`;
  return Object.assign(new Error(message, { cause }), { name: 'ConnectionClosedError', code });
}

/** The SDK's `send` options that close the request when `signal` aborts. */
function abortOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

/** The PutObject members asking S3 to encrypt the object with `kmsKeyId` (SSE-KMS); none without one. */
function sseKms(kmsKeyId: string | undefined): { ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string } {
  return kmsKeyId === undefined ? {} : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId };
}

/** The messages of a combined connection failure's attempts, joined with `; `. */
function attemptMessages(err: AggregateError): string {
  return err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
}

/**
 * The error for a connection the operating system gave up on (`ETIMEDOUT`): S3 did not answer the
 * connection attempt (`connect`), or stopped acknowledging what was sent, or the keep-alive probes,
 * on an open one. No limit of smkit's was reached: the network or S3 went away. A host of several
 * addresses is tried one after another (Node's autoSelectFamily), each but the last given 250 ms
 * (autoSelectFamilyAttemptTimeout) that a stalled event loop can run out: its failure, one
 * AggregateError with no syscall, lists each attempt's error instead.
 */
function osTimedOut(cause: NodeJS.ErrnoException, endpoint: string, tries: string): Error {
  const what =
    cause instanceof AggregateError
      ? `did not answer the connection attempts to its addresses (${attemptMessages(cause)})`
      : cause.syscall === 'connect'
        ? 'did not answer the connection attempt before the operating system gave up on it (ETIMEDOUT)'
        : 'stopped acknowledging what was sent on the connection until the operating system gave up on it (ETIMEDOUT)';
  const message = `S3 at ${endpoint} ${what}${tries}: check that S3 is running and reachable there`;
  return Object.assign(new Error(message, { cause }), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

/** The message of the SDK's credential chain when none of its providers had credentials. */
const NO_CREDENTIALS_FOUND = 'Could not load credentials from any providers';

/**
 * `err` as the caller should see it: a timeout of the SDK's HTTP handler (its own wording names
 * neither S3 nor what to change) becomes one that names S3's endpoint and the setting.
 */
function explained(err: unknown, endpoint: string, seconds: number, local: boolean, profile?: LocalSageMakerSettings['profile']): unknown {
  // The SDK's "Could not load credentials from any providers" names neither S3 nor that, with no
  // AWS_ENDPOINT_URL_S3, an s3:// URL went to Amazon S3: the usual cause is a local S3 not pointed at.
  // A provider's own reason (an SSO session to renew with aws sso login, a profile that does not parse) is kept.
  if (err instanceof Error && err.name === 'CredentialsProviderError' && !local) {
    // An AWS_PROFILE that no shared file holds (a typo) is what to fix, as smkit deploy says before it starts.
    const missing = profile === undefined ? undefined : unknownProfile(profile);
    if (missing !== undefined) {
      const message = `no AWS credentials were found for Amazon S3 at ${endpoint}, where s3:// URLs go while neither AWS_ENDPOINT_URL_S3 nor AWS_ENDPOINT_URL is set: ${missing} Set AWS_PROFILE to a profile there before starting smkit local (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE say where the files are), or set AWS_ENDPOINT_URL_S3 to a local S3 server`;
      return Object.assign(new Error(message, { cause: err }), { name: 'CredentialsProviderError' });
    }
    const reason = err.message === NO_CREDENTIALS_FOUND ? '' : ` (${excerpt(err.message, 500)})`;
    const message = `no AWS credentials were found for Amazon S3 at ${endpoint}${reason}, where s3:// URLs go while neither AWS_ENDPOINT_URL_S3 nor AWS_ENDPOINT_URL is set: set AWS_ENDPOINT_URL_S3 to a local S3 server (such as http://127.0.0.1:4569) before starting smkit local, or give credentials for Amazon S3 (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`;
    return Object.assign(new Error(message, { cause: err }), { name: 'CredentialsProviderError' });
  }
  if (err instanceof AggregateError) {
    // Node fails a connection to a host of several addresses (its autoSelectFamily tries each, as for
    // localhost at ::1 and 127.0.0.1) with an AggregateError whose own message is empty: a refused one
    // (S3 not running) read "Could not list model data at s3://...: " and nothing more.
    if (err.message === '') err.message = attemptMessages(err);
    // It has the first attempt's code: one cut by Node's attempt timeout (ETIMEDOUT, which the SDK
    // names a TimeoutError) before another was refused would say the network gave up on a port
    // where S3 is simply not listening.
    if (err.errors.some((e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED')) return Object.assign(err, { name: 'AggregateError', code: 'ECONNREFUSED' });
  }
  if (!(err instanceof Error) || err.name !== 'TimeoutError') return err;
  const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts;
  const tries = attempts !== undefined && attempts > 1 ? ` (${attempts} attempts)` : '';
  // The SDK names the socket errors ECONNRESET, EPIPE and ETIMEDOUT a TimeoutError too, keeping
  // their code: only its own timeouts (connectionTimeout, socketTimeout, which `seconds` sets) have none.
  const code = (err as NodeJS.ErrnoException).code;
  if (isConnectionDropped(err)) return connectionDropped(err, endpoint, code!, tries);
  if (code === 'ETIMEDOUT') return osTimedOut(err, endpoint, tries);
  if (code !== undefined) return err;
  const what = /establish a connection/.test(err.message) ? `did not accept a connection within ${seconds} s` : `went ${seconds} s without sending or taking a byte`;
  const message = `S3 at ${endpoint} ${what}${tries}, the limit SMKIT_LOCAL_S3_TIMEOUT_SECONDS sets: check that S3 is running and reachable there, or raise SMKIT_LOCAL_S3_TIMEOUT_SECONDS`;
  return Object.assign(new Error(message, { cause: err }), { name: 'TimeoutError' });
}

/**
 * An object's body as the SDK streams it, failing with {@link explained}'s error when S3 stalls
 * part-way (the idle timeout destroys the response with the SDK's own error).
 */
function explainedBody(body: Readable, endpoint: string, seconds: number, local: boolean): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of body) yield chunk as Buffer;
    } catch (err) {
      throw explained(err, endpoint, seconds, local);
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

/** How {@link createS3Objects} reaches S3 over plain HTTP (a local S3 server). */
export interface S3Transport {
  /** The agent that opens its connections (tests inject socket errors with one). @defaultValue the SDK's keep-alive agent */
  httpAgent?: Agent;
}

/**
 * {@link S3Objects} on `@aws-sdk/client-s3` (loaded on first use), honouring the standard
 * endpoint settings: with `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` set it uses path-style
 * addressing, as local S3 servers need, and dummy credentials when none are configured.
 * Request checksums are sent only where an operation requires them (not for PutObject): with the
 * SDK's default a streamed body is sent in the `aws-chunked` encoding, which local S3 servers
 * such as s3rver store as the object's bytes, chunk framing included.
 * `s3TimeoutSeconds` bounds connecting and each silence of a request or of a body being streamed,
 * never a whole transfer (the SDK's `requestTimeout` would cut a large object off part-way).
 */
export function createS3Objects(settings: Pick<LocalSageMakerSettings, 's3EndpointUrl' | 'region' | 'credentials' | 's3TimeoutSeconds' | 'profile'>, transport: S3Transport = {}): S3Objects {
  const seconds = settings.s3TimeoutSeconds ?? DEFAULT_S3_TIMEOUT_SECONDS;
  const endpoint = settings.s3EndpointUrl ?? `https://s3.${settings.region}.amazonaws.com`;
  let client: Promise<{ send: (cmd: unknown, opts?: { abortSignal?: AbortSignal }) => Promise<unknown>; mod: typeof import('@aws-sdk/client-s3') }> | undefined;
  const get = () =>
    (client ??= import('@aws-sdk/client-s3').then((mod) => {
      const local = settings.s3EndpointUrl !== undefined;
      const requestHandler = {
        // The SDK sets no timeout of its own: a black-holed S3 would hold its caller for ever.
        ...(seconds > 0 ? { connectionTimeout: seconds * 1000, socketTimeout: seconds * 1000 } : {}),
        ...(transport.httpAgent ? { httpAgent: transport.httpAgent } : {}),
      };
      const c = new mod.S3Client({
        region: settings.region,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        // Without a logger the SDK prints a warning of its own to the console for each failed
        // streamed upload; callers report the error itself (a capture upload is tried every 5 s).
        logger: SILENT_LOGGER,
        ...(seconds > 0 || transport.httpAgent ? { requestHandler } : {}),
        ...(local ? { endpoint: settings.s3EndpointUrl, forcePathStyle: true } : {}),
        ...(settings.credentials ? { credentials: settings.credentials } : local ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
      });
      const send = (cmd: unknown, opts?: { abortSignal?: AbortSignal }): Promise<unknown> =>
        c.send(cmd as never, opts).catch((err: unknown) => {
          throw explained(err, endpoint, seconds, local, settings.profile);
        });
      return { send, mod };
    }));
  /** One PutObject of the first `length` bytes of the file at `path`, streamed. */
  async function putFileOnce(bucket: string, key: string, path: string, contentType: string | undefined, length: number, options: PutFileOptions): Promise<void> {
    const { send, mod } = await get();
    const body = fileBody(path, length);
    // The SDK pipes the body into the request, which a failing body leaves open: abort it.
    const abort = new AbortController();
    body.once('error', (err) => abort.abort(err));
    const signal = options.signal ? AbortSignal.any([abort.signal, options.signal]) : abort.signal;
    try {
      await send(
        new mod.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: length,
          ...(contentType === undefined ? {} : { ContentType: contentType }),
          ...sseKms(options.kmsKeyId),
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      throw abort.signal.aborted ? (abort.signal.reason as Error) : err;
    } finally {
      // A refused upload leaves the body unread: close its file, or each retry keeps one open.
      body.destroy();
    }
  }
  return {
    async get(bucket, key, options = {}) {
      const { send, mod } = await get();
      // The SDK keeps the abort listener until the response ends: aborting also cuts a body part-way.
      const out = (await send(new mod.GetObjectCommand({ Bucket: bucket, Key: key }), abortOptions(options.signal))) as { Body?: unknown; ContentLength?: number; ETag?: string };
      if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
      const source = out.Body as Readable;
      const stream = explainedBody(source, endpoint, seconds, settings.s3EndpointUrl !== undefined);
      // Destroyed before it was read (refused from its length), it would leave the SDK's body, and its connection, open.
      stream.once('close', () => source.destroy());
      return Object.assign(stream, out.ContentLength === undefined ? {} : { contentLength: out.ContentLength }, out.ETag === undefined ? {} : { etag: out.ETag });
    },
    async put(bucket, key, body, contentType, options = {}) {
      const { send, mod } = await get();
      await send(new mod.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(contentType === undefined ? {} : { ContentType: contentType }), ...sseKms(options.kmsKeyId) }), abortOptions(options.signal));
    },
    async putFile(bucket, key, path, contentType, options = {}) {
      const length = options.length ?? (await stat(path)).size;
      // The SDK sends a streamed body once, whatever the error: a connection S3 dropped before it
      // answered (a reused keep-alive one it had just closed) is tried again here, from the file.
      for (let attempt = 1; ; attempt++) {
        try {
          return await putFileOnce(bucket, key, path, contentType, length, options);
        } catch (err) {
          if (!isConnectionDropped(err) || options.signal?.aborted) throw err;
          if (attempt === PUT_FILE_ATTEMPTS) throw connectionDropped((err as Error).cause ?? err, endpoint, (err as NodeJS.ErrnoException).code!, ` (${attempt} attempts)`);
          await delay(RETRY_PAUSE_MS * attempt, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
          // Aborted during the pause: the caller's reason, not another attempt's file open and AbortError.
          options.signal?.throwIfAborted();
        }
      }
    },
    async delete(bucket, key) {
      const { send, mod } = await get();
      await send(new mod.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async list(bucket, prefix, options = {}) {
      const { send, mod } = await get();
      const { maxKeys = MAX_LISTED_KEYS, firstOnly = false } = options;
      const keys: string[] = [];
      let token: string | undefined;
      // Pages of S3's default size (1000 keys): the limit is checked after each, so a listing holds
      // at most one page more than it.
      do {
        const out = (await send(new mod.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }), abortOptions(options.signal))) as {
          Contents?: Array<{ Key?: string }>;
          NextContinuationToken?: string;
          IsTruncated?: boolean;
        };
        for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
        if (keys.length >= maxKeys && firstOnly) return keys.slice(0, maxKeys);
        if (keys.length > maxKeys) {
          throw new ToolkitError(
            'ERR_S3_TOO_MANY_KEYS',
            `s3://${bucket}/${prefix} holds more than ${countText(maxKeys)} objects, more than the local SageMaker lists under one prefix (it holds every key in memory and downloads each): use a narrower prefix, or pack the objects into fewer, larger ones (shards, RecordIO files, a tar archive).`,
            { details: { bucket, prefix, maxKeys } },
          );
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}
