import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { setTimeout as pace } from 'node:timers/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { type AsyncInferenceConfig, CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DeleteEndpointCommand, DescribeEndpointCommand, DescribeEndpointConfigCommand, SageMakerClient, UpdateEndpointWeightsAndCapacitiesCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until as pollUntil, type NotYet, type UntilOptions } from '../../../test/helpers/until.js';
import { heldS3Writes, startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';
import { MAX_CONCURRENT_ASYNC_FAILURE_WRITES } from './async-inference.js';
import { createS3Objects } from '../s3/client.js';
import { ManagedEndpoint } from './managed-endpoint.js';
import type { Deployment } from './deployment.js';
import type { S3Objects } from '../s3/objects.js';

/**
 * {@link pollUntil} probing every 100 ms unless a wait says otherwise: most probes here are SDK
 * calls to the local SageMaker or to s3rver, whose CPU the default 50 ms doubled.
 */
function until<T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, options: UntilOptions = {}): Promise<T> {
  return pollUntil(what, probe, { intervalMs: 100, ...options });
}

/**
 * The object at `url` once it exists with content (polled: the result is written in the background,
 * and s3rver may list an object whose bytes it is still writing; no answer here is empty).
 */
async function written(url: string): Promise<Buffer> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url)!;
  return until(`an object at ${url}`, async () => {
    try {
      const out = await s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
      const body = Buffer.from(await out.Body!.transformToByteArray());
      return body.length > 0 ? body : undefined;
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
    // s3rver writes an object's bytes and metadata in place: a read racing that write can fail.
  }, { timeoutMs: 30_000, retryErrors: true });
}

async function exists(url: string): Promise<boolean> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url)!;
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: m[1], Key: m[2] }));
    return true;
  } catch {
    return false;
  }
}

let dir: string;
// Outside `dir`, whose listing a test checks.
let captureDir: string;
let localCaptureDir: string;
let s3: LocalS3;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
const logged: Array<{ msg: string; fields: Record<string, unknown> }> = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-async-'));
  captureDir = await mkdtemp(join(tmpdir(), 'smkit-async-capture-'));
  localCaptureDir = await mkdtemp(join(tmpdir(), 'smkit-async-local-capture-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  s3 = await startLocalS3(['in', 'out']);
  local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, metricsSettings: { secondsPerMinute: 1 }, settings: { s3EndpointUrl: s3.url }, log: (_level, msg, fields) => void logged.push({ msg, fields }) });
  sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  await sm.send(new CreateModelCommand({ ModelName: 'async-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_TAG: 'async' } } }));
  const variants = [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-config',
      ProductionVariants: variants,
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/results/', S3FailurePath: 's3://out/failures' }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 4 } },
    }),
  );
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'realtime-config', ProductionVariants: variants }));
  await sm.send(new CreateModelCommand({ ModelName: 'async-slow-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_DELAY_MS: '10000' } } }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-slow-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-slow-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/slow/', S3FailurePath: 's3://out/slow-failures' } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-slow', EndpointConfigName: 'async-slow-config' }));
  await sm.send(new CreateModelCommand({ ModelName: 'async-paced-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_DELAY_MS: '500' } } }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-paced-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-paced-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/paced/' }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 1 } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-paced', EndpointConfigName: 'async-paced-config' }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-local-config',
      ProductionVariants: variants,
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: join(dir, 'results'), S3FailurePath: join(dir, 'failures') } },
      DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: localCaptureDir, CaptureOptions: [{ CaptureMode: 'Input' }] },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-local', EndpointConfigName: 'async-local-config' }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-https-config',
      ProductionVariants: variants,
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 'https://s3.us-east-1.amazonaws.com/out/https-results' } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-https', EndpointConfigName: 'async-https-config' }));
  await sm.send(new CreateModelCommand({ ModelName: 'async-chunked-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_CHUNKED: 'true' } } }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-chunked-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-chunked-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/chunked/', S3FailurePath: 's3://out/chunked-failures' } },
      DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: captureDir, CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }] },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-chunked', EndpointConfigName: 'async-chunked-config' }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-ep', EndpointConfigName: 'async-config' }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'realtime-ep', EndpointConfigName: 'realtime-config' }));
  for (const name of ['async-ep', 'realtime-ep', 'async-slow', 'async-paced', 'async-local', 'async-https', 'async-chunked']) {
    await until(`${name} InService`, async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  }
});

after(async () => {
  sm?.destroy();
  runtime?.destroy();
  await local?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(captureDir, { recursive: true, force: true });
  await rm(localCaptureDir, { recursive: true, force: true });
});

test('AsyncInferenceConfig is recorded: DescribeEndpointConfig and DescribeEndpoint show it', async () => {
  const expected = { OutputConfig: { S3OutputPath: 's3://out/results/', S3FailurePath: 's3://out/failures' }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 4 } };
  assert.deepEqual((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'async-config' }))).AsyncInferenceConfig, expected);
  assert.deepEqual((await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-ep' }))).AsyncInferenceConfig, expected);
  // Results need a place to go.
  await assert.rejects(
    sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'async-nowhere', ProductionVariants: [{ VariantName: 'A', ModelName: 'async-model' }], AsyncInferenceConfig: { OutputConfig: {} } })),
    (err: Error) => err.name === 'ValidationException' && /S3OutputPath is required/.test(err.message),
  );
  // A URL that names no S3 location is refused, not taken for a local folder named after it.
  await assert.rejects(
    sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'async-url', ProductionVariants: [{ VariantName: 'A', ModelName: 'async-model' }], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 'https://example.com/results/' } } })),
    (err: Error) => err.name === 'ValidationException' && /^AsyncInferenceConfig\.OutputConfig\.S3OutputPath https:\/\/example\.com\/results\/ is not a place the local SageMaker writes results to: use an s3:\/\/bucket\/prefix URI/.test(err.message),
  );
  // A file:// URL with another host, or an encoded '/', names no local folder: refused, not accepted to fail each write.
  for (const path of ['file://elsewhere/results', 'file:///tmp/a%2Fb']) {
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'async-url', ProductionVariants: [{ VariantName: 'A', ModelName: 'async-model' }], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/r/', S3FailurePath: path } } })),
      (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.equal(err.message, `AsyncInferenceConfig.OutputConfig.S3FailurePath ${path} is a file:// URL that names no local folder (its host is not localhost, or its path holds an encoded '/'): use file:///absolute/path/to/folder or the folder's path.`);
        return true;
      },
    );
  }
  // Outside the API's pattern (an empty path would be the working directory): in the service's words.
  for (const [OutputConfig, member, value] of [
    [{ S3OutputPath: '' }, 's3OutputPath', ''],
    [{ S3OutputPath: 's3://out/r/', S3FailurePath: 's3://' }, 's3FailurePath', 's3://'],
    // A slash short: a mistyped URL, not a local folder named 's3:' that nothing is uploaded from.
    [{ S3OutputPath: 's3:/out/r/' }, 's3OutputPath', 's3:/out/r/'],
    [{ S3OutputPath: 's3://out/r/', S3FailurePath: 'HTTPS:/out.s3.amazonaws.com/f' }, 's3FailurePath', 'HTTPS:/out.s3.amazonaws.com/f'],
  ] as const) {
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'async-url', ProductionVariants: [{ VariantName: 'A', ModelName: 'async-model' }], AsyncInferenceConfig: { OutputConfig } })),
      (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.equal(err.message, `1 validation error detected: Value '${value}' at 'asyncInferenceConfig.outputConfig.${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/])/?(.*)`);
        return true;
      },
    );
  }
  // NotificationConfig is checked as the API model states it (SnsTopicArn, AsyncNotificationTopicTypes).
  const notifying = (NotificationConfig: Record<string, unknown>) =>
    sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'async-notify', ProductionVariants: [{ VariantName: 'A', ModelName: 'async-model' }], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/n/', NotificationConfig } } }));
  await assert.rejects(
    notifying({ SuccessTopic: 'my-topic', IncludeInferenceResponseIn: ['SUCCESS_TOPIC'] }),
    (err: Error) =>
      err.name === 'ValidationException' &&
      err.message.startsWith('2 validation errors detected: ') &&
      err.message.includes("Value 'my-topic' at 'asyncInferenceConfig.outputConfig.notificationConfig.successTopic' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws") &&
      err.message.includes("Value 'SUCCESS_TOPIC' at 'asyncInferenceConfig.outputConfig.notificationConfig.includeInferenceResponseIn.1.member' failed to satisfy constraint: Member must satisfy enum value set"),
  );
  await notifying({ SuccessTopic: 'arn:aws:sns:us-east-1:123456789012:done', ErrorTopic: 'arn:aws:sns:us-east-1:123456789012:failed', IncludeInferenceResponseIn: ['SUCCESS_NOTIFICATION_TOPIC'] });
});

