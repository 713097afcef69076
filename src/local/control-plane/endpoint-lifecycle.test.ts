import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as pace } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { createFrontDoor } from '../front-door/app.js';
import { AwsServiceError, type AwsService } from '../../aws/service.js';
import type { InvocationRecord } from './invocation-metrics.js';
import { createLocalSageMaker, CLOUDWATCH_TARGET_PREFIX, type LocalSageMakerCore } from './local-sagemaker.js';

/** A stand-in for CloudWatch's DescribeAlarms in unit tests: alarm states set by the test. */
class AlarmStates implements AwsService {
  readonly targetPrefix = CLOUDWATCH_TARGET_PREFIX;
  readonly signingName = 'monitoring';
  readonly states = new Map<string, string>();
  async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (operation !== 'DescribeAlarms') throw new AwsServiceError('UnknownOperationException', operation);
    const names = (input.AlarmNames as string[]) ?? [];
    return { MetricAlarms: names.filter((n) => this.states.has(n)).map((n) => ({ AlarmName: n, StateValue: this.states.get(n) })) };
  }
}

let dir: string;
let backend: FakeBackend;
let alarms: AlarmStates;
let sm: LocalSageMakerCore;
/** How far the tests have moved the clock of updates' bakes ahead of real time. */
let clockAheadMs = 0;
const records: InvocationRecord[] = [];
/** Objects written to the stand-in S3 (data capture), by `bucket/key`. */
const s3Puts = new Map<string, string>();
/** The SSE-KMS key each upload of a file asked for, by `bucket/key`. */
const s3Kms = new Map<string, string | undefined>();

