// UpdateEndpointWeightsAndCapacities that cannot be carried out, through the real SDK clients over
// HTTP: the endpoint is RollingBack while the whole call is undone (its weights and the variants'
// changes that did take, not only the one that failed), then InService on its previous weights and
// counts with a FailureReason, as DescribeEndpoint's EndpointStatus describes RollingBack.
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
  UpdateEndpointWeightsAndCapacitiesCommand,
  type DescribeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { DeregisterScalableTargetCommand, DescribeScalingActivitiesCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
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

describe('a capacity change that fails', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-cap-rollback-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new WatchedBackend();
    // A start-up deadline far off: an instance held unhealthy by the test waits for it, not for the clock.
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 120_000, healthCheckMs: 0, settings: {} });
    aws = localSdkClients(local.url, { runtimeMaxAttempts: 1, requestTimeoutMs: 30_000 });
  });

  after(async () => {
    backend.onStart = undefined;
    aws?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const describeEndpoint = (name: string): Promise<DescribeEndpointCommandOutput> => aws.sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));

  test('is RollingBack while the whole call is undone, then InService on the previous weights and counts with a FailureReason', async () => {
    for (const tag of ['a', 'b']) {
      await aws.sagemaker.send(new CreateModelCommand({ ModelName: `cap-${tag}`, PrimaryContainer: { Image: `repo/img:${tag}`, ModelDataUrl: dir, Environment: { FAKE_TAG: tag } } }));
    }
    await aws.sagemaker.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'cap-cfg',
        ProductionVariants: [
          { VariantName: 'A', ModelName: 'cap-a', InitialInstanceCount: 1, InitialVariantWeight: 1, InstanceType: 'ml.m5.large' },
          { VariantName: 'B', ModelName: 'cap-b', InitialInstanceCount: 2, InitialVariantWeight: 1, InstanceType: 'ml.m5.large' },
        ],
      }),
    );
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'cap-ep', EndpointConfigName: 'cap-cfg' }));
    await until('cap-ep InService', async () => (await describeEndpoint('cap-ep')).EndpointStatus === 'InService', POLL);

    // Variant A's new instance fails to start; B's scale-in takes. B's instance started again by
    // the rollback is kept unhealthy (its /ping answers 500) until the test has seen RollingBack.
    const held: string[] = [];
    backend.onStart = (spec) => {
      backend.failStarts = spec.env.FAKE_TAG === 'a';
      if (spec.env.FAKE_TAG === 'b') {
        held.push(spec.id);
        backend.unhealthy.add(spec.id);
      }
    };
    try {
      await aws.sagemaker.send(
        new UpdateEndpointWeightsAndCapacitiesCommand({
          EndpointName: 'cap-ep',
          DesiredWeightsAndCapacities: [
            { VariantName: 'A', DesiredWeight: 3, DesiredInstanceCount: 2 },
            { VariantName: 'B', DesiredInstanceCount: 1 },
          ],
        }),
      );
      // Once the rollback's instance of B has started, it cannot end before the test lets it pass /ping.
      await until('the rollback starting an instance of B', () => Promise.resolve(held.length > 0), POLL);
      const rolling = await describeEndpoint('cap-ep');
      assert.equal(rolling.EndpointStatus, 'RollingBack');
      const a = rolling.ProductionVariants!.find((v) => v.VariantName === 'A')!;
      assert.deepEqual({ current: a.CurrentWeight, desired: a.DesiredWeight }, { current: 1, desired: 1 }, "A's weight is back to its previous one");
    } finally {
      backend.failStarts = false;
      backend.onStart = undefined;
      for (const id of held) backend.unhealthy.delete(id);
    }
    assert.equal(held.length, 1, 'the rollback started one instance of B again');
    const done = await until('cap-ep InService again', async () => {
      const d = await describeEndpoint('cap-ep');
      return d.EndpointStatus === 'InService' ? d : undefined;
    }, POLL);
    const variants = Object.fromEntries(done.ProductionVariants!.map((v) => [v.VariantName, { CurrentWeight: v.CurrentWeight, DesiredWeight: v.DesiredWeight, CurrentInstanceCount: v.CurrentInstanceCount, DesiredInstanceCount: v.DesiredInstanceCount }]));
    assert.deepEqual(variants, {
      A: { CurrentWeight: 1, DesiredWeight: 1, CurrentInstanceCount: 1, DesiredInstanceCount: 1 },
      B: { CurrentWeight: 1, DesiredWeight: 1, CurrentInstanceCount: 2, DesiredInstanceCount: 2 },
    });
    assert.match(done.FailureReason ?? '', /^The capacity update failed and was rolled back: variant A could not reach 2 instances: /);
    await deleteEndpointAndWait(aws.sagemaker, 'cap-ep', POLL);
  });

  test("Application Auto Scaling's activity is InProgress while SageMaker carries the change out, and Failed when it was rolled back", async () => {
    await aws.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'cap-one', ProductionVariants: [{ VariantName: 'A', ModelName: 'cap-a', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await aws.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'cap-scaled', EndpointConfigName: 'cap-one' }));
    await until('cap-scaled InService', async () => (await describeEndpoint('cap-scaled')).EndpointStatus === 'InService', POLL);
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/cap-scaled/variant/A', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    // The scaler brings the variant up to MinCapacity 2; its second instance never starts.
    backend.failStarts = true;
    try {
      await aws.autoscaling.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 2, MaxCapacity: 2 }));
      const failed = await until('a failed scaling activity', async () => {
        const activities = (await aws.autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }))).ScalingActivities ?? [];
        return activities.find((a) => a.StatusCode === 'Failed');
      }, POLL);
      assert.equal(failed.Description, 'Setting desired instance count to 2.');
      assert.match(failed.StatusMessage ?? '', /^Failed to set desired instance count to 2\. Reason: SageMaker did not carry out the change \(the desired instance count is 1\): The capacity update failed and was rolled back: variant A could not reach 2 instances: /);
      assert.ok(failed.EndTime, 'a failed activity has ended');
    } finally {
      await aws.autoscaling.send(new DeregisterScalableTargetCommand(key));
      backend.failStarts = false;
    }
    await until('cap-scaled InService', async () => (await describeEndpoint('cap-scaled')).EndpointStatus === 'InService', POLL);
    await deleteEndpointAndWait(aws.sagemaker, 'cap-scaled', POLL);
  });
});
