import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in S3 for tests that need S3 to fail in ways a real local S3 server cannot (a 503, a
 * transfer that stalls or breaks part-way): plain `node:http` on a free loopback port, path-style
 * addressing, that hands each request to the test's handler with its bucket and key decoded.
 */
export interface StandInS3 {
  /** `http://127.0.0.1:<port>`: the value for the S3 endpoint setting. */
  url: string;
  server: Server;
  /** Closes every connection, held ones included, and the server. */
  close(): Promise<void>;
}

/** One request to the stand-in S3, path-style (`/<bucket>/<key>`). */
export interface StandInS3Request {
  req: IncomingMessage;
  res: ServerResponse;
  bucket: string;
  /** The object key, URI-decoded; `''` for a request on the bucket. */
  key: string;
  url: URL;
  /** Whether this is a ListObjectsV2 (`GET /<bucket>?list-type=2`); its prefix is `url.searchParams.get('prefix')`. */
  isListing: boolean;
}

/** Starts a {@link StandInS3} whose requests `handle` answers. */
export async function startStandInS3(handle: (request: StandInS3Request) => void): Promise<StandInS3> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    handle({ req, res, bucket, key: decodeURIComponent(rest.join('/')), url, isListing: req.method === 'GET' && url.searchParams.get('list-type') === '2' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Answers a ListObjectsV2 of `bucket` under `prefix` with `objects` (key and size), in one page. */
export function answerListing(res: ServerResponse, bucket: string, prefix: string, objects: readonly { key: string; size: number }[] = []): void {
  res.writeHead(200, { 'content-type': 'application/xml' }).end(
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Name>${bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>${objects.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>` +
      objects.map((o) => `<Contents><Key>${o.key}</Key><Size>${o.size}</Size></Contents>`).join('') +
      '</ListBucketResult>',
  );
}

/** Answers with S3's XML error body: `code` such as `NoSuchKey`, `AccessDenied` or `SlowDown`. */
export function answerS3Error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}
