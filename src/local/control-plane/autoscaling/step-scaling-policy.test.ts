// Step scaling policies through the services' call(...): PutScalingPolicy's checks, alarms whose
// actions name a policy, and the scaler applying the step, on a fake clock and a fake SageMaker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsServiceError } from '../../../aws/service.js';
import { FakeVariantSageMaker } from '../../../../test/helpers/fake-variant-sagemaker.js';
import { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import { createMetricClock } from '../cloudwatch/metric-clock.js';
import { MetricStore } from '../cloudwatch/metric-store.js';
import { ApplicationAutoScalingService } from './autoscaling-service.js';
import { invokeScalingPolicy } from './step-policy-invocation.js';
import { VariantScaler } from './variant-scaler.js';

function setup() {
  const t = { now: 10_000 * 60_000 + 1000 };
  const clock = createMetricClock(60, () => t.now);
  const metrics = new MetricStore(clock);
  const cloudwatch = new CloudWatchService({ metrics, clock });
  const sagemaker = new FakeVariantSageMaker();
  const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now });
  cloudwatch.setScalingActionHandler((invocation) => invokeScalingPolicy(autoscaling, invocation, clock.now()));
  const errors: unknown[] = [];
  const scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock, onError: (_r, e) => errors.push(e) });
  /** One minute of `perMinute` invocations, then an alarm evaluation and a scaler pass. */
  const minute = async (perMinute: number) => {
    for (let i = 0; i < perMinute; i++) metrics.record({ endpoint: 'ep', variant: 'v1', at: t.now + i * 1000, outcome: 'ok', instanceCount: sagemaker.count });
    t.now += 60_000;
    cloudwatch.evaluateDue(t.now);
    await scaler.tick();
  };
  return { t, metrics, cloudwatch, sagemaker, autoscaling, scaler, errors, minute };
}

const key = { ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/ep/variant/v1', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' };
const DIMENSIONS = [
  { Name: 'EndpointName', Value: 'ep' },
  { Name: 'VariantName', Value: 'v1' },
];
const invocationsAlarm = { Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Dimensions: DIMENSIONS, Statistic: 'Sum', Period: 60, EvaluationPeriods: 1 };
const rejects = (p: Promise<unknown>, type: string, message: RegExp) => assert.rejects(p, (err: unknown) => err instanceof AwsServiceError && err.type === type && message.test(err.message));

type History = Array<{ HistoryItemType: string; HistorySummary: string; HistoryData: string }>;
const actions = async (cloudwatch: CloudWatchService, alarm: string): Promise<History> =>
  ((await cloudwatch.call('DescribeAlarmHistory', { AlarmName: alarm, HistoryItemType: 'Action' })).AlarmHistoryItems as History);

test('PutScalingPolicy without PolicyType makes a StepScaling policy; DescribeScalingPolicies shows its configuration and the alarms that name it', async () => {
  const { autoscaling, cloudwatch } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const configuration = { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }], Cooldown: 300, MetricAggregationType: 'Average' };
  const put = await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'up', StepScalingPolicyConfiguration: configuration });
  const arn = put.PolicyARN as string;
  assert.match(arn, /^arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:[0-9a-f-]{36}:resource\/sagemaker\/endpoint\/ep\/variant\/v1:policyName\/up$/);
  assert.equal(put.Alarms, undefined, 'a step policy creates no alarm');
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'busy', Threshold: 5, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: [arn] });
  const [policy] = (await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies as Array<Record<string, unknown>>;
  assert.equal(policy!.PolicyType, 'StepScaling');
  assert.deepEqual(policy!.StepScalingPolicyConfiguration, configuration);
  assert.equal(policy!.TargetTrackingScalingPolicyConfiguration, undefined);
  assert.deepEqual(policy!.Alarms, [{ AlarmName: 'busy', AlarmARN: 'arn:aws:cloudwatch:us-east-1:000000000000:alarm:busy' }]);
  // An update keeps the ARN.
  const again = await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'up', PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { ...configuration, Cooldown: 60 } });
  assert.equal(again.PolicyARN, arn);
  // An update without PolicyType keeps the policy's type (here target tracking, not the StepScaling default).
  const tracking = { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } };
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'tt', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking });
  await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'tt', TargetTrackingScalingPolicyConfiguration: { ...tracking, TargetValue: 7 } });
  const [updated] = (await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker', PolicyNames: ['tt'] })).ScalingPolicies as Array<Record<string, unknown>>;
  assert.deepEqual([updated!.PolicyType, (updated!.TargetTrackingScalingPolicyConfiguration as { TargetValue: number }).TargetValue], ['TargetTrackingScaling', 7]);
  await autoscaling.call('DeleteScalingPolicy', { ...key, PolicyName: 'tt' });
  // Deleting the policy takes its ARN out of the alarm's actions; the alarm stays (DeleteScalingPolicy reference).
  await autoscaling.call('DeleteScalingPolicy', { ...key, PolicyName: 'up' });
  const [alarm] = (await cloudwatch.call('DescribeAlarms', { AlarmNames: ['busy'] })).MetricAlarms as Array<{ AlarmActions: string[] }>;
  assert.deepEqual(alarm!.AlarmActions, []);
  assert.deepEqual((await autoscaling.call('DescribeScalingPolicies', { ServiceNamespace: 'sagemaker' })).ScalingPolicies, []);
});

