import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsServiceError } from '../../../aws/service.js';
import { FakeVariantSageMaker } from '../../../../test/helpers/fake-variant-sagemaker.js';
import { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import { createMetricClock } from '../cloudwatch/metric-clock.js';
import { MetricStore } from '../cloudwatch/metric-store.js';
import { ApplicationAutoScalingService } from './autoscaling-service.js';
import { VariantScaler } from './variant-scaler.js';

function setup(cloudwatchOptions: { maxAlarms?: number } = {}) {
  const t = { now: 10_000 * 60_000 + 1000 };
  const clock = createMetricClock(60, () => t.now);
  const metrics = new MetricStore(clock);
  const cloudwatch = new CloudWatchService({ metrics, clock, ...cloudwatchOptions });
  const sagemaker = new FakeVariantSageMaker();
  const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now });
  const errors: unknown[] = [];
  const scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock, onError: (_r, e) => errors.push(e) });
  return { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors };
}

const key = { ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/ep/variant/v1', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' };

test('target tracking scales a variant out under load and back in under a trickle, through UpdateEndpointWeightsAndCapacities', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const put = await autoscaling.call('PutScalingPolicy', {
    ...key,
    PolicyName: 'ipi',
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 10, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' }, ScaleOutCooldown: 60, ScaleInCooldown: 120 },
  });
  const alarms = put.Alarms as Array<{ AlarmName: string }>;
  assert.equal(alarms.length, 2);
  assert.match(alarms[0]!.AlarmName, /^TargetTracking-endpoint\/ep\/variant\/v1-AlarmHigh-/);
  const described = (await cloudwatch.call('DescribeAlarms', { AlarmNamePrefix: 'TargetTracking-' })).MetricAlarms as Array<Record<string, unknown>>;
  assert.deepEqual(described.map((a) => [a.MetricName, a.EvaluationPeriods, a.ComparisonOperator, a.Threshold]).sort(), [
    ['InvocationsPerInstance', 15, 'LessThanThreshold', 9],
    ['InvocationsPerInstance', 3, 'GreaterThanThreshold', 10],
  ]);

  /** One minute of traffic at `perMinute` invocations, then an evaluation and a scaler pass. */
  const minute = async (perMinute: number) => {
    for (let i = 0; i < perMinute; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + (i * 50_000) / Math.max(1, perMinute), outcome: 'ok', instanceCount: sagemaker.count });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
  };
  await minute(25);
  await minute(25);
  assert.deepEqual(sagemaker.updates, [], 'three breaching minutes are needed');
  await minute(25);
  assert.deepEqual(sagemaker.updates, [3], 'ceil(1 x 25 / 10) instances');
  await minute(25);
  assert.deepEqual(sagemaker.updates, [3], 'an Updating endpoint is never scaled');
  sagemaker.status = 'InService';
  for (let i = 0; i < 3; i++) await minute(25);
  assert.deepEqual(sagemaker.updates, [3], '25 per minute over 3 instances is under the target');
  for (let i = 0; i < 16 && sagemaker.updates.length < 2; i++) await minute(3);
  assert.deepEqual(sagemaker.updates, [3, 1], 'a trickle under 90 % of the target for 15 minutes scales in');
  // The scale-in's activity is fulfilled once the endpoint is InService again.
  sagemaker.status = 'InService';
  await scaler.tick();
  const activities = (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  assert.deepEqual(activities.map((a) => [a.Description, a.StatusCode]), [
    ['Setting desired instance count to 1.', 'Successful'],
    ['Setting desired instance count to 3.', 'Successful'],
  ]);
  assert.deepEqual(errors, []);
});

test('during the scale-out cooldown target tracking scales out again only past what the first scale-out added', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 8 });
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'ipi', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 10, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  const minute = async (perMinute: number) => {
    for (let i = 0; i < perMinute; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + (i * 50_000) / perMinute, outcome: 'ok', instanceCount: sagemaker.count });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
    sagemaker.status = 'InService';
  };
  for (let i = 0; i < 3; i++) await minute(25);
  assert.deepEqual(sagemaker.updates, [3], 'ceil(1 × 25 / 10)');
  await minute(60);
  assert.deepEqual(sagemaker.updates, [3], '20 per instance: ceil(1 × 20 / 10) = 2 is within what the scale-out added (the default cooldown is 300 s)');
  await minute(300);
  assert.deepEqual(sagemaker.updates, [3, 8], '100 per instance: ceil(1 × 100 / 10) = 10, at most 8, is a larger scale-out');
  assert.deepEqual(errors, []);
});

