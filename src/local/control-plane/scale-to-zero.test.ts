import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { until } from '../../../test/helpers/until.js';
import type { AwsService } from '../../aws/service.js';
import { createLocalSageMaker, type LocalSageMakerCore } from './local-sagemaker.js';

let dir: string;
let backend: FakeBackend;
let sm: LocalSageMakerCore;
let autoscaling: AwsService;

const call = (op: string, input: Record<string, unknown>) => sm.sagemaker.call(op, input);
const POLL = { timeoutMs: 20_000, intervalMs: 25 };
const target = (endpoint: string) => ({ ServiceNamespace: 'sagemaker', ResourceId: `endpoint/${endpoint}/variant/AllTraffic`, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' });

async function variant(endpoint: string): Promise<{ status: string; current: number; desired: number }> {
  const out = await call('DescribeEndpoint', { EndpointName: endpoint });
  const v = (out.ProductionVariants as Array<{ CurrentInstanceCount: number; DesiredInstanceCount: number }>)[0]!;
  return { status: out.EndpointStatus as string, current: v.CurrentInstanceCount, desired: v.DesiredInstanceCount };
}

async function inService(endpoint: string): Promise<{ current: number; desired: number }> {
  return until(`${endpoint} InService`, async () => {
    const { status, current, desired } = await variant(endpoint);
    return status === 'InService' ? { current, desired } : undefined;
  }, POLL);
}

async function rejects(p: Promise<unknown>, name: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { type?: string }) => {
    assert.equal(err.type ?? err.name, name);
    assert.match(err.message, message);
    return true;
  });
}

