// Training jobs in the local SageMaker, driven by the real @aws-sdk/client-sagemaker against
// `startLocalSageMaker`, with channels, code and artifacts on a real local S3 server (s3rver): the
// jobs run test/fixtures/train scripts through `smkit train`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateTrainingJobCommand,
  DeleteTrainingJobCommand,
  DescribeTrainingJobCommand,
  ListTrainingJobsCommand,
  ListTagsCommand,
  StopTrainingJobCommand,
  UpdateTrainingJobCommand,
  waitUntilTrainingJobCompletedOrStopped,
  type CreateTrainingJobCommandInput,
  type ListTrainingJobsCommandInput,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import * as tar from 'tar';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { createS3Objects } from '../../src/local/s3/client.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { startLocalTraining, TRAIN_FIXTURES as FIXTURES, TRAINING_ROLE as ROLE, type LocalTraining } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

let env: LocalTraining;
let s3: LocalTraining['s3'];
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let clients: LocalTraining['clients'];
let work: string;
/** The local SageMaker's log lines, printed with a job's own log when a wait for a job runs out. */
const serverLog: string[] = [];

describe('local training jobs', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'smkit-train-jobs-'));
    // The tests below run at once, 17 jobs and more in progress together: more than the default 16 instances.
    env = await startLocalTraining({
      trainingGraceSeconds: 5,
      maxInstances: 64,
      log: (level, msg, fields) => void serverLog.push(`${new Date().toISOString()} ${level} ${msg} ${JSON.stringify(fields)}`),
    });
    ({ s3, local, clients, sm } = env);
    const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: 'data', Key, Body }));
    await put('iris/train/a.csv', '0,5.1\n');
    await put('iris/train/more/b.csv', '1,6.2\n');
    const sourcedir = join(work, 'sourcedir.tar.gz');
    await tar.c({ gzip: true, cwd: FIXTURES, file: sourcedir }, ['copy-channel.mjs', 'fail.mjs']);
    await put('code/sourcedir.tar.gz', await readFile(sourcedir));
  });

  after(async () => {
    await env?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** A job running `script` from the fixtures folder (read in place), writing to s3://data/out. */
  function job(name: string, script: string, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
    return {
      TrainingJobName: name,
      RoleArn: ROLE,
      AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
      HyperParameters: { sagemaker_program: JSON.stringify(script), sagemaker_submit_directory: JSON.stringify(FIXTURES) },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
      ...extra,
    };
  }

  /**
   * Deadlines for a job: this file's 17 tests run their jobs at once, and under a load average of
   * 30 on two cores (a full suite beside other builds) jobs took more than 60 s to end. The file
   * needs about 7 s of CPU in all (4.5 s of it in this process: the local SageMaker, S3 and the
   * SDK clients), so its time grows with the load: at a load of 25-33 the checkpoint test took
   * 20-92 s (every step of its job slower alike: Starting 10-24 s, Downloading 7-20 s), at 45-60 once more than 180 s.
   * The deadline only bounds a job that never ends.
   */
  const JOB_DEADLINE_S = 600;
  const waitFast = { minDelay: 1, maxDelay: 1, maxWaitTime: JOB_DEADLINE_S };

  /** The files of the `.tar.gz` at s3://data/<key>, by name. */
  async function archive(key: string): Promise<Map<string, string>> {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }));
    const dir = await mkdtemp(join(work, 'x-'));
    await writeFile(join(dir, 'a.tar.gz'), await out.Body!.transformToByteArray());
    await mkdir(join(dir, 'x'));
    const names: string[] = [];
    await tar.x({ file: join(dir, 'a.tar.gz'), cwd: join(dir, 'x'), onReadEntry: (e) => void names.push(e.path) });
    const files = new Map<string, string>();
    for (const n of names.filter((n) => !n.endsWith('/'))) files.set(n, await readFile(join(dir, 'x', n), 'utf8'));
    return files;
  }

  /**
   * What a wait for job `name` that ran out prints: the local SageMaker's log lines naming the job,
   * and the job's own output (smkit train's and its entry point's), to tell a slow start from a hang.
   */
  const jobDetail = (name: string) => (): string => {
    const lines = serverLog.filter((l) => l.includes(`"${name}"`));
    let output: string;
    try {
      output = readFileSync(join(local.workDir, 'logs', `training-job-${name}.log`), 'utf8');
    } catch (err) {
      output = `(no log file: ${(err as Error).message})`;
    }
    return `local SageMaker log for ${name}:\n${lines.join('\n') || '(none)'}\njob output:\n${output.slice(-8000)}`;
  };

  /** A channel with nothing under it: a job given it fails while downloading, before any process starts. */
  const NO_DATA = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/nothing/here' } } }] };

  /**
   * The job's description once it has left InProgress and Stopping (polled every 200 ms: jobs take
   * seconds, and a dozen of these wait at once, each an SDK call to the local SageMaker per probe).
   */
  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const d = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
      return d.TrainingJobStatus === 'InProgress' || d.TrainingJobStatus === 'Stopping' ? undefined : d;
    }, { timeoutMs: JOB_DEADLINE_S * 1000, intervalMs: 200, detail: jobDetail(name) });

  /** Resolves once the job's entry point has written its `ready` file: it runs and handles SIGTERM. */
  const entryPointReady = (name: string) =>
    until(`${name}'s entry point to start`, () => existsSync(join(local.workDir, 'training', name, 'opt', 'ml', 'output', 'data', 'ready')), { timeoutMs: JOB_DEADLINE_S * 1000, intervalMs: 100, detail: jobDetail(name) });

  describe('training jobs', { concurrency: true }, () => {
    test('a job trains on its S3 channel with code from S3, is awaited with the SDK waiter, and uploads model.tar.gz and output.tar.gz', async () => {
      const created = await sm.send(
        new CreateTrainingJobCommand(
          job('iris-train', 'copy-channel.mjs', {
            HyperParameters: { epochs: '3', sagemaker_program: '"copy-channel.mjs"', sagemaker_submit_directory: '"s3://data/code/sourcedir.tar.gz"' },
            InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/iris/train' } } }],
            Environment: { FLAVOUR: 'vanilla' },
            Tags: [{ Key: 'team', Value: 'ml' }],
          }),
        ),
      );
      assert.equal(created.TrainingJobArn, 'arn:aws:sagemaker:us-east-1:111122223333:training-job/iris-train');
      const first = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'iris-train' }));
      assert.equal(first.TrainingJobStatus, 'InProgress');

      await waitUntilTrainingJobCompletedOrStopped({ client: sm, ...waitFast }, { TrainingJobName: 'iris-train' });
      const done = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'iris-train' }));
      assert.equal(done.TrainingJobStatus, 'Completed', done.FailureReason);
      assert.equal(done.SecondaryStatus, 'Completed');
      assert.deepEqual(
        done.SecondaryStatusTransitions?.map((t) => t.Status),
        ['Starting', 'Downloading', 'Training', 'Uploading', 'Completed'],
      );
      assert.ok(done.SecondaryStatusTransitions?.every((t) => t.StartTime instanceof Date && t.EndTime instanceof Date));
      assert.equal(done.ModelArtifacts?.S3ModelArtifacts, 's3://data/out/iris-train/output/model.tar.gz');
      assert.ok(done.TrainingStartTime! >= done.CreationTime! && done.TrainingEndTime! >= done.TrainingStartTime!);
      assert.deepEqual(done.StoppingCondition, { MaxRuntimeInSeconds: 86400 });
      // KmsKeyId '' as the service gives it when none was sent: the SageMaker Python SDK's Estimator.attach reads it unconditionally.
      assert.deepEqual(done.OutputDataConfig, { KmsKeyId: '', S3OutputPath: 's3://data/out' });
      assert.equal(done.HyperParameters?.epochs, '3');
      assert.equal(done.InputDataConfig?.[0]?.DataSource?.S3DataSource?.S3DataDistributionType, 'FullyReplicated');

      const model = await archive('out/iris-train/output/model.tar.gz');
      assert.equal(model.get('model.txt'), 'a.csv: 0,5.1\n\nmore/b.csv: 1,6.2\n\nepochs=3 flavour=vanilla job=iris-train region=us-east-1\n');
      assert.deepEqual([...(await archive('out/iris-train/output/output.tar.gz'))], [['metrics.json', '{"loss":0.25}']]);
      assert.deepEqual((await sm.send(new ListTagsCommand({ ResourceArn: created.TrainingJobArn }))).Tags, [{ Key: 'team', Value: 'ml' }]);
    });

    test('a failing job (code from SAGEMAKER_SUBMIT_DIRECTORY in S3) is Failed, with the failure file as its FailureReason, and the waiter rejects', async () => {
      await sm.send(new CreateTrainingJobCommand(job('broken', 'fail.mjs', { HyperParameters: { sagemaker_program: '"fail.mjs"' }, Environment: { SAGEMAKER_SUBMIT_DIRECTORY: 's3://data/code/sourcedir.tar.gz' } })));
      const d = await ended('broken');
      await assert.rejects(waitUntilTrainingJobCompletedOrStopped({ client: sm, ...waitFast }, { TrainingJobName: 'broken' }), /FAILURE/);
      assert.equal(d.TrainingJobStatus, 'Failed');
      assert.equal(d.SecondaryStatus, 'Failed');
      assert.match(d.FailureReason!, /^AlgorithmError: ExecuteUserScriptError: .*fail\.mjs.* ended with exit code 1: Error: bad training data: column 3 is empty\n[^]*, exit code: 1$/);
      assert.ok(d.FailureReason!.length <= 1024);
    });

    test('a network-isolated job (the SDK\'s enable_network_isolation, JumpStart) reads its code from its code channel, at the /opt/ml path sagemaker_submit_directory names', async () => {
      // The SageMaker Python SDK uploads sourcedir.tar.gz as a channel named code and points the hyperparameter at where SageMaker puts it.
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'isolated/code/sourcedir.tar.gz', Body: await readFile(join(work, 'sourcedir.tar.gz')) }));
      await sm.send(
        new CreateTrainingJobCommand(
          job('isolated', 'copy-channel.mjs', {
            HyperParameters: { epochs: '2', sagemaker_program: '"copy-channel.mjs"', sagemaker_submit_directory: '"/opt/ml/input/data/code/sourcedir.tar.gz"' },
            InputDataConfig: [
              { ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/iris/train/a.csv' } } },
              { ChannelName: 'code', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/isolated/code' } } },
            ],
            EnableNetworkIsolation: true,
          }),
        ),
      );
      const d = await ended('isolated');
      assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
      assert.match((await archive('out/isolated/output/model.tar.gz')).get('model.txt')!, /^a\.csv: 0,5\.1\n\nepochs=2 /);
    });

    test('a sourcedir.tar.gz that is not a tar.gz, a gzip bomb or holds a link out of code/ fails the job with a ClientError naming where the code is and what is wrong with it (checked as a model.tar.gz is)', async () => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'code/garbage.tar.gz', Body: 'this is not an archive' }));
      await sm.send(new CreateTrainingJobCommand(job('bad-code', 'fail.mjs', { HyperParameters: { sagemaker_program: '"fail.mjs"', sagemaker_submit_directory: '"s3://data/code/garbage.tar.gz"' } })));
      const d = await ended('bad-code');
      assert.equal(d.TrainingJobStatus, 'Failed');
      assert.match(d.FailureReason!, /^ClientError: Could not extract the training code from s3:\/\/data\/code\/garbage\.tar\.gz \(sagemaker_submit_directory\): it is not a tar or tar\.gz archive \(TAR_BAD_ARCHIVE: Unrecognized archive format\)/);

      // 32 MB of zeros, gzipped about 1030 times smaller: the ratio of a bomb, refused before it is written out.
      const size = 32 * 1024 * 1024;
      const header = new tar.Header({ path: 'zeros.bin', type: 'File', size, mode: 0o644, mtime: new Date(0) });
      header.encode();
      // One zero-filled buffer with the header copied in: concatenating 32 MB of zeros copied them all.
      const tarBytes = Buffer.alloc(header.block!.length + size + 1024);
      header.block!.copy(tarBytes);
      const bomb = gzipSync(tarBytes, { level: 9 });
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'code/bomb.tar.gz', Body: bomb }));
      await sm.send(new CreateTrainingJobCommand(job('code-bomb', 'fail.mjs', { HyperParameters: { sagemaker_program: '"fail.mjs"', sagemaker_submit_directory: '"s3://data/code/bomb.tar.gz"' } })));
      const d2 = await ended('code-bomb');
      assert.equal(d2.TrainingJobStatus, 'Failed');
      assert.match(d2.FailureReason!, /^ClientError: Could not extract the training code from s3:\/\/data\/code\/bomb\.tar\.gz \(sagemaker_submit_directory\): ERR_ARCHIVE_INVALID: .*the ratio of a gzip bomb\. Nothing was extracted/);
      // A link out of code/ to a file the job's tree holds: refused, as in a model.tar.gz.
      const link = new tar.Header({ path: 'peek', type: 'SymbolicLink', linkpath: '../../input/config/hyperparameters.json', mode: 0o777, mtime: new Date(0) });
      link.encode();
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'code/escaping.tar.gz', Body: gzipSync(Buffer.concat([link.block!, Buffer.alloc(1024)])) }));
      await sm.send(new CreateTrainingJobCommand(job('code-escaping', 'fail.mjs', { HyperParameters: { sagemaker_program: '"fail.mjs"', sagemaker_submit_directory: '"s3://data/code/escaping.tar.gz"' } })));
      const d3 = await ended('code-escaping');
      assert.equal(d3.TrainingJobStatus, 'Failed');
      assert.match(d3.FailureReason!, /^ClientError: Could not extract the training code from s3:\/\/data\/code\/escaping\.tar\.gz \(sagemaker_submit_directory\): ERR_ARCHIVE_UNSAFE: .*"peek"/);
      // The same archive as a network-isolated job's code channel, in the tree at the /opt/ml path the hyperparameter names: checked alike.
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'code-channel/escaping/sourcedir.tar.gz', Body: gzipSync(Buffer.concat([link.block!, Buffer.alloc(1024)])) }));
      const channelCode = {
        HyperParameters: { sagemaker_program: '"fail.mjs"', sagemaker_submit_directory: '"/opt/ml/input/data/code/sourcedir.tar.gz"' },
        InputDataConfig: [{ ChannelName: 'code', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/code-channel/escaping' } } }],
        EnableNetworkIsolation: true,
      };
      await sm.send(new CreateTrainingJobCommand(job('channel-code-escaping', 'fail.mjs', channelCode)));
      const d4 = await ended('channel-code-escaping');
      assert.equal(d4.TrainingJobStatus, 'Failed');
      assert.match(d4.FailureReason!, /^ClientError: Could not extract the training code from \/opt\/ml\/input\/data\/code\/sourcedir\.tar\.gz \(sagemaker_submit_directory\): ERR_ARCHIVE_UNSAFE: .*"peek"/);
    });

    test('CheckpointConfig: the checkpoints in S3 are restored before the entry point runs and its new ones uploaded after', async () => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'ckpt/run1/epoch.txt', Body: '41' }));
      await sm.send(new CreateTrainingJobCommand(job('resumed', 'resume.mjs', { CheckpointConfig: { S3Uri: 's3://data/ckpt/run1' } })));
      const d = await ended('resumed');
      assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
      assert.deepEqual(d.CheckpointConfig, { S3Uri: 's3://data/ckpt/run1' });
      assert.equal((await archive('out/resumed/output/model.tar.gz')).get('model.txt'), 'resumed from epoch 41');
      const checkpointConfig = JSON.parse((await archive('out/resumed/output/output.tar.gz')).get('checkpointconfig.json') ?? 'null') as unknown;
      assert.deepEqual(checkpointConfig, { LocalPath: join(local.workDir, 'training', 'resumed', 'opt', 'ml', 'checkpoints'), S3Uri: 's3://data/ckpt/run1' });
      const saved = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'ckpt/run1/epoch.txt' }));
      assert.equal(await saved.Body!.transformToString(), '42');
    });

    test('CheckpointConfig: checkpoints reach S3 while the job runs, and a checkpoint the job deletes is deleted from S3', async () => {
      const object = async (Key: string) =>
        s3.client.send(new GetObjectCommand({ Bucket: 'data', Key })).then(
          (o) => o.Body!.transformToString(),
          (err: Error) => (err.name === 'NoSuchKey' ? undefined : Promise.reject(err)),
        );
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'ckpt/live/old.json', Body: '{}' }));
      await sm.send(new CreateTrainingJobCommand(job('checkpointing', 'checkpoint-progress.mjs', { CheckpointConfig: { S3Uri: 's3://data/ckpt/live/' } })));
      // The entry point is waiting for `go`: only a sync while it runs can have uploaded this.
      // The job's start is in this wait, beside every other test's job: it gets a job's deadline.
      let described = '';
      const first = await until(
        'epoch-1.json in S3',
        async () => {
          const found = await object('ckpt/live/epoch-1.json');
          if (found !== undefined) return found;
          const d = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'checkpointing' }));
          described = JSON.stringify([d.TrainingJobStatus, d.FailureReason, d.SecondaryStatusTransitions?.map((t) => [t.Status, t.StartTime])]);
          return undefined;
        },
        { timeoutMs: JOB_DEADLINE_S * 1000, intervalMs: 200, detail: () => `last description: ${described}\n${jobDetail('checkpointing')()}` },
      );
      assert.deepEqual(JSON.parse(first), { epoch: 1, restored: true });
      assert.equal((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'checkpointing' }))).TrainingJobStatus, 'InProgress');
      await writeFile(join(local.workDir, 'training', 'checkpointing', 'opt', 'ml', 'input', 'go'), '');
      const d = await ended('checkpointing');
      assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
      assert.equal(await object('ckpt/live/epoch-2.json'), '{"epoch":2}');
      assert.equal(await object('ckpt/live/old.json'), undefined);
    });

    test('a failure file past 1024 characters is cut so FailureReason still ends with the exit code; what the failed job saved is uploaded; a 28-day MaxRuntimeInSeconds (past what a timer holds) does not stop the job at once', async () => {
      await sm.send(new CreateTrainingJobCommand(job('wordy', 'long-failure.mjs', { StoppingCondition: { MaxRuntimeInSeconds: 28 * 86400 } })));
      const d = await ended('wordy');
      assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus], ['Failed', 'Failed']);
      assert.equal(d.FailureReason!.length, 1024);
      assert.match(d.FailureReason!, /^AlgorithmError: ValueError: x+, exit code: 3$/);
      assert.deepEqual(d.SecondaryStatusTransitions?.map((t) => [t.Status, t.StatusMessage]).slice(-2), [
        ['Training', 'Training image download completed. Training in progress.'],
        ['Failed', 'Training job failed'],
      ]);
      assert.deepEqual([...(await archive('out/wordy/output/model.tar.gz'))], [['partial.txt', 'epoch 4 of 10']]);
      assert.deepEqual([...(await archive('out/wordy/output/output.tar.gz'))], [['loss.csv', '0.9,0.7,0.6,0.55\n']]);
    });

    test('a failure file that is a FIFO (no writer) is not waited on: the job is Failed, with the exit code as its FailureReason', async () => {
      await sm.send(new CreateTrainingJobCommand(job('fifo-failure', 'fifo-failure.mjs')));
      const d = await ended('fifo-failure');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Failed', 'AlgorithmError: , exit code: 1']);
    });

    test('a failure file that is a link out of the job\'s tree (to a host file) is not read: FailureReason is the exit code alone', async () => {
      await sm.send(new CreateTrainingJobCommand(job('linked-failure', 'linked-failure.mjs')));
      const d = await ended('linked-failure');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Failed', 'AlgorithmError: , exit code: 1']);
    });

    test('FailureReason is cut to 1024 characters without parting a surrogate pair (no lone surrogate for the SDKs to decode)', async () => {
      await sm.send(new CreateTrainingJobCommand(job('emoji-failure', 'emoji-failure.mjs')));
      const d = await ended('emoji-failure');
      assert.equal(d.TrainingJobStatus, 'Failed');
      assert.equal(d.FailureReason, `AlgorithmError: ${'a'.repeat(993)}, exit code: 1`);
    });

    test('a channel with no objects fails the job with a ClientError naming the URL', async () => {
      await sm.send(new CreateTrainingJobCommand(job('no-data', 'copy-channel.mjs', NO_DATA)));
      const d = await ended('no-data');
      assert.equal(d.TrainingJobStatus, 'Failed');
      assert.match(d.FailureReason!, /^ClientError: No S3 objects found under S3 URL "s3:\/\/data\/nothing\/here"/);
      // Failed within moments of its start, yet 1 s, the service model's minimum (the SDK's logs_for_job divides by it for spot jobs).
      assert.ok(d.TrainingTimeInSeconds! >= 1 && d.BillableTimeInSeconds! >= 1, `${d.TrainingTimeInSeconds} ${d.BillableTimeInSeconds}`);
    });

    test('objects of which one would be a file where another needs a folder (x.csv and x.csv/y.csv), in a channel or the checkpoints, fail the job with a ClientError naming both, before any is downloaded', async () => {
      const put = (Key: string) => s3.client.send(new PutObjectCommand({ Bucket: 'data', Key, Body: '0,1\n' }));
      for (const key of ['clash/x.csv', 'clash/x.csv/y.csv', 'ckpt-clash/x.csv', 'ckpt-clash/x.csv/y.csv']) await put(key);
      const clashing = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/clash' } } }] };
      await sm.send(new CreateTrainingJobCommand(job('channel-clash', 'copy-channel.mjs', clashing)));
      await sm.send(new CreateTrainingJobCommand(job('checkpoint-clash', 'copy-channel.mjs', { CheckpointConfig: { S3Uri: 's3://data/ckpt-clash' } })));
      const channel = await ended('channel-clash');
      assert.equal(channel.TrainingJobStatus, 'Failed');
      assert.equal(
        channel.FailureReason,
        'ClientError: The S3 object s3://data/clash/x.csv would be a file where s3://data/clash/x.csv/y.csv needs a folder in channel "training", whose objects are downloaded under their keys after the prefix of "s3://data/clash": rename one of them.',
      );
      const checkpoints = await ended('checkpoint-clash');
      assert.equal(checkpoints.TrainingJobStatus, 'Failed');
      assert.equal(
        checkpoints.FailureReason,
        'ClientError: Could not restore the checkpoints: s3://data/ckpt-clash/x.csv would be a file where s3://data/ckpt-clash/x.csv/y.csv needs a folder in the checkpoint folder, where the objects under s3://data/ckpt-clash/ are downloaded under their keys after it; rename one of them.',
      );
    });

    test('StopTrainingJob: Stopping, SIGTERM lets the entry point save its model, then Stopped with the artifacts uploaded', async () => {
      await sm.send(new CreateTrainingJobCommand(job('long-run', 'save-on-sigterm.mjs')));
      await entryPointReady('long-run');
      await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'long-run' }));
      const stopping = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'long-run' }));
      assert.equal(stopping.TrainingJobStatus, 'Stopping');
      const d = await ended('long-run');
      await waitUntilTrainingJobCompletedOrStopped({ client: sm, ...waitFast }, { TrainingJobName: 'long-run' });
      assert.equal(d.TrainingJobStatus, 'Stopped');
      assert.equal(d.SecondaryStatus, 'Stopped');
      assert.deepEqual(d.SecondaryStatusTransitions?.map((t) => t.Status), ['Starting', 'Downloading', 'Training', 'Stopping', 'Uploading', 'Stopped']);
      assert.equal((await archive('out/long-run/output/model.tar.gz')).get('partial.txt'), 'saved on SIGTERM');
      await assert.rejects(sm.send(new StopTrainingJobCommand({ TrainingJobName: 'long-run' })), { name: 'ValidationException', message: 'The request was rejected because the training job is in status Stopped.' });
    });

    test('a model file whose name smkit package refuses (C:weights.bin, a drive on Windows) is uploaded under its own name, beside weights.bin, as SageMaker uploads what the job saved', async () => {
      await sm.send(new CreateTrainingJobCommand(job('odd-output', 'odd-output.mjs')));
      const d = await ended('odd-output');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      const out = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'out/odd-output/output/model.tar.gz' }));
      const file = join(work, 'odd-output.tar.gz');
      await writeFile(file, await out.Body!.transformToByteArray());
      const names: string[] = [];
      await tar.t({ file, onReadEntry: (e) => void names.push(e.path) });
      assert.deepEqual(names, ['C:weights.bin', 'weights.bin']);
    });

    test('symbolic links in model/ and output/data/ that lead out of the folder, to a folder above it or nowhere are left out of the archives (an archive of no entries when nothing else is there); one to a file inside is packed as that file', async () => {
      await sm.send(new CreateTrainingJobCommand(job('outside-links', 'outside-links.mjs')));
      const d = await ended('outside-links');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      assert.deepEqual([...(await archive('out/outside-links/output/model.tar.gz'))], [['alias.bin', 'plain'], ['weights.bin', 'plain']]);
      // output/data/ holds only a link out of it: an archive of no entries, its two zero end blocks
      // (GNU tar and Python's tarfile read it as empty; node-tar calls it unrecognized).
      const output = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'out/outside-links/output/output.tar.gz' }));
      assert.deepEqual(gunzipSync(await output.Body!.transformToByteArray()), Buffer.alloc(1024));
    });

    test('model/, output/data/ or checkpoints/ replaced by a link out of the job\'s tree (to the host\'s files) is neither uploaded nor synced; a link within the tree is followed', async () => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'ckpt/linked/old.txt', Body: 'saved before' }));
      await sm.send(new CreateTrainingJobCommand(job('linked-folders', 'linked-folders.mjs', { HyperParameters: { sagemaker_program: '"linked-folders.mjs"', sagemaker_submit_directory: JSON.stringify(FIXTURES), epochs: '1' }, CheckpointConfig: { S3Uri: 's3://data/ckpt/linked' } })));
      const d = await ended('linked-folders');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      // model/ led to the fixtures folder: an archive of no entries, not the host's files.
      const model = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'out/linked-folders/output/model.tar.gz' }));
      assert.deepEqual(gunzipSync(await model.Body!.transformToByteArray()), Buffer.alloc(1024));
      assert.deepEqual([...(await archive('out/linked-folders/output/output.tar.gz')).keys()].sort(), ['checkpointconfig.json', 'hyperparameters.json', 'inputdataconfig.json', 'resourceconfig.json']);
      // checkpoints/ led out too: nothing of the fixtures folder uploaded. What was in S3 is kept
      // unless a scan fell between the script's removal of the folder and its link (then the job
      // had deleted the restored file, which is deleted from S3), so it is not required here.
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: 'ckpt/linked/' }));
      assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).filter((k) => k !== 'ckpt/linked/old.txt'), []);
    });

    test('model/ or checkpoints/ replaced by a file, or output/data/ by a FIFO, is uploaded as an empty archive (nothing synced), not a failed upload of a job that exited 0', async () => {
      await sm.send(new CreateTrainingJobCommand(job('file-folders', 'file-folders.mjs', { CheckpointConfig: { S3Uri: 's3://data/ckpt/file-folders' } })));
      const d = await ended('file-folders');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      for (const file of ['model.tar.gz', 'output.tar.gz']) {
        const got = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: `out/file-folders/output/${file}` }));
        assert.deepEqual(gunzipSync(await got.Body!.transformToByteArray()), Buffer.alloc(1024), file);
      }
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: 'ckpt/file-folders' }));
      assert.deepEqual(listed.Contents ?? [], []);
      assert.ok(serverLog.some((l) => l.includes('is not a folder (the job replaced it with a file)') && l.includes('file-folders')), 'a warning names the folder');
    });

    test('output/ replaced by a file (output/data/ cannot be made under it) is an empty output.tar.gz with a warning, the model uploaded, not a failed upload of a job that exited 0', async () => {
      await sm.send(new CreateTrainingJobCommand(job('file-output', 'file-output.mjs')));
      const d = await ended('file-output');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      assert.deepEqual([...(await archive('out/file-output/output/model.tar.gz'))], [['model.txt', 'trained']]);
      const got = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'out/file-output/output/output.tar.gz' }));
      assert.deepEqual(gunzipSync(await got.Body!.transformToByteArray()), Buffer.alloc(1024));
      assert.ok(serverLog.some((l) => l.includes('is not a folder') && l.includes('out/file-output/output/output.tar.gz')), 'a warning names the folder');
    });

    test('symbolic links fanning out to the same folders in model/ (two to the next folder, twelve deep) pack each folder through a link once, not 2^12 times', async () => {
      await sm.send(new CreateTrainingJobCommand(job('dag-links', 'dag-links.mjs')));
      const d = await ended('dag-links');
      assert.deepEqual([d.TrainingJobStatus, d.FailureReason], ['Completed', undefined]);
      const files = [...(await archive('out/dag-links/output/model.tar.gz')).keys()];
      // Each w.bin in its own folder, and d1 … d12's once more through the first link reaching them (d0/l1/l1/…).
      assert.equal(files.length, 13 + 12);
      assert.ok(files.includes(`d0/${'l1/'.repeat(12)}w.bin`));
      assert.ok(!files.some((f) => f.includes('l2')));
    });

    test('DeleteTrainingJob deletes an ended job (its name can be used again) and refuses one in progress', async () => {
      await sm.send(new CreateTrainingJobCommand(job('short-lived', 'save-on-sigterm.mjs', { Tags: [{ Key: 'k', Value: 'v' }] })));
      await assert.rejects(sm.send(new DeleteTrainingJobCommand({ TrainingJobName: 'short-lived' })), { name: 'ResourceInUse', message: /is in status InProgress: only a Completed, Failed or Stopped job can be deleted/ });
      await entryPointReady('short-lived');
      await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'short-lived' }));
      await ended('short-lived');
      await sm.send(new DeleteTrainingJobCommand({ TrainingJobName: 'short-lived' }));
      await assert.rejects(sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'short-lived' })), { name: 'ValidationException', message: 'Requested resource not found.' });
      // A job deleted is unknown to DeleteTrainingJob as to DescribeTrainingJob: the one answer the service gives an unknown training job.
      await assert.rejects(sm.send(new DeleteTrainingJobCommand({ TrainingJobName: 'short-lived' })), { name: 'ValidationException', message: 'Requested resource not found.' });
      assert.ok(!existsSync(join(local.workDir, 'training', 'short-lived')));
      const again = await sm.send(new CreateTrainingJobCommand(job('short-lived', 'fail.mjs')));
      assert.deepEqual((await sm.send(new ListTagsCommand({ ResourceArn: again.TrainingJobArn }))).Tags, []);
      await ended('short-lived');
      // The new job's log is its own, not the deleted job's with the new output after it.
      const log = readFileSync(join(local.workDir, 'logs', 'training-job-short-lived.log'), 'utf8');
      assert.match(log, /bad training data/);
      assert.doesNotMatch(log, /save-on-sigterm/);
      assert.equal(log.split('"trainingEnv"').length - 1, 1, 'one run of smkit train in the log');
    });

    test('MaxRuntimeInSeconds stops the job: Stopped, with SecondaryStatus MaxRuntimeExceeded', async () => {
      await sm.send(new CreateTrainingJobCommand(job('too-long', 'save-on-sigterm.mjs', { StoppingCondition: { MaxRuntimeInSeconds: 1 } })));
      const d = await ended('too-long');
      assert.equal(d.TrainingJobStatus, 'Stopped');
      assert.equal(d.SecondaryStatus, 'MaxRuntimeExceeded');
    });

    test('UpdateTrainingJob: a keep-alive for a job without a warm pool, the profiler and remote debugging are refused, naming why; the shapes are validated; a request that changes nothing answers the ARN', async () => {
      const created = await sm.send(new CreateTrainingJobCommand(job('updated', 'fail.mjs', NO_DATA)));
      const update = (input: Omit<ConstructorParameters<typeof UpdateTrainingJobCommand>[0], 'TrainingJobName'>, name = 'updated') => sm.send(new UpdateTrainingJobCommand({ TrainingJobName: name, ...input }));
      assert.equal((await update({})).TrainingJobArn, created.TrainingJobArn);
      await assert.rejects(update({ ResourceConfig: { KeepAlivePeriodInSeconds: 600 } }), { name: 'ValidationException', message: /^Training job "arn:aws:sagemaker:us-east-1:111122223333:training-job\/updated" has no warm pool: KeepAlivePeriodInSeconds can be updated only while a job's warm pool is Available/ });
      await assert.rejects(update({ ResourceConfig: { KeepAlivePeriodInSeconds: 21601 } }), {
        name: 'ValidationException',
        message: "1 validation error detected: Value '21601' at 'resourceConfig.keepAlivePeriodInSeconds' failed to satisfy constraint: Member must have value less than or equal to 21600",
      });
      await assert.rejects(update({ ProfilerConfig: { DisableProfiler: true } }), { name: 'ValidationException', message: /no SageMaker Debugger/ });
      await assert.rejects(update({ ProfilerRuleConfigurations: [{ RuleConfigurationName: 'r', RuleEvaluatorImage: 'i' }] }), { name: 'ValidationException', message: /no SageMaker Debugger/ });
      await assert.rejects(update({ RemoteDebugConfig: { EnableRemoteDebug: true } }), { name: 'ValidationException', message: /no remote debugging through AWS Systems Manager.*training-job-updated\.log/ });
      await assert.rejects(update({}, 'nope'), { name: 'ValidationException', message: 'Requested resource not found.' });
      await ended('updated');
    });

    test('validation: the service\'s errors for bad names, missing members, duplicates and unknown jobs; local limits refused up front', async () => {
      const rejects = (input: CreateTrainingJobCommandInput, expected: { name: string; message: string | RegExp }) => assert.rejects(sm.send(new CreateTrainingJobCommand(input)), expected);
      await rejects(job('under_score', 'fail.mjs'), {
        name: 'ValidationException',
        message: "1 validation error detected: Value 'under_score' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
      });
      await rejects({ ...job('no-role', 'fail.mjs'), RoleArn: undefined }, { name: 'ValidationException', message: "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null" });
      await rejects(job('pipe', 'fail.mjs', { AlgorithmSpecification: { TrainingImage: 'x', TrainingInputMode: 'Pipe' }, InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/iris/train' } } }] }), {
        name: 'ValidationException',
        message: /Pipe input mode/,
      });
      await rejects(job('parent', 'fail.mjs', { InputDataConfig: [{ ChannelName: '..', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://data/iris/train' } } }] }), {
        name: 'ValidationException',
        message: /Channel name "\.\." names a folder/,
      });
      await rejects(job('elsewhere', 'fail.mjs', { CheckpointConfig: { S3Uri: 's3://data/ckpt/x', LocalPath: '/tmp/ckpt' } }), { name: 'ValidationException', message: /CheckpointConfig.LocalPath \/tmp\/ckpt is not supported/ });
      await rejects(job('uncompressed', 'fail.mjs', { OutputDataConfig: { S3OutputPath: 's3://data/out', CompressionType: 'NONE' } }), { name: 'ValidationException', message: /CompressionType NONE \(uncompressed model output\) is not supported/ });
      await rejects(job('two', 'fail.mjs', { ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 2, VolumeSizeInGB: 1 } }), { name: 'ValidationException', message: /InstanceCount 2/ });
      await rejects(job('groups', 'fail.mjs', { ResourceConfig: { VolumeSizeInGB: 1, InstanceGroups: [{ InstanceGroupName: 'cpu', InstanceType: 'ml.c5.xlarge', InstanceCount: 2 }, { InstanceGroupName: 'gpu', InstanceType: 'ml.p3.2xlarge', InstanceCount: 1 }] } }), {
        name: 'ValidationException',
        message: /^ResourceConfig.InstanceGroups \(a heterogeneous cluster\) is not supported by the local SageMaker, which runs a training job on one instance/,
      });
      await rejects(job('planned', 'fail.mjs', { ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1, TrainingPlanArn: 'arn:aws:sagemaker:us-east-1:111122223333:training-plan/reserved' } }), {
        name: 'ValidationException',
        message: /^ResourceConfig\.TrainingPlanArn arn:aws:sagemaker:us-east-1:111122223333:training-plan\/reserved names a training plan, which the local SageMaker does not have/,
      });
      await rejects({ ...job('serverless', 'fail.mjs'), AlgorithmSpecification: undefined, ServerlessJobConfig: { BaseModelArn: 'arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/m/1.0.0', JobType: 'FineTuning' } }, {
        name: 'ValidationException',
        message: /^ServerlessJobConfig \(a serverless customization of a base model\) is not supported by the local SageMaker/,
      });
      await rejects(job('registered', 'fail.mjs', { ModelPackageConfig: { ModelPackageGroupArn: 'arn:aws:sagemaker:us-east-1:111122223333:model-package-group/g' } }), {
        name: 'ValidationException',
        message: /^ModelPackageConfig \(group arn:aws:sagemaker:us-east-1:111122223333:model-package-group\/g\) is not supported by the local SageMaker, which has no model registry/,
      });
      await rejects(job('mlflow', 'fail.mjs', { MlflowConfig: { MlflowResourceArn: 'not-an-arn' } }), {
        name: 'ValidationException',
        message: /^1 validation error detected: Value 'not-an-arn' at 'mlflowConfig.mlflowResourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern/,
      });
      await rejects(job('manifest', 'fail.mjs', { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: 's3://data/m.json' } } }] }), { name: 'ValidationException', message: /S3DataType ManifestFile/ });
      await rejects(job('nul-env', 'fail.mjs', { Environment: { FINE: 'x', BAD: 'a\u0000b' } }), { name: 'ValidationException', message: /^Environment value of BAD holds a NUL character/ });
      // Managed Spot Training's MaxWaitTimeInSeconds: only with it, and no shorter than a MaxRuntimeInSeconds given beside it.
      await rejects(job('wait-on-demand', 'fail.mjs', { StoppingCondition: { MaxRuntimeInSeconds: 60, MaxWaitTimeInSeconds: 120 } }), {
        name: 'ValidationException',
        message: 'Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is set to true',
      });
      await rejects(job('wait-short', 'fail.mjs', { EnableManagedSpotTraining: true, StoppingCondition: { MaxRuntimeInSeconds: 600, MaxWaitTimeInSeconds: 300 } }), {
        name: 'ValidationException',
        message: 'Invalid MaxWaitTimeInSeconds. It must be equal to or greater than MaxRuntimeInSeconds: 300 is less than 600.',
      });
      // Without MaxRuntimeInSeconds nothing is compared: the service is not known to hold it to the default day.
      await sm.send(new CreateTrainingJobCommand(job('wait-default', 'fail.mjs', { ...NO_DATA, EnableManagedSpotTraining: true, StoppingCondition: { MaxWaitTimeInSeconds: 3600 } })));
      assert.equal((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'wait-default' }))).StoppingCondition?.MaxWaitTimeInSeconds, 3600);
      await sm.send(new CreateTrainingJobCommand(job('wait-spot', 'fail.mjs', { ...NO_DATA, EnableManagedSpotTraining: true, StoppingCondition: { MaxRuntimeInSeconds: 600, MaxWaitTimeInSeconds: 600 } })));
      assert.deepEqual((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'wait-spot' }))).StoppingCondition, { MaxRuntimeInSeconds: 600, MaxWaitTimeInSeconds: 600 });
      const metrics = (n: number, regex = 'loss: ([0-9.]+)') => ({ AlgorithmSpecification: { TrainingImage: 'x', TrainingInputMode: 'File' as const, MetricDefinitions: Array.from({ length: n }, (_, i) => ({ Name: `m${i}`, Regex: regex })) } });
      await rejects(job('many-metrics', 'fail.mjs', metrics(41)), { name: 'ValidationException', message: /^1 validation error detected: Value '\[\{"Name":"m0",.*' at 'algorithmSpecification.metricDefinitions' failed to satisfy constraint: Member must have length less than or equal to 40$/ });
      await rejects(job('long-regex', 'fail.mjs', metrics(1, 'x'.repeat(501))), {
        name: 'ValidationException',
        message: `1 validation error detected: Value '${'x'.repeat(200)}...' at 'algorithmSpecification.metricDefinitions.1.member.regex' failed to satisfy constraint: Member must have length less than or equal to 500`,
      });
      // Accepted ones are described as given (EnableSageMakerMetricsTimeSeries defaults to false).
      const spec = { TrainingImage: 'x', TrainingInputMode: 'File' as const, MetricDefinitions: [{ Name: 'loss', Regex: 'loss=([0-9.]+)' }], EnableSageMakerMetricsTimeSeries: true };
      await sm.send(new CreateTrainingJobCommand(job('metrics-on', 'fail.mjs', { ...NO_DATA, AlgorithmSpecification: spec })));
      assert.deepEqual((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'metrics-on' }))).AlgorithmSpecification, spec);
      await sm.send(new CreateTrainingJobCommand(job('dup', 'fail.mjs', NO_DATA)));
      const dup = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'dup' }));
      assert.equal(dup.AlgorithmSpecification?.EnableSageMakerMetricsTimeSeries, false);
      assert.equal(dup.VpcConfig, undefined);
      // Settings accepted and not acted on are described as sent (the SageMaker Python SDK's Estimator.attach reads VpcConfig and RetryStrategy).
      const unused = {
        VpcConfig: { SecurityGroupIds: ['sg-0123abcd'], Subnets: ['subnet-0a1b'] },
        RetryStrategy: { MaximumRetryAttempts: 3 },
        ExperimentConfig: { ExperimentName: 'e', TrialName: 't' },
        TensorBoardOutputConfig: { S3OutputPath: 's3://data/tb' },
        MlflowConfig: { MlflowResourceArn: 'arn:aws:sagemaker:us-east-1:111122223333:mlflow-tracking-server/t', MlflowExperimentName: 'e' },
      };
      await sm.send(new CreateTrainingJobCommand(job('described-as-sent', 'fail.mjs', { ...NO_DATA, ...unused })));
      const described = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'described-as-sent' }));
      const { VpcConfig, RetryStrategy, ExperimentConfig, TensorBoardOutputConfig, MlflowConfig } = described;
      assert.deepEqual({ VpcConfig, RetryStrategy, ExperimentConfig, TensorBoardOutputConfig, MlflowConfig }, unused);
      await rejects(job('DUP', 'fail.mjs'), {
        name: 'ResourceInUse',
        message: 'Training job names must be unique within an AWS account and region, and a training job with this name already exists (arn:aws:sagemaker:us-east-1:111122223333:training-job/dup)',
      });
      await assert.rejects(sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'nope' })), { name: 'ValidationException', message: 'Requested resource not found.' });
      await assert.rejects(sm.send(new StopTrainingJobCommand({ TrainingJobName: 'nope' })), { name: 'ValidationException', message: 'Requested resource not found.' });
      await assert.rejects(sm.send(new UpdateTrainingJobCommand({ TrainingJobName: 'nope', ResourceConfig: { KeepAlivePeriodInSeconds: 0 } })), { name: 'ValidationException', message: 'Requested resource not found.' });
      await assert.rejects(sm.send(new DeleteTrainingJobCommand({ TrainingJobName: 'nope' })), { name: 'ValidationException', message: 'Requested resource not found.' });
      // Refused requests created nothing.
      const names = (await sm.send(new ListTrainingJobsCommand({ MaxResults: 100 }))).TrainingJobSummaries!.map((s) => s.TrainingJobName);
      for (const refused of ['under_score', 'no-role', 'pipe', 'parent', 'elsewhere', 'uncompressed', 'two', 'groups', 'serverless', 'registered', 'mlflow', 'manifest', 'nul-env', 'wait-on-demand', 'wait-short', 'many-metrics', 'long-regex', 'DUP']) assert.ok(!names.includes(refused), refused);
    });
  });

  test('jobs in progress are limited by SMKIT_LOCAL_MAX_INSTANCES: one more is ResourceLimitExceeded', async () => {
    const small = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: s3.url, maxInstances: 1 }, trainingGraceSeconds: 5 });
    const c = localSdkClients(small.url);
    try {
      await c.sagemaker.send(new CreateTrainingJobCommand(job('first', 'save-on-sigterm.mjs')));
      await assert.rejects(c.sagemaker.send(new CreateTrainingJobCommand(job('second', 'save-on-sigterm.mjs'))), {
        name: 'ResourceLimitExceeded',
        message: /'local instances for training job usage' is 1 Instances, with current utilization of 1 Instances/,
      });
      assert.deepEqual((await c.sagemaker.send(new ListTrainingJobsCommand({}))).TrainingJobSummaries!.map((s) => s.TrainingJobName), ['first']);
    } finally {
      c.destroy();
      await small.stop();
    }
  });

  test('a channel or checkpoint prefix holding more objects than a listing may (ERR_S3_TOO_MANY_KEYS; 1 here) fails the job with a ClientError naming the prefix, the limit and the channel or that it is the checkpoints', async () => {
    for (const key of ['many/a.csv', 'many/b.csv', 'many-ckpt/a.pt', 'many-ckpt/b.pt']) await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: '0,1\n' }));
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    const bounded = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: s3.url }, trainingGraceSeconds: 5, s3: { ...objects, list: (b, p, o) => objects.list(b, p, { maxKeys: 1, ...o }) } });
    const c = localSdkClients(bounded.url);
    const failed = (name: string) =>
      until(`${name} to end`, async () => {
        const d = await c.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
        return d.TrainingJobStatus === 'InProgress' || d.TrainingJobStatus === 'Stopping' ? undefined : d;
      }, { timeoutMs: JOB_DEADLINE_S * 1000, intervalMs: 200 });
    const tooMany = (uri: string) => `${uri} holds more than 1 objects, more than the local SageMaker lists under one prefix (it holds every key in memory and downloads each): use a narrower prefix, or pack the objects into fewer, larger ones (shards, RecordIO files, a tar archive).`;
    try {
      const channel = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/many/' } } }] };
      await c.sagemaker.send(new CreateTrainingJobCommand(job('many-keys', 'copy-channel.mjs', channel)));
      await c.sagemaker.send(new CreateTrainingJobCommand(job('many-checkpoints', 'copy-channel.mjs', { CheckpointConfig: { S3Uri: 's3://data/many-ckpt' } })));
      const d = await failed('many-keys');
      assert.equal(d.TrainingJobStatus, 'Failed');
      // Before: S3's message alone, naming neither the channel nor that it was its listing that failed.
      assert.equal(d.FailureReason, `ClientError: Could not list the objects of channel "training" under s3://data/many/: ${tooMany('s3://data/many/')}`);
      const ckpt = await failed('many-checkpoints');
      assert.equal(ckpt.TrainingJobStatus, 'Failed');
      // Before: the same without "Could not restore the checkpoints from ...", so nothing said the prefix was CheckpointConfig's.
      assert.equal(ckpt.FailureReason, `ClientError: Could not restore the checkpoints from s3://data/many-ckpt/: ${tooMany('s3://data/many-ckpt/')}`);
    } finally {
      c.destroy();
      await bounded.stop();
    }
  });

  test('ListTrainingJobs filters, sorts and pages as the other List* calls do', async () => {
    const list = (input: ListTrainingJobsCommandInput) => sm.send(new ListTrainingJobsCommand(input));
    const all = await list({ SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 100 });
    const names = all.TrainingJobSummaries!.map((s) => s.TrainingJobName!);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('iris-train') && names.includes('broken'));
    const failed = await list({ StatusEquals: 'Failed', MaxResults: 100 });
    assert.ok(failed.TrainingJobSummaries!.every((s) => s.TrainingJobStatus === 'Failed' && s.TrainingEndTime instanceof Date));
    assert.deepEqual((await list({ NameContains: 'IRIS' })).TrainingJobSummaries!.map((s) => [s.TrainingJobName, s.TrainingJobStatus, s.SecondaryStatus]), [['iris-train', 'Completed', 'Completed']]);
    const page1 = await list({ SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 2 });
    const page2 = await list({ SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 2, NextToken: page1.NextToken! });
    assert.deepEqual([...page1.TrainingJobSummaries!, ...page2.TrainingJobSummaries!].map((s) => s.TrainingJobName), names.slice(0, 4));
    assert.deepEqual((await list({ WarmPoolStatusEquals: 'Available' })).TrainingJobSummaries, []);
  });
});
