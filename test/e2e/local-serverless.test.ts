// Serverless endpoints in the local SageMaker, end to end with the real SDK clients and real
// `smkit serve` children: the endpoint is InService with nothing running; the first invocation
// cold-starts an instance and waits for its /ping (AWS's 3 minutes, whatever --startup-timeout says); a warm instance serves the next; concurrent
// invocations start more instances up to MaxConcurrency and the one beyond is throttled
// (ThrottlingException); idle instances stop after SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS and the
// next invocation cold-starts again; payloads are held to serverless's 4 MB each way. Requests are
// held in flight by a gate the test opens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, DescribeEndpointConfigCommand, waitUntilEndpointInService } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import type { Fleet } from '../../src/local/fleet/fleet.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const SERVERLESS = { MemorySizeInMB: 2048, MaxConcurrency: 2 };

let work: string;
let gate: string;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'smkit-serverless-e2e-'));
  gate = join(work, 'gate');
  await mkdir(gate);
  // A /ping deadline no container meets: serverless cold starts have AWS's fixed 3 minutes instead.
  local = await startLocalSageMaker({ port: 0, settings: { region: 'us-east-1', accountId: '111122223333', serverlessIdleSeconds: 3 }, startupTimeoutMs: 1 });
  // No SDK retries of InvokeEndpoint: the throttled request shows as it is answered.
  clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  await clients.sagemaker.send(
    new CreateModelCommand({
      ModelName: 'gate',
      ExecutionRoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole',
      PrimaryContainer: { ModelDataUrl: join(REPO_ROOT, 'test/fixtures/handlers/gate'), Environment: { GATE_DIR: gate } },
    }),
  );
  await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'gate', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'gate', ServerlessConfig: SERVERLESS }] }));
  await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'gate', EndpointConfigName: 'gate' }));
  await waitUntilEndpointInService({ client: clients.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: 'gate' });
});

after(async () => {
  await writeFile(join(gate, 'open'), '').catch(() => {});
  clients?.destroy();
  await local?.stop();
  await rm(work, { recursive: true, force: true });
});

function fleet(): Fleet {
  const deployment = local.store.endpoints.get('gate')?.serving;
  assert.ok(deployment, 'the endpoint has a serving deployment');
  return deployment.variants[0]!.fleet;
}

async function invoke(body: string): Promise<number> {
  const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'gate', ContentType: 'text/plain', Body: Buffer.from(body) }));
  return (JSON.parse(Buffer.from(out.Body!).toString()) as { pid: number }).pid;
}

const held = (): number => readdirSync(gate).filter((f) => f.startsWith('held-')).length;

test('DescribeEndpointConfig and DescribeEndpoint show the serverless variant, with nothing running', async () => {
  const config = await clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'gate' }));
  assert.deepEqual(config.ProductionVariants?.[0]?.ServerlessConfig, SERVERLESS);
  assert.equal(config.ProductionVariants?.[0]?.InstanceType, undefined);
  const ep = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'gate' }));
  const variant = ep.ProductionVariants?.[0];
  assert.deepEqual(variant?.CurrentServerlessConfig, SERVERLESS);
  assert.deepEqual(variant?.DesiredServerlessConfig, SERVERLESS);
  assert.equal(variant?.CurrentInstanceCount, undefined);
  assert.equal(variant?.DesiredInstanceCount, undefined);
  assert.equal(fleet().size, 0, 'no instance runs before the first invocation');
  assert.equal(fleet().containers.length, 0);
});

