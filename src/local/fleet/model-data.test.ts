// Model data from S3 as the local SageMaker places it in /opt/ml/model: through the real SDK
// clients, against a real local S3 server, the deployment's outcome read with DescribeEndpoint.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient, type ContainerDefinition, type DescribeEndpointCommandOutput } from '@aws-sdk/client-sagemaker';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { until } from '../../../test/helpers/until.js';
import { withHeldFileOpen } from '../../../test/helpers/held-file-open.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../control-plane/local-sagemaker.js';
import { createS3Objects } from '../s3/client.js';
import { linkOrCopy, ModelDataError, multiModelFetcher, resolveModelData, resolveModelDataSource, type S3Reader } from './model-data.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';

let s3: LocalS3;
let local: LocalSageMakerHandle;
let client: SageMakerClient;
let backend: FakeBackend;

describe('model data', () => {
  before(async () => {
    s3 = await startLocalS3(['models']);
    backend = new FakeBackend();
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url } });
    client = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  });

  after(async () => {
    client?.destroy();
    await local?.stop();
    await s3?.stop();
  });

  const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: 'models', Key, Body }));

  /** Creates an endpoint of one container and returns its description once it is no longer Creating. */
  async function deploy(name: string, container: ContainerDefinition): Promise<DescribeEndpointCommandOutput> {
    await client.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ...container } }));
    await client.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await client.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
    return until(`${name} settled`, async () => {
      const d = await client.send(new DescribeEndpointCommand({ EndpointName: name }));
      return d.EndpointStatus === 'Creating' ? undefined : d;
    }, { intervalMs: 20 });
  }

  const prefix = (S3Uri: string): ContainerDefinition => ({ ModelDataSource: { S3DataSource: { S3Uri, S3DataType: 'S3Prefix', CompressionType: 'None' } } });

  test('an S3Prefix whose objects would make a file where another needs a folder (weights and weights/part1) fails the deployment naming both, as S3ModelDataSource says, and starts no container', async () => {
    await put('clash/config.json', '{}');
    await put('clash/weights', 'w');
    await put('clash/weights/part1', 'p');
    const started = backend.started.length;
    const d = await deploy('clash', prefix('s3://models/clash/'));
    assert.equal(d.EndpointStatus, 'Failed');
    assert.match(d.FailureReason!, /^Could not place model data at s3:\/\/models\/clash\/ in \/opt\/ml\/model: the object s3:\/\/models\/clash\/weights would be a file named as the folder that s3:\/\/models\/clash\/weights\/part1 needs\./);
    assert.equal(backend.started.length, started, 'no container started');
  });

  test('an S3Prefix object whose key makes a blank folder name (pfx/ /x) fails the deployment naming it, as S3ModelDataSource forbids blank names', async () => {
    await put('blank/model.bin', 'm');
    await put('blank/ /x', 'x');
    const d = await deploy('blank', prefix('s3://models/blank/'));
    assert.equal(d.EndpointStatus, 'Failed');
    assert.match(d.FailureReason!, /^Could not place model data at s3:\/\/models\/blank\/ in \/opt\/ml\/model: the object s3:\/\/models\/blank\/ \/x would make an empty or blank name there/);
  });

  test('a well-formed S3Prefix still deploys, each object at its key less the prefix', async () => {
    await put('ok/config.json', '{"a":1}');
    await put('ok/weights/part1', 'p1');
    const d = await deploy('ok', prefix('s3://models/ok/'));
    assert.equal(d.EndpointStatus, 'InService', d.FailureReason);
  });

  test('a ModelDataUrl that names a bucket and no key (s3://models/) fails the deployment saying so, not with what reading the bucket listing as a tarball gave (checksum failure)', async () => {
    const d = await deploy('bucket-only', { ModelDataUrl: 's3://models/' });
    assert.equal(d.EndpointStatus, 'Failed');
    assert.match(d.FailureReason!, /^Could not find model data at s3:\/\/models\/: it names a bucket, not an object/);
  });

  test('an S3Prefix holding a folder object (a key ending in /, as the S3 console makes) fails naming it, as S3ModelDataSource says, before anything is downloaded', async () => {
    // s3rver neither lists nor keeps such keys: an S3 answering ListObjectsV2 as the service does.
    const requests: string[] = [];
    const listing = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>models</Name><Prefix>llm/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>' +
      '<Contents><Key>llm/weights/</Key><Size>0</Size></Contents><Contents><Key>llm/weights/part1</Key><Size>2</Size></Contents></ListBucketResult>';
    const server = createServer((req, res) => {
      if (answeredStrayPing(req, res)) return;
      requests.push(`${req.method} ${req.url}`);
      if (req.method === 'GET' && req.url?.startsWith('/models/?') && req.url.includes('list-type=2')) res.writeHead(200, { 'content-type': 'application/xml' }).end(listing);
      else res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cache = await mkdtemp(join(tmpdir(), 'smkit-model-data-'));
    try {
      const objects = createS3Objects({ s3EndpointUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1' });
      await assert.rejects(
        resolveModelDataSource({ S3Uri: 's3://models/llm/', S3DataType: 'S3Prefix', CompressionType: 'None' }, cache, () => objects),
        (err: Error) => err instanceof ModelDataError && err.message.startsWith('Could not place model data at s3://models/llm/ in /opt/ml/model: the object s3://models/llm/weights/ would make an empty or blank name there'),
      );
      assert.equal(requests.length, 1, `only the listing: ${requests.join(', ')}`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('a model object replaced in S3 between deployments (ModelDataUrl, or an uncompressed S3Object) is downloaded again: the new endpoint gets the new bytes, as the service downloads the model for each deployment', async () => {
    const modelFile = (file: string) => readFile(join(backend.started.at(-1)!.optMlDir, 'model', file), 'utf8');
    await put('replaced/model.tar.gz', craftTarGz([{ path: 'model.onnx', body: 'v1' }]));
    await put('replaced/model.bin', 'v1');
    const object = (S3Uri: string): ContainerDefinition => ({ ModelDataSource: { S3DataSource: { S3Uri, S3DataType: 'S3Object', CompressionType: 'None' } } });
    assert.equal((await deploy('replaced-1', { ModelDataUrl: 's3://models/replaced/model.tar.gz' })).EndpointStatus, 'InService');
    assert.equal(await modelFile('model.onnx'), 'v1');
    assert.equal((await deploy('replaced-object-1', object('s3://models/replaced/model.bin'))).EndpointStatus, 'InService');
    assert.equal(await modelFile('model.bin'), 'v1');
    await put('replaced/model.tar.gz', craftTarGz([{ path: 'model.onnx', body: 'v2' }]));
    await put('replaced/model.bin', 'v2');
    assert.equal((await deploy('replaced-2', { ModelDataUrl: 's3://models/replaced/model.tar.gz' })).EndpointStatus, 'InService');
    assert.equal(await modelFile('model.onnx'), 'v2');
    assert.equal((await deploy('replaced-object-2', object('s3://models/replaced/model.bin'))).EndpointStatus, 'InService');
    assert.equal(await modelFile('model.bin'), 'v2');
    // The first endpoint's instance keeps what it was given.
    const first = backend.started.find((spec) => spec.id.startsWith('replaced-1/'))!;
    assert.equal(await readFile(join(first.optMlDir, 'model', 'model.onnx'), 'utf8'), 'v1');
  });

  test('an S3Prefix whose objects were replaced, added or removed between deployments gives the next endpoint the prefix as it now is, and the earlier endpoint keeps its own', async () => {
    const model = () => join(backend.started.at(-1)!.optMlDir, 'model');
    await put('moving/config.json', 'v1');
    await put('moving/weights/part1', 'p1');
    assert.equal((await deploy('moving-1', prefix('s3://models/moving/'))).EndpointStatus, 'InService');
    const first = model();
    assert.deepEqual((await readdir(first, { recursive: true })).sort(), ['config.json', 'weights', 'weights/part1']);
    await put('moving/config.json', 'v2');
    await s3.client.send(new DeleteObjectCommand({ Bucket: 'models', Key: 'moving/weights/part1' }));
    await put('moving/weights/part2', 'p2');
    assert.equal((await deploy('moving-2', prefix('s3://models/moving/'))).EndpointStatus, 'InService');
    assert.deepEqual((await readdir(model(), { recursive: true })).sort(), ['config.json', 'weights', 'weights/part2']);
    assert.equal(await readFile(join(model(), 'config.json'), 'utf8'), 'v2');
    assert.equal(await readFile(join(first, 'config.json'), 'utf8'), 'v1');
  });

  test('a model.tar.gz that cannot be extracted safely fails the deployment naming the URL it came from (ModelDataUrl, or a Gzip S3Object), in the service\'s words, with why', async () => {
    await put('unsafe/model.tar.gz', craftTarGz([{ path: 'model.onnx', body: 'm' }, { path: '../evil', body: 'x' }]));
    await put('unsafe/truncated.tar.gz', craftTarGz([{ path: 'model.onnx', body: 'm' }]).subarray(0, 40));
    const reason = (url: string) => `Endpoint creation failed: Failed to extract model data archive from URL "${url}". Please ensure that the object located at the URL is a valid tar.gz archive: `;
    const unsafe = await deploy('unsafe', { ModelDataUrl: 's3://models/unsafe/model.tar.gz' });
    assert.equal(unsafe.EndpointStatus, 'Failed');
    assert.ok(unsafe.FailureReason!.startsWith(reason('s3://models/unsafe/model.tar.gz')), unsafe.FailureReason);
    assert.match(unsafe.FailureReason!, /unsafe entry "\.\.\/evil" \(path contains a '\.\.' segment\)/);
    const truncated = await deploy('truncated', { ModelDataSource: { S3DataSource: { S3Uri: 's3://models/unsafe/truncated.tar.gz', S3DataType: 'S3Object', CompressionType: 'Gzip' } } });
    assert.equal(truncated.EndpointStatus, 'Failed');
    assert.ok(truncated.FailureReason!.startsWith(reason('s3://models/unsafe/truncated.tar.gz')), truncated.FailureReason);
    assert.match(truncated.FailureReason!, /is not a readable tar or tar\.gz archive/);
  });

  test('an S3Prefix deployed twice at once downloads into one cache: both get the same complete folder, and no partial file or folder is left', async () => {
    await put('together/config.json', 'c');
    await put('together/weights/part1', 'p1');
    const cache = await mkdtemp(join(tmpdir(), 'smkit-model-data-'));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    try {
      const source = { S3Uri: 's3://models/together/', S3DataType: 'S3Prefix', CompressionType: 'None' } as const;
      const [a, b] = await Promise.all([resolveModelDataSource(source, cache, () => objects), resolveModelDataSource(source, cache, () => objects)]);
      assert.equal(a, b);
      assert.deepEqual((await readdir(a, { recursive: true })).sort(), ['config.json', 'weights', 'weights/part1']);
      assert.equal(await readFile(join(a, 'weights', 'part1'), 'utf8'), 'p1');
      const leftovers = (await readdir(cache, { recursive: true })).filter((p) => p.includes('.partial-'));
      assert.deepEqual(leftovers, []);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('a model folder file is a copy of the cached download where a hard link cannot be made (EXDEV: the cache on another filesystem), and a link where it can', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smkit-model-link-'));
    try {
      const blob = join(dir, 'blob');
      await writeFile(blob, 'weights');
      const exdev = async (): Promise<void> => {
        throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
      };
      await linkOrCopy(blob, join(dir, 'copied'), exdev);
      assert.equal(await readFile(join(dir, 'copied'), 'utf8'), 'weights');
      assert.equal((await stat(blob)).nlink, 1, 'a copy, not a link');
      await linkOrCopy(blob, join(dir, 'linked'));
      assert.equal((await stat(blob)).nlink, 2, 'a hard link');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a model folder file that is already there (Model.bin where model.bin goes, on a file system that does not tell case apart: EEXIST) is never overwritten by a copy of another object: the link failure is thrown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smkit-model-link-'));
    try {
      const blob = join(dir, 'blob');
      await writeFile(blob, 'second object');
      await writeFile(join(dir, 'model.bin'), 'first object');
      const fail = (code: string) => async (): Promise<void> => {
        throw Object.assign(new Error(`${code}: link failed`), { code });
      };
      await assert.rejects(linkOrCopy(blob, join(dir, 'model.bin'), fail('EEXIST')), (err: NodeJS.ErrnoException) => err.code === 'EEXIST');
      // Where a link cannot be made, the copy does not replace what is there either.
      await assert.rejects(linkOrCopy(blob, join(dir, 'model.bin'), fail('EXDEV')), (err: NodeJS.ErrnoException) => err.code === 'EEXIST');
      assert.equal(await readFile(join(dir, 'model.bin'), 'utf8'), 'first object');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an S3 object whose cache folder cannot be made fails the deployment saying the disk failed, not that the model data is missing, and closes the S3 body it had opened', async () => {
    await put('unplaceable/model.bin', 'm');
    const cache = await mkdtemp(join(tmpdir(), 'smkit-model-data-'));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    const bodies: Array<Awaited<ReturnType<S3Reader['get']>>> = [];
    const spy: S3Reader = {
      list: (b, p, o) => objects.list(b, p, o),
      get: async (b, k, o) => {
        const body = await objects.get(b, k, o);
        bodies.push(body);
        return body;
      },
    };
    try {
      // The cache's s3 folder is a file: no folder can be made under it.
      await writeFile(join(cache, 's3'), '');
      await assert.rejects(
        resolveModelDataSource({ S3Uri: 's3://models/unplaceable/model.bin', S3DataType: 'S3Object', CompressionType: 'None' }, cache, () => spy),
        (err: Error) => err instanceof ModelDataError && /^Could not store model data from s3:\/\/models\/unplaceable\/model\.bin on this machine's disk \(smkit's model cache\): E[A-Z]+: /.test(err.message),
      );
      assert.equal(bodies.length, 1);
      assert.equal(bodies[0]!.destroyed, true, 'the unread body was closed');
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('an S3Prefix object replaced between the listing and its download is placed as its new version, and one removed meanwhile fails the deployment naming it', async () => {
    await put('racing/config.json', 'v1');
    await put('racing/weights', 'w');
    const cache = await mkdtemp(join(tmpdir(), 'smkit-model-data-'));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    // S3 changes once the prefix has been listed, before any object of it is read.
    const listThen = (change: () => Promise<unknown>): S3Reader => ({
      get: (b, k, o) => objects.get(b, k, o),
      list: async (b, p, o) => {
        const keys = await objects.list(b, p, o);
        await change();
        return keys;
      },
    });
    const source = { S3Uri: 's3://models/racing/', S3DataType: 'S3Prefix', CompressionType: 'None' } as const;
    try {
      const folder = await resolveModelDataSource(source, cache, () => listThen(() => put('racing/config.json', 'v2')));
      assert.equal(await readFile(join(folder, 'config.json'), 'utf8'), 'v2');
      await assert.rejects(
        resolveModelDataSource(source, cache, () => listThen(() => s3.client.send(new DeleteObjectCommand({ Bucket: 'models', Key: 'racing/weights' })))),
        (err: Error) => err instanceof ModelDataError && err.message.startsWith('Could not find model data at s3://models/racing/weights: '),
      );
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('a ModelDataUrl whose name does not end in .tar.gz or .tgz is extracted as the model.tar.gz it must be: a valid one deploys, another fails naming its s3:// URL, not smkit\'s local copy', async () => {
    await put('named/model.bin', craftTarGz([{ path: 'model.onnx', body: 'm' }]));
    await put('named/weights.zip', 'PK not a tar');
    assert.equal((await deploy('named-bin', { ModelDataUrl: 's3://models/named/model.bin' })).EndpointStatus, 'InService');
    assert.equal(await readFile(join(backend.started.at(-1)!.optMlDir, 'model', 'model.onnx'), 'utf8'), 'm');
    const zip = await deploy('named-zip', { ModelDataUrl: 's3://models/named/weights.zip' });
    assert.equal(zip.EndpointStatus, 'Failed');
    assert.ok(zip.FailureReason!.startsWith('Endpoint creation failed: Failed to extract model data archive from URL "s3://models/named/weights.zip". Please ensure that the object located at the URL is a valid tar.gz archive: '), zip.FailureReason);
    assert.ok(!zip.FailureReason!.includes('model-data'), `no local cache path: ${zip.FailureReason}`);
  });

  test('multi-model TargetModels a and a/b.tar.gz fetched at once: whichever comes second is refused naming both keys, as it is one after the other, not with the file system\'s EISDIR or EEXIST', async () => {
    await put('mme-race/a', 'model a');
    await put('mme-race/a/b.tar.gz', 'model b');
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    const clash =
      'the objects s3://models/mme-race/a and s3://models/mme-race/a/b.tar.gz cannot both be models of this endpoint in the local SageMaker, which stores each TargetModel\'s object under its key after the prefix: ' +
      'a would be a file where a/b.tar.gz needs a folder. Rename one of them.';
    for (const [held, second] of [['a', 'a/b.tar.gz'], ['a/b.tar.gz', 'a']] as const) {
      const folder = await mkdtemp(join(tmpdir(), 'smkit-mme-race-'));
      let release!: () => void;
      const released = new Promise<void>((ok) => (release = ok));
      // The held model's bytes flow only once released: its fetch has passed its clash check and waits in its download.
      const holding: S3Reader = {
        list: (b, p, o) => objects.list(b, p, o),
        get: async (b, k, o) => {
          const body = await objects.get(b, k, o);
          if (k !== `mme-race/${held}`) return body;
          const gate = new PassThrough();
          void released.then(() => pipeline(body, gate)).catch(() => undefined);
          return gate;
        },
      };
      const fetch = multiModelFetcher('s3://models/mme-race/', folder, () => holding)!;
      try {
        const first = fetch(held, new AbortController().signal);
        await until(`the fetch of ${held} downloading`, async () => (await readdir(folder, { recursive: true })).some((f) => f.startsWith(`${held}.partial-`)), { intervalMs: 20 });
        await assert.rejects(fetch(second, new AbortController().signal), (err: Error) => {
          assert.equal(err.message, clash);
          return true;
        });
        release();
        assert.deepEqual(await first, { found: true, at: `s3://models/mme-race/${held}` });
        assert.equal(await readFile(join(folder, held), 'utf8'), held === 'a' ? 'model a' : 'model b');
        assert.deepEqual((await readdir(folder, { recursive: true })).sort(), held === 'a' ? ['a'] : ['a', 'a/b.tar.gz'], 'nothing of the refused fetch is left');
        // Once the first is stored, the second is refused from what is on disk, as before.
        await assert.rejects(fetch(second, new AbortController().signal), (err: Error) => err.message === clash);
      } finally {
        release();
        await rm(folder, { recursive: true, force: true });
      }
    }
  });

  test('multi-model: a fetch of a/b.tar.gz that failed in its download leaves no folder in the way of TargetModel a, which is then fetched, not failed with the file system\'s EISDIR', async () => {
    await put('mme-left/a', 'model a');
    await put('mme-left/a/b.tar.gz', 'model b');
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    // a/b.tar.gz's bytes never flow: its fetch waits in its download until aborted.
    const stalling: S3Reader = {
      list: (b, p, o) => objects.list(b, p, o),
      get: async (b, k, o) => {
        const body = await objects.get(b, k, o);
        if (k !== 'mme-left/a/b.tar.gz') return body;
        body.destroy();
        return new PassThrough();
      },
    };
    const folder = await mkdtemp(join(tmpdir(), 'smkit-mme-left-'));
    try {
      const fetch = multiModelFetcher('s3://models/mme-left/', folder, () => stalling)!;
      const abort = new AbortController();
      const failed = fetch('a/b.tar.gz', abort.signal);
      await until('the fetch of a/b.tar.gz downloading', async () => (await readdir(folder, { recursive: true })).some((f) => f.startsWith('a/b.tar.gz.partial-')), { intervalMs: 20 });
      abort.abort(new Error('invocation closed'));
      await assert.rejects(failed, /^Error: invocation closed$/);
      assert.deepEqual(await fetch('a', new AbortController().signal), { found: true, at: 's3://models/mme-left/a' });
      assert.equal(await readFile(join(folder, 'a'), 'utf8'), 'model a');
      assert.deepEqual(await readdir(folder, { recursive: true }), ['a']);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('a single model whose S3 body breaks off part-way is reported as a cut transfer to retry, not as model data not found', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'smkit-cut-'));
    try {
      let served = 0;
      const cut: S3Reader = {
        list: async () => [],
        get: async () => {
          served++;
          let sent = false;
          return Object.assign(new Readable({ read() { if (sent) this.destroy(new Error('aborted')); else { sent = true; this.push(Buffer.alloc(1024)); } } }), { etag: '"e1"' });
        },
      };
      await assert.rejects(resolveModelData('s3://models/cut/model.tar.gz', 'SingleModel', cache, () => cut), (err: unknown) => {
        assert.ok(err instanceof ModelDataError);
        assert.equal(err.message, 'Could not download model data from s3://models/cut/model.tar.gz: the transfer broke off part-way (aborted); nothing of it was kept. Try again.');
        return true;
      });
      assert.equal(served, 1);
      // A missing object is still "Could not find model data".
      const missing: S3Reader = { list: async () => [], get: async () => Promise.reject(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' })) };
      await assert.rejects(resolveModelData('s3://models/cut/none.tar.gz', 'SingleModel', cache, () => missing), /^ModelDataError: Could not find model data at s3:\/\/models\/cut\/none\.tar\.gz: The specified key does not exist\.$/);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('a download whose S3 body breaks off before its partial file is open (the open slow, as on a busy disk) leaves no partial file: Node 20\'s pipeline rejected before that open, which created the file after its removal', async () => {
    const broken: S3Reader = {
      list: async () => [],
      get: async () => new Readable({ read() { this.destroy(new Error('socket hang up')); } }),
    };
    const folder = await mkdtemp(join(tmpdir(), 'smkit-mme-broken-'));
    try {
      const fetch = multiModelFetcher('s3://models/mme-broken/', folder, () => broken)!;
      const outcome = await withHeldFileOpen(() => fetch('m.tar.gz', new AbortController().signal));
      assert.ok(outcome.status === 'rejected' && (outcome.reason as Error).name === 'ModelFetchUnavailableError' && /^s3:\/\/models\/mme-broken\/m\.tar\.gz: the transfer broke off part-way \(socket hang up\)$/.test((outcome.reason as Error).message), String(outcome.status === 'rejected' ? outcome.reason : 'fetched'));
      assert.deepEqual(await readdir(folder, { recursive: true }), []);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('a ModelDataUrl whose download breaks off part-way fails saying so, not that the model data could not be found (it was), and keeps nothing of it', async () => {
    const cut: S3Reader = {
      list: async () => [],
      get: async () => {
        let sent = false;
        return new Readable({
          read() {
            if (!sent) {
              sent = true;
              this.push(Buffer.alloc(64 * 1024));
            } else this.destroy(new Error('aborted'));
          },
        });
      },
    };
    const cache = await mkdtemp(join(tmpdir(), 'smkit-cut-'));
    try {
      await assert.rejects(resolveModelData('s3://models/cut/model.tar.gz', 'SingleModel', cache, () => cut), (err: Error) => {
        assert.ok(err instanceof ModelDataError, String(err));
        assert.equal(err.message, 'Could not download model data from s3://models/cut/model.tar.gz: the transfer broke off part-way (aborted); nothing of it was kept. Try again.');
        return true;
      });
      const left = (await readdir(cache, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory());
      assert.deepEqual(left, []);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  test('a multi-model fetch S3 failed on its side (a 5xx, no answer) is a ModelFetchUnavailableError, the front door\'s retryable 503; no credentials for S3, a 403 or a 400 stay errors of their own, not to be retried', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'smkit-mme-fail-'));
    const failing = (err: Error): S3Reader => ({ list: async () => [], get: async () => Promise.reject(err) });
    const outcome = async (err: Error) => {
      const fetch = multiModelFetcher('s3://models/mme-fail/', folder, () => failing(err))!;
      return (await fetch('m.tar.gz', new AbortController().signal).then(() => assert.fail('fetched'), (reason: Error) => reason)).name;
    };
    try {
      assert.equal(await outcome(Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })), 'ModelFetchUnavailableError');
      assert.equal(await outcome(Object.assign(new Error('S3 at http://127.0.0.1:1 refused the connection'), { name: 'AggregateError', code: 'ECONNREFUSED' })), 'ModelFetchUnavailableError');
      // What createS3Objects makes of the SDK's credential chain finding none: nothing a retry changes.
      assert.equal(await outcome(Object.assign(new Error('no AWS credentials were found for Amazon S3 at https://s3.us-east-1.amazonaws.com'), { name: 'CredentialsProviderError' })), 'Error');
      assert.equal(await outcome(Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })), 'Error');
      assert.equal(await outcome(Object.assign(new Error('The provided token has expired.'), { name: 'ExpiredToken', $metadata: { httpStatusCode: 400 } })), 'Error');
      assert.deepEqual(await readdir(folder, { recursive: true }), []);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('a multi-model prefix is checked by listing one key: one holding more models than a listing may (ERR_S3_TOO_MANY_KEYS; 2 here) still deploys, while an S3Prefix as large fails naming the prefix and the limit, and a multi-model prefix that cannot be read (NoSuchBucket) still fails', async () => {
    for (const key of ['mme-many/a.tar.gz', 'mme-many/b.tar.gz', 'mme-many/c.tar.gz']) await put(key, 'not read');
    const cache = await mkdtemp(join(tmpdir(), 'smkit-model-data-'));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    // The local SageMaker's client, with a listing limit of 2 where the caller sets none.
    const bounded: S3Reader = { get: (b, k, o) => objects.get(b, k, o), list: (b, p, o) => objects.list(b, p, { maxKeys: 2, ...o }) };
    try {
      // Before, the check listed every key of the prefix, and so failed here.
      const folder = await resolveModelData('s3://models/mme-many/', 'MultiModel', cache, () => bounded);
      assert.deepEqual(await readdir(folder), [], 'no model is fetched before it is invoked');
      await assert.rejects(
        resolveModelDataSource({ S3Uri: 's3://models/mme-many/', S3DataType: 'S3Prefix', CompressionType: 'None' }, cache, () => bounded),
        (err: Error) => err instanceof ModelDataError && /^Could not list model data at s3:\/\/models\/mme-many\/: s3:\/\/models\/mme-many\/ holds more than 2 objects, /.test(err.message) && (err.cause as { code?: string }).code === 'ERR_S3_TOO_MANY_KEYS',
      );
      // One key asked for still tells a prefix that cannot be read.
      await assert.rejects(
        resolveModelData('s3://no-such-bucket/mme/', 'MultiModel', cache, () => bounded),
        (err: Error) => err instanceof ModelDataError && err.message.startsWith('Could not list model data at s3://no-such-bucket/mme/: ') && (err.cause as Error).name === 'NoSuchBucket',
      );
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });
});
