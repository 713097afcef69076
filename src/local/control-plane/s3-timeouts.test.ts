// The local SageMaker's operations against an S3 endpoint that accepts connections and never
// answers (a black hole), through the real SDK clients: each fails as the service fails it, naming
// S3's endpoint and SMKIT_LOCAL_S3_TIMEOUT_SECONDS, instead of waiting for ever.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  CreateTransformJobCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  DescribeTrainingJobCommand,
  DescribeTransformJobCommand,
  SageMakerClient,
  StopTransformJobCommand,
  type CreateTransformJobCommandInput,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let silent: ReturnType<typeof createServer>;
const sockets = new Set<Socket>();
let s3Url: string;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
const warnings: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];

/** `text` as a regular expression that matches it literally. */
const lit = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * What a timed-out S3 call says, at the 0.1 s these tests set, as a regular expression: silence
 * once connected, or no connection in time (on a loaded machine the connect event itself can come
 * later than 0.1 s, and the client then reports that instead).
 */
const timedOut = (): string => `S3 at ${lit(s3Url)} (?:went 0\\.1 s without sending or taking a byte|did not accept a connection within 0\\.1 s)`;
/** `message` starts with `prefix` (literal), then the timed-out words, then `suffix` (literal). */
const startsTimedOut = (message: string | undefined, prefix: string, suffix: string): void =>
  assert.match(message ?? '', new RegExp(`^${lit(prefix)}${timedOut()}${lit(suffix)}`));
const namesSetting = /, the limit SMKIT_LOCAL_S3_TIMEOUT_SECONDS sets: check that S3 is running and reachable there, or raise SMKIT_LOCAL_S3_TIMEOUT_SECONDS/;

