// The KMS keys of the SageMaker API's output configs reach S3: each upload the local SageMaker
// makes for them asks for SSE-KMS with the key. A pass-through proxy in front of a real local S3
// (s3rver, which ignores encryption headers) records what the SDK sent; the API is driven through
// the real SDK clients.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  CreateTransformJobCommand,
  DescribeTrainingJobCommand,
  DescribeEndpointCommand,
  DescribeTransformJobCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { REPO_ROOT } from '../../../test/helpers/serve-process.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

let dir: string;
let s3: LocalS3;
let proxy: Server;
/** Every PUT the proxy passed on, by path (`/bucket/key`). */
const puts = new Map<string, IncomingHttpHeaders>();
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;

/** The headers of the PUT of `s3://bucket/key`, once it has reached S3 and been answered. */
const putOf = (url: string): Promise<IncomingHttpHeaders> => until(`a PUT of ${url}`, () => puts.get(url.replace(/^s3:\//, '')), { timeoutMs: 30_000 });

describe('s3 kms', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-s3-kms-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    s3 = await startLocalS3(['in', 'out']);
    const target = new URL(s3.url);
    proxy = createServer((req, res) => {
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (req.method === 'PUT') answer.once('end', () => puts.set(decodeURIComponent(new URL(req.url!, 'http://s3').pathname), req.headers));
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (err) => res.destroy(err));
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, settings: { s3EndpointUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` } });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    await sm.send(new CreateModelCommand({ ModelName: 'kms-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
  });

  after(async () => {
    sm?.destroy();
    runtime?.destroy();
    await local?.stop();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('AsyncInferenceConfig.OutputConfig.KmsKeyId: the result and the failure objects are written with SSE-KMS and that key', async () => {
    await sm.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'kms-async',
        ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'kms-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
        AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/kms-results/', S3FailurePath: 's3://out/kms-failures/', KmsKeyId: KEY } },
      }),
    );
    await sm.send(new CreateEndpointCommand({ EndpointName: 'kms-async', EndpointConfigName: 'kms-async' }));
    await until('kms-async InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'kms-async' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
    const ok = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'kms-async', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    const failed = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'kms-async', InputLocation: 's3://in/missing.json' }));
    for (const url of [ok.OutputLocation!, failed.FailureLocation!]) {
      const headers = await putOf(url);
      assert.equal(headers['x-amz-server-side-encryption'], 'aws:kms', url);
      assert.equal(headers['x-amz-server-side-encryption-aws-kms-key-id'], KEY, url);
    }
  });

  test('TransformOutput.KmsKeyId: every .out object is written with SSE-KMS and that key', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'batch/a.csv', Body: '1,2\n' }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'batch/sub/b.csv', Body: '3,4\n' }));
    await sm.send(
      new CreateTransformJobCommand({
        TransformJobName: 'kms-transform',
        ModelName: 'kms-model',
        TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/batch/' } }, ContentType: 'text/csv', SplitType: 'Line' },
        TransformOutput: { S3OutputPath: 's3://out/kms-transform', AssembleWith: 'Line', KmsKeyId: KEY },
        TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
      }),
    );
    const d = await until('kms-transform to end', async () => {
      const job = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 'kms-transform' }));
      return job.TransformJobStatus === 'InProgress' ? undefined : job;
    }, { timeoutMs: 30_000 });
    assert.equal(d.TransformJobStatus, 'Completed', d.FailureReason);
    for (const url of ['s3://out/kms-transform/a.csv.out', 's3://out/kms-transform/sub/b.csv.out']) {
      const headers = await putOf(url);
      assert.equal(headers['x-amz-server-side-encryption'], 'aws:kms', url);
      assert.equal(headers['x-amz-server-side-encryption-aws-kms-key-id'], KEY, url);
    }
  });

  test('OutputDataConfig.KmsKeyId: model.tar.gz and output.tar.gz are written with SSE-KMS and that key, by a job that completes (streamed archives) and by one that fails (empty ones)', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'train/a.csv', Body: '0,5.1\n' }));
    const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'train');
    const train = (name: string, script: string) =>
      sm.send(
        new CreateTrainingJobCommand({
          TrainingJobName: name,
          RoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole',
          AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
          HyperParameters: { sagemaker_program: JSON.stringify(script), sagemaker_submit_directory: JSON.stringify(fixtures) },
          InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/train/' } } }],
          OutputDataConfig: { S3OutputPath: 's3://out/jobs', KmsKeyId: KEY },
          ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
          StoppingCondition: { MaxRuntimeInSeconds: 600 },
        }),
      );
    await Promise.all([train('kms-train', 'copy-channel.mjs'), train('kms-train-failed', 'fail.mjs')]);
    const ended = (name: string) =>
      until(`${name} to end`, async () => {
        const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
        return job.TrainingJobStatus === 'InProgress' ? undefined : job;
      }, { timeoutMs: 60_000 });
    const [done, failed] = await Promise.all([ended('kms-train'), ended('kms-train-failed')]);
    assert.equal(done.TrainingJobStatus, 'Completed', done.FailureReason);
    assert.equal(failed.TrainingJobStatus, 'Failed');
    for (const job of ['kms-train', 'kms-train-failed']) {
      for (const archive of ['model.tar.gz', 'output.tar.gz']) {
        const url = `s3://out/jobs/${job}/output/${archive}`;
        const headers = await putOf(url);
        assert.equal(headers['x-amz-server-side-encryption'], 'aws:kms', url);
        assert.equal(headers['x-amz-server-side-encryption-aws-kms-key-id'], KEY, url);
      }
    }
  });
});
