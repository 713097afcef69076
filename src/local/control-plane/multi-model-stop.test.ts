// A multi-model load that goes on after its invocation gave up (ModelNotReadyException) is cut short
// by the stop of its instance, through the real SDK clients, against a stand-in S3 that stalls part-way
// through the model archive: once stop() or DeleteEndpoint has finished, the stalled S3 connection is
// closed and the work folder holds nothing new. A load stopped for one endpoint leaves the download
// cache it shares with another endpoint (same ModelDataUrl) whole. The download of a single model's
// ModelDataUrl at CreateEndpoint is cut short the same way by DeleteEndpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DeleteEndpointCommand, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { answerListing, answerS3Error, startStandInS3, type StandInS3, type StandInS3Request } from '../../../test/helpers/stand-in-s3.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

const ARCHIVE = craftTarGz([{ path: 'model.onnx', body: 'weights' }]);

/** A GET of the archive that the stand-in S3 holds after half its body: `finish` sends the rest. */
interface StalledGet {
  key: string;
  socket: Socket;
  finish(): void;
}

let s3: StandInS3;
const stalled: StalledGet[] = [];
/** Keys of every GET of an object (not a listing). */
const gets: string[] = [];

function serveS3({ req, res, key, url, isListing }: StandInS3Request): void {
  if (isListing) return answerListing(res, 'models', url.searchParams.get('prefix') ?? '');
  if (req.method !== 'GET') return void res.writeHead(405).end();
  gets.push(key);
  if (key.startsWith('missing/')) {
    const notFound = (): void => {
      if (!stalled.some((s) => s.key === 'big/model.tar.gz')) return void setTimeout(notFound, 10);
      answerS3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    };
    return notFound();
  }
  const half = ARCHIVE.length >> 1;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(ARCHIVE.length) });
  res.write(ARCHIVE.subarray(0, half), () => stalled.push({ key, socket: req.socket, finish: () => res.end(ARCHIVE.subarray(half)) }));
}

