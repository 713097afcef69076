// Stopping the local SageMaker: the calls that start endpoint instances or inference component
// copies are refused once the stop has begun (its stopAll()s stop only what exists then), and no
// container the control plane started is left running once stop() has resolved.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { until } from '../../../test/helpers/until.js';
import { AwsServiceError, type AwsService } from '../../aws/service.js';
import { AUTOSCALING_TARGET_PREFIX, createLocalSageMaker, type LocalSageMakerCore } from './local-sagemaker.js';

const ROLE = 'arn:aws:iam::123456789012:role/smkit-local';
const POLL = { timeoutMs: 20_000, intervalMs: 25 };

/** A stand-in for Application Auto Scaling whose DescribeScalableTargets answers only once released. */
class HeldAutoscaling implements AwsService {
  readonly targetPrefix = AUTOSCALING_TARGET_PREFIX;
  readonly signingName = 'application-autoscaling';
  asked = 0;
  private held: Array<() => void> = [];
  async call(operation: string): Promise<Record<string, unknown>> {
    if (operation !== 'DescribeScalableTargets') throw new AwsServiceError('UnknownOperationException', operation);
    this.asked++;
    await new Promise<void>((resolve) => this.held.push(resolve));
    return { ScalableTargets: [] };
  }
  release(): void {
    for (const go of this.held.splice(0)) go();
  }
}

let dir: string;

