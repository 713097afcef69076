// Inference component copies waiting for room on their endpoint's instances: placed once there is
// room, whatever the component was doing when the room was made, through the real AWS SDK v3 clients.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
  type DescribeInferenceComponentCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { GatedBackend } from '../../../test/helpers/gated-backend.js';
import { startComponentHost, type ComponentHost } from '../../../test/helpers/component-host.js';
import { until } from '../../../test/helpers/until.js';
import { NO_CAPACITY } from './inference-components.js';

const ROLE = 'arn:aws:iam::123456789012:role/smkit-local';
const POLL = { timeoutMs: 20_000, intervalMs: 25 };

let host: ComponentHost;
let dir: string;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let warnings: ComponentHost['warnings'];
const backend = new GatedBackend();

describe('inference component waiting', () => {
  before(async () => {
    host = await startComponentHost({ backend, maxInstances: 20, tmpPrefix: 'smkit-ic-wait-', poll: POLL });
    ({ dir, sm, runtime, warnings } = host);
    await sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
  });

  after(async () => {
    backend.open();
    await host?.stop();
  });

  /** An endpoint for inference components on `instances` ml.g5.2xlarge instances: 8 vCPUs, 32 GiB, 1 GPU each. */
  function hostEndpoint(name: string, instances = 1): Promise<void> {
    return host.hostEndpoint(name, { InitialInstanceCount: instances });
  }

  function create(name: string, endpoint: string, copies: number, req: { NumberOfCpuCoresRequired?: number; NumberOfAcceleratorDevicesRequired?: number; MinMemoryRequiredInMb: number }): Promise<unknown> {
    return sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: endpoint, Specification: { ModelName: 'm', ComputeResourceRequirements: req }, RuntimeConfig: { CopyCount: copies } }));
  }

  async function describe(name: string): Promise<DescribeInferenceComponentCommandOutput> {
    return sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));
  }

  async function settled(name: string): Promise<DescribeInferenceComponentCommandOutput> {
    let d: DescribeInferenceComponentCommandOutput | undefined;
    await until(`${name} InService`, async () => (d = await describe(name)).InferenceComponentStatus === 'InService', POLL);
    return d!;
  }

  async function remove(name: string): Promise<void> {
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
    await until(`${name} deleted`, async () => !(await describe(name).then(() => true, () => false)), POLL);
  }

  test('a copy that waits for room is placed when room is made while its component is still Creating', async () => {
    await hostEndpoint('creating');
    await create('first', 'creating', 1, { NumberOfCpuCoresRequired: 4, MinMemoryRequiredInMb: 1024 });
    await settled('first');
    // One of two copies fits beside first's; its start is held, so the component stays Creating.
    backend.close();
    const asked = backend.asked;
    await create('second', 'creating', 2, { NumberOfCpuCoresRequired: 4, MinMemoryRequiredInMb: 1024 });
    await until('second\'s copy starting', async () => backend.asked > asked, POLL);
    assert.equal((await describe('second')).InferenceComponentStatus, 'Creating');
    await remove('first');
    backend.open();
    await until('second\'s two copies placed', async () => {
      const d = await describe('second');
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2;
    }, POLL);
    const d = await describe('second');
    assert.deepEqual([d.RuntimeConfig, d.FailureReason], [{ DesiredCopyCount: 2, CurrentCopyCount: 2 }, undefined]);
    await remove('second');
  });

  test('a copy that waits for room is placed when room is made while its component\'s copy count is changing', async () => {
    await hostEndpoint('updating');
    await create('big', 'updating', 1, { NumberOfCpuCoresRequired: 4, MinMemoryRequiredInMb: 1024 });
    await create('small', 'updating', 1, { NumberOfCpuCoresRequired: 2, MinMemoryRequiredInMb: 1024 });
    await settled('big');
    await settled('small');
    // Two of three copies fit beside big's: the one it adds is held starting, the third waits.
    backend.close();
    const asked = backend.asked;
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'small', DesiredRuntimeConfig: { CopyCount: 3 } }));
    await until('small\'s second copy starting', async () => backend.asked > asked, POLL);
    assert.equal((await describe('small')).InferenceComponentStatus, 'Updating');
    await remove('big');
    backend.open();
    await until('small\'s three copies placed', async () => {
      const d = await describe('small');
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 3;
    }, POLL);
    assert.equal((await describe('small')).FailureReason, undefined);
    await remove('small');
  });

  test('invocations of a component whose first copy is starting once room was made get the no-capacity error, as one starting from zero copies does', async () => {
    await hostEndpoint('zero');
    await create('gpu', 'zero', 1, { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: 1024 });
    await settled('gpu');
    await create('waits', 'zero', 1, { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual((await settled('waits')).RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 0 });
    backend.close();
    const asked = backend.asked;
    await remove('gpu');
    await until('waits\'s copy starting', async () => backend.asked > asked, POLL);
    assert.equal((await describe('waits')).InferenceComponentStatus, 'Updating');
    const invoke = (): Promise<unknown> => runtime.send(new InvokeEndpointCommand({ EndpointName: 'zero', InferenceComponentName: 'waits', Body: Buffer.from('1'), ContentType: 'text/csv' }));
    await assert.rejects(invoke(), (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.name === 'ValidationError' && err.message === NO_CAPACITY && err.$metadata?.httpStatusCode === 400);
    backend.open();
    await until('waits\'s copy in service', async () => (await settled('waits')).RuntimeConfig?.CurrentCopyCount === 1, POLL);
    await invoke();
    await remove('waits');
  });

  test('UpdateEndpointWeightsAndCapacities adding instances places the copies waiting for room, and is refused below the instances the placed copies take', async () => {
    await hostEndpoint('grow');
    // One copy per instance: the second waits.
    await create('whole', 'grow', 2, { NumberOfCpuCoresRequired: 8, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual((await settled('whole')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 1 });
    const capacity = (count: number): Promise<unknown> => sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'grow', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: count }] }));
    await capacity(2);
    await until('whole\'s two copies placed', async () => {
      const d = await describe('whole');
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2;
    }, POLL);
    assert.equal((await describe('whole')).FailureReason, undefined);
    await until('endpoint grow InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'grow' }))).EndpointStatus === 'InService', POLL);
    await assert.rejects(capacity(1), (err: Error) => err.name === 'ValidationException' && /^Cannot lower variant "AllTraffic" of endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint\/grow" to 1 instance\(s\): the copies of inference components \[whole\] placed on it take 2 ml\.g5\.2xlarge instance\(s\)\. Lower their copy counts first/.test(err.message));
    await remove('whole');
    await capacity(1);
  });

  test('an endpoint whose variants name models takes no ManagedInstanceScaling ENABLED; UpdateEndpointWeightsAndCapacities on it leaves its instance count alone, and warns of no instance type', async () => {
    const modelVariant = { VariantName: 'AllTraffic', ModelName: 'm', InstanceType: 'ml.c5.large' as const, InitialInstanceCount: 2 };
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'models', ProductionVariants: [{ ...modelVariant, ManagedInstanceScaling: { Status: 'ENABLED', MinInstanceCount: 1, MaxInstanceCount: 2 } }] })),
      /^ValidationException: ManagedInstanceScaling is only supported for inference component endpoints\.$/,
    );
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'models', ProductionVariants: [modelVariant] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'models', EndpointConfigName: 'models' }));
    const variant = async (): Promise<unknown> => {
      const e = await sm.send(new DescribeEndpointCommand({ EndpointName: 'models' }));
      return e.EndpointStatus === 'InService' && e.ProductionVariants?.[0];
    };
    await until('endpoint models InService', async () => Boolean(await variant()), POLL);
    await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'models', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredWeight: 2, DesiredInstanceCount: 2 }] }));
    await until('endpoint models InService', async () => Boolean(await variant()), POLL);
    const v = (await variant()) as { CurrentInstanceCount?: number; DesiredInstanceCount?: number };
    assert.deepEqual([v.CurrentInstanceCount, v.DesiredInstanceCount], [2, 2]);
    // The warning is of copies not packed: this endpoint has none.
    assert.deepEqual(warnings.filter((w) => w.fields.instanceType === 'ml.c5.large'), []);
  });

  test('a copy is not placed in room that the copies placed take, whatever order the components were placed in', async () => {
    await hostEndpoint('order', 2);
    await create('three', 'order', 1, { NumberOfCpuCoresRequired: 3, MinMemoryRequiredInMb: 1024 });
    await settled('three');
    // One copy of 5 vCPUs beside three's copy, one on the other instance.
    await create('five', 'order', 2, { NumberOfCpuCoresRequired: 5, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual((await settled('five')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    // three's second copy goes on the other instance: both instances' 8 vCPUs are taken.
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'three', DesiredRuntimeConfig: { CopyCount: 2 } }));
    assert.deepEqual((await settled('three')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    await create('two', 'order', 1, { NumberOfCpuCoresRequired: 2, MinMemoryRequiredInMb: 1024 });
    const two = await settled('two');
    assert.deepEqual(two.RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 0 });
    assert.match(two.FailureReason ?? '', /^smkit local: 1 of 1 copies cannot be placed/);
    for (const name of ['two', 'five', 'three']) await remove(name);
  });

  test('a copy that needs accelerators on an instance type without any waits, its FailureReason saying to use an instance type with GPUs', async () => {
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'cpu', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'cpu', EndpointConfigName: 'cpu' }));
    await until('endpoint cpu InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'cpu' }))).EndpointStatus === 'InService', POLL);
    await create('gpu-on-cpu', 'cpu', 1, { NumberOfAcceleratorDevicesRequired: 1, MinMemoryRequiredInMb: 1024 });
    const d = await settled('gpu-on-cpu');
    assert.deepEqual(d.RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 0 });
    assert.match(d.FailureReason ?? '', /ml\.m5\.large has no accelerators: leave out NumberOfAcceleratorDevicesRequired, or use an InstanceType with GPUs \(ml\.g5, ml\.g4dn, ml\.p3\)\.$/);
    await remove('gpu-on-cpu');
  });

  test('UpdateEndpoint to a configuration with more instances places the copies waiting for room', async () => {
    await hostEndpoint('swap');
    await create('wide', 'swap', 2, { NumberOfCpuCoresRequired: 8, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual((await settled('wide')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 1 });
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'swap-2', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 2 }] }));
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'swap', EndpointConfigName: 'swap-2' }));
    await until('wide\'s two copies placed', async () => {
      const d = await describe('wide');
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2;
    }, POLL);
    assert.equal((await describe('wide')).FailureReason, undefined);
    await remove('wide');
  });

  test('UpdateEndpoint to a configuration whose instances do not hold the copies placed, or without their variant, is refused', async () => {
    await hostEndpoint('shrink', 2);
    await create('pair', 'shrink', 2, { NumberOfCpuCoresRequired: 8, MinMemoryRequiredInMb: 1024 });
    assert.deepEqual((await settled('pair')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'shrink-1', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }] }));
    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'shrink', EndpointConfigName: 'shrink-1' })),
      (err: Error) => err.name === 'ValidationException' && /: the copies of inference components \[pair\] placed on variant "AllTraffic" do not fit on its 1 ml\.g5\.2xlarge instance\(s\) of 8 vCPUs, 32768 MB and 1 accelerator each\. Give the variant more instances/.test(err.message),
    );
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'shrink-other', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'Other', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 2 }] }));
    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'shrink', EndpointConfigName: 'shrink-other' })),
      (err: Error) => err.name === 'ValidationException' && /: it has no variant "AllTraffic", on which inference components \[pair\] are deployed\./.test(err.message),
    );
    // RetainAllVariantProperties keeps the 2 instances the copies take.
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'shrink', EndpointConfigName: 'shrink-1', RetainAllVariantProperties: true }));
    await until('endpoint shrink InService on shrink-1', async () => {
      const e = await sm.send(new DescribeEndpointCommand({ EndpointName: 'shrink' }));
      return e.EndpointStatus === 'InService' && e.EndpointConfigName === 'shrink-1';
    }, POLL);
    await remove('pair');
  });
});
