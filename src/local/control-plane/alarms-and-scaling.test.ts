// The local CloudWatch and Application Auto Scaling over HTTP with the real AWS SDK v3 clients, on
// a fake clock the tests move by hand (alarm evaluations and scaler passes are run by the tests:
// nothing waits).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand, PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DeleteScheduledActionCommand,
  DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingActivitiesCommand,
  DescribeScalingPoliciesCommand,
  DescribeScheduledActionsCommand,
  ObjectNotFoundException,
  PutScheduledActionCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  ValidationException,
} from '@aws-sdk/client-application-auto-scaling';
import { FakeVariantSageMaker } from '../../../test/helpers/fake-variant-sagemaker.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { createFrontDoor } from '../front-door/app.js';
import { ApplicationAutoScalingService } from './autoscaling/autoscaling-service.js';
import { invokeScalingPolicy } from './autoscaling/step-policy-invocation.js';
import { VariantScaler } from './autoscaling/variant-scaler.js';
import { CloudWatchService } from './cloudwatch/cloudwatch-service.js';
import { createMetricClock } from './cloudwatch/metric-clock.js';
import { MetricStore } from './cloudwatch/metric-store.js';
import { createCloudWatchQueryHandler } from './cloudwatch/query-handler.js';

/** 06:00:01 UTC: one second past a five-minute (and minute) boundary. */
const T0 = Date.UTC(2026, 10, 30, 6, 0, 1);
const t = { now: T0 };
// Wired as createAlarmsAndScaling does, without its timers: the tests run evaluations and scaler passes.
const clock = createMetricClock(60, () => t.now);
const metrics = new MetricStore(clock);
const cloudwatch = new CloudWatchService({ metrics, clock, accountId: '111122223333' });
const sagemaker = new FakeVariantSageMaker();
const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now, durationMs: clock.durationMs, accountId: '111122223333' });
cloudwatch.setScalingActionHandler((invocation) => invokeScalingPolicy(autoscaling, invocation, clock.now()));
const scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock });
let server: Server;
let cw: CloudWatchClient;
let aas: ApplicationAutoScalingClient;

