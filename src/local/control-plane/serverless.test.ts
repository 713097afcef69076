import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { until } from '../../../test/helpers/until.js';
import { AwsServiceError } from '../../aws/service.js';
import type { InvocationRecord } from './invocation-metrics.js';
import { createLocalSageMaker, type LocalSageMakerCore } from './local-sagemaker.js';

let dir: string;
let backend: FakeBackend;
let sm: LocalSageMakerCore;
const records: InvocationRecord[] = [];
const setups: Array<{ endpoint: string; variant: string; micros: number }> = [];

describe('serverless', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-serverless-test-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new FakeBackend();
    sm = await createLocalSageMaker({
      backendImpl: backend,
      startupTimeoutMs: 5_000,
      services: [],
      metrics: { record: (r) => records.push(r), recordModelSetup: (endpoint, variant, micros) => setups.push({ endpoint, variant, micros }) },
      settings: { region: 'eu-west-1', accountId: '123456789012' },
    });
    await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_TAG: 'one' } } });
  });

  after(async () => {
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (op: string, input: Record<string, unknown>) => sm.sagemaker.call(op, input);
  const POLL = { timeoutMs: 20_000, intervalMs: 25 };
  const ARN = 'arn:aws:sagemaker:eu-west-1:123456789012';

  function serverlessVariant(sc: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { VariantName: 'AllTraffic', ModelName: 'm', ServerlessConfig: sc, ...extra };
  }

  /** Asserts that `op` fails with a ValidationException saying exactly `message`. */
  async function refused(op: string, input: Record<string, unknown>, message: string): Promise<void> {
    await assert.rejects(call(op, input), (err: unknown) => {
      assert.ok(err instanceof AwsServiceError, String(err));
      assert.equal(err.type, 'ValidationException');
      assert.equal(err.status, 400);
      assert.equal(err.message, message);
      return true;
    });
  }

  async function status(name: string): Promise<string> {
    return (await call('DescribeEndpoint', { EndpointName: name })).EndpointStatus as string;
  }

  test('ServerlessConfig members: the service model constraints, worded as AWS words them', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ MemorySizeInMB: 512, MaxConcurrency: 1 }, "1 validation error detected: Value '512' at 'productionVariants.1.member.serverlessConfig.memorySizeInMB' failed to satisfy constraint: Member must have value greater than or equal to 1024"],
      [{ MemorySizeInMB: 7168, MaxConcurrency: 1 }, "1 validation error detected: Value '7168' at 'productionVariants.1.member.serverlessConfig.memorySizeInMB' failed to satisfy constraint: Member must have value less than or equal to 6144"],
      [{ MemorySizeInMB: 1024, MaxConcurrency: 0 }, "1 validation error detected: Value '0' at 'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to satisfy constraint: Member must have value greater than or equal to 1"],
      [{ MemorySizeInMB: 1024, MaxConcurrency: 201 }, "1 validation error detected: Value '201' at 'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to satisfy constraint: Member must have value less than or equal to 200"],
      [{ MemorySizeInMB: 1024, MaxConcurrency: 5, ProvisionedConcurrency: 0 }, "1 validation error detected: Value '0' at 'productionVariants.1.member.serverlessConfig.provisionedConcurrency' failed to satisfy constraint: Member must have value greater than or equal to 1"],
      [{ MemorySizeInMB: 1024 }, "1 validation error detected: Value null at 'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to satisfy constraint: Member must not be null"],
    ];
    for (const [sc, message] of cases) await refused('CreateEndpointConfig', { EndpointConfigName: 'bad', ProductionVariants: [serverlessVariant(sc)] }, message);
  });

  test('CreateEndpointConfig: the serverless rules beyond the member constraints', async () => {
    const sc = { MemorySizeInMB: 2048, MaxConcurrency: 2 };
    const bad = (extra: Record<string, unknown>) => ({ EndpointConfigName: 'bad', ...extra });
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc, { InstanceType: 'ml.m5.large' })] }), 'Variant "AllTraffic" has a ServerlessConfig, so it must not specify InstanceType or InitialInstanceCount: a serverless variant has no instances of its own.');
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc, { InitialInstanceCount: 1 })] }), 'Variant "AllTraffic" has a ServerlessConfig, so it must not specify InstanceType or InitialInstanceCount: a serverless variant has no instances of its own.');
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant({ MemorySizeInMB: 1500, MaxConcurrency: 2 })] }), 'MemorySizeInMB 1500 of variant "AllTraffic" is not supported: choose 1024, 2048, 3072, 4096, 5120 or 6144.');
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant({ ...sc, ProvisionedConcurrency: 3 })] }), 'ProvisionedConcurrency (3) of variant "AllTraffic" must be less than or equal to MaxConcurrency (2).');
    await refused(
      'CreateEndpointConfig',
      bad({ ProductionVariants: [serverlessVariant(sc), { VariantName: 'B', ModelName: 'm', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }),
      'Variant "AllTraffic" is serverless: an endpoint configuration with a serverless variant must have exactly one production variant and no shadow variant.',
    );
    await refused(
      'CreateEndpointConfig',
      bad({ ProductionVariants: [serverlessVariant(sc)], ShadowProductionVariants: [{ VariantName: 'S', ModelName: 'm', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }),
      'Variant "AllTraffic" is serverless: an endpoint configuration with a serverless variant must have exactly one production variant and no shadow variant.',
    );
    await refused(
      'CreateEndpointConfig',
      bad({ ProductionVariants: [serverlessVariant(sc)], DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: dir, CaptureOptions: [{ CaptureMode: 'Input' }] } }),
      'Variant "AllTraffic" is serverless: data capture (DataCaptureConfig) is not supported for serverless endpoints.',
    );
    await refused(
      'CreateEndpointConfig',
      bad({ ProductionVariants: [serverlessVariant(sc)], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://b/out' } } }),
      'Variant "AllTraffic" is serverless: asynchronous inference (AsyncInferenceConfig) runs on instances; remove ServerlessConfig or AsyncInferenceConfig.',
    );
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc)], EnableNetworkIsolation: true }), 'Variant "AllTraffic" is serverless: network isolation is not supported for serverless endpoints.');
    await call('CreateModel', { ModelName: 'pipe', Containers: [{ Image: 'a/b:1', ModelDataUrl: dir }, { Image: 'a/c:1', ModelDataUrl: dir }] });
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc, { ModelName: 'pipe' })] }), 'Variant "AllTraffic" is serverless: model "pipe" is an inference pipeline of 2 containers, which serverless endpoints do not support.');
    await call('CreateModel', { ModelName: 'mme', PrimaryContainer: { Image: 'a/b:1', ModelDataUrl: dir, Mode: 'MultiModel' } });
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc, { ModelName: 'mme' })] }), 'Variant "AllTraffic" is serverless: model "mme" is a multi-model container, which serverless endpoints do not support.');
    await call('CreateModel', { ModelName: 'isolated', PrimaryContainer: { Image: 'a/b:1', ModelDataUrl: dir }, EnableNetworkIsolation: true });
    await refused('CreateEndpointConfig', bad({ ProductionVariants: [serverlessVariant(sc, { ModelName: 'isolated' })] }), 'Variant "AllTraffic" is serverless: model "isolated" enables network isolation, which serverless endpoints do not support.');
    await assert.rejects(call('DescribeEndpointConfig', { EndpointConfigName: 'bad' }), /Could not find endpoint configuration/, 'nothing refused was stored');
  });

  test('DescribeEndpointConfig echoes ServerlessConfig; CreateEndpoint is InService with no instance running', async () => {
    const sc = { MemorySizeInMB: 3072, MaxConcurrency: 4 };
    await call('CreateEndpointConfig', { EndpointConfigName: 'sl', ProductionVariants: [serverlessVariant(sc)] });
    const described = await call('DescribeEndpointConfig', { EndpointConfigName: 'sl' });
    assert.deepEqual(described.ProductionVariants, [{ VariantName: 'AllTraffic', ModelName: 'm', ServerlessConfig: sc, InitialVariantWeight: 1 }]);
    const before = backend.started.length;
    await call('CreateEndpoint', { EndpointName: 'sl-ep', EndpointConfigName: 'sl' });
    await until('sl-ep InService', async () => (await status('sl-ep')) === 'InService', POLL);
    assert.equal(backend.started.length, before, 'no instance started for an on-demand serverless endpoint');
    const ep = await call('DescribeEndpoint', { EndpointName: 'sl-ep' });
    const [variant] = ep.ProductionVariants as Array<Record<string, unknown>>;
    assert.deepEqual(variant!.CurrentServerlessConfig, sc);
    assert.deepEqual(variant!.DesiredServerlessConfig, sc);
    assert.equal(variant!.CurrentInstanceCount, undefined, 'a serverless variant shows no instance counts');
    assert.equal(variant!.DesiredInstanceCount, undefined);
  });

  test('a serverless invocation cold-starts an instance, later ones reuse it; DesiredInstanceCount is refused', async () => {
    const endpoint = sm.lifecycle.routable('sl-ep')!;
    const before = backend.started.length;
    const first = await endpoint.invoke({ body: Buffer.from('1'), contentType: 'application/json' });
    assert.equal(JSON.parse(first.response.body.toString()).tag, 'one');
    assert.equal(backend.started.length, before + 1, 'the first invocation started one instance');
    assert.equal(backend.started.at(-1)!.memoryMb, 3072, 'MemorySizeInMB is the container memory limit');
    assert.equal(setups.length, 1, 'the cold start was published as ModelSetupTime');
    assert.deepEqual([setups[0]!.endpoint, setups[0]!.variant], ['sl-ep', 'AllTraffic']);
    assert.ok(setups[0]!.micros > 0);
    const cold = records.at(-1)!;
    assert.ok(cold.overheadLatencyMicros! >= setups[0]!.micros, 'the cold start counts in OverheadLatency');
    await endpoint.invoke({ body: Buffer.from('2'), contentType: 'application/json' });
    assert.equal(backend.started.length, before + 1, 'the warm instance served the second');
    assert.equal(setups.length, 1, 'no cold start, no ModelSetupTime');
    await refused(
      'UpdateEndpointWeightsAndCapacities',
      { EndpointName: 'sl-ep', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] },
      'Variant "AllTraffic" is serverless: it has no instance count to change. Change its MaxConcurrency or ProvisionedConcurrency with ServerlessUpdateConfig, or update the endpoint to an endpoint configuration with another ServerlessConfig.',
    );
  });

  test('ProvisionedConcurrency instances are warm at InService', async () => {
    const sc = { MemorySizeInMB: 1024, MaxConcurrency: 3, ProvisionedConcurrency: 2 };
    await call('CreateEndpointConfig', { EndpointConfigName: 'sl-pc', ProductionVariants: [serverlessVariant(sc)] });
    const before = backend.started.length;
    await call('CreateEndpoint', { EndpointName: 'pc-ep', EndpointConfigName: 'sl-pc' });
    await until('pc-ep InService', async () => (await status('pc-ep')) === 'InService', POLL);
    assert.equal(backend.started.length, before + 2);
    await call('DeleteEndpoint', { EndpointName: 'pc-ep' });
    await until('pc-ep gone', async () => !sm.store.endpoints.has('pc-ep'), POLL);
  });

  test('lowering ProvisionedConcurrency with ServerlessUpdateConfig gives back the local instance limit once the instances above it stop', async () => {
    // A local SageMaker of its own: a limit of 4 instances and idle instances stopping after 0.1 s.
    const small = new FakeBackend();
    const local = await createLocalSageMaker({ backendImpl: small, startupTimeoutMs: 5_000, services: [], settings: { region: 'eu-west-1', accountId: '123456789012', maxInstances: 4, serverlessIdleSeconds: 0.1 } });
    try {
      const at = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
      const inService = async (name: string) => (await at('DescribeEndpoint', { EndpointName: name })).EndpointStatus === 'InService';
      await at('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
      await at('CreateEndpointConfig', { EndpointConfigName: 'pc3', ProductionVariants: [serverlessVariant({ MemorySizeInMB: 1024, MaxConcurrency: 4, ProvisionedConcurrency: 3 })] });
      await at('CreateEndpoint', { EndpointName: 'pc', EndpointConfigName: 'pc3' });
      await until('pc InService', () => inService('pc'), POLL);
      assert.equal(small.running, 3);
      await at('UpdateEndpointWeightsAndCapacities', { EndpointName: 'pc', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', ServerlessUpdateConfig: { ProvisionedConcurrency: 1 } }] });
      await until('pc InService again', () => inService('pc'), POLL);
      await until('the instances above ProvisionedConcurrency 1 to stop', () => small.running === 1, POLL);
      // One instance runs: three more fit the limit of 4.
      await at('CreateEndpointConfig', { EndpointConfigName: 'three', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InstanceType: 'ml.m5.large', InitialInstanceCount: 3 }] });
      await at('CreateEndpoint', { EndpointName: 'three', EndpointConfigName: 'three' });
      await until('three InService', () => inService('three'), POLL);
      assert.equal(small.running, 4);
    } finally {
      await local.stop();
    }
  });

  test('UpdateEndpoint: instance-based to serverless is refused, serverless to instance-based works, rolling is refused', async () => {
    await call('CreateEndpointConfig', { EndpointConfigName: 'inst', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] });
    await call('CreateEndpoint', { EndpointName: 'inst-ep', EndpointConfigName: 'inst' });
    await until('inst-ep InService', async () => (await status('inst-ep')) === 'InService', POLL);
    await refused(
      'UpdateEndpoint',
      { EndpointName: 'inst-ep', EndpointConfigName: 'sl' },
      `Cannot update endpoint "${ARN}:endpoint/inst-ep" to serverless endpoint configuration "sl": updating an instance-based endpoint to a serverless one is not supported. Create a new endpoint for it.`,
    );
    await refused(
      'UpdateEndpoint',
      {
        EndpointName: 'sl-ep',
        EndpointConfigName: 'inst',
        DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } },
      },
      'A rolling deployment (RollingUpdatePolicy) is not supported for serverless endpoints; use a BlueGreenUpdatePolicy or no DeploymentConfig.',
    );
    await call('UpdateEndpoint', { EndpointName: 'sl-ep', EndpointConfigName: 'inst' });
    await until('sl-ep on inst', async () => (await call('DescribeEndpoint', { EndpointName: 'sl-ep' })).EndpointConfigName === 'inst' && (await status('sl-ep')) === 'InService', POLL);
    const [variant] = (await call('DescribeEndpoint', { EndpointName: 'sl-ep' })).ProductionVariants as Array<Record<string, unknown>>;
    assert.equal(variant!.CurrentInstanceCount, 1);
    assert.equal(variant!.CurrentServerlessConfig, undefined);
  });
});
