import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListEndpointsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  waitUntilEndpointInService,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { heldS3Writes, startLocalS3 } from '../../../test/helpers/local-s3.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { readyBanner } from '../endpoint/run.js';
import { startLocalEndpoints } from '../endpoint/start.js';
import { createS3Objects } from '../s3/client.js';
import { MAX_CONCURRENT_ASYNC_FAILURE_WRITES } from './async-inference.js';
import { parseEndpointFile } from '../../endpoint-file/schema.js';
import type { ToolkitError } from '../../errors/catalogue.js';
import { startLocal } from './start-local.js';

test('endpoint-file endpoints run instanceCount instances, are listed, described and scaled like created ones, and can be updated to a created config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile(
    {
      endpoints: [
        {
          name: 'shop',
          variants: [
            { name: 'A', weight: 3, instanceCount: 2, model: '.', env: { FAKE_TAG: 'file-a' } },
            { name: 'B', weight: 1, model: '.', env: { FAKE_TAG: 'file-b' }, routing: { strategy: 'PREFIX_AWARE', prefixLength: 1024, concurrencyThreshold: 4 } },
          ],
          shadow: { name: 'S', model: '.', env: { FAKE_TAG: 'file-s' } },
        },
      ],
    },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const run = await startLocal(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }, { alarmsAndScaling: false });
  const clientConfig = localClientConfig(run.url, { requestTimeoutMs: 30_000 });
  const sm = new SageMakerClient(clientConfig);
  const runtime = new SageMakerRuntimeClient(clientConfig);
  try {
    assert.deepEqual((await sm.send(new ListEndpointsCommand({}))).Endpoints?.map((e) => [e.EndpointName, e.EndpointStatus]), [['shop', 'InService']]);
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }));
    assert.equal(d.EndpointConfigName, 'shop');
    assert.deepEqual(d.ProductionVariants?.map((v) => [v.VariantName, v.CurrentWeight, v.CurrentInstanceCount, v.DesiredInstanceCount]), [
      ['A', 3, 2, 2],
      ['B', 1, 1, 1],
    ]);
    assert.deepEqual(d.ShadowProductionVariants?.map((v) => v.VariantName), ['S']);
    const c = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'shop' }));
    assert.deepEqual(c.ProductionVariants?.map((v) => [v.VariantName, v.ModelName, v.InitialVariantWeight, v.InitialInstanceCount]), [
      ['A', 'shop-A', 3, 2],
      ['B', 'shop-B', 1, 1],
    ]);
    assert.deepEqual(c.ProductionVariants?.map((v) => v.RoutingConfig), [undefined, { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 1024, ConcurrencyThreshold: 4 } }]);
    const m = await sm.send(new DescribeModelCommand({ ModelName: 'shop-A' }));
    assert.equal(m.PrimaryContainer?.Environment?.FAKE_TAG, 'file-a');
    const answer = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', TargetVariant: 'B', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    assert.equal(JSON.parse(Buffer.from(answer.Body!).toString()).tag, 'file-b');

    // Both instances of A answer, and A scales like a created endpoint's variant.
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', TargetVariant: 'A', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
      ids.add(JSON.parse(Buffer.from(out.Body!).toString()).id as string);
    }
    assert.equal(ids.size, 2, [...ids].join(', '));
    await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'shop', DesiredWeightsAndCapacities: [{ VariantName: 'B', DesiredInstanceCount: 2 }] }));
    await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 30 }, { EndpointName: 'shop' });
    const scaled = await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }));
    assert.equal(scaled.FailureReason, undefined);
    assert.equal(scaled.ProductionVariants?.[1]?.CurrentInstanceCount, 2);
    // B routes by prefix (its file routing): one body goes to one of its two instances, where A's
    // requests above went to both.
    const owners = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', TargetVariant: 'B', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
      owners.add(JSON.parse(Buffer.from(out.Body!).toString()).id as string);
    }
    assert.equal(owners.size, 1, [...owners].join(', '));

    await sm.send(new CreateModelCommand({ ModelName: 'shop-v2', PrimaryContainer: { ModelDataUrl: dir, Environment: { FAKE_TAG: 'api' } } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'shop-v2', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'shop-v2', InitialInstanceCount: 2 }] }));
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'shop', EndpointConfigName: 'shop-v2' }));
    await until('the update to finish', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }))).EndpointConfigName === 'shop-v2', { timeoutMs: 30_000 });
    const after = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    assert.equal(after.InvokedProductionVariant, 'AllTraffic');
    assert.equal(JSON.parse(Buffer.from(after.Body!).toString()).tag, 'api');
  } finally {
    sm.destroy();
    runtime.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an endpoint file capturing to s3:// writes through S3 (never to a local folder named "s3:"), and DescribeEndpointConfig shows its content types; without the S3 client start-up refuses', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-capture-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const s3 = await startLocalS3(['capture']);
  const config = parseEndpointFile(
    {
      endpoints: [{ name: 'cap', variants: [{ name: 'A', model: '.' }], dataCapture: { destination: 's3://capture/runs/', samplingPercentage: 100, jsonContentTypes: ['application/json'] } }],
    },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const refused = await startLocalEndpoints(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }).then(
    async (handle) => void (await handle.stop()),
    (err: Error) => err,
  );
  assert.match(refused?.message ?? 'started', /dataCapture\.destination is s3:\/\/capture\/runs\//);
  const cwdBefore = await readdir(process.cwd());
  const run = await startLocal(
    config,
    { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 },
    { alarmsAndScaling: false, captureSyncMs: 200, s3: createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' }) },
  );
  const runtime = new SageMakerRuntimeClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  const sm = new SageMakerClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  let described;
  try {
    // The banner names where the records end up, not the work folder they are staged in (removed on stop).
    assert.match(readyBanner(run.file!), /; capture → s3:\/\/capture\/runs\/$/m);
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'cap', ContentType: 'application/json', Body: Buffer.from('[1]') }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    // Not UTF-8 although sent as JSON: captured as BASE64, byte for byte.
    await runtime.send(new InvokeEndpointCommand({ EndpointName: 'cap', ContentType: 'application/json', Body: Buffer.from([0x5b, 0xe9, 0x5d]) }));
    described = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'cap' }));
  } finally {
    runtime.destroy();
    sm.destroy();
    await run.stop(); // the last upload happens on stop
  }
  try {
    assert.deepEqual(described?.DataCaptureConfig?.CaptureContentTypeHeader, { JsonContentTypes: ['application/json'] });
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'capture', Prefix: 'runs/cap/A/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    assert.equal(keys.length, 1, `capture objects: ${keys.join(', ')}`);
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'capture', Key: keys[0]! }));
    const records = (await object.Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l) as { captureData: { endpointInput: { data: string; encoding: string } } });
    assert.deepEqual(records.map((r) => [r.captureData.endpointInput.data, r.captureData.endpointInput.encoding]), [['[1]', 'JSON'], ['W+ld', 'BASE64']]);
    assert.deepEqual(await readdir(process.cwd()), cwdBefore, 'nothing was written in the working directory');
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a capture bucket that does not exist fails no invocation: the upload is warned about and tried again, and goes up once the bucket is there', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-capture-nobucket-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const s3 = await startLocalS3([]);
  const config = parseEndpointFile(
    { endpoints: [{ name: 'cap', variants: [{ name: 'A', model: '.' }], dataCapture: { destination: 's3://late/runs', samplingPercentage: 100, jsonContentTypes: ['application/json'] } }] },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const warnings: Array<Record<string, unknown>> = [];
  const run = await startLocal(
    config,
    { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, log: (level, msg, fields) => void (level === 'warn' && msg === 'data capture write failed' && warnings.push(fields)) },
    { alarmsAndScaling: false, captureSyncMs: 100, s3: createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' }) },
  );
  const runtime = new SageMakerRuntimeClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  try {
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'cap', ContentType: 'application/json', Body: Buffer.from('[1]') }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.ok(JSON.parse(Buffer.from(out.Body!).toString()), 'the model answered');
    await until('the failed upload to be warned about', () => (warnings.length > 0 ? true : undefined), { timeoutMs: 30_000 });
    assert.equal(warnings[0]!['endpoint'], 'cap');
    assert.match(String(warnings[0]!['error']), /^Uploading data capture to s3:\/\/late\/runs\/cap\/A\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\S+\.jsonl failed: .*bucket/i);
    // Capture goes on meanwhile: a second invocation is answered and recorded too.
    await runtime.send(new InvokeEndpointCommand({ EndpointName: 'cap', ContentType: 'application/json', Body: Buffer.from('[2]') }));
    await s3.client.send(new CreateBucketCommand({ Bucket: 'late' }));
    const text = await until('the capture file to be uploaded with both records', async () => {
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'late', Prefix: 'runs/cap/A/' }));
      const key = listed.Contents?.[0]?.Key;
      if (key === undefined) return undefined;
      const body = await (await s3.client.send(new GetObjectCommand({ Bucket: 'late', Key: key }))).Body!.transformToString();
      return body.trimEnd().split('\n').length === 2 ? body : undefined;
    }, { timeoutMs: 30_000 });
    const inputs = text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data);
    assert.deepEqual(inputs, ['[1]', '[2]']);
  } finally {
    runtime.destroy();
    await run.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an endpoint-file instance that dies is replaced from the file\'s settings; the endpoint stays InService', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile({ endpoints: [{ name: 'solo', variants: [{ name: 'A', model: '.', env: { FAKE_TAG: 'file-a' } }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const backend = new FakeBackend();
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const run = await startLocal(
    config,
    { port: 0, backendImpl: backend, startupTimeoutMs: 10_000, log: (_level, msg, fields) => lines.push({ msg, fields }) },
    { alarmsAndScaling: false, replacementBackoff: { baseMs: 10, maxMs: 100, healthyMs: 60_000 } },
  );
  const clientConfig = localClientConfig(run.url, { requestTimeoutMs: 30_000 });
  const sm = new SageMakerClient(clientConfig);
  const runtime = new SageMakerRuntimeClient({ ...clientConfig, maxAttempts: 1 });
  const invokedId = async (): Promise<string> => {
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'solo', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    return JSON.parse(Buffer.from(out.Body!).toString()).id as string;
  };
  try {
    const first = await invokedId();
    backend.crash(first);
    await until('a replacement instance in service', () => lines.some((l) => l.msg === 'replacement instance in service'), { timeoutMs: 30_000, intervalMs: 20, detail: () => JSON.stringify(lines) });
    const died = lines.find((l) => l.msg.startsWith('instance died'))!;
    assert.deepEqual([died.fields.endpoint, died.fields.instance], ['solo', 'solo/A/i0']);
    const replacement = backend.started.at(-1)!;
    assert.equal(replacement.env.FAKE_TAG, 'file-a', 'started from the file\'s settings');
    assert.equal(await invokedId(), replacement.id);
    assert.notEqual(replacement.id, first);
    assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'solo' }))).EndpointStatus, 'InService');
  } finally {
    sm.destroy();
    runtime.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(backend.running, 0);
});

