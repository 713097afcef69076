import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  AddTagsCommand,
  CreateModelCommand,
  DeleteTagsCommand,
  ListTagsCommand,
  CreateTransformJobCommand,
  DescribeTransformJobCommand,
  ListTransformJobsCommand,
  SageMakerClient,
  StopTransformJobCommand,
  waitUntilTransformJobCompletedOrStopped,
  type CreateTransformJobCommandInput,
} from '@aws-sdk/client-sagemaker';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { maskedCrc32c } from '../transform/records.js';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { until as untilEvery, type NotYet, type UntilOptions } from '../../../test/helpers/until.js';
import { createS3Objects } from '../s3/client.js';
import { createLocalSageMaker, startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let s3: LocalS3;
let backend: FakeBackend;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
const warnings: string[] = [];
/** The manifest cap of this file's local SageMaker: 64 MiB by default, lowered so that a test need not upload that much. */
const MANIFEST_CAP = 1024 * 1024;

async function object(bucket: string, key: string): Promise<string> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray()).toString('utf8');
}

async function exists(bucket: string, key: string): Promise<boolean> {
  return s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

function job(name: string, over: Partial<CreateTransformJobCommandInput> = {}): CreateTransformJobCommandInput {
  return {
    TransformJobName: name,
    ModelName: 'tj-model',
    TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/batch/' } }, ContentType: 'text/csv', SplitType: 'Line' },
    TransformOutput: { S3OutputPath: `s3://out/${name}`, AssembleWith: 'Line' },
    TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
    ...over,
  };
}

// Most probes here are SDK calls for a job that takes a second or so: every 100 ms, not until's default 50.
const until = <T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, options: UntilOptions = {}): Promise<T> => untilEvery(what, probe, { intervalMs: 100, ...options });

// Well within the minute the stopped job's record would take to answer.
const wait = (name: string) => waitUntilTransformJobCompletedOrStopped({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { TransformJobName: name });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-tj-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  s3 = await startLocalS3(['in', 'out']);
  backend = new FakeBackend();
  local = await startLocalSageMaker({
    port: 0,
    backendImpl: backend,
    startupTimeoutMs: 5_000,
    alarmsAndScaling: false,
    settings: { s3EndpointUrl: s3.url },
    maxManifestBytes: MANIFEST_CAP,
    log: (level, message) => void (level === 'warn' && warnings.push(message)),
  });
  sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  await sm.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_TAG: 'model' } } }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'batch/a.csv', Body: '1,2\n3,4\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'batch/sub/b.csv', Body: '5,6\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'listed/x.csv', Body: '7,8\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'manifest.json', Body: JSON.stringify([{ prefix: 's3://in/listed/' }, 'x.csv']) }));
});

after(async () => {
  sm?.destroy();
  await local?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('transform jobs run, fail and stop through the SDK, with its waiter', async () => {
  await sm.send(new CreateTransformJobCommand(job('tj-ok', { BatchStrategy: 'SingleRecord', MaxConcurrentTransforms: 2, Environment: { FAKE_TAG: 'job' } })));
  await sm.send(new CreateTransformJobCommand(job('tj-manifest', { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: 's3://in/manifest.json' } }, ContentType: 'text/csv', SplitType: 'Line' } })));
  await sm.send(new CreateTransformJobCommand(job('tj-fail', { Environment: { FAKE_STATUS: '500' } })));
  await sm.send(new CreateTransformJobCommand(job('tj-stop', { Environment: { FAKE_DELAY_MS: '60000' } })));
  const running = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-stop' }));
  assert.equal(running.TransformJobStatus, 'InProgress');
  // Stopped with a record out: the container's answer would take a minute.
  await until('the tj-stop container to get a record', () => backend.requests.some((r) => r.id.includes('tj-stop') && r.call === 'POST /invocations'));
  await sm.send(new StopTransformJobCommand({ TransformJobName: 'tj-stop' }));
  const stopping = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-stop' }));
  assert.ok(stopping.TransformJobStatus === 'Stopping' || stopping.TransformJobStatus === 'Stopped', stopping.TransformJobStatus);

  const [ok, manifest, failed, stopped] = await Promise.allSettled([wait('tj-ok'), wait('tj-manifest'), wait('tj-fail'), wait('tj-stop')]);
  assert.equal(ok.status, 'fulfilled');
  assert.equal(manifest.status, 'fulfilled');
  assert.equal(failed.status, 'rejected', 'the waiter fails on a Failed job');
  assert.equal(stopped.status, 'fulfilled');

  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-ok' }));
  assert.equal(done.TransformJobStatus, 'Completed');
  assert.ok(done.TransformStartTime && done.TransformEndTime && done.TransformEndTime >= done.TransformStartTime);
  assert.equal(done.BatchStrategy, 'SingleRecord');
  const lines = (await object('out', 'tj-ok/a.csv.out')).trim().split('\n').map((l) => JSON.parse(l) as { tag: string; got: string });
  assert.deepEqual(lines.map((l) => [l.tag, l.got]), [['job', '1,2\n'], ['job', '3,4\n']]);
  assert.equal((JSON.parse((await object('out', 'tj-ok/sub/b.csv.out')).trim()) as { got: string }).got, '5,6\n');
  const spec = backend.started.find((s) => s.id.includes('tj-ok'))!;
  assert.equal(spec.env.SAGEMAKER_BATCH, 'true');
  assert.equal(spec.env.SAGEMAKER_BATCH_STRATEGY, 'SINGLE_RECORD');
  assert.equal(spec.env.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS, '2');
  assert.ok(backend.stopped.includes(spec.id), 'the job container is stopped when the job ends');

  assert.equal((JSON.parse((await object('out', 'tj-manifest/x.csv.out')).trim()) as { got: string }).got, '7,8\n');

  const fail = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-fail' }));
  assert.equal(fail.TransformJobStatus, 'Failed');
  assert.match(fail.FailureReason ?? '', /HTTP 500/);
  assert.equal(await exists('out', 'tj-fail/a.csv.out'), false);

  const stop = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-stop' }));
  assert.equal(stop.TransformJobStatus, 'Stopped');
  assert.equal(await exists('out', 'tj-stop/a.csv.out'), false, 'a stopped job writes no output');

  const completed = await sm.send(new ListTransformJobsCommand({ StatusEquals: 'Completed', SortBy: 'Name', SortOrder: 'Ascending' }));
  assert.deepEqual(completed.TransformJobSummaries?.map((j) => j.TransformJobName), ['tj-manifest', 'tj-ok']);
  const first = await sm.send(new ListTransformJobsCommand({ NameContains: 'tj-', SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 3 }));
  assert.deepEqual(first.TransformJobSummaries?.map((j) => j.TransformJobName), ['tj-fail', 'tj-manifest', 'tj-ok']);
  const second = await sm.send(new ListTransformJobsCommand({ NameContains: 'tj-', SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 3, NextToken: first.NextToken! }));
  assert.deepEqual(second.TransformJobSummaries?.map((j) => [j.TransformJobName, j.TransformJobStatus]), [['tj-stop', 'Stopped']]);
  assert.equal(second.NextToken, undefined);

  await assert.rejects(sm.send(new StopTransformJobCommand({ TransformJobName: 'tj-ok' })), { name: 'ValidationException', message: /Completed; only an InProgress job can be stopped/ });
  await assert.rejects(sm.send(new CreateTransformJobCommand(job('TJ-OK'))), { name: 'ResourceInUse' });
});

