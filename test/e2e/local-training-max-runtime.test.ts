// MaxRuntimeInSeconds bounds a training job's training, not the upload after it: a job whose entry
// point exited in time is not stopped while its model is uploaded. The local SageMaker reaches a
// real local S3 server (s3rver) through a proxy that holds the model's upload until the test lets it go.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3, type LocalS3 } from '../helpers/local-s3.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { TRAIN_FIXTURES, TRAINING_ROLE } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

const MAX_RUNTIME_SECONDS = 6;
const HELD = '/data/out/in-time/output/model.tar.gz';

let s3: LocalS3;
let proxy: http.Server;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;
let sm: SageMakerClient;
let held = false;
let release!: () => void;
const released = new Promise<void>((resolve) => (release = resolve));

before(async () => {
  s3 = await startLocalS3(['data']);
  const target = new URL(s3.url);
  proxy = http.createServer((req, res) => {
    const forward = () => {
      const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    if (req.method === 'PUT' && req.url?.split('?')[0] === HELD) {
      held = true;
      void released.then(forward);
    } else forward();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  local = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: url, region: 'us-east-1', accountId: '111122223333' }, trainingGraceSeconds: 5 });
  clients = localSdkClients(local.url);
  sm = clients.sagemaker;
});

after(async () => {
  release();
  clients?.destroy();
  await local?.stop();
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await s3?.stop();
});

test('a job whose entry point exited within MaxRuntimeInSeconds is not stopped while its model uploads past the limit: Completed', { timeout: 120_000 }, async () => {
  await sm.send(
    new CreateTrainingJobCommand({
      TrainingJobName: 'in-time',
      RoleArn: TRAINING_ROLE,
      AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
      HyperParameters: { sagemaker_program: '"odd-output.mjs"', sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES) },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
      StoppingCondition: { MaxRuntimeInSeconds: MAX_RUNTIME_SECONDS },
    }),
  );
  const describe = () => sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'in-time' }));
  await until('the model upload to be held', () => held);
  const uploading = await describe();
  assert.deepEqual([uploading.TrainingJobStatus, uploading.SecondaryStatus], ['InProgress', 'Uploading'], 'the entry point exited within the limit');
  // Past the limit, by the clock the job's start time is on.
  const limit = uploading.TrainingStartTime!.getTime() + MAX_RUNTIME_SECONDS * 1000;
  await until('MaxRuntimeInSeconds to pass', () => Date.now() > limit + 500, { timeoutMs: (MAX_RUNTIME_SECONDS + 30) * 1000 });
  const past = await describe();
  assert.deepEqual([past.TrainingJobStatus, past.SecondaryStatus], ['InProgress', 'Uploading']);
  release();
  const d = await until('the job to end', async () => {
    const r = await describe();
    return r.TrainingJobStatus === 'InProgress' || r.TrainingJobStatus === 'Stopping' ? undefined : r;
  });
  assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Completed', 'Completed', undefined]);
});
