// StopTransformJob while the job talks to S3, through the real SDK clients, against a stand-in S3
// that stalls: the job ends Stopped and the stalled S3 connection is closed at once, not left open
// until SMKIT_LOCAL_S3_TIMEOUT_SECONDS (60 s here) runs out. The same stand-in shows that an object
// the job would refuse from its length is not downloaded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fsCallbacks, { existsSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { CreateModelCommand, CreateTransformJobCommand, DescribeTransformJobCommand, SageMakerClient, StopTransformJobCommand } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { answerListing, startStandInS3, type StandInS3, type StandInS3Request } from '../../../test/helpers/stand-in-s3.js';
import { until } from '../../../test/helpers/until.js';
import { createS3Objects } from '../s3/client.js';
import type { S3Objects } from '../s3/objects.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

/**
 * What the stand-in S3 does with a prefix's one object: stall before the answer's headers, part-way
 * through its body, on the output's upload, or after the headers of an 8 MiB object; or break the
 * connection part-way through its body on the first two GETs (`get-broken-twice`) or on every one
 * (`get-broken`); or answer the GET once the test says so (`get-late`). `get-model` stalls part-way
 * through a body as `get-body` does, for a model's `ModelDataUrl`. `put-second/` holds two objects,
 * a.csv and b.csv: the upload of a.csv.out is taken, b.csv.out's stalls (`put-over` for the job
 * stop-put-over). The `out` bucket lists the keys it holds (`outKeys`).
 */
type Stall = 'get-headers' | 'get-body' | 'put' | 'get-large' | 'get-broken-twice' | 'get-broken' | 'get-late' | 'get-model' | 'put-second' | 'put-over';

let dir: string;
let s3: StandInS3;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;

/** Starts transform job `name` of `model` on the CSV lines under s3://in/`input`/, its output under s3://out/`name`. */
const createJob = (name: string, input: string, model = 'stop-model') =>
  sm.send(
    new CreateTransformJobCommand({
      TransformJobName: name,
      ModelName: model,
      TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://in/${input}/` } }, ContentType: 'text/csv', SplitType: 'Line' },
      TransformOutput: { S3OutputPath: `s3://out/${name}` },
      TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
    }),
  );

/** The job's status once it is neither InProgress nor Stopping (well within the 60 s S3 timeout). */
const statusOnceEnded = (name: string) =>
  until(
    'the job to stop',
    async () => {
      const s = (await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }))).TransformJobStatus;
      return s === 'Stopping' || s === 'InProgress' ? undefined : s;
    },
    { timeoutMs: 20_000 },
  );
/** GETs of each prefix's object, and the uploads taken (key → body). */
const gets = new Map<string, number>();
const uploads = new Map<string, string>();
/** The paths of the objects deleted. */
const deletes: string[] = [];
/** The keys the `out` bucket holds (an earlier job's output, or uploads taken), which its listing names. */
const outKeys = new Set<string>();
/** The smkit local log's warn lines. */
const warnings: string[] = [];
/** The socket of each stalled request, by kind. */
const stalled = new Map<Stall, Socket>();
/** The GET of a `get-late` object, not answered until the test says so. */
let late: ServerResponse | undefined;

/** The `in` bucket's objects under `prefix`: one CSV, two under `put-second/`. */
function inObjects(prefix: string): { key: string; size: number }[] {
  return [{ key: `${prefix}a.csv`, size: 4 }, ...(prefix === 'put-second/' ? [{ key: `${prefix}b.csv`, size: 4 }] : [])];
}