test('CreateTransformJob refuses what the service refuses, before a job exists', async () => {
  const refused = async (input: CreateTransformJobCommandInput, message: RegExp, name = 'ValidationException'): Promise<void> => {
    await assert.rejects(sm.send(new CreateTransformJobCommand(input)), { name, message });
    await assert.rejects(sm.send(new DescribeTransformJobCommand({ TransformJobName: input.TransformJobName! })), { name: 'ValidationException', message: /Could not find requested job|validation error/ });
  };
  await refused(job('bad_name'), /Value 'bad_name' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await refused(job('tj-nomodel', { ModelName: 'missing' }), /Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model\/missing"/);
  await refused(job('tj-empty', { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/nothing/' } } } }), /No S3 objects found under S3 URL "s3:\/\/in\/nothing\/"/);
  await refused(job('tj-nobucket', { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://no-such-bucket/x/' } } } }), /No S3 objects found under S3 URL "s3:\/\/no-such-bucket\/x\/".*\(S3 answered: .+\)/);
  await refused(job('tj-payload', { MaxPayloadInMB: 50, MaxConcurrentTransforms: 3 }), /MaxConcurrentTransforms × MaxPayloadInMB must be at most 100 MB/);
  // A 32-bit integer, as the API's (with no maximum in the model, so not a constraint violation): the job reached the container, which failed to start on SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=3000000000.
  await refused(job('tj-concurrent', { MaxConcurrentTransforms: 3_000_000_000 }), /^maxConcurrentTransforms must be a 32-bit integer, -2147483648 to 2147483647 \(got 3000000000\)\.$/, 'SerializationException');
  // Not a local limit: the API reference lists ManifestFile and S3Prefix as the compatible values.
  await refused(job('tj-augmented', { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'AugmentedManifestFile', S3Uri: 's3://in/manifest.json' } } } }), /^S3DataType AugmentedManifestFile is not compatible with transform jobs: TransformInput\.DataSource\.S3DataSource\.S3DataType takes S3Prefix or ManifestFile/);
  await refused(job('tj-nul', { Environment: { FINE: 'x', BAD: 'a\u0000b' } }), /^Environment value of BAD holds a NUL character \(\\u0000\), which no process environment can carry: remove it\.$/);
  await refused(job('tj-filter', { DataProcessing: { InputFilter: 'features' } }), /DataProcessing.InputFilter/);
  await refused(job('tj-count', { TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 0 } }), /at 'transformResources.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1/);
  await refused(job('tj-type', { TransformResources: { InstanceType: 'ml.m5' as 'ml.m5.large', InstanceCount: 1 } }), /at 'transformResources.instanceType' failed to satisfy constraint/);
  await refused(job('tj-ami', { TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1, TransformAmiVersion: 'al2 gpu' } }), /Value 'al2 gpu' at 'transformResources.transformAmiVersion' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await refused(job('tj-experiment', { ExperimentConfig: { ExperimentName: 'my experiment' } }), /Value 'my experiment' at 'experimentConfig.experimentName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await refused(job('tj-run', { ExperimentConfig: { RunName: '' } }), /at 'experimentConfig.runName' failed to satisfy constraint: Member must have length greater than or equal to 1/);
  await refused(job('tj-tags', { Tags: [{ Key: 'aws:team', Value: 'x' }] }), /System prefix 'aws:' reserved for AWS usage in tag key: aws:team/);
  await refused(job('tj-tags', { Tags: [{ Key: 'team', Value: 'x' }, { Key: 'team', Value: 'y' }] }), /^Duplicate tag key: team is given more than once; give each key once\.$/);
  await assert.rejects(sm.send(new StopTransformJobCommand({ TransformJobName: 'tj-none' })), { name: 'ValidationException', message: /Could not find requested job with name tj-none/ });
});

test('transform jobs running at once are bounded by SMKIT_LOCAL_MAX_INSTANCES (one local instance each)', async () => {
  const small = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url, maxInstances: 1 } });
  const client = new SageMakerClient(localClientConfig(small.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await client.send(new CreateTransformJobCommand(job('tj-hold', { Environment: { FAKE_DELAY_MS: '60000' } })));
    await assert.rejects(client.send(new CreateTransformJobCommand(job('tj-more'))), { name: 'ResourceLimitExceeded', message: /'local instances for transform job usage' is 1 Instances, with current utilization of 1 Instances/ });
    await client.send(new StopTransformJobCommand({ TransformJobName: 'tj-hold' }));
  } finally {
    client.destroy();
    await small.stop();
  }
});

test('InstanceCount 2 runs two instances that share the input objects (object k on instance k mod 2), each taking MaxConcurrentTransforms requests at once', async () => {
  const name = 'tj-two';
  await sm.send(
    new CreateTransformJobCommand(
      job(name, { BatchStrategy: 'SingleRecord', MaxConcurrentTransforms: 1, Environment: { FAKE_HOLD: 'true' }, TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 2 } }),
    ),
  );
  const calls = () => backend.requests.filter((r) => r.id.startsWith(`transform-job/${name}/`) && r.call === 'POST /invocations');
  // Every answer is held: each instance has its one request (MaxConcurrentTransforms 1) out, and no more.
  await until('a request out at each instance', () => calls().length === 2);
  assert.deepEqual(calls().map((c) => c.id).sort(), [`transform-job/${name}/i0/primary`, `transform-job/${name}/i1/primary`]);
  await until(`${name} to end`, async () => {
    backend.release();
    return (await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }))).TransformJobStatus !== 'InProgress';
  });
  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(done.TransformJobStatus, 'Completed', done.FailureReason);
  const answers = async (key: string) => (await object('out', `${name}/${key}`)).trim().split('\n').map((l) => JSON.parse(l) as { id: string; got: string });
  // batch/a.csv is object 0 (instance 0), batch/sub/b.csv object 1 (instance 1).
  assert.deepEqual((await answers('a.csv.out')).map((a) => [a.id, a.got]), [[`transform-job/${name}/i0/primary`, '1,2\n'], [`transform-job/${name}/i0/primary`, '3,4\n']]);
  assert.deepEqual((await answers('sub/b.csv.out')).map((a) => [a.id, a.got]), [[`transform-job/${name}/i1/primary`, '5,6\n']]);
  assert.deepEqual(backend.started.filter((s) => s.id.startsWith(`transform-job/${name}/`)).length, 2);
  for (const id of [`transform-job/${name}/i0/primary`, `transform-job/${name}/i1/primary`]) assert.ok(backend.stopped.includes(id), `${id} is stopped when the job ends`);
});

