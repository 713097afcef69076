// Training jobs while an S3 transfer is in flight: MaxRuntimeInSeconds bounds the training, not the
// upload after it, and StopTrainingJob closes a channel or checkpoint download part-way. The local SageMaker
// reaches a real local S3 server (s3rver) through a proxy that holds chosen requests until the test
// lets them go. MaxRuntimeInSeconds' timers are the test's (trainingTimer): it makes the limit pass
// instead of waiting for it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, StopTrainingJobCommand, type CreateTrainingJobCommandInput, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3, type LocalS3 } from '../helpers/local-s3.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { TRAIN_FIXTURES, TRAINING_ROLE } from '../helpers/local-training.js';
import { until } from '../helpers/until.js';

/** Only the job under test has this limit: its timer is told apart from the other jobs' by it. */
const MAX_RUNTIME_SECONDS = 777;
const UPLOAD = 'PUT /data/out/in-time/output/model.tar.gz';
const DOWNLOAD = 'GET /data/held/big.bin';
const CHECKPOINT = 'GET /data/held-ckpt/epoch.txt';
const LONG_DOWNLOAD = 'GET /data/held-long/big.bin';

/** Requests the proxy holds, by method and path, each until its gate is opened: the model upload of one job, the channel download of another. */
const gates = new Map(
  [UPLOAD, DOWNLOAD, CHECKPOINT, LONG_DOWNLOAD].map((what) => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return [what, { opened, open }] as const;
  }),
);

let s3: LocalS3;
let proxy: http.Server;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;
let sm: SageMakerClient;
const held = new Set<string>();
/** The MaxRuntimeInSeconds timers armed, each until it fires or is cancelled. */
const timers: { ms: number; fire: () => void; cancelled: boolean }[] = [];

/** Time passes beyond `ms`: every timer of that delay still armed fires, as setTimeout's would. */
function pass(ms: number): number {
  const due = timers.filter((t) => t.ms === ms && !t.cancelled);
  for (const t of due) {
    t.cancelled = true;
    t.fire();
  }
  return due.length;
}

