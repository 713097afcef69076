// Training jobs whose channel or checkpoint objects have keys that the repo's local S3 server
// (s3rver) cannot store: a doubled slash after the prefix (`train//a.csv`, as `f"{prefix}/{name}"`
// makes of a prefix that ends in `/`) and `..` segments. A stand-in S3 serves them; the jobs run
// test/fixtures/train scripts through `smkit train`, driven by the real @aws-sdk/client-sagemaker.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand, SageMakerClient, type CreateTrainingJobCommandInput } from '@aws-sdk/client-sagemaker';
import { localClientConfig } from '../helpers/local-sdk-clients.js';
import { TRAIN_FIXTURES, TRAINING_ROLE } from '../helpers/local-training.js';
import { answerListing, answerS3Error, startStandInS3, type StandInS3, type StandInS3Request } from '../helpers/stand-in-s3.js';
import { until } from '../helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';

/** The objects the stand-in S3 holds, by key (bucket `data`). */
const OBJECTS = new Map<string, string>([
  ['slashes/train//a.csv', '0,5.1\n'],
  ['slashes/train//more//b.csv', '1,6.2\n'],
  ['escape/train/../x.csv', 'outside\n'],
  ['escape/train/sub/../../y.csv', 'outside\n'],
  ['ckpt//epoch.txt', '3\n'],
  ['ckpt-escape/../evil.txt', 'outside\n'],
  ['denied/train/a.csv', '0,1\n'],
  ['denied/train/secret.csv', 'refused\n'],
  ['ckpt-denied/epoch.txt', 'refused\n'],
  [`long/train/${'n'.repeat(300)}.csv`, '0,1\n'],
  ['mixed/train/ok.csv', '2,7.0\n'],
  ['mixed/train/../z.csv', 'outside\n'],
  ['dot/train/.', 'the folder itself\n'],
  [`denied-long/train/${'k'.repeat(1000)}`, 'refused\n'],
]);

let s3: StandInS3;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
const warnings: string[] = [];

function serveS3({ res, bucket, key, url, isListing, req }: StandInS3Request): void {
  if (bucket !== 'data') return answerS3Error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
  if (isListing) {
    const prefix = url.searchParams.get('prefix') ?? '';
    return answerListing(res, bucket, prefix, [...OBJECTS].filter(([k]) => k.startsWith(prefix)).map(([k, body]) => ({ key: k, size: body.length })));
  }
  if (req.method === 'GET') {
    if (key === 'denied/train/secret.csv' || key === 'ckpt-denied/epoch.txt' || key.startsWith('denied-long/')) return answerS3Error(res, 403, 'AccessDenied', 'Access Denied');
    const body = OBJECTS.get(key);
    if (body === undefined) return answerS3Error(res, 404, 'NoSuchKey', `The specified key does not exist: ${key}`);
    return void res.writeHead(200, { 'content-length': String(body.length) }).end(body);
  }
  if (req.method === 'DELETE') {
    OBJECTS.delete(key);
    return void res.writeHead(204).end();
  }
  if (key.startsWith('ckpt-readonly/')) return answerS3Error(res, 403, 'AccessDenied', 'Access Denied');
  // Uploads (the model, the output, checkpoints) are kept, as text.
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    OBJECTS.set(key, Buffer.concat(chunks).toString());
    res.writeHead(200, { etag: '"0"' }).end();
  });
}