test('an InstanceCount over the input objects starts one instance per object; one over SMKIT_LOCAL_MAX_INSTANCES, or that would take the running jobs past it, is ResourceLimitExceeded', async () => {
  const name = 'tj-many';
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: 's3://in/manifest.json' } }, ContentType: 'text/csv', SplitType: 'Line' }, TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 5 } })));
  const status = async () => (await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }))).TransformJobStatus;
  await until(`${name} to end`, async () => (await status()) !== 'InProgress');
  assert.equal(await status(), 'Completed');
  assert.deepEqual(backend.started.filter((s) => s.id.startsWith(`transform-job/${name}/`)).map((s) => s.id), [`transform-job/${name}/i0/primary`], 'the manifest lists one object');

  const small = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url, maxInstances: 3 } });
  const client = new SageMakerClient(localClientConfig(small.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    const count = (InstanceCount: number) => ({ TransformResources: { InstanceType: 'ml.m5.large' as const, InstanceCount } });
    await assert.rejects(client.send(new CreateTransformJobCommand(job('tj-four', count(4)))), {
      name: 'ResourceLimitExceeded',
      message: /is 3 Instances, with current utilization of 0 Instances and a request delta of 4 Instances\. Ask for at most 3 \(TransformResources\.InstanceCount\), or raise SMKIT_LOCAL_MAX_INSTANCES/,
    });
    await client.send(new CreateTransformJobCommand(job('tj-hold2', { Environment: { FAKE_HOLD: 'true' }, ...count(2) })));
    await assert.rejects(client.send(new CreateTransformJobCommand(job('tj-two-more', count(2)))), { name: 'ResourceLimitExceeded', message: /current utilization of 2 Instances and a request delta of 2 Instances/ });
    await client.send(new StopTransformJobCommand({ TransformJobName: 'tj-hold2' }));
  } finally {
    client.destroy();
    await small.stop();
  }
});

test('CreateTransformJob keeps its Tags, and ListTags, AddTags and DeleteTags take the job ARN', async () => {
  const { TransformJobArn } = await sm.send(new CreateTransformJobCommand(job('tj-tags', { Tags: [{ Key: 'team', Value: 'ml' }] })));
  const tags = async () => (await sm.send(new ListTagsCommand({ ResourceArn: TransformJobArn }))).Tags;
  assert.deepEqual(await tags(), [{ Key: 'team', Value: 'ml' }]);
  await sm.send(new AddTagsCommand({ ResourceArn: TransformJobArn, Tags: [{ Key: 'stage', Value: 'dev' }] }));
  await sm.send(new DeleteTagsCommand({ ResourceArn: TransformJobArn, TagKeys: ['team'] }));
  assert.deepEqual(await tags(), [{ Key: 'stage', Value: 'dev' }]);
  await wait('tj-tags');
});