test('a scale-out ends the target-tracking scale-in cooldown: the next low alarm scales in without waiting for it', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'ipi', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 10, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' }, ScaleOutCooldown: 60, ScaleInCooldown: 3600 } });
  const minute = async (perMinute: number) => {
    for (let i = 0; i < perMinute; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + (i * 50_000) / perMinute, outcome: 'ok', instanceCount: sagemaker.count });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
    sagemaker.status = 'InService';
  };
  const cycle = async () => {
    for (let i = 0; i < 3; i++) await minute(25);
    for (let i = 0; i < 16 && sagemaker.count > 1; i++) await minute(3);
  };
  await cycle();
  assert.deepEqual(sagemaker.updates, [3, 1]);
  await cycle();
  assert.deepEqual(sagemaker.updates, [3, 1, 3, 1], 'the scale-out to 3 ended the hour-long scale-in cooldown (ScaleInCooldown reference)');
  assert.deepEqual(errors, []);
});

test('a target below its new minimum is raised at once; deregistering removes policies and alarms', async () => {
  const { sagemaker, autoscaling, cloudwatch, scaler } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 2, MaxCapacity: 3 });
  await scaler.tick();
  assert.deepEqual(sagemaker.updates, [2]);
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'p', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  assert.equal(((await cloudwatch.call('DescribeAlarms', {})).MetricAlarms as unknown[]).length, 2);
  await autoscaling.call('DeregisterScalableTarget', key);
  assert.deepEqual((await cloudwatch.call('DescribeAlarms', {})).MetricAlarms, []);
  assert.deepEqual((await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies, []);
});

