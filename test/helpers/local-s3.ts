import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { createS3Objects } from '../../src/local/s3/client.js';
import type { S3Objects } from '../../src/local/s3/objects.js';

/** The part of s3rver's API the tests use (the package ships no types). */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  store: FilesystemStore;
}
/** The part of s3rver's filesystem store that {@link writeObjectsWhole} replaces and uses. */
interface FilesystemStore {
  putObject(object: StoreObject): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  getResourcePath(bucket: string, key: string, resource: 'object'): string;
}
interface StoreObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}
type S3rverClass = new (opts: Record<string, unknown>) => S3rverInstance;

/** A real local S3 server (s3rver) on a free loopback port, with a client for it. */
export interface LocalS3 {
  /** `http://127.0.0.1:<port>`: the value for `AWS_ENDPOINT_URL_S3`. */
  url: string;
  client: S3Client;
  stop(): Promise<void>;
}

/** Starts s3rver in a temporary folder with `buckets` created. */
export async function startLocalS3(buckets: readonly string[]): Promise<LocalS3> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const dir = await mkdtemp(join(tmpdir(), 'smkit-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  writeObjectsWhole(server.store);
  const { port } = await server.run().catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const url = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint: url, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return {
    url,
    client,
    async stop() {
      client.destroy();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver's filesystem store writes an object's bytes in place, and a GET needs only the object's
 * file (its length is the file's size then): a test that polls for an object the code under test is
 * uploading could read it cut off (seen on a loaded machine as half a JSON answer). This `putObject`
 * writes the body to a file of its own, then the metadata, then renames the body into place, so an
 * object appears whole, as S3 shows objects.
 */
function writeObjectsWhole(store: FilesystemStore): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(path), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    // Not the object file's suffix, so listings skip it.
    const partial = `${path}.${randomUUID()}.partial`;
    try {
      await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, count, createWriteStream(partial));
      const digest = md5.digest('hex');
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      await rename(partial, path);
      return { size, md5: digest };
    } finally {
      await rm(partial, { force: true });
    }
  };
}

/** An {@link S3Objects} store on a local S3 whose writes are counted and held until the test opens them. */
export interface HeldS3Writes {
  /** The store to give the local SageMaker. */
  store: S3Objects;
  /** PutObjects under way (held or writing). */
  readonly inFlight: number;
  /** PutObjects written. */
  readonly written: number;
  /** Lets every held PutObject, and every later one, through. */
  open(): void;
}

/** A store that writes to the local S3 at `s3Url` (us-east-1), each PutObject held until `open()`. */
export function heldS3Writes(s3Url: string): HeldS3Writes {
  const real = createS3Objects({ s3EndpointUrl: s3Url, region: 'us-east-1' });
  let inFlight = 0;
  let written = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const store: S3Objects = {
    ...real,
    put: async (...args) => {
      inFlight++;
      try {
        await gate;
        await real.put(...args);
        written++;
      } finally {
        inFlight--;
      }
    },
  };
  return {
    store,
    get inFlight() {
      return inFlight;
    },
    get written() {
      return written;
    },
    open: () => open(),
  };
}