test('an S3 that fails (500 InternalError) while the input is listed fails the job with a ClientError saying so, not the ValidationException of an empty prefix', async () => {
  let lists = 0;
  const failing = createServer((req, res) => {
    if (req.method === 'GET' && /list-type=2/.test(req.url ?? '')) lists++;
    res.writeHead(500, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>');
  });
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  const broken = await startLocalSageMaker({
    port: 0,
    backendImpl: new FakeBackend(),
    startupTimeoutMs: 5_000,
    alarmsAndScaling: false,
    settings: { s3EndpointUrl: `http://127.0.0.1:${(failing.address() as AddressInfo).port}` },
  });
  const client = new SageMakerClient(localClientConfig(broken.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await client.send(new CreateTransformJobCommand(job('tj-s3-500')));
    const d = await until('tj-s3-500 to end', async () => {
      const j = await client.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-s3-500' }));
      return j.TransformJobStatus === 'InProgress' ? undefined : j;
    });
    assert.equal(d.TransformJobStatus, 'Failed');
    assert.equal(
      d.FailureReason,
      'ClientError: Could not list the input objects under S3 URL "s3://in/batch/" (TransformInput.DataSource.S3DataSource.S3Uri): We encountered an internal error. Please try again. ' +
        'Check that S3 is running and reachable at AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), where the local SageMaker reads its input.',
    );
    assert.equal(lists, 3, "the SDK's three attempts, once");
  } finally {
    client.destroy();
    await broken.stop();
    await new Promise((resolve) => failing.close(resolve));
  }
});

test('an S3 that resets each connection while the input is listed fails the job with a ClientError whose advice is said once, as a timeout\'s is', async () => {
  let lists = 0;
  const resetting = createServer((req) => {
    if (req.method === 'GET' && /list-type=2/.test(req.url ?? '')) lists++;
    req.socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(resetting.address() as AddressInfo).port}`;
  const broken = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: url } });
  const client = new SageMakerClient(localClientConfig(broken.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await client.send(new CreateTransformJobCommand(job('tj-s3-reset')));
    const d = await until('tj-s3-reset to end', async () => {
      const j = await client.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-s3-reset' }));
      return j.TransformJobStatus === 'InProgress' ? undefined : j;
    });
    assert.equal(d.TransformJobStatus, 'Failed');
    // Before: the client's own advice, then the same advice again ("... reachable there. Check that S3 is running and reachable at AWS_ENDPOINT_URL_S3 ...").
    assert.equal(
      d.FailureReason,
      `ClientError: Could not list the input objects under S3 URL "s3://in/batch/" (TransformInput.DataSource.S3DataSource.S3Uri): S3 at ${url} closed the connection before it answered (ECONNRESET) (3 attempts): check that S3 is running and reachable there.`,
    );
    assert.equal(lists, 3, "the SDK's three attempts, once");
  } finally {
    client.destroy();
    await broken.stop();
    await new Promise((resolve) => resetting.close(resolve));
  }
});

test('an input prefix holding more objects than a listing may (ERR_S3_TOO_MANY_KEYS; 1 here) fails the job with a ClientError naming the prefix and the limit, with no advice to check that S3 is running', async () => {
  const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
  const bounded = await startLocalSageMaker({
    port: 0,
    backendImpl: new FakeBackend(),
    startupTimeoutMs: 5_000,
    alarmsAndScaling: false,
    settings: { s3EndpointUrl: s3.url },
    s3: { ...objects, list: (b, p, o) => objects.list(b, p, { maxKeys: 1, ...o }) },
  });
  const client = new SageMakerClient(localClientConfig(bounded.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await client.send(new CreateTransformJobCommand(job('tj-too-many-keys')));
    const d = await until('tj-too-many-keys to end', async () => {
      const j = await client.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-too-many-keys' }));
      return j.TransformJobStatus === 'InProgress' ? undefined : j;
    });
    assert.equal(d.TransformJobStatus, 'Failed');
    // Before: the same, then "Check that S3 is running and reachable at AWS_ENDPOINT_URL_S3 ...", which S3 was.
    assert.equal(
      d.FailureReason,
      'ClientError: Could not list the input objects under S3 URL "s3://in/batch/" (TransformInput.DataSource.S3DataSource.S3Uri): s3://in/batch/ holds more than 1 objects, more than the local SageMaker lists under one prefix (it holds every key in memory and downloads each): use a narrower prefix, or pack the objects into fewer, larger ones (shards, RecordIO files, a tar archive).',
    );
  } finally {
    client.destroy();
    await bounded.stop();
  }
});

test('input objects of which one would be a file where another needs a folder (a.csv and a.csv/b.csv), listed or in a manifest, fail the job with a ClientError naming both, before any is downloaded', async () => {
  const put = (Key: string, Body: string) => s3.client.send(new PutObjectCommand({ Bucket: 'in', Key, Body }));
  await put('collide/a.csv', '1,2\n');
  await put('collide/a.csv/b.csv', '3,4\n');
  // s3rver lists a.csv/b.csv first (EISDIR, a ClientError naming the local file); S3 lists a.csv first, as the manifest does (EEXIST, an InternalServerError).
  await put('collide.json', JSON.stringify([{ prefix: 's3://in/collide/' }, 'a.csv', 'a.csv/b.csv']));
  for (const [name, source] of [
    ['tj-collide', { S3DataType: 'S3Prefix', S3Uri: 's3://in/collide/' }],
    ['tj-collide-manifest', { S3DataType: 'ManifestFile', S3Uri: 's3://in/collide.json' }],
  ] as const) {
    await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: { DataSource: { S3DataSource: source }, ContentType: 'text/csv', SplitType: 'Line' } })));
    await wait(name).catch(() => {});
    const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
    assert.equal(d.TransformJobStatus, 'Failed');
    assert.equal(
      d.FailureReason,
      'ClientError: The input object s3://in/collide/a.csv would be a file where the input object s3://in/collide/a.csv/b.csv needs a folder: the local SageMaker downloads the input objects into a folder, under their keys after the prefix; rename one of them.',
    );
  }
});

test('a manifest listing a key twice transforms that object once, on one instance, as the manifest names a set of objects (two instances wrote the same .out at once, and one run failed with a raw ENOENT)', async () => {
  const name = 'tj-dup';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dup.json', Body: JSON.stringify([{ prefix: 's3://in/listed/' }, 'x.csv', 'x.csv']) }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'ManifestFile' as const, S3Uri: 's3://in/dup.json' } }, ContentType: 'text/csv', SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input, TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 2 } })));
  await wait(name);
  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(done.TransformJobStatus, 'Completed', done.FailureReason);
  assert.equal(backend.started.filter((s) => s.id.startsWith(`transform-job/${name}/`)).length, 1);
  assert.equal(backend.requests.filter((r) => r.id.startsWith(`transform-job/${name}/`) && r.call === 'POST /invocations').length, 1);
  assert.equal((JSON.parse((await object('out', `${name}/x.csv.out`)).trim()) as { got: string }).got, '7,8\n');
});

test("a manifest whose prefix has no trailing '/' and whose suffixes start with one (s3://in/listed + /x.csv, as the service appends a suffix to the prefix) reads s3://in/listed/x.csv and writes x.csv.out; its capture manifest keeps the suffix as given (the job failed: 'not a key relative to its prefix')", async () => {
  const name = 'tj-suffix-slash';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: `${name}.json`, Body: JSON.stringify([{ prefix: 's3://in/listed' }, '/x.csv']) }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'ManifestFile' as const, S3Uri: `s3://in/${name}.json` } }, ContentType: 'text/csv', SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input, DataCaptureConfig: { DestinationS3Uri: `s3://out/${name}-capture` } })));
  await wait(name).catch(() => {});
  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(done.TransformJobStatus, 'Completed', done.FailureReason);
  assert.equal((JSON.parse((await object('out', `${name}/x.csv.out`)).trim()) as { got: string }).got, '7,8\n');
  const hour = done.TransformStartTime!.toISOString().slice(0, 13).replace(/[-T]/g, '/');
  assert.deepEqual(JSON.parse(await object('out', `${name}-capture/input/${hour}/${name}.jsonl`)), [{ prefix: 's3://in/listed' }, '/x.csv']);
});

test('an input key holding a backslash (bs/a\\b.csv) is written as <key>.out, its backslash kept: it is part of the name, not a folder (it was uploaded as a/b.csv.out)', { skip: process.platform === 'win32' && 'a backslash separates folders on Windows' }, async () => {
  const name = 'tj-backslash';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'bs/a\\b.csv', Body: '1,2\n' }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://in/bs/' } }, ContentType: 'text/csv', SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input })));
  await wait(name);
  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(done.TransformJobStatus, 'Completed', done.FailureReason);
  assert.equal((JSON.parse((await object('out', `${name}/a\\b.csv.out`)).trim()) as { got: string }).got, '1,2\n');
  assert.equal(await exists('out', `${name}/a/b.csv.out`), false);
});

/**
 * Runs job `name` over a manifest listing `x.csv` and `key` under s3://in/listed/ (`key` is never
 * put: the job must refuse it before any download), and returns its FailureReason once it has
 * failed without starting an instance.
 */
async function failureBeforeDownload(name: string, key: string): Promise<string | undefined> {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: `${name}.json`, Body: JSON.stringify([{ prefix: 's3://in/listed/' }, 'x.csv', key]) }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'ManifestFile' as const, S3Uri: `s3://in/${name}.json` } }, ContentType: 'text/csv', SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input })));
  await wait(name).catch(() => {});
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.equal(backend.started.filter((s) => s.id.startsWith(`transform-job/${name}/`)).length, 0);
  return d.FailureReason;
}