test('Application Auto Scaling errors as the service names them', async () => {
  const { autoscaling } = setup();
  const rejects = (p: Promise<unknown>, type: string, message: RegExp) =>
    assert.rejects(p, (err: unknown) => err instanceof AwsServiceError && err.type === type && message.test(err.message));
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, ServiceNamespace: 'ecs', MinCapacity: 1, MaxCapacity: 2 }), 'ValidationException', /ServiceNamespace sagemaker/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, ResourceId: 'endpoint/ep', MinCapacity: 1, MaxCapacity: 2 }), 'ValidationException', /endpoint\/<endpoint-name>\/variant\/<variant-name>/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, ResourceId: 'endpoint/nope/variant/v1', MinCapacity: 1, MaxCapacity: 2 }), 'ValidationException', /Could not find endpoint "nope"/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, ResourceId: 'endpoint/ep/variant/v9', MinCapacity: 1, MaxCapacity: 2 }), 'ValidationException', /no production variant v9/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 3, MaxCapacity: 2 }), 'ValidationException', /cannot be greater/);
  await rejects(autoscaling.call('RegisterScalableTarget', key), 'ValidationException', /MinCapacity and MaxCapacity are required/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 'one', MaxCapacity: 2 }), 'ValidationException', /^1 validation error detected: Value 'one' at 'minCapacity'/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2, SuspendedState: [true] }), 'ValidationException', /at 'suspendedState'/);
  await rejects(autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2, RoleARN: 'arn:aws:iam::1:role/a\u0000b' }), 'ValidationException', /at 'roleARN' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await rejects(autoscaling.call('DeregisterScalableTarget', key), 'ObjectNotFoundException', /No scalable target registered for service namespace: sagemaker, resource ID: endpoint\/ep\/variant\/v1/);
  const policy = { ...key, PolicyName: 'p', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } };
  await rejects(autoscaling.call('PutScalingPolicy', policy), 'ObjectNotFoundException', /No scalable target/);
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2 });
  await rejects(autoscaling.call('PutScalingPolicy', { ...policy, PolicyType: 'PredictiveScaling' }), 'ValidationException', /PolicyType PredictiveScaling is not scaled locally/);
  await rejects(autoscaling.call('PutScalingPolicy', { ...policy, PolicyType: 'StepScaling' }), 'ValidationException', /StepScalingPolicyConfiguration is required/);
  await rejects(autoscaling.call('PutScalingPolicy', { ...policy, TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' } } }), 'ValidationException', /SageMakerVariantInvocationsPerInstance/);
  await rejects(autoscaling.call('DeleteScalingPolicy', { ...key, PolicyName: 'p' }), 'ObjectNotFoundException', /No scaling policy found .* policy name: p/);
  await rejects(autoscaling.call('DeleteScalingPolicy', { ...key, PolicyName: 'p\u0007' }), 'ValidationException', /at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: \[\\u0020-\\uD7FF/);
  await rejects(autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', NextToken: 'zz' }), 'InvalidNextTokenException', /NextToken/);
  await rejects(autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: [''] }), 'ValidationException', /at 'resourceIds\.1\.member' failed to satisfy constraint: Member must have length greater than or equal to 1/);
  await rejects(autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: ['x'.repeat(1601)] }), 'ValidationException', /at 'resourceIds\.1\.member' failed to satisfy constraint: Member must have length less than or equal to 1600/);
  await rejects(autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', PolicyNames: ['p', ''] }), 'ValidationException', /at 'policyNames\.2\.member'/);
  await rejects(autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', PolicyNames: Array.from({ length: 51 }, (_, i) => `p${i}`) }), 'ValidationException', /at 'policyNames' failed to satisfy constraint: Member must have length less than or equal to 50/);
  await rejects(autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker', IncludeNotScaledActivities: 'yes' }), 'ValidationException', /Value 'yes' at 'includeNotScaledActivities'/);
  for (const operation of ['TagResource', 'UntagResource', 'ListTagsForResource', 'GetPredictiveScalingForecast']) {
    await rejects(autoscaling.call(operation, { ServiceNamespace: 'sagemaker' }), 'UnknownOperationException', new RegExp(`does not answer ${operation}; it answers RegisterScalableTarget`));
  }
});

test('NextToken is stable across changes: deleting a listed item or adding an activity neither skips nor repeats one', async () => {
  const { t, sagemaker, autoscaling } = setup();
  sagemaker.variantNames = ['v1', 'v2', 'v3', 'v4'];
  const rid = (v: string) => `endpoint/ep/variant/${v}`;
  for (const v of sagemaker.variantNames) {
    await autoscaling.call('RegisterScalableTarget', { ...key, ResourceId: rid(v), MinCapacity: 1, MaxCapacity: 2 });
    t.now += 1000;
  }
  const targets = async (NextToken?: string) => {
    const out = await autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', MaxResults: 2, ...(NextToken ? { NextToken } : {}) });
    return { ids: (out.ScalableTargets as Array<{ ResourceId: string }>).map((x) => x.ResourceId), next: out.NextToken as string | undefined };
  };
  const first = await targets();
  assert.deepEqual(first.ids, [rid('v1'), rid('v2')]);
  await autoscaling.call('DeregisterScalableTarget', { ...key, ResourceId: rid('v1') });
  assert.deepEqual((await targets(first.next)).ids, [rid('v3'), rid('v4')]);

  for (const name of ['a', 'b', 'c']) {
    await autoscaling.call('PutScalingPolicy', { ...key, ResourceId: rid('v2'), PolicyName: name, PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  }
  const policies = await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', MaxResults: 2 });
  await autoscaling.call('DeleteScalingPolicy', { ...key, ResourceId: rid('v2'), PolicyName: 'a' });
  const rest = await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', MaxResults: 2, NextToken: policies.NextToken });
  assert.deepEqual((rest.ScalingPolicies as Array<{ PolicyName: string }>).map((p) => p.PolicyName), ['c']);

  for (const n of [1, 2, 3]) {
    t.now += 1000;
    autoscaling.startActivity(rid('v2'), `activity ${n}`, 'test');
  }
  const newest = await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker', MaxResults: 2 });
  t.now += 1000;
  autoscaling.startActivity(rid('v2'), 'activity 4', 'test');
  const older = await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker', MaxResults: 2, NextToken: newest.NextToken });
  assert.deepEqual((older.ScalingActivities as Array<{ Description: string }>).map((a) => a.Description), ['activity 1']);
});

test('a scalable target holds at most 50 scaling policies of both types (Application Auto Scaling quotas); an update of one of them is not a new one', async () => {
  const { autoscaling } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2 });
  const step = (name: string) => autoscaling.call('PutScalingPolicy', { ...key, PolicyName: name, PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] } });
  for (let i = 0; i < 49; i++) await step(`step-${i}`);
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'tracking', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  await assert.rejects(step('one-too-many'), (err: AwsServiceError) => err.type === 'LimitExceededException' && /50 scaling policies/.test(err.message));
  await step('step-0');
  await autoscaling.call('DeleteScalingPolicy', { ...key, PolicyName: 'step-1' });
  await step('one-too-many');
});

