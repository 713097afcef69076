// Application Auto Scaling of an inference component's copy count
// (sagemaker:inference-component:DesiredCopyCount), through the real SDK clients against a local
// SageMaker whose copies are fake containers; the scaler is ticked by the test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationAutoScalingClient, DescribeScalableTargetsCommand, DescribeScalingActivitiesCommand, DescribeScalingPoliciesCommand, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand, DeleteInferenceComponentCommand, DescribeEndpointCommand, DescribeInferenceComponentCommand, ListInferenceComponentsCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../../test/helpers/until.js';
import { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import { createMetricClock } from '../cloudwatch/metric-clock.js';
import { MetricStore } from '../cloudwatch/metric-store.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../local-sagemaker.js';
import { ApplicationAutoScalingService } from './autoscaling-service.js';
import { VariantScaler } from './variant-scaler.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };
const COPY_COUNT = 'sagemaker:inference-component:DesiredCopyCount';

let dir: string;
let local: LocalSageMakerHandle;
let scaler: VariantScaler;
let sm: SageMakerClient;
let aas: ApplicationAutoScalingClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-ic-scaling-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const clock = createMetricClock(60, () => Date.now());
  const metrics = new MetricStore(clock);
  const cloudwatch = new CloudWatchService({ metrics, clock });
  local = await startLocalSageMaker({
    port: 0,
    backendImpl: new FakeBackend(),
    startupTimeoutMs: 5_000,
    settings: { region: 'us-east-1', accountId: '123456789012' },
    services: ({ sagemaker }) => {
      const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now });
      scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock });
      return [cloudwatch, autoscaling];
    },
  });
  sm = new SageMakerClient(localClientConfig(local.url));
  aas = new ApplicationAutoScalingClient(localClientConfig(local.url));
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'host', ExecutionRoleArn: 'arn:aws:iam::123456789012:role/local', ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'host', EndpointConfigName: 'host' }));
  await until('endpoint host InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'host' }))).EndpointStatus === 'InService', POLL);
  await sm.send(
    new CreateInferenceComponentCommand({ InferenceComponentName: 'scaled', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
  );
  await until('component scaled InService', async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'scaled' }))).InferenceComponentStatus === 'InService', POLL);
});

after(async () => {
  sm?.destroy();
  aas?.destroy();
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a scalable target on an inference component scales its copies through UpdateInferenceComponentRuntimeConfig', async () => {
  const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/scaled', ScalableDimension: COPY_COUNT as 'sagemaker:inference-component:DesiredCopyCount' };
  await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 2, MaxCapacity: 3 }));
  const targets = (await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }))).ScalableTargets;
  assert.deepEqual(targets?.map((t) => [t.ResourceId, t.ScalableDimension, t.MinCapacity, t.MaxCapacity]), [['inference-component/scaled', COPY_COUNT, 2, 3]]);
  // One copy is below the minimum of 2: the next pass scales the component out.
  await scaler.tick();
  await until('two copies', async () => {
    const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'scaled' }));
    return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2;
  }, POLL);
  const activities = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities;
  assert.deepEqual(activities?.map((a) => [a.Description, a.StatusCode, a.ScalableDimension]), [['Setting desired copy count to 2.', 'Successful', COPY_COUNT]]);

  // The predefined per-copy metric is not published locally, and a variant's dimension does not apply.
  await assert.rejects(
    aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'per-copy', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' } } })),
    (err: Error) => err.name === 'ValidationException' && /^PredefinedMetricType SageMakerInferenceComponentInvocationsPerCopy is not tracked locally/.test(err.message),
  );
  await assert.rejects(
    aas.send(new RegisterScalableTargetCommand({ ...key, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount', MinCapacity: 1, MaxCapacity: 2 })),
    (err: Error) => err.name === 'ValidationException' && err.message.startsWith('Scalable dimension sagemaker:variant:DesiredInstanceCount does not apply to resource ID inference-component/scaled'),
  );
  await assert.rejects(
    aas.send(new RegisterScalableTargetCommand({ ...key, ResourceId: 'inference-component/nope', MinCapacity: 0, MaxCapacity: 2 })),
    (err: Error) => err.name === 'ValidationException' && /^The inference component nope cannot be scaled: SageMaker DescribeInferenceComponent failed \(ValidationException: Could not find inference component/.test(err.message),
  );

  // Deleting the component deregisters its target, and so its policies, as DeleteEndpoint does a variant's.
  await aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'steps', PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] } }));
  await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'scaled' }));
  await until('component scaled deleted', async () => (await sm.send(new ListInferenceComponentsCommand({}))).InferenceComponents?.length === 0, POLL);
  assert.deepEqual((await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }))).ScalableTargets, []);
  assert.deepEqual((await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker' }))).ScalingPolicies, []);
});
