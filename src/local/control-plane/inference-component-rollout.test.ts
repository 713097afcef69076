// UpdateInferenceComponent with a RollingUpdatePolicy, through the real AWS SDK v3 clients: the new
// copies start a batch at a time as old ones stop, and a batch that does not start rolls back.
// The rollout's waits count on a clock the tests move (deploymentNow), not on time passing.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateInferenceComponentCommand, DeleteEndpointCommand, DeleteInferenceComponentCommand, DescribeInferenceComponentCommand, UpdateInferenceComponentCommand, UpdateInferenceComponentRuntimeConfigCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import type { ContainerSpec, RunningContainer } from '../backends/backend.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { createComponentEndpoint } from '../../../test/helpers/component-host.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import type { Deployment } from './deployment.js';
import { copiesPerBatch, rollOut } from './inference-component-rollout.js';
import { createLocalSageMaker, startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };

/** A FakeBackend that tells the test of each container it is asked for, before starting it, and can hold a start until released. */
class WatchedBackend extends FakeBackend {
  onStart: ((spec: ContainerSpec) => void) | undefined;
  /** When set, a start waits on the promise it returns. */
  hold: ((spec: ContainerSpec) => Promise<void> | undefined) | undefined;

  override async start(spec: ContainerSpec): Promise<RunningContainer> {
    this.onStart?.(spec);
    await this.hold?.(spec);
    return super.start(spec);
  }
}

let dir: string;
let backend: WatchedBackend;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;
/** How far the rollout's clock is ahead of the real one. */
let clockShiftMs = 0;
/** The local SageMaker's progress lines. */
const progress: string[] = [];

