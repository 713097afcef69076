// UpdateEndpoint with the local CloudWatch and Application Auto Scaling running for real, through
// the SDK clients over HTTP: a new fleet whose model answers 500 trips an alarm on the endpoint's
// Invocation5XXErrors and the update rolls back; a scaling policy an alarm invokes while an update
// runs waits for it to end. A CloudWatch minute lasts half a second here (secondsPerMinute), so
// alarms are evaluated and the scaler runs often; bakes count on a clock the tests move.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  UpdateEndpointCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { DescribeScalingActivitiesCommand, PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { DescribeAlarmHistoryCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { invocation5xxAlarm } from '../../../test/helpers/metric-alarms.js';
import { until } from '../../../test/helpers/until.js';
import { createComponentEndpoint } from '../../../test/helpers/component-host.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;
/** How far the test has moved the update clock ahead of real time. */
let clockAheadMs = 0;

const POLL = { timeoutMs: 30_000, intervalMs: 25 };

describe('deployment alarms scaling', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-alarm-rollback-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, metricsSettings: { secondsPerMinute: 0.5 }, settings: {}, deploymentNow: () => Date.now() + clockAheadMs });
    aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
  });

  after(async () => {
    aws?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const describe = (name: string): Promise<DescribeEndpointCommandOutput> => aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

  test('an alarm on Invocation5XXErrors that the new fleet trips while baking rolls the update back; the old fleet answers every request after', async () => {
    for (const [name, env] of [['ar-good', { FAKE_TAG: 'good' }], ['ar-bad', { FAKE_TAG: 'bad', FAKE_STATUS: '500' }]] as const) {
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: `repo/img:${name}`, ModelDataUrl: dir, Environment: env } }));
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
    }
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'ar', EndpointConfigName: 'ar-good' }));
    await until('InService', async () => ((await describe('ar')).EndpointStatus === 'InService' ? true : undefined), POLL);
    await aws.cloudwatch.send(new PutMetricAlarmCommand(invocation5xxAlarm('ar-5xx', 'ar', 'AllTraffic', 'notBreaching')));

    // One request at a time; each answer or error is kept with whether the update was over when it was sent.
    const answers: Array<{ tag?: string; error?: string; status?: number; afterRollback: boolean }> = [];
    let rolledBack = false;
    let running = true;
    const loop = (async () => {
      while (running) {
        const afterRollback = rolledBack;
        try {
          const out = await aws.runtime.send(new InvokeEndpointCommand({ EndpointName: 'ar', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
          answers.push({ tag: (JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string }).tag, afterRollback });
        } catch (err) {
          answers.push({ error: (err as Error).name, status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, afterRollback });
        }
      }
    })();
    let done: DescribeEndpointCommandOutput;
    try {
      await aws.sagemaker.send(
        new UpdateEndpointCommand({
          EndpointName: 'ar',
          EndpointConfigName: 'ar-bad',
          DeploymentConfig: {
            BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 3600 } },
            AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'ar-5xx' }] },
          },
        }),
      );
      done = await until('rolled back', async () => {
        const d = await describe('ar');
        return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? d : undefined;
      }, POLL);
      rolledBack = true;
      const seen = answers.length;
      await until('requests answered after the rollback', () => (answers.filter((a) => a.afterRollback).length >= 10 && answers.length > seen ? true : undefined), POLL);
    } finally {
      running = false;
      await loop;
    }
    assert.equal(done.EndpointConfigName, 'ar-good');
    assert.equal(done.FailureReason, 'CloudWatch alarm "ar-5xx" was in ALARM state while the new endpoint configuration "ar-bad" was baking; the update was rolled back.');
    const history = (await aws.cloudwatch.send(new DescribeAlarmHistoryCommand({ AlarmName: 'ar-5xx', HistoryItemType: 'StateUpdate' }))).AlarmHistoryItems!;
    assert.ok(history.some((h) => / to ALARM$/.test(h.HistorySummary ?? '')), `the alarm went to ALARM: ${history.map((h) => h.HistorySummary).join('; ')}`);
    const failures = answers.filter((a) => a.error !== undefined);
    assert.ok(failures.length > 0, 'the canary answered some requests with its 500');
    assert.deepEqual(new Set(failures.map((a) => `${a.error} ${a.status}`)), new Set(['ModelError 424']), "only the new model's own errors, never a 5xx of the endpoint");
    assert.deepEqual(
      answers.filter((a) => a.afterRollback && a.tag !== 'good'),
      [],
      'after the rollback every request is answered by the old fleet',
    );
  });

  test('a step policy an alarm invokes while UpdateEndpoint runs is applied once the update is over, to the new fleet (scaling is blocked meanwhile)', async () => {
    for (const name of ['as-old', 'as-new']) {
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: `repo/img:${name}`, ModelDataUrl: dir, Environment: { FAKE_TAG: name } } }));
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
    }
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'as', EndpointConfigName: 'as-old' }));
    await until('InService', async () => ((await describe('as')).EndpointStatus === 'InService' ? true : undefined), POLL);
    const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/as/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aws.autoscaling.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 1, MaxCapacity: 4 }));
    const { PolicyARN } = await aws.autoscaling.send(
      new PutScalingPolicyCommand({
        ...target,
        PolicyName: 'as-out',
        PolicyType: 'StepScaling',
        StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', Cooldown: 0, MetricAggregationType: 'Maximum', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] },
      }),
    );
    await aws.cloudwatch.send(
      new PutMetricAlarmCommand({ AlarmName: 'as-busy', Namespace: 'Test', MetricName: 'Busy', Statistic: 'Maximum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: [PolicyARN!] }),
    );
    await aws.sagemaker.send(
      new UpdateEndpointCommand({
        EndpointName: 'as',
        EndpointConfigName: 'as-new',
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 } } },
      }),
    );
    await until('baking', async () => ((await describe('as')).PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.Status === 'Baking' ? true : undefined), POLL);
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'as-busy', StateValue: 'ALARM', StateReason: 'load', StateReasonData: JSON.stringify({ version: '1.0', recentDatapoints: [5] }) }));
    await until('the alarm invoked the policy', async () => {
      const history = (await aws.cloudwatch.send(new DescribeAlarmHistoryCommand({ AlarmName: 'as-busy', HistoryItemType: 'Action' }))).AlarmHistoryItems!;
      return history.some((h) => /^Successfully executed action/.test(h.HistorySummary ?? '')) ? true : undefined;
    }, POLL);
    // Back to OK before the update ends: an alarm that stays in ALARM invokes its policy again each
    // CloudWatch minute (half a second here), and with Cooldown 0 each later invocation applied
    // after the update would scale out once more (to 4, past the 3 awaited below).
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'as-busy', StateValue: 'OK', StateReason: 'quiet' }));
    const baking = await describe('as');
    assert.deepEqual([baking.EndpointStatus, baking.ProductionVariants?.[0]?.DesiredInstanceCount, baking.PendingDeploymentSummary?.ProductionVariants?.[0]?.DesiredInstanceCount], ['Updating', 2, 2]);
    clockAheadMs += 601_000;
    // What the wait last saw, for its failure message: it timed out once in a loaded full suite run.
    let lastSeen = 'nothing yet';
    const scaled = await until(
      'the new fleet scaled out',
      async () => {
        const d = await describe('as');
        const activities = (await aws.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId, IncludeNotScaledActivities: true }))).ScalingActivities!;
        lastSeen = JSON.stringify({ status: d.EndpointStatus, config: d.EndpointConfigName, variant: d.ProductionVariants?.[0], failure: d.FailureReason, activities: activities.map((a) => [a.StatusCode, a.Description, a.StatusMessage]) });
        // The scaling activity is InProgress until SageMaker has carried the change out.
        return d.EndpointStatus === 'InService' && d.EndpointConfigName === 'as-new' && d.ProductionVariants?.[0]?.CurrentInstanceCount === 3 && activities[0]?.StatusCode !== 'InProgress' ? d : undefined;
      },
      { ...POLL, timeoutMs: 60_000, detail: () => `last seen: ${lastSeen}` },
    );
    assert.equal(scaled.FailureReason, undefined);
    const activities = (await aws.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId, IncludeNotScaledActivities: true }))).ScalingActivities!;
    // Had the scaler acted during the update, SageMaker would have refused it and the invocation would be spent.
    assert.deepEqual(
      activities.map((a) => [a.StatusCode, a.Description]),
      [['Successful', 'Setting desired instance count to 3.']],
    );
  });

  test("a scaling activity ends Successful once SageMaker has carried its change out, though an UpdateEndpoint replaces the fleet before the scaler's next pass", async () => {
    // A CloudWatch minute of a real minute: the scaler passes every 2 s, so the update below starts between two passes.
    const slow = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, healthCheckMs: 0, metricsSettings: { secondsPerMinute: 60 }, settings: {} });
    const clients = localSdkClients(slow.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    try {
      const describeSlow = (name: string): Promise<DescribeEndpointCommandOutput> => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));
      await clients.sagemaker.send(new CreateModelCommand({ ModelName: 'sa', PrimaryContainer: { Image: 'repo/img:sa', ModelDataUrl: dir } }));
      for (const [config, count] of [['sa-1', 1], ['sa-2', 1]] as const) {
        await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: config, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'sa', InitialInstanceCount: count, InstanceType: 'ml.m5.large' }] }));
      }
      await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'sa', EndpointConfigName: 'sa-1' }));
      await until('InService', async () => ((await describeSlow('sa')).EndpointStatus === 'InService' ? true : undefined), POLL);
      const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/sa/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
      // Below its MinCapacity, the variant is brought to 2 instances at the scaler's next pass.
      await clients.autoscaling.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 2, MaxCapacity: 4 }));
      await until('InService with 2 instances', async () => {
        const d = await describeSlow('sa');
        return d.EndpointStatus === 'InService' && d.ProductionVariants?.[0]?.CurrentInstanceCount === 2 ? true : undefined;
      }, POLL);
      const activities = async () => (await clients.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId }))).ScalingActivities!;
      // Fulfilled the moment the endpoint is InService at 2, not at the scaler's next pass.
      assert.deepEqual((await activities()).map((a) => [a.StatusCode, a.StatusMessage]), [['Successful', 'Successfully set desired instance count to 2. Change successfully fulfilled by sagemaker.']]);
      // An update to a config of 1 instance: the scaler's next pass reads 1, which its change to 2 did not fail to reach.
      await clients.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'sa', EndpointConfigName: 'sa-2' }));
      await until('InService on sa-2', async () => ((await describeSlow('sa')).EndpointConfigName === 'sa-2' && (await describeSlow('sa')).EndpointStatus === 'InService' ? true : undefined), POLL);
      const all = await activities();
      assert.deepEqual(all[all.length - 1]!.StatusCode, 'Successful', JSON.stringify(all.map((a) => [a.StatusCode, a.StatusMessage])));
    } finally {
      await clients.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'sa' })).catch(() => {});
      clients.destroy();
      await slow.stop();
    }
  });

  test("an inference component's scaling activity ends Successful once its copies are in service, though its copy count is changed again before the scaler's next pass", async () => {
    const slow = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, healthCheckMs: 0, metricsSettings: { secondsPerMinute: 60 }, settings: {} });
    const clients = localSdkClients(slow.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    try {
      await createComponentEndpoint(clients.sagemaker, 'ic-host', POLL);
      await clients.sagemaker.send(
        new CreateInferenceComponentCommand({ InferenceComponentName: 'ic', EndpointName: 'ic-host', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } }),
      );
      const component = () => clients.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic' }));
      await until('component InService', async () => ((await component()).InferenceComponentStatus === 'InService' ? true : undefined), POLL);
      const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/ic', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' as const };
      // Below its MinCapacity, the component is brought to 2 copies at the scaler's next pass.
      await clients.autoscaling.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 2, MaxCapacity: 4 }));
      await until('InService with 2 copies', async () => {
        const c = await component();
        return c.InferenceComponentStatus === 'InService' && c.RuntimeConfig?.CurrentCopyCount === 2 ? true : undefined;
      }, POLL);
      const activities = async () => (await clients.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId }))).ScalingActivities!;
      assert.deepEqual((await activities()).map((a) => [a.StatusCode, a.StatusMessage]), [['Successful', 'Successfully set desired copy count to 2. Change successfully fulfilled by sagemaker.']]);
      await clients.sagemaker.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'ic', DesiredRuntimeConfig: { CopyCount: 3 } }));
      await until('InService with 3 copies', async () => ((await component()).RuntimeConfig?.CurrentCopyCount === 3 && (await component()).InferenceComponentStatus === 'InService' ? true : undefined), POLL);
      const all = await activities();
      assert.equal(all[all.length - 1]!.StatusCode, 'Successful', JSON.stringify(all.map((a) => [a.StatusCode, a.StatusMessage])));
    } finally {
      clients.destroy();
      await slow.stop();
    }
  });
  test("a copy count change that waits for room settles at once: its scaling activity ends Successful, though the copy count is changed again before the scaler's next pass", async () => {
    const slow = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, healthCheckMs: 0, metricsSettings: { secondsPerMinute: 60 }, settings: {} });
    const clients = localSdkClients(slow.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    try {
      await createComponentEndpoint(clients.sagemaker, 'ic-full', POLL);
      // 20 GB a copy on one 32 GiB instance: a second copy waits for room, and the change asking for it settles without starting one.
      await clients.sagemaker.send(
        new CreateInferenceComponentCommand({ InferenceComponentName: 'icw', EndpointName: 'ic-full', Specification: { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 20_000 } }, RuntimeConfig: { CopyCount: 1 } }),
      );
      const component = () => clients.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'icw' }));
      await until('component InService', async () => ((await component()).InferenceComponentStatus === 'InService' ? true : undefined), POLL);
      const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'inference-component/icw', ScalableDimension: 'sagemaker:inference-component:DesiredCopyCount' as const };
      await clients.autoscaling.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 2, MaxCapacity: 4 }));
      await until('InService with 2 copies desired', async () => {
        const c = await component();
        return c.InferenceComponentStatus === 'InService' && c.RuntimeConfig?.DesiredCopyCount === 2 ? c : undefined;
      }, POLL);
      const activities = async () => (await clients.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId }))).ScalingActivities!;
      // Before the scaler's next pass, which would read the count changed below.
      await clients.sagemaker.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'icw', DesiredRuntimeConfig: { CopyCount: 1 } }));
      const all = await activities();
      assert.deepEqual(all.map((a) => [a.StatusCode, a.StatusMessage]), [['Successful', 'Successfully set desired copy count to 2. Change successfully fulfilled by sagemaker.']]);
    } finally {
      clients.destroy();
      await slow.stop();
    }
  });
});
