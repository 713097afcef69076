// What an endpoint's rolling update (UpdateEndpoint with a RollingUpdatePolicy) holds against
// SMKIT_LOCAL_MAX_INSTANCES, through the real SDK clients over HTTP: the old fleet and one batch,
// as SageMaker provisions one batch beside the old fleet at a time, not the whole new fleet beside
// the old one (which a blue/green update still needs). Bakes are counted on a clock the test moves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DescribeEndpointCommand,
  UpdateEndpointCommand,
  type DeploymentConfig,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { ContainerSpec, RunningContainer } from '../backends/backend.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
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
  await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: name }));
  await until(`${name} deleted`, async () => {
    try {
      await describe(name);
      return undefined;
    } catch (err) {
      return (err as Error).name === 'ValidationException' ? true : undefined;
    }
  }, POLL);
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