describe('scale to zero', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-zero-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new FakeBackend();
    sm = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs: 5_000, metricsSettings: { secondsPerMinute: 1 }, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    autoscaling = sm.services.find((s) => s.targetPrefix === 'AnyScaleFrontendService')!;
    await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_TAG: 'zero' } } });
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }];
    // A local folder as S3OutputPath: the results land on disk, so this file needs no S3 server.
    const asyncConfig = { OutputConfig: { S3OutputPath: join(dir, 'out') } };
    await call('CreateEndpointConfig', { EndpointConfigName: 'async-1', ProductionVariants: variants, AsyncInferenceConfig: asyncConfig });
    for (const name of ['async-2', 'async-3']) await call('CreateEndpointConfig', { EndpointConfigName: name, ProductionVariants: [{ ...variants[0], InitialInstanceCount: 2 }], AsyncInferenceConfig: asyncConfig });
    await call('CreateEndpointConfig', { EndpointConfigName: 'realtime', ProductionVariants: variants });
    for (const [name, config] of [['az', 'async-1'], ['az-update', 'async-1'], ['rt', 'realtime']] as const) await call('CreateEndpoint', { EndpointName: name, EndpointConfigName: config });
    for (const name of ['az', 'az-update', 'rt']) await inService(name);
  });

  after(async () => {
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('RegisterScalableTarget takes MinCapacity 0 for an asynchronous endpoint and refuses it for a real-time one', async () => {
    await autoscaling.call('RegisterScalableTarget', { ...target('az'), MinCapacity: 0, MaxCapacity: 2 });
    const described = (await autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: ['endpoint/az/variant/AllTraffic'] })).ScalableTargets as Array<{ MinCapacity: number; MaxCapacity: number }>;
    assert.deepEqual(described.map((t) => [t.MinCapacity, t.MaxCapacity]), [[0, 2]]);
    await rejects(
      autoscaling.call('RegisterScalableTarget', { ...target('rt'), MinCapacity: 0, MaxCapacity: 2 }),
      'ValidationException',
      /^MinCapacity 0 is not valid for variant AllTraffic of the real-time endpoint rt: its instance count is at least 1\. Only an asynchronous endpoint \(AsyncInferenceConfig\) scales to 0 instances\.$/,
    );
    // Updating a real-time target's MaxCapacity alone keeps its minimum, which must stay at least 1.
    await autoscaling.call('RegisterScalableTarget', { ...target('rt'), MinCapacity: 1, MaxCapacity: 2 });
    await rejects(autoscaling.call('RegisterScalableTarget', { ...target('rt'), MinCapacity: 0 }), 'ValidationException', /real-time endpoint rt/);
    await rejects(autoscaling.call('RegisterScalableTarget', { ...target('az'), MinCapacity: -1, MaxCapacity: 2 }), 'ValidationException', /^MinCapacity -1 is not valid/);
    for (const name of ['az', 'rt']) await autoscaling.call('DeregisterScalableTarget', target(name));
  });

  test('UpdateEndpointWeightsAndCapacities to 0 stops every instance of an asynchronous variant; a real-time one is refused', async () => {
    await rejects(
      call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'rt', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] }),
      'ValidationException',
      /^DesiredInstanceCount for variant "AllTraffic" must be at least 1: only an asynchronous endpoint \(AsyncInferenceConfig\) can scale to 0 instances\.$/,
    );
    const before = backend.running;
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'az', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] });
    // The desired count shows at once; the endpoint is Updating until the instance has stopped.
    const during = await variant('az');
    assert.deepEqual([during.status, during.desired], ['Updating', 0]);
    assert.deepEqual(await inService('az'), { current: 0, desired: 0 });
    assert.equal(backend.running, before - 1);
    assert.deepEqual(sm.lifecycle.routable('az')!.asyncBacklog, { backlog: 0, instances: 0, oldestWaitSeconds: 0 });
  });

  test('at 0 instances asynchronous requests wait in the queue; scaling out to 1 runs them', async () => {
    const endpoint = sm.lifecycle.routable('az')!;
    const accepted = [0, 1, 2].map((i) => endpoint.invokeAsync({ invocation: { contentType: 'application/json' }, body: Buffer.from(`[${i}]`), filename: `r${i}.json` }));
    assert.equal(endpoint.asyncBacklog!.backlog, 3);
    assert.equal(endpoint.asyncQueue.running, 0);
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'az', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 1 }] });
    assert.deepEqual(await inService('az'), { current: 1, desired: 1 });
    for (const [i, a] of accepted.entries()) {
      const body = await until(`the result at ${a.outputLocation}`, () => readFile(a.outputLocation, 'utf8').catch(() => undefined), POLL);
      const result = JSON.parse(body) as { id: string };
      assert.deepEqual(result, { tag: 'zero', id: result.id, got: `[${i}]` });
    }
    await until('an empty backlog', () => endpoint.asyncBacklog!.backlog === 0, POLL);
  });

  test('UpdateEndpoint of an asynchronous endpoint at 0: the new config starts at its InitialInstanceCount, or stays at 0 when the count is retained; a real-time config is refused', async () => {
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'az-update', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] });
    await inService('az-update');
    // An asynchronous endpoint stays one (the service refuses the update, aws/sagemaker-python-sdk#3124), at 0 instances or not.
    for (const retain of [true, false]) {
      await rejects(
        call('UpdateEndpoint', { EndpointName: 'az-update', EndpointConfigName: 'realtime', RetainAllVariantProperties: retain }),
        'ValidationException',
        /^The AsyncInferenceConfig parameter cannot be removed from this endpoint az-update\. To change the endpoint to a real-time one, create a new endpoint with endpoint configuration "realtime"/,
      );
    }
    assert.deepEqual([await variant('az-update'), (await call('DescribeEndpoint', { EndpointName: 'az-update' })).EndpointConfigName], [{ status: 'InService', current: 0, desired: 0 }, 'async-1']);
    await call('UpdateEndpoint', { EndpointName: 'az-update', EndpointConfigName: 'async-2', RetainAllVariantProperties: true });
    assert.deepEqual(await inService('az-update'), { current: 0, desired: 0 });
    assert.equal((await call('DescribeEndpoint', { EndpointName: 'az-update' })).EndpointConfigName, 'async-2');
    // A new config (the service refuses the one the endpoint runs): it starts at its InitialInstanceCount.
    await call('UpdateEndpoint', { EndpointName: 'az-update', EndpointConfigName: 'async-3' });
    await until('az-update on async-3 with its 2 instances', async () => {
      const v = await variant('az-update');
      return v.status === 'InService' && v.current === 2 ? v : undefined;
    }, POLL);
  });

  test('DeleteEndpoint of an asynchronous endpoint at 0 drops the requests still waiting', async () => {
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'az', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] });
    await inService('az');
    const endpoint = sm.lifecycle.routable('az')!;
    endpoint.invokeAsync({ invocation: { contentType: 'application/json' }, body: Buffer.from('[9]') });
    assert.equal(endpoint.asyncQueue.waiting, 1);
    await call('DeleteEndpoint', { EndpointName: 'az' });
    assert.equal(endpoint.asyncQueue.waiting, 0);
    await until('az deleted', () => sm.store.endpoints.get('az') === undefined, POLL);
  });

  test('stopping the local SageMaker with an endpoint at 0 and requests waiting stops everything and drops them', async () => {
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'az-update', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 0 }] });
    assert.deepEqual(await inService('az-update'), { current: 0, desired: 0 });
    const endpoint = sm.lifecycle.routable('az-update')!;
    endpoint.invokeAsync({ invocation: { contentType: 'application/json' }, body: Buffer.from('[1]') });
    assert.equal(endpoint.asyncQueue.waiting, 1);
    await sm.stop();
    assert.deepEqual([endpoint.asyncQueue.waiting, endpoint.asyncQueue.running, backend.running], [0, 0, 0]);
  });
});
