// The concurrency metrics of the high-resolution target-tracking policies, through the real SDK
// clients against a local SageMaker whose instances and copies are fake containers that hold their
// answers, with one invocation in flight per instance before it throttles.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand, SetAlarmStateCommand, type Dimension } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient, DescribeScalingActivitiesCommand, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand, CreateModelCommand, DescribeEndpointCommand, DescribeInferenceComponentCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { FakeBackend } from '../../../../test/helpers/fake-backend.js';
import { startLocalScaling, type LocalScaling } from '../../../../test/helpers/local-scaling.js';
import { until } from '../../../../test/helpers/until.js';
import type { VariantScaler } from './variant-scaler.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };
const ROLE = 'arn:aws:iam::123456789012:role/local';

let host: LocalScaling;
let dir: string;
let backend: FakeBackend;
let scaler: VariantScaler;
let sm: SageMakerClient;
let aas: ApplicationAutoScalingClient;
let cw: CloudWatchClient;
let runtime: SageMakerRuntimeClient;

describe('concurrency metrics', () => {
  before(async () => {
    host = await startLocalScaling({ tmpPrefix: 'smkit-concurrency-', poll: POLL, maxInvocationsPerInstance: 1 });
    ({ dir, backend, scaler } = host);
    ({ sagemaker: sm, autoscaling: aas, cloudwatch: cw, runtime } = host.clients);
    await host.hostEndpoint('host');
  });

  after(async () => {
    await host?.stop();
  });

  /** Maximum and SampleCount of `metric` by `dimensions` over the last ten minutes. */
  async function stats(metric: string, dimensions: Dimension[]): Promise<{ max: number; samples: number }> {
    const out = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metric, Dimensions: dimensions, Statistics: ['Maximum', 'SampleCount'], Period: 60, StartTime: new Date(Date.now() - 600_000), EndTime: new Date(Date.now() + 60_000) }),
    );
    const points = out.Datapoints ?? [];
    return { max: Math.max(0, ...points.map((d) => d.Maximum ?? 0)), samples: points.reduce((n, d) => n + (d.SampleCount ?? 0), 0) };
  }

  test('a request throttled for want of a free copy (ThrottlingException) adds nothing to ConcurrentRequestsPerCopy: only requests that reach a copy count', async () => {
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'held', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir, Environment: { FAKE_HOLD: 'true' } }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    await until('component held InService', async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'held' }))).InferenceComponentStatus === 'InService', POLL);
    const invoke = () => runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'held', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    const first = invoke();
    await until('first held', async () => backend.invocations.some((i) => i.id.startsWith('host/held/')), POLL);
    await assert.rejects(invoke(), (err: Error) => err.name === 'ThrottlingException');
    backend.release();
    await first;
    assert.deepEqual(await stats('ConcurrentRequestsPerCopy', [{ Name: 'InferenceComponentName', Value: 'held' }]), { max: 1, samples: 1 });
  });

  test('target tracking on the high-resolution SageMakerVariantConcurrentRequestsPerModelHighResolution watches ConcurrentRequestsPerModel, the requests in flight per instance of a variant as each reaches one, and scales its instances', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'held', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'solo', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'held', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'solo', EndpointConfigName: 'solo' }));
    await until('endpoint solo InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'solo' }))).EndpointStatus === 'InService', POLL);
    const invoke = () => runtime.send(new InvokeEndpointCommand({ EndpointName: 'solo', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    const first = invoke();
    await until('first held', async () => backend.invocations.some((i) => i.id.startsWith('solo/')), POLL);
    await assert.rejects(invoke(), (err: Error) => err.name === 'ThrottlingException');
    backend.release();
    await first;
    const variant = [{ Name: 'EndpointName', Value: 'solo' }, { Name: 'VariantName', Value: 'AllTraffic' }];
    assert.deepEqual(await stats('ConcurrentRequestsPerModel', variant), { max: 1, samples: 1 }, 'the throttled request reached no instance');

    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/solo/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    const config = { TargetValue: 0.5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantConcurrentRequestsPerModelHighResolution' as const } };
    const put = await aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'concurrency', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: config }));
    const alarms = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: put.Alarms!.map((a) => a.AlarmName!) }))).MetricAlarms ?? [];
    assert.deepEqual(
      alarms.map((a) => [/AlarmHigh/.test(a.AlarmName!) ? 'high' : 'low', a.MetricName, a.Dimensions, a.Statistic, a.Period, a.EvaluationPeriods]).sort(),
      [
        ['high', 'ConcurrentRequestsPerModel', variant, 'Maximum', 10, 3],
        ['low', 'ConcurrentRequestsPerModel', variant, 'Maximum', 60, 15],
      ],
    );
    const high = put.Alarms!.find((a) => /AlarmHigh/.test(a.AlarmName!))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: high, StateValue: 'ALARM', StateReason: 'test: above the target' }));
    await scaler.tick();
    const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
    assert.equal(activity?.Description, 'Setting desired instance count to 2.');
    assert.match(activity?.Cause ?? '', / concurrent requests per model \(Maximum\) against a target of 0\.5$/);

    // The variant's metric on an inference component names the one that applies.
    await assert.rejects(
      aas.send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'inference-component/held', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', MinCapacity: 1, MaxCapacity: 2 })).then(() =>
        aas.send(new PutScalingPolicyCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'inference-component/held', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount', PolicyName: 'wrong', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: config })),
      ),
      (err: Error) => err.name === 'ValidationException' && /tracks a variant's instances, not inference component held/.test(err.message),
    );
  });
});