test('two policies on one target: the larger scale-out wins', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 8 });
  for (const [name, target] of [['ten', 10], ['five', 5]] as const) {
    await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: name, PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: target, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  }
  for (let m = 0; m < 3; m++) {
    for (let i = 0; i < 25; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + i * 1000, outcome: 'ok', instanceCount: 1 });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
  }
  assert.deepEqual(sagemaker.updates, [5], 'ceil(25 / 5) beats ceil(25 / 10)');
});

test('the low alarm threshold is 90 % of the target, without floating-point noise', async () => {
  const { autoscaling, cloudwatch } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2 });
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'p', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 0.7, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  const low = ((await cloudwatch.call('DescribeAlarms', { AlarmNamePrefix: 'TargetTracking-' })).MetricAlarms as Array<Record<string, unknown>>).find((a) => String(a.AlarmName).includes('AlarmLow'));
  assert.equal(low?.Threshold, 0.63);
});

test('target tracking on a customized metric (an asynchronous endpoint\'s ApproximateBacklogSizePerInstance, Average) scales out on its value', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 5 });
  const backlog = { MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'ep' }], Statistic: 'Average' };
  await autoscaling.call('PutScalingPolicy', {
    ...key,
    PolicyName: 'backlog',
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, CustomizedMetricSpecification: backlog, ScaleOutCooldown: 60 },
  });
  const described = (await cloudwatch.call('DescribeAlarms', { AlarmNamePrefix: 'TargetTracking-' })).MetricAlarms as Array<Record<string, unknown>>;
  assert.deepEqual(described.map((a) => [a.MetricName, a.Statistic, JSON.stringify(a.Dimensions), a.ComparisonOperator, a.Threshold]).sort(), [
    ['ApproximateBacklogSizePerInstance', 'Average', '[{"Name":"EndpointName","Value":"ep"}]', 'GreaterThanThreshold', 5],
    ['ApproximateBacklogSizePerInstance', 'Average', '[{"Name":"EndpointName","Value":"ep"}]', 'LessThanThreshold', 4.5],
  ]);
  const policies = (await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies as Array<{ TargetTrackingScalingPolicyConfiguration: Record<string, unknown> }>;
  assert.deepEqual(policies[0]!.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification, backlog);
  const id = { namespace: 'AWS/SageMaker', metricName: 'ApproximateBacklogSizePerInstance', dimensions: [{ Name: 'EndpointName', Value: 'ep' }] };
  /** One minute of backlog samples averaging `perInstance` (8 and 12 for 10), then an evaluation and a scaler pass. */
  const minute = async (perInstance: number) => {
    metrics.put(id, perInstance - 2, 'Count', t.now + 10_000);
    metrics.put(id, perInstance + 2, 'Count', t.now + 40_000);
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
  };
  for (let i = 0; i < 3; i++) await minute(12);
  assert.deepEqual(sagemaker.updates, [3], 'ceil(1 × 12 / 5) instances, from the Average, not the Sum');
  const activities = (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  assert.match(String(activities[0]!.Cause), /12 ApproximateBacklogSizePerInstance \(Average\) against a target of 5/);
  assert.deepEqual(errors, []);
});

