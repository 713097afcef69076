// Inference component copies placed on their endpoint's instances by ComputeResourceRequirements,
// and ManagedInstanceScaling adding and releasing instances, through the real AWS SDK v3 clients.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
  type DescribeInferenceComponentCommandOutput,
  type ProductionVariant,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { startComponentHost, type ComponentHost } from '../../../test/helpers/component-host.js';
import { until } from '../../../test/helpers/until.js';
import { NO_CAPACITY } from './inference-components.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };

let host: ComponentHost;
let dir: string;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let warnings: ComponentHost['warnings'];

describe('inference component placement', () => {
  before(async () => {
    // Six local instances (and six copies) in all.
    host = await startComponentHost({ backend: new FakeBackend(), maxInstances: 6, tmpPrefix: 'smkit-ic-place-', poll: POLL });
    ({ dir, sm, runtime, warnings } = host);
    await sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
  });

  after(async () => {
    await host?.stop();
  });

  function hostEndpoint(name: string, variant: Partial<ProductionVariant>): Promise<void> {
    return host.hostEndpoint(name, variant);
  }

  /** Creates a component, waits until it is InService and describes it. */
  async function component(name: string, endpoint: string, copies: number, req: { NumberOfCpuCoresRequired?: number; NumberOfAcceleratorDevicesRequired?: number; MinMemoryRequiredInMb: number }): Promise<DescribeInferenceComponentCommandOutput> {
    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: endpoint, Specification: { ModelName: 'm', ComputeResourceRequirements: req }, RuntimeConfig: { CopyCount: copies } }));
    return settled(name);
  }

  async function settled(name: string): Promise<DescribeInferenceComponentCommandOutput> {
    let d: DescribeInferenceComponentCommandOutput | undefined;
    await until(`${name} InService`, async () => (d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }))).InferenceComponentStatus === 'InService', POLL);
    return d!;
  }

  async function gone(name: string): Promise<void> {
    await until(`${name} deleted`, async () => !(await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name })).then(() => true, () => false)), POLL);
  }

  async function instances(endpoint: string, count: number): Promise<void> {
    await until(`${endpoint} at ${count} instances`, async () => {
      const v = (await sm.send(new DescribeEndpointCommand({ EndpointName: endpoint }))).ProductionVariants?.[0];
      return v?.CurrentInstanceCount === count && v.DesiredInstanceCount === count;
    }, POLL);
  }

  test('copies are placed first-fit on the variant\'s instances by vCPUs, memory and accelerators; those that do not fit are not started until there is room', async () => {
    // ml.g5.2xlarge: 8 vCPUs, 32 GiB, 1 GPU.
    await hostEndpoint('pack', {});
    const cpu = await component('cpu', 'pack', 2, { NumberOfCpuCoresRequired: 5, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual(cpu.RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 1 });
    assert.match(cpu.FailureReason ?? '', /^smkit local: 1 of 2 copies cannot be placed and are not started: each copy needs 5 vCPUs, 1024 MB and 0 accelerators; variant AllTraffic runs 1 ml\.g5\.2xlarge instance of 8 vCPUs, 32768 MB and 1 accelerator each/);
    assert.match(cpu.FailureReason ?? '', /or ManagedInstanceScaling with Status ENABLED/);

    const gpu = await component('gpu', 'pack', 1, { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual([gpu.RuntimeConfig, gpu.FailureReason], [{ DesiredCopyCount: 1, CurrentCopyCount: 1 }, undefined]);
    // The only accelerator is taken: the copy waits, and the component has no capacity.
    const waiting = await component('gpu2', 'pack', 1, { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual(waiting.RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 0 });
    await assert.rejects(
      runtime.send(new InvokeEndpointCommand({ EndpointName: 'pack', InferenceComponentName: 'gpu2', Body: Buffer.from('1'), ContentType: 'text/csv' })),
      (err: Error) => err.name === 'ValidationError' && err.message === NO_CAPACITY,
    );
    const big = await component('big', 'pack', 1, { MinMemoryRequiredInMb: 40_000 });
    assert.deepEqual(big.RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 0 });
    assert.match(big.FailureReason ?? '', /One copy needs more than one ml\.g5\.2xlarge instance has: lower the ComputeResourceRequirements or use a larger InstanceType\.$/);

    // Room made: the waiting copy is placed and started.
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'gpu' }));
    await gone('gpu');
    let placed: DescribeInferenceComponentCommandOutput | undefined;
    await until('gpu2 placed', async () => (placed = await settled('gpu2')).RuntimeConfig?.CurrentCopyCount === 1, POLL);
    assert.deepEqual([placed!.RuntimeConfig, placed!.FailureReason], [{ DesiredCopyCount: 1, CurrentCopyCount: 1 }, undefined]);
    await runtime.send(new InvokeEndpointCommand({ EndpointName: 'pack', InferenceComponentName: 'gpu2', Body: Buffer.from('1'), ContentType: 'text/csv' }));
    for (const name of ['cpu', 'gpu2', 'big']) {
      await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
      await gone(name);
    }
  });

  test('an instance type not in the table places every copy, with one warning in the log', async () => {
    await hostEndpoint('odd', { InstanceType: 'ml.c7i.large' });
    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'odd-a', EndpointName: 'odd', Specification: { ModelName: 'm', ComputeResourceRequirements: { MinMemoryRequiredInMb: 1_000_000 } }, RuntimeConfig: { CopyCount: 1 } }));
    const d = await settled('odd-a');
    assert.deepEqual([d.RuntimeConfig, d.FailureReason], [{ DesiredCopyCount: 1, CurrentCopyCount: 1 }, undefined]);
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'odd-a', DesiredRuntimeConfig: { CopyCount: 0 } }));
    await settled('odd-a');
    assert.deepEqual(warnings.filter((w) => w.fields.instanceType === 'ml.c7i.large').length, 1);
  });

  test('ManagedInstanceScaling ENABLED adds instances up to MaxInstanceCount and the local instance limit to place copies, and releases them down to MinInstanceCount (which UpdateEndpoint with RetainAllVariantProperties keeps)', async () => {
    await hostEndpoint('mis', { ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 2 } });
    // DescribeEndpoint's ProductionVariantSummary repeats the variant's ManagedInstanceScaling.
    const summary = (await sm.send(new DescribeEndpointCommand({ EndpointName: 'mis' }))).ProductionVariants?.[0];
    assert.deepEqual(summary?.ManagedInstanceScaling, { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 2 });
    // Two copies of 4 vCPUs per instance: 4 copies take 2 instances.
    const d = await component('scaled', 'mis', 4, { NumberOfCpuCoresRequired: 4, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual([d.RuntimeConfig, d.FailureReason], [{ DesiredCopyCount: 4, CurrentCopyCount: 4 }, undefined]);
    await instances('mis', 2);
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'scaled', DesiredRuntimeConfig: { CopyCount: 1 } }));
    await settled('scaled');
    await instances('mis', 1);
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'scaled', DesiredRuntimeConfig: { CopyCount: 0 } }));
    await settled('scaled');
    await instances('mis', 0);
    // A real-time endpoint at 0 instances (not only an asynchronous one): UpdateEndpoint keeps 0 when the count is retained.
    const serving = (await sm.send(new DescribeEndpointCommand({ EndpointName: 'mis' }))).EndpointConfigName!;
    const { ProductionVariants, ExecutionRoleArn } = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: serving }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'mis-again', ProductionVariants, ExecutionRoleArn }));
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'mis', EndpointConfigName: 'mis-again', RetainAllVariantProperties: true }));
    const updated = await until('mis updated', async () => {
      const e = await sm.send(new DescribeEndpointCommand({ EndpointName: 'mis' }));
      return e.EndpointStatus === 'InService' && e.EndpointConfigName === 'mis-again' ? e : undefined;
    }, POLL);
    assert.deepEqual([updated.FailureReason, updated.ProductionVariants?.map((v) => [v.CurrentInstanceCount, v.DesiredInstanceCount])], [undefined, [[0, 0]]]);

    // Five of the six local instances taken (pack, odd and these three): one instance is added, for two copies.
    await hostEndpoint('other', { InitialInstanceCount: 3, InstanceType: 'ml.m5.large' });
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'scaled', DesiredRuntimeConfig: { CopyCount: 4 } }));
    const limited = await settled('scaled');
    assert.deepEqual(limited.RuntimeConfig, { DesiredCopyCount: 4, CurrentCopyCount: 2 });
    assert.match(limited.FailureReason ?? '', /^smkit local: 2 of 4 copies cannot be placed .*variant AllTraffic runs 1 ml\.g5\.2xlarge instance .*a higher ManagedInstanceScaling MaxInstanceCount, within SMKIT_LOCAL_MAX_INSTANCES/);
    await instances('mis', 1);
  });

  test('UpdateEndpointWeightsAndCapacities on a ManagedInstanceScaling variant ends with as many instances as DescribeEndpoint says: those the copies need, the others released once the change is over', async () => {
    // Room for it: 'other' goes.
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'other' }));
    await until('other deleted', async () => !(await sm.send(new DescribeEndpointCommand({ EndpointName: 'other' })).then(() => true, () => false)), POLL);
    await hostEndpoint('managed', { ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 0, MaxInstanceCount: 2 } });
    await component('one-copy', 'managed', 1, { NumberOfCpuCoresRequired: 1, MinMemoryRequiredInMb: 512 });
    await instances('managed', 1);
    await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'managed', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] }));
    // The instance the copy does not need is released, not left running beside a DesiredInstanceCount of 1.
    await instances('managed', 1);
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'managed' }));
    assert.deepEqual([d.EndpointStatus, d.FailureReason], ['InService', undefined]);
  });
});