test('an input key with a part over 255 bytes after the prefix, which no local file or folder name can hold, fails the job with a ClientError naming the key, before any object is downloaded (it was an InternalServerError: ENAMETOOLONG naming the local folder)', async () => {
  const key = `${'d'.repeat(300)}/a.csv`;
  assert.equal(
    await failureBeforeDownload('tj-long-part', key),
    `ClientError: The input object s3://in/listed/${key} has a part of 300 bytes after the prefix: the local SageMaker downloads each object into a folder under its key after the prefix, and a file or folder name may have at most 255 bytes; rename it.`,
  );
});

test('an input object whose name after its last / leaves no room for its .out.partial.<n> (237 bytes) fails the job with a ClientError naming it, before any object is downloaded or the model started (the runner refused it only after both)', async () => {
  // Never put: the test's S3 (s3rver) keeps each object in a file named after its key with a suffix, past 255 bytes.
  const key = `${'n'.repeat(233)}.csv`;
  assert.equal(
    await failureBeforeDownload('tj-long-name', key),
    `ClientError: The input object s3://in/listed/${key} has a name of 237 bytes after its last '/': the local SageMaker writes its output under that name with 19 bytes more (<name>.out, and <name>.out.partial.<n> while it is written), and a file name may have at most 255 bytes; rename it to at most 236 bytes.`,
  );
});

test("an input key with an empty, '.' or '..' part after the prefix (a//b.csv, which S3 holds and the service would transform into a//b.csv.out) fails the job with a ClientError naming it, before any object is downloaded: the local folder it is downloaded into has no such names", async () => {
  for (const [name, key] of [['tj-empty-part', 'a//b.csv'], ['tj-dot-part', 'a/./b.csv'], ['tj-dots-part', 'a/../b.csv']] as const) {
    assert.equal(
      await failureBeforeDownload(name, key),
      `ClientError: The input object s3://in/listed/${key} (element 2 of the manifest file at s3://in/${name}.json) has a key the local SageMaker cannot write as a file (an empty, "." or ".." part after the prefix); rename it.`,
    );
  }
  // (Not listed under an S3Prefix here: the test's S3, s3rver, cannot store a key with '//' in it.)
});

test('input objects of which the output of one would be a file where the output of another needs a folder (x.csv and x.csv.out/y.csv) fail the job with a ClientError naming both, before any is downloaded or the model started (it failed after both, in smkit local transform\'s words: --output="<work folder>" ... EEXIST)', async () => {
  assert.equal(
    await failureBeforeDownload('tj-output-clash', 'x.csv.out/y.csv'),
    "ClientError: The input objects s3://in/listed/x.csv and s3://in/listed/x.csv.out/y.csv cannot be transformed in one job: the local SageMaker writes each object's output into a local folder before it uploads it, and the first's output (x.csv.out) would be a file where the second's (x.csv.out/y.csv.out) needs a folder; rename or move one of them.",
  );
});

test('a record the container does not answer within ModelClientConfig.InvocationsTimeoutInSeconds fails the job with a FailureReason naming that member (it said only "no answer within 1 s")', async () => {
  const name = 'tj-slow';
  await sm.send(new CreateTransformJobCommand(job(name, { Environment: { FAKE_DELAY_MS: '5000' }, BatchStrategy: 'SingleRecord', ModelClientConfig: { InvocationsTimeoutInSeconds: 1, InvocationsMaxRetries: 0 } })));
  await wait(name).catch(() => {});
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.match(d.FailureReason ?? '', /First: a\.csv record 0: no answer within 1 s \(ModelClientConfig\.InvocationsTimeoutInSeconds\)$/);
});

