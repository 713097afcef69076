// Step scaling on the local SageMaker end to end: real AWS SDK v3 clients against
// `startLocalSageMaker`, real `smkit serve` processes as instances, one CloudWatch minute
// shortened to one real second. An alarm on the endpoint's Invocations names a StepScaling
// policy in its AlarmActions and scales the variant out; a second alarm, forced with
// SetAlarmState as AWS users rehearse alarms, runs a scale-in policy.
import { after, before, test } from 'node:test';
import { setTimeout as pace } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmHistoryCommand, DisableAlarmActionsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import {
  ApplicationAutoScalingClient,
  DeregisterScalableTargetCommand,
  DescribeScalingActivitiesCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  ValidationException,
} from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient, waitUntilEndpointInService } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { settledActivities } from '../helpers/scaling-activities.js';

const ENDPOINT = 'iris-steps';
const KEY = { ServiceNamespace: 'sagemaker' as const, ResourceId: `endpoint/${ENDPOINT}/variant/AllTraffic`, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let cw: CloudWatchClient;
let aas: ApplicationAutoScalingClient;

before(async () => {
  local = await startLocalSageMaker({ port: 0, settings: { region: 'us-east-1', accountId: '111122223333' }, metricsSettings: { secondsPerMinute: 1 }, startupTimeoutMs: 60_000 });
  clients = localSdkClients(local.url);
  ({ sagemaker: sm, runtime, cloudwatch: cw, autoscaling: aas } = clients);
  await sm.send(new CreateModelCommand({ ModelName: 'iris', PrimaryContainer: { Image: 'smkit', ModelDataUrl: join(REPO_ROOT, 'models', 'iris-onnx'), Environment: { SAGEMAKER_MODEL_SERVER_WORKERS: '1' } } }));
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris-1', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'iris', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: ENDPOINT, EndpointConfigName: 'iris-1' }));
  await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
});

after(async () => {
  clients?.destroy();
  await local?.stop();
});

async function invoke(): Promise<void> {
  try {
    await runtime.send(new InvokeEndpointCommand({ EndpointName: ENDPOINT, ContentType: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
  } catch {
    // A request refused while instances change still counts as an invocation.
  }
}

async function variantCounts(): Promise<{ status: string; desired: number; current: number }> {
  const d = await sm.send(new DescribeEndpointCommand({ EndpointName: ENDPOINT }));
  const v = d.ProductionVariants!.find((x) => x.VariantName === 'AllTraffic')!;
  return { status: d.EndpointStatus!, desired: v.DesiredInstanceCount!, current: v.CurrentInstanceCount! };
}

test('a StepScaling policy named in an alarm\'s AlarmActions scales the variant out on Invocations, and a forced alarm runs the scale-in policy', async () => {
  await aas.send(new RegisterScalableTargetCommand({ ...KEY, MinCapacity: 1, MaxCapacity: 2 }));
  await assert.rejects(
    aas.send(new PutScalingPolicyCommand({ ...KEY, PolicyName: 'bad', PolicyType: 'StepScaling', StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 10, ScalingAdjustment: 1 }] } })),
    (err: unknown) => err instanceof ValidationException && /unspecified upper bound when one step adjustment has a positive upper bound/.test(err.message),
  );
  const out = await aas.send(
    new PutScalingPolicyCommand({
      ...KEY,
      PolicyName: 'scale-out',
      PolicyType: 'StepScaling',
      StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 60, MetricAggregationType: 'Maximum', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] },
    }),
  );
  assert.match(out.PolicyARN!, /^arn:aws:autoscaling:us-east-1:111122223333:scalingPolicy:[0-9a-f-]{36}:resource\/sagemaker\/endpoint\/iris-steps\/variant\/AllTraffic:policyName\/scale-out$/);
  // PolicyType left out: a new policy is StepScaling.
  const scaleIn = await aas.send(
    new PutScalingPolicyCommand({ ...KEY, PolicyName: 'scale-in', StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 60, StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }] } }),
  );
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: 'iris-busy',
      Namespace: 'AWS/SageMaker',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'EndpointName', Value: ENDPOINT }, { Name: 'VariantName', Value: 'AllTraffic' }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [out.PolicyARN!],
    }),
  );
  const described = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: KEY.ResourceId, PolicyNames: ['scale-out'] }));
  assert.equal(described.ScalingPolicies![0]!.PolicyType, 'StepScaling');
  assert.deepEqual(described.ScalingPolicies![0]!.StepScalingPolicyConfiguration!.StepAdjustments, [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }]);
  assert.deepEqual(described.ScalingPolicies![0]!.Alarms, [{ AlarmName: 'iris-busy', AlarmARN: 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:iris-busy' }]);

  // Load above 3 invocations per (one-second) minute: the alarm goes to ALARM and its action adds an instance.
  // Two invocations per probe, paced at 100 ms (far above the 3 a one-second minute the alarm needs) rather than back to back, which burnt CPU for nothing.
  await until('scale-out to 2 instances', async () => ((await variantCounts()).desired === 2 ? true : undefined), { timeoutMs: 90_000, between: () => Promise.all([invoke(), invoke(), pace(100)]) });
  await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
  assert.deepEqual(await variantCounts(), { status: 'InService', desired: 2, current: 2 });
  const history = await cw.send(new DescribeAlarmHistoryCommand({ AlarmName: 'iris-busy', HistoryItemType: 'Action' }));
  assert.ok(history.AlarmHistoryItems!.some((h) => h.HistorySummary === `Successfully executed action ${out.PolicyARN}`), 'the alarm history records the action');

  // The busy alarm may stay in ALARM a few (one-second) minutes on its last datapoints and would scale out again: its actions go off.
  await cw.send(new DisableAlarmActionsCommand({ AlarmNames: ['iris-busy'] }));
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: 'iris-idle',
      Namespace: 'AWS/SageMaker',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'EndpointName', Value: ENDPOINT }, { Name: 'VariantName', Value: 'AllTraffic' }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      AlarmActions: [scaleIn.PolicyARN!],
    }),
  );
  // The datapoints a scaling policy needs go in StateReasonData (SetAlarmState reference).
  await cw.send(new SetAlarmStateCommand({ AlarmName: 'iris-idle', StateValue: 'ALARM', StateReason: 'rehearsing a scale-in', StateReasonData: JSON.stringify({ version: '1.0', recentDatapoints: [0.0], threshold: 1.0 }) }));
  await until('scale-in to 1 instance', async () => ((await variantCounts()).desired === 1 ? true : undefined), { timeoutMs: 60_000 });
  await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
  assert.deepEqual(await variantCounts(), { status: 'InService', desired: 1, current: 1 });

  const activities = await settledActivities(aas, KEY.ResourceId!);
  assert.deepEqual(
    activities.map((a) => [a.Description, a.Cause, a.StatusCode]),
    [
      ['Setting desired instance count to 1.', 'monitor alarm iris-idle in state ALARM triggered policy scale-in', 'Successful'],
      ['Setting desired instance count to 2.', 'monitor alarm iris-busy in state ALARM triggered policy scale-out', 'Successful'],
    ],
  );

  await aas.send(new DeregisterScalableTargetCommand(KEY));
  const alarms = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['iris-busy', 'iris-idle'] }))).MetricAlarms!;
  assert.deepEqual(alarms.map((a) => [a.AlarmName, a.AlarmActions]), [['iris-busy', []], ['iris-idle', []]], 'deleting the policies (with the target) leaves the alarms without their actions');
  await cw.send(new DeleteAlarmsCommand({ AlarmNames: ['iris-busy', 'iris-idle'] }));
});