describe('local training held s3', () => {
  before(async () => {
    s3 = await startLocalS3(['data']);
    const target = new URL(s3.url);
    proxy = http.createServer((req, res) => {
      const forward = () => {
        if (req.destroyed) return;
        const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        req.pipe(out);
      };
      const what = `${req.method} ${req.url?.split('?')[0]}`;
      const gate = gates.get(what);
      if (gate) {
        held.add(what);
        void gate.opened.then(forward);
      } else forward();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    local = await startLocalSageMaker({
      port: 0,
      settings: { s3EndpointUrl: url, region: 'us-east-1', accountId: '111122223333' },
      trainingGraceSeconds: 5,
      trainingTimer: (ms, fire) => {
        const timer = { ms, fire, cancelled: false };
        timers.push(timer);
        return () => void (timer.cancelled = true);
      },
    });
    clients = localSdkClients(local.url);
    sm = clients.sagemaker;
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'held/big.bin', Body: 'x' }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'held-ckpt/epoch.txt', Body: '3' }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'held-long/big.bin', Body: 'x' }));
  });

  /** A job running `script` from the fixtures folder (read in place), writing to s3://data/out. */
  function job(name: string, script: string, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
    return {
      TrainingJobName: name,
      RoleArn: TRAINING_ROLE,
      AlgorithmSpecification: { TrainingImage: '111122223333.dkr.ecr.us-east-1.amazonaws.com/trainer:1', TrainingInputMode: 'File' },
      HyperParameters: { sagemaker_program: JSON.stringify(script), sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES) },
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
      ...extra,
    };
  }

  /** The job's description once it has left InProgress and Stopping. */
  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const r = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
      return r.TrainingJobStatus === 'InProgress' || r.TrainingJobStatus === 'Stopping' ? undefined : r;
    });

  after(async () => {
    for (const gate of gates.values()) gate.open();
    clients?.destroy();
    await local?.stop();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
    await s3?.stop();
  });

  test('a job whose entry point exited within MaxRuntimeInSeconds is not stopped while its model uploads past the limit: Completed', { timeout: 120_000 }, async () => {
    await sm.send(new CreateTrainingJobCommand(job('in-time', 'odd-output.mjs', { StoppingCondition: { MaxRuntimeInSeconds: MAX_RUNTIME_SECONDS } })));
    const describe = () => sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'in-time' }));
    await until('the model upload to be held', () => held.has(UPLOAD));
    const uploading = await describe();
    assert.deepEqual([uploading.TrainingJobStatus, uploading.SecondaryStatus], ['InProgress', 'Uploading'], 'the entry point exited within the limit');
    assert.equal(timers.filter((t) => t.ms === MAX_RUNTIME_SECONDS * 1000).length, 1, "the job's limit was armed");
    // The limit passes while the model uploads: its timer no longer fires.
    assert.equal(pass(MAX_RUNTIME_SECONDS * 1000), 0, 'the timer was cancelled when the entry point exited');
    const past = await describe();
    assert.deepEqual([past.TrainingJobStatus, past.SecondaryStatus], ['InProgress', 'Uploading']);
    gates.get(UPLOAD)!.open();
    const d = await ended('in-time');
    assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Completed', 'Completed', undefined]);
  });

  test('StopTrainingJob closes a channel download in flight: the job is Stopped without waiting for the object to arrive', { timeout: 120_000 }, async () => {
    const channel = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/held/' } } }] };
    await sm.send(new CreateTrainingJobCommand(job('stopped-download', 'copy-channel.mjs', channel)));
    await until('the channel download to be held', () => held.has(DOWNLOAD));
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'stopped-download' }));
    // The held object is never let go before the job ends.
    const d = await ended('stopped-download');
    assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Stopped', 'Stopped', undefined]);
    assert.deepEqual(d.SecondaryStatusTransitions?.map((t) => t.Status), ['Starting', 'Downloading', 'Stopping', 'Stopped']);
  });

  test('StopTrainingJob closes a checkpoint restore in flight: the job is Stopped without waiting for the checkpoint to arrive', { timeout: 120_000 }, async () => {
    await sm.send(new CreateTrainingJobCommand(job('stopped-restore', 'resume.mjs', { CheckpointConfig: { S3Uri: 's3://data/held-ckpt' } })));
    await until('the checkpoint download to be held', () => held.has(CHECKPOINT));
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'stopped-restore' }));
    // The held checkpoint is never let go before the job ends.
    const d = await ended('stopped-restore');
    assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Stopped', 'Stopped', undefined]);
  });

  test('MaxRuntimeInSeconds passing while a channel downloads closes the download: the job is Stopped, MaxRuntimeExceeded', { timeout: 120_000 }, async () => {
    const limitMs = (MAX_RUNTIME_SECONDS + 1) * 1000;
    const channel = { InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix' as const, S3Uri: 's3://data/held-long/' } } }] };
    await sm.send(new CreateTrainingJobCommand(job('too-long-download', 'copy-channel.mjs', { ...channel, StoppingCondition: { MaxRuntimeInSeconds: limitMs / 1000 } })));
    await until('the channel download to be held', () => held.has(LONG_DOWNLOAD));
    assert.equal(pass(limitMs), 1, "the job's limit was armed and still is");
    // The held object is never let go before the job ends.
    const d = await ended('too-long-download');
    assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Stopped', 'MaxRuntimeExceeded', undefined]);
    // Each step says the limit stopped it, as when it passes while the entry point runs.
    assert.deepEqual(d.SecondaryStatusTransitions?.slice(-2).map((t) => t.StatusMessage), ['Stopping the training job: it reached MaxRuntimeInSeconds', 'Training job stopped: it exceeded MaxRuntimeInSeconds']);
  });

  test('a MaxRuntimeInSeconds past what a timer holds (28 days, the most the API allows) is armed, and stops the job when it passes: Stopped, MaxRuntimeExceeded', { timeout: 600_000 }, async () => {
    const limitMs = 28 * 86_400_000;
    await sm.send(new CreateTrainingJobCommand(job('four-weeks', 'save-on-sigterm.mjs', { StoppingCondition: { MaxRuntimeInSeconds: limitMs / 1000 } })));
    await until('four-weeks to be training', async () => (await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'four-weeks' }))).SecondaryStatus === 'Training', { timeoutMs: 300_000 });
    assert.equal(pass(limitMs), 1, "the job's limit was armed");
    const d = await ended('four-weeks');
    assert.deepEqual([d.TrainingJobStatus, d.SecondaryStatus, d.FailureReason], ['Stopped', 'MaxRuntimeExceeded', undefined]);
  });
});