test("a MaxConcurrentTransforms over what the 100 MB rule allows at the MaxPayloadInMB used is lowered, with a warning in the log and in the instance's data-log stream, before the parameters it ran with", async () => {
  await sm.send(new CreateTransformJobCommand(job('tj-wide', { MaxConcurrentTransforms: 1000 })));
  await wait('tj-wide');
  assert.equal((await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-wide' }))).TransformJobStatus, 'Completed');
  const note = "MaxConcurrentTransforms=1000 (the job's value) × MaxPayloadInMB=6 is over the 100 MB a transform job allows; using MaxConcurrentTransforms=16";
  assert.ok(warnings.includes(`transform job tj-wide: ${note}`), JSON.stringify(warnings));
  const streams = [...local.logs.groups.get('/aws/sagemaker/TransformJobs')!.streams.values()].filter((st) => st.name.startsWith('tj-wide/') && st.name.endsWith('/data-log'));
  assert.equal(streams.length, 1);
  assert.deepEqual(streams[0]!.events.map((e) => e.message), [`[sagemaker logs]: ${note}`, '[sagemaker logs]: MaxConcurrentTransforms=16, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD']);
});

test('a gzipped TFRecord object that decompresses past MaxPayloadInMB (a gzip bomb) fails the job at its frame header, with a FailureReason naming the record, its size and the limit', async () => {
  // One frame of 3 GiB once decompressed, in 3 MB: its header, then gzip members of 1 MiB of zeros.
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(3n * 2n ** 30n);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const zeros = gzipSync(Buffer.alloc(1 << 20));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'bomb/x.tfrecord.gz', Body: Buffer.concat([gzipSync(header), ...Array.from({ length: 3072 }, () => zeros)]) }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://in/bomb/' } }, CompressionType: 'Gzip' as const, SplitType: 'TFRecord' as const };
  await sm.send(new CreateTransformJobCommand(job('tj-bomb', { TransformInput: input, MaxPayloadInMB: 1, BatchStrategy: 'SingleRecord' })));
  const failed = await until('the job to end', async () => {
    const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-bomb' }));
    return d.TransformJobStatus === 'InProgress' ? undefined : d;
  });
  assert.equal(failed.TransformJobStatus, 'Failed');
  assert.equal(
    failed.FailureReason,
    "AlgorithmError: 1 of 1 records failed in 1 input file(s), which got no .out object; the other files' output was written. First: x.tfrecord.gz record 0: record is 3221225472 bytes, over MaxPayloadInMB=1 (1048576 bytes); not sent",
  );
  assert.equal(await exists('out', 'tj-bomb/x.tfrecord.gz.out'), false);
});

test('DataCaptureConfig writes the input and output manifests under DestinationS3Uri/input and /output in the hour of the job start, and GenerateInferenceId appends an inference id and the start time to each output record', async () => {
  const name = 'tj-capture';
  await sm.send(
    new CreateTransformJobCommand(
      job(name, {
        BatchStrategy: 'SingleRecord',
        TransformOutput: { S3OutputPath: `s3://out/${name}`, Accept: 'application/json', AssembleWith: 'Line' },
        DataCaptureConfig: { DestinationS3Uri: 's3://out/capture', GenerateInferenceId: true },
      }),
    ),
  );
  await wait(name);
  const done = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(done.TransformJobStatus, 'Completed', done.FailureReason);
  assert.deepEqual(done.DataCaptureConfig, { DestinationS3Uri: 's3://out/capture', GenerateInferenceId: true });
  const started = done.TransformStartTime!.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const lines = (await object('out', `${name}/a.csv.out`)).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  assert.deepEqual(lines.map((l) => [l.got, l.SageMakerInferenceTime]), [['1,2\n', started], ['3,4\n', started]]);
  // The output objects carry the job's Accept as their Content-Type.
  assert.equal((await s3.client.send(new HeadObjectCommand({ Bucket: 'out', Key: `${name}/a.csv.out` }))).ContentType, 'application/json');
  for (const l of lines) assert.match(l.SageMakerInferenceId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(lines[0]!.SageMakerInferenceId, lines[1]!.SageMakerInferenceId);
  const hour = started.slice(0, 13).replace(/[-T]/g, '/');
  assert.deepEqual(JSON.parse(await object('out', `capture/input/${hour}/${name}.jsonl`)), [{ prefix: 's3://in/batch/' }, 'a.csv', 'sub/b.csv']);
  assert.deepEqual(JSON.parse(await object('out', `capture/output/${hour}/${name}.jsonl`)), [{ prefix: `s3://out/${name}/` }, 'a.csv.out', 'sub/b.csv.out']);
  await assert.rejects(
    sm.send(new CreateTransformJobCommand(job('tj-capture-bad', { DataCaptureConfig: { DestinationS3Uri: 'https://example.com/capture' } }))),
    /^ValidationException: DataCaptureConfig\.DestinationS3Uri https:\/\/example\.com\/capture is not an S3 location/,
  );
});

test('a CreateTransformJob still listing its input when the local SageMaker stops is ServiceUnavailable and starts no job, nor does one sent after', async () => {
  // An S3 that never answers the listing, so the call is still waiting on it when the stop begins.
  let asked = 0;
  const silent = createServer(() => void asked++);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const s3Url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const local = await createLocalSageMaker({ backendImpl: new FakeBackend(), alarmsAndScaling: false, settings: { s3EndpointUrl: s3Url } });
  try {
    await local.sagemaker.call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
    const job = (name: string) => ({
      TransformJobName: name,
      ModelName: 'm',
      TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/x/' } } },
      TransformOutput: { S3OutputPath: 's3://out/x/' },
      TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
    });
    const creating = local.sagemaker.call('CreateTransformJob', job('in-flight'));
    // The call has sent its listing to the silent S3 before the stop begins.
    await until('the listing reached S3', () => asked > 0);
    const stopping = local.stop();
    await assert.rejects(creating, (err: Error) => err.name === 'ServiceUnavailable' && /stopping and starts no more transform jobs/.test(err.message));
    await assert.rejects(local.sagemaker.call('CreateTransformJob', job('late')), { name: 'ServiceUnavailable' });
    await stopping;
    const listed = (await local.sagemaker.call('ListTransformJobs', {})) as { TransformJobSummaries: unknown[] };
    assert.deepEqual(listed.TransformJobSummaries, []);
  } finally {
    await local.stop();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test("every failed record is in the data-log stream of the instance that sent it, <job>/<instance id>-<epoch>/data-log, after the parameters it ran with: the FailureReason names only the first", async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dl/a.csv', Body: '1\n2\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dl/b.csv', Body: '3\n' }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://in/dl/' } }, ContentType: 'text/csv', SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job('tj-data-log', { TransformInput: input, BatchStrategy: 'SingleRecord', Environment: { FAKE_STATUS: '500' } })));
  await wait('tj-data-log').catch(() => {});
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-data-log' }));
  assert.match(d.FailureReason ?? '', /^AlgorithmError: 3 of 3 records failed in 2 input file\(s\).* First: a\.csv record 0: HTTP 500: /);
  const logs = new CloudWatchLogsClient(localClientConfig(local.url));
  try {
    const group = '/aws/sagemaker/TransformJobs';
    const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: 'tj-data-log/' }));
    const names = logStreams!.map((s) => s.logStreamName!);
    assert.equal(names.length, 2, names.join(', '));
    assert.match(names[0]!, /^tj-data-log\/i-[0-9a-f]{17}-\d{10}$/);
    assert.equal(names[1], `${names[0]}/data-log`);
    const page = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: names[1], startFromHead: true }));
    const messages = page.events!.map((e) => e.message!.replace(/"(id|tag)":"[^"]*"/g, '"$1":"…"'));
    assert.deepEqual(messages, [
      '[sagemaker logs]: MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=SINGLE_RECORD',
      '[sagemaker logs]: s3://in/dl/a.csv: record 0: HTTP 500: {"tag":"…","id":"…","got":"1\\n"}',
      '[sagemaker logs]: s3://in/dl/a.csv: record 1: HTTP 500: {"tag":"…","id":"…","got":"2\\n"}',
      '[sagemaker logs]: s3://in/dl/b.csv: record 0: HTTP 500: {"tag":"…","id":"…","got":"3\\n"}',
    ]);
  } finally {
    logs.destroy();
  }
});

test("a record's FailureReason names the API's members, not smkit local transform's flags: an object that does not gunzip under CompressionType Gzip says to leave out TransformInput.CompressionType (it said --compression-type)", async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'not-gz/a.csv', Body: '1,2\n' }));
  const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://in/not-gz/' } }, ContentType: 'text/csv', CompressionType: 'Gzip' as const, SplitType: 'Line' as const };
  await sm.send(new CreateTransformJobCommand(job('tj-not-gz', { TransformInput: input })));
  await wait('tj-not-gz').catch(() => {});
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-not-gz' }));
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.match(d.FailureReason ?? '', /^AlgorithmError: .* First: a\.csv record 0: CompressionType is Gzip but the file does not gunzip \(.*\); compress it with gzip, or leave out TransformInput\.CompressionType for uncompressed files$/);
  assert.doesNotMatch(d.FailureReason ?? '', /--/);
});