test('StepScalingPolicyConfiguration is checked as Application Auto Scaling does', async () => {
  const { autoscaling } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const put = (config: unknown, extra: Record<string, unknown> = {}) => autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'p', PolicyType: 'StepScaling', StepScalingPolicyConfiguration: config, ...extra });
  const refused = (config: unknown, message: RegExp) => rejects(put(config), 'ValidationException', message);
  const step = (lower?: number, upper?: number, adjustment = 1) => ({ ...(lower !== undefined ? { MetricIntervalLowerBound: lower } : {}), ...(upper !== undefined ? { MetricIntervalUpperBound: upper } : {}), ScalingAdjustment: adjustment });
  const change = (...steps: unknown[]) => ({ AdjustmentType: 'ChangeInCapacity', StepAdjustments: steps });
  await refused(undefined, /StepScalingPolicyConfiguration is required/);
  await refused({ AdjustmentType: 'Bogus', StepAdjustments: [step(0)] }, /^1 validation error detected: Value 'Bogus' at 'stepScalingPolicyConfiguration\.adjustmentType' failed to satisfy constraint: Member must satisfy enum value set: \[ChangeInCapacity, PercentChangeInCapacity, ExactCapacity\]/);
  await refused({ ...change(step(0)), MetricAggregationType: 'Sum' }, /'stepScalingPolicyConfiguration\.metricAggregationType'/);
  await refused({ ...change(step(0)), Cooldown: -1 }, /'stepScalingPolicyConfiguration\.cooldown'/);
  await refused({ ...change(step(0)), MinAdjustmentMagnitude: 1.5 }, /'stepScalingPolicyConfiguration\.minAdjustmentMagnitude'/);
  await refused(change({ MetricIntervalLowerBound: 0, ScalingAdjustment: 1.5 }), /'stepScalingPolicyConfiguration\.stepAdjustments\.1\.member\.scalingAdjustment'/);
  await refused(change({ MetricIntervalLowerBound: 0 }), /'stepScalingPolicyConfiguration\.stepAdjustments\.1\.member\.scalingAdjustment' failed to satisfy constraint: Member must not be null/);
  await refused({ StepAdjustments: [step(0)] }, /AdjustmentType is required/);
  await refused(change(), /At least one step adjustment is required/);
  await refused(change(...Array.from({ length: 21 }, (_, i) => step(i === 0 ? undefined : i, i === 20 ? undefined : i + 1))), /There can be at most 20 step adjustments per scaling policy/);
  await refused(change(step()), /^Both lower and upper bounds of a step adjustment cannot be left unspecified$/);
  await refused(change(step(5, 5)), /upper bound \(5\) of a step adjustment must be greater than its lower bound \(5\)/);
  await refused(change(step(undefined, 0), step(undefined, -5, -1)), /At most one step adjustment can have an unspecified lower bound/);
  await refused(change(step(0), step(5)), /At most one step adjustment can have an unspecified upper bound/);
  await refused(change(step(-5, 0, -1)), /^There must be a step adjustment with an unspecified lower bound when one step adjustment has a negative lower bound$/);
  await refused(change(step(0, 10)), /^There must be a step adjustment with an unspecified upper bound when one step adjustment has a positive upper bound$/);
  await refused(change(step(0, 10), step(5)), /overlap/);
  await refused(change(step(0, 10), step(20)), /have a gap between 10 and 20/);
  await refused({ AdjustmentType: 'ExactCapacity', StepAdjustments: [step(0, undefined, -1)] }, /non-negative/);
  await rejects(put(change(step(0)), { PolicyType: 'PredictiveScaling' }), 'ValidationException', /PolicyType PredictiveScaling is not scaled locally/);
  // Accepted: a gap before the first step is allowed (a breach there picks no step), as are steps all below 0.
  await put(change(step(1, 250), step(250, undefined, 25)));
  await put(change(step(undefined, -10, -2), step(-10, 0, -1)));
  await rejects(put(change(step(0)), { ResourceId: 'endpoint/ep/variant/v9' }), 'ObjectNotFoundException', /No scalable target registered/);
});

