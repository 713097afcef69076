// ListTrainingJobs with StatusEquals and MaxResults, through the real @aws-sdk/client-sagemaker
// against the local SageMaker: the API reference says the page is taken first and then filtered
// ("the MaxResults number of training jobs are first retrieved ignoring the StatusEquals parameter
// and then they are filtered by the StatusEquals parameter",
// https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListTrainingJobs.html), so a script
// that reads the first page's first job as "the job in progress" fails on SageMaker; locally too.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, ListTrainingJobsCommand, paginateListTrainingJobs, type CreateTrainingJobCommandInput, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalTraining, TRAIN_FIXTURES as FIXTURES, TRAINING_ROLE as ROLE, type LocalTraining } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

let env: LocalTraining;
let sm: SageMakerClient;

/** Generous: only bounds a job that never gets there, on a loaded machine. */
const DEADLINE_MS = 600_000;

function job(name: string, script: string, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
  return {
    TrainingJobName: name,
    RoleArn: ROLE,
    AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
    HyperParameters: { sagemaker_program: JSON.stringify(script), sagemaker_submit_directory: JSON.stringify(FIXTURES) },
    OutputDataConfig: { S3OutputPath: 's3://data/out' },
    ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
    StoppingCondition: { MaxRuntimeInSeconds: 3600 },
    ...extra,
  };
}

describe('ListTrainingJobs StatusEquals with MaxResults', () => {
  before(async () => {
    env = await startLocalTraining({ trainingGraceSeconds: 1 });
    sm = env.sm;
    // The older job trains until stopped (the local SageMaker stops it when the test ends).
    await sm.send(new CreateTrainingJobCommand(job('older-running', 'save-on-sigterm.mjs')));
    await until('older-running to start training', () => existsSync(join(env.local.workDir, 'training', 'older-running', 'opt', 'ml', 'output', 'data', 'ready')), { timeoutMs: DEADLINE_MS, intervalMs: 100 });
    // The newer one fails while downloading its (empty) channel, before any process starts.
    await sm.send(
      new CreateTrainingJobCommand(job('newer-failed', 'fail.mjs', { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/nothing/here' } } }] })),
    );
    await until('newer-failed to fail', async () => (await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'newer-failed' }))).TrainingJobStatus === 'Failed', { timeoutMs: DEADLINE_MS, intervalMs: 100 });
  });

  after(async () => {
    await env?.stop();
  });

  test('the page of MaxResults jobs is taken first, then filtered: an empty page with a NextToken, the job on the next', async () => {
    assert.equal((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'older-running' }))).TrainingJobStatus, 'InProgress');
    // Newest first: the first page of one job holds newer-failed, which StatusEquals InProgress then leaves out.
    const first = await sm.send(new ListTrainingJobsCommand({ StatusEquals: 'InProgress', MaxResults: 1 }));
    assert.deepEqual(first.TrainingJobSummaries, []);
    assert.ok(first.NextToken, 'the empty page still has a NextToken: more jobs follow');
    const second = await sm.send(new ListTrainingJobsCommand({ StatusEquals: 'InProgress', MaxResults: 1, NextToken: first.NextToken! }));
    assert.deepEqual(second.TrainingJobSummaries!.map((s) => s.TrainingJobName), ['older-running']);
    assert.equal(second.NextToken, undefined);
    // A page large enough for both holds the one in progress.
    assert.deepEqual((await sm.send(new ListTrainingJobsCommand({ StatusEquals: 'InProgress', MaxResults: 2 }))).TrainingJobSummaries!.map((s) => s.TrainingJobName), ['older-running']);
    // The SDK's paginator walks past the empty page.
    const names: string[] = [];
    for await (const page of paginateListTrainingJobs({ client: sm, pageSize: 1 }, { StatusEquals: 'InProgress' })) names.push(...page.TrainingJobSummaries!.map((s) => s.TrainingJobName!));
    assert.deepEqual(names, ['older-running']);
  });

  test('StatusEquals without MaxResults filters all jobs, as the other filters do', async () => {
    assert.deepEqual((await sm.send(new ListTrainingJobsCommand({ StatusEquals: 'InProgress' }))).TrainingJobSummaries!.map((s) => s.TrainingJobName), ['older-running']);
    assert.deepEqual((await sm.send(new ListTrainingJobsCommand({ StatusEquals: 'Failed' }))).TrainingJobSummaries!.map((s) => s.TrainingJobName), ['newer-failed']);
  });
});