describe('endpoint lifecycle', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-cp-test-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new FakeBackend();
    alarms = new AlarmStates();
    sm = await createLocalSageMaker({
      backendImpl: backend,
      startupTimeoutMs: 5_000,
      alarmPollMs: 50,
      deploymentNow: () => Date.now() + clockAheadMs,
      services: [alarms],
      metrics: { record: (r) => records.push(r) },
      seed: 7,
      settings: { region: 'eu-west-1', accountId: '123456789012' },
      s3: {
        get: () => Promise.reject(new Error('no objects in this test')),
        list: async () => [],
        put: async (bucket, key, body) => void s3Puts.set(`${bucket}/${key}`, body.toString()),
        putFile: async (bucket, key, path, _contentType, options) => {
          s3Puts.set(`${bucket}/${key}`, (await readFile(path)).subarray(0, options?.length).toString());
          s3Kms.set(`${bucket}/${key}`, options?.kmsKeyId);
        },
        delete: () => Promise.reject(new Error('no deletes in this test')),
      },
    });
  });
  /** Traffic loops still running (a failed test leaves its loop; stopping them here lets the file end). */
  const loads = new Set<() => Promise<void>>();

  after(async () => {
    await Promise.all([...loads].map((stop) => stop()));
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (op: string, input: Record<string, unknown>) => sm.sagemaker.call(op, input);

  /** Deadline and pace of every wait in this file. */
  const POLL = { timeoutMs: 20_000, intervalMs: 25 };

  /** Waits until the update of `name` bakes its first step, then moves the clock past that 600 s bake. */
  async function passFirstBake(name: string): Promise<void> {
    await until('the first step baking', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: name });
      const p = d.PendingDeploymentSummary as { ProductionVariants?: Array<{ VariantStatus: Array<{ Status: string; StatusMessage: string }> }> } | undefined;
      const status = p?.ProductionVariants?.[0]?.VariantStatus[0];
      return status?.Status === 'Baking' && /^Baking for 600 s .*step 1 of/.test(status.StatusMessage) ? true : undefined;
    }, POLL);
    clockAheadMs += 601_000;
  }

  async function status(name: string): Promise<string> {
    return (await call('DescribeEndpoint', { EndpointName: name })).EndpointStatus as string;
  }

  async function model(name: string, tag: string, env: Record<string, string> = {}): Promise<void> {
    await call('CreateModel', { ModelName: name, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag, ...env } } });
  }

  async function config(name: string, modelName: string, count = 1, extra: Record<string, unknown> = {}): Promise<void> {
    await call('CreateEndpointConfig', { EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: modelName, InitialInstanceCount: count, InstanceType: 'ml.m5.large' }], ...extra });
  }

  /**
   * Pause of each traffic loop between its invocations. Back to back, in-process invocations of the
   * fake containers took most of this file's CPU while updates waited on polls; paced, each loop
   * still sends well over a hundred a second through every step of an update.
   */
  const TRAFFIC_GAP_MS = 5;

  /** Invokes in a loop until stopped (three at a time, each paced by {@link TRAFFIC_GAP_MS}); counts answers by tag and every failure. */
  function traffic(name: string): { tags: Map<string, number>; failures: string[]; stop(): Promise<void> } {
    const tags = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    const loops = [0, 1, 2].map(async () => {
      while (running) {
        const ep = sm.directory().get(name);
        if (!ep) {
          failures.push('endpoint not routable');
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        try {
          const { response } = await ep.invoke({ body: Buffer.from('[1]'), contentType: 'application/json' });
          const tag = (JSON.parse(response.body.toString()) as { tag: string }).tag;
          tags.set(tag, (tags.get(tag) ?? 0) + 1);
        } catch (err) {
          failures.push((err as Error).message);
        }
        await pace(TRAFFIC_GAP_MS);
      }
    });
    const stop = async (): Promise<void> => {
      running = false;
      loads.delete(stop);
      await Promise.all(loops);
    };
    loads.add(stop);
    return { tags, failures, stop };
  }

  test('create: Creating → InService with the described variants; instances spread the requests', async () => {
    await model('m-a', 'a');
    await config('cfg-a', 'm-a', 2);
    const out = await call('CreateEndpoint', { EndpointName: 'ep1', EndpointConfigName: 'cfg-a' });
    assert.equal(out.EndpointArn, 'arn:aws:sagemaker:eu-west-1:123456789012:endpoint/ep1');
    assert.equal(await status('ep1'), 'Creating');
    await until('InService', async () => ((await status('ep1')) === 'InService' ? true : undefined), POLL);
    const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(d.EndpointConfigName, 'cfg-a');
    assert.deepEqual((d.ProductionVariants as Array<Record<string, unknown>>).map((v) => [v.VariantName, v.CurrentWeight, v.DesiredWeight, v.CurrentInstanceCount, v.DesiredInstanceCount]), [['AllTraffic', 1, 1, 2, 2]]);
    assert.equal((d.ProductionVariants as Array<{ DeployedImages: Array<{ SpecifiedImage: string }> }>)[0]!.DeployedImages[0]!.SpecifiedImage, 'repo/img:a');
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { response } = await sm.directory().get('ep1')!.invoke({ body: Buffer.from('[1]'), contentType: 'application/json' });
      ids.add((JSON.parse(response.body.toString()) as { id: string }).id);
    }
    assert.equal(ids.size, 2, `both instances answered: ${[...ids].join(', ')}`);
    await assert.rejects(call('CreateEndpoint', { EndpointName: 'ep1', EndpointConfigName: 'cfg-a' }), /Cannot create already existing endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint\/ep1"\./);
  });

  test('create: a container that never passes /ping makes the endpoint Failed with its last log lines', async () => {
    await model('m-bad', 'bad', { FAKE_PING: 'fail' });
    await config('cfg-bad', 'm-bad');
    await call('CreateEndpoint', { EndpointName: 'ep-bad', EndpointConfigName: 'cfg-bad' });
    const reason = await until('Failed', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep-bad' });
      return d.EndpointStatus === 'Failed' ? (d.FailureReason as string) : undefined;
    }, POLL);
    assert.match(reason, /primary container for production variant AllTraffic did not pass the ping health check/);
    assert.match(reason, /model failed to load: no such file model\.onnx/);
    assert.ok(reason.length <= 1024);
    assert.equal(sm.directory().get('ep-bad'), undefined);
    // Not "in-progress": a Failed endpoint cannot be updated, only deleted.
    const failed = (err: AwsServiceError) => err.type === 'ValidationException' && err.message === 'Cannot update failed endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/ep-bad". Delete the endpoint (DeleteEndpoint) and create it again.';
    await assert.rejects(call('UpdateEndpoint', { EndpointName: 'ep-bad', EndpointConfigName: 'cfg-a' }), failed);
    await assert.rejects(call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep-bad', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredWeight: 2 }] }), failed);
    await call('DeleteEndpoint', { EndpointName: 'ep-bad' });
    await until('deleted', async () => (sm.store.endpoints.has('ep-bad') ? undefined : true), POLL);
  });

  test('canary update under traffic rolls back when an alarm fires while baking; no invocation fails', async () => {
    await model('m-b', 'b');
    await config('cfg-b', 'm-b', 2);
    const load = traffic('ep1');
    await call('UpdateEndpoint', {
      EndpointName: 'ep1',
      EndpointConfigName: 'cfg-b',
      DeploymentConfig: {
        BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 30 }, TerminationWaitInSeconds: 0 },
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'ep1-errors' }] },
      },
    });
    await assert.rejects(call('UpdateEndpoint', { EndpointName: 'ep1', EndpointConfigName: 'cfg-b' }), (err: AwsServiceError) => err.type === 'ValidationException' && /Cannot update in-progress endpoint/.test(err.message));
    const pending = await until('canary baking', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      const p = d.PendingDeploymentSummary as { EndpointConfigName: string; ProductionVariants?: Array<{ VariantStatus: Array<{ Status: string }> }> } | undefined;
      return p?.ProductionVariants?.[0]?.VariantStatus[0]?.Status === 'Baking' ? p : undefined;
    }, POLL);
    assert.equal(pending.EndpointConfigName, 'cfg-b');
    assert.equal(await status('ep1'), 'Updating');
    await until('canary traffic', () => ((load.tags.get('b') ?? 0) > 3 ? true : undefined), POLL);
    alarms.states.set('ep1-errors', 'ALARM');
    await until('rolled back', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      return d.EndpointStatus === 'InService' && d.PendingDeploymentSummary === undefined ? true : undefined;
    }, POLL);
    alarms.states.delete('ep1-errors');
    const before = load.tags.get('b') ?? 0;
    await new Promise((r) => setTimeout(r, 200));
    await load.stop();
    const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(d.EndpointConfigName, 'cfg-a');
    assert.match(d.FailureReason as string, /CloudWatch alarm "ep1-errors" was in ALARM state/);
    assert.deepEqual(d.LastDeploymentConfig && Object.keys(d.LastDeploymentConfig as object).sort(), ['AutoRollbackConfiguration', 'BlueGreenUpdatePolicy']);
    assert.deepEqual(load.failures, []);
    assert.equal(load.tags.get('b') ?? 0, before, 'no traffic reaches the new fleet after the rollback');
    assert.ok((load.tags.get('a') ?? 0) > 0);
  });

  test('linear update under traffic completes: traffic moves to the new fleet, the old one stops; no invocation fails', async () => {
    const runningBefore = backend.running;
    const load = traffic('ep1');
    await call('UpdateEndpoint', {
      EndpointName: 'ep1',
      EndpointConfigName: 'cfg-b',
      DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'LINEAR', LinearStepSize: { Type: 'CAPACITY_PERCENT', Value: 50 }, WaitIntervalInSeconds: 0 }, TerminationWaitInSeconds: 0 } },
    });
    await until('InService on cfg-b', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      return d.EndpointStatus === 'InService' && d.EndpointConfigName === 'cfg-b' ? true : undefined;
    }, POLL);
    const seen = load.tags.get('b') ?? 0;
    await until('traffic on the new fleet', () => ((load.tags.get('b') ?? 0) > seen + 5 ? true : undefined), POLL);
    const aBefore = load.tags.get('a') ?? 0;
    await new Promise((r) => setTimeout(r, 100));
    await load.stop();
    assert.deepEqual(load.failures, []);
    assert.equal(load.tags.get('a') ?? 0, aBefore, 'the old fleet gets nothing once the update is done');
    await until('old fleet stopped', () => (backend.running === runningBefore ? true : undefined), POLL);
    const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(d.FailureReason, undefined);
  });

  test('rolling update: the new fleet grows and the old one shrinks batch by batch; a rollback restores the old fleet; no invocation fails', async () => {
    await config('cfg-a3', 'm-a', 3);
    await config('cfg-b3', 'm-b', 3);
    await call('CreateEndpoint', { EndpointName: 'ep-roll', EndpointConfigName: 'cfg-a3' });
    await until('InService', async () => ((await status('ep-roll')) === 'InService' ? true : undefined), POLL);
    const load = traffic('ep-roll');
    const rollingConfig = (wait: number) => ({
      RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: wait },
      AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'roll-alarm' }] },
    });
    const sizes = async (): Promise<{ blue: number; green: number | undefined; step: string | undefined }> => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep-roll' });
      const pending = d.PendingDeploymentSummary as { ProductionVariants?: Array<{ CurrentInstanceCount: number; VariantStatus: Array<{ StatusMessage: string }> }> } | undefined;
      return {
        blue: (d.ProductionVariants as Array<{ CurrentInstanceCount: number }>)[0]!.CurrentInstanceCount,
        green: pending?.ProductionVariants?.[0]?.CurrentInstanceCount,
        step: pending?.ProductionVariants?.[0]?.VariantStatus[0]?.StatusMessage,
      };
    };
    // Rolled back during the second batch: the old fleet is back to 3 instances.
    await call('UpdateEndpoint', { EndpointName: 'ep-roll', EndpointConfigName: 'cfg-b3', DeploymentConfig: rollingConfig(600) });
    await passFirstBake('ep-roll');
    const second = await until('second batch baking', async () => {
      const s = await sizes();
      return s.green === 2 && /Baking .*step 2 of 3/.test(s.step ?? '') ? s : undefined;
    }, POLL);
    assert.equal(second.blue, 2, 'one old instance retired after the first batch');
    alarms.states.set('roll-alarm', 'ALARM');
    await until('rolled back', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep-roll' });
      return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? true : undefined;
    }, POLL);
    alarms.states.delete('roll-alarm');
    assert.deepEqual(await sizes(), { blue: 3, green: undefined, step: undefined });
    // Completed: the new fleet ends with all 3 instances.
    await call('UpdateEndpoint', { EndpointName: 'ep-roll', EndpointConfigName: 'cfg-b3', DeploymentConfig: rollingConfig(0) });
    await until('InService on cfg-b3', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep-roll' });
      return d.EndpointStatus === 'InService' && d.EndpointConfigName === 'cfg-b3' ? true : undefined;
    }, POLL);
    await load.stop();
    assert.deepEqual(load.failures, []);
    assert.equal((await sizes()).blue, 3);
    await call('DeleteEndpoint', { EndpointName: 'ep-roll' });
  });

  test('linear update: the old fleet stays whole until the end (a step deactivates part of it) and a rollback moves traffic back to it; no invocation fails', async () => {
    await call('CreateEndpoint', { EndpointName: 'ep-lin', EndpointConfigName: 'cfg-a3' });
    await until('InService', async () => ((await status('ep-lin')) === 'InService' ? true : undefined), POLL);
    const load = traffic('ep-lin');
    await call('UpdateEndpoint', {
      EndpointName: 'ep-lin',
      EndpointConfigName: 'cfg-b3',
      DeploymentConfig: {
        BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'LINEAR', LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 } },
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'lin-alarm' }] },
      },
    });
    await passFirstBake('ep-lin');
    const blueSize = async (): Promise<{ blue: number; step?: string }> => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep-lin' });
      const p = d.PendingDeploymentSummary as { ProductionVariants?: Array<{ VariantStatus: Array<{ StatusMessage: string }> }> } | undefined;
      return { blue: (d.ProductionVariants as Array<{ CurrentInstanceCount: number }>)[0]!.CurrentInstanceCount, ...(p ? { step: p.ProductionVariants?.[0]?.VariantStatus[0]?.StatusMessage ?? '' } : {}) };
    };
    const second = await until('second step baking', async () => {
      const s = await blueSize();
      return /Baking .*step 2 of 3/.test(s.step ?? '') ? s : undefined;
    }, POLL);
    assert.equal(second.blue, 3, 'blue/green keeps the old fleet until the update ends');
    // No instance can start any more: the rollback has nothing to start again.
    backend.failStarts = true;
    try {
      alarms.states.set('lin-alarm', 'ALARM');
      await until('rolled back', async () => {
        const d = await call('DescribeEndpoint', { EndpointName: 'ep-lin' });
        return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? true : undefined;
      }, POLL);
    } finally {
      backend.failStarts = false;
      alarms.states.delete('lin-alarm');
    }
    await load.stop();
    assert.deepEqual(load.failures, []);
    assert.deepEqual(await blueSize(), { blue: 3 });
    await call('DeleteEndpoint', { EndpointName: 'ep-lin' });
  });

  test('a new fleet that never gets healthy rolls the update back; no invocation fails', async () => {
    const load = traffic('ep1');
    await call('UpdateEndpoint', { EndpointName: 'ep1', EndpointConfigName: 'cfg-bad' });
    await until('rolled back', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? true : undefined;
    }, POLL);
    await load.stop();
    const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(d.EndpointConfigName, 'cfg-b');
    assert.match(d.FailureReason as string, /new fleet for endpoint configuration "cfg-bad" did not start/);
    assert.deepEqual(load.failures, []);
  });

  test('UpdateEndpointWeightsAndCapacities starts and stops instances under traffic; no invocation fails', async () => {
    const load = traffic('ep1');
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep1', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 3, DesiredWeight: 2 }] });
    const updating = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(updating.EndpointStatus, 'Updating');
    const variantStatus = (updating.ProductionVariants as Array<{ DesiredInstanceCount: number; VariantStatus?: Array<{ Status: string }> }>)[0]!;
    assert.equal(variantStatus.DesiredInstanceCount, 3);
    assert.equal(variantStatus.VariantStatus?.[0]?.Status, 'Updating');
    await until('3 instances', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      const v = (d.ProductionVariants as Array<Record<string, number>>)[0]!;
      return d.EndpointStatus === 'InService' && v.CurrentInstanceCount === 3 ? v : undefined;
    }, POLL);
    await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep1', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 1 }] });
    const v = await until('1 instance', async () => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep1' });
      const pv = (d.ProductionVariants as Array<Record<string, number>>)[0]!;
      return d.EndpointStatus === 'InService' && pv.CurrentInstanceCount === 1 ? pv : undefined;
    }, POLL);
    await load.stop();
    assert.deepEqual(load.failures, []);
    assert.deepEqual([v.CurrentWeight, v.DesiredWeight, v.DesiredInstanceCount], [2, 2, 1]);
    await assert.rejects(call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep1', DesiredWeightsAndCapacities: [{ VariantName: 'Nope', DesiredWeight: 1 }] }), /The variant\(s\) "\[Nope\]" is\/are not present/);
    // A variant named twice is refused whole (nothing changes), not applied twice in some order.
    await assert.rejects(
      call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep1', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 1 }, { VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] }),
      (err: AwsServiceError) => err.type === 'ValidationException' && /"\[AllTraffic\]" appear more than once/.test(err.message),
    );
    const unchanged = await call('DescribeEndpoint', { EndpointName: 'ep1' });
    assert.equal(unchanged.EndpointStatus, 'InService');
    assert.equal((unchanged.ProductionVariants as Array<Record<string, number>>)[0]!.DesiredInstanceCount, 1);
  });

  test('UpdateEndpointWeightsAndCapacities: DesiredWeightsAndCapacities has no maximum, so its repeated variants are found in one pass, not by searching the list once per entry', () => {
    // 150 000 distinct names fit the 5 MiB body and took 20 s of one thread to refuse, searched per entry.
    // The check is synchronous: every array search made while it runs is its own.
    const names = Array.from({ length: 2_000 }, (_, i) => ({ VariantName: `v${i}` }));
    const indexOf = Array.prototype.indexOf;
    let scanned = 0;
    Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof indexOf>) {
      scanned += this.length;
      return indexOf.apply(this, args);
    };
    try {
      assert.throws(
        () => sm.lifecycle.updateWeightsAndCapacities({ EndpointName: 'ep1', DesiredWeightsAndCapacities: [...names, { VariantName: 'v7' }] }),
        (err: AwsServiceError) => err.type === 'ValidationException' && /^The variant\(s\) "\[v7\]" appear more than once/.test(err.message),
      );
    } finally {
      Array.prototype.indexOf = indexOf;
    }
    assert.ok(scanned <= 10 * names.length, `the check searched ${scanned} list items for ${names.length} entries`);
  });

  test('more instances than the local limit is ResourceLimitExceeded, as an account quota is', async () => {
    await config('cfg-huge', 'm-a', 16);
    await assert.rejects(call('CreateEndpoint', { EndpointName: 'ep-huge', EndpointConfigName: 'cfg-huge' }), (err: AwsServiceError) => {
      assert.equal(err.type, 'ResourceLimitExceeded');
      assert.match(err.message, /is 16 Instances, with current utilization of 1 Instances and a request delta of 16 Instances\. Raise SMKIT_LOCAL_MAX_INSTANCES/);
      return true;
    });
    await assert.rejects(call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep1', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 17 }] }), (err: AwsServiceError) => err.type === 'ResourceLimitExceeded');
    assert.equal(sm.store.endpoints.has('ep-huge'), false);
  });

  test('Direct mode: each invocation runs the container TargetContainerHostname names (over HTTP with the runtime SDK)', async () => {
    await call('CreateModel', {
      ModelName: 'm-direct',
      InferenceExecutionConfig: { Mode: 'Direct' },
      Containers: [
        { ContainerHostname: 'first', ModelDataUrl: dir, Environment: { FAKE_TAG: 'first' } },
        { ContainerHostname: 'second', ModelDataUrl: dir, Environment: { FAKE_TAG: 'second' } },
      ],
    });
    await assert.rejects(
      call('CreateModel', { ModelName: 'm-direct-2', InferenceExecutionConfig: { Mode: 'Direct' }, Containers: [{ ModelDataUrl: dir }, { ModelDataUrl: dir }] }),
      /ContainerHostname must be specified for every container when InferenceExecutionConfig.Mode is Direct/,
    );
    await config('cfg-direct', 'm-direct');
    await call('CreateEndpoint', { EndpointName: 'ep-direct', EndpointConfigName: 'cfg-direct' });
    await until('InService', async () => ((await status('ep-direct')) === 'InService' ? true : undefined), POLL);
    const server = createServer(createFrontDoor({ endpoints: sm.directory(), services: sm.services }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const runtime = new SageMakerRuntimeClient(localClientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { requestTimeoutMs: 30_000 }));
    try {
      for (const host of ['second', 'first']) {
        const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-direct', TargetContainerHostname: host, Body: Buffer.from('[1]'), ContentType: 'application/json' }));
        assert.equal(JSON.parse(Buffer.from(out.Body!).toString()).tag, host);
      }
      await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-direct', Body: Buffer.from('[1]') })), (err: Error) => err.name === 'ValidationError' && /send TargetContainerHostname, one of first, second/.test(err.message));
      await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-direct', TargetContainerHostname: 'third', Body: Buffer.from('[1]') })), (err: Error) => err.name === 'ValidationError' && /third is not a container/.test(err.message));
      await assert.rejects(runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep1', TargetContainerHostname: 'first', Body: Buffer.from('[1]') })), (err: Error) => err.name === 'ValidationError' && /applies only to a model whose InferenceExecutionConfig Mode is Direct/.test(err.message));
    } finally {
      runtime.destroy();
      await new Promise((r) => server.close(r));
    }
    await call('DeleteEndpoint', { EndpointName: 'ep-direct' });
  });

  test('a serial pipeline, a shadow variant and the invocation metrics: each production invocation is recorded with its outcome', async () => {
    await call('CreateModel', {
      ModelName: 'm-pipe',
      Containers: [
        { ModelDataUrl: dir, Environment: { FAKE_TAG: 'one' } },
        { ModelDataUrl: dir, Environment: { FAKE_TAG: 'two' } },
      ],
    });
    assert.deepEqual((await call('DescribeModel', { ModelName: 'm-pipe' })).InferenceExecutionConfig, { Mode: 'Serial' });
    await model('m-shadow', 'shadow');
    await model('m-4xx', '4xx', { FAKE_STATUS: '400' });
    await model('m-5xx', '5xx', { FAKE_STATUS: '503' });
    await call('CreateEndpointConfig', {
      EndpointConfigName: 'cfg-pipe',
      ProductionVariants: [
        { VariantName: 'Pipe', ModelName: 'm-pipe', InitialInstanceCount: 2, InitialVariantWeight: 1 },
        { VariantName: 'Bad4', ModelName: 'm-4xx', InitialVariantWeight: 0 },
        { VariantName: 'Bad5', ModelName: 'm-5xx', InitialVariantWeight: 0 },
      ],
      ShadowProductionVariants: [{ VariantName: 'Shadow', ModelName: 'm-shadow' }],
    });
    await call('CreateEndpoint', { EndpointName: 'ep-pipe', EndpointConfigName: 'cfg-pipe' });
    await until('InService', async () => ((await status('ep-pipe')) === 'InService' ? true : undefined), POLL);
    const d = await call('DescribeEndpoint', { EndpointName: 'ep-pipe' });
    assert.deepEqual((d.ShadowProductionVariants as Array<{ VariantName: string; CurrentInstanceCount: number }>).map((v) => [v.VariantName, v.CurrentInstanceCount]), [['Shadow', 1]]);
    // Each container of the pipeline's two instances has a SAGEMAKER_SAFE_PORT_RANGE of its own, holding no bound port; single containers none.
    const mine = backend.started.filter((c) => c.id.startsWith('ep-pipe/'));
    const piped = mine.filter((c) => c.id.startsWith('ep-pipe/cfg-pipe/Pipe/'));
    assert.equal(piped.length, 4);
    const claimed = new Set(mine.map((c) => c.port));
    for (const c of piped) {
      const [low, high] = c.safePortRange!;
      for (let p = low; p <= high; p++) assert.ok(!claimed.has(p), `${c.id}: port ${p} of its range is a bound port or another range's`), claimed.add(p);
    }
    assert.deepEqual(mine.filter((c) => c.safePortRange).map((c) => c.id).sort(), piped.map((c) => c.id).sort());
    records.length = 0;
    const ep = sm.directory().get('ep-pipe')!;
    const { variant, response } = await ep.invoke({ body: Buffer.from('in'), contentType: 'text/plain' });
    assert.equal(variant, 'Pipe');
    const answer = JSON.parse(response.body.toString()) as { tag: string; got: string };
    assert.equal(answer.tag, 'two', 'the last container answers');
    assert.equal((JSON.parse(answer.got) as { tag: string }).tag, 'one', 'the first container fed the second');
    await until('shadow copy', () => (backend.invocations.some((i) => i.id.startsWith('ep-pipe/cfg-pipe/Shadow/') && i.body === 'in') ? true : undefined), POLL);
    await assert.rejects(ep.invoke({ body: Buffer.from('x'), contentType: 'text/plain', targetVariant: 'Bad4' }));
    await assert.rejects(ep.invoke({ body: Buffer.from('x'), contentType: 'text/plain', targetVariant: 'Bad5' }));
    assert.deepEqual(
      records.map((r) => [r.endpoint, r.variant, r.outcome, r.instanceCount]),
      [
        ['ep-pipe', 'Pipe', 'ok', 2],
        ['ep-pipe', 'Bad4', '4xx', 1],
        ['ep-pipe', 'Bad5', '5xx', 1],
      ],
    );
    assert.ok(records[0]!.modelLatencyMicros! > 0 && records[0]!.overheadLatencyMicros! >= 0);
    assert.ok(Math.abs(records[0]!.at - Date.now()) < 60_000);
    await call('DeleteEndpoint', { EndpointName: 'ep-pipe' });
  });

  test('DescribeEndpoint summarises DataCaptureConfig with KmsKeyId only when the config set one, as the service does', async () => {
    await model('m-kms', 'kms');
    const capture = (kms?: string): Record<string, unknown> => ({
      DataCaptureConfig: { InitialSamplingPercentage: 50, DestinationS3Uri: join(dir, 'capture'), CaptureOptions: [{ CaptureMode: 'Input' }], ...(kms ? { KmsKeyId: kms } : {}) },
    });
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    await config('cfg-kms', 'm-kms', 1, capture(key));
    await config('cfg-nokms', 'm-kms', 1, capture());
    await call('CreateEndpoint', { EndpointName: 'ep-kms', EndpointConfigName: 'cfg-kms' });
    await call('CreateEndpoint', { EndpointName: 'ep-nokms', EndpointConfigName: 'cfg-nokms' });
    for (const name of ['ep-kms', 'ep-nokms']) await until(`${name} InService`, async () => ((await status(name)) === 'InService' ? true : undefined), POLL);
    const summary = async (name: string): Promise<unknown> => (await call('DescribeEndpoint', { EndpointName: name })).DataCaptureConfig;
    assert.deepEqual(await summary('ep-kms'), { EnableCapture: true, CaptureStatus: 'Started', CurrentSamplingPercentage: 50, DestinationS3Uri: join(dir, 'capture'), KmsKeyId: key });
    // botocore marks KmsKeyId required in DataCaptureConfigSummary, but the service leaves it out when
    // no key was given (aws/sagemaker-python-sdk#5738); SDKs do not validate outputs.
    assert.deepEqual(await summary('ep-nokms'), { EnableCapture: true, CaptureStatus: 'Started', CurrentSamplingPercentage: 50, DestinationS3Uri: join(dir, 'capture') });
    for (const name of ['ep-kms', 'ep-nokms']) await call('DeleteEndpoint', { EndpointName: name });
    for (const name of ['ep-kms', 'ep-nokms']) await until(`${name} deleted`, async () => (await call('DescribeEndpoint', { EndpointName: name }).then(() => undefined, () => true)), POLL);
  });

  test('DataCaptureConfig.DestinationS3Uri: an Amazon S3 https:// URL is written to S3 (encrypted with KmsKeyId), as on the service; other URLs are refused, not taken for a folder', async () => {
    await model('m-cap', 'cap');
    const capture = (uri: string, kms?: string): Record<string, unknown> => ({ DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: uri, CaptureOptions: [{ CaptureMode: 'Input' }], ...(kms ? { KmsKeyId: kms } : {}) } });
    // Outside botocore's pattern (https|s3)://([^/])/?(.*): the service's own words.
    // And a URL one slash short, which is no folder named "s3:" either.
    for (const uri of ['ftp://capture/x', 's3://', 'http://capture.s3.amazonaws.com/x', '', 's3:/capture/x', 'file:capture']) {
      await assert.rejects(config('cfg-cap-bad', 'm-cap', 1, capture(uri)), {
        name: 'ValidationException',
        message: `1 validation error detected: Value '${uri}' at 'dataCaptureConfig.destinationS3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/])/?(.*)`,
      });
    }
    await assert.rejects(config('cfg-cap-bad', 'm-cap', 1, capture('https://example.com/capture')), /^ValidationException: DataCaptureConfig\.DestinationS3Uri https:\/\/example\.com\/capture is not a place the local SageMaker writes data capture to/);
    // A file:// URL of another host, or with an encoded '/', names no local folder: refused, not an InternalFailure.
    for (const uri of ['file://remote/capture', 'file:///tmp/a%2Fb']) {
      await assert.rejects(config('cfg-cap-bad', 'm-cap', 1, capture(uri)), {
        name: 'ValidationException',
        message: `DataCaptureConfig.DestinationS3Uri ${uri} is a file:// URL that names no local folder (its host is not localhost, or its path holds an encoded '/'): use file:///absolute/path/to/folder or the folder's path.`,
      });
    }
    await config('cfg-cap', 'm-cap', 1, capture('https://capture.s3.eu-west-1.amazonaws.com/cap/run%201', 'alias/capture-key'));
    await call('CreateEndpoint', { EndpointName: 'ep-cap', EndpointConfigName: 'cfg-cap' });
    await until('ep-cap InService', async () => ((await status('ep-cap')) === 'InService' ? true : undefined), POLL);
    await sm.directory().get('ep-cap')!.invoke({ body: Buffer.from('[7]'), contentType: 'application/json' });
    await call('DeleteEndpoint', { EndpointName: 'ep-cap' });
    await until('ep-cap deleted', () => (sm.store.endpoints.has('ep-cap') ? undefined : true), POLL);
    const keys = [...s3Puts.keys()].filter((k) => k.startsWith('capture/cap/run 1/ep-cap/'));
    assert.equal(keys.length, 1, `the capture file was uploaded when the endpoint stopped: ${[...s3Puts.keys()].join(', ')}`);
    assert.match(keys[0]!, /^capture\/cap\/run 1\/ep-cap\/AllTraffic\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$/);
    assert.equal(Buffer.from((JSON.parse(s3Puts.get(keys[0]!)!) as { captureData: { endpointInput: { data: string } } }).captureData.endpointInput.data, 'base64').toString(), '[7]');
    // "a Key Management Service key that SageMaker AI uses to encrypt the captured data at rest using Amazon S3 server-side encryption" (DataCaptureConfig).
    assert.equal(s3Kms.get(keys[0]!), 'alias/capture-key');
    // Its local copy, uploaded, went with it: each endpoint deleted or updated left its captured data in the work folder until smkit local stopped.
    assert.equal(existsSync(join(sm.workDir, 'capture', 'ep-cap')), false);
    // And so did the folder of its instances' folders (each endpoint deleted left one, empty).
    assert.deepEqual((await readdir(join(sm.workDir, 'instances'))).filter((f) => f.startsWith('ep-cap.')), []);
  });

  test('DeleteEndpoint while Creating stops the start-up: the endpoint goes away and no container is left', async () => {
    await model('m-slow', 'slow', { FAKE_READY_AFTER_MS: '60000' });
    await config('cfg-slow', 'm-slow', 2);
    await call('CreateEndpoint', { EndpointName: 'ep-slow', EndpointConfigName: 'cfg-slow' });
    await until('containers started', () => (backend.started.filter((c) => c.id.startsWith('ep-slow/')).length === 2 ? true : undefined), POLL);
    assert.equal(await status('ep-slow'), 'Creating');
    await call('DeleteEndpoint', { EndpointName: 'ep-slow' });
    assert.equal(await status('ep-slow'), 'Deleting');
    await until('gone', () => (sm.store.endpoints.has('ep-slow') ? undefined : true), POLL);
    await until('containers stopped', () => (backend.stopped.filter((id) => id.startsWith('ep-slow/')).length === 2 ? true : undefined), POLL);
  });

  test('delete: Deleting, then DescribeEndpoint answers ValidationException (what the endpoint-deleted waiter waits for)', async () => {
    await call('DeleteEndpoint', { EndpointName: 'ep1' });
    assert.equal(sm.directory().get('ep1'), undefined);
    await until('gone', async () => {
      try {
        await call('DescribeEndpoint', { EndpointName: 'ep1' });
        return undefined;
      } catch (err) {
        assert.equal((err as AwsServiceError).type, 'ValidationException');
        assert.equal((err as Error).message, 'Could not find endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/ep1".');
        return true;
      }
    }, POLL);
    await until('every container stopped', () => (backend.running === 0 ? true : undefined), POLL);
  });
});