describe('s3 timeouts', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-s3-timeouts-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    s3Url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    local = await startLocalSageMaker({
      port: 0,
      backendImpl: new FakeBackend(),
      startupTimeoutMs: 5_000,
      settings: { s3EndpointUrl: s3Url, s3TimeoutSeconds: 0.1 },
      log: (level, message, fields) => {
        if (level === 'warn') warnings.push({ message, fields });
      },
    });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  });

  after(async () => {
    sm?.destroy();
    runtime?.destroy();
    await local?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function endpoint(name: string, model: { ModelDataUrl: string }, config: Omit<ConstructorParameters<typeof CreateEndpointConfigCommand>[0], 'EndpointConfigName' | 'ProductionVariants'> = {}): Promise<void> {
    await sm.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ...model } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }], ...config }));
    await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
  }

  const transformJob = (name: string): CreateTransformJobCommandInput => ({
    TransformJobName: name,
    ModelName: name,
    TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://in/batch/' } }, ContentType: 'text/csv', SplitType: 'Line' },
    TransformOutput: { S3OutputPath: 's3://out/batch' },
    TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
  });

  const settled = (name: string) =>
    until(`${name} to leave Creating`, async () => {
      const d = await sm.send(new DescribeEndpointCommand({ EndpointName: name }));
      return d.EndpointStatus === 'Creating' ? undefined : d;
    }, { timeoutMs: 30_000 });

  // Each waits on its own S3 calls' timeouts: run side by side.
  describe('against an S3 that never answers', { concurrency: true }, () => {
    test('model data: the endpoint is Failed, its FailureReason saying S3 did not answer', async () => {
      await endpoint('s3-silent-model', { ModelDataUrl: 's3://models/model.tar.gz' });
      const d = await settled('s3-silent-model');
      assert.equal(d.EndpointStatus, 'Failed');
      startsTimedOut(d.FailureReason, 'Could not find model data at s3://models/model.tar.gz: ', ' (3 attempts)');
      assert.match(d.FailureReason!, namesSetting);
    });

    test('asynchronous inference: an InputLocation S3 does not serve fails the invocation, with its message at the failure path', async () => {
      await endpoint('s3-silent-async', { ModelDataUrl: dir }, { AsyncInferenceConfig: { OutputConfig: { S3OutputPath: join(dir, 'results'), S3FailurePath: join(dir, 'failures') } } });
      assert.equal((await settled('s3-silent-async')).EndpointStatus, 'InService');
      const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 's3-silent-async', InputLocation: 's3://in/request.json', InferenceId: 'silent-1' }));
      const failure = await until('the failure to be written', () => readFile(out.FailureLocation!, 'utf8').catch(() => undefined), { timeoutMs: 30_000 });
      startsTimedOut(failure, 'Reading InputLocation s3://in/request.json failed: ', ' (3 attempts)');
      assert.match(failure, namesSetting);
    });

    test('data capture: the upload when the endpoint is deleted fails with a warning instead of holding the deletion', async () => {
      await endpoint('s3-silent-capture', { ModelDataUrl: dir }, { DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: 's3://capture/silent', CaptureOptions: [{ CaptureMode: 'Input' }] } });
      assert.equal((await settled('s3-silent-capture')).EndpointStatus, 'InService');
      await runtime.send(new InvokeEndpointCommand({ EndpointName: 's3-silent-capture', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
      await sm.send(new DeleteEndpointCommand({ EndpointName: 's3-silent-capture' }));
      await until('the endpoint to be deleted', () => sm.send(new DescribeEndpointCommand({ EndpointName: 's3-silent-capture' })).then(() => undefined, (err: Error) => err.name), { timeoutMs: 30_000 });
      const warning = warnings.find((w) => w.message === 'data capture write failed' && w.fields?.['endpoint'] === 's3-silent-capture');
      assert.ok(warning, JSON.stringify(warnings));
      assert.match(String(warning.fields!['error']), new RegExp(`^Uploading data capture to s3://capture/silent/s3-silent-capture/AllTraffic/\\S+\\.jsonl failed: ${timedOut()}, the limit`));
    });

    test('training: a channel S3 does not list fails the job with a ClientError saying so', async () => {
      await sm.send(
        new CreateTrainingJobCommand({
          TrainingJobName: 's3-silent-train',
          RoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole',
          AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
          InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/train/' } } }],
          OutputDataConfig: { S3OutputPath: 's3://data/out' },
          ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
          StoppingCondition: { MaxRuntimeInSeconds: 60 },
        }),
      );
      const d = await until('the job to end', async () => {
        const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 's3-silent-train' }));
        return job.TrainingJobStatus === 'InProgress' ? undefined : job;
      }, { timeoutMs: 30_000 });
      assert.equal(d.TrainingJobStatus, 'Failed');
      startsTimedOut(d.FailureReason, 'ClientError: Could not list the objects of channel "train" under s3://data/train/: ', ' (3 attempts)');
    });

    test('transform: CreateTransformJob answers with the ARN, and the job fails with a ClientError naming the prefix S3 does not list', async () => {
      await sm.send(new CreateModelCommand({ ModelName: 's3-silent-transform', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
      const { TransformJobArn } = await sm.send(new CreateTransformJobCommand(transformJob('s3-silent-transform')));
      assert.match(TransformJobArn!, /:transform-job\/s3-silent-transform$/);
      const d = await until('the job to end', async () => {
        const job = await sm.send(new DescribeTransformJobCommand({ TransformJobName: 's3-silent-transform' }));
        return job.TransformJobStatus === 'InProgress' ? undefined : job;
      }, { timeoutMs: 30_000 });
      assert.equal(d.TransformJobStatus, 'Failed');
      startsTimedOut(d.FailureReason, 'ClientError: Could not list the input objects under S3 URL "s3://in/batch/" (TransformInput.DataSource.S3DataSource.S3Uri): ', ' (3 attempts)');
      assert.match(d.FailureReason!, namesSetting);
    });

    test('transform: at the default 60 s timeout CreateTransformJob still answers without waiting on S3, and the job stops while S3 is silent', async () => {
      const patient = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3Url } });
      // Well under the 3 × 60 s the listing could take.
      const client = new SageMakerClient({ ...localClientConfig(patient.url, { requestTimeoutMs: 20_000 }), maxAttempts: 1 });
      try {
        await client.send(new CreateModelCommand({ ModelName: 's3-silent-transform-60', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
        await client.send(new CreateTransformJobCommand(transformJob('s3-silent-transform-60')));
        assert.equal((await client.send(new DescribeTransformJobCommand({ TransformJobName: 's3-silent-transform-60' }))).TransformJobStatus, 'InProgress');
        await client.send(new StopTransformJobCommand({ TransformJobName: 's3-silent-transform-60' }));
        const status = await until('the job to stop', async () => {
          const s = (await client.send(new DescribeTransformJobCommand({ TransformJobName: 's3-silent-transform-60' }))).TransformJobStatus;
          return s === 'Stopping' ? undefined : s;
        }, { timeoutMs: 20_000 });
        assert.equal(status, 'Stopped');
      } finally {
        client.destroy();
        await patient.stop();
      }
    });
  });
});