test('InvokeEndpointAsync from InputLocation: 202 with the InferenceId and locations; the answer is written to the output location', async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'requests/r1.json', Body: '[1,2,3]' }));
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/requests/r1.json', ContentType: 'application/json', InferenceId: 'inf-1' }));
  assert.equal(out.$metadata.httpStatusCode, 202);
  assert.equal(out.InferenceId, 'inf-1');
  // Named after the InferenceId, as the service names them (Filename: "If not specified, Amazon
  // SageMaker AI generates a filename based on the inference ID").
  assert.equal(out.OutputLocation, 's3://out/results/inf-1.out');
  assert.equal(out.FailureLocation, 's3://out/failures/inf-1-error.out');
  const answer = JSON.parse((await written(out.OutputLocation!)).toString()) as { tag: string; got: string };
  assert.deepEqual([answer.tag, answer.got], ['async', '[1,2,3]']);
  // The object has the container's Content-Type (AsyncPredictor deserializes by it).
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.*)$/.exec(out.OutputLocation!)!;
  assert.equal((await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentType, 'application/json');
});

test('an InputLocation input of several MB, which S3 sends in many chunks, reaches the container whole and in order', async () => {
  const input = Array.from({ length: 600_000 }, (_, i) => i.toString(36)).join(',');
  assert.ok(input.length > 2 * 1024 * 1024);
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'requests/large.txt', Body: input }));
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/requests/large.txt', ContentType: 'text/plain' }));
  const answer = JSON.parse((await written(out.OutputLocation!)).toString()) as { got: string };
  assert.equal(answer.got.length, input.length);
  assert.ok(answer.got === input, 'the same bytes');
});

test('InputLocation and S3OutputPath may be Amazon S3 https:// URLs, in virtual-hosted or path style, as on the service', async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'requests/r 2.json', Body: '[2]' }));
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-https', InputLocation: 'https://in.s3.us-east-1.amazonaws.com/requests/r%202.json', ContentType: 'application/json' }));
  // A generated InferenceId names the result as a given one does.
  assert.match(out.InferenceId!, /^[0-9a-f-]{36}$/);
  assert.equal(out.OutputLocation, `https://s3.us-east-1.amazonaws.com/out/https-results/${out.InferenceId}.out`);
  const key = out.OutputLocation!.replace('https://s3.us-east-1.amazonaws.com/out/', '');
  assert.equal((JSON.parse((await written(`s3://out/${key}`)).toString()) as { got: string }).got, '[2]');
  // An id with '/' is one name (percent-encoded), and the URL decodes to the key an s3:// path would have.
  const slashed = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-https', Body: Buffer.from('[3]'), ContentType: 'application/json', InferenceId: 'a/b' }));
  assert.equal(slashed.OutputLocation, 'https://s3.us-east-1.amazonaws.com/out/https-results/a%252Fb.out');
  assert.equal((JSON.parse((await written('s3://out/https-results/a%2Fb.out')).toString()) as { got: string }).got, '[3]');
});

test('an InputLocation key with spaces, \'+\', \'%\' and Latin-1 letters names that key: as written in an s3:// URI, percent-encoded in an https:// URL', async () => {
  const key = 'odd/a b+c%20d é.json';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: key, Body: '[5]' }));
  for (const InputLocation of [`s3://in/${key}`, `https://s3.us-east-1.amazonaws.com/in/${encodeURIComponent(key).replace(/%2F/g, '/')}`]) {
    const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation, ContentType: 'application/json' }));
    assert.equal((JSON.parse((await written(out.OutputLocation!)).toString()) as { got: string }).got, '[5]', InputLocation);
  }
});

test("an InputLocation key past Latin-1 sent as botocore sends a header, in UTF-8 bytes, names that key (boto3's é is bytes C3 A9, not Ã©)", async () => {
  const key = 'odd/été 日本.json';
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: key, Body: '[6]' }));
  // The JavaScript SDK cannot send a character past U+00FF in a header; botocore (boto3, the AWS CLI) sends UTF-8.
  for (const InputLocation of [`s3://in/${key}`, 's3://in/odd/\u00e9t\u00e9 \u65e5\u672c.json']) {
    const res = await fetch(`${local.url}/endpoints/async-ep/async-invocations`, {
      method: 'POST',
      headers: { 'X-Amzn-SageMaker-InputLocation': Buffer.from(InputLocation, 'utf8').toString('latin1'), 'X-Amzn-SageMaker-Content-Type': 'application/json' },
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { InferenceId } = (await res.json()) as { InferenceId: string };
    assert.equal((JSON.parse((await written(`s3://out/results/${InferenceId}.out`)).toString()) as { got: string }).got, '[6]', InputLocation);
  }
});

test('InvokeEndpointAsync with an inline Body, S3OutputPathExtension and Filename; a generated InferenceId', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', Body: Buffer.from('"inline"'), ContentType: 'application/json', S3OutputPathExtension: 'batch/7', Filename: 'r7.json' }));
  assert.match(out.InferenceId!, /^[0-9a-f-]{36}$/);
  assert.equal(out.OutputLocation, 's3://out/results/batch/7/r7.json');
  assert.equal((JSON.parse((await written(out.OutputLocation!)).toString()) as { got: string }).got, '"inline"');
});

test('an input that cannot be read is a failure written to the failure location', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/missing.json' }));
  assert.match((await written(out.FailureLocation!)).toString(), /^Reading InputLocation s3:\/\/in\/missing\.json failed: The specified key does not exist\.$/);
  assert.equal(await exists(out.OutputLocation!), false);
});

test('an InputLocation that ends with \'/\' (a folder) and names no object is a failure that says so; an empty object is sent as an empty body', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/batch/' }));
  assert.equal(
    (await written(out.FailureLocation!)).toString(),
    "InputLocation s3://in/batch/ ends with '/': it names a folder (a key prefix) of bucket in, and S3 has no object with the key batch/ (NoSuchKey). Give the URI of the object that holds the payload, such as s3://in/batch/input.json.",
  );
  assert.equal(await exists(out.OutputLocation!), false);
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'requests/empty.json', Body: '' }));
  const empty = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/requests/empty.json', ContentType: 'application/json' }));
  assert.equal((JSON.parse((await written(empty.OutputLocation!)).toString()) as { got: string }).got, '');
});