function serveS3({ req, res, bucket, key, url, isListing }: StandInS3Request): void {
  const prefix = key.split('/')[0];
  const kind = prefix as Stall;
  if (isListing && bucket === 'in') {
    const p = url.searchParams.get('prefix') ?? '';
    return answerListing(res, 'in', p, inObjects(p));
  }
  if (req.method === 'GET' && bucket === 'in') {
    const n = (gets.get(kind) ?? 0) + 1;
    gets.set(kind, n);
    if (kind === 'get-broken' || (kind === 'get-broken-twice' && n <= 2)) {
      res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '8' });
      return void res.write('1,2\n', () => req.socket.destroy());
    }
    if (kind === 'get-broken-twice') return void res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '8' }).end('1,2\n3,4\n');
    if (kind === 'get-headers') return void stalled.set(kind, req.socket);
    if (kind === 'get-late') return void (late = res);
    if (kind === 'get-large') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(8 << 20) });
      res.flushHeaders();
      return void stalled.set(kind, req.socket);
    }
    if (kind === 'get-body' || kind === 'get-model') {
      res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '1000' });
      return void res.write('1,2\n', () => stalled.set(kind, req.socket));
    }
    return void res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '4' }).end('1,2\n');
  }
  if (isListing && bucket === 'out') {
    const p = url.searchParams.get('prefix') ?? '';
    return answerListing(res, 'out', p, [...outKeys].filter((k) => k.startsWith(p)).sort().map((k) => ({ key: k, size: 4 })));
  }
  if (req.method === 'DELETE' && bucket === 'out') {
    deletes.push(url.pathname);
    outKeys.delete(url.pathname.slice('/out/'.length));
    return void res.writeHead(204).end();
  }
  if (req.method === 'PUT' && bucket === 'out' && /\/stop-put-(second|over)\/b\.csv\.out$/.test(url.pathname)) {
    req.resume();
    return void req.on('end', () => stalled.set(url.pathname.includes('/stop-put-over/') ? 'put-over' : 'put-second', req.socket));
  }
  if (req.method === 'PUT' && bucket === 'out' && prefix !== 'stop-put') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    return void req.on('end', () => {
      uploads.set(url.pathname, Buffer.concat(chunks).toString());
      outKeys.add(url.pathname.slice('/out/'.length));
      res.writeHead(200, { etag: '"x"' }).end();
    });
  }
  if (req.method === 'PUT' && bucket === 'out') {
    req.resume();
    return void req.on('end', () => stalled.set('put', req.socket));
  }
  res.writeHead(404).end();
}

/**
 * `objects` whose GetObject of a `get-late/` key is not given the job's signal: its answer comes
 * after the job was stopped, as a response already in when the stop came would.
 */
function answeringLate(objects: S3Objects): S3Objects {
  return { ...objects, get: (bucket, key, options) => objects.get(bucket, key, key.startsWith('get-late/') ? {} : options) };
}

