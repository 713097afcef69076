// The local CloudWatch Logs fed by what training jobs and endpoint instances print, read with the
// real @aws-sdk/client-cloudwatch-logs (and boto3, when installed) the way the SageMaker Python
// SDK tails a training job: the job's streams by prefix, then GetLogEvents until the same token
// comes back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  CreateTransformJobCommand,
  waitUntilEndpointInService,
  waitUntilTrainingJobCompletedOrStopped,
  waitUntilTransformJobCompletedOrStopped,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3, type LocalS3 } from '../helpers/local-s3.js';
import { localClientConfig, localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'train');
const IRIS_DIR = join(REPO_ROOT, 'models', 'iris-onnx');
const ROLE = 'arn:aws:iam::111122223333:role/SageMakerRole';
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hasBoto3 = await run(PYTHON, ['-c', 'import boto3'], { timeout: 30_000 }).then(
  () => true,
  () => false,
);
const waitFast = { minDelay: 1, maxDelay: 1, maxWaitTime: 90 };

let s3: LocalS3;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;
let sm: SageMakerClient;
let logs: CloudWatchLogsClient;

/** The job every test reads: print-lines.mjs writes three epochs to stdout and a warning to stderr. */
let trained: Promise<void>;

describe('local cloudwatch logs', () => {
  before(async () => {
    s3 = await startLocalS3(['data']);
    local = await startLocalSageMaker({ port: 0, startupTimeoutMs: 60_000, settings: { s3EndpointUrl: s3.url, region: 'us-east-1', accountId: '111122223333' } });
    clients = localSdkClients(local.url);
    sm = clients.sagemaker;
    logs = new CloudWatchLogsClient(localClientConfig(local.url));
    await sm.send(
      new CreateTrainingJobCommand({
        TrainingJobName: 'printer',
        RoleArn: ROLE,
        AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
        HyperParameters: { sagemaker_program: '"print-lines.mjs"', sagemaker_submit_directory: JSON.stringify(FIXTURES) },
        OutputDataConfig: { S3OutputPath: 's3://data/out' },
        ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
      }),
    );
    trained = waitUntilTrainingJobCompletedOrStopped({ client: sm, ...waitFast }, { TrainingJobName: 'printer' }).then(() => undefined);
  });

  after(async () => {
    logs?.destroy();
    clients?.destroy();
    await local?.stop();
    await s3?.stop();
  });

  const TRAINING_GROUP = '/aws/sagemaker/TrainingJobs';

  describe('local CloudWatch Logs from jobs and endpoints', { concurrency: true }, () => {
    test("a training job's output is its stream <job>/algo-1-<epoch>, read to the end as the SageMaker Python SDK tails it", async () => {
      await trained;
      // logs_for_job: the job's streams by prefix, in name order.
      const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: TRAINING_GROUP, logStreamNamePrefix: 'printer/', orderBy: 'LogStreamName', limit: 1 }));
      assert.equal(logStreams?.length, 1);
      const stream = logStreams![0]!.logStreamName!;
      assert.match(stream, /^printer\/algo-1-\d{10}$/);

      // log_stream: GetLogEvents from the head until a page brings nothing and the same token back.
      const messages: string[] = [];
      let token: string | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 50, 'the tail loop did not end');
        const page = await logs.send(new GetLogEventsCommand({ logGroupName: TRAINING_GROUP, logStreamName: stream, startTime: 0, startFromHead: true, limit: 2, ...(token ? { nextToken: token } : {}) }));
        messages.push(...page.events!.map((e) => e.message!));
        if (page.events!.length === 0) {
          assert.equal(page.nextForwardToken, token);
          break;
        }
        token = page.nextForwardToken;
      }
      const mine = messages.filter((m) => /^(epoch|warning)/.test(m));
      assert.deepEqual(mine, ['epoch 1 loss=1.000', 'epoch 2 loss=0.500', 'epoch 3 loss=0.333', 'warning: a line on stderr']);
      // smkit train's own lines (as the training toolkit's are on SageMaker) come before and after them.
      assert.ok(messages.length > mine.length);
      assert.ok(messages.every((m) => m.length > 0 && !m.endsWith('\n') && !m.endsWith('\r')));
    });

    test("an endpoint instance's container output is its stream <variant>/<instance id> in /aws/sagemaker/Endpoints/<name>", async () => {
      await sm.send(new CreateModelCommand({ ModelName: 'iris-logs', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'smkit:latest', ModelDataUrl: IRIS_DIR } }));
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris-logs', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'iris-logs', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: 'iris-logs', EndpointConfigName: 'iris-logs' }));
      await waitUntilEndpointInService({ client: sm, ...waitFast }, { EndpointName: 'iris-logs' });
      const group = '/aws/sagemaker/Endpoints/iris-logs';
      const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, orderBy: 'LastEventTime', descending: true }));
      assert.deepEqual(logStreams?.length, 1);
      assert.match(logStreams![0]!.logStreamName!, /^AllTraffic\/i-[0-9a-f]{17}$/);
      // The instance passed /ping, so its server is listening; its primary writes the "ready: listening"
      // line once every worker reported, which can come after a worker's first answer (and the log
      // store reads the container's output as it arrives, as CloudWatch Logs is behind a real container).
      const found = await until(
        'the "listening" line in the endpoint\'s log group',
        async () => {
          const page = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'listening' }));
          return page.events!.length >= 1 ? page : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.equal(found.events![0]!.logStreamName, logStreams![0]!.logStreamName);
      // A container's error answer is a ModelError whose LogStreamArn is the endpoint's log group ARN, as the service answers, which the logs API reads.
      await assert.rejects(clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'iris-logs', ContentType: 'application/x-unknown', Body: 'x' })), (err: Error & { LogStreamArn?: string }) => {
        assert.equal(err.name, 'ModelError');
        assert.equal(err.LogStreamArn, `arn:aws:logs:us-east-1:111122223333:log-group:${group}`);
        assert.match(err.message, /See \/.+\.log for more information\.$/, 'the message still names the log file');
        return true;
      });
      const byArn = await logs.send(new DescribeLogStreamsCommand({ logGroupIdentifier: `arn:aws:logs:us-east-1:111122223333:log-group:${group}` }));
      assert.deepEqual(byArn.logStreams?.map((s) => s.logStreamName), [logStreams![0]!.logStreamName]);
    });

    test("a transform job's container output is its stream <job>/<instance id>-<epoch> in /aws/sagemaker/TransformJobs, the job's own report its <job>/<instance id>-<epoch>/data-log", async () => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'batch/iris.csv', Body: '5.1,3.5,1.4,0.2\n' }));
      await sm.send(new CreateModelCommand({ ModelName: 'iris-batch', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'smkit:latest', ModelDataUrl: IRIS_DIR } }));
      await sm.send(
        new CreateTransformJobCommand({
          TransformJobName: 'scorer',
          ModelName: 'iris-batch',
          TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/batch/' } }, ContentType: 'text/csv', SplitType: 'Line' },
          TransformOutput: { S3OutputPath: 's3://data/scored' },
          TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
        }),
      );
      await waitUntilTransformJobCompletedOrStopped({ client: sm, ...waitFast }, { TransformJobName: 'scorer' });
      const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TransformJobs', logStreamNamePrefix: 'scorer/' }));
      assert.equal(logStreams?.length, 2);
      assert.match(logStreams![0]!.logStreamName!, /^scorer\/i-[0-9a-f]{17}-\d{10}$/);
      assert.equal(logStreams![1]!.logStreamName, `${logStreams![0]!.logStreamName!}/data-log`);
      const page = await logs.send(new GetLogEventsCommand({ logGroupName: '/aws/sagemaker/TransformJobs', logStreamName: logStreams![0]!.logStreamName!, startFromHead: true }));
      assert.ok(page.events!.some((e) => e.message!.includes('listening')), 'no "listening" line');
      const dataLog = await logs.send(new GetLogEventsCommand({ logGroupName: '/aws/sagemaker/TransformJobs', logStreamName: logStreams![1]!.logStreamName!, startFromHead: true }));
      assert.deepEqual(
        dataLog.events!.map((e) => e.message!.replace(/=\d+/g, '=N')),
        [`[sagemaker logs]: MaxConcurrentTransforms=N, MaxPayloadInMB=N, BatchStrategy=${dataLog.events![0]!.message!.endsWith('SINGLE_RECORD') ? 'SINGLE_RECORD' : 'MULTI_RECORD'}`],
        'the parameters, and no failed record',
      );
    });

    test('boto3: describe_log_streams by the job prefix and get_log_events from the head, as sagemaker.logs does', { skip: hasBoto3 ? false : 'python3 with boto3 not installed' }, async () => {
      await trained;
      const script = `
import json, sys, boto3
logs = boto3.client('logs', endpoint_url=sys.argv[1])
streams = logs.describe_log_streams(logGroupName='/aws/sagemaker/TrainingJobs', logStreamNamePrefix='printer/', orderBy='LogStreamName', limit=1)['logStreams']
token, messages = None, []
while True:
    r = logs.get_log_events(logGroupName='/aws/sagemaker/TrainingJobs', logStreamName=streams[0]['logStreamName'], startTime=0, startFromHead=True, **({'nextToken': token} if token else {}))
    messages += [e['message'] for e in r['events']]
    if not r['events']:
        break
    token = r['nextForwardToken']
try:
    logs.get_log_events(logGroupName='/aws/sagemaker/TrainingJobs', logStreamName='printer/algo-9')
except logs.exceptions.ResourceNotFoundException as e:
    missing = e.response['Error']['Message']
print(json.dumps({'stream': streams[0]['logStreamName'], 'messages': [m for m in messages if m.startswith('epoch')], 'missing': missing}))
`;
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
      const { stdout } = await run(PYTHON, ['-c', script, local.url], { env, timeout: 60_000 });
      const out = JSON.parse(stdout) as { stream: string; messages: string[]; missing: string };
      assert.match(out.stream, /^printer\/algo-1-\d{10}$/);
      assert.deepEqual(out.messages, ['epoch 1 loss=1.000', 'epoch 2 loss=0.500', 'epoch 3 loss=0.333']);
      assert.equal(out.missing, 'The specified log stream does not exist.');
    });
  });
});
