// What an endpoint's rolling update (UpdateEndpoint with a RollingUpdatePolicy) holds against
// SMKIT_LOCAL_MAX_INSTANCES, through the real SDK clients over HTTP: the old fleet and one batch,
// as SageMaker provisions one batch beside the old fleet at a time, not the whole new fleet beside
// the old one (which a blue/green update still needs). Bakes are counted on a clock the test moves.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  UpdateEndpointCommand,
  type DeploymentConfig,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import type { ContainerSpec, RunningContainer } from '../backends/backend.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { deleteEndpointAndWait } from '../../../test/helpers/endpoint-deletion.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

/** A fake backend that records the most containers (one per instance here) it ever ran at once. */
class PeakBackend extends FakeBackend {
  peak = 0;
  override async start(spec: ContainerSpec): Promise<RunningContainer> {
    const c = await super.start(spec);
    this.peak = Math.max(this.peak, this.running);
    return c;
  }
}

const LIMIT = 4;
const POLL = { timeoutMs: 30_000, intervalMs: 25 };
let dir: string;
let backend: PeakBackend;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;
let clockAheadMs = 0;

describe('rolling update limit', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-rolling-limit-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new PeakBackend();
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, settings: { maxInstances: LIMIT }, deploymentNow: () => Date.now() + clockAheadMs });
    aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    for (const tag of ['old', 'new']) {
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: `rl-${tag}`, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag } } }));
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: `rl-${tag}`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: `rl-${tag}`, InitialInstanceCount: 3, InstanceType: 'ml.m5.large' }] }));
    }
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'rl-other', PrimaryContainer: { Image: 'repo/img:other', ModelDataUrl: dir, Environment: { FAKE_TAG: 'other' } } }));
    await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'rl-other', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'rl-other', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  });

  after(async () => {
    aws?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const describe = (name: string): Promise<DescribeEndpointCommandOutput> => aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

  async function createInService(name: string): Promise<void> {
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'rl-old' }));
    await until(`${name} InService`, async () => ((await describe(name)).EndpointStatus === 'InService' ? true : undefined), POLL);
  }

  async function deleteAndWait(name: string): Promise<void> {
    await deleteEndpointAndWait(aws.sagemaker, name, POLL);
    await until(`${name}'s containers stopped`, () => (backend.runningIds.some((id) => id.startsWith(`${name}/`)) ? undefined : true), POLL);
  }

  const limitError = (err: Error): boolean => err.name === 'ResourceLimitExceeded' && /is 4 Instances/.test(err.message);

  /**
   * Follows the update of `name`: at each new bake, calls `atBake` with its message (which may trip an
   * alarm) and then moves the clock past it. Returns the endpoint once it is no longer Updating.
   */
  async function drive(name: string, atBake: (message: string) => Promise<void> = async () => {}): Promise<DescribeEndpointCommandOutput> {
    let last: string | undefined;
    return until(`the update of ${name} over`, async () => {
      const d = await describe(name);
      if (d.EndpointStatus !== 'Updating') return d;
      const status = d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0];
      if (status?.Status === 'Baking' && status.StatusMessage !== last) {
        last = status.StatusMessage!;
        await atBake(last);
        clockAheadMs += (Number(/(\d+) s/.exec(last)?.[1]) + 1) * 1000;
      }
      return undefined;
    }, POLL);
  }

  const rolling = (extra: Partial<DeploymentConfig> = {}): DeploymentConfig => ({ RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 60 }, ...extra });

  test('a rolling update needs room for the old fleet and one batch: 3 old and 3 new instances under a limit of 4 complete, while a blue/green update is refused', async () => {
    await createInService('rl-ok');
    // Blue/green starts the whole new fleet beside the old one: 3 + 3 is past the limit.
    await assert.rejects(
      aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'rl-ok', EndpointConfigName: 'rl-new', DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 0 } } } })),
      limitError,
    );
    backend.peak = backend.running;
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'rl-ok', EndpointConfigName: 'rl-new', DeploymentConfig: rolling() }));
    let refusedDuringBake = 0;
    const done = await drive('rl-ok', async () => {
      // The old instances left and the next batch are held through each bake: nothing else fits.
      await assert.rejects(aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'rl-other', EndpointConfigName: 'rl-other' })), limitError);
      refusedDuringBake++;
    });
    assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.ProductionVariants?.[0]?.CurrentInstanceCount, done.FailureReason], ['InService', 'rl-new', 3, undefined]);
    assert.equal(refusedDuringBake, 3);
    assert.ok(backend.peak <= LIMIT, `at most ${LIMIT} instances ran at once, not ${backend.peak}`);
    // Once rolled out only the new fleet counts: one more instance fits.
    await until('the old fleet stopped', () => (backend.running === 3 ? true : undefined), POLL);
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'rl-other', EndpointConfigName: 'rl-other' }));
    await deleteAndWait('rl-other');
    await deleteAndWait('rl-ok');
  });

  test('an alarm during a later batch rolls back within the limit: new instances stop first where the old fleet and the new one do not both fit', async () => {
    await createInService('rl-back');
    await aws.cloudwatch.send(
      new PutMetricAlarmCommand({ AlarmName: 'rl-back-alarm', Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
    );
    backend.peak = backend.running;
    await aws.sagemaker.send(
      new UpdateEndpointCommand({ EndpointName: 'rl-back', EndpointConfigName: 'rl-new', DeploymentConfig: rolling({ AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'rl-back-alarm' }] } }) }),
    );
    // In the second bake 2 old and 2 new instances run: putting the old fleet back to 3 beside both new ones would make 5.
    const done = await drive('rl-back', async (message) => {
      if (/step 2 of 3/.test(message)) await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'rl-back-alarm', StateValue: 'ALARM', StateReason: 'forced by the test' }));
    });
    assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.ProductionVariants?.[0]?.CurrentInstanceCount, done.PendingDeploymentSummary], ['InService', 'rl-old', 3, undefined]);
    assert.match(done.FailureReason ?? '', /^CloudWatch alarm "rl-back-alarm" was in ALARM state .*the update was rolled back\.$/);
    assert.ok(backend.peak <= LIMIT, `at most ${LIMIT} instances ran at once, not ${backend.peak}`);
    await until('the new fleet stopped', () => (backend.running === 3 ? true : undefined), POLL);
    await deleteAndWait('rl-back');
  });

  test('a rolling update to a larger fleet holds up front the most any batch needs: 1 old instance and 3 new fit a limit of 4, 4 new are refused', async () => {
    await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'rl-four', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'rl-new', InitialInstanceCount: 4, InstanceType: 'ml.m5.large' }] }));
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'rl-grow', EndpointConfigName: 'rl-other' }));
    await until('rl-grow InService', async () => ((await describe('rl-grow')).EndpointStatus === 'InService' ? true : undefined), POLL);
    // The last batch runs 4 new instances beside the old one still there: 5, past the limit, though the first batch (1 + 1) fits.
    await assert.rejects(aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'rl-grow', EndpointConfigName: 'rl-four', DeploymentConfig: rolling() })), (err: Error) => limitError(err) && /request delta of 4 Instances/.test(err.message));
    assert.equal((await describe('rl-grow')).EndpointStatus, 'InService');
    backend.peak = backend.running;
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'rl-grow', EndpointConfigName: 'rl-new', DeploymentConfig: rolling() }));
    const done = await drive('rl-grow', async () => {
      // From the first bake on, the 4 instances of the last batch are held: not even one more fits.
      await assert.rejects(aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'rl-late', EndpointConfigName: 'rl-other' })), limitError);
    });
    assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.ProductionVariants?.[0]?.CurrentInstanceCount, done.FailureReason], ['InService', 'rl-new', 3, undefined]);
    assert.ok(backend.peak <= LIMIT, `at most ${LIMIT} instances ran at once, not ${backend.peak}`);
    await deleteAndWait('rl-grow');
  });

  test('a rollback that stops new instances to make room holds that room before their requests drain, so no other endpoint takes it meanwhile', async () => {
    // A limit of 5 with nothing else running: the update holds 4 (the old fleet of 3 and one batch), the rollback needs 5.
    const b5 = new PeakBackend();
    const l5 = await startLocalSageMaker({ port: 0, backendImpl: b5, startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, settings: { maxInstances: 5 }, deploymentNow: () => Date.now() + clockAheadMs });
    const c5 = localSdkClients(l5.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    const invocations: Array<Promise<unknown>> = [];
    try {
      await c5.sagemaker.send(new CreateModelCommand({ ModelName: 'old', PrimaryContainer: { Image: 'repo/img:old', ModelDataUrl: dir, Environment: { FAKE_TAG: 'old' } } }));
      // The new instances hold every answer until the test releases them.
      await c5.sagemaker.send(new CreateModelCommand({ ModelName: 'new', PrimaryContainer: { Image: 'repo/img:new', ModelDataUrl: dir, Environment: { FAKE_TAG: 'new', FAKE_HOLD: 'true' } } }));
      for (const tag of ['old', 'new']) {
        await c5.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: tag, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: tag, InitialInstanceCount: 3, InstanceType: 'ml.m5.large' }] }));
      }
      await c5.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'one', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'old', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await c5.cloudwatch.send(new PutMetricAlarmCommand({ AlarmName: 'drain-alarm', Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }));
      const describe5 = (): Promise<DescribeEndpointCommandOutput> => c5.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'drain' }));
      await c5.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'drain', EndpointConfigName: 'old' }));
      await until('drain InService', async () => ((await describe5()).EndpointStatus === 'InService' ? true : undefined), POLL);
      b5.peak = b5.running;
      await c5.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'drain', EndpointConfigName: 'new', DeploymentConfig: rolling({ AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'drain-alarm' }] } }) }));
      let refused: Error | undefined;
      let last: string | undefined;
      const done = await until('the update of drain over', async () => {
        const d = await describe5();
        if (d.EndpointStatus !== 'Updating') return d;
        const status = d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0];
        if (status?.Status !== 'Baking' || status.StatusMessage === last) return undefined;
        last = status.StatusMessage!;
        if (/step 3 of 3/.test(last)) {
          // 1 old and 3 new instances: a request held on each new one, so stopping any of them waits.
          const green = new Set(b5.started.filter((s) => s.env.FAKE_TAG === 'new').map((s) => s.id));
          const held = (): number => new Set(b5.invocations.filter((i) => green.has(i.id)).map((i) => i.id)).size;
          while (held() < green.size) {
            const before = b5.invocations.length;
            invocations.push(c5.runtime.send(new InvokeEndpointCommand({ EndpointName: 'drain', Body: '{}', ContentType: 'application/json' })));
            await until('the request reached an instance', () => (b5.invocations.length > before ? true : undefined), POLL);
          }
          await c5.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'drain-alarm', StateValue: 'ALARM', StateReason: 'forced by the test' }));
          // The old fleet of 3 beside 3 new makes 6: one new instance stops first, and waits on its request.
          await until('the rollback under way', async () => ((await describe5()).PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.StatusMessage === 'Rolling back: restoring the previous fleet.' ? true : undefined), POLL);
          refused = await c5.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'late', EndpointConfigName: 'one' })).then(() => undefined, (err: Error) => err);
          b5.release();
        }
        clockAheadMs += (Number(/(\d+) s/.exec(last)?.[1]) + 1) * 1000;
        return undefined;
      }, POLL);
      assert.equal(refused?.name, 'ResourceLimitExceeded', 'the room the rollback needs was taken while a new instance drained');
      assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', 'old', 3]);
      assert.ok(b5.peak <= 5, `at most 5 instances ran at once, not ${b5.peak}`);
      // The held requests were drained, not cut off: each was answered by the new fleet.
      b5.release();
      for (const answer of await Promise.allSettled(invocations)) assert.equal(answer.status, 'fulfilled');
    } finally {
      b5.release();
      c5.destroy();
      await l5.stop();
    }
  });
});
