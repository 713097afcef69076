// Inputs of the local CloudWatch and Application Auto Scaling over HTTP. A JSON null where the local CloudWatch or Application Auto Scaling expects a member: in the AWS
// JSON protocols a null member means "not set" (as the local SageMaker and CloudWatch Logs already
// read it), so a required member sent as null is missing and an optional one is absent. The SDKs
// never send null, so these requests are raw HTTP; what they left behind is read with the real SDKs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeScalableTargetsCommand, DescribeScalingActivitiesCommand, DescribeScalingPoliciesCommand, DescribeScheduledActionsCommand } from '@aws-sdk/client-application-auto-scaling';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';
import { CLOUDWATCH_TARGET_PREFIX } from './local-sagemaker.js';

let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

before(async () => {
  local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, settings: {} });
  clients = localSdkClients(local.url, { requestTimeoutMs: 30_000 });
});

after(async () => {
  clients?.destroy();
  await local?.stop();
});

async function call(target: string, body: unknown, version: '1.0' | '1.1'): Promise<{ status: number; body: { __type?: string; message?: string } & Record<string, unknown> }> {
  const res = await fetch(local.url, {
    method: 'POST',
    headers: { 'Content-Type': `application/x-amz-json-${version}`, 'X-Amz-Target': target },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: JSON.parse(await res.text()) as { __type?: string; message?: string } };
}

const alarm = { AlarmName: 'nulls', Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' };

test('PutMetricAlarm: a required member sent as null is missing (it created an alarm with no name); an optional one is absent', async () => {
  const cw = (operation: string, body: unknown) => call(`${CLOUDWATCH_TARGET_PREFIX}.${operation}`, body, '1.0');
  for (const [member, path] of [['AlarmName', 'alarmName'], ['EvaluationPeriods', 'evaluationPeriods'], ['ComparisonOperator', 'comparisonOperator']] as const) {
    const res = await cw('PutMetricAlarm', { ...alarm, [member]: null });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.message, `1 validation error detected: Value null at '${path}' failed to satisfy constraint: Member must not be null`);
  }
  assert.deepEqual((await clients.cloudwatch.send(new DescribeAlarmsCommand({}))).MetricAlarms, [], 'no alarm was created');
  // Optional members sent as null are not set: the alarm is created, and a null AlarmNamePrefix filters nothing.
  const created = await cw('PutMetricAlarm', { ...alarm, AlarmDescription: null, Unit: null, Tags: null, AlarmActions: null });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const described = await cw('DescribeAlarms', { AlarmNamePrefix: null, StateValue: null, MaxRecords: null });
  assert.equal(described.status, 200, JSON.stringify(described.body));
  assert.deepEqual((described.body.MetricAlarms as Array<{ AlarmName: string; AlarmActions: string[] }>).map((a) => [a.AlarmName, a.AlarmActions]), [['nulls', []]]);
  await clients.cloudwatch.send(new PutMetricAlarmCommand({ ...alarm, AlarmName: 'sdk', Statistic: 'Sum', ComparisonOperator: 'GreaterThanThreshold' }));
  assert.deepEqual((await clients.cloudwatch.send(new DescribeAlarmsCommand({}))).MetricAlarms!.map((a) => a.AlarmName), ['nulls', 'sdk']);
});

test('Application Auto Scaling: a required member sent as null is "Member must not be null", an optional one absent', async () => {
  const aas = (operation: string, body: unknown) => call(`AnyScaleFrontendService.${operation}`, body, '1.1');
  const missingNamespace = await aas('DescribeScalableTargets', { ServiceNamespace: null });
  assert.equal(missingNamespace.status, 400);
  assert.equal(missingNamespace.body.message, "1 validation error detected: Value null at 'serviceNamespace' failed to satisfy constraint: Member must not be null");
  const missingResource = await aas('RegisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: null, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' });
  assert.equal(missingResource.status, 400);
  assert.equal(missingResource.body.message, "1 validation error detected: Value null at 'resourceId' failed to satisfy constraint: Member must not be null");
  const listed = await aas('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: null, MaxResults: null, NextToken: null });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.ScalableTargets, []);
  assert.deepEqual((await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }))).ScalableTargets, []);
});

test('Application Auto Scaling: a MaxResults out of range is refused in the words of a range constraint (1 to 50, 1 to 10 for DescribeScalingPolicies)', async () => {
  const refused = async (send: Promise<unknown>, message: string) => assert.rejects(send, (err: Error) => {
    assert.equal(err.name, 'ValidationException');
    assert.equal(err.message, message);
    return true;
  });
  const ServiceNamespace = 'sagemaker' as const;
  await refused(clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace, MaxResults: 51 })), "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50");
  await refused(clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace, MaxResults: 0 })), "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1");
  await refused(clients.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace, MaxResults: 51 })), "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50");
  await refused(clients.autoscaling.send(new DescribeScheduledActionsCommand({ ServiceNamespace, MaxResults: 51 })), "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50");
  await refused(clients.autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace, MaxResults: 11 })), "1 validation error detected: Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10");
  // The bounds themselves are taken.
  assert.deepEqual((await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace, MaxResults: 50 }))).ScalableTargets, []);
  assert.deepEqual((await clients.autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace, MaxResults: 10 }))).ScalingPolicies, []);
  assert.deepEqual((await clients.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace, MaxResults: 1 }))).ScalingActivities, []);
});