test('StopTransformJob while a gzipped SplitType None object is out (MaxPayloadInMB 0, streamed as it is gunzipped, and 6): the job is Stopped, its container stopped, and no .out object is written', async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'gz-none/a.csv.gz', Body: gzipSync('1,2\n3,4\n'.repeat(1000)) }));
  for (const payload of [0, 6]) {
    const name = `tj-gz-stop-${payload}`;
    const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://in/gz-none/' } }, ContentType: 'text/csv', CompressionType: 'Gzip' as const, SplitType: 'None' as const };
    await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input, MaxPayloadInMB: payload, Environment: { FAKE_HOLD: 'true' } })));
    // The container holds its answer: the object is out when the job is stopped.
    await until(`the ${name} container to get the object`, () => backend.invocations.find((r) => r.id.includes(name)));
    assert.equal(backend.invocations.find((r) => r.id.includes(name))!.body, '1,2\n3,4\n'.repeat(1000), 'the object, gunzipped, in one request');
    await sm.send(new StopTransformJobCommand({ TransformJobName: name }));
    await wait(name);
    const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
    assert.equal(d.TransformJobStatus, 'Stopped');
    assert.equal(d.FailureReason, undefined);
    await until(`the ${name} container to be stopped`, () => backend.stopped.some((id) => id.includes(name)));
    assert.equal(await exists('out', `${name}/a.csv.gz.out`), false);
  }
});

test("DataProcessing, the developer guide's JSON example through S3 (InputFilter $.features, JoinSource Input, OutputFilter $['id','SageMakerOutput']); a record that is not UTF-8, and one over MaxPayloadInMB, fail their files with the reason", async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dp/a.jsonl', Body: '{"id":1,"features":[1,2]}\n{"id":2,"features":[3,4]}\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dp/b.jsonl', Body: Buffer.concat([Buffer.from('{"id":3,"features":[5]}\n{"id":4,"name":"caf'), Buffer.from([0xe9]), Buffer.from('","features":[6]}\n')]) }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'dp/c.jsonl', Body: `{"id":5,"features":[7]}\n{"id":6,"features":"${'x'.repeat(1 << 20)}"}\n` }));
  await sm.send(
    new CreateTransformJobCommand(
      job('tj-dp', {
        BatchStrategy: 'SingleRecord',
        MaxPayloadInMB: 1,
        TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/dp/' } }, ContentType: 'application/jsonlines', SplitType: 'Line' },
        TransformOutput: { S3OutputPath: 's3://out/tj-dp', Accept: 'application/jsonlines', AssembleWith: 'Line' },
        DataProcessing: { InputFilter: '$.features', JoinSource: 'Input', OutputFilter: "$['id','SageMakerOutput']" },
      }),
    ),
  );
  const d = await until('tj-dp to end', async () => {
    const out = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-dp' }));
    return out.TransformJobStatus === 'InProgress' ? undefined : out;
  });
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.equal(
    d.FailureReason,
    "AlgorithmError: 2 of 6 records failed in 2 input file(s), which got no .out object; the other files' output was written. First: b.jsonl record 1: InputFilter: the record is not valid UTF-8; DataProcessing reads JSON records as UTF-8 text",
  );
  // Each record's features alone went to the container; its answer is joined under SageMakerOutput, and the filter keeps id and it.
  const lines = (await object('out', 'tj-dp/a.jsonl.out')).split('\n');
  assert.equal(lines.pop(), '');
  assert.deepEqual(
    lines.map((l) => JSON.parse(l) as { id: number; SageMakerOutput: { tag: string; got: string } }).map((r) => [Object.keys(r), r.id, r.SageMakerOutput.tag, r.SageMakerOutput.got]),
    [
      [['id', 'SageMakerOutput'], 1, 'model', '[1,2]\n'],
      [['id', 'SageMakerOutput'], 2, 'model', '[3,4]\n'],
    ],
  );
  assert.equal(await exists('out', 'tj-dp/b.jsonl.out'), false);
  assert.equal(await exists('out', 'tj-dp/c.jsonl.out'), false);
  const sent = backend.invocations.filter((r) => r.id.includes('tj-dp')).map((r) => r.body);
  assert.equal(sent.some((body) => body.includes('\ufffd') || body.includes('xxxx')), false, 'neither the non-UTF-8 record nor the one over the limit was sent');
});

test('a model archive from S3 that cannot be extracted fails the job with a ClientError naming its s3:// URL, not smkit\'s local copy; a name not ending in .tar.gz is extracted all the same', async () => {
  const put = (Key: string, Body: Buffer) => s3.client.send(new PutObjectCommand({ Bucket: 'in', Key, Body }));
  await put('models/truncated.tar.gz', craftTarGz([{ path: 'model.onnx', body: 'm' }]).subarray(0, 40));
  await put('models/weights.zip', Buffer.from('PK not a tar'));
  await put('models/model.bin', craftTarGz([{ path: 'model.onnx', body: 'm' }]));
  for (const [name, url, outcome] of [
    ['tj-truncated', 's3://in/models/truncated.tar.gz', 'Failed'],
    ['tj-zip', 's3://in/models/weights.zip', 'Failed'],
    ['tj-bin', 's3://in/models/model.bin', 'Completed'],
  ] as const) {
    await sm.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: url } }));
    await sm.send(new CreateTransformJobCommand(job(name, { ModelName: name })));
    await wait(name).catch(() => {});
    const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
    assert.equal(d.TransformJobStatus, outcome, d.FailureReason);
    if (outcome === 'Failed') {
      assert.ok(d.FailureReason!.startsWith(`ClientError: Failed to extract model data archive from URL "${url}". Please ensure that the object located at the URL is a valid tar.gz archive: `), d.FailureReason);
      assert.match(d.FailureReason!, /is not a readable tar or tar\.gz archive/);
      assert.ok(!d.FailureReason!.includes('model-data'), `no local cache path: ${d.FailureReason}`);
    }
  }
});

test('JSON nesting deeper than a request body may (512 levels): a manifest fails its job with a ClientError, a record its InputFilter fails alone, named in the FailureReason; neither is parsed', async () => {
  const deep = `${'['.repeat(200_000)}1${']'.repeat(200_000)}`;
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'deep-manifest.json', Body: `[{"prefix": "s3://in/listed/"}, ${deep}]` }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'deep/x.jsonl', Body: `[1,2]\n${deep}\n` }));
  await sm.send(new CreateTransformJobCommand(job('tj-deep-manifest', { TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: 's3://in/deep-manifest.json' } }, ContentType: 'text/csv', SplitType: 'Line' } })));
  await sm.send(
    new CreateTransformJobCommand(
      job('tj-deep-record', {
        TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/deep/' } }, ContentType: 'application/jsonlines', SplitType: 'Line' },
        BatchStrategy: 'SingleRecord',
        DataProcessing: { InputFilter: '$[0]' },
      }),
    ),
  );
  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
      return d.TransformJobStatus === 'InProgress' ? undefined : d;
    });
  const manifest = await ended('tj-deep-manifest');
  assert.equal(manifest.TransformJobStatus, 'Failed');
  assert.equal(manifest.FailureReason, 'ClientError: Could not read the manifest file at s3://in/deep-manifest.json as JSON (it nests arrays and objects more than 512 levels deep).');
  const record = await ended('tj-deep-record');
  assert.equal(record.TransformJobStatus, 'Failed');
  assert.match(record.FailureReason ?? '', /^AlgorithmError: 1 of 2 records failed in 1 input file\(s\).* First: x\.jsonl record 1: InputFilter: the record nests arrays and objects more than 512 levels deep, the limit for JSON records$/);
});

