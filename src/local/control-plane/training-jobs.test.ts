import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { ContainerBackend } from '../backends/backend.js';
import { createFrontDoor } from '../front-door/app.js';
import { createLocalSageMaker } from './local-sagemaker.js';

test('with the docker backend CreateTrainingJob is refused, naming the process backend, and nothing is created', async () => {
  const docker: ContainerBackend = { name: 'docker', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: docker, alarmsAndScaling: false, settings: {} });
  try {
    const app = createFrontDoor({ endpoints: sm.directory(), services: sm.services });
    const job = {
      TrainingJobName: 'j',
      RoleArn: 'arn:aws:iam::123456789012:role/R',
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File' },
      OutputDataConfig: { S3OutputPath: 's3://b/out' },
    };
    const res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.CreateTrainingJob').set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify(job));
    assert.equal(res.status, 400);
    const body = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(body.__type, 'ValidationException');
    assert.match(body.message, /process backend only/);
    assert.equal(sm.store.trainingJobs.size, 0);
  } finally {
    await sm.stop();
  }
});

test('two CreateTrainingJob calls for one name while their MetricDefinitions compile: one job is created, the other is ResourceInUse', async () => {
  const processBackend: ContainerBackend = { name: 'process', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: processBackend, alarmsAndScaling: false, settings: { s3EndpointUrl: 'http://127.0.0.1:1' }, trainingGraceSeconds: 1 });
  try {
    const job = (regex: string) => ({
      TrainingJobName: 'twice',
      RoleArn: 'arn:aws:iam::123456789012:role/R',
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File', MetricDefinitions: [{ Name: 'loss', Regex: regex }] },
      OutputDataConfig: { S3OutputPath: 's3://b/out' },
      // Nothing to download from: the job that is created fails at once, before any process starts.
      InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://b/none' } } }],
    });
    // Both are sent before either has compiled its definitions.
    const results = await Promise.allSettled([sm.sagemaker.call('CreateTrainingJob', job('a=(\\d+)')), sm.sagemaker.call('CreateTrainingJob', job('b=(\\d+)'))]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((refused.reason as Error).name, 'ResourceInUse');
    const created = sm.store.trainingJobs.get('twice')!;
    const winner = results[0]!.status === 'fulfilled' ? 'a=(\\d+)' : 'b=(\\d+)';
    assert.equal((created.request.AlgorithmSpecification as { MetricDefinitions: Array<{ Regex: string }> }).MetricDefinitions[0]!.Regex, winner);
  } finally {
    await sm.stop();
  }
});

test('a CreateTrainingJob whose MetricDefinitions are compiling when the local SageMaker stops is ServiceUnavailable and starts no job, nor does one sent after', async () => {
  const processBackend: ContainerBackend = { name: 'process', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: processBackend, alarmsAndScaling: false, settings: { s3EndpointUrl: 'http://127.0.0.1:1' }, trainingGraceSeconds: 1 });
  const job = (name: string) => ({
    TrainingJobName: name,
    RoleArn: 'arn:aws:iam::123456789012:role/R',
    AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File', MetricDefinitions: [{ Name: 'loss', Regex: 'loss=(\\S+)' }] },
    OutputDataConfig: { S3OutputPath: 's3://b/out' },
    InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://b/none' } } }],
  });
  // Its definitions are answered by the worker in a later task; the stop begins before.
  const creating = sm.sagemaker.call('CreateTrainingJob', job('in-flight'));
  const stopping = sm.stop();
  await assert.rejects(creating, (err: Error) => err.name === 'ServiceUnavailable' && /stopping and starts no more training jobs/.test(err.message));
  await assert.rejects(sm.sagemaker.call('CreateTrainingJob', job('late')), { name: 'ServiceUnavailable' });
  await stopping;
  assert.equal(sm.store.trainingJobs.size, 0);
});
