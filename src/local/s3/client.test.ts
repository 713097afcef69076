import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { Agent, createServer, request, type ClientRequestArgs, type IncomingHttpHeaders } from 'node:http';
import { createConnection, createServer as createNetServer, type AddressInfo, type NetConnectOpts, type Socket, type TcpNetConnectOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isToolkitError } from '../../errors/catalogue.js';
import { startLocalS3 } from '../../../test/helpers/local-s3.js';
import { until } from '../../../test/helpers/until.js';
import { createS3Objects } from './client.js';
import { loadLocalSageMakerSettings } from '../../config/local-sagemaker.js';

test('putFile streams a multi-MB file to a local S3 server, which keeps exactly its bytes (no aws-chunked framing)', async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-'));
  try {
    const bytes = randomBytes(3 * 1024 * 1024);
    const file = join(dir, 'model.tar.gz');
    await writeFile(file, bytes);
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    await objects.putFile('out', 'job/output/model.tar.gz', file, 'application/x-tar');
    await objects.put('out', 'small.out', Buffer.from('1,2\n'));

    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'job/output/model.tar.gz' }));
    assert.equal(got.ContentType, 'application/x-tar');
    const back = Buffer.from(await got.Body!.transformToByteArray());
    assert.equal(back.length, bytes.length);
    assert.ok(back.equals(bytes), 'the object is the file, byte for byte');
    const small = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'small.out' }));
    assert.equal(await small.Body!.transformToString(), '1,2\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});

test('putFile with a length streams that many bytes of a file still being written; a file shorter than the length rejects instead of waiting for bytes that never come', async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-length-'));
  try {
    const file = join(dir, 'capture.jsonl');
    await writeFile(file, '{"a":1}\n{"b":2}\n{"c"');
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    await objects.putFile('out', 'capture.jsonl', file, undefined, { length: 16 });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'capture.jsonl' }));
    assert.equal(await got.Body!.transformToString(), '{"a":1}\n{"b":2}\n');
    // As when the file is cut back (a capture write that failed part-way) while it is uploaded.
    await assert.rejects(objects.putFile('out', 'short.jsonl', file, undefined, { length: 100 }), /capture\.jsonl has 20 bytes, fewer than the 100 being uploaded: it shrank during the upload$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});

test('putFile with a KMS key asks S3 for SSE-KMS with that key (the headers reach the server); without one it asks for no encryption of its own', async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-kms-'));
  // A pass-through proxy in front of the local S3, which ignores encryption headers: it records what the SDK sent.
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  const target = new URL(s3.url);
  const proxy = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => res.destroy(err));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const file = join(dir, 'capture.jsonl');
    await writeFile(file, '{"a":1}\n');
    const objects = createS3Objects({ s3EndpointUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, region: 'us-east-1' });
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    await objects.putFile('out', 'enc/capture.jsonl', file, undefined, { kmsKeyId: key });
    await objects.putFile('out', 'plain/capture.jsonl', file);
    const puts = seen.filter((r) => r.method === 'PUT');
    assert.deepEqual(puts.map((r) => new URL(r.url, 'http://s3').pathname), ['/out/enc/capture.jsonl', '/out/plain/capture.jsonl']);
    assert.equal(puts[0]!.headers['x-amz-server-side-encryption'], 'aws:kms');
    assert.equal(puts[0]!.headers['x-amz-server-side-encryption-aws-kms-key-id'], key);
    assert.equal(puts[1]!.headers['x-amz-server-side-encryption'], undefined);
    assert.equal(puts[1]!.headers['x-amz-server-side-encryption-aws-kms-key-id'], undefined);
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'enc/capture.jsonl' }));
    assert.equal(await got.Body!.transformToString(), '{"a":1}\n');
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});

test('a refused putFile closes the file it was streaming: uploads retried against an S3 that refuses them keep no file open', { skip: !existsSync('/proc/self/fd') && 'needs /proc/self/fd' }, async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-refused-'));
  try {
    const file = join(dir, 'capture.jsonl');
    // Larger than what the server reads before it answers.
    await writeFile(file, Buffer.alloc(8 * 1024 * 1024, 0x20));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    // NoSuchBucket, or EPIPE when the server closes the connection while the body is still being written.
    for (let i = 0; i < 3; i++) await assert.rejects(objects.putFile('no-such-bucket', 'capture.jsonl', file));
    const openOnFile = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === file;
        } catch {
          return false;
        }
      }).length;
    await until('the refused uploads to close the file', () => openOnFile() === 0, { timeoutMs: 10_000, detail: () => `${openOnFile()} descriptors still open on it` });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});

