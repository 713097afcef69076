// UpdateEndpoint with a DeploymentConfig, through the real SDK clients over HTTP: the steps of
// canary, linear and rolling updates, what DescribeEndpoint says while an update rolls back (an
// alarm, MaximumExecutionTimeoutInSeconds), and DeleteEndpoint in the middle of it. Bakes are
// counted on a clock the tests move (deploymentNow): nothing waits for a bake to pass.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as pace } from 'node:timers/promises';
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
  UpdateEndpointWeightsAndCapacitiesCommand,
  type DeploymentConfig,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { deleteEndpointAndWait } from '../../../test/helpers/endpoint-deletion.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let backend: FakeBackend;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;
/** How far the tests have moved the update clock ahead of real time. */
let clockAheadMs = 0;
/** Sees each progress line of the local SageMaker as it is said (synchronously, in step with the update). */
let onProgress: ((line: string) => void) | undefined;

// The limit only ends a hang: an update's steps are many SDK calls and instance starts in this one
// process, and on a loaded machine a rolling update with its rollback (MaximumExecutionTimeoutInSeconds
// test) took past 30 s once (1 in 9 runs of the file beside endpoint-lifecycle in a flake-hunt loop).
const POLL = { timeoutMs: 120_000, intervalMs: 25 };

describe('deployment guardrails', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-guardrails-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new FakeBackend();
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, settings: {}, deploymentNow: () => Date.now() + clockAheadMs, progress: (line) => onProgress?.(line) });
    aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    // Every invocation is held in flight until the test releases it: a fleet stops only once its
    // requests have finished, so a held request keeps a rollback (or a deletion) under way.
    for (const [name, tag] of [['gr-blue', 'blue'], ['gr-green', 'green']] as const) {
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: name, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag, FAKE_HOLD: 'true' } } }));
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
  });

  after(async () => {
    backend?.release();
    aws?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const describe = (name: string): Promise<DescribeEndpointCommandOutput> => aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

  /** The pending deployment's variant status (Creating, ActivatingTraffic, Baking, Deleting), if any. */
  const pendingStatus = (d: DescribeEndpointCommandOutput): string | undefined => d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.Status;

  /** Id of the running container started from the model tagged `tag`. */
  function container(tag: string): string {
    const ids = new Set(backend.runningIds);
    const spec = backend.started.find((s) => s.env.FAKE_TAG === tag && ids.has(s.id));
    assert.ok(spec, `a running ${tag} container`);
    return spec.id;
  }

  /** Sends an invocation and waits until the container of `tag` holds it. */
  async function holdInvocation(endpoint: string, tag: string): Promise<{ answer: Promise<unknown> }> {
    const id = container(tag);
    const seen = backend.invocations.filter((i) => i.id === id).length;
    const answer = aws.runtime.send(new InvokeEndpointCommand({ EndpointName: endpoint, Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    answer.catch(() => {});
    await until(`the ${tag} container holding an invocation`, () => (backend.invocations.filter((i) => i.id === id).length > seen ? true : undefined), POLL);
    // Wrapped: an async function returning the promise itself would wait for the answer.
    return { answer };
  }

  /** Creates `endpoint` on gr-blue, starts an all-at-once update to gr-green that bakes, and trips its alarm. */
  async function rollingBackUpdate(endpoint: string): Promise<{ deploymentConfig: DeploymentConfig; greenAnswer: Promise<unknown> }> {
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'gr-blue' }));
    await until('InService', async () => ((await describe(endpoint)).EndpointStatus === 'InService' ? true : undefined), POLL);
    const alarm = `${endpoint}-alarm`;
    // An hour-long period: no evaluation undoes the forced ALARM before the update reads it.
    await aws.cloudwatch.send(
      new PutMetricAlarmCommand({ AlarmName: alarm, Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
    );
    const deploymentConfig: DeploymentConfig = {
      BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 }, TerminationWaitInSeconds: 0 },
      AutoRollbackConfiguration: { Alarms: [{ AlarmName: alarm }] },
    };
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'gr-green', DeploymentConfig: deploymentConfig }));
    await until('baking', async () => (pendingStatus(await describe(endpoint)) === 'Baking' ? true : undefined), POLL);
    const { answer: greenAnswer } = await holdInvocation(endpoint, 'green');
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarm, StateValue: 'ALARM', StateReason: 'forced by the test' }));
    return { deploymentConfig, greenAnswer };
  }

  /** Deletes an endpoint and waits until it is gone. */
  const deleteAndWait = (name: string): Promise<void> => deleteEndpointAndWait(aws.sagemaker, name, POLL);

  test('while an endpoint is Creating, PendingDeploymentSummary shows its config and variants Creating; once InService it is gone', async () => {
    // /ping answers 503 until released: the endpoint stays Creating while it is described.
    backend.readyAfterMs = 60_000;
    let d: DescribeEndpointCommandOutput;
    try {
      await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'gr-creating', EndpointConfigName: 'gr-blue' }));
      d = await describe('gr-creating');
    } finally {
      backend.readyAfterMs = undefined;
      await deleteAndWait('gr-creating');
    }
    assert.equal(d.EndpointStatus, 'Creating');
    assert.equal(d.PendingDeploymentSummary?.EndpointConfigName, 'gr-blue');
    assert.deepEqual(d.PendingDeploymentSummary?.StartTime, d.CreationTime);
    assert.deepEqual(
      d.PendingDeploymentSummary?.ProductionVariants?.map((v) => [v.VariantName, v.InstanceType, v.CurrentInstanceCount, v.DesiredInstanceCount, v.VariantStatus?.[0]?.Status]),
      [['AllTraffic', 'ml.m5.large', 0, 1, 'Creating']],
    );
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'gr-created', EndpointConfigName: 'gr-blue' }));
    try {
      const done = await until('InService', async () => {
        const out = await describe('gr-created');
        return out.EndpointStatus === 'InService' ? out : undefined;
      }, POLL);
      assert.equal(done.PendingDeploymentSummary, undefined);
    } finally {
      // The tests below pick the running container of a model: none of these may be left.
      await deleteAndWait('gr-created');
    }
  });

  test('while an update starts its new fleet, PendingDeploymentSummary shows the weight and instance count RetainAllVariantProperties keeps, and the new shadow variant', async () => {
    await aws.sagemaker.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'gr-shadowed',
        ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'gr-green', InitialInstanceCount: 1, InitialVariantWeight: 2, InstanceType: 'ml.m5.large', AcceleratorType: 'ml.eia2.medium' }],
        ShadowProductionVariants: [{ VariantName: 'Shadow', ModelName: 'gr-green', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
      }),
    );
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'gr-pending', EndpointConfigName: 'gr-blue' }));
    let d: DescribeEndpointCommandOutput;
    try {
      await until('InService', async () => ((await describe('gr-pending')).EndpointStatus === 'InService' ? true : undefined), POLL);
      await aws.sagemaker.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'gr-pending', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 3, DesiredWeight: 5 }] }));
      await until('scaled to 3', async () => {
        const out = await describe('gr-pending');
        return out.EndpointStatus === 'InService' && out.ProductionVariants?.[0]?.CurrentInstanceCount === 3 ? true : undefined;
      }, POLL);
      // /ping answers 503 until released: the new fleet stays Creating while it is described.
      backend.readyAfterMs = 60_000;
      await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-pending', EndpointConfigName: 'gr-shadowed', RetainAllVariantProperties: true }));
      d = await describe('gr-pending');
    } finally {
      backend.readyAfterMs = undefined;
      await deleteAndWait('gr-pending');
    }
    assert.equal(d.EndpointStatus, 'Updating');
    const summary = (list: DescribeEndpointCommandOutput['ProductionVariants']) => list?.map((v) => [v.VariantName, v.CurrentWeight, v.DesiredWeight, v.CurrentInstanceCount, v.DesiredInstanceCount, v.VariantStatus?.[0]?.Status]);
    assert.deepEqual(summary(d.PendingDeploymentSummary?.ProductionVariants), [['AllTraffic', 0, 5, 0, 3, 'Creating']], "the serving variant's weight 5 and 3 instances, not the config's 2 and 1");
    assert.deepEqual(summary(d.PendingDeploymentSummary?.ShadowProductionVariants), [['Shadow', 0, 1, 0, 1, 'Creating']]);
    // PendingProductionVariantSummary has AcceleratorType and InstanceType (botocore's SageMaker model).
    assert.deepEqual(d.PendingDeploymentSummary?.ProductionVariants?.map((v) => [v.InstanceType, v.AcceleratorType]), [['ml.m5.large', 'ml.eia2.medium']]);
  });

  test('a rolling update to or from an endpoint with several production variants is a ValidationException (with a BlueGreenUpdatePolicy too, one saying to give only one); the endpoint keeps serving', async () => {
    await aws.sagemaker.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'gr-two',
        ProductionVariants: ['gr-blue', 'gr-green'].map((m, i) => ({ VariantName: `V${i + 1}`, ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const })),
      }),
    );
    const rolling: DeploymentConfig = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } };
    for (const [endpoint, from, to] of [['gr-one-to-two', 'gr-blue', 'gr-two'], ['gr-two-to-one', 'gr-two', 'gr-green']] as const) {
      await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: from }));
      try {
        await until('InService', async () => ((await describe(endpoint)).EndpointStatus === 'InService' ? true : undefined), POLL);
        await assert.rejects(aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: to, DeploymentConfig: rolling })), (err: Error) => {
          assert.equal(err.name, 'ValidationException');
          assert.match(err.message, /^A rolling deployment \(RollingUpdatePolicy\) is not supported for endpoints with more than one production variant, and .* has 2 \(V1, V2\)\. Use a BlueGreenUpdatePolicy or no DeploymentConfig\.$/);
          return true;
        });
        // Both policies at once: the answer says to give one, not to use the BlueGreenUpdatePolicy it was given.
        const both: DeploymentConfig = { ...rolling, BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 0 } } };
        await assert.rejects(aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: to, DeploymentConfig: both })), (err: Error) => {
          assert.equal(err.name, 'ValidationException');
          assert.equal(err.message, 'DeploymentConfig can have either BlueGreenUpdatePolicy or RollingUpdatePolicy, not both.');
          return true;
        });
        const d = await describe(endpoint);
        assert.deepEqual([d.EndpointStatus, d.EndpointConfigName, d.PendingDeploymentSummary], ['InService', from, undefined]);
      } finally {
        await deleteAndWait(endpoint);
      }
    }
  });

  test('an UpdateEndpoint that rolls back stays Updating until it is InService on the old config; FailureReason says why, LastDeploymentConfig is the update\'s', async () => {
    const { deploymentConfig, greenAnswer } = await rollingBackUpdate('gr-rollback');
    // The held invocation keeps the new fleet draining, so the rollback is seen while it runs.
    const rolling = await until('rolling back', async () => {
      const d = await describe('gr-rollback');
      return pendingStatus(d) === 'Deleting' ? d : undefined;
    }, POLL);
    assert.equal(rolling.EndpointStatus, 'Updating', 'RollingBack is for UpdateEndpointWeightsAndCapacities changes being undone');
    assert.equal(rolling.EndpointConfigName, 'gr-blue');
    assert.equal(rolling.PendingDeploymentSummary?.EndpointConfigName, 'gr-green');
    backend.release(container('green'));
    await greenAnswer;
    const done = await until('rolled back', async () => {
      const d = await describe('gr-rollback');
      return d.EndpointStatus === 'InService' ? d : undefined;
    }, POLL);
    assert.equal(done.EndpointConfigName, 'gr-blue');
    assert.equal(done.PendingDeploymentSummary, undefined);
    assert.match(done.FailureReason ?? '', /CloudWatch alarm "gr-rollback-alarm" was in ALARM state/);
    assert.deepEqual(done.LastDeploymentConfig, deploymentConfig);
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'gr-rollback' }));
  });

  test('DeleteEndpoint while an update rolls back: the endpoint stays Deleting until it is gone, never InService again', async () => {
    const { greenAnswer } = await rollingBackUpdate('gr-delete');
    await until('rolling back', async () => (pendingStatus(await describe('gr-delete')) === 'Deleting' ? true : undefined), POLL);
    // A request held by the old fleet keeps the deletion from finishing once the rollback has.
    const { answer: blueAnswer } = await holdInvocation('gr-delete', 'blue');
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'gr-delete' }));
    assert.equal((await describe('gr-delete')).EndpointStatus, 'Deleting');
    backend.release(container('green'));
    await greenAnswer;
    const rolledBack = await until('the rollback over', async () => {
      const d = await describe('gr-delete');
      return d.PendingDeploymentSummary === undefined ? d : undefined;
    }, POLL);
    assert.equal(rolledBack.EndpointStatus, 'Deleting');
    backend.release(container('blue'));
    await blueAnswer;
    await until('deleted', async () => {
      try {
        const d = await describe('gr-delete');
        assert.equal(d.EndpointStatus, 'Deleting');
        return undefined;
      } catch (err) {
        return (err as Error).name === 'ValidationException' ? true : undefined;
      }
    }, POLL);
  });

  test('a rolling update whose rollback cannot restore the old fleet is UpdateRollbackFailed, serving both configs, until deleted', async () => {
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'gr-a', PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir, Environment: { FAKE_TAG: 'a' } } }));
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'gr-b', PrimaryContainer: { Image: 'repo/img:b', ModelDataUrl: dir, Environment: { FAKE_TAG: 'b' } } }));
    for (const m of ['gr-a', 'gr-b']) {
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: `${m}3`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 3, InstanceType: 'ml.m5.large' }] }));
    }
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'gr-mix', EndpointConfigName: 'gr-a3' }));
    await until('InService', async () => ((await describe('gr-mix')).EndpointStatus === 'InService' ? true : undefined), POLL);
    // Once the first batch takes traffic, no instance starts any more: the second batch fails, and
    // so does putting back the old instance retired after the first.
    onProgress = (line) => {
      if (/endpoint gr-mix: \d+% of traffic on gr-b3/.test(line)) backend.failStarts = true;
    };
    try {
      await aws.sagemaker.send(
        new UpdateEndpointCommand({ EndpointName: 'gr-mix', EndpointConfigName: 'gr-b3', DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } } }),
      );
      const d = await until('the update over', async () => {
        const out = await describe('gr-mix');
        return out.EndpointStatus === 'Updating' ? undefined : out;
      }, POLL);
      assert.equal(d.EndpointStatus, 'UpdateRollbackFailed', d.FailureReason);
      assert.match(d.FailureReason ?? '', /A batch of the new fleet .* did not start; the update was rolled back.* Restoring the previous fleet failed as well/);
      assert.equal(d.ProductionVariants?.[0]?.CurrentInstanceCount, 2);
      assert.equal(d.PendingDeploymentSummary?.EndpointConfigName, 'gr-b3');
      assert.equal(d.PendingDeploymentSummary?.ProductionVariants?.[0]?.CurrentInstanceCount, 1);
    } finally {
      onProgress = undefined;
      backend.failStarts = false;
    }
    const tags = new Set<string>();
    await until('answers from both configs', async () => {
      const out = await aws.runtime.send(new InvokeEndpointCommand({ EndpointName: 'gr-mix', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
      tags.add((JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string }).tag);
      return tags.size === 2 ? true : undefined;
    }, POLL);
    await assert.rejects(
      aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-mix', EndpointConfigName: 'gr-a3' })),
      (err: Error) => err.name === 'ValidationException' && /is UpdateRollbackFailed .* Delete the endpoint/.test(err.message),
    );
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'gr-mix' }));
    await until('deleted', async () => {
      try {
        await describe('gr-mix');
        return undefined;
      } catch (err) {
        return (err as Error).name === 'ValidationException' ? true : undefined;
      }
    }, POLL);
  });

  /** Models whose containers answer at once (tagged c and d), with configs of 3 and 4 instances. */
  let quickModels: Promise<void> | undefined;
  function createQuickModels(): Promise<void> {
    quickModels ??= (async () => {
      for (const tag of ['c', 'd']) {
        await aws.sagemaker.send(new CreateModelCommand({ ModelName: `gr-${tag}`, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag } } }));
        for (const count of [3, 4]) {
          await aws.sagemaker.send(
            new CreateEndpointConfigCommand({ EndpointConfigName: `gr-${tag}${count}`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: `gr-${tag}`, InitialInstanceCount: count, InstanceType: 'ml.m5.large' }] }),
          );
        }
      }
    })();
    return quickModels;
  }

  /** Creates `endpoint` on `configName` and waits until it is InService. */
  async function createInService(endpoint: string, configName: string): Promise<void> {
    await createQuickModels();
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: configName }));
    await until(`${endpoint} InService`, async () => ((await describe(endpoint)).EndpointStatus === 'InService' ? true : undefined), POLL);
  }

  /**
   * Pause of the traffic loop between its invocations. Back to back, SDK invocations of the fake
   * containers took most of this file's CPU while updates waited on polls; paced, the loop still
   * sends a hundred or more a second through every step of an update.
   */
  const TRAFFIC_GAP_MS = 5;

  /** Invokes `endpoint` through the runtime SDK (one attempt each, paced by {@link TRAFFIC_GAP_MS}) in a loop until stopped; counts answers by tag and keeps every error. */
  function traffic(endpoint: string): { tags: Map<string, number>; failures: string[]; stop(): Promise<void> } {
    const tags = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    const loops = [0].map(async () => {
      while (running) {
        try {
          const out = await aws.runtime.send(new InvokeEndpointCommand({ EndpointName: endpoint, Body: Buffer.from('[1]'), ContentType: 'application/json' }));
          const { tag } = JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string };
          tags.set(tag, (tags.get(tag) ?? 0) + 1);
        } catch (err) {
          failures.push(`${(err as Error).name}: ${(err as Error).message}`);
        }
        await pace(TRAFFIC_GAP_MS);
      }
    });
    return {
      tags,
      failures,
      async stop() {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  /**
   * Follows the update of `endpoint` under way: each time a new bake (or termination wait) begins,
   * moves the update clock past it. Returns the Baking messages in order, and the endpoint once it
   * is no longer Updating.
   */
  async function drive(endpoint: string): Promise<{ bakes: string[]; done: DescribeEndpointCommandOutput }> {
    const bakes: string[] = [];
    const done = await until(`the update of ${endpoint} over`, async () => {
      const d = await describe(endpoint);
      if (d.EndpointStatus !== 'Updating') return d;
      const status = d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0];
      if (status?.Status === 'Baking' && status.StatusMessage !== bakes.at(-1)) {
        bakes.push(status.StatusMessage!);
        clockAheadMs += (Number(/(\d+) s/.exec(status.StatusMessage!)?.[1]) + 1) * 1000;
      }
      return undefined;
    }, POLL);
    return { bakes, done };
  }

  const sendUpdate = (endpoint: string, configName: string, deploymentConfig: DeploymentConfig) =>
    aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: configName, DeploymentConfig: deploymentConfig }));

  const blueGreen = (routing: NonNullable<DeploymentConfig['BlueGreenUpdatePolicy']>['TrafficRoutingConfiguration'], extra: Partial<NonNullable<DeploymentConfig['BlueGreenUpdatePolicy']>> = {}): DeploymentConfig => ({
    BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: routing, ...extra },
  });

  test('canary and linear steps by INSTANCE_COUNT and CAPACITY_PERCENT; UpdateEndpoint and capacity changes are refused while Updating; no invocation fails', async () => {
    await createInService('gr-steps', 'gr-c4');
    const arn = (await describe('gr-steps')).EndpointArn!;
    const load = traffic('gr-steps');
    try {
      const bake = (share: number, step: number, of: number) => `Baking for 600 s with ${share}% of traffic on the new fleet (step ${step} of ${of}).`;
      await sendUpdate('gr-steps', 'gr-d4', blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 }));
      await assert.rejects(aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-steps', EndpointConfigName: 'gr-c4' })), (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.equal(err.message, `Cannot update in-progress endpoint "${arn}".`);
        return true;
      });
      // What Application Auto Scaling would call: scaling is blocked while the update runs.
      await assert.rejects(
        aws.sagemaker.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'gr-steps', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 5 }] })),
        (err: Error) => err.name === 'ValidationException' && err.message === `Cannot update in-progress endpoint "${arn}".`,
      );
      let run = await drive('gr-steps');
      assert.deepEqual(run.bakes, [bake(25, 1, 2), bake(100, 2, 2)], 'one instance of four is a 25% canary');
      assert.deepEqual([run.done.EndpointStatus, run.done.EndpointConfigName, run.done.FailureReason], ['InService', 'gr-d4', undefined]);

      await sendUpdate('gr-steps', 'gr-c4', blueGreen({ Type: 'LINEAR', LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 30 }, WaitIntervalInSeconds: 600 }, { TerminationWaitInSeconds: 120 }));
      run = await drive('gr-steps');
      assert.deepEqual(run.bakes, [bake(30, 1, 4), bake(60, 2, 4), bake(90, 3, 4), bake(100, 4, 4), 'Waiting 120 s (TerminationWaitInSeconds) before stopping the old fleet.']);
      assert.deepEqual([run.done.EndpointStatus, run.done.EndpointConfigName], ['InService', 'gr-c4']);

      // A rollback alarm the local CloudWatch does not have is never in ALARM: read before each step and while baking, it rolls nothing back.
      await sendUpdate('gr-steps', 'gr-d4', {
        ...blueGreen({ Type: 'CANARY', CanarySize: { Type: 'CAPACITY_PERCENT', Value: 50 }, WaitIntervalInSeconds: 600 }),
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'gr-no-such-alarm' }] },
      });
      run = await drive('gr-steps');
      assert.deepEqual(run.bakes, [bake(50, 1, 2), bake(100, 2, 2)]);
      assert.deepEqual([run.done.EndpointStatus, run.done.EndpointConfigName, run.done.FailureReason], ['InService', 'gr-d4', undefined]);

      await sendUpdate('gr-steps', 'gr-c4', blueGreen({ Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 }));
      run = await drive('gr-steps');
      assert.deepEqual(run.bakes, [bake(25, 1, 4), bake(50, 2, 4), bake(75, 3, 4), bake(100, 4, 4)]);
      assert.deepEqual([run.done.EndpointStatus, run.done.EndpointConfigName, run.done.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', 'gr-c4', 4]);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures, []);
    assert.ok((load.tags.get('c') ?? 0) > 0 && (load.tags.get('d') ?? 0) > 0, `both configs answered: ${JSON.stringify([...load.tags])}`);
    await deleteAndWait('gr-steps');
  });

  test('an alarm already in ALARM when an update starts rolls it back before any traffic reaches the new fleet', async () => {
    await createInService('gr-early', 'gr-c4');
    await aws.cloudwatch.send(
      new PutMetricAlarmCommand({ AlarmName: 'gr-early-alarm', Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
    );
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'gr-early-alarm', StateValue: 'ALARM', StateReason: 'already firing' }));
    const load = traffic('gr-early');
    let done: DescribeEndpointCommandOutput;
    try {
      await sendUpdate('gr-early', 'gr-d4', {
        ...blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 }),
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'gr-early-alarm' }] },
      });
      done = (await drive('gr-early')).done;
    } finally {
      await load.stop();
    }
    assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.PendingDeploymentSummary], ['InService', 'gr-c4', undefined]);
    assert.equal(done.FailureReason, 'CloudWatch alarm "gr-early-alarm" was in ALARM state before any traffic moved to the new endpoint configuration "gr-d4"; the update was rolled back.');
    assert.deepEqual(load.failures, []);
    assert.equal(load.tags.get('d'), undefined, 'the new fleet took no request');
    const greenIds = new Set(backend.started.filter((s) => s.id.startsWith('gr-early/gr-d4/')).map((s) => s.id));
    assert.equal(greenIds.size, 4, 'the new fleet had started');
    assert.deepEqual(backend.invocations.filter((i) => greenIds.has(i.id)), []);
    await deleteAndWait('gr-early');
  });

  test('an update past MaximumExecutionTimeoutInSeconds rolls back, blue/green and rolling (the old fleet back to its size); no invocation fails', async () => {
    const timeout = 'did not finish within MaximumExecutionTimeoutInSeconds; the update was rolled back.';
    await createInService('gr-slow', 'gr-c4');
    await createInService('gr-slow-roll', 'gr-c3');
    const loads = [traffic('gr-slow'), traffic('gr-slow-roll')];
    try {
      const linear = blueGreen({ Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 300 }, { MaximumExecutionTimeoutInSeconds: 600 });
      await sendUpdate('gr-slow', 'gr-d4', linear);
      const { bakes, done } = await drive('gr-slow');
      assert.equal(bakes.length, 2, `the third step is past the timeout: ${bakes.join(' | ')}`);
      assert.deepEqual([done.EndpointStatus, done.EndpointConfigName, done.ProductionVariants?.[0]?.CurrentInstanceCount, done.PendingDeploymentSummary], ['InService', 'gr-c4', 4, undefined]);
      assert.equal(done.FailureReason, `The update to endpoint configuration "gr-d4" ${timeout}`);
      assert.deepEqual(done.LastDeploymentConfig, linear);

      const rolling: DeploymentConfig = {
        RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 300, MaximumExecutionTimeoutInSeconds: 600, RollbackMaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 } },
      };
      await sendUpdate('gr-slow-roll', 'gr-d3', rolling);
      const rolled = await drive('gr-slow-roll');
      assert.deepEqual(rolled.bakes, ['Baking for 300 s with 25% of traffic on the new fleet (step 1 of 3).', 'Baking for 300 s with 50% of traffic on the new fleet (step 2 of 3).']);
      assert.deepEqual([rolled.done.EndpointStatus, rolled.done.EndpointConfigName, rolled.done.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', 'gr-c3', 3]);
      assert.equal(rolled.done.FailureReason, `The update to endpoint configuration "gr-d3" ${timeout}`);
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
    }
    for (const load of loads) assert.deepEqual(load.failures, []);
    assert.ok(!backend.runningIds.some((id) => id.startsWith('gr-slow/gr-d4/') || id.startsWith('gr-slow-roll/gr-d3/')), 'the new fleets stopped');
    await deleteAndWait('gr-slow');
    await deleteAndWait('gr-slow-roll');
  });

  test('DeleteEndpoint while an update bakes, blue/green or rolling: Deleting, then gone, with the instances of both fleets stopped', async () => {
    const rolling: DeploymentConfig = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 } };
    for (const [endpoint, deploymentConfig, step] of [
      ['gr-del-bake', blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 2 }, WaitIntervalInSeconds: 600 }), 1],
      ['gr-del-roll', rolling, 2],
    ] as const) {
      await createInService(endpoint, 'gr-c4');
      await sendUpdate(endpoint, 'gr-d4', deploymentConfig);
      // The rolling update is deleted in its second step, with the old fleet already one instance short.
      // The clock moves once: step 1 may still be described after the update has begun step 2's bake,
      // and a second move would pass that bake too before it is seen.
      let moved = false;
      await until(`step ${step} baking`, async () => {
        const status = (await describe(endpoint)).PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0];
        if (!moved && status?.Status === 'Baking' && step === 2 && /step 1 of/.test(status.StatusMessage ?? '')) {
          moved = true;
          clockAheadMs += 601_000;
        }
        return status?.Status === 'Baking' && new RegExp(`step ${step} of`).test(status.StatusMessage ?? '') ? true : undefined;
      }, POLL);
      await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: endpoint }));
      await until('deleted', async () => {
        try {
          const d = await describe(endpoint);
          assert.equal(d.EndpointStatus, 'Deleting');
          return undefined;
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          return (err as Error).name === 'ValidationException' ? true : undefined;
        }
      }, POLL);
      await until('no instance of either fleet left', () => (backend.runningIds.some((id) => id.startsWith(`${endpoint}/`)) ? undefined : true), POLL);
    }
  });

  test('an endpoint on Inf1 instances or with an Elastic Inference accelerator falls back to all at once with no bake: its DeploymentConfig steps, bakes and alarms are not used', async () => {
    const cases = [
      ['gr-inf1', { InstanceType: 'ml.inf1.xlarge' }],
      ['gr-eia', { InstanceType: 'ml.m5.large', AcceleratorType: 'ml.eia2.medium' }],
    ] as const;
    for (const [name, hardware] of cases) {
      for (const [config, model] of [[`${name}-a`, 'gr-blue'], [`${name}-b`, 'gr-green']] as const) {
        await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: config, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: model, InitialInstanceCount: 2, ...hardware }] }));
      }
      await createInService(name, `${name}-a`);
      await aws.cloudwatch.send(
        new PutMetricAlarmCommand({ AlarmName: `${name}-alarm`, Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
      );
      await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: `${name}-alarm`, StateValue: 'ALARM', StateReason: 'forced by the test' }));
      const canary: DeploymentConfig = {
        ...blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 }),
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: `${name}-alarm` }] },
      };
      await sendUpdate(name, `${name}-b`, canary);
      const run = await drive(name);
      assert.deepEqual(run.bakes, [], `${name}: no bake (deployment-guardrails-exclusions.html)`);
      assert.deepEqual([run.done.EndpointStatus, run.done.EndpointConfigName, run.done.FailureReason], ['InService', `${name}-b`, undefined], `${name}: the alarm in ALARM is not watched`);
      assert.deepEqual(run.done.LastDeploymentConfig, canary);
      await deleteAndWait(name);
    }
  });

  test('RetainAllVariantProperties keeps the scaled instance count and weight (the steps follow it) minus ExcludeRetainedVariantProperties; RetainDeploymentConfig reuses the last DeploymentConfig', async () => {
    await createInService('gr-retain', 'gr-c3');
    await aws.sagemaker.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'gr-retain', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 4, DesiredWeight: 2 }] }));
    await until('scaled to 4', async () => {
      const d = await describe('gr-retain');
      return d.EndpointStatus === 'InService' && d.ProductionVariants?.[0]?.CurrentInstanceCount === 4 ? true : undefined;
    }, POLL);
    const canary = blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 });
    const variant = (d: DescribeEndpointCommandOutput) => {
      const v = d.ProductionVariants![0]!;
      return [d.EndpointConfigName, v.CurrentInstanceCount, v.DesiredInstanceCount, v.CurrentWeight, v.DesiredWeight];
    };

    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-retain', EndpointConfigName: 'gr-d3', DeploymentConfig: canary, RetainAllVariantProperties: true }));
    let run = await drive('gr-retain');
    assert.equal(run.bakes[0], 'Baking for 600 s with 25% of traffic on the new fleet (step 1 of 2).', 'one instance of the 4 kept');
    assert.deepEqual(variant(run.done), ['gr-d3', 4, 4, 2, 2]);
    assert.deepEqual(run.done.LastDeploymentConfig, canary);

    await aws.sagemaker.send(
      new UpdateEndpointCommand({ EndpointName: 'gr-retain', EndpointConfigName: 'gr-c3', RetainDeploymentConfig: true, RetainAllVariantProperties: true, ExcludeRetainedVariantProperties: [{ VariantPropertyType: 'DesiredInstanceCount' }] }),
    );
    run = await drive('gr-retain');
    assert.equal(run.bakes[0], 'Baking for 600 s with 33% of traffic on the new fleet (step 1 of 2).', "the last update's canary, on the config's 3 instances");
    assert.deepEqual(variant(run.done), ['gr-c3', 3, 3, 2, 2]);
    assert.deepEqual(run.done.LastDeploymentConfig, canary);

    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-retain', EndpointConfigName: 'gr-d3' }));
    run = await drive('gr-retain');
    assert.deepEqual(run.bakes, [], 'no DeploymentConfig: all at once, no bake');
    assert.deepEqual(variant(run.done), ['gr-d3', 3, 3, 1, 1]);
    await deleteAndWait('gr-retain');
  });

  test('a blue/green or rolling update must keep the variant names (the same set, in any order); one without an update policy may rename them', async () => {
    const config = (name: string, variants: readonly string[]) =>
      aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: variants.map((v, i) => ({ VariantName: v, ModelName: i === 0 ? 'gr-blue' : 'gr-green', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const })) }));
    await config('gr-names-renamed', ['Renamed']);
    await config('gr-names-ab', ['A', 'B']);
    await config('gr-names-ba', ['B', 'A']);
    await config('gr-names-ac', ['A', 'C']);
    const allAtOnce = blueGreen({ Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 0 });
    const rolling: DeploymentConfig = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } };
    const refused = (endpoint: string, input: { EndpointConfigName: string; DeploymentConfig?: DeploymentConfig; RetainDeploymentConfig?: boolean }, policy: string, names: string, before: string) =>
      assert.rejects(aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: endpoint, ...input })), (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.equal(
          err.message.replace(/"arn:[^"]*:endpoint\//, '"…/'),
          `A blue/green or rolling deployment (DeploymentConfig with a ${policy}) needs the new endpoint configuration to have the same variant names as the old one: endpoint configuration "${input.EndpointConfigName}" has [${names}], endpoint "…/${endpoint}" has [${before}]. Keep the variant names, or update without an update policy (all at once).`,
        );
        return true;
      });
    const serving = async (endpoint: string) => {
      const d = await describe(endpoint);
      return [d.EndpointStatus, d.EndpointConfigName, d.PendingDeploymentSummary, d.ProductionVariants?.map((v) => v.VariantName)];
    };

    await createInService('gr-names', 'gr-blue');
    await refused('gr-names', { EndpointConfigName: 'gr-names-renamed', DeploymentConfig: blueGreen({ Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 }) }, 'BlueGreenUpdatePolicy', 'Renamed', 'AllTraffic');
    await refused('gr-names', { EndpointConfigName: 'gr-names-renamed', DeploymentConfig: rolling }, 'RollingUpdatePolicy', 'Renamed', 'AllTraffic');
    // The same name: a blue/green update runs, and becomes the deployment config RetainDeploymentConfig reuses.
    await sendUpdate('gr-names', 'gr-green', allAtOnce);
    assert.deepEqual((await drive('gr-names')).done.EndpointConfigName, 'gr-green');
    await refused('gr-names', { EndpointConfigName: 'gr-names-renamed', RetainDeploymentConfig: true }, 'BlueGreenUpdatePolicy', 'Renamed', 'AllTraffic');
    assert.deepEqual(await serving('gr-names'), ['InService', 'gr-green', undefined, ['AllTraffic']], 'a refused update leaves the endpoint as it was');
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'gr-names', EndpointConfigName: 'gr-names-renamed' }));
    await drive('gr-names');
    assert.deepEqual(await serving('gr-names'), ['InService', 'gr-names-renamed', undefined, ['Renamed']], 'all at once, without an update policy');
    await deleteAndWait('gr-names');

    await createInService('gr-names-two', 'gr-names-ab');
    await refused('gr-names-two', { EndpointConfigName: 'gr-names-ac', DeploymentConfig: allAtOnce }, 'BlueGreenUpdatePolicy', 'A, C', 'A, B');
    await sendUpdate('gr-names-two', 'gr-names-ba', allAtOnce);
    await drive('gr-names-two');
    assert.deepEqual(await serving('gr-names-two'), ['InService', 'gr-names-ba', undefined, ['B', 'A']], 'the same names in another order');
    await deleteAndWait('gr-names-two');
  });
});