test('PutMetricAlarm refuses an alarm action that is not an ARN (ValidationError)', async () => {
  await assert.rejects(
    cw.send(new PutMetricAlarmCommand({ AlarmName: 'x', Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: ['scale-out'] })),
    (err: unknown) => err instanceof Error && /Invalid AlarmActions ARN "scale-out"/.test(err.message) && (err.name === 'ValidationError' || err.name === 'ValidationException'),
  );
});

/** Runs the AWS CLI against the local SageMaker. */
function aws(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(AWS_CLI, [...args, '--endpoint-url', local.url, '--output', 'json'], { env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const AWS_CLI = '/usr/bin/aws';
test('the documented AWS CLI steps: put-scaling-policy --policy-type StepScaling, an alarm naming it, set-alarm-state with recentDatapoints', { skip: existsSync(AWS_CLI) ? false : 'the AWS CLI v2 is not installed' }, async () => {
  await aas.send(new RegisterScalableTargetCommand({ ...KEY, MinCapacity: 1, MaxCapacity: 3 }));
  const put = await aws([
    'application-autoscaling', 'put-scaling-policy', '--service-namespace', 'sagemaker', '--resource-id', KEY.ResourceId, '--scalable-dimension', KEY.ScalableDimension,
    '--policy-name', 'cli-step', '--policy-type', 'StepScaling',
    '--step-scaling-policy-configuration', JSON.stringify({ AdjustmentType: 'ChangeInCapacity', Cooldown: 300, MetricAggregationType: 'Average', StepAdjustments: [{ MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 100, ScalingAdjustment: 1 }, { MetricIntervalLowerBound: 100, ScalingAdjustment: 2 }] }),
  ]);
  assert.equal(put.code, 0, put.stderr);
  const arn = JSON.parse(put.stdout).PolicyARN as string;
  const alarm = await aws([
    'cloudwatch', 'put-metric-alarm', '--alarm-name', 'cli-busy', '--namespace', 'AWS/SageMaker', '--metric-name', 'Invocations', '--statistic', 'Sum', '--period', '60',
    '--evaluation-periods', '1', '--threshold', '200', '--comparison-operator', 'GreaterThanOrEqualToThreshold',
    '--dimensions', `Name=EndpointName,Value=${ENDPOINT}`, 'Name=VariantName,Value=AllTraffic', '--alarm-actions', arn,
  ]);
  assert.equal(alarm.code, 0, alarm.stderr);
  const before = (await variantCounts()).desired;
  const set = await aws(['cloudwatch', 'set-alarm-state', '--alarm-name', 'cli-busy', '--state-value', 'ALARM', '--state-reason', 'rehearsal', '--state-reason-data', JSON.stringify({ version: '1.0', recentDatapoints: [250.0] })]);
  assert.equal(set.code, 0, set.stderr);
  // A breach of 50 picks the +1 step.
  await until('scale-out by 1', async () => ((await variantCounts()).desired === before + 1 ? true : undefined), { timeoutMs: 60_000 });
  const [activity] = (await aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: KEY.ResourceId, MaxResults: 1 }))).ScalingActivities!;
  assert.equal(activity!.Cause, 'monitor alarm cli-busy in state ALARM triggered policy cli-step');
  await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
  await aas.send(new DeregisterScalableTargetCommand(KEY));
  await cw.send(new DeleteAlarmsCommand({ AlarmNames: ['cli-busy'] }));
});