test('a customized metric is checked: one metric with a statistic, not metric math, not beside a predefined one; the predefined one takes no ResourceLabel', async () => {
  const { autoscaling } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2 });
  const put = (config: Record<string, unknown>) => autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'p', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, ...config } });
  const refused = async (config: Record<string, unknown>, message: RegExp) => {
    await assert.rejects(put(config), (err: AwsServiceError) => err.type === 'ValidationException' && message.test(err.message));
  };
  await refused({ CustomizedMetricSpecification: { MetricName: 'M', Namespace: 'N', Statistic: 'p99' } }, /customizedMetricSpecification\.statistic/);
  await refused({ CustomizedMetricSpecification: { Namespace: 'N', Statistic: 'Sum' } }, /customizedMetricSpecification\.metricName/);
  await refused({ CustomizedMetricSpecification: { Metrics: [{ Id: 'm1' }] } }, /metric math\) is not tracked locally/);
  await refused({ CustomizedMetricSpecification: { MetricName: 'M', Namespace: 'N', Statistic: 'Sum' }, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } }, /not both/);
  await refused({ PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance', ResourceLabel: 'app/my-alb/778d41231b141a0f/targetgroup/my-tg/943f017f100becff' } }, /ResourceLabel .* only with the ALBRequestCountPerTarget metric type/);
});

test('alarms CloudWatch refuses fail PutScalingPolicy with the service\'s own exceptions, leave no alarm behind, and an update keeps the policy as it was', async () => {
  const { autoscaling, cloudwatch } = setup({ maxAlarms: 3 });
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 2 });
  const metric = (extra: Record<string, unknown>) => ({ TargetValue: 5, CustomizedMetricSpecification: { MetricName: 'M', Namespace: 'N', Statistic: 'Average', ...extra } });
  const put = (name: string, config: Record<string, unknown>) => autoscaling.call('PutScalingPolicy', { ...key, PolicyName: name, PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: config });
  const alarmNames = async () => ((await cloudwatch.call('DescribeAlarms', {})).MetricAlarms as Array<{ AlarmName: string }>).map((a) => a.AlarmName).sort();
  const created = await put('p', metric({}));
  const alarms = (created.Alarms as Array<{ AlarmName: string }>).map((a) => a.AlarmName).sort();
  await assert.rejects(put('p', metric({ Dimensions: [{ Name: 'D', Value: 'a' }, { Name: 'D', Value: 'b' }] })), (err: AwsServiceError) => err.type === 'ValidationException' && /duplicate dimension names/.test(err.message));
  await assert.rejects(put('p', metric({ Unit: 'Bogus' })), (err: AwsServiceError) => err.type === 'ValidationException' && /'Bogus' at 'unit'/.test(err.message));
  assert.deepEqual(await alarmNames(), alarms, 'the policy keeps its two alarms');
  const [policy] = (await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies as Array<{ Alarms: Array<{ AlarmName: string }>; TargetTrackingScalingPolicyConfiguration: unknown }>;
  assert.deepEqual(policy!.Alarms.map((a) => a.AlarmName).sort(), alarms);
  assert.deepEqual(policy!.TargetTrackingScalingPolicyConfiguration, metric({}));
  await assert.rejects(put('q', metric({})), (err: AwsServiceError) => err.type === 'LimitExceededException' && /at most 3 alarms/.test(err.message));
  assert.deepEqual(await alarmNames(), alarms, 'no alarm of the refused policy is left');
  assert.deepEqual(((await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies as unknown[]).length, 1);
});

test('MinCapacity 0: an idle asynchronous variant scales in to 0, and out of 0 only once the backlog exceeds the target', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors } = setup();
  sagemaker.asynchronous = true;
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 0, MaxCapacity: 2 });
  const backlog = { MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'ep' }], Statistic: 'Average' };
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'backlog', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 2, CustomizedMetricSpecification: backlog, ScaleInCooldown: 60, ScaleOutCooldown: 60 } });
  const id = { namespace: 'AWS/SageMaker', metricName: 'ApproximateBacklogSizePerInstance', dimensions: [{ Name: 'EndpointName', Value: 'ep' }] };
  /** One minute of the backlog per instance at `value` (at 0 instances the endpoint publishes the whole backlog), then an evaluation and a scaler pass. */
  const minute = async (value: number) => {
    metrics.put(id, value, 'Count', t.now + 10_000);
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
    sagemaker.status = 'InService';
  };
  for (let i = 0; i < 16 && sagemaker.updates.length === 0; i++) await minute(0);
  assert.deepEqual(sagemaker.updates, [0], 'fifteen idle minutes take the only instance away');
  for (let i = 0; i < 5; i++) await minute(2);
  assert.deepEqual(sagemaker.updates, [0], 'a backlog of 2 against a target of 2 does not start an instance');
  for (let i = 0; i < 3; i++) await minute(3);
  assert.deepEqual(sagemaker.updates, [0, 1], 'a backlog above the target for three minutes starts one');
  assert.deepEqual(errors, []);
});

