// Target tracking scales in once traffic stops altogether, because the idle minutes publish zeros
// (as SageMaker does): through the real SDK clients against a local SageMaker whose instances and
// copies are fake containers; the metric clock is the test's, moved a minute at a time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient, DescribeScalingActivitiesCommand, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateInferenceComponentCommand, CreateModelCommand, DescribeEndpointCommand, DescribeInferenceComponentCommand, SageMakerClient, UpdateEndpointWeightsAndCapacitiesCommand, UpdateInferenceComponentRuntimeConfigCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { FakeBackend } from '../../../../test/helpers/fake-backend.js';
import { startLocalScaling, type LocalScaling } from '../../../../test/helpers/local-scaling.js';
import { until } from '../../../../test/helpers/until.js';
import type { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import type { LocalSageMakerHandle } from '../local-sagemaker.js';
import type { VariantScaler } from './variant-scaler.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };
const ROLE = 'arn:aws:iam::123456789012:role/local';

let host: LocalScaling;
let dir: string;
let local: LocalSageMakerHandle;
let backend: FakeBackend;
let scaler: VariantScaler;
let cloudwatch: CloudWatchService;
let sm: SageMakerClient;
let aas: ApplicationAutoScalingClient;
let cw: CloudWatchClient;
let runtime: SageMakerRuntimeClient;
// The metric clock starts at the real time (invocations are stamped with it) and moves on a minute per step.
const t = { now: Date.now() };

describe('idle scale in', () => {
  before(async () => {
    host = await startLocalScaling({ tmpPrefix: 'smkit-idle-scale-in-', poll: POLL, now: () => t.now });
    ({ dir, local, backend, scaler, cloudwatch } = host);
    ({ sagemaker: sm, autoscaling: aas, cloudwatch: cw, runtime } = host.clients);
  });

  after(async () => {
    await host?.stop();
  });

  /** Minutes without traffic: each ends, the idle minute is published, alarms are evaluated and the scaler runs. */
  async function idleMinutes(n: number, done: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < n && !(await done()); i++) {
      t.now += 60_000;
      local.publishIdleMinute(t.now);
      cloudwatch.evaluateDue(t.now);
      await scaler.tick();
    }
  }

  const lowAlarmState = async (names: string[]) =>
    ((await cw.send(new DescribeAlarmsCommand({ AlarmNames: names }))).MetricAlarms ?? []).filter((a) => /AlarmLow/.test(a.AlarmName!)).map((a) => a.StateValue);

  test('an inference component whose traffic stops scales in to MinCapacity 0 on SageMakerInferenceComponentInvocationsPerCopy: its idle minutes publish Invocations and InvocationsPerCopy 0', async () => {
    await host.hostEndpoint('host');
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'quiet', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 2 } }),
    );
    await until('component quiet InService', async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'quiet' }))).InferenceComponentStatus === 'InService', POLL);
    // The invocation is stamped with its arrival in real time: the metric clock catches up first, or a
    // slow start-up could put the invocation a minute past the clock and the first idle minute before it.
    t.now = Math.max(t.now, Date.now());
    await runtime.send(new InvokeEndpointCommand({ EndpointName: 'host', InferenceComponentName: 'quiet', ContentType: 'text/csv', Body: Buffer.from('1,2') }));

    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/quiet', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 0, MaxCapacity: 2 }));
    const put = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'per-copy', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentInvocationsPerCopy' }, ScaleInCooldown: 0 } }),
    );
    const copies = async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'quiet' }))).RuntimeConfig?.DesiredCopyCount;
    // A scale-in's copy stop takes real time (its instance tree is removed from disk): the metric
    // clock moves on only once the component is out of Updating, as minutes would pass on AWS.
    const settledCopies = async () => {
      const d = await until('component quiet out of Updating', async () => {
        const c = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'quiet' }));
        return c.InferenceComponentStatus !== 'Updating' && c;
      }, POLL);
      return d.RuntimeConfig?.DesiredCopyCount;
    };
    await idleMinutes(20, async () => (await settledCopies()) === 0);
    assert.deepEqual(await lowAlarmState(put.Alarms!.map((a) => a.AlarmName!)), ['ALARM'], 'fifteen minutes of zeros are below 90 % of the target');
    assert.equal(await copies(), 0);
    const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
    assert.equal(activity?.Description, 'Setting desired copy count to 0.');
    // The one invocation's minute holds its 1, each idle minute one 0 (published once, however often asked).
    local.publishIdleMinute(t.now);
    const out = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'InvocationsPerCopy', Dimensions: [{ Name: 'InferenceComponentName', Value: 'quiet' }], Statistics: ['Sum', 'Maximum'], Period: 60, StartTime: new Date(t.now - 3_600_000), EndTime: new Date(t.now) }),
    );
    const points = (out.Datapoints ?? []).sort((a, b) => a.Timestamp!.getTime() - b.Timestamp!.getTime());
    // An idle minute may still come before the invocation's, should the invocation cross a minute's end.
    assert.deepEqual(points.filter((d) => d.Sum !== 0).map((d) => d.Sum), [0.5], 'one invocation over 2 copies');
    const zeros = points.filter((d) => d.Sum === 0 && d.Maximum === 0);
    assert.ok(zeros.length >= 15 && zeros.length === points.length - 1, JSON.stringify(points));
  });

  test('a variant whose traffic stops scales in to MinCapacity on SageMakerVariantInvocationsPerInstance: its idle minutes publish Invocations and InvocationsPerInstance 0', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'two', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InstanceType: 'ml.m5.large', InitialInstanceCount: 2 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'two', EndpointConfigName: 'two' }));
    const described = () => sm.send(new DescribeEndpointCommand({ EndpointName: 'two' }));
    await until('endpoint two InService', async () => (await described()).EndpointStatus === 'InService', POLL);
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/two/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    const put = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'ipi', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 10, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' }, ScaleInCooldown: 0 } }),
    );
    const desired = async () => (await described()).ProductionVariants?.[0]?.DesiredInstanceCount;
    await idleMinutes(20, async () => (await desired()) === 1);
    assert.deepEqual(await lowAlarmState(put.Alarms!.map((a) => a.AlarmName!)), ['ALARM']);
    assert.equal(await desired(), 1);
    const out = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Dimensions: [{ Name: 'EndpointName', Value: 'two' }, { Name: 'VariantName', Value: 'AllTraffic' }], Statistics: ['Sum'], Period: 60, StartTime: new Date(t.now - 900_000), EndTime: new Date(t.now) }),
    );
    assert.ok((out.Datapoints ?? []).length >= 14 && (out.Datapoints ?? []).every((d) => d.Sum === 0));
    const concurrency = await cw.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'ConcurrentRequestsPerModel', Dimensions: [{ Name: 'EndpointName', Value: 'two' }, { Name: 'VariantName', Value: 'AllTraffic' }], Statistics: ['Maximum'], Period: 60, StartTime: new Date(t.now - 900_000), EndTime: new Date(t.now) }),
    );
    assert.ok((concurrency.Datapoints ?? []).length >= 14 && (concurrency.Datapoints ?? []).every((d) => d.Maximum === 0), 'nothing in flight');
  });

  test('an inference component whose traffic stops scales in on the high-resolution SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution: its idle minutes publish ConcurrentRequestsPerCopy, the requests in flight per copy (0)', async () => {
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'calm', EndpointName: 'host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 2 } }),
    );
    await until('component calm InService', async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'calm' }))).InferenceComponentStatus === 'InService', POLL);
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/calm', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    const put = await aas.send(
      new PutScalingPolicyCommand({ ...key, PolicyName: 'concurrency', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 1, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution' }, ScaleInCooldown: 0 } }),
    );
    const copies = async () => (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'calm' }))).RuntimeConfig?.DesiredCopyCount;
    await idleMinutes(20, async () => (await copies()) === 1);
    assert.deepEqual(await lowAlarmState(put.Alarms!.map((a) => a.AlarmName!)), ['ALARM']);
    assert.equal(await copies(), 1);
  });

  test('an invocation still running when its minute is published as idle replaces the zeros there: the minute holds its one sample, not a 0 beside it', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'slow', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'slow', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'slow', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'slow', EndpointConfigName: 'slow' }));
    await until('endpoint slow InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'slow' }))).EndpointStatus === 'InService', POLL);
    // The invocation is stamped with its arrival (real time), between these two.
    const before = Date.now();
    const held = runtime.send(new InvokeEndpointCommand({ EndpointName: 'slow', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    await until('invocation held', async () => backend.invocations.some((i) => i.id.startsWith('slow/')), POLL);
    const after = Date.now();
    // Its minute ends while it still runs: published as idle.
    local.publishIdleMinute(before + 60_000);
    local.publishIdleMinute(after + 60_000);
    backend.release();
    await held;
    const variant = [{ Name: 'EndpointName', Value: 'slow' }, { Name: 'VariantName', Value: 'AllTraffic' }];
    for (const metricName of ['Invocations', 'InvocationsPerInstance']) {
      const out = await cw.send(
        new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: variant, Statistics: ['SampleCount', 'Sum', 'Minimum', 'Average'], Period: 60, StartTime: new Date(before - 60_000), EndTime: new Date(after + 60_000) }),
      );
      const busy = (out.Datapoints ?? []).filter((d) => d.Sum! > 0);
      assert.deepEqual(busy.map((d) => [d.SampleCount, d.Sum, d.Minimum, d.Average]), [[1, 1, 1, 1]], `${metricName}: ${JSON.stringify(out.Datapoints)}`);
    }
  });

  test('a minute that ended before the endpoint went InService gets no idle zeros: the first are for the minute it served in', async () => {
    // The endpoint is created after `before`: the minute before the one `before` falls in ended before it existed.
    const before = Date.now();
    await sm.send(new CreateModelCommand({ ModelName: 'late', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'late', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'late', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'late', EndpointConfigName: 'late' }));
    await until('endpoint late InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'late' }))).EndpointStatus === 'InService', POLL);
    const served = Date.now();
    local.publishIdleMinute(before);
    const variant = [{ Name: 'EndpointName', Value: 'late' }, { Name: 'VariantName', Value: 'AllTraffic' }];
    const points = async (metricName: string, from: number, to: number) =>
      (await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: variant, Statistics: ['Sum', 'Maximum'], Period: 60, StartTime: new Date(from), EndTime: new Date(to) }))).Datapoints ?? [];
    for (const metricName of ['Invocations', 'InvocationsPerInstance', 'ConcurrentRequestsPerModel']) {
      assert.deepEqual(await points(metricName, before - 180_000, before + 180_000), [], `${metricName}: no datapoint for a minute before the endpoint existed`);
    }
    // The minute it went InService in is idle and published as such.
    local.publishIdleMinute(served + 60_000);
    for (const metricName of ['Invocations', 'InvocationsPerInstance', 'ConcurrentRequestsPerModel']) {
      const got = await points(metricName, before - 180_000, served + 180_000);
      assert.deepEqual(got.map((d) => [d.Sum, d.Maximum]), [[0, 0]], `${metricName}: ${JSON.stringify(got)}`);
    }
  });

  test('an endpoint that is Updating still serves, and its idle minutes publish zeros as when it is InService: a capacity change leaves no gap in Invocations', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'upd', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'upd', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'upd', InstanceType: 'ml.m5.large', InitialInstanceCount: 1, ContainerStartupHealthCheckTimeoutInSeconds: 600 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'upd', EndpointConfigName: 'upd' }));
    const described = () => sm.send(new DescribeEndpointCommand({ EndpointName: 'upd' }));
    await until('endpoint upd InService', async () => (await described()).EndpointStatus === 'InService', POLL);
    const served = Date.now();
    // The instance the change adds is slow to pass /ping (within its health check timeout, past the
    // harness's 5 s startup timeout): the endpoint stays Updating meanwhile. The instance starts after
    // the call has answered, so the slow start stays set until the checks ran.
    backend.readyAfterMs = 20_000;
    try {
      await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'upd', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] }));
      // Two minutes end while it is Updating (it still is once they are published).
      for (let m = 1; m <= 2; m++) local.publishIdleMinute(served + m * 60_000);
      assert.equal((await described()).EndpointStatus, 'Updating');
      const variant = [{ Name: 'EndpointName', Value: 'upd' }, { Name: 'VariantName', Value: 'AllTraffic' }];
      for (const metricName of ['Invocations', 'InvocationsPerInstance']) {
        const got = (await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: variant, Statistics: ['Sum'], Period: 60, StartTime: new Date(served - 60_000), EndTime: new Date(served + 180_000) }))).Datapoints ?? [];
        // The two minutes (and, should it have been published meanwhile, the one before them) hold 0.
        assert.ok(got.length >= 2 && got.every((d) => d.Sum === 0), `${metricName}: ${JSON.stringify(got)}`);
      }
    } finally {
      backend.readyAfterMs = undefined;
    }
    await until('endpoint upd InService on 2 instances', async () => {
      const d = await described();
      return d.EndpointStatus === 'InService' && d.ProductionVariants?.[0]?.CurrentInstanceCount === 2;
    }, { ...POLL, timeoutMs: 120_000 });
  });

  test('an inference component that is Updating still serves, and its idle minutes publish zeros as when it is InService', async () => {
    await host.hostEndpoint('host-upd');
    await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'growing', EndpointName: 'host-upd', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 }, StartupParameters: { ContainerStartupHealthCheckTimeoutInSeconds: 600 } }, RuntimeConfig: { CopyCount: 1 } }),
    );
    const described = () => sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'growing' }));
    await until('component growing InService', async () => (await described()).InferenceComponentStatus === 'InService', POLL);
    const served = Date.now();
    // The copy the change adds is slow to pass /ping (within its health check timeout, past the
    // harness's 5 s startup timeout): the component stays Updating meanwhile. The copy starts after
    // the call has answered, so the slow start stays set until the checks ran.
    backend.readyAfterMs = 20_000;
    try {
      await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'growing', DesiredRuntimeConfig: { CopyCount: 2 } }));
      for (let m = 1; m <= 2; m++) local.publishIdleMinute(served + m * 60_000);
      assert.equal((await described()).InferenceComponentStatus, 'Updating');
      for (const metricName of ['Invocations', 'InvocationsPerCopy']) {
        const got = (await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: [{ Name: 'InferenceComponentName', Value: 'growing' }], Statistics: ['Sum'], Period: 60, StartTime: new Date(served - 60_000), EndTime: new Date(served + 180_000) }))).Datapoints ?? [];
        // The two minutes (and, should it have been published meanwhile, the one before them) hold 0.
        assert.ok(got.length >= 2 && got.every((d) => d.Sum === 0), `${metricName}: ${JSON.stringify(got)}`);
      }
    } finally {
      backend.readyAfterMs = undefined;
    }
    await until('component growing InService with 2 copies', async () => {
      const c = await described();
      return c.InferenceComponentStatus === 'InService' && c.RuntimeConfig?.CurrentCopyCount === 2;
    }, { ...POLL, timeoutMs: 120_000 });
  });

  test('a serverless variant publishes neither ConcurrentRequestsPerModel nor InvocationsPerInstance, in its idle minutes as in its busy ones: AWS lists neither among the metrics of serverless endpoints', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'sl', ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'sl', ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 2 } }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'sl', EndpointConfigName: 'sl' }));
    await until('endpoint sl InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'sl' }))).EndpointStatus === 'InService', POLL);
    const before = Date.now();
    await runtime.send(new InvokeEndpointCommand({ EndpointName: 'sl', ContentType: 'text/csv', Body: Buffer.from('1,2') }));
    // The instance it started is still warm as the minutes end.
    for (let m = 1; m <= 3; m++) local.publishIdleMinute(before + m * 60_000);
    t.now = Math.max(t.now, before + 240_000);
    const variant = [{ Name: 'EndpointName', Value: 'sl' }, { Name: 'VariantName', Value: 'AllTraffic' }];
    const get = (metricName: string) =>
      cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: variant, Statistics: ['SampleCount'], Period: 60, StartTime: new Date(before - 60_000), EndTime: new Date(before + 240_000) }));
    assert.equal((await get('Invocations')).Datapoints?.length, 3, 'its minute and two idle ones');
    assert.deepEqual((await get('ConcurrentRequestsPerModel')).Datapoints, []);
    assert.deepEqual((await get('InvocationsPerInstance')).Datapoints, []);
  });
});