test('an InputLocation that names a bucket but no object is a failure, not the bucket\'s listing sent to the model', async () => {
  for (const location of ['s3://in', 's3://in/', 'https://in.s3.us-east-1.amazonaws.com/']) {
    const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: location }));
    assert.equal((await written(out.FailureLocation!)).toString(), `InputLocation ${location} names the bucket in but no object in it: give the URI of the object that holds the payload, such as s3://in/path/to/input.`);
    assert.equal(await exists(out.OutputLocation!), false, location);
  }
});

test('NotificationConfig: with no local SNS, the message each topic would get is logged, in the service\'s format (the result base64-encoded in responseBody as IncludeInferenceResponseIn asks, when at most 128 KB), and the endpoint warns once that none is delivered', async () => {
  const NotificationConfig = { SuccessTopic: 'arn:aws:sns:us-east-1:123456789012:done', ErrorTopic: 'arn:aws:sns:us-east-1:123456789012:failed', IncludeInferenceResponseIn: ['SUCCESS_NOTIFICATION_TOPIC' as const] };
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-notify-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/notify/', S3FailurePath: 's3://out/notify-failures', NotificationConfig } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-notify', EndpointConfigName: 'async-notify-config' }));
  await until('async-notify InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-notify' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'notify/ok.json', Body: '[1]' }));
  const ok = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-notify', InputLocation: 's3://in/notify/ok.json', ContentType: 'application/json', InferenceId: 'n-ok' }));
  const bad = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-notify', InputLocation: 's3://in/notify/missing.json', ContentType: 'application/json', InferenceId: 'n-bad' }));
  // The fake echoes its input: an answer over 128 KB, which no notification carries.
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'notify/big.txt', Body: Buffer.alloc(140_000, 'a') }));
  const big = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-notify', InputLocation: 's3://in/notify/big.txt', ContentType: 'text/plain', InferenceId: 'n-big' }));
  const of = (msg: string, endpoint: string) => logged.filter((l) => l.msg === msg && l.fields['endpoint'] === endpoint);
  const notes = await until('the three notifications', () => {
    const n = of('asynchronous inference notification', 'async-notify');
    return n.length === 3 ? n : undefined;
  });
  const byId = new Map(notes.map((n) => [n.fields['inferenceId'], n.fields]));
  const times = (n: Record<string, unknown>) => {
    assert.match(String(n['eventTime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(String(n['receivedTime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    return { ...n, eventTime: 'T', receivedTime: 'T' };
  };
  const common = { awsRegion: 'us-east-1', eventTime: 'T', receivedTime: 'T', eventVersion: '1.0', eventSource: 'aws:sagemaker', eventName: 'InferenceResult' };
  assert.equal(byId.get('n-ok')!['topic'], NotificationConfig.SuccessTopic);
  assert.deepEqual(times(byId.get('n-ok')!['notification'] as Record<string, unknown>), {
    ...common,
    invocationStatus: 'Completed',
    requestParameters: { contentType: 'application/json', endpointName: 'async-notify', inputLocation: 's3://in/notify/ok.json' },
    responseParameters: { contentType: 'application/json', outputLocation: ok.OutputLocation },
    responseBody: { content: (await written(ok.OutputLocation!)).toString('base64'), encoding: 'BASE64' },
    inferenceId: 'n-ok',
  });
  const bigNote = byId.get('n-big')!['notification'] as Record<string, unknown>;
  assert.equal(bigNote['invocationStatus'], 'Completed');
  assert.ok((await written(big.OutputLocation!)).length > 128 * 1024);
  assert.equal('responseBody' in bigNote, false, 'an answer over 128 KB is not included');
  assert.equal(byId.get('n-bad')!['topic'], NotificationConfig.ErrorTopic);
  assert.deepEqual(times(byId.get('n-bad')!['notification'] as Record<string, unknown>), {
    ...common,
    invocationStatus: 'Failed',
    failureReason: (await written(bad.FailureLocation!)).toString(),
    requestParameters: { endpointName: 'async-notify', inputLocation: 's3://in/notify/missing.json' },
    inferenceId: 'n-bad',
  });
  // A failure with no answer from the model has no inference response to include.
  assert.equal('responseBody' in (byId.get('n-bad')!['notification'] as Record<string, unknown>), false);
  // Said once for the endpoint, not per invocation; an endpoint without NotificationConfig says nothing.
  assert.equal(of('asynchronous inference notifications are not delivered', 'async-notify').length, 1);
  assert.deepEqual(of('asynchronous inference notifications are not delivered', 'async-ep'), []);
  assert.deepEqual(of('asynchronous inference notification', 'async-ep'), []);
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-notify' }));
});

test('a container that answers an error: its answer, as sent and with its Content-Type, is the failure location\'s object (the model\'s failure response payload), and the ErrorTopic notification carries it as IncludeInferenceResponseIn asks', async () => {
  await sm.send(new CreateModelCommand({ ModelName: 'async-error-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_STATUS: '500', FAKE_TAG: 'oops' } } }));
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-error-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-error-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: {
        OutputConfig: {
          S3OutputPath: 's3://out/error/',
          S3FailurePath: 's3://out/error-failures',
          NotificationConfig: { ErrorTopic: 'arn:aws:sns:us-east-1:123456789012:failed', IncludeInferenceResponseIn: ['ERROR_NOTIFICATION_TOPIC'] },
        },
      },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-error', EndpointConfigName: 'async-error-config' }));
  await until('async-error InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-error' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-error', Body: Buffer.from('[9]'), ContentType: 'application/json' }));
  // The SageMaker Python SDK's AsyncInferenceResponse deserializes it by its ContentType and raises it as AsyncInferenceModelError.
  assert.deepEqual(JSON.parse((await written(out.FailureLocation!)).toString()), { tag: 'oops', id: 'async-error/async-error-config/AllTraffic/i0/primary', got: '[9]' });
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.*)$/.exec(out.FailureLocation!)!;
  assert.equal((await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentType, 'application/json');
  assert.equal(await exists(out.OutputLocation!), false);
  const note = await until('the error notification', () => logged.find((l) => l.msg === 'asynchronous inference notification' && l.fields['inferenceId'] === out.InferenceId));
  const notification = note.fields['notification'] as { failureReason: string; responseBody: unknown };
  assert.match(notification.failureReason, /^primary: status 500: /);
  assert.deepEqual(notification.responseBody, { content: (await written(out.FailureLocation!)).toString(), message: notification.failureReason });
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-error' }));
});

test('an InputLocation object over 1 GB, or over all of SMKIT_LOCAL_BODY_MEMORY_MB, is refused from the length S3 gives, without being read', async () => {
  // An S3 that says it holds 2 GB (1.5 MB for big.bin), sends the first 64 KB and then nothing: only its length can refuse it.
  const sockets = new Set<import('node:net').Socket>();
  const huge = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': req.url?.includes('/big.bin') ? '1500000' : '2000000000' });
    res.write(Buffer.alloc(65_536));
  });
  huge.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
  const results = await mkdtemp(join(tmpdir(), 'smkit-async-huge-'));
  const backend = new FakeBackend();
  const other = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, settings: { s3EndpointUrl: `http://127.0.0.1:${(huge.address() as AddressInfo).port}`, bodyMemoryMb: 1 } });
  const smOther = new SageMakerClient(localClientConfig(other.url, { requestTimeoutMs: 30_000 }));
  const runtimeOther = new SageMakerRuntimeClient({ ...localClientConfig(other.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  try {
    await smOther.send(new CreateModelCommand({ ModelName: 'huge', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await smOther.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'huge',
        ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'huge', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
        AsyncInferenceConfig: { OutputConfig: { S3OutputPath: join(results, 'out'), S3FailurePath: join(results, 'failed') } },
      }),
    );
    await smOther.send(new CreateEndpointCommand({ EndpointName: 'huge', EndpointConfigName: 'huge' }));
    await until('huge InService', async () => (await smOther.send(new DescribeEndpointCommand({ EndpointName: 'huge' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
    const out = await runtimeOther.send(new InvokeEndpointAsyncCommand({ EndpointName: 'huge', InputLocation: 's3://in/huge.bin' }));
    const failure = await until('the failure', () => readFile(out.FailureLocation!, 'utf8').catch(() => undefined), { timeoutMs: 30_000 });
    assert.equal(failure, 'InputLocation s3://in/huge.bin holds 2000000000 bytes, more than the 1000000000 bytes (1 GB) an asynchronous invocation takes; it was not read.');
    // Read, it would take its first 64 KB of the 1 MB and wait for the rest as long as S3 may stay silent.
    const big = await runtimeOther.send(new InvokeEndpointAsyncCommand({ EndpointName: 'huge', InputLocation: 's3://in/big.bin' }));
    assert.match(await until('the failure', () => readFile(big.FailureLocation!, 'utf8').catch(() => undefined), { timeoutMs: 30_000 }), /^InputLocation s3:\/\/in\/big\.bin holds more than the 1 MB SMKIT_LOCAL_BODY_MEMORY_MB lets the local SageMaker hold/);
    assert.equal(backend.invocations.length, 0, 'the model was not invoked');
    // The transfer was dropped, not left open.
    await until('the S3 connection closed', () => sockets.size === 0);
  } finally {
    smOther.destroy();
    runtimeOther.destroy();
    await other.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => huge.close(resolve));
    // A request the stop cut off may still be writing its failure (when the test failed).
    await rm(results, { recursive: true, force: true, maxRetries: 5 });
  }
});

test('a local-folder S3OutputPath gets the result; an S3OutputPathExtension whose ".." would leave the folder, or with a segment over 255 bytes, is refused', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"here"'), ContentType: 'application/json', S3OutputPathExtension: 'batch/1' }));
  assert.equal(dirname(out.OutputLocation!), join(dir, 'results', 'batch', '1'));
  const answer = await until('the local result', () => readFile(out.OutputLocation!).catch(() => undefined));
  assert.equal((JSON.parse(answer.toString()) as { got: string }).got, '"here"');
  // In S3 '..' is part of the key; in a folder it climbs out (here to <dir>/escape, beside the results).
  await assert.rejects(
    runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"out"'), ContentType: 'application/json', S3OutputPathExtension: '../escape', Filename: 'x.json' })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
      err.name === 'ValidationError' && err.$metadata?.httpStatusCode === 400 && /^S3OutputPathExtension \.\.\/escape has a '\.\.' segment: /.test(err.message),
  );
  assert.deepEqual(await readdir(dir), ['results', 'weights.bin']);
  // An InferenceId with '/' or '..' names one file in the folder: it is percent-encoded.
  const named = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"id"'), ContentType: 'application/json', InferenceId: '../up a/b' }));
  assert.equal(named.OutputLocation, join(dir, 'results', '..%2Fup%20a%2Fb.out'));
  assert.equal(named.FailureLocation, join(dir, 'failures', '..%2Fup%20a%2Fb-error.out'));
  assert.equal((JSON.parse((await until('the named result', () => readFile(named.OutputLocation!).catch(() => undefined))).toString()) as { got: string }).got, '"id"');
  // A folder takes names of at most 255 bytes, an extension's segment may have 512 characters: refused, rather than accepted and never written.
  await assert.rejects(
    runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"long"'), ContentType: 'application/json', S3OutputPathExtension: `batch/${'z'.repeat(256)}` })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
      err.name === 'ValidationError' && err.$metadata?.httpStatusCode === 400 && /^S3OutputPathExtension has a segment of 256 characters \(z{16}…\): this endpoint writes its results to a local folder, whose file system takes names of at most 255 bytes, .* Split the extension into segments of at most 255 characters with '\/'\.$/.test(err.message),
  );
  const longest = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"long"'), ContentType: 'application/json', S3OutputPathExtension: `batch/${'z'.repeat(255)}` }));
  assert.equal((JSON.parse((await until('the result under a 255-character folder', () => readFile(longest.OutputLocation!).catch(() => undefined))).toString()) as { got: string }).got, '"long"');
});

test('a file:// S3OutputPath names an InferenceId with \'/\' as a local folder does (one file, its name percent-encoded), so the result is written', async () => {
  const results = pathToFileURL(join(dir, 'file-results')).href;
  const failures = pathToFileURL(join(dir, 'file-failures')).href;
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-file-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: results, S3FailurePath: failures } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-file', EndpointConfigName: 'async-file-config' }));
  try {
    await until('async-file InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-file' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
    const named = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-file', Body: Buffer.from('"file"'), ContentType: 'application/json', InferenceId: '../up a/b' }));
    // The locations are URLs of the files a local folder gets: their path is decoded once.
    assert.equal(fileURLToPath(named.OutputLocation!), join(dir, 'file-results', '..%2Fup%20a%2Fb.out'));
    assert.equal(fileURLToPath(named.FailureLocation!), join(dir, 'file-failures', '..%2Fup%20a%2Fb-error.out'));
    const answer = await until('the result under the file:// URL', () => readFile(fileURLToPath(named.OutputLocation!)).catch(() => undefined), { timeoutMs: 5_000 });
    assert.equal((JSON.parse(answer.toString()) as { got: string }).got, '"file"');
  } finally {
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-file' }));
  }
});

test('a captured asynchronous invocation has its InferenceId in eventMetadata, the caller\'s or the generated one the call returned', async () => {
  const given = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"given"'), ContentType: 'application/json', InferenceId: 'req-7' }));
  const generated = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-local', Body: Buffer.from('"generated"'), ContentType: 'application/json' }));
  assert.match(generated.InferenceId!, /^[0-9a-f-]{36}$/);
  type Captured = { captureData: { endpointInput: { data: string } }; eventMetadata: { inferenceId?: string } };
  const byInput = await until('both invocations captured', async () => {
    const files = (await readdir(localCaptureDir, { recursive: true })).filter((f) => f.endsWith('.jsonl'));
    const records = (await Promise.all(files.map((f) => readFile(join(localCaptureDir, f), 'utf8'))))
      // Whole lines only: a line being appended is not one yet.
      .flatMap((text) => text.split('\n').slice(0, -1))
      .map((l) => JSON.parse(l) as Captured);
    const found = new Map(records.map((r) => [Buffer.from(r.captureData.endpointInput.data, 'base64').toString(), r.eventMetadata.inferenceId]));
    return found.has('"given"') && found.has('"generated"') ? found : undefined;
  });
  assert.equal(byInput.get('"given"'), 'req-7');
  assert.equal(byInput.get('"generated"'), generated.InferenceId);
});

test('InvokeEndpointAsync is refused for a real-time endpoint, an unknown one, both or neither of Body and InputLocation, and invalid headers', async () => {
  const refused = async (input: ConstructorParameters<typeof InvokeEndpointAsyncCommand>[0], message: RegExp): Promise<void> => {
    await assert.rejects(runtime.send(new InvokeEndpointAsyncCommand(input)), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.match(err.message, message);
      return true;
    });
  };
  await refused({ EndpointName: 'realtime-ep', InputLocation: 's3://in/requests/r1.json' }, /^Endpoint realtime-ep is not an asynchronous endpoint/);
  await refused({ EndpointName: 'nope', InputLocation: 's3://in/requests/r1.json' }, /^Endpoint nope of account 000000000000 not found\.$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/requests/r1.json', Body: Buffer.from('x') }, /exactly one of them/);
  await refused({ EndpointName: 'async-ep' }, /exactly one of them/);
  await refused({ EndpointName: 'async-ep', InputLocation: '/tmp/in.json' }, /at 'inputLocation' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', Filename: 'a.b.c' }, /at 'filename' failed to satisfy constraint/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', RequestTTLSeconds: 10 }, /at 'requestTTLSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60/);
  await refused({ EndpointName: 'async-ep', Body: Buffer.alloc(128_001, 1) }, /at 'body' failed to satisfy constraint: Member must have length less than or equal to 128000/);
  // Past the API model's bounds (the values at them are taken).
  await refused({ EndpointName: 'async-ep', InputLocation: `s3://in/${'k'.repeat(1017)}` }, /at 'inputLocation' failed to satisfy constraint: Member must have length less than or equal to 1024$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', InferenceId: 'i'.repeat(65) }, /at 'inferenceId' failed to satisfy constraint: Member must have length less than or equal to 64$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', InferenceId: 'a\tb' }, /at 'inferenceId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\A\\S\[\\p\{Print\}\]\*\\z$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', RequestTTLSeconds: 21_601 }, /at 'requestTTLSeconds' failed to satisfy constraint: Member must have value less than or equal to 21600$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', InvocationTimeoutSeconds: 0 }, /at 'invocationTimeoutSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1$/);
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', InvocationTimeoutSeconds: 3601 }, /at 'invocationTimeoutSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600$/);
  // Sensitive: its value is not quoted.
  await refused({ EndpointName: 'async-ep', InputLocation: 's3://in/r', CustomAttributes: 'c'.repeat(1025) }, /^1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024$/);
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'requests/bounds.json', Body: '[1,2,3]' }));
  const atBounds = await runtime.send(
    new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', InputLocation: 's3://in/requests/bounds.json', InferenceId: 'i'.repeat(64), RequestTTLSeconds: 21_600, InvocationTimeoutSeconds: 3600, CustomAttributes: 'c'.repeat(1024), ContentType: 'application/json' }),
  );
  assert.equal((JSON.parse((await written(atBounds.OutputLocation!)).toString()) as { got: string }).got, '[1,2,3]');
});

test('a request whose result or failure object would have an S3 key over 1024 bytes is refused with ValidationError, not accepted to fail when its result is written; at 1024 bytes it runs', async () => {
  // Keys of 502 and 496 bytes (S3OutputPath and S3FailurePath may have 512 characters); no name over 200 characters, which s3rver's files could not take.
  const prefix = `${'a'.repeat(200)}/${'b'.repeat(200)}`;
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-long-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: `s3://out/${prefix}/${'c'.repeat(100)}`, S3FailurePath: `s3://out/${prefix}/${'d'.repeat(94)}` } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-long', EndpointConfigName: 'async-long-config' }));
  await until('async-long InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-long' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  const extension = `${'e'.repeat(150)}/${'e'.repeat(150)}/${'e'.repeat(150)}`;
  const id = 'x'.repeat(64);
  // 502 + 1 + 452 + 1 + 68 (`<id>.out`) and 496 + 1 + 452 + 1 + 74 (`<id>-error.out`): both exactly 1024 bytes.
  const atLimit = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-long', Body: Buffer.from('[9]'), ContentType: 'application/json', S3OutputPathExtension: extension, InferenceId: id }));
  assert.equal(Buffer.byteLength(atLimit.OutputLocation!.replace('s3://out/', '')), 1024);
  assert.equal(Buffer.byteLength(atLimit.FailureLocation!.replace('s3://out/', '')), 1024);
  assert.equal((JSON.parse((await written(atLimit.OutputLocation!)).toString()) as { got: string }).got, '[9]');
  const refused = async (input: Partial<ConstructorParameters<typeof InvokeEndpointAsyncCommand>[0]>, member: string, bytes: number): Promise<void> => {
    await assert.rejects(runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-long', Body: Buffer.from('[9]'), ...input })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.match(err.message, new RegExp(`^The ${member} of this request would be an S3 object whose key is ${bytes} bytes long, more than the 1024 bytes S3 allows in a key, so it could not be written\\. .*shorten the S3OutputPathExtension`));
      return true;
    });
  };
  await refused({ S3OutputPathExtension: `${extension}e`, InferenceId: id }, 'OutputLocation', 1025);
  // The result named by Filename fits; the failure, named after the id ('/' percent-encoded), does not.
  await refused({ S3OutputPathExtension: extension, InferenceId: `${'x'.repeat(63)}/`, Filename: 'r.json' }, 'FailureLocation', 1026);
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-long' }));
});