test('with --keep (keepWorkDir) the instances an endpoint file\'s variant adds keep their /opt/ml trees after the stop, as created endpoints\' do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile({ endpoints: [{ name: 'kept', variants: [{ name: 'A', instanceCount: 2, model: '.' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const backend = new FakeBackend();
  const run = await startLocal(config, { port: 0, backendImpl: backend, startupTimeoutMs: 10_000, keepWorkDir: true }, { alarmsAndScaling: false });
  try {
    const added = backend.started.filter((c) => c.id.startsWith('kept/A/i1/')).map((c) => c.optMlDir);
    assert.equal(added.length, 1, 'the second instance was started by the local SageMaker');
    await run.stop();
    assert.ok(await stat(added[0]!).then(() => true, () => false), 'its tree stays');
  } finally {
    await run.stop();
    await rm(run.core.workDir, { recursive: true, force: true });
    if (run.file) await rm(run.file.workDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
});

test('an endpoint file\'s asyncInference makes an asynchronous endpoint: InvokeEndpointAsync writes its answer to the local output folder, InvokeEndpoint is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-async-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile(
    { endpoints: [{ name: 'later', variants: [{ name: 'A', model: '.', env: { FAKE_TAG: 'file-async' } }], asyncInference: { outputPath: 'results', failurePath: 'failures' } }] },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const run = await startLocal(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }, { alarmsAndScaling: false });
  const clientConfig = localClientConfig(run.url, { requestTimeoutMs: 30_000 });
  const sm = new SageMakerClient(clientConfig);
  const runtime = new SageMakerRuntimeClient({ ...clientConfig, maxAttempts: 1 });
  try {
    assert.deepEqual((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'later' }))).AsyncInferenceConfig, {
      OutputConfig: { S3OutputPath: join(dir, 'results'), S3FailurePath: join(dir, 'failures') },
    });
    const out = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'later', Body: Buffer.from('[4]'), ContentType: 'application/json', Filename: 'r1.json' }));
    assert.equal(out.OutputLocation, join(dir, 'results', 'r1.json'));
    const answer = await until('the answer in the output folder', async () => {
      try {
        return JSON.parse(await readFile(join(dir, 'results', 'r1.json'), 'utf8')) as { tag: string; got: string };
      } catch {
        return undefined;
      }
    });
    assert.deepEqual([answer.tag, answer.got], ['file-async', '[4]']);
    await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'later', Body: Buffer.from('[1]') })), (err: Error) => err.name === 'ValidationError' && /asynchronous endpoint/.test(err.message));
  } finally {
    sm.destroy();
    runtime.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the failures of an endpoint file\'s asynchronous endpoints take the same MAX_CONCURRENT_ASYNC_FAILURE_WRITES slots as every other endpoint of the local SageMaker', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-async-slots-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const s3 = await startLocalS3(['out']);
  // Counts the PutObjects under way, and holds them until both endpoints are deleted.
  const held = heldS3Writes(s3.url);
  const asyncInference = { outputPath: 's3://out/results', failurePath: 's3://out/failures' };
  const config = parseEndpointFile(
    { endpoints: ['first', 'second'].map((name) => ({ name, variants: [{ name: 'A', model: '.' }], asyncInference })) },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const run = await startLocal(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }, { alarmsAndScaling: false, s3: held.store });
  const clientConfig = localClientConfig(run.url, { requestTimeoutMs: 30_000 });
  const sm = new SageMakerClient(clientConfig);
  const runtime = new SageMakerRuntimeClient({ ...clientConfig, maxAttempts: 1 });
  try {
    for (const name of ['first', 'second']) {
      // At 0 instances every request waits in the queue until DeleteEndpoint.
      await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: name, DesiredWeightsAndCapacities: [{ VariantName: 'A', DesiredInstanceCount: 0 }] }));
      await until(`${name} InService at 0 instances`, async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService');
    }
    const send = (name: string, count: number) => Promise.all(Array.from({ length: count }, (_, i) => runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: name, Body: Buffer.from(`[${i}]`), ContentType: 'application/json' }))));
    const queued = [...(await send('first', MAX_CONCURRENT_ASYNC_FAILURE_WRITES)), ...(await send('second', 2))];
    // DeleteEndpoint starts the failures' writes before it answers.
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'first' }));
    assert.equal(held.inFlight, MAX_CONCURRENT_ASYNC_FAILURE_WRITES);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'second' }));
    assert.equal(held.inFlight, MAX_CONCURRENT_ASYNC_FAILURE_WRITES, "the second endpoint's failures wait for the first's slots");
    held.open();
    await until('every failure written', () => held.written === queued.length, { timeoutMs: 30_000 });
  } finally {
    held.open();
    sm.destroy();
    runtime.destroy();
    await run.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("endpoint-file instances write to the local CloudWatch Logs: a stream <variant>/<instance id> per instance, the first one's and those added for instanceCount", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-logs-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile({ endpoints: [{ name: 'shop', variants: [{ name: 'A', instanceCount: 2, model: '.' }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const backend = new FakeBackend();
  const run = await startLocal(config, { port: 0, backendImpl: backend, startupTimeoutMs: 10_000 }, { alarmsAndScaling: false });
  const logs = new CloudWatchLogsClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  try {
    await until('both instances of A to start', () => backend.started.length === 2);
    // The fake containers print nothing: each line written to a container's sink stands for its output.
    for (const spec of backend.started) spec.logLines!(`hello from ${spec.id}`);
    const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/Endpoints/shop' }));
    assert.equal(logStreams?.length, 2);
    for (const s of logStreams!) {
      assert.match(s.logStreamName!, /^A\/i-[0-9a-f]{17}$/);
      const page = await logs.send(new GetLogEventsCommand({ logGroupName: '/aws/sagemaker/Endpoints/shop', logStreamName: s.logStreamName!, startFromHead: true }));
      assert.equal(page.events?.length, 1);
      assert.match(page.events![0]!.message!, /^hello from shop\/A\//);
    }
  } finally {
    logs.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("an endpoint-file endpoint's ModelError carries its log group's ARN in LogStreamArn, which the local CloudWatch Logs reads; the runtime's errors name the local SageMaker's account (SMKIT_LOCAL_ACCOUNT_ID)", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-arn-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile({ endpoints: [{ name: 'bad', variants: [{ name: 'A', model: '.', env: { FAKE_STATUS: '400' } }] }] }, (p) => join(dir, p), () => Buffer.alloc(0));
  const run = await startLocal(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }, { alarmsAndScaling: false, settings: { accountId: '123456789012' } });
  const runtime = new SageMakerRuntimeClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  const logs = new CloudWatchLogsClient(localClientConfig(run.url, { requestTimeoutMs: 30_000 }));
  try {
    // The front door of an endpoint file names the account its ARNs carry, not the default 000000000000.
    await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'nope', Body: Buffer.from('[1]') })), (err: Error) => {
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.message, 'Endpoint nope of account 123456789012 not found.');
      return true;
    });
    let arn: string | undefined;
    await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'bad', Body: Buffer.from('[1]'), ContentType: 'application/json' })), (err: Error & { LogStreamArn?: string }) => {
      assert.equal(err.name, 'ModelError');
      arn = err.LogStreamArn;
      assert.match(err.message, /See \/.+\.log for more information\.$/, 'the message names the log file');
      return true;
    });
    assert.match(arn!, /^arn:aws:logs:[a-z0-9-]+:123456789012:log-group:\/aws\/sagemaker\/Endpoints\/bad$/);
    const { logStreams } = await logs.send(new DescribeLogStreamsCommand({ logGroupIdentifier: arn }));
    assert.equal(logStreams?.length, 1);
  } finally {
    runtime.destroy();
    logs.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a taken front-door port fails with ERR_PORT_IN_USE before the control plane is built, with an endpoint file or without', async () => {
  const held = createServer();
  await new Promise<void>((ok) => held.listen(0, '127.0.0.1', ok));
  const { port } = held.address() as AddressInfo;
  const config = parseEndpointFile({ endpoints: [{ name: 'shop', variants: [{ model: '.' }] }] }, (p) => join(tmpdir(), p), () => Buffer.alloc(0));
  try {
    for (const file of [config, undefined]) {
      // The control plane's services are built once its store exists: never, when the port is taken.
      let built = false;
      await assert.rejects(
        startLocal(file, { port, backendImpl: new FakeBackend() }, { services: () => ((built = true), []) }),
        (err: ToolkitError) => err.code === 'ERR_PORT_IN_USE' && err.message.startsWith(`port ${port} on 127.0.0.1 is already in use`),
      );
      assert.equal(built, false, `the control plane was built (${file ? 'endpoint file' : 'no endpoint file'})`);
    }
    // The endpoint file's port counts when --port is not given.
    await assert.rejects(startLocal(parseEndpointFile({ port, endpoints: [{ name: 'shop', variants: [{ model: '.' }] }] }, (p) => join(tmpdir(), p), () => Buffer.alloc(0)), { backendImpl: new FakeBackend() }), { code: 'ERR_PORT_IN_USE' });
  } finally {
    await new Promise<void>((ok) => held.close(() => ok()));
  }
});