describe('transform jobs stop', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-tj-stop-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    s3 = await startStandInS3(serveS3);
    const s3Objects = answeringLate(createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1', s3TimeoutSeconds: 60 }));
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, s3: s3Objects, log: (level, message) => void (level === 'warn' && warnings.push(message)), settings: { s3EndpointUrl: s3.url, s3TimeoutSeconds: 60 } });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    await sm.send(new CreateModelCommand({ ModelName: 'stop-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
  });

  after(async () => {
    sm?.destroy();
    await local?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['get-headers', 'get-body', 'put'] as const) {
    test(`StopTransformJob while S3 stalls (${kind}): the job is Stopped and the S3 connection is closed`, { timeout: 30_000 }, async () => {
      const name = `stop-${kind}`;
      await createJob(name, kind);
      const socket = await until(`S3 to hold the ${kind} request`, () => stalled.get(kind), { timeoutMs: 20_000 });
      await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
      // Far below the 60 s S3 timeout, which is what ended the job and the connection before.
      const status = await statusOnceEnded(name);
      assert.equal(status, 'Stopped');
      await until('the stalled S3 connection to be closed', () => socket.destroyed || socket.closed, { timeoutMs: 20_000 });
    });
  }


  test("StopTransformJob while the output is uploaded: the job is Stopped and the .out objects it wrote are deleted, the one cut short too, as a stopped job stores no output (a.csv.out stayed in S3)", { timeout: 30_000 }, async () => {
    const name = 'stop-put-second';
    await createJob(name, 'put-second');
    await until('S3 to hold the second upload', () => stalled.get('put-second'), { timeoutMs: 20_000 });
    assert.ok(uploads.has(`/out/${name}/a.csv.out`), 'the first upload was taken');
    await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
    assert.equal(await statusOnceEnded(name), 'Stopped');
    assert.deepEqual(deletes.filter((p) => p.startsWith(`/out/${name}/`)).sort(), [`/out/${name}/a.csv.out`, `/out/${name}/b.csv.out`]);
  });

  test("StopTransformJob while the output is uploaded over an earlier job's at the same S3OutputPath: the objects whose keys held one before are not deleted (the cut-short PUT's is still the earlier job's), a new key's is", { timeout: 30_000 }, async () => {
    const name = 'stop-put-over';
    // An earlier job's b.csv.out; a.csv.out is this job's alone.
    outKeys.add(`${name}/b.csv.out`);
    await createJob(name, 'put-second');
    await until('S3 to hold the second upload', () => stalled.get('put-over'), { timeoutMs: 20_000 });
    assert.ok(uploads.has(`/out/${name}/a.csv.out`), 'the first upload was taken');
    await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
    assert.equal(await statusOnceEnded(name), 'Stopped');
    assert.deepEqual(deletes.filter((p) => p.startsWith(`/out/${name}/`)), [`/out/${name}/a.csv.out`]);
    assert.ok(outKeys.has(`${name}/b.csv.out`), "the earlier job's b.csv.out is still there");
    assert.ok(warnings.some((w) => w.includes(`s3://out/${name}/b.csv.out`)), JSON.stringify(warnings));
  });

  test('StopTransformJob while the model data (ModelDataUrl) is being downloaded: the job is Stopped without waiting for the stalled download, whose S3 connection is closed', { timeout: 30_000 }, async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'stop-model-s3', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://in/get-model/model.tar.gz' } }));
    const name = 'stop-model-download';
    await createJob(name, 'model-input', 'stop-model-s3');
    const socket = await until('S3 to hold the model download', () => stalled.get('get-model'), { timeoutMs: 20_000 });
    await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
    assert.equal(await statusOnceEnded(name), 'Stopped');
    await until('the stalled S3 connection to be closed', () => socket.destroyed || socket.closed, { timeoutMs: 20_000 });
  });

  test('a GetObject that answers after StopTransformJob: the job is Stopped, and the body it no longer wants is destroyed, closing its S3 connection', { timeout: 30_000 }, async () => {
    const name = 'stop-get-late';
    await createJob(name, 'get-late');
    const res = await until('S3 to hold the GET', () => late, { timeoutMs: 20_000 });
    await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
    const status = await statusOnceEnded(name);
    assert.equal(status, 'Stopped');
    // Headers and the start of a body that never ends: left unread, the connection would stay open until the 60 s S3 timeout.
    res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '1000' }).write('1,2\n');
    await until('the S3 connection to be closed', () => res.socket === null || res.socket.destroyed, { timeoutMs: 20_000 });
  });

  test('SplitType None: an object over MaxPayloadInMB is refused from the length S3 gives, without its body being downloaded: the job fails naming its size, and the S3 connection is closed', { timeout: 30_000 }, async () => {
    await sm.send(
      new CreateTransformJobCommand({
        TransformJobName: 'over-payload',
        ModelName: 'stop-model',
        MaxPayloadInMB: 1,
        TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/get-large/' } }, SplitType: 'None' },
        TransformOutput: { S3OutputPath: 's3://out/over-payload' },
        TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
      }),
    );
    // The body never comes: a download would wait for it until the 60 s S3 timeout.
    const job = await until('the job to end', async () => {
      const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'over-payload' }));
      return d.TransformJobStatus === 'InProgress' ? undefined : d;
    }, { timeoutMs: 20_000 });
    assert.equal(job.TransformJobStatus, 'Failed');
    assert.equal(
      job.FailureReason,
      "AlgorithmError: 1 of 1 records failed in 1 input file(s), which got no .out object; the other files' output was written. First: a.csv record 0: record is 8388608 bytes, over MaxPayloadInMB=1 (1048576 bytes); not sent",
    );
    const socket = stalled.get('get-large')!;
    await until('the S3 connection to be closed', () => socket.destroyed || socket.closed, { timeoutMs: 20_000 });
  });

  test('an input object whose body breaks off part-way is downloaded again, up to 3 times: twice broken, the job completes with the whole object (even when the first attempt\'s file open was slow, as on a busy disk); always broken, it fails saying so', { timeout: 30_000 }, async (t) => {
    // The first attempt's open of get-broken-twice's file is held until the third attempt has
    // written it (or 500 ms after that first stream was made, for code that waits for its open;
    // the jobs take about 1 s to get there): Node 20's pipeline rejected before that open, so the
    // retries went on and the late open (flags 'w') truncated the whole download.
    const realCreateWriteStream = fsCallbacks.createWriteStream;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let timer: NodeJS.Timeout | undefined;
    let attempts = 0;
    fsCallbacks.createWriteStream = ((file: string, options?: object) => {
      if (!String(file).includes(`${sep}get-broken-twice${sep}`)) return realCreateWriteStream(file, options as never);
      attempts++;
      if (attempts > 1) {
        const stream = realCreateWriteStream(file, options as never);
        if (attempts === 3) stream.once('finish', release);
        return stream;
      }
      timer = setTimeout(release, 500);
      const open = (...args: unknown[]) => void released.then(() => (fsCallbacks.open as (...a: unknown[]) => void)(...args));
      return realCreateWriteStream(file, { ...options, fs: { open, write: fsCallbacks.write, writev: fsCallbacks.writev, close: fsCallbacks.close } });
    }) as typeof fsCallbacks.createWriteStream;
    syncBuiltinESMExports();
    t.after(() => {
      clearTimeout(timer);
      fsCallbacks.createWriteStream = realCreateWriteStream;
      syncBuiltinESMExports();
    });
    for (const kind of ['get-broken-twice', 'get-broken'] as const) {
      await sm.send(
        new CreateTransformJobCommand({
          TransformJobName: kind,
          ModelName: 'stop-model',
          MaxPayloadInMB: 0,
          TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://in/${kind}/` } }, ContentType: 'text/csv', SplitType: 'None' },
          TransformOutput: { S3OutputPath: `s3://out/${kind}` },
          TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
        }),
      );
    }
    const ended = (name: string) =>
      until(`${name} to end`, async () => {
        const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
        return d.TransformJobStatus === 'InProgress' ? undefined : d;
      }, { timeoutMs: 20_000 });
    const twice = await ended('get-broken-twice');
    assert.equal(twice.TransformJobStatus, 'Completed', twice.FailureReason);
    assert.equal(gets.get('get-broken-twice'), 3);
    // The fake container echoes the body it got: all 8 bytes, not the 4 of a broken download.
    assert.match(uploads.get('/out/get-broken-twice/a.csv.out') ?? '', /"got":"1,2\\n3,4\\n"/);

    const always = await ended('get-broken');
    assert.equal(always.TransformJobStatus, 'Failed');
    assert.equal(gets.get('get-broken'), 3);
    assert.match(always.FailureReason ?? '', /^ClientError: Could not download the input object s3:\/\/in\/get-broken\/a\.csv \(it broke off part-way 3 times\): /);
    assert.equal([...uploads.keys()].some((k) => k.startsWith('/out/get-broken/')), false, 'no output object');
  });

  test('an input object whose local file cannot be written (a full disk: /dev/full) is not downloaded again, and the FailureReason does not say it broke off', { timeout: 30_000, skip: (process.platform !== 'linux' || !existsSync('/dev/full')) && 'needs /dev/full' }, async () => {
    const name = 'full-disk';
    // The job's input folder, where the object is downloaded: its file is the full device.
    const input = join(local.workDir, 'transform-jobs', name, 'input');
    await mkdir(input, { recursive: true });
    await symlink('/dev/full', join(input, 'a.csv'));
    await createJob(name, name);
    const job = await until('the job to end', async () => {
      const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
      return d.TransformJobStatus === 'InProgress' ? undefined : d;
    }, { timeoutMs: 20_000 });
    assert.equal(job.TransformJobStatus, 'Failed');
    assert.match(job.FailureReason ?? '', /^ClientError: Could not download the input object s3:\/\/in\/full-disk\/a\.csv: ENOSPC/);
    assert.equal(gets.get(name as Stall), 1, 'downloaded once');
  });
});