test('CloudWatch checks alarm action ARNs: an ARN, a scaling policy in the valid format, the alarm\'s region', async () => {
  const { cloudwatch } = setup();
  const put = (actions: Record<string, unknown>) => cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'a', Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', ...actions });
  const refused = (actions: Record<string, unknown>, message: RegExp) =>
    assert.rejects(put(actions), (err: unknown) => err instanceof AwsServiceError && (err as { queryCode?: string }).queryCode === 'ValidationError' && message.test(err.message));
  await refused({ AlarmActions: ['scale-out'] }, /Invalid AlarmActions ARN "scale-out"/);
  await refused({ OKActions: ['arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:nope'] }, /Invalid OKActions ARN .*scalingPolicy:<policy-id>:resource/);
  await refused({ InsufficientDataActions: ['arn:aws:sns:eu-west-1:000000000000:topic'] }, /^Invalid region eu-west-1 specified\. Only us-east-1 is supported\.$/);
  await refused({ AlarmActions: ['arn:aws-us-gov:sns:us-east-1:000000000000:topic'] }, /^Invalid partition aws-us-gov specified\. Only aws is supported\.$/);
  await put({ AlarmActions: ['arn:aws:sns:us-east-1:000000000000:topic', 'arn:aws:automate:us-east-1:ec2:stop', 'arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:0ce7a750-7fa1-46fc-a316-d2647013aa3f:autoScalingGroupName/g:policyName/p'] });
});