test('on a taken front-door port, a wrong flag or setting is still what fails: ERR_CLI_USAGE, ERR_CONFIG_INVALID', async () => {
  const held = createServer();
  await new Promise<void>((ok) => held.listen(0, '127.0.0.1', ok));
  const { port } = held.address() as AddressInfo;
  const config = parseEndpointFile({ endpoints: [{ name: 'shop', variants: [{ model: '.' }] }] }, (p) => join(tmpdir(), p), () => Buffer.alloc(0));
  const saved = process.env['SMKIT_LOCAL_MAX_INSTANCES'];
  try {
    // --engine where no image runs: the process backend would ignore it.
    await assert.rejects(startLocal(config, { port, engine: 'podman' }), (err: ToolkitError) => err.code === 'ERR_CLI_USAGE' && /--engine only applies/.test(err.message));
    process.env['SMKIT_LOCAL_MAX_INSTANCES'] = 'abc';
    for (const file of [config, undefined]) {
      await assert.rejects(startLocal(file, { port, backendImpl: new FakeBackend() }), (err: ToolkitError) => err.code === 'ERR_CONFIG_INVALID' && err.message.includes('SMKIT_LOCAL_MAX_INSTANCES'));
    }
  } finally {
    if (saved === undefined) delete process.env['SMKIT_LOCAL_MAX_INSTANCES'];
    else process.env['SMKIT_LOCAL_MAX_INSTANCES'] = saved;
    await new Promise<void>((ok) => held.close(() => ok()));
  }
});
