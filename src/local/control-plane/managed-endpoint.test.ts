// When each variant of an endpoint (and each inference component) went in service, which its idle
// minutes count from (LocalSageMakerHandle.publishIdleMinute publishes no zeros for a minute before it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPONENT_ROLE } from '../../../test/helpers/component-host.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { GatedBackend } from '../../../test/helpers/gated-backend.js';
import { until } from '../../../test/helpers/until.js';
import { createLocalSageMaker } from './local-sagemaker.js';
import type { Deployment } from './deployment.js';
import { ManagedEndpoint } from './managed-endpoint.js';

const serving = (...names: string[]) => ({ variants: names.map((VariantName) => ({ spec: { VariantName } })) }) as unknown as Deployment;

test('a variant added by an update is in service from the update on, one kept keeps its time, one removed is forgotten', () => {
  const e = new ManagedEndpoint('ep', 'arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep', 'c1', new Date(0), Math.random);
  assert.deepEqual([...e.servingSince], [], 'not yet in service');
  e.serving = serving('A');
  e.markServing(60_000);
  assert.deepEqual([...e.servingSince], [['A', 60_000]]);
  // UpdateEndpoint to a config with A and a new B, an hour later: B's idle minutes start then, not at A's creation.
  e.serving = serving('A', 'B');
  e.markServing(3_660_000);
  assert.deepEqual([...e.servingSince].sort(), [['A', 60_000], ['B', 3_660_000]]);
  // A removed, then added back: it starts again.
  e.serving = serving('B');
  e.markServing(7_260_000);
  assert.deepEqual([...e.servingSince], [['B', 3_660_000]]);
  e.serving = serving('A', 'B');
  e.markServing(10_860_000);
  assert.deepEqual([...e.servingSince].sort(), [['A', 10_860_000], ['B', 3_660_000]]);
});

test("UpdateEndpoint adding a variant: the new variant's idle minutes count from the update, the kept one's from the endpoint's creation", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-serving-since-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const idle: Array<Array<{ variant: string; since?: number }>> = [];
  const sm = await createLocalSageMaker({
    backendImpl: new FakeBackend(),
    startupTimeoutMs: 10_000,
    metrics: { record: () => {}, recordIdleMinute: (variants) => void idle.push([...variants]) },
    settings: { region: 'eu-west-1', accountId: '123456789012' },
  });
  try {
    const call = (op: string, input: Record<string, unknown>) => sm.sagemaker.call(op, input);
    const POLL = { timeoutMs: 30_000, intervalMs: 25 };
    await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } });
    const variant = (VariantName: string) => ({ VariantName, ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' });
    await call('CreateEndpointConfig', { EndpointConfigName: 'one', ProductionVariants: [variant('A')] });
    await call('CreateEndpointConfig', { EndpointConfigName: 'two', ProductionVariants: [variant('A'), variant('B')] });
    const created = Date.now();
    await call('CreateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'one' });
    const inService = (config: string) => until(`ep InService on ${config}`, async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep' });
      return d.EndpointStatus === 'InService' && d.EndpointConfigName === config ? true : undefined;
    }, POLL);
    await inService('one');
    const updated = Date.now();
    await call('UpdateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'two' });
    await inService('two');
    sm.publishIdleMinute();
    const since = new Map(idle.at(-1)!.map((v) => [v.variant, v.since]));
    assert.ok(since.get('A')! >= created && since.get('A')! <= updated, `A from its creation: ${JSON.stringify([...since])}`);
    assert.ok(since.get('B')! >= updated, `B from the update, not from A's creation: ${JSON.stringify([...since])}`);
  } finally {
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("an inference component's idle minutes count from when it went InService, not from its creation while its copies started", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-serving-since-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const components: Array<Array<{ name: string; since?: number }>> = [];
  const backend = new GatedBackend();
  const sm = await createLocalSageMaker({
    backendImpl: backend,
    startupTimeoutMs: 10_000,
    metrics: { record: () => {}, recordIdleMinute: (_variants, cs) => void components.push([...cs]) },
    settings: { region: 'eu-west-1', accountId: '123456789012' },
  });
  try {
    const call = (op: string, input: Record<string, unknown>) => sm.sagemaker.call(op, input);
    const POLL = { timeoutMs: 30_000, intervalMs: 25 };
    await call('CreateEndpointConfig', { EndpointConfigName: 'host', ExecutionRoleArn: COMPONENT_ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }] });
    await call('CreateEndpoint', { EndpointName: 'host', EndpointConfigName: 'host' });
    await until('host InService', async () => ((await call('DescribeEndpoint', { EndpointName: 'host' })).EndpointStatus === 'InService' ? true : undefined), POLL);
    // Its copy is held starting until the gate opens, some milliseconds after its creation.
    backend.close();
    const asked = backend.asked;
    await call('CreateInferenceComponent', { InferenceComponentName: 'ic', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } });
    const created = ((await call('DescribeInferenceComponent', { InferenceComponentName: 'ic' })).CreationTime as number) * 1000;
    await until('a copy asked for', () => (backend.asked > asked ? true : undefined), POLL);
    await until('the clock past the creation', () => (Date.now() > created + 1 ? true : undefined), POLL);
    const opened = Date.now();
    backend.open();
    await until('ic InService', async () => ((await call('DescribeInferenceComponent', { InferenceComponentName: 'ic' })).InferenceComponentStatus === 'InService' ? true : undefined), POLL);
    sm.publishIdleMinute();
    const ic = components.at(-1)!.find((c) => c.name === 'ic');
    assert.ok(ic !== undefined && ic.since! >= opened, `from InService (${opened} or later), not from the creation (${created}): ${JSON.stringify(ic)}`);
  } finally {
    backend.open();
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