describe('inference component rollout', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-ic-roll-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new WatchedBackend();
    // With CloudWatch, whose alarms a rolling update reads every 25 ms.
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, deploymentNow: () => Date.now() + clockShiftMs, progress: (line) => progress.push(line), settings: { region: 'eu-west-1', accountId: '123456789012', maxInstances: 8 } });
    aws = localSdkClients(local.url, { region: 'eu-west-1', runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
  });

  after(async () => {
    aws?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (tag: string) => ({ Container: { ArtifactUrl: dir, Environment: { FAKE_TAG: tag } }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } });
  const rolling = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 0 } };
  /** Waits an hour after its first batch: the old and the new copies serve side by side meanwhile. */
  const rollingSlowly = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 3600 } };

  async function describe(name: string) {
    return aws.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));
  }

  async function tagOf(endpoint: string, component: string): Promise<string> {
    const out = await aws.runtime.send(new InvokeEndpointCommand({ EndpointName: endpoint, InferenceComponentName: component, Body: Buffer.from('1'), ContentType: 'text/csv' }));
    return (JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string }).tag;
  }

  /**
   * The copies SMKIT_LOCAL_MAX_INSTANCES (8 here) counts now, as the limit's error names them for a
   * CreateInferenceComponent of 9 copies on `endpoint`, which no count lets through and which creates nothing.
   */
  async function copiesCounted(endpoint: string): Promise<number> {
    const err = await aws.sagemaker.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'probe', EndpointName: endpoint, Specification: spec('probe'), RuntimeConfig: { CopyCount: 9 } })).then(
      () => assert.fail('a component of 9 copies was created'),
      (e: Error) => e,
    );
    const counted = /with current utilization of (\d+) copies/.exec(err.message);
    assert.ok(err.name === 'ResourceLimitExceeded' && counted, `${err.name}: ${err.message}`);
    return Number(counted[1]);
  }

  async function createTwoCopies(endpoint: string, name: string): Promise<void> {
    await createComponentEndpoint(aws.sagemaker, endpoint, POLL);
    await aws.sagemaker.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: endpoint, Specification: spec('v1'), RuntimeConfig: { CopyCount: 2 } }));
    await until(`${name} InService`, async () => (await describe(name)).InferenceComponentStatus === 'InService', POLL);
  }

  async function remove(endpoint: string, name: string): Promise<void> {
    await aws.sagemaker.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
    await until(`${name} deleted`, () => describe(name).then(() => false, () => true), POLL);
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: endpoint }));
  }

  test('a batch is MaximumBatchSize copies, or that share of them rounded up, and at least one', () => {
    assert.equal(copiesPerBatch({ Type: 'COPY_COUNT', Value: 2 }, 5), 2);
    assert.equal(copiesPerBatch({ Type: 'CAPACITY_PERCENT', Value: 50 }, 5), 3);
    assert.equal(copiesPerBatch({ Type: 'CAPACITY_PERCENT', Value: 5 }, 4), 1);
  });

  /** A deployment of `size` copies whose fleet only counts them, and that counts its stops. */
  function countedDeployment(size: number): { deployment: Deployment; stops: number } {
    const fleet = { size, scaleTo: async (n: number) => void (fleet.size = n) };
    const d = { deployment: { variants: [{ fleet }], stop: async () => void d.stops++ } as unknown as Deployment, stops: 0 };
    return d;
  }

  test('a rollout cancelled while its last alarm reading is under way stops the new copies instead of resolving with them', async () => {
    const task = new AbortController();
    const counted = countedDeployment(0);
    const green = counted.deployment;
    const beside: Array<Deployment | undefined> = [];
    const rolled = rollOut({
      name: 'ic',
      blue: countedDeployment(1).deployment,
      copies: 1,
      policy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 },
      start: async (n) => {
        await green.variants[0]!.fleet.scaleTo(n);
        return green;
      },
      serveBeside: (d) => beside.push(d),
      holding: () => {},
      room: () => Infinity,
      // DeleteInferenceComponent arrives while CloudWatch is read, after the last batch started.
      alarmFiring: async () => {
        task.abort(new Error('deleted'));
        return undefined;
      },
      alarmPollMs: 25,
      now: Date.now,
      signal: task.signal,
    });
    await assert.rejects(rolled, /deleted/);
    assert.equal(counted.stops, 1);
    assert.equal(beside.length, 2);
    assert.ok(beside[0] === green && beside[1] === undefined, 'the new copies stop taking invocations');
  });

  test('a rollback whose old fleet has a copy being replaced ends: it asks for each rollback batch once', async () => {
    // Four old copies; once the rollout took one, another died and is being replaced: scaleTo counts
    // it toward its number, out of rotation, so the fleet stays one short.
    const asked: number[] = [];
    const fleet = {
      size: 4,
      scaleTo: async (n: number) => {
        asked.push(n);
        // A loop on the fleet's size asks again and again (the rollback swallows this error).
        if (asked.length > 20) throw new Error('asked too often');
        fleet.size = n < fleet.size ? n : n - 1;
      },
    };
    const green = countedDeployment(0);
    const rolled = rollOut({
      name: 'ic',
      blue: { variants: [{ fleet }], stop: async () => {} } as unknown as Deployment,
      copies: 4,
      policy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 0, RollbackMaximumBatchSize: { Type: 'COPY_COUNT', Value: 2 } },
      start: async (n) => {
        await green.deployment.variants[0]!.fleet.scaleTo(n);
        return green.deployment;
      },
      serveBeside: () => {},
      holding: () => {},
      room: () => Infinity,
      alarmFiring: async () => 'errors',
      alarmPollMs: 25,
      now: Date.now,
      signal: new AbortController().signal,
    });
    await assert.rejects(rolled, /CloudWatch alarm "errors"/);
    assert.deepEqual(asked, [3, 4]);
    assert.equal(green.stops, 1);
  });

  test('a rollback that stops new copies to make room holds that room before they drain, so no other component takes it meanwhile', async () => {
    // The limit's ledger: 8 copies, 5 of them another component's; the rollout holds the rest.
    const max = 8;
    let others = 5;
    let held = 0;
    const over: string[] = [];
    const blue = { size: 2, scaleTo: async (n: number) => void (blue.size = n) };
    let rollingBack = false;
    const green = {
      size: 0,
      scaleTo: async (n: number) => {
        const stopping = n < green.size;
        green.size = n;
        // While new copies drain, a CreateInferenceComponent takes whatever room is not held.
        if (rollingBack && stopping) others = max - held;
      },
    };
    const deployment = { variants: [{ fleet: green }], stop: async () => void (green.size = 0) } as unknown as Deployment;
    const rolled = rollOut({
      name: 'ic',
      blue: { variants: [{ fleet: blue }], stop: async () => {} } as unknown as Deployment,
      copies: 2,
      policy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 },
      start: async (n) => {
        await green.scaleTo(n);
        return deployment;
      },
      serveBeside: () => {},
      holding: (n) => {
        held = n;
        if (others + held > max) over.push(`${others} + ${held}`);
        if (held < blue.size + green.size) over.push(`held ${held} of ${blue.size + green.size} running`);
      },
      room: () => max - others,
      // After the last batch (both new copies in, both old ones stopped): the rollback needs the two
      // old copies beside the new ones, and the limit has room for three.
      alarmFiring: async () => {
        if (green.size < 2) return undefined;
        rollingBack = true;
        return 'errors';
      },
      alarmPollMs: 25,
      now: Date.now,
      signal: new AbortController().signal,
    });
    await assert.rejects(rolled, /CloudWatch alarm "errors"/);
    assert.deepEqual(over, [], 'the copies held passed the limit, or fell below those running');
    assert.deepEqual({ blue: blue.size, green: green.size, others }, { blue: 2, green: 0, others: 5 });
  });

  test('a MaximumBatchSize percentage outside 5% to 50% is refused, and the component is left as it was', async () => {
    await createTwoCopies('pct-ep', 'pct-ic');
    for (const Value of [4, 51]) {
      await assert.rejects(
        aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'pct-ic', Specification: spec('v2'), DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'CAPACITY_PERCENT', Value }, WaitIntervalInSeconds: 0 } } })),
        (err: Error) => err.name === 'ValidationException' && err.message === `RollingUpdatePolicy MaximumBatchSize (${Value} CAPACITY_PERCENT) must be between 5% and 50% of the copy count of the inference component.`,
      );
    }
    const d = await describe('pct-ic');
    assert.deepEqual({ status: d.InferenceComponentStatus, env: d.Specification?.Container?.Environment, config: d.LastDeploymentConfig }, { status: 'InService', env: { FAKE_TAG: 'v1' }, config: undefined });
    await remove('pct-ep', 'pct-ic');
  });

  test('a rolling update starts the new copies one batch at a time, each after as many old copies have stopped', async () => {
    await createTwoCopies('roll-ep', 'roll-ic');
    const stoppedBefore = backend.stopped.length;
    // At each new copy's start, how many old copies have stopped.
    const oldStopped: number[] = [];
    backend.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') oldStopped.push(backend.stopped.length - stoppedBefore);
    };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'roll-ic', Specification: spec('v2'), DeploymentConfig: rolling }));
    await until('roll-ic updated', async () => (await describe('roll-ic')).InferenceComponentStatus === 'InService', POLL);
    backend.onStart = undefined;
    assert.deepEqual(oldStopped, [0, 1]);
    const d = await describe('roll-ic');
    assert.deepEqual({ runtime: d.RuntimeConfig, reason: d.FailureReason, config: d.LastDeploymentConfig }, { runtime: { DesiredCopyCount: 2, CurrentCopyCount: 2 }, reason: undefined, config: rolling });
    assert.equal(backend.stopped.length - stoppedBefore, 2, 'both old copies stopped');
    assert.equal(await tagOf('roll-ep', 'roll-ic'), 'v2');
    await remove('roll-ep', 'roll-ic');
  });

  test('a batch that does not start rolls the update back: the old copies come back to their number and the new ones stop', async () => {
    await createTwoCopies('rollback-ep', 'rollback-ic');
    let newCopies = 0;
    let oldCopies = 0;
    backend.onStart = (s) => {
      // The second batch fails; the old copies started again by the rollback do not.
      if (s.env.FAKE_TAG === 'v2') backend.failStarts = ++newCopies === 2;
      else {
        oldCopies++;
        backend.failStarts = false;
      }
    };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'rollback-ic', Specification: spec('v2'), DeploymentConfig: rolling }));
    await until('rollback-ic rolled back', async () => (await describe('rollback-ic')).InferenceComponentStatus === 'InService', POLL);
    backend.onStart = undefined;
    backend.failStarts = false;
    // The first batch took the place of one old copy, which the rollback started again.
    assert.deepEqual({ newCopies, oldCopies }, { newCopies: 2, oldCopies: 1 });
    const d = await describe('rollback-ic');
    assert.deepEqual(d.RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    assert.equal(await copiesCounted('rollback-ep'), 2, 'the new copies no longer count once rolled back');
    assert.match(d.FailureReason ?? '', /^The update failed and was rolled back: /);
    assert.deepEqual(d.Specification?.Container?.Environment, { FAKE_TAG: 'v1' });
    assert.equal(d.LastDeploymentConfig?.RollingUpdatePolicy?.MaximumBatchSize?.Value, 1);
    for (let i = 0; i < 4; i++) assert.equal(await tagOf('rollback-ep', 'rollback-ic'), 'v1');
    await remove('rollback-ep', 'rollback-ic');
  });

  test('a rolling update holds the old copies and one batch against the limit, and a rollback with no room for both stops new copies before it starts old ones', async () => {
    const baseline = backend.running;
    await createTwoCopies('room-ep', 'room-ic');
    await aws.sagemaker.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'room-filler', EndpointName: 'room-ep', Specification: spec('filler'), RuntimeConfig: { CopyCount: 5 } }));
    await until('room-filler InService', async () => (await describe('room-filler')).InferenceComponentStatus === 'InService', POLL);
    // Containers running at each start, this one included: never more than the limit of 8.
    const peaks: number[] = [];
    let newCopies = 0;
    let oldRunningAtRestart: number | undefined;
    backend.onStart = (s) => {
      peaks.push(backend.running - baseline + 1);
      // The third batch does not start; the old copies the rollback starts again do.
      if (s.env.FAKE_TAG === 'v2') backend.failStarts = ++newCopies === 3;
      else if (s.env.FAKE_TAG === 'v1') {
        backend.failStarts = false;
        oldRunningAtRestart ??= backend.running - baseline;
      }
    };
    try {
      // Two old copies and three new ones beside five others would make ten; two old and a batch of one make eight.
      await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'room-ic', Specification: spec('v2'), RuntimeConfig: { CopyCount: 3 }, DeploymentConfig: rolling }));
      await until('room-ic rolled back', async () => {
        const d = await describe('room-ic');
        return d.InferenceComponentStatus === 'InService' && d.FailureReason !== undefined;
      }, POLL);
    } finally {
      backend.onStart = undefined;
      backend.failStarts = false;
    }
    assert.equal(newCopies, 3);
    // Both new copies ran when the third failed; one stopped before the first old copy started again.
    assert.equal(oldRunningAtRestart, 6);
    assert.ok(Math.max(...peaks) <= 8, `containers running at each start: ${peaks.join(', ')}`);
    const d = await describe('room-ic');
    assert.deepEqual({ runtime: d.RuntimeConfig, env: d.Specification?.Container?.Environment }, { runtime: { DesiredCopyCount: 2, CurrentCopyCount: 2 }, env: { FAKE_TAG: 'v1' } });
    assert.match(d.FailureReason ?? '', /^The update failed and was rolled back: /);
    assert.equal(await copiesCounted('room-ep'), 7);
    await aws.sagemaker.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'room-filler' }));
    await until('room-filler deleted', () => describe('room-filler').then(() => false, () => true), POLL);
    await remove('room-ep', 'room-ic');
  });

  test('an AutoRollbackConfiguration alarm in ALARM while a batch is in service rolls the update back', async () => {
    await createTwoCopies('alarm-ep', 'alarm-ic');
    // An hour-long period: no evaluation undoes the forced ALARM before the update reads it.
    await aws.cloudwatch.send(new PutMetricAlarmCommand({ AlarmName: 'ic-errors', Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }));
    const stoppedBefore = backend.stopped.length;
    let newCopies = 0;
    backend.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') newCopies++;
    };
    const config = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 3600 }, AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'ic-errors' }] } };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'alarm-ic', Specification: spec('v2'), DeploymentConfig: config }));
    // The first batch is in and an old copy has stopped: the update waits out its hour.
    await until('the first batch in service', () => newCopies === 1 && backend.stopped.length - stoppedBefore === 1, POLL);
    assert.equal((await describe('alarm-ic')).InferenceComponentStatus, 'Updating');
    // The old copy left and the next batch, held while the batch waits: not every new copy beside every old one.
    assert.equal(await copiesCounted('alarm-ep'), 3);
    // A second update, or a copy-count change (as Application Auto Scaling makes), is refused while it runs, and holds nothing.
    await assert.rejects(aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'alarm-ic', Specification: spec('v3'), DeploymentConfig: config })), (err: Error) => err.name === 'ValidationException' && /is Updating/.test(err.message));
    await assert.rejects(aws.sagemaker.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'alarm-ic', DesiredRuntimeConfig: { CopyCount: 1 } })), (err: Error) => err.name === 'ValidationException' && /is Updating/.test(err.message));
    assert.equal(await copiesCounted('alarm-ep'), 3);
    const tags = new Set<string>();
    for (let i = 0; i < 4; i++) tags.add(await tagOf('alarm-ep', 'alarm-ic'));
    assert.deepEqual([...tags].sort(), ['v1', 'v2'], 'the old and the new copy share the invocations');
    // Invoked one after another throughout the rollback (one attempt each: a 5xx fails the test).
    let rolledBack = false;
    const answered: string[] = [];
    const invoking = (async () => {
      while (!rolledBack) answered.push(await tagOf('alarm-ep', 'alarm-ic'));
    })();
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'ic-errors', StateValue: 'ALARM', StateReason: 'forced by the test' }));
    try {
      await until('alarm-ic rolled back', async () => (await describe('alarm-ic')).InferenceComponentStatus === 'InService', POLL);
    } finally {
      rolledBack = true;
    }
    await invoking;
    assert.ok(answered.length > 0 && answered.every((tag) => tag === 'v1' || tag === 'v2'), `answers during the rollback: ${answered.join(', ')}`);
    backend.onStart = undefined;
    const d = await describe('alarm-ic');
    assert.equal(d.FailureReason, 'CloudWatch alarm "ic-errors" was in ALARM state during the rolling update of inference component "alarm-ic"; the update was rolled back.');
    assert.deepEqual(d.RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    assert.equal(await copiesCounted('alarm-ep'), 2, 'the new copies no longer count once rolled back');
    assert.equal(newCopies, 1);
    for (let i = 0; i < 4; i++) assert.equal(await tagOf('alarm-ep', 'alarm-ic'), 'v1');
    await remove('alarm-ep', 'alarm-ic');
  });

  test('during a rolling update a stateful session stays on the copy that opened it, old or new', async () => {
    await createTwoCopies('sess-roll-ep', 'sess-roll-ic');
    const stoppedBefore = backend.stopped.length;
    let newCopies = 0;
    backend.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') newCopies++;
    };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'sess-roll-ic', Specification: spec('v2'), DeploymentConfig: rollingSlowly }));
    await until('the first batch in service', () => newCopies === 1 && backend.stopped.length - stoppedBefore === 1, POLL);
    backend.onStart = undefined;
    const invoke = async (sessionId: string) => {
      const out = await aws.runtime.send(new InvokeEndpointCommand({ EndpointName: 'sess-roll-ep', InferenceComponentName: 'sess-roll-ic', Body: Buffer.from('1'), ContentType: 'text/csv', SessionId: sessionId }));
      return { session: out.NewSessionId?.split(';')[0], tag: (JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string }).tag };
    };
    // The old copy and the new one take turns: two sessions open, one on each (the copies are told apart by their tags).
    const opened = [await invoke('NEW_SESSION'), await invoke('NEW_SESSION')];
    assert.deepEqual(opened.map((o) => o.tag).sort(), ['v1', 'v2']);
    for (const { session, tag } of opened) {
      for (let i = 0; i < 4; i++) assert.equal((await invoke(session!)).tag, tag, `session ${session} goes to the copy that opened it`);
    }
    await remove('sess-roll-ep', 'sess-roll-ic');
  });

  test('DeleteInferenceComponent during a rolling update stops the old and the new copies alike', async () => {
    await createTwoCopies('del-roll-ep', 'del-roll-ic');
    const runningBefore = backend.running;
    const countedBefore = await copiesCounted('del-roll-ep');
    const stoppedBefore = backend.stopped.length;
    let newCopies = 0;
    backend.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') newCopies++;
    };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'del-roll-ic', Specification: spec('v2'), DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 3600 } } }));
    await until('the first batch in service', () => newCopies === 1 && backend.stopped.length - stoppedBefore === 1, POLL);
    backend.onStart = undefined;
    await aws.sagemaker.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'del-roll-ic' }));
    await until('del-roll-ic deleted', () => describe('del-roll-ic').then(() => false, () => true), POLL);
    assert.equal(backend.running, runningBefore - 2, 'no copy of either specification is left running');
    assert.equal(await copiesCounted('del-roll-ep'), countedBefore - 2, 'neither the old copies nor the batch held are counted once deleted');
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'del-roll-ep' }));
  });

  test('MaximumExecutionTimeoutInSeconds passed while a batch waits rolls the update back, on the deployment clock', async () => {
    await createTwoCopies('deadline-ep', 'deadline-ic');
    let newCopies = 0;
    backend.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') newCopies++;
    };
    const stoppedBefore = backend.stopped.length;
    const config = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 3600, MaximumExecutionTimeoutInSeconds: 600 } };
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'deadline-ic', Specification: spec('v2'), DeploymentConfig: config }));
    await until('the first batch in service', () => newCopies === 1 && backend.stopped.length - stoppedBefore === 1, POLL);
    assert.equal((await describe('deadline-ic')).InferenceComponentStatus, 'Updating');
    clockShiftMs += 601_000;
    try {
      await until('deadline-ic rolled back', async () => (await describe('deadline-ic')).InferenceComponentStatus === 'InService', POLL);
    } finally {
      backend.onStart = undefined;
    }
    const d = await describe('deadline-ic');
    assert.equal(d.FailureReason, 'The rolling update of inference component "deadline-ic" did not finish within MaximumExecutionTimeoutInSeconds; the update was rolled back.');
    assert.deepEqual({ runtime: d.RuntimeConfig, env: d.Specification?.Container?.Environment, newCopies }, { runtime: { DesiredCopyCount: 2, CurrentCopyCount: 2 }, env: { FAKE_TAG: 'v1' }, newCopies: 1 });
    assert.equal(await tagOf('deadline-ep', 'deadline-ic'), 'v1');
    assert.equal(await copiesCounted('deadline-ep'), 2, 'the new copies and the batch held no longer count once rolled back');
    await remove('deadline-ep', 'deadline-ic');
  });

  test('DeleteInferenceComponent while the last batch starts (WaitIntervalInSeconds 0) stops every copy, and the component does not come back InService', async () => {
    await createTwoCopies('del-last-ep', 'del-last-ic');
    const runningBefore = backend.running;
    const countedBefore = await copiesCounted('del-last-ep');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let newCopies = 0;
    let held = false;
    backend.hold = (s) => {
      if (s.env.FAKE_TAG !== 'v2' || ++newCopies !== 2) return undefined;
      held = true;
      return released;
    };
    try {
      await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'del-last-ic', Specification: spec('v2'), DeploymentConfig: rolling }));
      await until('the last batch starting', () => held, POLL);
      await aws.sagemaker.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'del-last-ic' }));
    } finally {
      release();
      backend.hold = undefined;
    }
    await until('del-last-ic deleted', () => describe('del-last-ic').then(() => false, () => true), POLL);
    assert.equal(backend.running, runningBefore - 2, 'no copy of either specification is left running');
    assert.deepEqual(progress.filter((line) => line.includes('inference component del-last-ic is InService on its new specification')), []);
    assert.equal(await copiesCounted('del-last-ep'), countedBefore - 2, 'neither the old copies nor the batch held are counted once deleted');
    await aws.sagemaker.send(new DeleteEndpointCommand({ EndpointName: 'del-last-ep' }));
  });

  test('the local SageMaker stopped during a rolling update leaves no copy of either specification running, and refuses updates from then on', async () => {
    const own = new WatchedBackend();
    const stopped = await createLocalSageMaker({ backendImpl: own, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    const call = (op: string, input: Record<string, unknown>) => stopped.sagemaker.call(op, input);
    await call('CreateEndpointConfig', { EndpointConfigName: 'host', ExecutionRoleArn: 'arn:aws:iam::123456789012:role/smkit-local', ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }] });
    await call('CreateEndpoint', { EndpointName: 'host', EndpointConfigName: 'host' });
    await until('host InService', async () => (await call('DescribeEndpoint', { EndpointName: 'host' })).EndpointStatus === 'InService', POLL);
    await call('CreateInferenceComponent', { InferenceComponentName: 'ic', EndpointName: 'host', VariantName: 'AllTraffic', Specification: spec('v1'), RuntimeConfig: { CopyCount: 2 } });
    await until('ic InService', async () => (await call('DescribeInferenceComponent', { InferenceComponentName: 'ic' })).InferenceComponentStatus === 'InService', POLL);
    let newCopies = 0;
    own.onStart = (s) => {
      if (s.env.FAKE_TAG === 'v2') newCopies++;
    };
    await call('UpdateInferenceComponent', { InferenceComponentName: 'ic', Specification: spec('v2'), DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 3600 } } });
    await until('the first batch in service', () => newCopies === 1 && own.stopped.length === 1, POLL);
    await stopped.stop();
    assert.equal(own.running, 0, `containers left running: ${own.runningIds.join(', ')}`);
    await assert.rejects(call('UpdateInferenceComponent', { InferenceComponentName: 'ic', Specification: spec('v3') }), (err: Error) => err.name === 'ServiceUnavailable');
    assert.equal(newCopies, 1);
  });
});