test('cold start, warm reuse, throttling beyond MaxConcurrency, scale-in after idle, cold start again', async () => {
  // The first invocation waits for an instance to start and pass /ping.
  const first = await invoke('quick');
  assert.equal(fleet().size, 1, 'the first invocation started one instance');
  assert.equal(fleet().containers.length, 1);
  assert.equal(await invoke('quick'), first, 'the warm instance serves the next invocation');
  assert.equal(fleet().size, 1);

  // Two requests held in flight: the warm instance takes one, a second instance cold-starts for the other.
  const holding = [invoke('hold'), invoke('hold')];
  await until('both held requests to be in their handlers', () => held() === 2, { timeoutMs: 60_000 });
  assert.equal(fleet().size, 2, 'a second instance started for the second concurrent invocation');
  // A third concurrent invocation is beyond MaxConcurrency (2).
  await assert.rejects(invoke('quick'), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, 'ThrottlingException');
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.match(err.message, /MaxConcurrency of 2 concurrent invocation\(s\); the request was throttled/);
    return true;
  });
  assert.equal(fleet().size, 2, 'the throttled request started nothing');
  await writeFile(join(gate, 'open'), '');
  const pids = await Promise.all(holding);
  assert.equal(new Set(pids).size, 2, 'each held request had an instance of its own');
  assert.ok(pids.includes(first), 'one of them was the warm instance');

  // Idle instances stop (SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS is 3 here: long enough that a loaded machine does not stop the warm instance between two calls) and their processes end.
  await until('the idle instances to stop', () => fleet().size === 0 && fleet().containers.length === 0, { timeoutMs: 30_000 });
  const again = await invoke('quick');
  assert.ok(!pids.includes(again), 'the next invocation cold-started a new instance');
  assert.equal(fleet().size, 1);
});

test('serverless payloads: a request over 4 MB is a ValidationError before any instance starts, an answer over 4 MB a ModelError; 4 MB each way pass', async () => {
  const limit = 4 * 1024 * 1024;
  const size = fleet().size;
  await assert.rejects(
    clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'gate', ContentType: 'text/plain', Body: Buffer.alloc(limit + 1, 'a') })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ValidationError');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.match(err.message, /^Request [0-9a-f-]{36} has oversize body\. Variant AllTraffic is serverless: a serverless invocation takes at most 4194304 bytes \(4 MB\), and this request has 4194305\./);
      return true;
    },
  );
  await assert.rejects(
    clients.runtime.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'gate', ContentType: 'text/plain', Body: Buffer.alloc(limit + 1, 'a') })),
    (err: Error) => err.name === 'ValidationError' && /has oversize body\./.test(err.message),
  );
  assert.ok(fleet().size <= size, 'the refused requests started no instance');
  // The largest request is served (the handler answers its pid).
  assert.equal(typeof (await invoke('a'.repeat(limit))), 'number');

  const answer = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'gate', ContentType: 'text/plain', Body: Buffer.from(`big:${limit}`) }));
  assert.equal(answer.Body?.length, limit, 'a 4 MB answer is returned whole');
  await assert.rejects(
    clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'gate', ContentType: 'text/plain', Body: Buffer.from(`big:${limit + 1}`) })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ModelError');
      assert.equal(err.$metadata?.httpStatusCode, 424);
      assert.match(err.message, /its answer is larger than 4194304 bytes/);
      return true;
    },
  );
});

test('a cold start whose model fails to load is a 500 InternalFailure naming the serverless cold start, the container and its /ping answer, not a "front door failed"', async () => {
  const broken = join(work, 'broken');
  await mkdir(broken);
  await writeFile(join(broken, 'model.onnx'), 'not an ONNX model');
  await clients.sagemaker.send(new CreateModelCommand({ ModelName: 'broken', ExecutionRoleArn: 'arn:aws:iam::111122223333:role/SageMakerRole', PrimaryContainer: { ModelDataUrl: broken } }));
  await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'broken', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'broken', ServerlessConfig: SERVERLESS }] }));
  await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'broken', EndpointConfigName: 'broken' }));
  await waitUntilEndpointInService({ client: clients.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: 'broken' });
  await assert.rejects(
    clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'broken', ContentType: 'text/csv', Body: Buffer.from('1,2,3,4') })),
    (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'InternalFailure', err.message);
      assert.equal(err.$metadata?.httpStatusCode, 500);
      assert.match(err.message, /^Endpoint broken: the instance started for this invocation \(a serverless cold start\) did not pass the ping health check: container primary answered \/ping with 503: model failed to load: cannot load ONNX model /);
      assert.doesNotMatch(err.message, /front door failed/);
      return true;
    },
  );
});
