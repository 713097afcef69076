// A training job that floods its output: its log file under the work folder keeps the head and the
// tail of the output, not all of it (the real @aws-sdk/client-sagemaker against startLocalSageMaker,
// on a local S3 server).
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { cappedLogFiles } from '../../src/local/backends/capped-log.js';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { startLocalTraining, TRAIN_FIXTURES, TRAINING_ROLE, type LocalTraining } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

let env: LocalTraining;
// The tail kept (at least 256 KiB) is well past how far the error line, relayed by smkit train from
// the entry point's stderr, may come before the entry point's last stdout, which may still be in its
// pipe (64 KiB) and this process's read buffer then.
const CAP = { headBytes: 64 * 1024, tailBytes: 256 * 1024 };

before(async () => {
  env = await startLocalTraining({ trainingGraceSeconds: 5, trainingLogCap: CAP });
});

after(async () => {
  await env?.stop();
});

test("a job that prints 1.3 MB keeps the head of its output in its log file and its last lines in the tail files, not all of it", async () => {
  const { sm, local } = env;
  await sm.send(
    new CreateTrainingJobCommand({
      TrainingJobName: 'flood',
      RoleArn: TRAINING_ROLE,
      AlgorithmSpecification: { TrainingImage: 'trainer:1', TrainingInputMode: 'File' },
      HyperParameters: { sagemaker_program: '"flood.mjs"', sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES), lines: '20000' },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
    }),
  );
  const d = await until('flood to end', async () => {
    const r = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'flood' }));
    return r.TrainingJobStatus === 'InProgress' || r.TrainingJobStatus === 'Stopping' ? undefined : r;
  }, { timeoutMs: 600_000, intervalMs: 200 });
  assert.equal(d.TrainingJobStatus, 'Failed');
  // The job's CloudWatch stream has every line, whatever the file keeps, once the job is seen to have
  // ended: the SageMaker Python SDK reads the stream one last time then, and stops.
  const logs = new CloudWatchLogsClient(localClientConfig(local.url));
  try {
    const group = '/aws/sagemaker/TrainingJobs';
    const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: 'flood/' }));
    const messages: string[] = [];
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: logStreams![0]!.logStreamName!, startFromHead: true, ...(token ? { nextToken: token } : {}) }));
      messages.push(...page.events!.map((e) => e.message!));
      if (page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    assert.equal(new Set(messages.filter((m) => /^batch \d+ of 20000: /.test(m))).size, 20000);
    assert.ok(messages.some((m) => m.startsWith('RuntimeError: the loss became NaN')));
  } finally {
    logs.destroy();
  }
  const files = cappedLogFiles(join(local.workDir, 'logs', 'training-job-flood.log'));
  const head = readFileSync(files.head, 'utf8');
  // smkit train's start-up lines and the first batches, then where the rest is.
  assert.match(head, /invoking the entry point/);
  assert.match(head, /^batch 1 of 20000: /m);
  assert.match(head, /\[smkit local: this log keeps the first 65536 bytes of the output; the rest is in .*training-job-flood\.tail\.log/);
  assert.ok(statSync(files.head).size < CAP.headBytes + 1024);
  assert.ok(statSync(files.tail).size <= CAP.tailBytes && statSync(files.previousTail).size <= CAP.tailBytes);
  // The end of the output, where the error is, is kept (stdout and stderr are read from two pipes:
  // the error line may come before the last batches, and either may be past the last cut).
  const end = readFileSync(files.previousTail, 'utf8') + readFileSync(files.tail, 'utf8');
  assert.ok(end.length >= CAP.tailBytes);
  assert.match(end, /^batch 20000 of 20000: /m);
  assert.match(end, /RuntimeError: the loss became NaN/);
  assert.doesNotMatch(end, /^batch 1 of 20000: /m);
});