describe('endpoint stop', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-stop-test-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A local SageMaker on `backend` (given `services` in place of alarms and scaling) with model `m`,
   * endpoint `ep` (InService, one instance) and config `ep-2` to update it to. A set-up that fails
   * stops the local SageMaker.
   */
  async function withEndpoint(backend: FakeBackend, { services = [], startupTimeoutMs = 5_000 }: { services?: AwsService[]; startupTimeoutMs?: number } = {}): Promise<LocalSageMakerCore> {
    const local = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs, services, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
    try {
      await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
      for (const name of ['ep', 'ep-2']) {
        await call('CreateEndpointConfig', { EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] });
      }
      await call('CreateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'ep' });
      await until('ep InService', async () => (await call('DescribeEndpoint', { EndpointName: 'ep' })).EndpointStatus === 'InService', POLL);
      return local;
    } catch (err) {
      // A stop that fails too must not hide why the set-up failed.
      await local.stop().catch(() => {});
      throw err;
    }
  }

  /** Inference component `name` on endpoint `host`: one copy of model `m`. */
  const component = (name: string) => ({ InferenceComponentName: name, EndpointName: 'host', VariantName: 'AllTraffic', Specification: { ModelName: 'm', ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } }, RuntimeConfig: { CopyCount: 1 } });

  /**
   * A local SageMaker on `backend` (no alarms and scaling) with model `m`, endpoint `host` (InService,
   * one ml.g5.2xlarge instance, no model of its own) and inference component `ic` on it (InService,
   * one copy); `hostContainers` is what the backend ran before `ic`'s copy started. A set-up that
   * fails stops the local SageMaker.
   */
  async function withComponent(backend: FakeBackend, startupTimeoutMs: number): Promise<{ local: LocalSageMakerCore; call: (op: string, input: Record<string, unknown>) => Promise<Record<string, unknown>>; hostContainers: number }> {
    const local = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs, alarmsAndScaling: false, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
    try {
      await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
      await call('CreateEndpointConfig', { EndpointConfigName: 'host', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }] });
      await call('CreateEndpoint', { EndpointName: 'host', EndpointConfigName: 'host' });
      await until('host InService', async () => (await call('DescribeEndpoint', { EndpointName: 'host' })).EndpointStatus === 'InService', POLL);
      const hostContainers = backend.running;
      await call('CreateInferenceComponent', component('ic'));
      await until('ic InService', async () => (await call('DescribeInferenceComponent', { InferenceComponentName: 'ic' })).InferenceComponentStatus === 'InService', POLL);
      return { local, call, hostContainers };
    } catch (err) {
      // A stop that fails too must not hide why the set-up failed.
      await local.stop().catch(() => {});
      throw err;
    }
  }

  const stopping = (op: string) => (err: Error) => err.name === 'ServiceUnavailable' && err.message.includes(`stopping and starts no more`) && err.message.includes(`send ${op} again`);

  test('CreateEndpoint, UpdateEndpoint and UpdateEndpointWeightsAndCapacities sent once the local SageMaker has stopped are ServiceUnavailable and start no container', async () => {
    const backend = new FakeBackend();
    const local = await withEndpoint(backend);
    const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
    await local.stop();
    assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    const started = backend.started.length;
    // smkit local with an endpoint file stops the control plane before its front door, so calls can still come.
    await assert.rejects(call('CreateEndpoint', { EndpointName: 'late', EndpointConfigName: 'ep' }), stopping('CreateEndpoint'));
    await assert.rejects(call('UpdateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'ep-2' }), stopping('UpdateEndpoint'));
    await assert.rejects(
      call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] }),
      stopping('UpdateEndpointWeightsAndCapacities'),
    );
    assert.equal(backend.started.length, started);
    assert.equal(backend.running, 0);
  });

  test('an UpdateEndpoint still waiting on Application Auto Scaling when the local SageMaker stops is ServiceUnavailable and starts no fleet', async () => {
    const backend = new FakeBackend();
    const autoscaling = new HeldAutoscaling();
    const local = await withEndpoint(backend, { services: [autoscaling] });
    try {
      const updating = local.sagemaker.call('UpdateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'ep-2' });
      updating.catch(() => {});
      // The call is held at its DescribeScalableTargets (the instance-type check) while the whole stop runs.
      await until('the update asked Application Auto Scaling', () => autoscaling.asked > 0, POLL);
      const started = backend.started.length;
      await local.stop();
      autoscaling.release();
      await assert.rejects(updating, stopping('UpdateEndpoint'));
      assert.equal(backend.started.length, started);
      assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    } finally {
      autoscaling.release();
      await local.stop();
    }
  });

  test('CreateInferenceComponent, UpdateInferenceComponent and UpdateInferenceComponentRuntimeConfig sent once the local SageMaker has stopped are ServiceUnavailable and start no copy', async () => {
    const backend = new FakeBackend();
    const { local, call } = await withComponent(backend, 5_000);
    await local.stop();
    assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    const started = backend.started.length;
    await assert.rejects(call('CreateInferenceComponent', component('late')), stopping('CreateInferenceComponent'));
    await assert.rejects(call('UpdateInferenceComponent', { InferenceComponentName: 'ic', Specification: component('ic').Specification }), stopping('UpdateInferenceComponent'));
    await assert.rejects(call('UpdateInferenceComponent', { InferenceComponentName: 'ic', RuntimeConfig: { CopyCount: 2 } }), stopping('UpdateInferenceComponent'));
    await assert.rejects(call('UpdateInferenceComponentRuntimeConfig', { InferenceComponentName: 'ic', DesiredRuntimeConfig: { CopyCount: 2 } }), stopping('UpdateInferenceComponentRuntimeConfig'));
    assert.equal(backend.started.length, started);
    assert.equal(backend.running, 0);
  });

  test('a serverless cold start still under way when the local SageMaker stops is cut short: the invocation is a 503 and no container is left once stop() resolves', async () => {
    const backend = new FakeBackend();
    const local = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
    await call('CreateModel', { ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
    await call('CreateEndpointConfig', { EndpointConfigName: 'sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 1 } }] });
    await call('CreateEndpoint', { EndpointName: 'sl', EndpointConfigName: 'sl' });
    await until('sl InService', async () => (await call('DescribeEndpoint', { EndpointName: 'sl' })).EndpointStatus === 'InService', POLL);
    // The cold start's container never passes /ping, so the start is still under way when the stop begins.
    backend.readyAfterMs = 600_000;
    const invoking = local.directory().get('sl')!.invoke({ body: Buffer.from('[1]'), contentType: 'application/json' });
    invoking.catch(() => {});
    await until('the cold start started its container', () => backend.running === 1, POLL);
    await local.stop();
    assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    await assert.rejects(invoking, (err: { status?: number }) => err.status === 503);
  });

  test('a copy-count change still starting copies when the local SageMaker stops is cut short: no container is left once stop() resolves, and stop() does not wait for their /ping', { timeout: 60_000 }, async () => {
    const backend = new FakeBackend();
    // Far beyond the test's timeout: a stop that waited for the start to fail would not finish in it.
    const { local, call } = await withComponent(backend, 600_000);
    try {
      // The new copy's container never passes /ping, so its start is still under way when the stop begins.
      backend.readyAfterMs = 600_000;
      const running = backend.running;
      await call('UpdateInferenceComponentRuntimeConfig', { InferenceComponentName: 'ic', DesiredRuntimeConfig: { CopyCount: 2 } });
      await until('the new copy started its container', () => backend.running === running + 1, POLL);
      await local.stop();
      assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    } finally {
      await local.stop();
    }
  });

  test('DeleteInferenceComponent while its copy-count change is still starting copies stops them at once: the component is gone without waiting for their /ping', { timeout: 60_000 }, async () => {
    const backend = new FakeBackend();
    const { local, call, hostContainers } = await withComponent(backend, 600_000);
    try {
      backend.readyAfterMs = 600_000;
      await call('UpdateInferenceComponentRuntimeConfig', { InferenceComponentName: 'ic', DesiredRuntimeConfig: { CopyCount: 2 } });
      await until('the new copy started its container', () => backend.running === hostContainers + 2, POLL);
      await call('DeleteInferenceComponent', { InferenceComponentName: 'ic' });
      await until('ic deleted', () => call('DescribeInferenceComponent', { InferenceComponentName: 'ic' }).then(() => false, () => true), POLL);
      assert.equal(backend.running, hostContainers, `copies left running: ${backend.runningIds.join(', ')}`);
    } finally {
      await local.stop();
    }
  });

  test('an UpdateEndpointWeightsAndCapacities scale-out still starting instances when the local SageMaker stops is cut short: no container is left once stop() resolves, and stop() does not wait for their /ping', { timeout: 60_000 }, async () => {
    const backend = new FakeBackend();
    // Far beyond the test's timeout: a stop that waited for the start to fail would not finish in it.
    const local = await withEndpoint(backend, { startupTimeoutMs: 600_000 });
    try {
      const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
      // The new instance's container never passes /ping, so its start is still under way when the stop begins.
      backend.readyAfterMs = 600_000;
      await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] });
      await until('the new instance started its container', () => backend.running === 2, POLL);
      await local.stop();
      assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    } finally {
      await local.stop();
    }
  });

  test('DeleteEndpoint while an UpdateEndpointWeightsAndCapacities scale-out is still starting instances stops them at once: the endpoint is gone without waiting for their /ping', { timeout: 60_000 }, async () => {
    const backend = new FakeBackend();
    const local = await withEndpoint(backend, { startupTimeoutMs: 600_000 });
    try {
      const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
      backend.readyAfterMs = 600_000;
      await call('UpdateEndpointWeightsAndCapacities', { EndpointName: 'ep', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] });
      await until('the new instance started its container', () => backend.running === 2, POLL);
      await call('DeleteEndpoint', { EndpointName: 'ep' });
      await until('ep deleted', () => call('DescribeEndpoint', { EndpointName: 'ep' }).then(() => false, () => true), POLL);
      assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    } finally {
      await local.stop();
    }
  });

  /**
   * A local SageMaker whose endpoint `ep` (two instances of config `a`) is in a rolling UpdateEndpoint
   * to config `b` (batches of one instance): its first batch has baked and its second batch has
   * begun to start an instance whose /ping never passes: only its start-up deadline (3 minutes,
   * beyond the tests' waits for the delete and the stop) ends that start, should nothing cut it short.
   */
  async function atSecondBatch(backend: FakeBackend): Promise<{ local: LocalSageMakerCore; call: (op: string, input: Record<string, unknown>) => Promise<Record<string, unknown>>; status: () => Promise<string> }> {
    let clockAheadMs = 0;
    const local = await createLocalSageMaker({ backendImpl: backend, startupTimeoutMs: 180_000, alarmsAndScaling: false, alarmPollMs: 25, deploymentNow: () => Date.now() + clockAheadMs, settings: { region: 'eu-west-1', accountId: '123456789012' } });
    const call = (op: string, input: Record<string, unknown>) => local.sagemaker.call(op, input);
    const status = async (): Promise<string> => {
      const d = await call('DescribeEndpoint', { EndpointName: 'ep' }).catch((err: Error) => ({ error: err.message }) as Record<string, unknown>);
      const p = d.PendingDeploymentSummary as { ProductionVariants?: Array<{ VariantStatus?: Array<{ Status: string; StatusMessage?: string }> }> } | undefined;
      const s = p?.ProductionVariants?.[0]?.VariantStatus?.[0];
      return `${String(d.EndpointStatus ?? d.error)}${s ? ` (${s.Status}: ${s.StatusMessage})` : ''}`;
    };
    try {
      for (const tag of ['a', 'b']) {
        await call('CreateModel', { ModelName: tag, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir } });
        await call('CreateEndpointConfig', { EndpointConfigName: tag, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: tag, InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] });
      }
      await call('CreateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'a' });
      await until('ep InService', async () => (await call('DescribeEndpoint', { EndpointName: 'ep' })).EndpointStatus === 'InService', { intervalMs: 25 });
      await call('UpdateEndpoint', { EndpointName: 'ep', EndpointConfigName: 'b', DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 600 } } });
      await until('ep baking its first batch', async () => / \(Baking: .*step 1 of/.test(await status()), { intervalMs: 25 });
      backend.readyAfterMs = 3_600_000;
      // Past the bake: the first batch of the old fleet retires and the second batch starts.
      clockAheadMs += 601_000;
      // Its own instance, not a first-batch instance started again on a new port (another test file took the port).
      await until('ep starting its second batch', () => backend.started.some((c) => c.id.startsWith('ep/b/AllTraffic/i1/')), { intervalMs: 25 });
      assert.match(await status(), /\(Creating: Starting the next batch/);
      return { local, call, status };
    } catch (err) {
      await local.stop().catch(() => {});
      throw err;
    }
  }

  // A delete or stop that waited for the batch's start fails its wait (60 s) naming what was left
  // running; the tests' time limits only cover that failure's clean-up, bounded by the start-up deadline.
  test('DeleteEndpoint while a rolling UpdateEndpoint starts its next batch stops it at once: nothing waits for the batch\'s /ping', { timeout: 300_000 }, async () => {
    const backend = new FakeBackend();
    const { local, call } = await atSecondBatch(backend);
    try {
      await call('DeleteEndpoint', { EndpointName: 'ep' });
      await until('ep deleted', () => call('DescribeEndpoint', { EndpointName: 'ep' }).then(() => false, () => true), { intervalMs: 25, detail: () => `containers running: ${backend.runningIds.join(', ')}` });
      assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
    } finally {
      await local.stop();
    }
  });

  test('stop() while a rolling UpdateEndpoint starts its next batch stops it at once: nothing waits for the batch\'s /ping', { timeout: 300_000 }, async () => {
    const backend = new FakeBackend();
    const { local, status } = await atSecondBatch(backend);
    const last = await status();
    let stopped = false;
    const stopping = local.stop().then(() => (stopped = true));
    await until('stop() to resolve', () => stopped, { detail: () => `ep was ${last} when stop() was called; containers running: ${backend.runningIds.join(', ')}` });
    await stopping;
    assert.equal(backend.running, 0, `containers left running: ${backend.runningIds.join(', ')}`);
  });
});
