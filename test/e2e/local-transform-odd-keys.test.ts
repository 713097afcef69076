// Transform jobs whose input keys have slashes right after the prefix, which the repo's local S3
// server (s3rver) cannot store: a manifest suffix starting with '/' ("SageMaker appends the suffix
// elements to the prefix", API_TransformS3DataSource) and a listed key such as batch//a.csv. A
// stand-in S3 serves them; the model is test/helpers' FakeBackend; the real @aws-sdk/client-sagemaker drives the jobs.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateModelCommand, CreateTransformJobCommand, DescribeTransformJobCommand, SageMakerClient, type CreateTransformJobCommandInput } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../helpers/fake-backend.js';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { answerListing, answerS3Error, startStandInS3, type StandInS3, type StandInS3Request } from '../helpers/stand-in-s3.js';
import { until } from '../helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';

/** The objects the stand-in S3 holds, by key (bucket `data`). */
const OBJECTS = new Map<string, string>([
  ['listed//x.csv', '7,8\n'],
  ['manifest.json', JSON.stringify([{ prefix: 's3://data/listed/' }, '/x.csv'])],
  ['slashes/batch//a.csv', '1,2\n'],
  ['both/batch/a.csv', '1,2\n'],
  ['both/batch//a.csv', '3,4\n'],
]);

let s3: StandInS3;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let dir: string;

function serveS3({ res, bucket, key, url, isListing, req }: StandInS3Request): void {
  if (bucket !== 'data') return answerS3Error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  if (isListing) {
    const prefix = url.searchParams.get('prefix') ?? '';
    return answerListing(res, bucket, prefix, [...OBJECTS].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, body]) => ({ key: k, size: body.length })));
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const body = OBJECTS.get(key);
    if (body === undefined) return answerS3Error(res, 404, 'NoSuchKey', `The specified key does not exist: ${key}`);
    return void res.writeHead(200, { 'content-length': String(body.length) }).end(req.method === 'HEAD' ? undefined : body);
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    OBJECTS.set(key, Buffer.concat(chunks).toString());
    res.writeHead(200, { etag: '"0"' }).end();
  });
}

describe('local transform odd keys', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-tj-odd-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    s3 = await startStandInS3(serveS3);
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url, region: 'us-east-1', accountId: '111122223333' } });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    await sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
  });

  after(async () => {
    sm?.destroy();
    await local?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function job(name: string, source: { S3DataType: 'S3Prefix' | 'ManifestFile'; S3Uri: string }): CreateTransformJobCommandInput {
    return {
      TransformJobName: name,
      ModelName: 'm',
      TransformInput: { DataSource: { S3DataSource: source }, ContentType: 'text/csv', SplitType: 'Line' },
      TransformOutput: { S3OutputPath: `s3://data/out/${name}`, AssembleWith: 'Line' },
      TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
    };
  }

  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
      return d.TransformJobStatus === 'InProgress' || d.TransformJobStatus === 'Stopping' ? undefined : d;
    }, { timeoutMs: 60_000, intervalMs: 100 });

  test("a manifest suffix starting with '/' is read as the prefix with it appended (listed//x.csv), its output written as x.csv.out (it was refused as 'not a key relative to its prefix')", async () => {
    await sm.send(new CreateTransformJobCommand(job('manifest-slash', { S3DataType: 'ManifestFile', S3Uri: 's3://data/manifest.json' })));
    const d = await ended('manifest-slash');
    assert.equal(d.TransformJobStatus, 'Completed', d.FailureReason);
    assert.equal((JSON.parse(OBJECTS.get('out/manifest-slash/x.csv.out')!.trim()) as { got: string }).got, '7,8\n');
  });

  test('a listed key with a slash right after the prefix (batch//a.csv) is transformed as a.csv (it was refused as a key with an empty part)', async () => {
    await sm.send(new CreateTransformJobCommand(job('listed-slash', { S3DataType: 'S3Prefix', S3Uri: 's3://data/slashes/batch/' })));
    const d = await ended('listed-slash');
    assert.equal(d.TransformJobStatus, 'Completed', d.FailureReason);
    assert.equal((JSON.parse(OBJECTS.get('out/listed-slash/a.csv.out')!.trim()) as { got: string }).got, '1,2\n');
    // The same with an S3Uri without its last '/': output keys keep the key's part after the S3Uri's last '/' (batch/a.csv.out, as for batch/a.csv).
    await sm.send(new CreateTransformJobCommand(job('listed-slash-no-end', { S3DataType: 'S3Prefix', S3Uri: 's3://data/slashes/batch' })));
    const again = await ended('listed-slash-no-end');
    assert.equal(again.TransformJobStatus, 'Completed', again.FailureReason);
    assert.equal((JSON.parse(OBJECTS.get('out/listed-slash-no-end/batch/a.csv.out')!.trim()) as { got: string }).got, '1,2\n');
  });

  test('two keys that differ only in the slashes after the prefix (batch/a.csv, batch//a.csv) fail the job naming both, as they would be one file and one output object', async () => {
    await sm.send(new CreateTransformJobCommand(job('both-slash', { S3DataType: 'S3Prefix', S3Uri: 's3://data/both/batch/' })));
    const d = await ended('both-slash');
    assert.equal(d.TransformJobStatus, 'Failed');
    // S3 lists keys in byte order: '/' before 'a'.
    assert.match(d.FailureReason ?? '', /^ClientError: The input objects s3:\/\/data\/both\/batch\/\/a\.csv and s3:\/\/data\/both\/batch\/a\.csv differ only in the slashes after the prefix/);
    // Without the S3Uri's last '/', both are batch/a.csv.
    await sm.send(new CreateTransformJobCommand(job('both-slash-no-end', { S3DataType: 'S3Prefix', S3Uri: 's3://data/both/batch' })));
    const again = await ended('both-slash-no-end');
    assert.equal(again.TransformJobStatus, 'Failed');
    assert.match(again.FailureReason ?? '', /^ClientError: The input objects s3:\/\/data\/both\/batch\/\/a\.csv and s3:\/\/data\/both\/batch\/a\.csv differ only in the slashes after the prefix, .*: both would be transformed as batch\/a\.csv,/);
  });
});
