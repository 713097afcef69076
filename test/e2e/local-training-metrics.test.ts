// A training job's MetricDefinitions applied to its output, read with the real
// @aws-sdk/client-sagemaker (FinalMetricDataList) and @aws-sdk/client-cloudwatch (the metrics in
// /aws/sagemaker/TrainingJobs, dimension TrainingJobName, as the SageMaker Python SDK's
// TrainingJobAnalytics reads them), against a local SageMaker running the job through smkit train.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetMetricDataCommand, GetMetricStatisticsCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, waitUntilTrainingJobCompletedOrStopped, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalTraining, TRAIN_FIXTURES as FIXTURES, TRAINING_ROLE as ROLE, type LocalTraining } from '../helpers/local-training.js';

const NAMESPACE = '/aws/sagemaker/TrainingJobs';

let env: LocalTraining;
let clients: LocalTraining['clients'];
let sm: SageMakerClient;
const warnings: Array<{ msg: string; fields: Record<string, unknown> }> = [];

describe('local training metrics', () => {
  before(async () => {
    env = await startLocalTraining({
      // (a+)+$ on 64 a's and a b never ends, whatever the budget: a short one keeps the test short.
      metricRegexBudgetMs: 300,
      log: (level, msg, fields) => {
        if (level === 'warn') warnings.push({ msg, fields });
      },
    });
    ({ clients, sm } = env);
  });

  after(() => env?.stop());

  function job(name: string, MetricDefinitions: Array<{ Name: string; Regex: string }>) {
    return new CreateTrainingJobCommand({
      TrainingJobName: name,
      RoleArn: ROLE,
      AlgorithmSpecification: { TrainingImage: 'trainer:1', TrainingInputMode: 'File', MetricDefinitions },
      HyperParameters: { sagemaker_program: '"print-metrics.mjs"', sagemaker_submit_directory: JSON.stringify(FIXTURES) },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
    });
  }

  test('MetricDefinitions: each line is matched, numeric first groups go to CloudWatch and the latest to FinalMetricDataList; a regex that backtracks for ever is disabled and the job completes', async () => {
    await sm.send(
      job('metrics', [
        { Name: 'train:error', Regex: 'Train_error=(.*?);' },
        { Name: 'validation:error', Regex: 'Valid_error=(?P<value>\\S+?);' },
        { Name: 'loss', Regex: 'loss = (.*?);' },
        { Name: 'late', Regex: 'late=(\\d+)' },
        { Name: 'stuck', Regex: '(a+)+$' },
        // Python's verbose mode, Unicode \d and \b, and a possessive quantifier.
        { Name: 'acc', Regex: '(?x) \\b acc = ( \\d+ \\. \\d++ )  # in any digits' },
      ]),
    );
    // The job starts smkit train and its entry point, two Node processes: under a load of 25 on two
    // cores this took 17 s, so a 20 s bound would fail under more. It only bounds a job that never ends.
    await waitUntilTrainingJobCompletedOrStopped({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 600 }, { TrainingJobName: 'metrics' });
    const d = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'metrics' }));
    assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
    // In definition order; 'late' is past the first 4096 characters of its line, 'stuck' was disabled.
    assert.deepEqual(
      d.FinalMetricDataList?.map((m) => [m.MetricName, m.Value]),
      [
        ['train:error', 0.1],
        ['validation:error', 0.2],
        ['loss', 0.25],
        ['acc', 0.95],
      ],
    );
    for (const m of d.FinalMetricDataList!) {
      assert.ok(m.Timestamp instanceof Date && m.Timestamp >= d.TrainingStartTime! && m.Timestamp <= d.TrainingEndTime!, `${m.MetricName} at ${String(m.Timestamp)}`);
    }
    const disabled = warnings.filter((w) => w.fields.trainingJob === 'metrics' && /metric disabled/.test(w.msg));
    assert.deepEqual(
      disabled.map((w) => w.fields.metric),
      ['stuck'],
    );

    const dimensions = [{ Name: 'TrainingJobName', Value: 'metrics' }];
    const StartTime = new Date(d.TrainingStartTime!.getTime() - 120_000);
    const EndTime = new Date(d.TrainingEndTime!.getTime() + 120_000);
    const stats = await clients.cloudwatch.send(
      new GetMetricStatisticsCommand({ Namespace: NAMESPACE, MetricName: 'train:error', Dimensions: dimensions, StartTime, EndTime, Period: 60, Statistics: ['SampleCount', 'Minimum', 'Maximum'] }),
    );
    const points = stats.Datapoints ?? [];
    assert.equal(
      points.reduce((n, p) => n + p.SampleCount!, 0),
      4,
    );
    assert.equal(Math.min(...points.map((p) => p.Minimum!)), 0.1);
    assert.equal(Math.max(...points.map((p) => p.Maximum!)), 0.5);

    const listed = await clients.cloudwatch.send(new ListMetricsCommand({ Namespace: NAMESPACE, Dimensions: [{ Name: 'TrainingJobName', Value: 'metrics' }] }));
    assert.deepEqual(listed.Metrics?.map((m) => m.MetricName).sort(), ['acc', 'loss', 'train:error', 'validation:error']);
    assert.ok(listed.Metrics!.every((m) => JSON.stringify(m.Dimensions) === JSON.stringify(dimensions)));

    const data = await clients.cloudwatch.send(
      new GetMetricDataCommand({ StartTime, EndTime, MetricDataQueries: [{ Id: 'v', MetricStat: { Metric: { Namespace: NAMESPACE, MetricName: 'validation:error', Dimensions: dimensions }, Period: 60, Stat: 'Minimum' } }] }),
    );
    assert.equal(Math.min(...data.MetricDataResults![0]!.Values!), 0.2);
  });

  test('MetricDefinitions that cannot be run are refused by CreateTrainingJob with a ValidationException naming the definition, and no job is created', async () => {
    const refused = async (Regex: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(sm.send(job('refused', [{ Name: 'ok', Regex: 'ok=(\\d+)' }, { Name: 'bad', Regex }])), (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.match(err.message, /MetricDefinitions\[1\] \(bad\)/);
        assert.match(err.message, pattern);
        return true;
      });
    };
    await refused('loss=\\S+', /no capturing group/);
    await refused('loss=([0-9]+', /cannot be run by the local SageMaker/);
    await refused('(?(1)a|b)=(\\S+)', /conditional groups \(\?\(id\)yes\|no\) have no JavaScript equivalent/);
    await refused('(?i:loss)=(\\S+)', /scoped \(\?i:\.\.\.\)/);
    await assert.rejects(sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'refused' })), /Requested resource not found/);
  });
});