test('an S3OutputPath past ASCII: InvokeEndpointAsync answers 202 with the locations as their UTF-8 bytes (read as Latin-1 by HTTP clients), not a 500 for a request it had queued', async () => {
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-utf8-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/日本/é', S3FailurePath: 's3://out/échecs\u0001' } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-utf8', EndpointConfigName: 'async-utf8-config' }));
  await until('async-utf8 InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-utf8' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-utf8', Body: Buffer.from('[8]'), ContentType: 'application/json', InferenceId: 'utf8' }));
  assert.equal(out.$metadata.httpStatusCode, 202);
  assert.equal(Buffer.from(out.OutputLocation!, 'latin1').toString('utf8'), 's3://out/日本/é/utf8.out');
  // A control character cannot be in a header: it is percent-encoded.
  assert.equal(Buffer.from(out.FailureLocation!, 'latin1').toString('utf8'), 's3://out/échecs%01/utf8-error.out');
  assert.equal((JSON.parse((await written('s3://out/日本/é/utf8.out')).toString()) as { got: string }).got, '[8]');
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-utf8' }));
});

test('an asynchronous endpoint refuses InvokeEndpoint and InvokeEndpointWithResponseStream, as the service does', async () => {
  for (const command of [new InvokeEndpointCommand({ EndpointName: 'async-ep', Body: Buffer.from('[1]') }), new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'async-ep', Body: Buffer.from('[1]') })]) {
    await assert.rejects(runtime.send(command as InvokeEndpointCommand), (err: Error) => err.name === 'ValidationError' && /^Endpoint async-ep is an asynchronous endpoint .*InvokeEndpointAsync\.$/.test(err.message));
  }
  const realtime = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'realtime-ep', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
  assert.equal((JSON.parse(Buffer.from(realtime.Body!).toString()) as { got: string }).got, '[1]');
});

