import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { ContainerBackend } from '../backends/backend.js';
import { createFrontDoor } from '../front-door/app.js';
import { createLocalSageMaker } from './local-sagemaker.js';
import { realTimer, trainingJobEnv } from './training-jobs.js';

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

test("a job's process gets AWS_REGION, the local SageMaker's region (the one in its ARN), over an inherited one; the job's Environment sets it otherwise", () => {
  const job = { name: 'j', arn: 'arn:aws:sagemaker:eu-west-3:111122223333:training-job/j' };
  assert.deepEqual(trainingJobEnv({ PATH: '/bin' }, { FLAVOUR: 'x' }, job, 'eu-west-3'), {
    PATH: '/bin',
    AWS_REGION: 'eu-west-3',
    FLAVOUR: 'x',
    TRAINING_JOB_NAME: 'j',
    TRAINING_JOB_ARN: job.arn,
  });
  assert.equal(trainingJobEnv({ AWS_REGION: 'us-west-2' }, {}, job, 'eu-west-3')['AWS_REGION'], 'eu-west-3');
  assert.equal(trainingJobEnv({}, { AWS_REGION: 'ap-south-1' }, job, 'eu-west-3')['AWS_REGION'], 'ap-south-1');
  // The job's name and ARN are SageMaker's, whatever Environment says.
  assert.equal(trainingJobEnv({}, { TRAINING_JOB_NAME: 'other' }, job, 'eu-west-3')['TRAINING_JOB_NAME'], 'j');
});

test("a channel's CompressionType Gzip or RecordWrapperType RecordIO is refused in File and FastFile mode (the API reference: Gzip is used only in Pipe mode; in File mode leave RecordWrapperType unset or None: the objects would reach the job as they are), creating nothing; None is taken", async () => {
  const processBackend: ContainerBackend = { name: 'process', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: processBackend, alarmsAndScaling: false, settings: { s3EndpointUrl: 'http://127.0.0.1:1' }, trainingGraceSeconds: 1 });
  try {
    const job = (name: string, channel: Record<string, unknown>) => ({
      TrainingJobName: name,
      RoleArn: 'arn:aws:iam::123456789012:role/R',
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File' },
      OutputDataConfig: { S3OutputPath: 's3://b/out' },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://b/none' } }, ...channel }],
    });
    await assert.rejects(sm.sagemaker.call('CreateTrainingJob', job('gz', { CompressionType: 'Gzip' })), { name: 'ValidationException', message: /Channel "train": CompressionType Gzip is used only in Pipe input mode/ });
    await assert.rejects(sm.sagemaker.call('CreateTrainingJob', job('rio', { RecordWrapperType: 'RecordIO' })), {
      name: 'ValidationException',
      message: 'Channel "train": RecordWrapperType RecordIO (each S3 object wrapped in a RecordIO record) is for Pipe input mode, which the local SageMaker does not stream; in File mode leave it unset or None, as the API reference says.',
    });
    await assert.rejects(sm.sagemaker.call('CreateTrainingJob', job('rio-ff', { RecordWrapperType: 'RecordIO', InputMode: 'FastFile' })), { name: 'ValidationException', message: /in FastFile mode leave it unset or None/ });
    assert.equal(sm.store.trainingJobs.size, 0);
    // None is the default, and is taken (the job then fails downloading from the S3 server that is not there).
    await sm.sagemaker.call('CreateTrainingJob', job('none', { RecordWrapperType: 'None', CompressionType: 'None' }));
    assert.equal(sm.store.trainingJobs.size, 1);
  } finally {
    await sm.stop();
  }
});

test("MaxRuntimeInSeconds' timer waits out a limit past what setTimeout holds (28 days, the API's most; setTimeout fires such a delay at once) in steps, and its cancel holds at every step", () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const days28 = 28 * 86_400_000;
    let fired = 0;
    realTimer(days28, () => fired++);
    mock.timers.tick(2 ** 31 - 2);
    assert.equal(fired, 0, 'not at once');
    mock.timers.tick(1);
    assert.equal(fired, 0, 'not after the first step');
    mock.timers.tick(days28 - 2 ** 31);
    assert.equal(fired, 0, 'not before the limit');
    mock.timers.tick(1);
    assert.equal(fired, 1, 'at the limit');
    let cancelledFired = 0;
    const cancel = realTimer(days28, () => cancelledFired++);
    mock.timers.tick(2 ** 31);
    cancel();
    mock.timers.tick(days28);
    assert.equal(cancelledFired, 0, 'cancelled after the first step');
  } finally {
    mock.timers.reset();
  }
});

test('an empty string in ContainerArguments is an argument, as the service model has it (no minimum length): the request is refused for ContainerArguments, which the local SageMaker does not run, not as an invalid value', async () => {
  const processBackend: ContainerBackend = { name: 'process', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: processBackend, alarmsAndScaling: false, settings: {} });
  try {
    const app = createFrontDoor({ endpoints: sm.directory(), services: sm.services });
    const job = {
      TrainingJobName: 'empty-arg',
      RoleArn: 'arn:aws:iam::123456789012:role/R',
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File', ContainerArguments: ['--tag', ''] },
      OutputDataConfig: { S3OutputPath: 's3://b/out' },
    };
    const res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.CreateTrainingJob').set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify(job));
    assert.equal(res.status, 400);
    const body = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(body.__type, 'ValidationException');
    assert.doesNotMatch(body.message, /validation error/);
    assert.match(body.message, /ContainerArguments are not supported by the local SageMaker/);
    assert.equal(sm.store.trainingJobs.size, 0);
  } finally {
    await sm.stop();
  }
});