test('a ManifestFile manifest over the cap (64 MiB; lowered here) fails its job with a ClientError, refused from the length S3 gives for it; one at the cap runs', async () => {
  // A manifest that would run, padded to a byte over the cap, then to the cap itself.
  const manifest = JSON.stringify([{ prefix: 's3://in/listed/' }, 'x.csv']);
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'huge-manifest.json', Body: manifest.padEnd(MANIFEST_CAP + 1, ' ') }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'full-manifest.json', Body: manifest.padEnd(MANIFEST_CAP, ' ') }));
  const input = (key: string) => ({ TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile' as const, S3Uri: `s3://in/${key}` } }, ContentType: 'text/csv', SplitType: 'Line' as const } });
  await sm.send(new CreateTransformJobCommand(job('tj-huge-manifest', input('huge-manifest.json'))));
  await sm.send(new CreateTransformJobCommand(job('tj-full-manifest', input('full-manifest.json'))));
  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const out = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
      return out.TransformJobStatus === 'InProgress' ? undefined : out;
    });
  const huge = await ended('tj-huge-manifest');
  assert.equal(huge.TransformJobStatus, 'Failed');
  assert.equal(
    huge.FailureReason,
    `ClientError: The manifest file at s3://in/huge-manifest.json is larger than ${MANIFEST_CAP} bytes, the most the local SageMaker reads of a manifest; split its objects over several jobs, or use S3Prefix.`,
  );
  const full = await ended('tj-full-manifest');
  assert.equal(full.TransformJobStatus, 'Completed', full.FailureReason);
  assert.equal((JSON.parse((await object('out', 'tj-full-manifest/x.csv.out')).trim()) as { got: string }).got, '7,8\n');
});

test('a transform job on a GPU instance type gets the GPUs (the docker backend passes them through), one on a CPU type does not', async () => {
  await sm.send(new CreateTransformJobCommand(job('tj-gpu', { TransformResources: { InstanceType: 'ml.g4dn.xlarge', InstanceCount: 1 } })));
  await sm.send(new CreateTransformJobCommand(job('tj-cpu')));
  await Promise.all([wait('tj-gpu'), wait('tj-cpu')]);
  assert.deepEqual(['tj-gpu', 'tj-cpu'].map((name) => backend.started.find((s) => s.id.startsWith(`transform-job/${name}/`))?.gpus), [true, undefined]);
});

test('a transform job whose work folder cannot be made (the temporary folder gone, a full disk) fails saying so, and the local SageMaker goes on', async () => {
  // A local SageMaker of its own, whose temporary folder is removed once it has started.
  const scratch = await mkdtemp(join(tmpdir(), 'smkit-tj-tmp-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  let other: LocalSageMakerHandle;
  try {
    other = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url } });
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  await rm(scratch, { recursive: true, force: true });
  const client = new SageMakerClient(localClientConfig(other.url, { requestTimeoutMs: 30_000 }));
  try {
    await client.send(new CreateModelCommand({ ModelName: 'tj-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await client.send(new CreateTransformJobCommand(job('tj-no-folder')));
    const failed = await until('the job to fail', async () => {
      const d = await client.send(new DescribeTransformJobCommand({ TransformJobName: 'tj-no-folder' }));
      return d.TransformJobStatus === 'Failed' && d;
    });
    assert.ok((failed.FailureReason ?? '').includes(`work folder cannot be made in the temporary folder ${scratch} (`), failed.FailureReason);
    assert.match(failed.FailureReason ?? '', /; set TMPDIR to a writable folder/);
    const listed = await client.send(new ListTransformJobsCommand({}));
    assert.deepEqual(listed.TransformJobSummaries?.map((j) => j.TransformJobName), ['tj-no-folder'], 'the local SageMaker still answers');
  } finally {
    client.destroy();
    await other.stop();
  }
});

test("a job whose local output folder refuses a file part-way (a file where a sub-folder goes, as a full disk would) fails naming that work folder and the file system's error, not smkit local transform's --output flag", async () => {
  const name = 'tj-disk';
  const output = join(local.workDir, 'transform-jobs', name, 'output');
  // a.csv is written; sub/b.csv's folder cannot be made.
  await mkdir(output, { recursive: true });
  await writeFile(join(output, 'sub'), 'in the way');
  await sm.send(new CreateTransformJobCommand(job(name)));
  await assert.rejects(wait(name));
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.match(d.FailureReason ?? '', new RegExp(`^ClientError: Could not write the job's output into ${output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, the local SageMaker's work folder for it .*: E(EXIST|NOTDIR)`));
  assert.doesNotMatch(d.FailureReason ?? '', /--output/);
});

test("a job whose container answers more than is held in memory (over 8 MiB, spooled to a file in the work folder) on a full disk fails with the ClientError naming the work folder and the spool file's error, as a .out that cannot be written does (it was an InternalServerError)", { skip: !existsSync('/dev/full') && 'needs /dev/full' }, async () => {
  const name = 'tj-spool-full';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: `${name}/big.bin`, Body: Buffer.alloc(8 << 20, 0x61) }));
  const output = join(local.workDir, 'transform-jobs', name, 'output');
  await mkdir(output, { recursive: true });
  // The answer's spool file is opened where it stands: a link to /dev/full takes the open and refuses every write (ENOSPC).
  await symlink('/dev/full', join(output, 'big.bin.out.partial.0'));
  const input = { DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: `s3://in/${name}/` } }, ContentType: 'application/octet-stream', SplitType: 'None' as const };
  await sm.send(new CreateTransformJobCommand(job(name, { TransformInput: input, MaxPayloadInMB: 9 })));
  await assert.rejects(wait(name));
  const d = await sm.send(new DescribeTransformJobCommand({ TransformJobName: name }));
  assert.equal(d.TransformJobStatus, 'Failed');
  assert.match(d.FailureReason ?? '', new RegExp(`^ClientError: Could not write the job's output into ${output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, the local SageMaker's work folder for it .*: could not write the container's answer to \\S+big\\.bin\\.out\\.partial\\.0: ENOSPC`));
});