test('a container that answers without Content-Length (chunked) fails, in the service\'s words: asynchronous inference needs the length; the failed invocation is not data-captured', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-chunked', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
  assert.equal((await written(out.FailureLocation!)).toString(), 'The response from container primary did not specify the required Content-Length header');
  assert.equal(await exists(out.OutputLocation!), false);
  // Failed invocations are not captured; the endpoint's capture files are written out when it stops.
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-chunked' }));
  await until('async-chunked deleted', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'async-chunked' })).then(() => false, () => true), { timeoutMs: 30_000 });
  assert.deepEqual(await readdir(captureDir), [], 'nothing was captured');
});

test('InvocationTimeoutSeconds bounds the container: a model slower than it is a failure that says so, naming InvocationTimeoutSeconds', async () => {
  const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-slow', Body: Buffer.from('[1]'), ContentType: 'application/json', InvocationTimeoutSeconds: 1 }));
  // Naming the request's member, where the limit is raised (it said only "no response within 1 s").
  assert.match((await written(out.FailureLocation!)).toString(), /no response within 1 s \(InvocationTimeoutSeconds\)$/);
  assert.equal(await exists(out.OutputLocation!), false);
});

test('the queue shows in CloudWatch: ApproximateBacklogSize and its share per instance while requests wait and run', async () => {
  const cw = new CloudWatchClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  try {
    // Six requests on one instance that runs four at once and answers none within their 3 s; sent
    // together, so all six are queued well within the first one's 3 s on a loaded machine.
    const outs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-slow', Body: Buffer.from(`[${i}]`), ContentType: 'application/json', InvocationTimeoutSeconds: 3 }))),
    );
    const maximum = async (metricName: string): Promise<number | undefined> => {
      const now = Date.now();
      const out = await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: [{ Name: 'EndpointName', Value: 'async-slow' }], StartTime: new Date(now - 300_000), EndTime: new Date(now + 60_000), Period: 60, Statistics: ['Maximum'] }));
      return Math.max(...(out.Datapoints ?? []).map((d) => d.Maximum ?? 0));
    };
    await until('a sample with all six requests in the backlog', async () => ((await maximum('ApproximateBacklogSize')) === 6 ? true : undefined), { timeoutMs: 30_000 });
    assert.equal(await maximum('ApproximateBacklogSizePerInstance'), 6);
    assert.equal(await maximum('HasBacklogWithoutCapacity'), 0);
    for (const out of outs) assert.match((await written(out.FailureLocation!)).toString(), /no response within 3 s/);
  } finally {
    cw.destroy();
  }
});

