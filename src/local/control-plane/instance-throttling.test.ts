// The front door does not queue real-time invocations: each goes to an instance at once, and one
// that finds every instance at SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE is throttled at once, as
// SageMaker throttles, through the real SDK clients over HTTP. Containers hold their answers until
// the test releases them, so the requests in flight are counted, not timed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';
import { parseEndpointFile } from '../../endpoint-file/schema.js';
import { startLocalEndpoints, type LocalEndpointsHandle } from '../endpoint/start.js';

let dir: string;
let backend: FakeBackend;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-throttling-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  backend = new FakeBackend();
  local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { maxInvocationsPerInstance: 1 } });
  // No SDK retries: the throttled request shows as it is answered.
  clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  await clients.sagemaker.send(new CreateModelCommand({ ModelName: 'slow', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
  await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'slow', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'slow', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
  await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'slow', EndpointConfigName: 'slow' }));
  await until('the endpoint to be InService', async () => (await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'slow' }))).EndpointStatus === 'InService', { timeoutMs: 20_000, intervalMs: 25 });
});

after(async () => {
  backend.release();
  clients?.destroy();
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
});

const invoke = (body: string) => clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'slow', ContentType: 'text/plain', Body: Buffer.from(body) }));

const throttled = (err: Error & { $metadata?: { httpStatusCode?: number } }): boolean => {
  assert.equal(err.name, 'ThrottlingException');
  assert.equal(err.$metadata?.httpStatusCode, 400);
  assert.equal(
    err.message,
    'Endpoint slow: Each of the 2 instance(s) of variant AllTraffic already has 1 invocations in flight (SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE); the request was throttled. Try your call again with backoff, add instances, or raise SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE.',
  );
  return true;
};

test('with every instance at SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE, the next InvokeEndpoint and InvokeEndpointWithResponseStream are throttled at once (400 ThrottlingException), not queued; once answers are sent, invocations are taken again', { timeout: 30_000 }, async () => {
  // One request per instance, each held by its container.
  const held = [invoke('first'), invoke('second')];
  await until('each instance to hold one request', () => backend.invocations.length === 2, { timeoutMs: 10_000, intervalMs: 10 });
  assert.deepEqual(new Set(backend.invocations.map((i) => i.id)).size, 2, 'the two requests went to different instances');
  await assert.rejects(invoke('third'), throttled);
  await assert.rejects(clients.runtime.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'slow', ContentType: 'text/plain', Body: Buffer.from('fourth') })), throttled);
  assert.equal(backend.invocations.length, 2, 'the throttled requests reached no container');

  backend.release();
  const answers = await Promise.all(held);
  assert.deepEqual(answers.map((a) => (JSON.parse(Buffer.from(a.Body!).toString()) as { got: string }).got).sort(), ['first', 'second']);
  const next = invoke('fifth');
  await until('the next request to reach a container', () => backend.invocations.length === 3, { timeoutMs: 10_000, intervalMs: 10 });
  backend.release();
  assert.equal((JSON.parse(Buffer.from((await next).Body!).toString()) as { got: string }).got, 'fifth');
});

test('startLocalEndpoints used as a library throttles as the local SageMaker does: SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE in flight on its one instance, the next InvokeEndpoint is a 400 ThrottlingException', { timeout: 30_000 }, async () => {
  const own = new FakeBackend();
  const config = parseEndpointFile({ endpoints: [{ name: 'lib', variants: [{ model: dir, env: { FAKE_HOLD: 'true' } }] }] }, (p) => p, () => Buffer.alloc(0));
  const before = process.env['SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE'];
  process.env['SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE'] = '1';
  let handle: LocalEndpointsHandle | undefined;
  try {
    handle = await startLocalEndpoints(config, { port: 0, backendImpl: own, startupTimeoutMs: 5_000 });
  } finally {
    if (before === undefined) delete process.env['SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE'];
    else process.env['SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE'] = before;
  }
  const libClients = localSdkClients(handle.url, { runtimeMaxAttempts: 1 });
  try {
    const send = (body: string) => libClients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'lib', ContentType: 'text/plain', Body: Buffer.from(body) }));
    const held = send('first');
    await until('the instance to hold one request', () => own.invocations.length === 1, { timeoutMs: 10_000, intervalMs: 10 });
    await assert.rejects(send('second'), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ThrottlingException');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.equal(
        err.message,
        'Endpoint lib: Each of the 1 instance(s) of variant AllTraffic already has 1 invocations in flight (SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE); the request was throttled. Try your call again with backoff, add instances, or raise SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE.',
      );
      return true;
    });
    assert.equal(own.invocations.length, 1, 'the throttled request reached no container');
    own.release();
    assert.equal((JSON.parse(Buffer.from((await held).Body!).toString()) as { got: string }).got, 'first');
    const next = send('third');
    await until('the next request to reach the container', () => own.invocations.length === 2, { timeoutMs: 10_000, intervalMs: 10 });
    own.release();
    assert.equal((JSON.parse(Buffer.from((await next).Body!).toString()) as { got: string }).got, 'third');
  } finally {
    own.release();
    libClients.destroy();
    await handle.stop();
  }
});
