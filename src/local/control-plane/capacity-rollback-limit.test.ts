// The local instance limit (SMKIT_LOCAL_MAX_INSTANCES) across an UpdateEndpointWeightsAndCapacities
// change that is rolled back, through the real SDK clients over HTTP: a variant the change scales in
// keeps its room until the change has settled, as its rollback starts those instances again. Without
// that, another endpoint took the room and the rollback ran more instances than the limit allows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import type { ContainerSpec, RunningContainer } from '../backends/backend.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { deleteEndpointAndWait } from '../../../test/helpers/endpoint-deletion.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

const POLL = { timeoutMs: 30_000, intervalMs: 25 };

/** A FakeBackend that tells the test of each container it is asked for, before starting it. */
class WatchedBackend extends FakeBackend {
  onStart: ((spec: ContainerSpec) => void) | undefined;

  override async start(spec: ContainerSpec): Promise<RunningContainer> {
    this.onStart?.(spec);
    return super.start(spec);
  }
}

let dir: string;
let backend: WatchedBackend;
let local: LocalSageMakerHandle;
let aws: LocalSdkClients;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-cap-limit-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  backend = new WatchedBackend();
  // A start-up deadline far off: an instance held unhealthy by the test waits for it, not for the clock.
  local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 120_000, healthCheckMs: 0, settings: { maxInstances: 4 } });
  aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
});

after(async () => {
  backend.onStart = undefined;
  aws?.destroy();
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
});

const describeEndpoint = (name: string): Promise<DescribeEndpointCommandOutput> => aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

test('a variant scaled in by a capacity change holds its room until the change settles: another endpoint cannot take it from the rollback', async () => {
  for (const tag of ['a', 'b']) {
    await aws.sagemaker.send(new CreateModelCommand({ ModelName: `lim-${tag}`, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag } } }));
  }
  await aws.sagemaker.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'lim-cfg',
      ProductionVariants: [
        { VariantName: 'A', ModelName: 'lim-a', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' },
        { VariantName: 'B', ModelName: 'lim-b', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' },
      ],
    }),
  );
  await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'lim-one', ProductionVariants: [{ VariantName: 'X', ModelName: 'lim-b', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'lim-ep', EndpointConfigName: 'lim-cfg' }));
  await until('lim-ep InService', async () => (await describeEndpoint('lim-ep')).EndpointStatus === 'InService', POLL);

  // A's new instance stays unhealthy, so the change runs on while B's scale-in completes.
  const heldA: string[] = [];
  backend.onStart = (spec) => {
    if (spec.env.FAKE_TAG === 'a') {
      heldA.push(spec.id);
      backend.unhealthy.add(spec.id);
    }
  };
  try {
    await aws.sagemaker.send(
      new UpdateEndpointWeightsAndCapacitiesCommand({
        EndpointName: 'lim-ep',
        DesiredWeightsAndCapacities: [
          { VariantName: 'A', DesiredInstanceCount: 2 },
          { VariantName: 'B', DesiredInstanceCount: 1 },
        ],
      }),
    );
    await until('B scaled in to 1 while A is still starting', async () => {
      const d = await describeEndpoint('lim-ep');
      // A's new instance running (not only asked for), so that the test can crash it below.
      return heldA.some((id) => backend.runningIds.includes(id)) && d.ProductionVariants!.find((v) => v.VariantName === 'B')!.CurrentInstanceCount === 1;
    }, POLL);
    // A: 2 (one starting), B: 1, and B's second instance, which a rollback starts again: 4 of 4.
    await assert.rejects(aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'lim-other', EndpointConfigName: 'lim-one' })), (err: Error) => {
      assert.equal(err.name, 'ResourceLimitExceeded');
      assert.match(err.message, /is 4 Instances, with current utilization of 4 Instances and a request delta of 1 Instances/);
      return true;
    });
    // A's new instance dies and cannot start again: the change is rolled back, B to 2 instances.
    backend.onStart = (spec) => {
      backend.failStarts = spec.env.FAKE_TAG === 'a';
    };
    for (const id of heldA) if (backend.runningIds.includes(id)) backend.crash(id);
    const done = await until('lim-ep InService after the rollback', async () => {
      const d = await describeEndpoint('lim-ep');
      return d.EndpointStatus === 'InService' ? d : undefined;
    }, POLL);
    assert.match(done.FailureReason ?? '', /^The capacity update failed and was rolled back: variant A could not reach 2 instances: /);
    const counts = Object.fromEntries(done.ProductionVariants!.map((v) => [v.VariantName, v.CurrentInstanceCount]));
    assert.deepEqual(counts, { A: 1, B: 2 });
  } finally {
    backend.failStarts = false;
    backend.onStart = undefined;
    for (const id of heldA) backend.unhealthy.delete(id);
  }
  // Settled: the room the change held is free again (A 1 + B 2 + 1 = 4).
  await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'lim-other', EndpointConfigName: 'lim-one' }));
  await until('lim-other InService', async () => (await describeEndpoint('lim-other')).EndpointStatus === 'InService', POLL);
  await deleteEndpointAndWait(aws.sagemaker, 'lim-other', POLL);
  await deleteEndpointAndWait(aws.sagemaker, 'lim-ep', POLL);
});