test('an asynchronous endpoint publishes ModelLatency and the error metrics but neither Invocations, InvocationsPerInstance, OverheadLatency nor ConcurrentRequestsPerModel, not even as idle zeros, as AWS lists its metrics', async () => {
  const cw = new CloudWatchClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  try {
    const since = Date.now() - 300_000;
    const datapoints = async (endpoint: string, metricName: string): Promise<number> => {
      const out = await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: [{ Name: 'EndpointName', Value: endpoint }, { Name: 'VariantName', Value: 'AllTraffic' }], StartTime: new Date(since), EndTime: new Date(Date.now() + 60_000), Period: 60, Statistics: ['SampleCount'] }));
      return (out.Datapoints ?? []).length;
    };
    const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-ep', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    await written(out.OutputLocation!);
    // Idle minutes (one real second each here) publish zeros for every variant at once: two more of
    // the real-time endpoint's have passed since the result was written, so the asynchronous one had its chance.
    const idleBefore = await datapoints('realtime-ep', 'Invocations');
    await until('two idle minutes published after the result', async () => ((await datapoints('realtime-ep', 'Invocations')) >= idleBefore + 2 ? true : undefined), { timeoutMs: 30_000 });
    assert.ok((await datapoints('async-ep', 'ModelLatency')) > 0);
    assert.ok((await datapoints('async-ep', 'Invocation5XXErrors')) > 0);
    for (const metricName of ['Invocations', 'InvocationsPerInstance', 'OverheadLatency', 'ConcurrentRequestsPerModel']) assert.equal(await datapoints('async-ep', metricName), 0, metricName);
  } finally {
    cw.destroy();
  }
});

test('target tracking on ApproximateBacklogSizePerInstance (the AWS recipe for asynchronous endpoints) adds an instance while the queue is long', async () => {
  const aas = new ApplicationAutoScalingClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
  try {
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/async-paced/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    await aas.send(
      new PutScalingPolicyCommand({
        ...key,
        PolicyName: 'backlog-per-instance',
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 2,
          CustomizedMetricSpecification: { MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'async-paced' }], Statistic: 'Average' },
          ScaleOutCooldown: 60,
        },
      }),
    );
    // Twenty requests of half a second each on one instance that runs one at a time: a backlog
    // far above 2 per instance for the three (one-second) minutes the high alarm needs.
    const sent: string[] = [];
    const desired = async (): Promise<number | undefined> =>
      (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-paced' }))).ProductionVariants?.[0]?.DesiredInstanceCount;
    await until('a second instance for the backlog', async () => ((await desired()) === 2 ? true : undefined), {
      timeoutMs: 90_000,
      // Once all twenty are sent, DescribeEndpoint is polled at the file's pace: with nothing left to
      // send, probing back to back cost about 3 s of CPU.
      between: async () => {
        if (sent.length >= 20) return pace(100);
        const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-paced', Body: Buffer.from(`[${sent.length}]`), ContentType: 'application/json' }));
        sent.push(out.OutputLocation!);
      },
    });
    // Every request queued before and during the scale-out is answered.
    for (const location of sent) assert.match((await written(location)).toString(), /"got":"\[\d+\]"/);
  } finally {
    aas.destroy();
  }
});

test('an endpoint deleted while a request reads its input fails that request with a message that says so', async () => {
  let inputAsked!: () => void;
  const asked = new Promise<void>((resolve) => (inputAsked = resolve));
  let giveInput!: () => void;
  const input = new Promise<void>((resolve) => (giveInput = resolve));
  const written = new Map<string, string>();
  const stubS3: S3Objects = {
    get: async () => {
      inputAsked();
      await input;
      return Readable.from([Buffer.from('[1]')]);
    },
    list: async () => [],
    put: async (bucket, key, body) => void written.set(`s3://${bucket}/${key}`, body.toString()),
    putFile: () => Promise.reject(new Error('no file uploads in this test')),
    delete: () => Promise.reject(new Error('no deletes in this test')),
  };
  const ep = new ManagedEndpoint('gone', 'arn:gone', 'gone-config', new Date(), Math.random, { s3: () => stubS3 });
  ep.serving = {
    config: { asyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/r', S3FailurePath: 's3://out/f' } } },
    instanceCount: 1,
    endpoint: { trafficInstances: 1, invoke: () => assert.fail('a deleted endpoint is not invoked') },
  } as unknown as Deployment;
  const accepted = ep.invokeAsync({ invocation: { contentType: 'application/json' }, inputLocation: 's3://in/r.json' });
  await asked;
  // DeleteEndpoint: the queue is closed and, once the fleet has stopped, the endpoint has none.
  ep.status = 'Deleting';
  ep.closeAsyncQueue('deleted');
  ep.serving = undefined;
  giveInput();
  await until('the failure', () => written.get(accepted.failureLocation!));
  assert.equal(written.get(accepted.failureLocation!), 'Endpoint gone was deleted before this request could be sent to it.');
  assert.equal(written.has(accepted.outputLocation), false);
});

test('DeleteEndpoint fails the requests still waiting in its queue: each failure location says the endpoint was deleted, and the ErrorTopic notification is logged', async () => {
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'async-deleted-config',
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'async-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/deleted/', S3FailurePath: 's3://out/deleted-failures', NotificationConfig: { ErrorTopic: 'arn:aws:sns:us-east-1:123456789012:failed' } } },
    }),
  );
  await sm.send(new CreateEndpointCommand({ EndpointName: 'async-deleted', EndpointConfigName: 'async-deleted-config' }));
  const inService = () => until('async-deleted InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'async-deleted' }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  await inService();
  // At 0 instances nothing runs: the requests wait in the queue until the endpoint is deleted.
  await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'async-deleted', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] }));
  await inService();
  await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'deleted/r.json', Body: '[1]' }));
  const queued = [
    await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-deleted', InputLocation: 's3://in/deleted/r.json', ContentType: 'application/json' })),
    await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'async-deleted', Body: Buffer.from('[2]'), ContentType: 'application/json' })),
  ];
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'async-deleted' }));
  const message = 'Endpoint async-deleted was deleted while this request waited in its queue, so it was not run: send it again to an endpoint that is InService.';
  for (const out of queued) {
    assert.equal((await written(out.FailureLocation!)).toString(), message);
    assert.equal(await exists(out.OutputLocation!), false);
    const note = await until('the error notification', () => logged.find((l) => l.msg === 'asynchronous inference notification' && l.fields['inferenceId'] === out.InferenceId));
    assert.equal((note.fields['notification'] as { failureReason: string }).failureReason, message);
  }
});