/** A TCP server that accepts connections and never answers: an S3 endpoint behind a black hole. */
async function silentServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * An S3 endpoint that resets the connection of each of its first `drops` requests once it has their
 * headers (as a server closing a keep-alive connection the client reuses), then stores bodies.
 */
async function droppingServer(drops: number): Promise<{ url: string; requests: () => number; bodies: Buffer[]; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const bodies: Buffer[] = [];
  let requests = 0;
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let wanted: number | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (wanted === undefined) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        requests++;
        if (requests <= drops) return void socket.resetAndDestroy();
        wanted = Number(/content-length: *(\d+)/i.exec(buffered.subarray(0, end).toString())?.[1] ?? 0);
        buffered = buffered.subarray(end + 4);
      }
      if (buffered.length < wanted) return;
      bodies.push(buffered.subarray(0, wanted));
      buffered = buffered.subarray(wanted);
      wanted = undefined;
      socket.write('HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    bodies,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('putFile sends the file again when S3 resets the connection before answering (the SDK never resends a streamed body), three attempts in all; the error says the connection was closed, not that S3 was silent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-s3-reset-'));
  const bytes = randomBytes(256 * 1024);
  const file = join(dir, 'model.tar.gz');
  await writeFile(file, bytes);
  const twice = await droppingServer(2);
  const always = await droppingServer(Infinity);
  try {
    // Before: the first reset failed the upload (a training job's output was lost), reported as "went 60 s without sending or taking a byte".
    await createS3Objects({ s3EndpointUrl: twice.url, region: 'us-east-1' }).putFile('out', 'job/model.tar.gz', file);
    assert.equal(twice.requests(), 3);
    assert.equal(twice.bodies.length, 1);
    assert.ok(twice.bodies[0]!.equals(bytes), 'the third attempt sent the whole file');
    await assert.rejects(createS3Objects({ s3EndpointUrl: always.url, region: 'us-east-1' }).putFile('out', 'job/model.tar.gz', file), (err: Error) => {
      assert.match(err.message, new RegExp(`^S3 at ${always.url} closed the connection before it answered \\((ECONNRESET|EPIPE)\\) \\(3 attempts\\): check that S3 is running and reachable there$`));
      return true;
    });
    assert.equal(always.requests(), 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await twice.close();
    await always.close();
  }
});

test('an S3 that accepts connections and never answers fails every operation after SMKIT_LOCAL_S3_TIMEOUT_SECONDS of silence (the SDK retries first), naming the endpoint and the setting', { timeout: 60_000 }, async () => {
  const silent = await silentServer();
  const dir = await mkdtemp(join(tmpdir(), 'smkit-s3-silent-'));
  try {
    const file = join(dir, 'model.tar.gz');
    await writeFile(file, 'bytes');
    const objects = createS3Objects({ s3EndpointUrl: silent.url, region: 'us-east-1', s3TimeoutSeconds: 0.1 });
    const timedOut =
      (attempts: string) =>
      (err: unknown): boolean => {
        assert.equal((err as Error).name, 'TimeoutError');
        // On a loaded machine the connect event itself can come later than 0.1 s: then it is the connection that timed out.
        const what = (err as Error).message.includes('did not accept a connection') ? 'did not accept a connection within 0.1 s' : 'went 0.1 s without sending or taking a byte';
        assert.equal(
          (err as Error).message,
          `S3 at ${silent.url} ${what}${attempts}, the limit SMKIT_LOCAL_S3_TIMEOUT_SECONDS sets: check that S3 is running and reachable there, or raise SMKIT_LOCAL_S3_TIMEOUT_SECONDS`,
        );
        return true;
      };
    await Promise.all([
      assert.rejects(objects.get('b', 'model.tar.gz'), timedOut(' (3 attempts)')),
      assert.rejects(objects.list('b', 'prefix/'), timedOut(' (3 attempts)')),
      assert.rejects(objects.put('b', 'result.out', Buffer.from('{}')), timedOut(' (3 attempts)')),
      // A streamed body cannot be sent again, so the SDK does not retry it.
      assert.rejects(objects.putFile('b', 'capture.jsonl', file), timedOut('')),
      assert.rejects(objects.delete('b', 'checkpoint.pt'), timedOut(' (3 attempts)')),
    ]);
    // A connection the client gave up on before this process's event loop accepted it (a loaded
    // machine held the loop past the 0.1 s limit) is still in the listener's queue: the operations
    // can all have failed before the server has counted it.
    await until('every attempt to reach the server', () => silent.connections() >= 13, { timeoutMs: 30_000 }).catch(() => undefined);
    assert.equal(silent.connections(), 13, 'three attempts of each operation, one of the streamed upload');
  } finally {
    await rm(dir, { recursive: true, force: true });
    await silent.close();
  }
});