describe('alarms and scaling', () => {
  before(async () => {
    server = createServer(createFrontDoor({ endpoints: new Map(), services: [cloudwatch, autoscaling], queryHandler: createCloudWatchQueryHandler(cloudwatch) }));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const config = localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cw = new CloudWatchClient(config);
    aas = new ApplicationAutoScalingClient(config);
  });

  after(async () => {
    cw?.destroy();
    aas?.destroy();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  });

  const stateOf = async (name: string) => (await cw.send(new DescribeAlarmsCommand({ AlarmNames: [name] }))).MetricAlarms![0]!;

  test('a five-minute alarm is evaluated every minute on the five minutes that end then: a breach shows at the next minute and stays five minutes', async () => {
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: 'sliding-5m',
        Namespace: 'MyApp',
        MetricName: 'Failures',
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    );
    cloudwatch.evaluateDue(t.now);
    assert.equal((await stateOf('sliding-5m')).StateValue, 'OK');
    // A 0 every minute, and one failure in the second minute of the clock's five-minute period (06:01:01).
    const zeros = Array.from({ length: 8 }, (_, m) => ({ MetricName: 'Failures', Value: 0, Timestamp: new Date(T0 + m * 60_000 + 30_000) }));
    await cw.send(new PutMetricDataCommand({ Namespace: 'MyApp', MetricData: [...zeros, { MetricName: 'Failures', Value: 1, Timestamp: new Date(T0 + 60_000) }] }));
    const at = async (minutes: number) => {
      t.now = T0 + minutes * 60_000;
      cloudwatch.evaluateDue(t.now);
      return stateOf('sliding-5m');
    };
    const first = await at(2);
    assert.equal(first.StateValue, 'ALARM', 'evaluated at 06:02 on 05:57–06:02, not first at 06:05');
    assert.equal(first.StateReason, 'Threshold Crossed: 1 datapoint [1.0 (30/11/26 05:57:00)] was greater than or equal to the threshold (1.0).');
    for (const minute of [3, 4, 5, 6]) assert.equal((await at(minute)).StateValue, 'ALARM', `06:0${minute}: the failure is within the last five minutes`);
    assert.equal((await at(7)).StateValue, 'OK', '06:07 reads 06:02–06:07');
  });

  test('a single-metric alarm without MetricName, Namespace, Period or Threshold is the service\'s ValidationError "<member> must not be null"; the required EvaluationPeriods and ComparisonOperator get the model\'s form', async () => {
    const alarm = { AlarmName: 'incomplete', Namespace: 'MyApp', MetricName: 'Failures', Statistic: 'Sum' as const, Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' as const };
    const refused = (code: string, message: string | RegExp) => (err: unknown) =>
      err instanceof Error && err.name === code && (typeof message === 'string' ? err.message === message : message.test(err.message));
    for (const member of ['MetricName', 'Namespace', 'Period', 'Threshold'] as const) {
      await assert.rejects(cw.send(new PutMetricAlarmCommand({ ...alarm, [member]: undefined })), refused('ValidationException', `${member} must not be null`));
    }
    await assert.rejects(
      cw.send(new PutMetricAlarmCommand({ ...alarm, EvaluationPeriods: undefined, ComparisonOperator: undefined } as never)),
      refused('ValidationException', /^2 validation errors detected: Value null at 'evaluationPeriods' failed to satisfy constraint: Member must not be null; Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null$/),
    );
  });

  const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/ep/variant/v1', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
  const tracking = (TargetValue: number) => ({ TargetValue, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' as const } });

  test('TargetValue takes the range of the API reference, -2^360 to 2^360, tiny, zero and negative values included', async () => {
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 4 }));
    for (const value of [1e-200, 0, -5, 2 ** 360, -(2 ** 360)]) {
      await aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'range', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking(value) }));
      const { ScalingPolicies } = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId, PolicyNames: ['range'] }));
      assert.equal(ScalingPolicies![0]!.TargetTrackingScalingPolicyConfiguration!.TargetValue, value);
    }
    for (const value of [2 ** 361, -(2 ** 361)]) {
      await assert.rejects(
        aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'range', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking(value) })),
        (err: unknown) => err instanceof ValidationException && /TargetValue .* is out of range: it must be between -2\^360 and 2\^360/.test(err.message),
      );
    }
    await aas.send(new DeleteScalingPolicyCommand({ ...key, PolicyName: 'range' }));
  });

  test('integer members hold 32 bits, as the model\'s integer shapes: a capacity, cooldown or adjustment beyond is a ValidationException', async () => {
    const refused = (message: RegExp) => (err: unknown) => err instanceof ValidationException && message.test(err.message);
    await assert.rejects(aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 ** 31 })), refused(/Value '2147483648' at 'maxCapacity' failed to satisfy constraint: Member must be an integer from -2147483648 to 2147483647/));
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 ** 31 - 1 }));
    await assert.rejects(
      aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'big', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { ...tracking(5), ScaleInCooldown: 2 ** 40 } })),
      refused(/at 'targetTrackingScalingPolicyConfiguration\.scaleInCooldown' failed to satisfy constraint: Member must be a whole number of seconds from 0 to 2147483647/),
    );
    await assert.rejects(
      aas.send(
        new PutScalingPolicyCommand({
          ...key,
          PolicyName: 'big',
          PolicyType: 'StepScaling',
          StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 2 ** 31, MinAdjustmentMagnitude: 2 ** 31, StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: -(2 ** 31) - 1 }] },
        }),
      ),
      refused(/^3 validation errors detected: .*'stepScalingPolicyConfiguration\.minAdjustmentMagnitude'.*'stepScalingPolicyConfiguration\.cooldown'.*'stepScalingPolicyConfiguration\.stepAdjustments\.1\.member\.scalingAdjustment' failed to satisfy constraint: Member must be an integer from -2147483648 to 2147483647$/),
    );
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 4 }));
  });

  test('a policy asking to scale past the limit records a not-scaled activity with its NotScaledReasons, shown with IncludeNotScaledActivities, once while it keeps asking', async () => {
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 1 }));
    const { Alarms } = await aas.send(new PutScalingPolicyCommand({ ...key, PolicyName: 'at-max', PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: tracking(5) }));
    const high = Alarms!.find((a) => a.AlarmName!.includes('-AlarmHigh-'))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: high, StateValue: 'ALARM', StateReason: 'load', StateReasonData: JSON.stringify({ version: '1.0', recentDatapoints: [50] }) }));
    await scaler.tick();
    await scaler.tick();
    const activities = async (IncludeNotScaledActivities?: boolean) =>
      (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId, ...(IncludeNotScaledActivities === undefined ? {} : { IncludeNotScaledActivities }) }))).ScalingActivities!;
    assert.deepEqual(await activities(), [], 'not-scaled activities are left out by default');
    assert.deepEqual(await activities(false), []);
    const [notScaled, ...rest] = await activities(true);
    assert.equal(rest.length, 0, 'one activity while the policy keeps asking at the limit');
    assert.equal(notScaled!.StatusCode, 'Failed');
    assert.equal(notScaled!.Description, 'Attempting to scale-out SageMaker endpoint variant endpoint/ep/variant/v1');
    assert.equal(notScaled!.Cause, `monitor alarm ${high} in state ALARM triggered policy at-max`);
    assert.deepEqual(notScaled!.NotScaledReasons, [{ Code: 'AlreadyAtMaxCapacity', MaxCapacity: 1, CurrentCapacity: 1 }]);
    assert.deepEqual(sagemaker.updates, [], 'nothing was scaled');
    const low = Alarms!.find((a) => a.AlarmName!.includes('-AlarmLow-'))!.AlarmName!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: high, StateValue: 'OK', StateReason: 'calm' }));
    await cw.send(new SetAlarmStateCommand({ AlarmName: low, StateValue: 'ALARM', StateReason: 'idle', StateReasonData: JSON.stringify({ version: '1.0', recentDatapoints: [1] }) }));
    await scaler.tick();
    const [atMin] = await activities(true);
    assert.equal(atMin!.Description, 'Attempting to scale-in SageMaker endpoint variant endpoint/ep/variant/v1');
    assert.deepEqual(atMin!.NotScaledReasons, [{ Code: 'AlreadyAtMinCapacity', MinCapacity: 1, CurrentCapacity: 1 }]);
    await aas.send(new DeleteScalingPolicyCommand({ ...key, PolicyName: 'at-max' }));
  });

  test('scheduled actions set the capacity range at their times (cron in a time zone, at, rate), the scaler follows, and they go with their target', async () => {
    const capacity = async () => {
      const [target] = (await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [key.ResourceId] }))).ScalableTargets!;
      return [target!.MinCapacity, target!.MaxCapacity];
    };
    /** A scaler pass at `iso` (UTC); the fake endpoint is InService again after a change. */
    const at = async (iso: string) => {
      t.now = Date.parse(iso);
      await scaler.tick();
      sagemaker.status = 'InService';
    };
    await assert.rejects(
      aas.send(new PutScheduledActionCommand({ ...key, ResourceId: 'endpoint/ep/variant/v2', ScheduledActionName: 'x', Schedule: 'rate(1 hour)', ScalableTargetAction: { MinCapacity: 2 } })),
      (err: unknown) => err instanceof ObjectNotFoundException && /No scalable target registered .* resource ID: endpoint\/ep\/variant\/v2/.test(err.message),
    );
    await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 4 }));
    sagemaker.count = 1;
    sagemaker.updates.length = 0;
    t.now = Date.parse('2026-11-30T06:30:00Z');
    // 09:00 in Paris is 08:00 UTC in November.
    await aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'morning', Schedule: 'cron(0 9 ? * MON-FRI *)', Timezone: 'Europe/Paris', ScalableTargetAction: { MinCapacity: 3, MaxCapacity: 4 } }));
    await aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'quiet', Schedule: 'at(2026-11-30T10:00:00)', ScalableTargetAction: { MinCapacity: 1, MaxCapacity: 1 } }));
    const { ScheduledActions } = await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }));
    assert.deepEqual(
      ScheduledActions!.map((a) => [a.ScheduledActionName, a.Schedule, a.Timezone, a.ScalableTargetAction, a.CreationTime?.getTime()]),
      [
        ['morning', 'cron(0 9 ? * MON-FRI *)', 'Europe/Paris', { MinCapacity: 3, MaxCapacity: 4 }, t.now],
        ['quiet', 'at(2026-11-30T10:00:00)', undefined, { MinCapacity: 1, MaxCapacity: 1 }, t.now],
      ],
    );
    assert.match(ScheduledActions![0]!.ScheduledActionARN!, /^arn:aws:autoscaling:us-east-1:111122223333:scheduledAction:[0-9a-f-]{36}:resource\/sagemaker\/endpoint\/ep\/variant\/v1:scheduledActionName\/morning$/);

    await at('2026-11-30T07:59:59Z');
    assert.deepEqual(await capacity(), [1, 4], 'not yet 09:00 in Paris');
    await at('2026-11-30T08:00:00Z');
    assert.deepEqual(await capacity(), [3, 4]);
    assert.deepEqual(sagemaker.updates, [3], 'the scaler brought the variant into the new range in the same pass');
    const [newest, scheduled] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities!;
    assert.deepEqual([scheduled!.Description, scheduled!.Cause, scheduled!.StatusCode], ['Setting min capacity to 3 and max capacity to 4', 'scheduled action name morning was triggered', 'Successful']);
    assert.equal(newest!.Description, 'Setting desired instance count to 3.');
    await at('2026-11-30T10:00:00Z');
    assert.deepEqual(await capacity(), [1, 1]);
    assert.deepEqual(sagemaker.updates, [3, 1]);
    // The at action is spent; the cron one runs on the next weekday (a Tuesday), not on the weekend after.
    await at('2026-11-30T23:00:00Z');
    assert.deepEqual(await capacity(), [1, 1]);
    await at('2026-12-01T08:00:00Z');
    assert.deepEqual(await capacity(), [3, 4]);

    // A rate counts from StartTime; ScheduledScalingSuspended skips runs.
    await aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'every-2h', Schedule: 'rate(2 hours)', StartTime: new Date('2026-12-01T09:00:00Z'), ScalableTargetAction: { MaxCapacity: 2 } }));
    await at('2026-12-01T10:59:00Z');
    assert.deepEqual(await capacity(), [3, 4]);
    await at('2026-12-01T11:00:00Z');
    assert.deepEqual(await capacity(), [3, 4], 'MaxCapacity 2 under MinCapacity 3: the run fails and changes nothing');
    const [failed] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities!;
    assert.deepEqual([failed!.Cause, failed!.StatusCode], ['scheduled action name every-2h was triggered', 'Failed']);
    await aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'every-2h', Schedule: 'rate(2 hours)', StartTime: new Date('2026-12-01T09:00:00Z'), ScalableTargetAction: { MinCapacity: 2, MaxCapacity: 4 } }));
    await aas.send(new RegisterScalableTargetCommand({ ...key, SuspendedState: { ScheduledScalingSuspended: true } }));
    await at('2026-12-01T13:00:00Z');
    assert.deepEqual(await capacity(), [3, 4], 'suspended: the 13:00 run is skipped');
    await aas.send(new RegisterScalableTargetCommand({ ...key, SuspendedState: { ScheduledScalingSuspended: false } }));
    await at('2026-12-01T15:00:00Z');
    assert.deepEqual(await capacity(), [2, 4]);
    await aas.send(new DeleteScheduledActionCommand({ ...key, ScheduledActionName: 'every-2h' }));
    // Seven fields, Seconds first, as the User Guide allows: it runs at its second.
    await aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'to-the-second', Schedule: 'cron(30 0 16 ? * TUE *)', ScalableTargetAction: { MinCapacity: 1, MaxCapacity: 3 } }));
    await at('2026-12-01T16:00:29Z');
    assert.deepEqual(await capacity(), [2, 4]);
    await at('2026-12-01T16:00:30Z');
    assert.deepEqual(await capacity(), [1, 3]);
    await aas.send(new DeleteScheduledActionCommand({ ...key, ScheduledActionName: 'to-the-second' }));
    await assert.rejects(aas.send(new DeleteScheduledActionCommand({ ...key, ScheduledActionName: 'every-2h' })), (err: unknown) => err instanceof ObjectNotFoundException && /scheduled action name: every-2h$/.test(err.message));

    for (const [schedule, message] of [
      ['cron(0 9 L * ? *)', /uses L, W or #/],
      // Exactly one of the day of month and the day of week is ?, as the service has it.
      ['cron(0 16 * * MON-FRI *)', /give \? as exactly one of the day of month and the day of week \(\* and MON-FRI here\)/],
      ['cron(0 0 * * * *)', /give \? as exactly one of the day of month and the day of week \(\* and \* here\)/],
      ['cron(0 0 ? * ? *)', /give \? as exactly one of the day of month and the day of week \(\? and \? here\)/],
      ['cron(0 0 1 * MON *)', /give \? as exactly one of the day of month and the day of week \(1 and MON here\)/],
      ['cron(0 0 0 * * MON *)', /give \? as exactly one of the day of month and the day of week \(\* and MON here\)/],
      ['cron(60 0 9 ? * MON *)', /the Seconds field takes 0 to 59, not "60"/],
      ['cron(0 0 9 ? * MON * 2027)', /a cron expression has six fields \(or seven, Seconds first\), this one has 8/],
      ['rate(0 minutes)', /value a positive integer/],
      ['at(2026-02-30T10:00:00)', /do not exist/],
      ['every day', /none of the three forms/],
    ] as const) {
      await assert.rejects(aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'bad', Schedule: schedule, ScalableTargetAction: { MinCapacity: 1 } })), (err: unknown) => err instanceof ValidationException && message.test(err.message));
    }
    await assert.rejects(
      aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'bad', Schedule: 'cron(0 9 * * ? *)', StartTime: new Date(8.64e15), ScalableTargetAction: { MinCapacity: 1 } })),
      (err: unknown) => err instanceof ValidationException && /at 'startTime' failed to satisfy constraint: Member must be a timestamp from 1970 to 9999/.test(err.message),
    );
    await assert.rejects(
      aas.send(new PutScheduledActionCommand({ ...key, ScheduledActionName: 'bad', Schedule: 'cron(0 9 * * ? *)', Timezone: 'Mars/Olympus', ScalableTargetAction: { MinCapacity: 1 } })),
      (err: unknown) => err instanceof ValidationException && /Invalid Timezone "Mars\/Olympus"/.test(err.message),
    );
    await aas.send(new DeregisterScalableTargetCommand(key));
    assert.deepEqual((await aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: 'sagemaker' }))).ScheduledActions, [], 'deregistering a target deletes its scheduled actions');
  });
});