test('DeleteEndpoint writes the failures of a long queue at most MAX_CONCURRENT_ASYNC_FAILURE_WRITES at a time, over all the endpoints deleted together, and every request still gets its failure object', async () => {
  // The local SageMaker writes through this store to the local S3; it counts the PutObjects under
  // way, and holds them until both endpoints are deleted.
  const held = heldS3Writes(s3.url);
  const pooled = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false, s3: held.store });
  const smPooled = new SageMakerClient(localClientConfig(pooled.url, { requestTimeoutMs: 30_000 }));
  const runtimePooled = new SageMakerRuntimeClient({ ...localClientConfig(pooled.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  try {
    await smPooled.send(new CreateModelCommand({ ModelName: 'many', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await smPooled.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'many',
        ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'many', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
        AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/many/', S3FailurePath: 's3://out/many-failures' } },
      }),
    );
    const endpoints = ['many', 'many-more'];
    for (const name of endpoints) await smPooled.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'many' }));
    const inService = (name: string) => until(`${name} InService`, async () => (await smPooled.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
    for (const name of endpoints) {
      await inService(name);
      // At 0 instances every request waits in the queue until DeleteEndpoint.
      await smPooled.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: name, DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] }));
      await inService(name);
    }
    const send = (name: string, count: number) => Promise.all(Array.from({ length: count }, (_, i) => runtimePooled.send(new InvokeEndpointAsyncCommand({ EndpointName: name, Body: Buffer.from(`[${i}]`), ContentType: 'application/json' }))));
    const queued = [...(await send('many', 2 * MAX_CONCURRENT_ASYNC_FAILURE_WRITES)), ...(await send('many-more', MAX_CONCURRENT_ASYNC_FAILURE_WRITES))];
    // DeleteEndpoint starts the failures' writes before it answers.
    await smPooled.send(new DeleteEndpointCommand({ EndpointName: 'many' }));
    assert.equal(held.inFlight, MAX_CONCURRENT_ASYNC_FAILURE_WRITES, 'the bound was used');
    await smPooled.send(new DeleteEndpointCommand({ EndpointName: 'many-more' }));
    assert.equal(held.inFlight, MAX_CONCURRENT_ASYNC_FAILURE_WRITES, 'the second endpoint\'s failures wait for the same slots');
    held.open();
    await until('every failure written', () => held.written === queued.length, { timeoutMs: 30_000 });
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'out', Prefix: 'many-failures/' }));
    assert.deepEqual(listed.Contents?.map((o) => `s3://out/${o.Key}`).sort(), queued.map((q) => q.FailureLocation).sort());
  } finally {
    held.open();
    smPooled.destroy();
    runtimePooled.destroy();
    await pooled.stop();
  }
});

/** A local SageMaker of its own with one asynchronous endpoint `name` (its config: `config`), InService. */
/**
 * An S3 that reads as the test's local S3 and takes every write without ever answering it, until the
 * write is aborted; `counts` has how many writes it took and how many were aborted.
 */
function blackHoleS3(): { blackHole: S3Objects; counts: { hung: number; closedOut: number } } {
  const real = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
  const counts = { hung: 0, closedOut: 0 };
  const blackHole: S3Objects = {
    ...real,
    put: (_bucket, _key, _body, _type, options) =>
      new Promise<void>((_resolve, reject) => {
        counts.hung++;
        options?.signal?.addEventListener('abort', () => (counts.closedOut++, reject(options.signal!.reason as Error)), { once: true });
      }),
  };
  return { blackHole, counts };
}

async function ownAsyncEndpoint(name: string, config: AsyncInferenceConfig, opts: { env?: Record<string, string>; instances?: number; s3?: S3Objects; asyncShutdownWaitMs?: number; backend?: FakeBackend } = {}) {
  const backend = opts.backend ?? new FakeBackend();
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const handle = await startLocalSageMaker({
    port: 0,
    backendImpl: backend,
    startupTimeoutMs: 5_000,
    alarmsAndScaling: false,
    ...(opts.s3 ? { s3: opts.s3 } : { settings: { s3EndpointUrl: s3.url } }),
    ...(opts.asyncShutdownWaitMs === undefined ? {} : { asyncShutdownWaitMs: opts.asyncShutdownWaitMs }),
    log: (_level, msg, fields) => void lines.push({ msg, fields }),
  });
  const control = new SageMakerClient(localClientConfig(handle.url, { requestTimeoutMs: 30_000 }));
  const client = new SageMakerRuntimeClient({ ...localClientConfig(handle.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  await control.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: opts.env ?? {} } }));
  await control.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }], AsyncInferenceConfig: config }));
  await control.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
  const inService = () => until(`${name} InService`, async () => (await control.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
  await inService();
  if (opts.instances === 0) {
    // At 0 instances every request waits in the queue.
    await control.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: name, DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] }));
    await inService();
  }
  return {
    handle,
    backend,
    lines,
    client,
    async stop() {
      control.destroy();
      client.destroy();
      await handle.stop();
    },
  };
}

test('a local SageMaker that stops fails the asynchronous requests still waiting, each failure written and notified before stop() resolves, and writes the result of one running', async () => {
  const real = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
  const backend = new FakeBackend();
  // Writes that start only once the fleet has stopped, and take a while: stop() must wait for them.
  const slowS3: S3Objects = {
    ...real,
    put: async (...args) => {
      await until('the fleet stopped', () => backend.running === 0, { intervalMs: 50 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      return real.put(...args);
    },
  };
  const own = await ownAsyncEndpoint(
    'stopping',
    { OutputConfig: { S3OutputPath: 's3://out/stopping/', S3FailurePath: 's3://out/stopping-failures', NotificationConfig: { ErrorTopic: 'arn:aws:sns:us-east-1:123456789012:failed' } }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 1 } },
    { env: { FAKE_DELAY_MS: '300' }, s3: slowS3, backend },
  );
  try {
    await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: 'stopping/r.json', Body: '[1]' }));
    const running = await own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'stopping', Body: Buffer.from('[0]'), ContentType: 'application/json' }));
    // At the 50 ms of old: the two below must be queued within the first request's 300 ms.
    await until('the first request at the model', () => own.backend.invocations.length === 1, { intervalMs: 50 });
    // One slot: these wait behind it.
    const waiting = [
      await own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'stopping', InputLocation: 's3://in/stopping/r.json', ContentType: 'application/json' })),
      await own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'stopping', Body: Buffer.from('[2]'), ContentType: 'application/json' })),
    ];
    await own.stop();
    const message = 'The local SageMaker stopped while this request waited in the queue of endpoint stopping, so it was not run: send it again once the local SageMaker runs and the endpoint is InService.';
    // Written by the time stop() resolved: no polling.
    for (const out of waiting) {
      const failure = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: out.FailureLocation!.slice('s3://out/'.length) }));
      assert.equal(await failure.Body!.transformToString(), message);
      const note = own.lines.find((l) => l.msg === 'asynchronous inference notification' && l.fields['inferenceId'] === out.InferenceId);
      assert.equal((note?.fields['notification'] as { failureReason?: string } | undefined)?.failureReason, message);
    }
    const result = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: running.OutputLocation!.slice('s3://out/'.length) }));
    assert.equal((JSON.parse(await result.Body!.transformToString()) as { got: string }).got, '[0]');
    assert.equal(own.lines.some((l) => l.msg === 'asynchronous requests left unfinished at shutdown'), false);
  } finally {
    await own.stop();
  }
});

