// Training jobs' warm pools (ResourceConfig.KeepAlivePeriodInSeconds) in the local SageMaker, driven
// by the real @aws-sdk/client-sagemaker. The warm pools' clock is the test's: keep-alives run out
// when the test moves it, not after a wait.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateTrainingJobCommand,
  DeleteTrainingJobCommand,
  DescribeTrainingJobCommand,
  ListTrainingJobsCommand,
  StopTrainingJobCommand,
  UpdateTrainingJobCommand,
  type CreateTrainingJobCommandInput,
  type SageMakerClient,
  type TrainingInstanceType,
  type WarmPoolResourceStatus,
} from '@aws-sdk/client-sagemaker';
import { startLocalTraining, TRAIN_FIXTURES as FIXTURES, TRAINING_ROLE as ROLE, type LocalTraining } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

let env: LocalTraining;
let sm: SageMakerClient;
/** The warm pools' clock, epoch ms. */
let clock = 1_800_000_000_000;

describe('local training warm pools', () => {
  before(async () => {
    env = await startLocalTraining({ trainingGraceSeconds: 5, warmPoolNow: () => clock });
    sm = env.sm;
  });

  after(async () => {
    await env?.stop();
  });

  /** A channel with nothing under it: the job fails with a ClientError while downloading, before any process starts. */
  const NO_DATA = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/nothing/here' } } }] };

  /** A job on `instanceType` (tests keep their pools apart by it) that fails at once, kept alive `keepAlive` seconds. */
  function job(name: string, instanceType: TrainingInstanceType, keepAlive: number | undefined, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
    return {
      TrainingJobName: name,
      RoleArn: ROLE,
      AlgorithmSpecification: { TrainingImage: 'trainer:1', TrainingInputMode: 'File' },
      HyperParameters: { sagemaker_program: '"fail.mjs"', sagemaker_submit_directory: JSON.stringify(FIXTURES) },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: instanceType, InstanceCount: 1, VolumeSizeInGB: 1, ...(keepAlive === undefined ? {} : { KeepAlivePeriodInSeconds: keepAlive }) },
      ...NO_DATA,
      ...extra,
    };
  }

  const describe = (name: string) => sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const d = await describe(name);
      return d.TrainingJobStatus === 'InProgress' || d.TrainingJobStatus === 'Stopping' ? undefined : d;
    });
  const listed = async (status: WarmPoolResourceStatus) =>
    (await sm.send(new ListTrainingJobsCommand({ WarmPoolStatusEquals: status, MaxResults: 100 }))).TrainingJobSummaries!.map((s) => [s.TrainingJobName, s.WarmPoolStatus]);

  test('a job that ended with a keep-alive leaves its warm pool Available; the next matching job reuses it (Reused, ReusedByJob / InUse), keeps it after a stop, and it runs out with its keep-alive', async () => {
    // A client error (no objects under the channel) keeps the pool, as AWS's "Warm pool creation" says.
    await sm.send(new CreateTrainingJobCommand(job('first', 'ml.m5.large', 600)));
    assert.equal((await ended('first')).TrainingJobStatus, 'Failed');
    assert.deepEqual((await describe('first')).WarmPoolStatus, { Status: 'Available' });
    assert.deepEqual(await listed('Available'), [['first', { Status: 'Available' }]]);

    // Other role or volume: no match, and the pool stays Available.
    await sm.send(new CreateTrainingJobCommand(job('other-volume', 'ml.m5.large', undefined, { ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 2 } })));
    await sm.send(new CreateTrainingJobCommand(job('other-role', 'ml.m5.large', undefined, { RoleArn: 'arn:aws:iam::111122223333:role/Other' })));
    assert.equal((await ended('other-volume')).WarmPoolStatus, undefined);
    assert.equal((await ended('other-role')).WarmPoolStatus, undefined);

    clock += 30_000;
    await sm.send(
      new CreateTrainingJobCommand(
        job('second', 'ml.m5.large', 300, { HyperParameters: { sagemaker_program: '"save-on-sigterm.mjs"', sagemaker_submit_directory: JSON.stringify(FIXTURES) }, InputDataConfig: undefined }),
      ),
    );
    assert.deepEqual((await describe('first')).WarmPoolStatus, { Status: 'Reused', ResourceRetainedBillableTimeInSeconds: 30, ReusedByJob: 'second' });
    const running = await describe('second');
    assert.deepEqual([running.TrainingJobStatus, running.WarmPoolStatus], ['InProgress', { Status: 'InUse' }]);
    assert.deepEqual(await listed('InUse'), [['second', { Status: 'InUse' }]]);
    assert.deepEqual(await listed('Reused'), [['first', { Status: 'Reused', ResourceRetainedBillableTimeInSeconds: 30, ReusedByJob: 'second' }]]);
    assert.deepEqual(await listed('Available'), []);
    await assert.rejects(sm.send(new UpdateTrainingJobCommand({ TrainingJobName: 'second', ResourceConfig: { KeepAlivePeriodInSeconds: 60 } })), {
      name: 'ValidationException',
      message: /has a warm pool that is InUse: KeepAlivePeriodInSeconds can be updated only while a job's warm pool is Available/,
    });

    // Stopped once its instances were up: the pool is kept, for the second job's own keep-alive.
    await until('second entry point to start', () => existsSync(join(env.local.workDir, 'training', 'second', 'opt', 'ml', 'output', 'data', 'ready')));
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'second' }));
    assert.equal((await ended('second')).TrainingJobStatus, 'Stopped');
    assert.deepEqual((await describe('second')).WarmPoolStatus, { Status: 'Available' });
    clock += 299_999;
    assert.deepEqual((await describe('second')).WarmPoolStatus, { Status: 'Available' });
    clock += 1;
    assert.deepEqual((await describe('second')).WarmPoolStatus, { Status: 'Terminated', ResourceRetainedBillableTimeInSeconds: 300 });
    assert.deepEqual(await listed('Terminated'), [['second', { Status: 'Terminated', ResourceRetainedBillableTimeInSeconds: 300 }]]);

    // A matching job now finds no pool.
    await sm.send(new CreateTrainingJobCommand(job('third', 'ml.m5.large', undefined)));
    assert.equal((await describe('third')).WarmPoolStatus, undefined);
    await ended('third');
  });

  test('UpdateTrainingJob changes the keep-alive of an Available warm pool (counted from the end of the job) and 0 terminates it; otherwise it is refused', async () => {
    const update = (name: string, seconds: number) => sm.send(new UpdateTrainingJobCommand({ TrainingJobName: name, ResourceConfig: { KeepAlivePeriodInSeconds: seconds } }));
    await sm.send(new CreateTrainingJobCommand(job('kept', 'ml.c5.xlarge', 60)));
    await ended('kept');
    const arn = (await update('kept', 120)).TrainingJobArn;
    assert.equal(arn, 'arn:aws:sagemaker:us-east-1:111122223333:training-job/kept');
    assert.equal((await describe('kept')).ResourceConfig?.KeepAlivePeriodInSeconds, 120);
    clock += 90_000;
    assert.deepEqual((await describe('kept')).WarmPoolStatus, { Status: 'Available' });
    // Managed Spot Training takes no warm pool, and keeps none.
    await sm.send(new CreateTrainingJobCommand(job('spot', 'ml.c5.xlarge', 60, { EnableManagedSpotTraining: true })));
    assert.equal((await describe('spot')).WarmPoolStatus?.Status, undefined);
    assert.deepEqual((await ended('spot')).WarmPoolStatus, { Status: 'Terminated', ResourceRetainedBillableTimeInSeconds: 0 });
    assert.deepEqual((await describe('kept')).WarmPoolStatus, { Status: 'Available' });
    await update('kept', 0);
    assert.deepEqual((await describe('kept')).WarmPoolStatus, { Status: 'Terminated', ResourceRetainedBillableTimeInSeconds: 90 });
    await assert.rejects(update('kept', 60), { name: 'ValidationException', message: /has a warm pool that is Terminated: KeepAlivePeriodInSeconds can be updated only while/ });

    // A keep-alive shortened to before now has already run out.
    await sm.send(new CreateTrainingJobCommand(job('shortened', 'ml.c5.xlarge', 600)));
    await ended('shortened');
    clock += 100_000;
    await update('shortened', 30);
    assert.deepEqual((await describe('shortened')).WarmPoolStatus, { Status: 'Terminated', ResourceRetainedBillableTimeInSeconds: 30 });

    // Without a keep-alive there is no warm pool.
    await sm.send(new CreateTrainingJobCommand(job('no-keep-alive', 'ml.c5.xlarge', undefined)));
    assert.equal((await ended('no-keep-alive')).WarmPoolStatus, undefined);
    await assert.rejects(update('no-keep-alive', 60), { name: 'ValidationException', message: /has no warm pool/ });
  });

  test('DeleteTrainingJob refuses a job that retains an Available warm pool (ResourceInUse), as the service model says, and deletes it once the pool is terminated', async () => {
    const del = (name: string) => sm.send(new DeleteTrainingJobCommand({ TrainingJobName: name }));
    await sm.send(new CreateTrainingJobCommand(job('pooled', 'ml.m5.2xlarge', 60)));
    await ended('pooled');
    await assert.rejects(del('pooled'), { name: 'ResourceInUse', message: /retains an Available warm pool.*KeepAlivePeriodInSeconds 0/ });
    assert.deepEqual((await describe('pooled')).WarmPoolStatus, { Status: 'Available' });
    await sm.send(new UpdateTrainingJobCommand({ TrainingJobName: 'pooled', ResourceConfig: { KeepAlivePeriodInSeconds: 0 } }));
    await del('pooled');
    await assert.rejects(describe('pooled'), { name: 'ValidationException' });
  });
});
