// Model data versions leave the local SageMaker's disk once nothing uses them: through the real
// SDK clients against a real local S3 server, each update or deletion awaited with DescribeEndpoint,
// the removals with ModelDataHolds.settled(). Bakes are counted on a clock the tests move.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  CreateTransformJobCommand,
  DeleteEndpointCommand,
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  DescribeTransformJobCommand,
  UpdateEndpointCommand,
  UpdateInferenceComponentCommand,
  type DeploymentConfig,
} from '@aws-sdk/client-sagemaker';
import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { createComponentEndpoint } from '../../../test/helpers/component-host.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { startLocalS3, type LocalS3 } from '../../../test/helpers/local-s3.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { deleteEndpointAndWait } from '../../../test/helpers/endpoint-deletion.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../control-plane/local-sagemaker.js';
import { ModelDataHolds } from './model-data-holds.js';

let s3: LocalS3;
let backend: FakeBackend;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;
let clockAheadMs = 0;

const POLL = { timeoutMs: 30_000, intervalMs: 25 };

describe('model data holds', () => {
  before(async () => {
    s3 = await startLocalS3(['models']);
    backend = new FakeBackend();
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmPollMs: 25, healthCheckMs: 0, settings: { s3EndpointUrl: s3.url }, deploymentNow: () => Date.now() + clockAheadMs });
    aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
    for (const tag of ['v1', 'v2', 'v3']) {
      await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: `hy/${tag}/model.tar.gz`, Body: craftTarGz([{ path: 'model.onnx', body: tag }]) }));
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: `hy-${tag}`, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: `s3://models/hy/${tag}/model.tar.gz` } }));
      await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: `hy-${tag}`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: `hy-${tag}`, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
  });

  after(async () => {
    aws?.destroy();
    await local?.stop();
    await s3?.stop();
  });

  const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

  /** Waits until `paths` are gone: the old fleet of an update stops after the endpoint is InService on the new one. */
  async function gone(what: string, paths: readonly string[]): Promise<void> {
    await until(`${what} removed`, async () => ((await Promise.all(paths.map(exists))).some(Boolean) ? undefined : true), POLL);
  }

  /** Every file under `dir`, relative to it. */
  async function files(dir: string): Promise<string[]> {
    const all = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    const kinds = await Promise.all(all.map((rel) => stat(join(dir, rel)).then((s) => s.isFile(), () => false)));
    return all.filter((_, i) => kinds[i]).sort();
  }

  /** The model data folders held now that were not in `before`. */
  const heldSince = (before: readonly string[]): string[] => local.modelData.held.filter((p) => !before.includes(p));

  /** The `/opt/ml` trees of the containers started for `endpoint` so far. */
  const instanceTrees = (endpoint: string): string[] => backend.started.filter((s) => s.id.startsWith(`${endpoint}/`)).map((s) => s.optMlDir);

  async function status(name: string, want: string, config?: string): Promise<void> {
    await until(`${name} ${want}${config ? ` on ${config}` : ''}`, async () => {
      const d = await aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));
      if (d.EndpointStatus === 'Failed') throw new Error(`${name} failed: ${d.FailureReason}`);
      return d.EndpointStatus === want && (config === undefined || d.EndpointConfigName === config) && d.PendingDeploymentSummary === undefined ? true : undefined;
    }, POLL);
  }

  /** Creates `name` on config `config`; resolves with the model data folders it holds once InService. */
  async function create(name: string, config: string): Promise<string[]> {
    const held = local.modelData.held;
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: config }));
    await status(name, 'InService');
    const mine = heldSince(held);
    assert.equal(mine.length, 1, `one model data folder: ${mine.join(', ')}`);
    return mine;
  }

  async function deleteAndWait(name: string): Promise<void> {
    await deleteEndpointAndWait(aws.sagemaker, name, POLL);
    await local.modelData.settled();
  }

  test('UpdateEndpoint to a new model removes the old version and the old instance folders once the update is over; DeleteEndpoint removes the new one', async () => {
    const [v1] = await create('hy-update', 'hy-v1');
    const oldTrees = instanceTrees('hy-update');
    assert.ok(await exists(v1!), 'v1 on disk while in use');
    const held = local.modelData.held;
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'hy-update', EndpointConfigName: 'hy-v2' }));
    await status('hy-update', 'InService', 'hy-v2');
    const [v2] = heldSince(held);
    assert.ok(v2 && (await exists(v2)), 'the new version is on disk');
    await gone('the old version and the old instances\' /opt/ml trees', [v1!, ...oldTrees]);
    const newTrees = instanceTrees('hy-update').filter((t) => !oldTrees.includes(t));
    assert.ok(newTrees.length > 0 && (await Promise.all(newTrees.map(exists))).every(Boolean), 'the new instance\'s tree is there');
    await deleteAndWait('hy-update');
    assert.equal(await exists(v2), false, 'the deleted endpoint\'s version is gone');
    assert.deepEqual(await Promise.all(newTrees.map(exists)), newTrees.map(() => false));
  });

  test('two endpoints of one S3 object share one copy: deleting one keeps it for the other, deleting both removes it', async () => {
    const [a] = await create('hy-share-a', 'hy-v3');
    const before = await stat(a!);
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'hy-share-b', EndpointConfigName: 'hy-v3' }));
    await status('hy-share-b', 'InService');
    assert.equal((await stat(a!)).ino, before.ino, 'the second deployment reused the copy');
    await deleteAndWait('hy-share-a');
    assert.ok(await exists(a!), 'still used by hy-share-b');
    await deleteAndWait('hy-share-b');
    assert.equal(await exists(a!), false);
  });

  /** Starts a blue/green update of `name` from hy-v1 to hy-v2 that bakes for 600 s with an alarm; resolves once it bakes. */
  async function bakingUpdate(name: string): Promise<{ blue: string; green: string; alarm: string }> {
    const [blue] = await create(name, 'hy-v1');
    const alarm = `${name}-alarm`;
    await aws.cloudwatch.send(new PutMetricAlarmCommand({ AlarmName: alarm, Namespace: 'Test', MetricName: 'Errors', Statistic: 'Sum', Period: 3600, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }));
    const deploymentConfig: DeploymentConfig = {
      BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 }, TerminationWaitInSeconds: 0 },
      AutoRollbackConfiguration: { Alarms: [{ AlarmName: alarm }] },
    };
    const held = local.modelData.held;
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: name, EndpointConfigName: 'hy-v2', DeploymentConfig: deploymentConfig }));
    await until('baking', async () => {
      const d = await aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));
      return d.PendingDeploymentSummary?.ProductionVariants?.[0]?.VariantStatus?.[0]?.Status === 'Baking' ? true : undefined;
    }, POLL);
    const [green] = heldSince(held);
    assert.ok(green, 'the new fleet holds its version');
    assert.ok((await exists(blue!)) && (await exists(green)), 'both versions on disk while the update bakes');
    return { blue: blue!, green, alarm };
  }

  test('a blue/green update keeps the old version through its bake; a rollback then removes the new one and the old serves on', async () => {
    const { blue, green, alarm } = await bakingUpdate('hy-rollback');
    await aws.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarm, StateValue: 'ALARM', StateReason: 'forced by the test' }));
    await status('hy-rollback', 'InService', 'hy-v1');
    await local.modelData.settled();
    assert.ok(await exists(blue), 'the old version, serving again, is kept');
    assert.equal(await exists(green), false, 'the rolled-back version is gone');
    await deleteAndWait('hy-rollback');
    assert.equal(await exists(blue), false);
  });

  test('a blue/green update that bakes to the end removes the old version only then', async () => {
    const { blue, green } = await bakingUpdate('hy-baked');
    clockAheadMs += 601_000;
    await status('hy-baked', 'InService', 'hy-v2');
    await gone('the old version', [blue]);
    assert.ok(await exists(green), 'the new version stays');
    await deleteAndWait('hy-baked');
  });

  test('DeleteEndpoint while a blue/green update bakes removes both versions once both fleets stopped', async () => {
    const { blue, green } = await bakingUpdate('hy-del-bake');
    await deleteAndWait('hy-del-bake');
    assert.deepEqual([await exists(blue), await exists(green)], [false, false]);
  });

  test('an update whose new fleet does not start gives up the new version at once and keeps the old one serving', async () => {
    const cache = join(local.workDir, 'model-data');
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'hy-bad', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/hy/v3/model.tar.gz', Environment: { FAKE_PING: 'fail' } } }));
    await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'hy-bad', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'hy-bad', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    const [v1] = await create('hy-fail', 'hy-v1');
    const before = await files(cache);
    const started = backend.started.length;
    await aws.sagemaker.send(new UpdateEndpointCommand({ EndpointName: 'hy-fail', EndpointConfigName: 'hy-bad' }));
    await until('hy-fail rolled back', async () => {
      const d = await aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'hy-fail' }));
      return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? true : undefined;
    }, POLL);
    assert.ok(backend.started.slice(started).some((c) => c.id.startsWith('hy-fail/hy-bad/')), 'the new fleet was tried, from its downloaded model data');
    await local.modelData.settled();
    assert.deepEqual(await files(cache), before, 'the new version is gone, the old one stays');
    assert.ok(await exists(v1!));
    await deleteAndWait('hy-fail');
    assert.equal(await exists(v1!), false);
  });

  test('UpdateInferenceComponent to a new artifact removes the old version once the old copies stopped, leaves the new copy its tree; DeleteInferenceComponent removes the new version', async () => {
    await createComponentEndpoint(aws.sagemaker, 'hy-ic-ep', POLL);
    const spec = (tag: string) => ({ Container: { Image: 'repo/img:1', ArtifactUrl: `s3://models/hy/${tag}/model.tar.gz` }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } });
    const ready = (name: string) => until(`${name} InService`, async () => ((await aws.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }))).InferenceComponentStatus === 'InService' ? true : undefined), POLL);
    let held = local.modelData.held;
    await aws.sagemaker.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'hy-ic', EndpointName: 'hy-ic-ep', Specification: spec('v1'), RuntimeConfig: { CopyCount: 1 } }));
    await ready('hy-ic');
    const [v1] = heldSince(held);
    assert.ok(v1 && (await exists(v1)), 'the component\'s version is held and on disk');
    const oldTrees = instanceTrees('hy-ic-ep');
    const startedBefore = backend.started.length;
    held = local.modelData.held;
    await aws.sagemaker.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'hy-ic', Specification: spec('v2'), RuntimeConfig: { CopyCount: 1 } }));
    await ready('hy-ic');
    const [v2] = heldSince(held);
    assert.ok(v2 && v2 !== v1, 'the new specification holds its own version');
    await gone('the old version', [v1]);
    await local.modelData.settled();
    const newTrees = backend.started.slice(startedBefore).filter((c) => c.id.startsWith('hy-ic-ep/')).map((c) => c.optMlDir);
    // The old copies' trees go; the new copy, of the same component (so of the same instance ids), has a tree of its own, kept while it runs.
    assert.ok(newTrees.length > 0, 'a new copy started');
    assert.deepEqual(newTrees.filter((t) => oldTrees.includes(t)), [], 'the new copy does not share a tree with an old one');
    assert.deepEqual(await Promise.all(oldTrees.map(exists)), oldTrees.map(() => false), 'the old copies\' trees are gone');
    assert.deepEqual(await Promise.all(newTrees.map(exists)), newTrees.map(() => true), 'the new copy\'s tree is there');
    assert.ok(await exists(v2), 'the new version is on disk');
    await aws.sagemaker.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'hy-ic' }));
    await until('hy-ic deleted', () => aws.sagemaker.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'hy-ic' })).then(() => undefined, (err: Error) => (err.name === 'ValidationException' ? true : undefined)), POLL);
    await local.modelData.settled();
    assert.equal(await exists(v2), false, 'the deleted component\'s version is gone');
    assert.deepEqual(await Promise.all(newTrees.map(exists)), newTrees.map(() => false));
    await deleteAndWait('hy-ic-ep');
  });


  test('a transform job holds its model data while it runs and gives it up once it ends, Completed or Failed', async () => {
    const cache = join(local.workDir, 'model-data');
    await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'hy/tj/model.tar.gz', Body: craftTarGz([{ path: 'model.onnx', body: 'tj' }]) }));
    await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'tj-in/a.csv', Body: '1,2\n' }));
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'hy-tj', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/hy/tj/model.tar.gz' } }));
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: 'hy-tj-bad', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/hy/tj/model.tar.gz', Environment: { FAKE_PING: 'fail' } } }));
    const before = await files(cache);
    const heldBefore = local.modelData.held;
    for (const [name, model, want] of [['hy-tj-ok', 'hy-tj', 'Completed'], ['hy-tj-failed', 'hy-tj-bad', 'Failed']] as const) {
      await aws.sagemaker.send(
        new CreateTransformJobCommand({
          TransformJobName: name,
          ModelName: model,
          TransformInput: { DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://models/tj-in/' } }, ContentType: 'text/csv', SplitType: 'Line' },
          TransformOutput: { S3OutputPath: `s3://models/tj-out/${name}` },
          TransformResources: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
        }),
      );
      await until(`${name} ${want}`, async () => {
        const status = (await aws.sagemaker.send(new DescribeTransformJobCommand({ TransformJobName: name }))).TransformJobStatus;
        return status === 'Completed' || status === 'Failed' ? status : undefined;
      }, POLL).then((status) => assert.equal(status, want));
      assert.ok(backend.started.some((c) => c.id.startsWith(`transform-job/${name}/`)), `${name} started its container from the model data`);
      await local.modelData.settled();
      assert.deepEqual(local.modelData.held, heldBefore, 'nothing more held once the job ended');
      assert.deepEqual(await files(cache), before, 'its model data version is gone');
    }
  });

  test('with keepWorkDir (--keep) a deleted endpoint\'s model data and instance tree stay for a look afterwards', async () => {
    const kept = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, healthCheckMs: 0, settings: { s3EndpointUrl: s3.url }, keepWorkDir: true });
    const sm = localSdkClients(kept.url, { requestTimeoutMs: 30_000 }).sagemaker;
    try {
      await sm.send(new CreateModelCommand({ ModelName: 'keep', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/hy/v1/model.tar.gz' } }));
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'keep', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'keep', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: 'keep', EndpointConfigName: 'keep' }));
      await until('keep InService', async () => ((await sm.send(new DescribeEndpointCommand({ EndpointName: 'keep' }))).EndpointStatus === 'InService' ? true : undefined), POLL);
      const [version] = kept.modelData.held;
      const trees = backend.started.filter((c) => c.id.startsWith('keep/')).map((c) => c.optMlDir);
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'keep' }));
      await until('keep deleted', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'keep' })).then(() => undefined, (err: Error) => (err.name === 'ValidationException' ? true : undefined)), POLL);
      await kept.modelData.settled();
      assert.deepEqual(kept.modelData.held, []);
      assert.ok(version && (await exists(version)), 'the model data stays');
      assert.ok(trees.length > 0 && (await Promise.all(trees.map(exists))).every(Boolean), 'the instance tree stays');
    } finally {
      sm.destroy();
      await kept.stop();
      await rm(kept.workDir, { recursive: true, force: true });
    }
  });

  test('ModelDataHolds: a path held again before its removal ran is kept; one that cannot be removed is a warning, not an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smkit-holds-'));
    try {
      const path = join(dir, 'v');
      await mkdir(path);
      await writeFile(join(path, 'model.bin'), 'm');
      const holds = new ModelDataHolds();
      const a = holds.lease();
      await a.hold(path);
      a.release();
      const b = holds.lease();
      await b.hold(path);
      await holds.settled();
      assert.ok(await exists(path), 'held again at once: kept, as its removal had not run yet');
      b.release();
      b.release();
      await holds.settled();
      assert.equal(await exists(path), false);
      const warnings: Array<Record<string, unknown>> = [];
      const failing = new ModelDataHolds((_, fields) => warnings.push(fields), () => Promise.reject(new Error('EBUSY: resource busy')));
      const c = failing.lease();
      await c.hold(path);
      c.release();
      await failing.settled();
      assert.deepEqual(warnings, [{ path, error: 'EBUSY: resource busy' }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