test('ScalableDimension filters the Describe operations: a variant and an inference component, each listed only under its own dimension', async () => {
  const { sagemaker, cloudwatch } = setup();
  // The fake knows the variant ep/v1; the inference component ic answers DescribeInferenceComponent.
  const withComponent = {
    targetPrefix: 'SageMaker',
    signingName: 'sagemaker',
    call: async (operation: string, input: Record<string, unknown>) =>
      operation === 'DescribeInferenceComponent' && input.InferenceComponentName === 'ic' ? { InferenceComponentName: 'ic' } : sagemaker.call(operation, input),
  };
  const autoscaling = new ApplicationAutoScalingService({ sagemaker: withComponent, cloudwatch });
  const component = { ServiceNamespace: 'sagemaker', ResourceId: 'inference-component/ic', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' };
  const steps = { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] };
  for (const k of [key, component]) {
    await autoscaling.call('RegisterScalableTarget', { ...k, MinCapacity: 1, MaxCapacity: 2 });
    await autoscaling.call('PutScalingPolicy', { ...k, PolicyName: 'up', StepScalingPolicyConfiguration: steps });
    await autoscaling.call('PutScheduledAction', { ...k, ScheduledActionName: 'night', Schedule: 'cron(0 0 * * ? *)', ScalableTargetAction: { MaxCapacity: 1 } });
    autoscaling.startActivity(k.ResourceId, 'Setting desired count to 2.', 'test');
  }
  for (const k of [key, component]) {
    const only = { ServiceNamespace: 'sagemaker', ScalableDimension: k.ScalableDimension };
    const ids = (list: unknown) => (list as Array<{ ResourceId: string }>).map((x) => x.ResourceId);
    assert.deepEqual(ids((await autoscaling.call('DescribeScalableTargets', only)).ScalableTargets), [k.ResourceId]);
    assert.deepEqual(ids((await autoscaling.call('DescribeScalingPolicies', only)).ScalingPolicies), [k.ResourceId]);
    assert.deepEqual(ids((await autoscaling.call('DescribeScheduledActions', only)).ScheduledActions), [k.ResourceId]);
    assert.deepEqual(ids((await autoscaling.call('DescribeScalingActivities', only)).ScalingActivities), [k.ResourceId]);
  }
});

test('a change SageMaker refuses, and one whose variant goes away before it is carried out, end as Failed activities that say why', async () => {
  const { t, sagemaker, autoscaling, scaler } = setup();
  const describeActivities = async () => (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  // Refused at once: the activity ends Failed, worded as SageMaker's scaling activities page shows it ("… Reason: …").
  const call = sagemaker.call.bind(sagemaker);
  sagemaker.call = async (operation, input) => {
    if (operation === 'UpdateEndpointWeightsAndCapacities') throw new AwsServiceError('ResourceLimitExceeded', "The account-level service limit 'local instances for endpoint usage' is 1 Instances.");
    return call(operation, input);
  };
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 2, MaxCapacity: 4 });
  await scaler.tick();
  let [refused] = await describeActivities();
  assert.deepEqual([refused!.Description, refused!.StatusCode, refused!.StatusMessage], [
    'Setting desired instance count to 2.',
    'Failed',
    "Failed to set desired instance count to 2. Reason: The account-level service limit 'local instances for endpoint usage' is 1 Instances.",
  ]);
  assert.ok(refused!.EndTime);
  // Accepted (a minute later: a refused change is not asked again sooner), then the variant is gone
  // before the next pass: the activity does not stay InProgress.
  sagemaker.call = call;
  t.now += 60_000;
  await scaler.tick();
  const [accepted] = await describeActivities();
  assert.equal(accepted!.StatusCode, 'InProgress');
  sagemaker.variantNames = ['other'];
  await scaler.tick();
  const [gone] = await describeActivities();
  assert.deepEqual([gone!.ActivityId, gone!.StatusCode, gone!.StatusMessage], [accepted!.ActivityId, 'Failed', 'Failed to set desired instance count to 2. Reason: The endpoint variant no longer exists.']);
  assert.ok(gone!.EndTime);
  [refused] = (await describeActivities()).slice(1);
  assert.equal(refused!.StatusCode, 'Failed');
});