describe('local training odd keys', () => {
  before(async () => {
    s3 = await startStandInS3(serveS3);
    local = await startLocalSageMaker({
      port: 0,
      trainingGraceSeconds: 5,
      settings: { s3EndpointUrl: s3.url, region: 'us-east-1', accountId: '111122223333' },
      log: (level, message, fields) => void (level === 'warn' && warnings.push(`${message} ${JSON.stringify(fields)}`)),
    });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 60_000 }));
  });

  after(async () => {
    sm?.destroy();
    await local?.stop();
    await s3?.close();
  });

  function job(name: string, uri: string, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput {
    return {
      TrainingJobName: name,
      RoleArn: TRAINING_ROLE,
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File' },
      HyperParameters: { epochs: '1', sagemaker_program: '"copy-channel.mjs"', sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES) },
      InputDataConfig: [{ ChannelName: 'training', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: uri } } }],
      OutputDataConfig: { S3OutputPath: 's3://data/out' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
      ...extra,
    };
  }

  const ended = (name: string) =>
    until(`${name} to end`, async () => {
      const d = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
      return d.TrainingJobStatus === 'InProgress' || d.TrainingJobStatus === 'Stopping' ? undefined : d;
    }, { timeoutMs: 240_000, intervalMs: 200 });

  const modelText = (name: string) => readFileSync(join(local.workDir, 'training', name, 'opt', 'ml', 'model', 'model.txt'), 'utf8');

  test('keys with a doubled slash after the prefix are downloaded into the channel (the slash is a separator, as a path join makes it), not left out', async () => {
    await sm.send(new CreateTrainingJobCommand(job('slashes', 's3://data/slashes/train/')));
    const d = await ended('slashes');
    assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
    assert.match(modelText('slashes'), /^a\.csv: 0,5\.1\n\nmore\/b\.csv: 1,6\.2\n/);
    // The same without the prefix's trailing slash: the keys past `train/` begin with a slash too.
    await sm.send(new CreateTrainingJobCommand(job('slashes-no-end', 's3://data/slashes/train')));
    const again = await ended('slashes-no-end');
    assert.equal(again.TrainingJobStatus, 'Completed', again.FailureReason);
    assert.match(modelText('slashes-no-end'), /^a\.csv: 0,5\.1\n\nmore\/b\.csv: 1,6\.2\n/);
  });

  test('a checkpoint key with a doubled slash after the prefix is restored (the job resumes from it), and the new checkpoint is uploaded to that key, not beside it', async () => {
    await sm.send(new CreateTrainingJobCommand(job('resume-slashes', 's3://data/slashes/train/', {
      HyperParameters: { sagemaker_program: '"resume.mjs"', sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES) },
      CheckpointConfig: { S3Uri: 's3://data/ckpt/' },
    })));
    const d = await ended('resume-slashes');
    assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
    assert.equal(modelText('resume-slashes'), 'resumed from epoch 3');
    assert.equal(OBJECTS.get('ckpt//epoch.txt'), '4');
    assert.deepEqual([...OBJECTS.keys()].filter((k) => k.startsWith('ckpt/')), ['ckpt//epoch.txt']);
  });

  test('a checkpoint S3 refuses to store fails the job with a ClientError naming CheckpointConfig.S3Uri', async () => {
    await sm.send(new CreateTrainingJobCommand(job('ckpt-readonly', 's3://data/slashes/train/', {
      HyperParameters: { sagemaker_program: '"resume.mjs"', sagemaker_submit_directory: JSON.stringify(TRAIN_FIXTURES) },
      CheckpointConfig: { S3Uri: 's3://data/ckpt-readonly/run' },
    })));
    const d = await ended('ckpt-readonly');
    assert.equal(d.TrainingJobStatus, 'Failed');
    assert.match(d.FailureReason ?? '', /^ClientError: Could not upload the checkpoints to s3:\/\/data\/ckpt-readonly\/run \(CheckpointConfig\.S3Uri\): .*Access Denied/);
  });

  test("a checkpoint object whose key leads out of the checkpoint folder ('..' segments) is not restored, with a warning naming it", async () => {
    await sm.send(new CreateTrainingJobCommand(job('ckpt-escape', 's3://data/slashes/train/', { CheckpointConfig: { S3Uri: 's3://data/ckpt-escape/' } })));
    const d = await ended('ckpt-escape');
    assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
    assert.ok(warnings.some((w) => w.includes('not restored') && w.includes('s3://data/ckpt-escape/../evil.txt')), warnings.join('\n'));
    assert.deepEqual(readdirSync(join(local.workDir, 'training', 'ckpt-escape', 'opt', 'ml', 'checkpoints')), []);
    assert.ok(!existsSync(join(local.workDir, 'training', 'ckpt-escape', 'opt', 'ml', 'evil.txt')));
  });

  test('an object of a channel that cannot be downloaded (S3 refuses it, or its name is too long for the file system) fails the job with a ClientError naming the object and the channel; a checkpoint S3 refuses, naming it', async () => {
    await sm.send(new CreateTrainingJobCommand(job('denied', 's3://data/denied/train/')));
    await sm.send(new CreateTrainingJobCommand(job('long-name', 's3://data/long/train/')));
    const denied = await ended('denied');
    assert.equal(denied.TrainingJobStatus, 'Failed');
    assert.match(denied.FailureReason ?? '', /^ClientError: Could not download s3:\/\/data\/denied\/train\/secret\.csv of channel "training" to \S+secret\.csv: Access Denied$/);
    const long = await ended('long-name');
    assert.equal(long.TrainingJobStatus, 'Failed');
    assert.match(long.FailureReason ?? '', /^ClientError: Could not download s3:\/\/data\/long\/train\/n{300}\.csv of channel "training" to .*ENAMETOOLONG/);
    // A checkpoint likewise.
    await sm.send(new CreateTrainingJobCommand(job('ckpt-denied', 's3://data/slashes/train/', { CheckpointConfig: { S3Uri: 's3://data/ckpt-denied' } })));
    const checkpoint = await ended('ckpt-denied');
    assert.equal(checkpoint.TrainingJobStatus, 'Failed');
    assert.match(checkpoint.FailureReason ?? '', /^ClientError: Could not restore the checkpoint s3:\/\/data\/ckpt-denied\/epoch\.txt to \S+epoch\.txt: Access Denied$/);
  });

  test("a FailureReason over the API's 1024 characters (an object of a key near 1 KB that S3 refuses) keeps its cause at the end, the key cut in its middle", async () => {
    await sm.send(new CreateTrainingJobCommand(job('denied-long', 's3://data/denied-long/train/')));
    const d = await ended('denied-long');
    assert.equal(d.TrainingJobStatus, 'Failed');
    assert.ok((d.FailureReason ?? '').length <= 1024, String(d.FailureReason?.length));
    assert.match(d.FailureReason ?? '', /^ClientError: Could not download s3:\/\/data\/denied-long\/train\/k+\.\.\.k+: Access Denied$/);
  });

  test("a channel whose every key leads out of its folder ('..' segments) fails the job with a ClientError naming a key, instead of training on an empty folder", async () => {
    await sm.send(new CreateTrainingJobCommand(job('escape', 's3://data/escape/train/')));
    const d = await ended('escape');
    assert.equal(d.TrainingJobStatus, 'Failed');
    assert.match(d.FailureReason ?? '', /^ClientError: None of the 2 S3 objects under "s3:\/\/data\/escape\/train\/" can be downloaded into channel "training": .*s3:\/\/data\/escape\/train\/\.\.\/x\.csv/);
  });

  test("a channel whose one key past the prefix is '.' (the channel's folder itself) fails the job saying so, not that the key has '..' segments", async () => {
    await sm.send(new CreateTrainingJobCommand(job('dot', 's3://data/dot/train/')));
    const d = await ended('dot');
    assert.equal(d.TrainingJobStatus, 'Failed');
    assert.match(d.FailureReason ?? '', /^ClientError: None of the 1 S3 objects under "s3:\/\/data\/dot\/train\/" can be downloaded into channel "training": .*s3:\/\/data\/dot\/train\/\. is "\.", the folder itself\)/);
    assert.doesNotMatch(d.FailureReason ?? '', /'\.\.' segments\)/);
  });

  test("in a channel with other objects, one whose key leads out of its folder is left out with a warning naming it; the job trains on the others", async () => {
    await sm.send(new CreateTrainingJobCommand(job('mixed', 's3://data/mixed/train/')));
    const d = await ended('mixed');
    assert.equal(d.TrainingJobStatus, 'Completed', d.FailureReason);
    assert.match(modelText('mixed'), /^ok\.csv: 2,7\.0\n\nepochs=1/);
    assert.ok(warnings.some((w) => w.includes('s3://data/mixed/train/../z.csv') && w.includes('"trainingJob":"mixed"')), warnings.join('\n'));
  });
});