describe('multi model stop', () => {
  before(async () => {
    s3 = await startStandInS3(serveS3);
  });

  after(async () => {
    await s3.close();
  });

  /** A local SageMaker on the stand-in S3 whose invocations wait 500 ms for a model, then get ModelNotReadyException. */
  async function start(extra: { modelDataSecondMs?: number } = {}): Promise<{ local: LocalSageMakerHandle; sm: SageMakerClient; runtime: SageMakerRuntimeClient; close(): Promise<void> }> {
    const local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, invokeTimeoutMs: 500, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url, s3TimeoutSeconds: 60 }, ...extra });
    const sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    await sm.send(new CreateModelCommand({ ModelName: 'mme', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/mme/', Mode: 'MultiModel' } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'mme', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'mme', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    return {
      local,
      sm,
      runtime,
      close: async () => {
        sm.destroy();
        runtime.destroy();
        await local.stop();
      },
    };
  }

  async function inService(sm: SageMakerClient, name: string): Promise<void> {
    await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'mme' }));
    await until(`${name} in service`, async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', { intervalMs: 20 });
  }

  const invoke = (runtime: SageMakerRuntimeClient, EndpointName: string, TargetModel: string) => runtime.send(new InvokeEndpointCommand({ EndpointName, TargetModel, Body: Buffer.from('{}') }));

  /** Every path under `dir`, sorted. */
  async function tree(dir: string): Promise<string[]> {
    return (await readdir(dir, { recursive: true })).sort();
  }

  const seen = new Set<StalledGet>();

  /** The next stalled GET of `key`, once S3 holds it. */
  async function nextStall(key: string): Promise<StalledGet> {
    const held = await until(`S3 to hold the GET of ${key}`, () => stalled.find((s) => s.key === key && !seen.has(s)), { timeoutMs: 20_000 });
    seen.add(held);
    return held;
  }

  // The message gives the 500 ms waited as 0.5 s, not rounded to "0 s".
  const notReady = (invocation: Promise<unknown>) => assert.rejects(invocation, (err: Error) => err.name === 'ModelNotReadyException' && /after 0\.5 s;/.test(err.message));

  /**
   * The stalled GET of `key` that `invocation` started, once that invocation has given up with
   * ModelNotReadyException. Its rejection is handled at once: it may come (500 ms) before S3 holds
   * the GET, and a rejection left unhandled meanwhile fails the test as an unhandledRejection.
   */
  async function stallOf(key: string, invocation: Promise<unknown>): Promise<StalledGet> {
    const gaveUp = notReady(invocation);
    const held = await nextStall(key);
    await gaveUp;
    return held;
  }

  const closed = (s: StalledGet) => until(`the stalled S3 GET of ${s.key} to be closed`, () => s.socket.destroyed || s.socket.closed, { timeoutMs: 10_000 });

  /** `name`'s description once it has left Creating. */
  const leftCreating = (sm: SageMakerClient, name: string, timeoutMs?: number) =>
    until(`${name} to leave Creating`, async () => {
      const d = await sm.send(new DescribeEndpointCommand({ EndpointName: name }));
      return d.EndpointStatus === 'Creating' ? undefined : d;
    }, { intervalMs: 20, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

  /** Fails if the model data cache holds a download, whole or partial, once every lease has settled. */
  async function assertNoDownloadLeft(local: LocalSageMakerHandle): Promise<void> {
    await local.modelData.settled();
    const cache = join(local.workDir, 'model-data');
    const left = existsSync(cache) ? (await tree(cache)).filter((f) => f.includes('.partial-') || f.endsWith('model.tar.gz')) : [];
    assert.deepEqual(left, [], 'no download left');
  }

  test('stopping the local SageMaker cuts short a multi-model load still downloading after its invocation gave up: the S3 connection is closed and the work folder is gone once stop() resolves', { timeout: 30_000 }, async () => {
    const { local, runtime, sm, close } = await start();
    await inService(sm, 'stop-mme');
    const held = await stallOf('mme/stop.tar.gz', invoke(runtime, 'stop-mme', 'stop.tar.gz'));
    await close();
    await closed(held);
    assert.equal(existsSync(local.workDir), false, 'nothing recreated under the work folder');
  });

  test('DeleteEndpoint cuts short a multi-model load still downloading: the S3 connection is closed and the work folder holds nothing new', { timeout: 30_000 }, async () => {
    const { local, runtime, sm, close } = await start();
    try {
      await inService(sm, 'del-mme');
      const before = await tree(local.workDir);
      const held = await stallOf('mme/v2/del.tar.gz', invoke(runtime, 'del-mme', 'v2/del.tar.gz'));
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'del-mme' }));
      await until('del-mme to be gone', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'del-mme' })).then(() => false, () => true), { intervalMs: 20 });
      await closed(held);
      await local.modelData.settled();
      // The load's partial download is removed (the v2 folder of the shared cache may stay: another load may be using it),
      // and so are the deleted endpoint's instance tree (with its variant's folder) and its models folder, which nothing else uses.
      const after = (await tree(local.workDir)).filter((f) => !f.endsWith('/v2'));
      assert.deepEqual(after.filter((f) => !before.includes(f)), [], 'nothing new');
      assert.deepEqual(before.filter((f) => !after.includes(f)).filter((f) => !f.startsWith('instances/del-mme.mme.AllTraffic') && !f.startsWith('model-data/s3/')), [], 'only what the endpoint used is gone');
      assert.ok(before.some((f) => f.startsWith('model-data/s3/')) && !after.some((f) => f.startsWith('model-data/s3/')), 'its models folder is gone');
    } finally {
      await close();
    }
  });

  test('DeleteEndpoint while Creating cuts short the download of its ModelDataUrl: the endpoint goes away without waiting for the stalled S3 transfer, which is closed, and no partial download is left', { timeout: 30_000 }, async () => {
    const { local, sm, close } = await start();
    try {
      await sm.send(new CreateModelCommand({ ModelName: 'single', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/single/model.tar.gz' } }));
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'single', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'single', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: 'del-creating', EndpointConfigName: 'single' }));
      const held = await nextStall('single/model.tar.gz');
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'del-creating' }));
      // Before the fix the endpoint stayed Deleting for as long as the download took (here, for ever).
      await until('del-creating to be gone', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'del-creating' })).then(() => false, () => true), { intervalMs: 20, timeoutMs: 10_000 });
      await closed(held);
      await assertNoDownloadLeft(local);
    } finally {
      await close();
    }
  });

  test('a ModelDataUrl not downloaded within the variant\'s ModelDataDownloadTimeoutInSeconds fails the endpoint, naming the container, the URL and the setting; the stalled S3 transfer is closed and no partial download is left', { timeout: 120_000 }, async () => {
    // One second of the window lasts 5 ms here (60 s is the API's least): 300 ms, in which a loaded
    // machine may not even have sent the GET, and the endpoint fails without a stalled transfer to
    // close. Such a run is repeated with a window of 3 s, then 30 s, each with its own object.
    let held: StalledGet | undefined;
    for (const secondMs of [5, 50, 500]) {
      const key = `slow-${secondMs}/model.tar.gz`;
      const { local, sm, close } = await start({ modelDataSecondMs: secondMs });
      try {
        await sm.send(new CreateModelCommand({ ModelName: 'slow', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: `s3://models/${key}` } }));
        await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'slow', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'slow', InitialInstanceCount: 1, InstanceType: 'ml.m5.large', ModelDataDownloadTimeoutInSeconds: 60 }] }));
        await sm.send(new CreateEndpointCommand({ EndpointName: 'slow', EndpointConfigName: 'slow' }));
        const ended = await leftCreating(sm, 'slow');
        assert.equal(ended.EndpointStatus, 'Failed');
        assert.match(ended.FailureReason ?? '', new RegExp(`^Failed to download model data for container "primary" from URL: "s3://models/${key.replace('.', '\\.')}" within ModelDataDownloadTimeoutInSeconds \\(60 seconds\\)`));
        held = stalled.find((s) => s.key === key);
        if (held) await closed(held);
        await assertNoDownloadLeft(local);
      } finally {
        await close();
      }
      if (held) break;
    }
    assert.ok(held, 'S3 held the GET part-way before the window ran out (in one of the runs)');
  });

  test('a variant whose model data cannot be found fails the endpoint at once: another variant\'s download under way is cut short, not waited for, and nothing of it is kept', { timeout: 30_000 }, async () => {
    const { local, sm, close } = await start();
    try {
      await sm.send(new CreateModelCommand({ ModelName: 'big', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/big/model.tar.gz' } }));
      // The stand-in S3 answers NoSuchKey for it only once the big model's download has stalled.
      await sm.send(new CreateModelCommand({ ModelName: 'gone', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/missing/model.tar.gz' } }));
      const variant = (VariantName: string, ModelName: string) => ({ VariantName, ModelName, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const });
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'two', ProductionVariants: [variant('Big', 'big'), variant('Gone', 'gone')] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: 'two', EndpointConfigName: 'two' }));
      const held = await nextStall('big/model.tar.gz');
      const ended = await leftCreating(sm, 'two', 10_000);
      assert.equal(ended.EndpointStatus, 'Failed');
      assert.match(ended.FailureReason ?? '', /s3:\/\/models\/missing\/model\.tar\.gz.*\(model gone, variant Gone\)\.$/s);
      await closed(held);
      await assertNoDownloadLeft(local);
    } finally {
      await close();
    }
  });

  test('DeleteEndpoint while Creating cuts short only its own download of a ModelDataUrl another Creating endpoint downloads too: that one goes InService on the whole model, kept in the cache while it runs', { timeout: 30_000 }, async () => {
    const { local, sm, close } = await start();
    try {
      await sm.send(new CreateModelCommand({ ModelName: 'shared', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/shared/model.tar.gz' } }));
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'shared', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'shared', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await sm.send(new CreateEndpointCommand({ EndpointName: 'shared-deleted', EndpointConfigName: 'shared' }));
      const deleted = await nextStall('shared/model.tar.gz');
      await sm.send(new CreateEndpointCommand({ EndpointName: 'shared-kept', EndpointConfigName: 'shared' }));
      const kept = await nextStall('shared/model.tar.gz');
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'shared-deleted' }));
      await until('shared-deleted to be gone', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'shared-deleted' })).then(() => false, () => true), { intervalMs: 20, timeoutMs: 10_000 });
      await closed(deleted);
      await local.modelData.settled();
      assert.equal(kept.socket.destroyed, false, 'the other endpoint\'s download goes on');
      kept.finish();
      const ended = await leftCreating(sm, 'shared-kept');
      assert.equal(ended.EndpointStatus, 'InService', ended.FailureReason);
      await local.modelData.settled();
      const cache = join(local.workDir, 'model-data');
      const files = (await tree(cache)).filter((f) => f.includes('.partial-') || f.endsWith('model.tar.gz'));
      assert.equal(files.length, 1, `one whole download, no partial one: ${files.join(', ')}`);
      assert.ok(files[0]!.endsWith('/model.tar.gz'));
      assert.deepEqual(await readFile(join(cache, files[0]!)), ARCHIVE);
    } finally {
      await close();
    }
  });

  test('a load stopped for one endpoint leaves the download cache it shares with another endpoint whole: that one loads the same model, and a third reuses it without downloading', { timeout: 60_000 }, async () => {
    const { local, runtime, sm, close } = await start();
    try {
      await inService(sm, 'shared-a');
      await inService(sm, 'shared-b');
      // Each invocation's ModelNotReadyException is handled from the start: on a loaded machine the
      // first comes before the second GET is held.
      const first = notReady(invoke(runtime, 'shared-a', 'shared.tar.gz'));
      const a = await nextStall('mme/shared.tar.gz');
      const second = notReady(invoke(runtime, 'shared-b', 'shared.tar.gz'));
      const b = await nextStall('mme/shared.tar.gz');
      await Promise.all([first, second]);
      assert.notEqual(a.socket, b.socket);
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'shared-a' }));
      await until('shared-a to be gone', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'shared-a' })).then(() => false, () => true), { intervalMs: 20 });
      await closed(a);
      assert.equal(b.socket.destroyed, false, "shared-b's download goes on");
      b.finish();
      const answer = await until('shared-b to answer with the model loaded', () => invoke(runtime, 'shared-b', 'shared.tar.gz').catch(() => undefined), { timeoutMs: 20_000 });
      assert.equal(answer.$metadata.httpStatusCode, 200);
      const cache = join(local.workDir, 'model-data', 's3');
      const cached = (await tree(cache)).filter((f) => f.includes('shared.tar.gz'));
      assert.equal(cached.length, 1, `one complete copy, no partial one: ${cached.join(', ')}`);
      assert.deepEqual(await readFile(join(cache, cached[0]!)), ARCHIVE);
      const downloads = gets.length;
      await inService(sm, 'shared-c');
      // Loading the cached copy may outlast the invocation's 500 ms on a loaded machine: asked again.
      const reused = await until('shared-c to answer with the cached model', () => invoke(runtime, 'shared-c', 'shared.tar.gz').catch((err: Error) => (err.name === 'ModelNotReadyException' ? undefined : Promise.reject(err))), { timeoutMs: 20_000 });
      assert.equal(reused.$metadata.httpStatusCode, 200);
      assert.equal(gets.length, downloads, 'shared-c loads the cached copy');
    } finally {
      await close();
    }
  });
});
