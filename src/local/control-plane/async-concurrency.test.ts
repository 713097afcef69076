import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DeleteEndpointCommand, DescribeEndpointCommand, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

// MaxConcurrentInvocationsPerInstance is a limit on each instance: with several production
// variants, the queue's slots (the limit times the instances) must not all go to one variant's.

let dir: string;
let s3: LocalS3;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
const backend = new FakeBackend();
const POLL = { timeoutMs: 30_000, intervalMs: 50 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-async-concurrency-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  s3 = await startLocalS3(['out']);
  local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, settings: { s3EndpointUrl: s3.url } });
  sm = new SageMakerClient(localClientConfig(local.url));
  runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url), maxAttempts: 1 });
  // Answers only when the test releases them: what a container holds is what runs on it at once.
  await sm.send(new CreateModelCommand({ ModelName: 'held', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
});

after(async () => {
  backend.release();
  await local.stop();
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

/** An endpoint config of one variant per weight, each of `instances` instances, that runs one request at a time on each. */
async function asyncConfig(name: string, weights: number[], instances = 1): Promise<void> {
  await sm.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: name,
      ProductionVariants: weights.map((w, i) => ({ VariantName: `V${i}`, ModelName: 'held', InitialInstanceCount: instances, InstanceType: 'ml.m5.large' as const, InitialVariantWeight: w })),
      AsyncInferenceConfig: { OutputConfig: { S3OutputPath: `s3://out/${name}/` }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 1 } },
    }),
  );
}

async function asyncEndpoint(name: string, weights: number[], instances = 1): Promise<void> {
  await asyncConfig(name, weights, instances);
  await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
  await until(`${name} InService`, async () => ((await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService' ? true : undefined), POLL);
}

function received(endpoint: string): Array<{ id: string; body: string }> {
  return backend.invocations.filter((i) => i.id.startsWith(`${endpoint}/`));
}

async function result(location: string): Promise<string> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(location)!;
  return until(`the result at ${location}`, async () => {
    try {
      const out = await s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
      const body = await out.Body!.transformToString();
      return body.length > 0 ? body : undefined;
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }, { ...POLL, retryErrors: true });
}

test('a variant of weight 0 takes no asynchronous request, and its instance adds no room: MaxConcurrentInvocationsPerInstance 1 runs one at a time on the other variant\'s only instance', async () => {
  await asyncEndpoint('weighted', [1, 0]);
  const accepted = [];
  for (let i = 0; i < 3; i++) accepted.push(await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'weighted', ContentType: 'text/plain', Body: Buffer.from(`r${i}`) } as never)));
  for (let k = 1; k <= 3; k++) {
    await until(`request ${k} at its container`, () => (received('weighted').length >= k ? true : undefined), POLL);
    // The one running holds its answer until released: another one arriving now would run beside it.
    assert.equal(received('weighted').length, k, `${received('weighted').length} requests reached the containers while ${k} had been let run one at a time`);
    backend.release();
  }
  for (const a of accepted) assert.match(await result(a.OutputLocation!), /"got":"r\d"/);
  assert.deepEqual(new Set(received('weighted').map((i) => i.id.split('/')[2])), new Set(['V0']));
});

test('two variants of equal weight, one instance each, MaxConcurrentInvocationsPerInstance 1: two requests run at once, one on each instance, never two on one', async () => {
  await asyncEndpoint('even', [1, 1]);
  const accepted = [];
  for (let i = 0; i < 6; i++) accepted.push(await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'even', ContentType: 'text/plain', Body: Buffer.from(`r${i}`) } as never)));
  for (let k = 2; k <= 6; k += 2) {
    await until(`requests ${k - 1} and ${k} at their containers`, () => (received('even').length >= k ? true : undefined), POLL);
    const running = received('even').slice(k - 2);
    assert.equal(received('even').length, k, `${received('even').length} requests reached the containers while ${k} had been let run two at a time`);
    assert.notEqual(running[0]!.id, running[1]!.id, `two requests ran at once on instance ${running[0]!.id}`);
    backend.release();
  }
  for (const a of accepted) assert.match(await result(a.OutputLocation!), /"got":"r\d"/);
});

test('during a blue/green update that has shifted all traffic to a smaller new fleet, that fleet\'s instance runs one request at a time, not as many as the old fleet had instances', async () => {
  await asyncEndpoint('shift', [1], 2);
  await asyncConfig('shift-green', [1], 1);
  await sm.send(
    new UpdateEndpointCommand({
      EndpointName: 'shift',
      EndpointConfigName: 'shift-green',
      // All traffic on the new fleet, which bakes long past the test while the old one still runs.
      DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 3600 }, TerminationWaitInSeconds: 0 } },
    }),
  );
  await until('baking', async () => ((await sm.send(new DescribeEndpointCommand({ EndpointName: 'shift' }))).PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.Status === 'Baking' ? true : undefined), POLL);
  const accepted = [];
  for (let i = 0; i < 3; i++) accepted.push(await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'shift', ContentType: 'text/plain', Body: Buffer.from(`r${i}`) } as never)));
  const green = () => backend.invocations.filter((i) => i.id.startsWith('shift/shift-green/'));
  for (let k = 1; k <= 3; k++) {
    await until(`request ${k} at the new fleet`, () => (green().length >= k ? true : undefined), POLL);
    assert.equal(received('shift').length, k, `${received('shift').length} requests reached the containers while ${k} had been let run one at a time`);
    backend.release();
  }
  for (const a of accepted) assert.match(await result(a.OutputLocation!), /"got":"r\d"/);
  await sm.send(new DeleteEndpointCommand({ EndpointName: 'shift' }));
});