test('an object whose bytes stop coming part-way fails the read after SMKIT_LOCAL_S3_TIMEOUT_SECONDS of silence; one that keeps coming is read whole, however long it takes', { timeout: 60_000 }, async () => {
  const CHUNKS = 20;
  const server = createServer((req, res) => {
    if (req.url!.startsWith('/b/stalls')) {
      res.writeHead(200, { 'content-length': '1000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(10, 0x61));
      return;
    }
    // 20 chunks 100 ms apart: longer in all than the 1.5 s limit, never silent for it (a loaded
    // machine may stall this process for a while: the gap leaves 1.4 s for that).
    res.writeHead(200, { 'content-length': String(CHUNKS), 'content-type': 'application/octet-stream' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write('x');
      if (++sent === CHUNKS) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const objects = createS3Objects({ s3EndpointUrl: url, region: 'us-east-1', s3TimeoutSeconds: 1.5 });
    const read = async (stream: AsyncIterable<unknown>): Promise<string> => {
      let text = '';
      for await (const chunk of stream) text += String(chunk);
      return text;
    };
    const started = Date.now();
    const [stalled, trickled] = await Promise.allSettled([objects.get('b', 'stalls').then(read), objects.get('b', 'trickles').then(read)]);
    assert.equal(stalled.status, 'rejected');
    assert.equal((stalled.reason as Error).name, 'TimeoutError');
    assert.match((stalled.reason as Error).message, new RegExp(`^S3 at ${url} went 1\\.5 s without sending or taking a byte, the limit SMKIT_LOCAL_S3_TIMEOUT_SECONDS sets: `));
    assert.deepEqual(trickled, { status: 'fulfilled', value: 'x'.repeat(CHUNKS) });
    // Not a timing assertion: shows the object did outlast the limit, so only silence is timed.
    assert.ok(Date.now() - started > 1500, 'the object took longer than the limit');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * An HTTP agent whose connections, to a real server, fail as the operating system fails a connection
 * it gave up on (ETIMEDOUT, from `syscall`): a connect no SYN-ACK answered, or an open connection
 * whose packets or keep-alive probes went unacknowledged, which takes minutes to provoke for real.
 */
class TimingOutAgent extends Agent {
  constructor(private readonly syscall: 'connect' | 'read' | 'connect to each address' | 'connect to each address, the second refused') {
    super({ keepAlive: true });
  }
  override createConnection(options: ClientRequestArgs): Socket {
    const socket = createConnection(options as NetConnectOpts);
    const timedOut = (syscall: string, address = ''): Error => Object.assign(new Error(`${syscall} ETIMEDOUT${address}`), { errno: -110, code: 'ETIMEDOUT', syscall });
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:9'), { errno: -111, code: 'ECONNREFUSED', syscall: 'connect' });
    // A host of several addresses (Node's autoSelectFamily tries each): Node fails the connection
    // with an AggregateError of the attempts' errors, with the first one's code and no syscall. An
    // attempt cut by its own 250 ms attempt timeout (autoSelectFamilyAttemptTimeout), as a stalled
    // event loop can make it, is among them as "connect ETIMEDOUT <address>".
    const attempts = { 'connect to each address': [timedOut('connect', ' 127.0.0.1:9'), timedOut('connect', ' ::1:9')], 'connect to each address, the second refused': [timedOut('connect', ' 127.0.0.1:9'), refused] }[this.syscall as string];
    const error = attempts ? Object.assign(new AggregateError(attempts, ''), { code: 'ETIMEDOUT' }) : timedOut(this.syscall);
    // Once the request has its socket's listeners (attached on a later tick).
    setImmediate(() => socket.destroy(error));
    return socket;
  }
}

test('a connection the operating system gave up on (ETIMEDOUT, which the SDK names a TimeoutError too) fails saying so, not that SMKIT_LOCAL_S3_TIMEOUT_SECONDS ran out', async () => {
  const silent = await silentServer();
  const dir = await mkdtemp(join(tmpdir(), 'smkit-s3-etimedout-'));
  const agents = [new TimingOutAgent('read'), new TimingOutAgent('connect'), new TimingOutAgent('connect to each address'), new TimingOutAgent('connect to each address, the second refused')];
  try {
    const file = join(dir, 'capture.jsonl');
    await writeFile(file, '{}');
    const open = createS3Objects({ s3EndpointUrl: silent.url, region: 'us-east-1' }, { httpAgent: agents[0]! });
    const gaveUp = (attempts: string) => (err: unknown): boolean => {
      assert.equal((err as Error).name, 'TimeoutError');
      assert.equal((err as NodeJS.ErrnoException).code, 'ETIMEDOUT');
      // Before: "S3 at ... went 60 s without sending or taking a byte ..., the limit SMKIT_LOCAL_S3_TIMEOUT_SECONDS sets".
      assert.equal((err as Error).message, `S3 at ${silent.url} stopped acknowledging what was sent on the connection until the operating system gave up on it (ETIMEDOUT)${attempts}: check that S3 is running and reachable there`);
      return true;
    };
    await assert.rejects(open.list('b', 'prefix/'), gaveUp(' (3 attempts)'));
    // A streamed body is sent once.
    await assert.rejects(open.putFile('b', 'capture.jsonl', file), gaveUp(''));
    const connecting = createS3Objects({ s3EndpointUrl: silent.url, region: 'us-east-1' }, { httpAgent: agents[1]! });
    await assert.rejects(connecting.get('b', 'model.tar.gz'), (err: Error) => {
      assert.equal(err.message, `S3 at ${silent.url} did not answer the connection attempt before the operating system gave up on it (ETIMEDOUT) (3 attempts): check that S3 is running and reachable there`);
      assert.equal(((err.cause as NodeJS.ErrnoException).syscall), 'connect');
      return true;
    });
    const connectingToEach = createS3Objects({ s3EndpointUrl: silent.url, region: 'us-east-1' }, { httpAgent: agents[2]! });
    // Each attempt's error, as Node's own attempt timeout may have cut one. Before: "did not answer
    // the connection attempt before the operating system gave up on it (ETIMEDOUT)".
    await assert.rejects(connectingToEach.get('b', 'model.tar.gz'), (err: Error) => {
      assert.equal(err.message, `S3 at ${silent.url} did not answer the connection attempts to its addresses (connect ETIMEDOUT 127.0.0.1:9; connect ETIMEDOUT ::1:9) (3 attempts): check that S3 is running and reachable there`);
      assert.equal(err.name, 'TimeoutError');
      assert.ok(err.cause instanceof AggregateError, String(err.cause));
      return true;
    });
    // One address refusing is S3 not listening there, whichever attempt's code Node gave the whole.
    const oneRefused = createS3Objects({ s3EndpointUrl: silent.url, region: 'us-east-1' }, { httpAgent: agents[3]! });
    await assert.rejects(oneRefused.get('b', 'model.tar.gz'), (err: unknown) => {
      assert.ok(err instanceof AggregateError, String(err));
      // Before: "S3 at ... did not answer the connection attempt before the operating system gave up on it (ETIMEDOUT)".
      assert.equal(err.message, 'connect ETIMEDOUT 127.0.0.1:9; connect ECONNREFUSED ::1:9');
      assert.equal(err.name, 'AggregateError');
      assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      return true;
    });
  } finally {
    for (const agent of agents) agent.destroy();
    await rm(dir, { recursive: true, force: true });
    await silent.close();
  }
});

test('an S3 endpoint whose host has several addresses, none of which takes the connection (localhost at ::1 and 127.0.0.1 with S3 not running), fails with each attempt\'s error in the message, not an empty one', async () => {
  const closed = createNetServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  // The host's addresses as a resolver would give them: Node tries each (autoSelectFamily) and fails with an AggregateError of no message.
  const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
    options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]) : callback(null, '127.0.0.1', 4)) as unknown as TcpNetConnectOpts['lookup'];
  // Attempts of 10 s, not Node's 250 ms: a stalled event loop would record the first refusal as a timeout.
  const agent = new Agent({ lookup, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 10_000 });
  try {
    const objects = createS3Objects({ s3EndpointUrl: `http://s3.localhost.test:${port}`, region: 'us-east-1' }, { httpAgent: agent });
    await assert.rejects(objects.list('b', 'prefix/'), (err: unknown) => {
      assert.ok(err instanceof AggregateError, String(err));
      // Before: "".
      assert.equal(err.message, err.errors.map((e: Error) => e.message).join('; '));
      assert.ok(err.message.startsWith(`connect ECONNREFUSED 127.0.0.1:${port}; connect `), err.message);
      return true;
    });
  } finally {
    agent.destroy();
  }
});

test('list fails with ERR_S3_TOO_MANY_KEYS, naming the prefix and the limit, once it has listed more than maxKeys (100 000 by default); at the limit it lists every key, and with firstOnly the first maxKeys', async () => {
  const s3 = await startLocalS3(['in']);
  try {
    // One page each: s3rver fails to make a continuation token here (DES, which OpenSSL 3 leaves out).
    for (const key of ['p/a', 'p/b', 'p/c', 'p/d', 'q/x']) await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: key, Body: key }));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    assert.deepEqual(await objects.list('in', 'p/'), ['p/a', 'p/b', 'p/c', 'p/d']);
    assert.deepEqual(await objects.list('in', 'p/', { maxKeys: 4 }), ['p/a', 'p/b', 'p/c', 'p/d']);
    // Before, every key of the prefix was listed, however many.
    await assert.rejects(objects.list('in', 'p/', { maxKeys: 3 }), (err: unknown) => {
      assert.ok(isToolkitError(err) && err.code === 'ERR_S3_TOO_MANY_KEYS', String(err));
      assert.equal(err.status, 400);
      assert.equal(
        err.message,
        's3://in/p/ holds more than 3 objects, more than the local SageMaker lists under one prefix (it holds every key in memory and downloads each): use a narrower prefix, or pack the objects into fewer, larger ones (shards, RecordIO files, a tar archive).',
      );
      assert.deepEqual(err.details, { bucket: 'in', prefix: 'p/', maxKeys: 3 });
      return true;
    });
    assert.deepEqual(await objects.list('in', 'p/', { maxKeys: 2, firstOnly: true }), ['p/a', 'p/b']);
  } finally {
    await s3.stop();
  }
});

test('list stops at the page of 1000 keys that takes it past maxKeys, not at the end of the prefix (an S3 answering ListObjectsV2 with eleven pages), and with firstOnly after the first page', async () => {
  // s3rver cannot page (its continuation tokens fail under OpenSSL 3): an S3 answering as the service does, 11 000 keys in eleven pages.
  const tokens: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://s3');
    if (req.method !== 'GET' || url.searchParams.get('list-type') !== '2') return void res.writeHead(500).end();
    const page = Number(url.searchParams.get('continuation-token') ?? '0');
    tokens.push(String(page));
    const keys = Array.from({ length: 1000 }, (_, i) => `<Contents><Key>p/${String(page * 1000 + i).padStart(9, '0')}</Key><Size>1</Size></Contents>`).join('');
    res.writeHead(200, { 'content-type': 'application/xml' }).end(
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>in</Name><Prefix>p/</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys>' +
        `${page < 10 ? `<IsTruncated>true</IsTruncated><NextContinuationToken>${page + 1}</NextContinuationToken>` : '<IsTruncated>false</IsTruncated>'}${keys}</ListBucketResult>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const objects = createS3Objects({ s3EndpointUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1' });
    await assert.rejects(objects.list('in', 'p/', { maxKeys: 2500 }), (err: unknown) => isToolkitError(err) && err.code === 'ERR_S3_TOO_MANY_KEYS' && err.message.startsWith('s3://in/p/ holds more than 2500 objects'));
    assert.deepEqual(tokens, ['0', '1', '2'], 'three pages: the third takes it past 2500');
    tokens.length = 0;
    // Exactly at the limit after a page: one more page tells whether there are more.
    await assert.rejects(objects.list('in', 'p/', { maxKeys: 2000 }), (err: unknown) => isToolkitError(err) && err.code === 'ERR_S3_TOO_MANY_KEYS');
    assert.deepEqual(tokens, ['0', '1', '2']);
    tokens.length = 0;
    // A limit of 10 000 or more is written as the docs write it (100 000 by default); before, 10000.
    await assert.rejects(objects.list('in', 'p/', { maxKeys: 10_000 }), (err: unknown) => isToolkitError(err) && err.code === 'ERR_S3_TOO_MANY_KEYS' && err.message.startsWith('s3://in/p/ holds more than 10 000 objects, '));
    assert.equal(tokens.length, 11);
    tokens.length = 0;
    const first = await objects.list('in', 'p/', { maxKeys: 1, firstOnly: true });
    assert.deepEqual(first, ['p/000000000']);
    assert.deepEqual(tokens, ['0'], 'firstOnly: one page');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('with no AWS_ENDPOINT_URL_S3 and no credentials, a read fails saying that s3:// went to Amazon S3 and what to set, not only the SDK\'s "Could not load credentials from any providers"', async () => {
  // The SDK's credential chain reads these: none of them may give it credentials here.
  const cleared = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const set = { AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(tmpdir(), 'smkit-no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(tmpdir(), 'smkit-no-aws-credentials') };
  const saved = new Map([...cleared, ...Object.keys(set)].map((k) => [k, process.env[k]]));
  for (const k of cleared) delete process.env[k];
  Object.assign(process.env, set);
  try {
    const objects = createS3Objects({ region: 'eu-west-1' });
    await assert.rejects(objects.get('models', 'iris/model.tar.gz'), (err: Error) => {
      assert.equal(err.name, 'CredentialsProviderError');
      assert.match(err.message, /^no AWS credentials were found for Amazon S3 at https:\/\/s3\.eu-west-1\.amazonaws\.com, where s3:\/\/ URLs go while neither AWS_ENDPOINT_URL_S3 nor AWS_ENDPOINT_URL is set: set AWS_ENDPOINT_URL_S3 to a local S3 server/);
      assert.match(err.message, /AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\)$/);
      return true;
    });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("with no AWS_ENDPOINT_URL_S3, a credential provider's own reason (an SSO session to renew) stays in the message beside what to set, not replaced by \"no credentials were found\" alone", async () => {
  // A profile for IAM Identity Center whose session was never opened here: the SDK says to run aws sso login.
  const home = await mkdtemp(join(tmpdir(), 'smkit-sso-home-'));
  const config = join(home, 'config');
  await writeFile(config, '[profile dev]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = Dev\n');
  const cleared = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const set = { HOME: home, AWS_PROFILE: 'dev', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials') };
  const saved = new Map([...cleared, ...Object.keys(set)].map((k) => [k, process.env[k]]));
  for (const k of cleared) delete process.env[k];
  Object.assign(process.env, set);
  try {
    const objects = createS3Objects({ region: 'eu-west-1' });
    await assert.rejects(objects.get('models', 'iris/model.tar.gz'), (err: Error) => {
      assert.equal(err.name, 'CredentialsProviderError');
      assert.match(err.message, /^no AWS credentials were found for Amazon S3 at https:\/\/s3\.eu-west-1\.amazonaws\.com \(.*SSO session.*aws sso login.*\), where s3:\/\/ URLs go while neither AWS_ENDPOINT_URL_S3 nor AWS_ENDPOINT_URL is set: set AWS_ENDPOINT_URL_S3 /);
      return true;
    });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(home, { recursive: true, force: true });
  }
});

test('with no AWS_ENDPOINT_URL_S3 and an AWS_PROFILE that no shared file holds (a typo: deev for dev), a read fails naming the profile and the one meant, as smkit deploy does, not "give credentials (AWS_PROFILE, …)" with AWS_PROFILE set', async () => {
  const home = await mkdtemp(join(tmpdir(), 'smkit-profile-home-'));
  const config = join(home, 'config');
  const credentials = join(home, 'credentials');
  await writeFile(config, '[profile dev]\nregion = eu-west-1\n');
  await writeFile(credentials, '[dev]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n');
  const cleared = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  const set = { HOME: home, AWS_PROFILE: 'deev', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };
  const saved = new Map([...cleared, ...Object.keys(set)].map((k) => [k, process.env[k]]));
  for (const k of cleared) delete process.env[k];
  Object.assign(process.env, set);
  try {
    // The settings smkit local reads from the environment.
    const objects = createS3Objects(loadLocalSageMakerSettings({ ...process.env, AWS_REGION: 'eu-west-1' }));
    await assert.rejects(objects.get('models', 'iris/model.tar.gz'), (err: Error) => {
      assert.equal(err.name, 'CredentialsProviderError');
      assert.match(err.message, /^no AWS credentials were found for Amazon S3 at https:\/\/s3\.eu-west-1\.amazonaws\.com, where s3:\/\/ URLs go .*: AWS_PROFILE is "deev", which is not a profile of \S+config \(\[profile deev\]\) or \S+credentials \(\[deev\]\): did you mean "dev"\? Set AWS_PROFILE to a profile there before starting smkit local/);
      return true;
    });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(home, { recursive: true, force: true });
  }
});