test('a change SageMaker refuses starts no cooldown: the next pass whose alarm still asks scales in', async () => {
  const { t, metrics, cloudwatch, sagemaker, autoscaling, scaler } = setup();
  sagemaker.count = 3;
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  await autoscaling.call('PutScalingPolicy', {
    ...key,
    PolicyName: 'ipi',
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 10, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' }, ScaleInCooldown: 600 },
  });
  let refuse = true;
  let asked = 0;
  const call = sagemaker.call.bind(sagemaker);
  sagemaker.call = async (operation, input) => {
    if (operation === 'UpdateEndpointWeightsAndCapacities') {
      asked++;
      if (refuse) throw new AwsServiceError('ValidationException', 'Cannot update in-progress endpoint.');
    }
    return call(operation, input);
  };
  const minute = async (perMinute: number) => {
    for (let i = 0; i < perMinute; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + (i * 50_000) / perMinute, outcome: 'ok', instanceCount: sagemaker.count });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
  };
  for (let i = 0; i < 20 && asked === 0; i++) await minute(3);
  assert.equal(asked, 1, 'the scale-in was asked for');
  assert.deepEqual(sagemaker.updates, [], 'and refused');
  // A minute later, well inside the 600 s cooldown a scale-in would start, the alarm still asks
  // and the change is made: the refused one took no instance away.
  refuse = false;
  await minute(3);
  assert.deepEqual(sagemaker.updates, [1]);
});

test('a change SageMaker keeps refusing is asked again once a minute, not on every pass', async () => {
  const { t, sagemaker, autoscaling, scaler, errors } = setup();
  let asked = 0;
  const call = sagemaker.call.bind(sagemaker);
  sagemaker.call = async (operation, input) => {
    if (operation === 'UpdateEndpointWeightsAndCapacities') {
      asked++;
      throw new AwsServiceError('ResourceLimitExceeded', "The account-level service limit 'local instances for endpoint usage' is 1 Instances.");
    }
    return call(operation, input);
  };
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 2, MaxCapacity: 4 });
  // Passes every 10 s (as the scaler's own timer makes them) for two minutes and a half.
  for (let i = 0; i < 15; i++) {
    await scaler.tick();
    t.now += 10_000;
  }
  assert.equal(asked, 3, 'at 0 s, 60 s and 120 s');
  assert.equal(errors.length, 3);
  const activities = (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  assert.deepEqual(
    activities.map((a) => a.StatusCode),
    ['Failed', 'Failed', 'Failed'],
  );
});

test('a target deregistered and registered again after SageMaker refused its change asks again at once: the refusal was the old registration\'s', async () => {
  const { t, sagemaker, autoscaling, scaler } = setup();
  let asked = 0;
  const call = sagemaker.call.bind(sagemaker);
  sagemaker.call = async (operation, input) => {
    if (operation === 'UpdateEndpointWeightsAndCapacities') {
      asked++;
      throw new AwsServiceError('ResourceLimitExceeded', "The account-level service limit 'local instances for endpoint usage' is 1 Instances.");
    }
    return call(operation, input);
  };
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 2, MaxCapacity: 4 });
  await scaler.tick();
  assert.equal(asked, 1);
  t.now += 10_000;
  await autoscaling.call('DeregisterScalableTarget', key);
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 2, MaxCapacity: 4 });
  await scaler.tick();
  assert.equal(asked, 2, 'the new registration asks for its minimum at once');
});
