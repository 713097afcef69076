// Application Auto Scaling of an inference component's copy count
// (sagemaker:inference-component:DesiredCopyCount), and the component's own CloudWatch metrics,
// through the real SDK clients against a local SageMaker whose copies are fake containers; the
// scaler is ticked by the test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, GetMetricStatisticsCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient, type MetricType, DeregisterScalableTargetCommand, DescribeScalableTargetsCommand, DescribeScalingActivitiesCommand, DescribeScalingPoliciesCommand, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateInferenceComponentCommand, DeleteInferenceComponentCommand, DescribeInferenceComponentCommand, ListInferenceComponentsCommand, SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import type { FakeBackend } from '../../../../test/helpers/fake-backend.js';
import { startLocalScaling, type LocalScaling } from '../../../../test/helpers/local-scaling.js';
import type { LocalSdkClients } from '../../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../../test/helpers/until.js';
import type { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import { NO_CAPACITY } from '../inference-components.js';
import type { VariantScaler } from './variant-scaler.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };
const COPY_COUNT = 'sagemaker:inference-component:DesiredCopyCount';

let host: LocalScaling;
let dir: string;
let scaler: VariantScaler;
let cloudwatchService: CloudWatchService;
let backend: FakeBackend;
let sm: SageMakerClient;
let aas: ApplicationAutoScalingClient;
let clients: LocalSdkClients;
let cw: CloudWatchClient;

describe('component scaling', () => {
  before(async () => {
    host = await startLocalScaling({ tmpPrefix: 'smkit-ic-scaling-', poll: POLL, stepPolicies: true });
    ({ dir, scaler, cloudwatch: cloudwatchService, backend, clients } = host);
    ({ sagemaker: sm, autoscaling: aas, cloudwatch: cw } = clients);
    await host.hostEndpoint('host');
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'scaled', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'metered', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 2 } }),
    );
    for (const name of ['scaled', 'metered']) {
      await until(`component ${name} InService`, async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }))).InferenceComponentStatus === 'InService', POLL);
    }
  });

  after(async () => {
    await host?.stop();
  });

  test("an inference component's invocations are published in AWS/SageMaker by InferenceComponentName, with InvocationsPerCopy", async () => {
    for (let i = 0; i < 4; i++) {
      await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'metered', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    }
    const window = { StartTime: new Date(Date.now() - 600_000), EndTime: new Date(Date.now() + 60_000), Period: 60 };
    const byComponent = (name: string) => [{ Name: 'InferenceComponentName', Value: name }];
    const stat = async (metric: string, statistic: 'Sum' | 'SampleCount', component = 'metered') => {
      const out = await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metric, Dimensions: byComponent(component), Statistics: [statistic], ...window }));
      return { total: (out.Datapoints ?? []).reduce((n, d) => n + (d[statistic] ?? 0), 0), units: [...new Set((out.Datapoints ?? []).map((d) => d.Unit))] };
    };
    assert.deepEqual(await stat('Invocations', 'Sum'), { total: 4, units: ['None'] });
    // Each invocation counts 1 / copies: 4 invocations over 2 copies.
    assert.deepEqual(await stat('InvocationsPerCopy', 'Sum'), { total: 2, units: ['None'] });
    assert.deepEqual(await stat('Invocation4XXErrors', 'Sum'), { total: 0, units: ['None'] });
    assert.deepEqual(await stat('Invocation5XXErrors', 'SampleCount'), { total: 4, units: ['None'] });
    assert.deepEqual(await stat('ModelLatency', 'SampleCount'), { total: 4, units: ['Microseconds'] });
    assert.deepEqual(await stat('OverheadLatency', 'SampleCount'), { total: 4, units: ['Microseconds'] });
    assert.deepEqual(await stat('Invocations', 'Sum', 'scaled'), { total: 0, units: [] }, 'a component not invoked has no data');
    // The variant's InvocationsPerInstance divides by the endpoint's one instance, not by the component's 2 copies.
    const perInstance = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'InvocationsPerInstance', Dimensions: [{ Name: 'EndpointName', Value: 'host' }, { Name: 'VariantName', Value: 'AllTraffic' }], Statistics: ['Sum'], ...window }),
    );
    assert.equal((perInstance.Datapoints ?? []).reduce((n, d) => n + (d.Sum ?? 0), 0), 4);
    const data = await cw.send(
      new GetMetricDataCommand({
        StartTime: window.StartTime,
        EndTime: window.EndTime,
        MetricDataQueries: [{ Id: 'perCopy', MetricStat: { Metric: { Namespace: 'AWS/SageMaker', MetricName: 'InvocationsPerCopy', Dimensions: byComponent('metered') }, Period: 60, Stat: 'Sum' } }],
      }),
    );
    assert.equal(data.MetricDataResults?.[0]?.Values?.reduce((a, b) => a + b, 0), 2);
  });

  test('target tracking on SageMakerInferenceComponentInvocationsPerCopy watches the InvocationsPerCopy of the component and scales its copies', async () => {
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/metered', ScalableDimension: COPY_COUNT as 'sagemaker:inference-component:DesiredCopyCount' };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 4 }));
    const tracking = (type: MetricType) => ({ TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: type } });
    const put = await aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'per-copy', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking('SageMakerInferenceComponentInvocationsPerCopy') }));
    assert.equal(put.Alarms?.length, 2);
    const alarms = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: put.Alarms!.map((a) => a.AlarmName!) }))).MetricAlarms ?? [];
    assert.deepEqual(
      alarms.map((a) => [a.Namespace, a.MetricName, a.Dimensions, a.Statistic, a.Period]),
      alarms.map(() => ['AWS/SageMaker', 'InvocationsPerCopy', [{ Name: 'InferenceComponentName', Value: 'metered' }], 'Sum', 60]),
    );
    const high = put.Alarms!.find((a) => /AlarmHigh/.test(a.AlarmName!))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: high, StateValue: 'ALARM', StateReason: 'test: above the target' }));
    await scaler.tick();
    await until('three copies', async () => {
      const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'metered' }));
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 3;
    }, POLL);
    const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
    assert.equal(activity?.Description, 'Setting desired copy count to 3.');
    assert.match(activity?.Cause ?? '', /^monitor alarm TargetTracking-inference-component\/metered-AlarmHigh-\S+ in state ALARM triggered policy per-copy: the high alarm is in ALARM: \S+ invocations per copy per minute against a target of 5$/);

    // Each predefined metric applies to its own kind of target.
    await assert.rejects(
      aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'per-instance', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking('SageMakerVariantInvocationsPerInstance') })),
      (err: Error) => err.name === 'ValidationException' && /^PredefinedMetricType SageMakerVariantInvocationsPerInstance tracks a variant's instances, not inference component metered: track its copies with SageMakerInferenceComponentInvocationsPerCopy\.$/.test(err.message),
    );
    const variant = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/host/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...variant, MinCapacity: 1, MaxCapacity: 2 }));
    await assert.rejects(
      aas.send(new PutScalingPolicyCommand({ ...variant, PolicyName: 'per-copy', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking('SageMakerInferenceComponentInvocationsPerCopy') })),
      (err: Error) => err.name === 'ValidationException' && /^PredefinedMetricType SageMakerInferenceComponentInvocationsPerCopy tracks an inference component's copies, not variant AllTraffic of endpoint host/.test(err.message),
    );
    await aas.send(new DeregisterScalableTargetCommand(variant));
    await aas.send(new DeregisterScalableTargetCommand(key));
  });

  test('target tracking on the high-resolution SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution watches ConcurrentRequestsPerCopy, the requests in flight per copy as each arrives', async () => {
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'held', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir, Environment: { FAKE_HOLD: 'true' } }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    await until('component held InService', async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'held' }))).InferenceComponentStatus === 'InService', POLL);
    const invoke = () => clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'held', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    const received = () => backend.invocations.filter((i) => i.id.startsWith('host/held/')).length;
    // The second arrives while the first is held in the one copy: 2 requests in flight per copy.
    const first = invoke();
    await until('first held', async () => received() === 1, POLL);
    const second = invoke();
    await until('second held', async () => received() === 2, POLL);
    backend.release();
    await Promise.all([first, second]);
    const out = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'ConcurrentRequestsPerCopy', Dimensions: [{ Name: 'InferenceComponentName', Value: 'held' }], Statistics: ['Maximum', 'SampleCount'], Period: 60, StartTime: new Date(Date.now() - 600_000), EndTime: new Date(Date.now() + 60_000) }),
    );
    assert.equal(Math.max(...(out.Datapoints ?? []).map((d) => d.Maximum ?? 0)), 2);
    assert.equal((out.Datapoints ?? []).reduce((n, d) => n + (d.SampleCount ?? 0), 0), 2);

    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/held', ScalableDimension: COPY_COUNT as 'sagemaker:inference-component:DesiredCopyCount' };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    const put = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'concurrency', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 1, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' } } }),
    );
    const alarms = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: put.Alarms!.map((a) => a.AlarmName!) }))).MetricAlarms ?? [];
    // Scale-out reacts to 10-second periods; scale-in at the standard one-minute speed.
    assert.deepEqual(
      alarms.map((a) => [/AlarmHigh/.test(a.AlarmName!) ? 'high' : 'low', a.Namespace, a.MetricName, a.Dimensions, a.Statistic, a.Period, a.EvaluationPeriods]).sort(),
      [
        ['high', 'AWS/SageMaker', 'ConcurrentRequestsPerCopy', [{ Name: 'InferenceComponentName', Value: 'held' }], 'Maximum', 10, 3],
        ['low', 'AWS/SageMaker', 'ConcurrentRequestsPerCopy', [{ Name: 'InferenceComponentName', Value: 'held' }], 'Maximum', 60, 15],
      ],
    );
    const high = put.Alarms!.find((a) => /AlarmHigh/.test(a.AlarmName!))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: high, StateValue: 'ALARM', StateReason: 'test: above the target' }));
    await scaler.tick();
    await until('two copies of held', async () => {
      const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'held' }));
      return d.InferenceComponentStatus === 'InService' && d.RuntimeConfig?.CurrentCopyCount === 2;
    }, POLL);
    const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
    assert.match(activity?.Cause ?? '', / concurrent requests per copy \(Maximum\) against a target of 1$/);
    await aas.send(new DeregisterScalableTargetCommand(key));
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'held' }));
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
    // The next pass finds the change fulfilled.
    await scaler.tick();
    const activities = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities;
    assert.deepEqual(activities?.map((a) => [a.Description, a.StatusCode, a.ScalableDimension]), [['Setting desired copy count to 2.', 'Successful', COPY_COUNT]]);

    // A variant's dimension does not apply.
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
    await until('component scaled deleted', async () => !(await sm.send(new ListInferenceComponentsCommand({}))).InferenceComponents?.some((c) => c.InferenceComponentName === 'scaled'), POLL);
    assert.deepEqual((await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }))).ScalableTargets, []);
    assert.deepEqual((await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker' }))).ScalingPolicies, []);
  });

  test('scale to zero: target tracking takes a component with MinCapacity 0 to 0 copies; an invocation then fails with NoCapacityInvocationFailures, whose alarm runs a step policy back to 1 copy', async () => {
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'sleepy', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    const copies = async () => {
      const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'sleepy' }));
      return d.InferenceComponentStatus === 'InService' ? d.RuntimeConfig?.CurrentCopyCount : undefined;
    };
    await until('sleepy InService', async () => (await copies()) === 1, POLL);
    const invoke = () => clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'sleepy', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    // As AWS's "Scale an endpoint to zero instances" sets it up: MinCapacity 0, target tracking to scale in,
    // and a step policy on a NoCapacityInvocationFailures alarm to scale out from zero.
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/sleepy', ScalableDimension: COPY_COUNT as 'sagemaker:inference-component:DesiredCopyCount' };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 0, MaxCapacity: 2 }));
    const tracking = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'per-copy', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 1, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' }, ScaleInCooldown: 300, ScaleOutCooldown: 300 } }),
    );
    const step = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'from-zero', PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', MetricAggregationType: 'Maximum', Cooldown: 60, StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] } }),
    );
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: 'sleepy-from-zero',
        AlarmActions: [step.PolicyARN!],
        Namespace: 'AWS/SageMaker',
        MetricName: 'NoCapacityInvocationFailures',
        Dimensions: [{ Name: 'InferenceComponentName', Value: 'sleepy' }],
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      }),
    );

    // The low alarm (below 90 % of the target) scales the component in to its minimum, 0.
    const low = tracking.Alarms!.find((a) => /AlarmLow/.test(a.AlarmName!))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: low, StateValue: 'ALARM', StateReason: 'test: no traffic' }));
    await scaler.tick();
    await until('sleepy at 0 copies', async () => (await copies()) === 0, POLL);

    const failedAt = Date.now();
    await assert.rejects(invoke(), (err: Error) => err.name === 'ValidationError' && err.message === NO_CAPACITY);
    const failures = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'NoCapacityInvocationFailures', Dimensions: [{ Name: 'InferenceComponentName', Value: 'sleepy' }], Statistics: ['Sum'], Period: 60, StartTime: new Date(failedAt - 120_000), EndTime: new Date(failedAt + 120_000) }),
    );
    assert.deepEqual(failures.Datapoints?.map((d) => d.Sum), [1]);

    // The alarm's evaluation once the failure's minute has ended invokes the step policy: one copy again.
    cloudwatchService.evaluateDue(failures.Datapoints![0]!.Timestamp!.getTime() + 61_000);
    await scaler.tick();
    await until('sleepy back at 1 copy', async () => (await copies()) === 1, POLL);
    // The next pass finds the change fulfilled (with the low alarm out of ALARM, so it does not scale in again).
    await cw.send(new SetAlarmStateCommand({ AlarmName: low, StateValue: 'OK', StateReason: 'test: traffic again' }));
    await scaler.tick();
    const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
    assert.deepEqual([activity?.Description, activity?.Cause, activity?.StatusCode], ['Setting desired copy count to 1.', 'monitor alarm sleepy-from-zero in state ALARM triggered policy from-zero', 'Successful']);
    assert.equal(JSON.parse((await invoke()).Body!.transformToString()).got, '1,2');
  });

  test('a component whose copies died is not at zero while its copy count changes: its invocations stay ServiceUnavailable, with no NoCapacityInvocationFailures', async () => {
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'fragile', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    const describe = () => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'fragile' }));
    await until('fragile InService', async () => (await describe()).InferenceComponentStatus === 'InService', POLL);
    const running = () => backend.runningIds.filter((id) => id.startsWith('host/fragile/'));
    const [copy] = running();
    // Copies started from now on do not pass /ping: the one asked for below stays starting.
    backend.readyAfterMs = 3_600_000;
    try {
      backend.crash(copy!);
      await until('fragile lost its copy', async () => (await describe()).RuntimeConfig?.CurrentCopyCount === 0, POLL);
      await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'fragile', DesiredRuntimeConfig: { CopyCount: 2 } }));
      assert.equal((await describe()).InferenceComponentStatus, 'Updating');
      const failedAt = Date.now();
      await assert.rejects(
        clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'fragile', ContentType: 'text/csv', Body: Buffer.from('1,2') })),
        (err: Error) => err.name === 'ServiceUnavailable',
      );
      const failures = await cw.send(
        new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'NoCapacityInvocationFailures', Dimensions: [{ Name: 'InferenceComponentName', Value: 'fragile' }], Statistics: ['Sum'], Period: 60, StartTime: new Date(failedAt - 120_000), EndTime: new Date(failedAt + 120_000) }),
      );
      assert.deepEqual(failures.Datapoints, []);
    } finally {
      backend.readyAfterMs = undefined;
    }
    // The starting copy dies: the change ends and the component is deleted without waiting out its start-up.
    await until('a copy of fragile starting', async () => running().length > 0, POLL);
    for (const id of running()) backend.crash(id);
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'fragile' }));
    await until('fragile deleted', async () => !(await sm.send(new ListInferenceComponentsCommand({}))).InferenceComponents?.some((c) => c.InferenceComponentName === 'fragile'), POLL);
  });
});