test('an alarm in ALARM runs the step policy it names: the breach picks the step, the cooldown counts the capacity added, the OK actions scale back in', async () => {
  const { autoscaling, cloudwatch, sagemaker, minute, errors } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const out = (
    await autoscaling.call('PutScalingPolicy', {
      ...key,
      PolicyName: 'out',
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 180, StepAdjustments: [{ MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 10, ScalingAdjustment: 1 }, { MetricIntervalLowerBound: 10, ScalingAdjustment: 2 }] },
    })
  ).PolicyARN as string;
  const scaleIn = (
    await autoscaling.call('PutScalingPolicy', {
      ...key,
      PolicyName: 'in',
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 120, StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }] },
    })
  ).PolicyARN as string;
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'busy', Threshold: 5, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: [out], OKActions: [scaleIn] });

  await minute(8);
  assert.equal(cloudwatch.alarmState('busy'), 'ALARM');
  assert.deepEqual(sagemaker.updates, [2], 'a breach of 3 picks the +1 step');
  const [activity] = (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  assert.deepEqual([activity!.Description, activity!.Cause, activity!.StatusCode, activity!.StatusMessage], [
    'Setting desired instance count to 2.',
    'monitor alarm busy in state ALARM triggered policy out',
    'InProgress',
    'Successfully set desired instance count to 2. Waiting for change to be fulfilled by sagemaker.',
  ]);
  assert.equal(activity!.EndTime, undefined, 'the activity goes on while the endpoint is Updating');
  const [action] = await actions(cloudwatch, 'busy');
  assert.equal(action!.HistorySummary, `Successfully executed action ${out}`);
  assert.deepEqual({ ...JSON.parse(action!.HistoryData), stateUpdateTimestamp: undefined }, { actionState: 'Succeeded', notificationResource: out, error: null, stateUpdateTimestamp: undefined });

  // Still in ALARM a minute later: the alarm invokes the policy again; the endpoint is Updating, so the step waits.
  await minute(20);
  assert.equal((await actions(cloudwatch, 'busy')).length, 2, 'invoked again once per minute in ALARM');
  assert.deepEqual(sagemaker.updates, [2], 'an Updating endpoint is not scaled');
  sagemaker.status = 'InService';
  await minute(20);
  // During the cooldown the +2 step counts from the capacity before the first scale-out: 1 + 2 = 3.
  assert.deepEqual(sagemaker.updates, [2, 3]);
  const [third, second] = (await autoscaling.call('DescribeScalingActivities', { ServiceNamespace: 'sagemaker' })).ScalingActivities as Array<Record<string, unknown>>;
  assert.deepEqual([second!.Description, second!.StatusCode, second!.StatusMessage], ['Setting desired instance count to 2.', 'Successful', 'Successfully set desired instance count to 2. Change successfully fulfilled by sagemaker.'], 'fulfilled once the endpoint is InService at 2');
  assert.deepEqual([third!.Description, third!.StatusCode], ['Setting desired instance count to 3.', 'InProgress']);
  sagemaker.status = 'InService';
  await minute(20);
  assert.deepEqual(sagemaker.updates, [2, 3, 4], 'after the cooldown, +2 from 3 is clamped to MaxCapacity');
  sagemaker.status = 'InService';
  await minute(20);
  assert.deepEqual(sagemaker.updates, [2, 3, 4], 'at MaxCapacity nothing changes');

  // Traffic under the threshold: OK, whose action is the scale-in policy (breach −3 picks the −1 step).
  await minute(2);
  assert.equal(cloudwatch.alarmState('busy'), 'OK');
  assert.deepEqual(sagemaker.updates, [2, 3, 4, 3]);
  sagemaker.status = 'InService';
  await minute(2);
  assert.deepEqual(sagemaker.updates, [2, 3, 4, 3], 'scale-in waits for its cooldown');
  sagemaker.status = 'InService';
  await minute(2);
  assert.deepEqual(sagemaker.updates, [2, 3, 4, 3, 2]);
  assert.deepEqual(errors, []);
});

test('SetAlarmState runs the policy with the datapoints of StateReasonData; a breach no step holds, or no datapoints, is a failed action', async () => {
  const { t, autoscaling, cloudwatch, sagemaker, scaler } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const arn = (
    await autoscaling.call('PutScalingPolicy', {
      ...key,
      PolicyName: 'pct',
      StepScalingPolicyConfiguration: { AdjustmentType: 'PercentChangeInCapacity', MinAdjustmentMagnitude: 2, MetricAggregationType: 'Maximum', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 10 }] },
    })
  ).PolicyARN as string;
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'forced', Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [arn] });
  await cloudwatch.call('SetAlarmState', { AlarmName: 'forced', StateValue: 'ALARM', StateReason: 'rehearsal', StateReasonData: JSON.stringify({ version: '1.0', recentDatapoints: [0, 3] }) });
  await scaler.tick();
  assert.deepEqual(sagemaker.updates, [3], 'Maximum of [0, 3] breaches by 2; 10 % of 1 is 1, at least MinAdjustmentMagnitude 2');

  await cloudwatch.call('SetAlarmState', { AlarmName: 'forced', StateValue: 'OK', StateReason: 'back' });
  await cloudwatch.call('SetAlarmState', { AlarmName: 'forced', StateValue: 'ALARM', StateReason: 'no data' });
  const [noData] = await actions(cloudwatch, 'forced');
  assert.match(noData!.HistorySummary, /^Failed to execute Auto Scaling action: The alarm state carries no datapoints: SetAlarmState must give recentDatapoints in StateReasonData/);
  assert.equal(JSON.parse(noData!.HistoryData).actionState, 'Failed');

  // The threshold 1 and a metric of 0 (breach −1) against a lone step from 0 upwards: no step holds it.
  await cloudwatch.call('SetAlarmState', { AlarmName: 'forced', StateValue: 'OK', StateReason: 'back' });
  await cloudwatch.call('SetAlarmState', { AlarmName: 'forced', StateValue: 'ALARM', StateReason: 'low', StateReasonData: JSON.stringify({ recentDatapoints: [0] }) });
  const [noStep] = await actions(cloudwatch, 'forced');
  assert.equal(noStep!.HistorySummary, 'Failed to execute Auto Scaling action: No step adjustment found for metric value [0.0] and breach threshold 1.0');
  assert.equal(JSON.parse(noStep!.HistoryData).error, 'No step adjustment found for metric value [0.0] and breach threshold 1.0');
  sagemaker.status = 'InService';
  t.now += 1000;
  await scaler.tick();
  assert.deepEqual(sagemaker.updates, [3], 'failed actions scale nothing');
});