test('a local SageMaker that stops waits a bounded time for asynchronous failures to be written: past it, it closes the writes out and logs how many requests it left', async () => {
  const { blackHole, counts } = blackHoleS3();
  const own = await ownAsyncEndpoint('black-hole', { OutputConfig: { S3OutputPath: 's3://out/black-hole/', S3FailurePath: 's3://out/black-hole-failures' } }, { instances: 0, s3: blackHole, asyncShutdownWaitMs: 50 });
  try {
    for (let i = 0; i < 3; i++) await own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'black-hole', Body: Buffer.from(`[${i}]`), ContentType: 'application/json' }));
    await own.stop();
    const left = own.lines.find((l) => l.msg === 'asynchronous requests left unfinished at shutdown');
    assert.equal(left?.fields['requests'], 3);
    assert.match(String(left?.fields['message']), /^3 asynchronous requests of endpoint black-hole had not ended 0\.05 s after its instances stopped: .* Check that S3 \(AWS_ENDPOINT_URL_S3\) answers/);
    assert.deepEqual([counts.hung, counts.closedOut], [3, 3], 'every write under way was closed out');
  } finally {
    await own.stop();
  }
});

test('a local SageMaker that stops right after DeleteEndpoint waits, bounded as for its other endpoints, for the deleted endpoint\'s failures still being written', async () => {
  const { blackHole, counts } = blackHoleS3();
  const own = await ownAsyncEndpoint('deleted-then-stopped', { OutputConfig: { S3OutputPath: 's3://out/dts/', S3FailurePath: 's3://out/dts-failures' } }, { instances: 0, s3: blackHole, asyncShutdownWaitMs: 50 });
  try {
    for (let i = 0; i < 2; i++) await own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'deleted-then-stopped', Body: Buffer.from(`[${i}]`), ContentType: 'application/json' }));
    await own.handle.sagemaker.call('DeleteEndpoint', { EndpointName: 'deleted-then-stopped' });
    await until('the endpoint gone', () => own.handle.store.endpoints.get('deleted-then-stopped') === undefined);
    await own.stop();
    const left = own.lines.find((l) => l.msg === 'asynchronous requests left unfinished at shutdown');
    assert.equal(left?.fields['requests'], 2);
    assert.deepEqual([counts.hung, counts.closedOut], [2, 2], 'the deleted endpoint\'s writes were closed out, not left to hold the process');
  } finally {
    await own.stop();
  }
});

test('InvokeEndpointAsync while the local SageMaker stops its endpoints (an endpoint file\'s front door still listens then) is refused with 503 ServiceUnavailable, not accepted into a closed queue where it would never run', async () => {
  const own = await ownAsyncEndpoint('closing', { OutputConfig: { S3OutputPath: 's3://out/closing/', S3FailurePath: 's3://out/closing-failures' } }, { instances: 0 });
  try {
    // What stop() of `smkit local <endpoint file>` does first, while the file's front door still answers.
    const stopping = own.handle.lifecycle.stopAll();
    await assert.rejects(own.client.send(new InvokeEndpointAsyncCommand({ EndpointName: 'closing', Body: Buffer.from('[1]'), ContentType: 'application/json' })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ServiceUnavailable');
      assert.equal(err.$metadata?.httpStatusCode, 503);
      assert.equal(err.message, 'Endpoint closing takes no more asynchronous requests: it is being deleted, or the local SageMaker is stopping. Send the request again to an endpoint that is InService.');
      return true;
    });
    await stopping;
  } finally {
    await own.stop();
  }
});

test('running asynchronous invocations take their S3 input and their answer from SMKIT_LOCAL_BODY_MEMORY_MB: an input larger than it, or an answer that does not fit, is not read further and fails saying so; an input that finds no room yet waits for it', async () => {
  const backend = new FakeBackend();
  const logged: string[] = [];
  // 1 MB for all the bodies the front door holds.
  const small = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, settings: { s3EndpointUrl: s3.url, bodyMemoryMb: 1 }, log: (_level, msg) => void logged.push(msg) });
  const smSmall = new SageMakerClient(localClientConfig(small.url, { requestTimeoutMs: 30_000 }));
  const runtimeSmall = new SageMakerRuntimeClient({ ...localClientConfig(small.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
  try {
    const create = async (name: string, env: Record<string, string>) => {
      await smSmall.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: env } }));
      await smSmall.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: name,
          ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
          AsyncInferenceConfig: { OutputConfig: { S3OutputPath: `s3://out/${name}/`, S3FailurePath: `s3://out/${name}-failures` }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 2 } },
        }),
      );
      await smSmall.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
      await until(`${name} InService`, async () => (await smSmall.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', { timeoutMs: 30_000 });
    };
    await create('budget', {});
    // Its container holds each answer until the test releases it.
    await create('budget-held', { FAKE_HOLD: 'true' });
    const invokeWith = async (endpoint: string, key: string, bytes: number) => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'in', Key: key, Body: Buffer.alloc(bytes, 'a') }));
      return runtimeSmall.send(new InvokeEndpointAsyncCommand({ EndpointName: endpoint, InputLocation: `s3://in/${key}`, ContentType: 'text/plain' }));
    };

    // An input larger than the whole budget: read no further than the budget, the model never called.
    const big = await invokeWith('budget', 'budget/big', 1_500_000);
    assert.match(
      (await written(big.FailureLocation!)).toString(),
      /^InputLocation s3:\/\/in\/budget\/big holds more than the 1 MB SMKIT_LOCAL_BODY_MEMORY_MB lets the local SageMaker hold in request and response bodies, so it was not read further\. Raise SMKIT_LOCAL_BODY_MEMORY_MB: the input and its answer must fit in it together\.$/,
    );
    assert.equal(backend.invocations.length, 0, 'the model was not invoked');

    // An input that fits, whose answer (the fake echoes it) then does not.
    const echoed = await invokeWith('budget', 'budget/echoed', 600_000);
    assert.match(
      (await written(echoed.FailureLocation!)).toString(),
      /^The response from container primary does not fit in the memory the local SageMaker holds request and response bodies in \(SMKIT_LOCAL_BODY_MEMORY_MB: 1 MB, 0 MB of it held by other requests now\), so it was not read further\. Invoke again once fewer requests are running, or raise SMKIT_LOCAL_BODY_MEMORY_MB\.$/,
    );
    assert.equal(await exists(echoed.OutputLocation!), false);

    // Input and answer fit, one after the other: each run gave its bytes back, or the second would not fit.
    for (const key of ['budget/fits-1', 'budget/fits-2']) {
      const out = await invokeWith('budget', key, 400_000);
      assert.equal((JSON.parse((await written(out.OutputLocation!)).toString()) as { got: string }).got.length, 400_000, key);
    }

    // A running request holds 700 KB of input: the next one's 400 KB find no room, so it waits in
    // the queue (a free slot notwithstanding) instead of failing, and runs once the first is done.
    const sent = backend.invocations.length;
    const first = await invokeWith('budget-held', 'budget/first', 700_000);
    await until('the first request at the model', () => backend.invocations.length === sent + 1);
    const second = await invokeWith('budget-held', 'budget/second', 400_000);
    await until('the second request to wait for memory', () => logged.includes('asynchronous invocation waits for memory'));
    assert.equal(backend.invocations.length, sent + 1, 'the waiting request was not sent to the model');
    backend.release();
    // The first's echoed answer does not fit beside its input; its failure frees both.
    assert.match((await written(first.FailureLocation!)).toString(), /^The response from container primary does not fit/);
    await until('the second request at the model', () => backend.invocations.length === sent + 2);
    backend.release();
    assert.equal((JSON.parse((await written(second.OutputLocation!)).toString()) as { got: string }).got.length, 400_000);
  } finally {
    backend.release();
    smSmall.destroy();
    runtimeSmall.destroy();
    await small.stop();
  }
});
