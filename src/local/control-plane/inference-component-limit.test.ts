// Inference component copies that are still starting count against SMKIT_LOCAL_MAX_INSTANCES, and
// DescribeInferenceComponent's DesiredCopyCount is the count asked for while they start, through
// the real AWS SDK v3 clients. Starts are held by a gate the test opens, never by a timer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateInferenceComponentCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  UpdateInferenceComponentCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
  type DescribeInferenceComponentCommandOutput,
  type InferenceComponentSpecification,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { GatedBackend } from '../../../test/helpers/gated-backend.js';
import { startComponentHost, type ComponentHost } from '../../../test/helpers/component-host.js';
import { until } from '../../../test/helpers/until.js';

const POLL = { timeoutMs: 20_000, intervalMs: 25 };
/** The local instance limit of this file's local SageMaker. */
const MAX = 4;

let host: ComponentHost;
const backend = new GatedBackend();

describe('inference component limit', () => {
  before(async () => {
    host = await startComponentHost({ backend, maxInstances: MAX, tmpPrefix: 'smkit-ic-limit-', poll: POLL });
    await host.hostEndpoint('lim');
  });

  after(async () => {
    backend.open();
    // A request a failed test left held would keep its copy draining, and the stop waiting on it.
    backend.release();
    await host?.stop();
  });

  function spec(tag: string, env: Record<string, string> = {}): InferenceComponentSpecification {
    return { Container: { ArtifactUrl: host.dir, Environment: { FAKE_TAG: tag, ...env } }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 256 } };
  }

  function create(name: string, copies: number): Promise<unknown> {
    return host.sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: 'lim', Specification: spec(name), RuntimeConfig: { CopyCount: copies } }));
  }

  function describe(name: string): Promise<DescribeInferenceComponentCommandOutput> {
    return host.sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }));
  }

  async function settled(name: string): Promise<DescribeInferenceComponentCommandOutput> {
    let d: DescribeInferenceComponentCommandOutput | undefined;
    await until(`${name} InService`, async () => (d = await describe(name)).InferenceComponentStatus === 'InService', POLL);
    return d!;
  }

  async function remove(name: string): Promise<void> {
    await host.sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
    await until(`${name} deleted`, async () => !(await describe(name).then(() => true, () => false)), POLL);
  }

  /** The error CreateInferenceComponent gives when `used` copies and `delta` more pass the limit: the same words as before copies starting were counted. */
  function limitError(used: number, delta: number): (err: Error & { $metadata?: { httpStatusCode?: number } }) => boolean {
    const message = `The account-level service limit 'local inference component copies' is ${MAX} copies, with current utilization of ${used} copies and a request delta of ${delta} copies. Raise SMKIT_LOCAL_MAX_INSTANCES to allow more.`;
    return (err) => err.name === 'ResourceLimitExceeded' && err.$metadata?.httpStatusCode === 400 && err.message === message;
  }

  /** Closes the gate, runs `change` and waits until `copies` more containers are asked for and held starting. */
  async function holdStarting(copies: number, change: () => Promise<unknown>): Promise<void> {
    backend.close();
    const asked = backend.asked;
    await change();
    await until(`${copies} copies held starting`, () => backend.asked >= asked + copies, POLL);
  }

  test('copies a copy-count increase is starting count against the limit; DesiredCopyCount is the new count while they start', async () => {
    await create('up', 1);
    await settled('up');
    await holdStarting(1, () => host.sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'up', DesiredRuntimeConfig: { CopyCount: 2 } })));
    const d = await describe('up');
    assert.deepEqual({ status: d.InferenceComponentStatus, runtime: d.RuntimeConfig }, { status: 'Updating', runtime: { DesiredCopyCount: 2, CurrentCopyCount: 1 } });
    await assert.rejects(create('up-other', 3), limitError(2, 3));
    backend.open();
    assert.deepEqual((await settled('up')).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    await remove('up');
  });

  test('a new specification\'s copies starting beside the old ones count against the limit with them; DesiredCopyCount is the new RuntimeConfig CopyCount meanwhile', async () => {
    await create('spec', 2);
    await settled('spec');
    await holdStarting(1, () => host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'spec', Specification: spec('v2'), RuntimeConfig: { CopyCount: 1 } })));
    const d = await describe('spec');
    assert.deepEqual({ status: d.InferenceComponentStatus, runtime: d.RuntimeConfig }, { status: 'Updating', runtime: { DesiredCopyCount: 1, CurrentCopyCount: 2 } });
    // Two old copies and one new one starting: two more would make five containers.
    await assert.rejects(create('spec-other', 2), limitError(3, 2));
    backend.open();
    assert.deepEqual((await settled('spec')).RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 1 });
    // Once the old copies have stopped, only the new one counts: three more fit.
    await until('room for three more copies once the old ones stopped', () => create('spec-other', 3).then(() => true, (err: Error) => (limitError(3, 3)(err) ? false : Promise.reject(err))), POLL);
    await settled('spec-other');
    await remove('spec-other');
    await remove('spec');
  });

  test('an update whose new copies do not start goes back to the old DesiredCopyCount, and its copies no longer count against the limit', async () => {
    await create('back', 1);
    await settled('back');
    await host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'back', Specification: spec('broken', { FAKE_PING: 'fail' }), RuntimeConfig: { CopyCount: 3 } }));
    const d = await until('update undone', async () => {
      const out = await describe('back');
      return out.InferenceComponentStatus === 'InService' && out.FailureReason !== undefined ? out : undefined;
    }, POLL);
    assert.deepEqual(d.RuntimeConfig, { DesiredCopyCount: 1, CurrentCopyCount: 1 });
    assert.match(d.FailureReason!, /^The update failed and was rolled back: /);
    await create('back-other', 3);
    await settled('back-other');
    await remove('back-other');
    await remove('back');
  });

  test('a second update while the first one\'s old copies still drain counts those, the first one\'s new copies and its own: none is let go before it stops', async () => {
    await host.sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'twice', EndpointName: 'lim', Specification: spec('v1', { FAKE_HOLD: 'true' }), RuntimeConfig: { CopyCount: 1 } }));
    await settled('twice');
    // A request held in flight on the v1 copy keeps it draining once the first update is InService.
    const seen = backend.invocations.length;
    const held = host.runtime.send(new InvokeEndpointCommand({ EndpointName: 'lim', InferenceComponentName: 'twice', Body: Buffer.from('1'), ContentType: 'text/csv' }));
    await until('the request in flight on the v1 copy', () => backend.invocations.length > seen, POLL);
    const update = (tag: string): Promise<unknown> => host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'twice', Specification: spec(tag), RuntimeConfig: { CopyCount: 1 } }));
    await update('v2');
    await settled('twice');
    await update('v3');
    // v1 draining, v2 serving and v3 to start once v1 has stopped: two more would make five containers.
    await assert.rejects(create('twice-other', 2), limitError(3, 2));
    backend.release();
    assert.equal(JSON.parse(Buffer.from((await held).Body!).toString()).tag, 'v1');
    assert.equal((await settled('twice')).Specification?.Container?.Environment?.FAKE_TAG, 'v3');
    // Once v1 and v2 have stopped, only v3 counts: three more fit.
    await until('room for three more copies once the old ones stopped', () => create('twice-other', 3).then(() => true, (err: Error) => (err.name === 'ResourceLimitExceeded' ? false : Promise.reject(err))), POLL);
    await settled('twice-other');
    await remove('twice-other');
    await remove('twice');
  });

  const rollingOneAtATime = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 0 } };

  test('a rolling update needs room for the old copies and one batch, not for every new copy beside every old one', async () => {
    await create('roll', 3);
    await settled('roll');
    // Three old copies and three new ones would make six containers; three old and a batch of one make four.
    await holdStarting(1, () => host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'roll', Specification: spec('v2'), DeploymentConfig: rollingOneAtATime })));
    const d = await describe('roll');
    assert.deepEqual({ status: d.InferenceComponentStatus, runtime: d.RuntimeConfig }, { status: 'Updating', runtime: { DesiredCopyCount: 3, CurrentCopyCount: 3 } });
    await assert.rejects(create('roll-other', 1), limitError(4, 1));
    backend.open();
    const done = await settled('roll');
    assert.deepEqual(
      { tag: done.Specification?.Container?.Environment?.FAKE_TAG, runtime: done.RuntimeConfig, reason: done.FailureReason },
      { tag: 'v2', runtime: { DesiredCopyCount: 3, CurrentCopyCount: 3 }, reason: undefined },
    );
    // Once rolled out, only the three new copies count: one more fits.
    await create('roll-other', 1);
    await settled('roll-other');
    await remove('roll-other');
    await remove('roll');
  });

  test('a rolling update whose old copies and first batch do not fit is refused with ResourceLimitExceeded, and the component is left as it was', async () => {
    await create('roll-big', 3);
    await settled('roll-big');
    const twoAtATime = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 2 }, WaitIntervalInSeconds: 0 } };
    await assert.rejects(host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'roll-big', Specification: spec('v2'), DeploymentConfig: twoAtATime })), limitError(3, 2));
    // Five new copies one at a time: the old three and one batch would fit, but not the five in the end.
    await assert.rejects(host.sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'roll-big', Specification: spec('v2'), RuntimeConfig: { CopyCount: 5 }, DeploymentConfig: rollingOneAtATime })), limitError(3, 2));
    const d = await describe('roll-big');
    assert.deepEqual(
      { status: d.InferenceComponentStatus, tag: d.Specification?.Container?.Environment?.FAKE_TAG, runtime: d.RuntimeConfig, config: d.LastDeploymentConfig },
      { status: 'InService', tag: 'roll-big', runtime: { DesiredCopyCount: 3, CurrentCopyCount: 3 }, config: undefined },
    );
    await remove('roll-big');
  });
});