test('no action runs while actions are disabled, and a target-tracking policy\'s alarms run their actions as accepted', async () => {
  const { autoscaling, cloudwatch, sagemaker, minute } = setup();
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const arn = (await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'up', StepScalingPolicyConfiguration: { AdjustmentType: 'ExactCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 3 }] } })).PolicyARN as string;
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'off', Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [arn], ActionsEnabled: false });
  await minute(5);
  assert.equal(cloudwatch.alarmState('off'), 'ALARM');
  assert.deepEqual(await actions(cloudwatch, 'off'), []);
  assert.deepEqual(sagemaker.updates, []);
  await cloudwatch.call('EnableAlarmActions', { AlarmNames: ['off'] });
  await minute(5);
  assert.equal((await actions(cloudwatch, 'off')).length, 1, 'enabled again, the alarm runs its action within the minute');
  assert.deepEqual(sagemaker.updates, [3], 'ExactCapacity 3');
  await cloudwatch.call('DisableAlarmActions', { AlarmNames: ['off'] });
  await minute(5);
  assert.equal((await actions(cloudwatch, 'off')).length, 1);

  const tt = await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: 'tt', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 1000, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } });
  const low = (tt.Alarms as Array<{ AlarmName: string }>).find((a) => a.AlarmName.includes('AlarmLow'))!.AlarmName;
  await cloudwatch.call('SetAlarmState', { AlarmName: low, StateValue: 'ALARM', StateReason: 'x' });
  const [ttAction] = await actions(cloudwatch, low);
  assert.match(ttAction!.HistorySummary, /^Successfully executed action arn:aws:autoscaling:.*:policyName\/tt$/);
});

test('a scale-out ends the scale-in cooldown of the step policies (user guide, "Cooldown period")', async () => {
  const { autoscaling, cloudwatch, sagemaker, scaler } = setup();
  sagemaker.count = 3;
  await autoscaling.call('RegisterScalableTarget', { ...key, MinCapacity: 1, MaxCapacity: 4 });
  const policy = async (name: string, step: Record<string, number>) =>
    (await autoscaling.call('PutScalingPolicy', { ...key, PolicyName: name, StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 600, StepAdjustments: [step] } })).PolicyARN as string;
  const out = await policy('out', { MetricIntervalLowerBound: 0, ScalingAdjustment: 1 });
  const scaleIn = await policy('in', { MetricIntervalUpperBound: 0, ScalingAdjustment: -1 });
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'hi', Threshold: 100, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [out] });
  await cloudwatch.call('PutMetricAlarm', { ...invocationsAlarm, AlarmName: 'lo', Threshold: 10, ComparisonOperator: 'LessThanThreshold', AlarmActions: [scaleIn] });
  /** Forces `alarm` into ALARM (from OK) with one datapoint, then runs the scaler on an endpoint in service. */
  const fire = async (alarm: string, value: number) => {
    await cloudwatch.call('SetAlarmState', { AlarmName: alarm, StateValue: 'OK', StateReason: 'reset' });
    await cloudwatch.call('SetAlarmState', { AlarmName: alarm, StateValue: 'ALARM', StateReason: 'rehearsal', StateReasonData: JSON.stringify({ recentDatapoints: [value] }) });
    sagemaker.status = 'InService';
    await scaler.tick();
  };
  await fire('lo', 0);
  assert.deepEqual(sagemaker.updates, [2]);
  await fire('lo', 0);
  assert.deepEqual(sagemaker.updates, [2], 'the second scale-in waits for the cooldown');
  await fire('hi', 200);
  assert.deepEqual(sagemaker.updates, [2, 3]);
  await fire('lo', 0);
  assert.deepEqual(sagemaker.updates, [2, 3, 2], 'the scale-out ended the scale-in cooldown');
});
