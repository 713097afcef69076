// Inference components of the local SageMaker, driven by the real AWS SDK v3 clients over HTTP:
// an endpoint config without ModelName, components created, invoked, scaled, updated and deleted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddTagsCommand,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  ListInferenceComponentsCommand,
  ListTagsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateInferenceComponentCommand,
  UpdateInferenceComponentRuntimeConfigCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { startComponentHost, type ComponentHost } from '../../../test/helpers/component-host.js';
import { until } from '../../../test/helpers/until.js';
import { NO_CAPACITY } from './inference-components.js';

const ROLE = 'arn:aws:iam::123456789012:role/smkit-local';
/** Deadline and pace of every wait in this file. */
const POLL = { timeoutMs: 20_000, intervalMs: 25 };

let host: ComponentHost;
let dir: string;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let backend: FakeBackend;

describe('inference components', () => {
  before(async () => {
    backend = new FakeBackend();
    host = await startComponentHost({ backend, maxInstances: 8, tmpPrefix: 'smkit-ic-test-', poll: POLL });
    ({ dir, sm, runtime } = host);
  });

  after(async () => {
    await host?.stop();
  });

  const MEMORY = { MinMemoryRequiredInMb: 256 };

  async function componentStatus(name: string): Promise<string | undefined> {
    return (await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: name }))).InferenceComponentStatus;
  }

  /** Creates an endpoint for inference components (its variant names no model) and waits until it is InService. */
  function hostEndpoint(name: string): Promise<void> {
    return host.hostEndpoint(name, {}, `${name}-config`);
  }

  async function invoke(endpoint: string, component?: string): Promise<{ id: string; tag: string; variant: string | undefined }> {
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: endpoint, Body: Buffer.from('1,2'), ContentType: 'text/csv', ...(component ? { InferenceComponentName: component } : {}) }));
    const answer = JSON.parse(Buffer.from(out.Body!).toString()) as { id: string; tag: string };
    return { ...answer, variant: out.InvokedProductionVariant };
  }

  test('CreateEndpointConfig: production variants without ModelName need ExecutionRoleArn, and all of them leave ModelName out', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'cfg-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'no-role', ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] })),
      (err: Error) => err.name === 'ValidationException' && /^ExecutionRoleArn is required when the production variants name no model/.test(err.message),
    );
    await assert.rejects(
      sm.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: 'mixed',
          ExecutionRoleArn: ROLE,
          ProductionVariants: [
            { VariantName: 'a', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 },
            { VariantName: 'b', ModelName: 'cfg-model', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 },
          ],
        }),
      ),
      (err: Error) => err.name === 'ValidationException' && /^Production variants \[a\] name no model \(ModelName\) but \[b\] do/.test(err.message),
    );
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'ic-async', ExecutionRoleArn: ROLE, ProductionVariants: [{ VariantName: 'v', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://b/out' } } })),
      (err: Error) => err.name === 'ValidationException' && /InvokeEndpointAsync has no InferenceComponentName/.test(err.message),
    );
  });

  test('an endpoint for inference components: invocations go to the named component, copies are balanced and scaled, and DeleteEndpoint waits for the components to be deleted', async () => {
    await hostEndpoint('ic-ep');
    const described = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ic-ep' }));
    assert.equal(described.ProductionVariants?.[0]?.CurrentInstanceCount, 1);
    // Without components (or with the header on it), the endpoint answers as the service does.
    await assert.rejects(invoke('ic-ep'), (err: Error) => err.name === 'ValidationError' && err.message.startsWith('Inference Component Name header is required for endpoints to which you plan to deploy inference components.'));
    await assert.rejects(invoke('ic-ep', 'nope'), (err: Error) => err.name === 'ValidationError' && /^Inference component nope is not deployed on endpoint ic-ep/.test(err.message));

    await sm.send(new CreateModelCommand({ ModelName: 'ic-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_TAG: 'one' } } }));
    const created = await sm.send(
      new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-one', EndpointName: 'ic-ep', VariantName: 'AllTraffic', Specification: { ModelName: 'ic-model', ComputeResourceRequirements: MEMORY }, RuntimeConfig: { CopyCount: 1 }, Tags: [{ Key: 'team', Value: 'ml' }] }),
    );
    assert.equal(created.InferenceComponentArn, 'arn:aws:sagemaker:eu-west-1:123456789012:inference-component/ic-one');
    await until('ic-one InService', async () => (await componentStatus('ic-one')) === 'InService', POLL);
    const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-one' }));
    assert.deepEqual(
      { endpoint: d.EndpointName, arn: d.EndpointArn, variant: d.VariantName, spec: d.Specification, runtime: d.RuntimeConfig },
      { endpoint: 'ic-ep', arn: 'arn:aws:sagemaker:eu-west-1:123456789012:endpoint/ic-ep', variant: 'AllTraffic', spec: { ModelName: 'ic-model', ComputeResourceRequirements: MEMORY }, runtime: { DesiredCopyCount: 1, CurrentCopyCount: 1 } },
    );
    assert.deepEqual((await sm.send(new ListTagsCommand({ ResourceArn: created.InferenceComponentArn }))).Tags, [{ Key: 'team', Value: 'ml' }]);

    const first = await invoke('ic-ep', 'ic-one');
    assert.deepEqual({ tag: first.tag, id: first.id, variant: first.variant }, { tag: 'one', id: 'ic-ep/ic-one/AllTraffic/i0/primary', variant: 'AllTraffic' });
    // Still no header: the endpoint hosts components, so the service's error.
    await assert.rejects(invoke('ic-ep'), (err: Error) => err.name === 'ValidationError' && /^Inference Component Name header is required/.test(err.message));
    // Nor is it asynchronous (its config cannot be): InvokeEndpointAsync is refused as on any real-time endpoint.
    await assert.rejects(
      runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'ic-ep', InputLocation: 's3://b/in.csv' })),
      (err: Error) => err.name === 'ValidationError' && /^Endpoint ic-ep is not an asynchronous endpoint: its endpoint configuration has no AsyncInferenceConfig\./.test(err.message),
    );
    const stream = await runtime.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'ic-ep', InferenceComponentName: 'ic-one', Body: Buffer.from('s') }));
    let streamed = '';
    for await (const event of stream.Body!) streamed += Buffer.from(event.PayloadPart?.Bytes ?? []).toString();
    assert.equal(JSON.parse(streamed).id, 'ic-ep/ic-one/AllTraffic/i0/primary');

    // Two copies: invocations are balanced across both.
    await sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'ic-one', DesiredRuntimeConfig: { CopyCount: 2 } }));
    await until('ic-one scaled', async () => (await componentStatus('ic-one')) === 'InService', POLL);
    assert.deepEqual((await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-one' }))).RuntimeConfig, { DesiredCopyCount: 2, CurrentCopyCount: 2 });
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) ids.add((await invoke('ic-ep', 'ic-one')).id);
    assert.deepEqual([...ids].sort(), ['ic-ep/ic-one/AllTraffic/i0/primary', 'ic-ep/ic-one/AllTraffic/i1/primary']);

    // No copies: the component takes no invocations (the service's ValidationError) until it has some again.
    await sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-one', RuntimeConfig: { CopyCount: 0 } }));
    await until('ic-one at 0 copies', async () => (await componentStatus('ic-one')) === 'InService', POLL);
    assert.deepEqual((await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-one' }))).RuntimeConfig, { DesiredCopyCount: 0, CurrentCopyCount: 0 });
    await assert.rejects(invoke('ic-ep', 'ic-one'), (err: Error) => err.name === 'ValidationError' && err.message === NO_CAPACITY);

    const listed = await sm.send(new ListInferenceComponentsCommand({ EndpointNameEquals: 'ic-ep' }));
    assert.deepEqual(listed.InferenceComponents?.map((c) => [c.InferenceComponentName, c.VariantName, c.InferenceComponentStatus]), [['ic-one', 'AllTraffic', 'InService']]);

    // Nor may the endpoint move to a config whose variants name models while components are on it.
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'ic-ep-models', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'ic-model', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'ic-ep', EndpointConfigName: 'ic-ep-models' })),
      (err: Error) => err.name === 'ValidationException' && /^Cannot update endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint\/ic-ep" to endpoint configuration "ic-ep-models", whose variants name models: inference components \[ic-one\] are deployed on it\./.test(err.message),
    );
    await assert.rejects(
      sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-ep' })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'Cannot delete endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/ic-ep": inference components [ic-one] are deployed on it. Delete them first (DeleteInferenceComponent).',
    );
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-one' }));
    await until('ic-one deleted', async () => (await sm.send(new ListInferenceComponentsCommand({}))).InferenceComponents?.length === 0, POLL);
    await assert.rejects(sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-one' })), (err: Error) => err.name === 'ValidationException' && /^Could not find inference component/.test(err.message));
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-ep' }));
  });

  test('Tags of an inference component stay while it is Deleting and go once it is gone: one created again under its name has only its own Tags', async () => {
    await hostEndpoint('ic-retag-ep');
    // A held invocation keeps the component Deleting (its copy drains) until the test lets it answer.
    await sm.send(new CreateModelCommand({ ModelName: 'ic-retag-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
    const create = (Key: string) =>
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-retag', EndpointName: 'ic-retag-ep', VariantName: 'AllTraffic', Specification: { ModelName: 'ic-retag-model', ComputeResourceRequirements: MEMORY }, RuntimeConfig: { CopyCount: 1 }, Tags: [{ Key, Value: 'v' }] }));
    const { InferenceComponentArn } = await create('old');
    await until('ic-retag InService', async () => (await componentStatus('ic-retag')) === 'InService', POLL);
    const tagsOf = async () => (await sm.send(new ListTagsCommand({ ResourceArn: InferenceComponentArn }))).Tags;
    const held = invoke('ic-retag-ep', 'ic-retag');
    await until('the invocation is held', () => backend.invocations.some((i) => i.id.startsWith('ic-retag-ep/ic-retag/')), POLL);
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-retag' }));
    assert.equal(await componentStatus('ic-retag'), 'Deleting');
    assert.deepEqual(await tagsOf(), [{ Key: 'old', Value: 'v' }]);
    await sm.send(new AddTagsCommand({ ResourceArn: InferenceComponentArn, Tags: [{ Key: 'late', Value: 'v' }] }));
    backend.release();
    await held;
    await until('ic-retag gone', () => componentStatus('ic-retag').then(() => false, () => true), POLL);
    await create('new');
    assert.deepEqual(await tagsOf(), [{ Key: 'new', Value: 'v' }]);
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-retag' }));
    await until('ic-retag deleted', () => componentStatus('ic-retag').then(() => false, () => true), POLL);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-retag-ep' }));
  });

  test('UpdateInferenceComponent starts the new specification\'s copies and swaps to them; a component whose copies fail to start is Failed with the reason', async () => {
    await hostEndpoint('ic-up');
    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-up-a', EndpointName: 'ic-up', Specification: { Container: { Image: 'repo/img:1', ArtifactUrl: dir, Environment: { FAKE_TAG: 'v1' } }, ComputeResourceRequirements: MEMORY }, RuntimeConfig: { CopyCount: 1 } }));
    await until('ic-up-a InService', async () => (await componentStatus('ic-up-a')) === 'InService', POLL);
    assert.equal((await invoke('ic-up', 'ic-up-a')).tag, 'v1');
    // A value no process environment can carry is refused before any copy starts, on create as on update.
    const nul = { Container: { Image: 'repo/img:1', ArtifactUrl: dir, Environment: { BAD: 'a\u0000b' } }, ComputeResourceRequirements: MEMORY };
    const nulMessage = /^Specification\.Container\.Environment value of BAD holds a NUL character/;
    await assert.rejects(sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-up-nul', EndpointName: 'ic-up', Specification: nul, RuntimeConfig: { CopyCount: 1 } })), { name: 'ValidationException', message: nulMessage });
    await assert.rejects(sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-up-nul' })), { name: 'ValidationException' });
    await assert.rejects(sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-up-a', Specification: nul })), { name: 'ValidationException', message: nulMessage });
    assert.equal(await componentStatus('ic-up-a'), 'InService');
    const rolling = { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT' as const, Value: 1 }, WaitIntervalInSeconds: 0 } };
    await sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-up-a', Specification: { Container: { Image: 'repo/img:2', ArtifactUrl: dir, Environment: { FAKE_TAG: 'v2' } }, ComputeResourceRequirements: MEMORY }, DeploymentConfig: rolling }));
    await until('ic-up-a updated', async () => (await componentStatus('ic-up-a')) === 'InService', POLL);
    assert.equal((await invoke('ic-up', 'ic-up-a')).tag, 'v2');
    const updated = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-up-a' }));
    assert.equal(updated.Specification?.Container?.DeployedImage?.SpecifiedImage, 'repo/img:2');
    assert.deepEqual(updated.LastDeploymentConfig, rolling);

    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-up-bad', EndpointName: 'ic-up', Specification: { Container: { ArtifactUrl: dir, Environment: { FAKE_PING: 'fail' } }, ComputeResourceRequirements: MEMORY }, RuntimeConfig: { CopyCount: 1 } }));
    await until('ic-up-bad Failed', async () => (await componentStatus('ic-up-bad')) === 'Failed', POLL);
    assert.match((await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-up-bad' }))).FailureReason ?? '', /did not pass the ping health check/);
    await assert.rejects(invoke('ic-up', 'ic-up-bad'), (err: Error) => err.name === 'ValidationError' && /^Inference component ic-up-bad is Failed/.test(err.message));
    // A Failed component's copy count cannot change; a new specification mends it.
    await assert.rejects(
      sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'ic-up-bad', DesiredRuntimeConfig: { CopyCount: 2 } })),
      (err: Error) => err.name === 'ValidationException' && /^Cannot change the copy count of inference component "arn:aws:sagemaker:eu-west-1:123456789012:inference-component\/ic-up-bad": it is Failed/.test(err.message),
    );
    await sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-up-bad', Specification: { Container: { ArtifactUrl: dir, Environment: { FAKE_TAG: 'mended' } }, ComputeResourceRequirements: MEMORY } }));
    await until('ic-up-bad mended', async () => (await componentStatus('ic-up-bad')) === 'InService', POLL);
    assert.equal((await invoke('ic-up', 'ic-up-bad')).tag, 'mended');
    for (const name of ['ic-up-a', 'ic-up-bad']) await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
  });

  test('CreateInferenceComponent refuses an endpoint whose variants name a model, a missing specification or runtime config, and an unknown endpoint', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'plain-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'plain-config', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'plain-model', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'plain-ep', EndpointConfigName: 'plain-config' }));
    const spec = { ModelName: 'plain-model', ComputeResourceRequirements: MEMORY };
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'plain-ep', Specification: spec, RuntimeConfig: { CopyCount: 1 } })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'Inference Components are not supported in this Endpoint. Please make sure this endpoint can deploy inference components.',
    );
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'no-such-ep', Specification: spec, RuntimeConfig: { CopyCount: 1 } })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'Could not find endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/no-such-ep".',
    );
    await hostEndpoint('ic-refuse');
    await assert.rejects(sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', RuntimeConfig: { CopyCount: 1 } })), (err: Error) => err.name === 'ValidationException' && /^Specification is required/.test(err.message));
    await assert.rejects(sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', Specification: spec })), (err: Error) => err.name === 'ValidationException' && /^RuntimeConfig is required/.test(err.message));
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', Specification: spec, RuntimeConfig: { CopyCount: 9 } })),
      (err: Error) => err.name === 'ResourceLimitExceeded' && /'local inference component copies' is 8 copies/.test(err.message),
    );
    // Refused tags create nothing.
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', Specification: spec, RuntimeConfig: { CopyCount: 1 }, Tags: [{ Key: 'aws:team', Value: 'ml' }] })),
      (err: Error) => err.name === 'ValidationException' && err.message === "System prefix 'aws:' reserved for AWS usage in tag key: aws:team",
    );
    // Tags of the wrong shape are refused as such, never a failure of the service.
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', Specification: spec, RuntimeConfig: { CopyCount: 1 }, Tags: [{ Key: 5 as unknown as string, Value: 'ml' }] })),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 400 && err.name === 'SerializationException' && /^tags\.1\.member\.key must be a string/.test(err.message),
    );
    assert.deepEqual((await sm.send(new ListInferenceComponentsCommand({ EndpointNameEquals: 'ic-refuse' }))).InferenceComponents, []);
    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-x', EndpointName: 'ic-refuse', Specification: spec, RuntimeConfig: { CopyCount: -1 } })),
      (err: Error) => err.name === 'ValidationException' && /at 'runtimeConfig.copyCount' failed to satisfy constraint: Member must have value greater than or equal to 0/.test(err.message),
    );
  });

  test('invocations during UpdateInferenceComponent are all answered: the old copies serve until the new ones are in service', async () => {
    await hostEndpoint('ic-roll');
    const spec = (tag: string) => ({ Container: { ArtifactUrl: dir, Environment: { FAKE_TAG: tag } }, ComputeResourceRequirements: MEMORY });
    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-roll-a', EndpointName: 'ic-roll', Specification: spec('v1'), RuntimeConfig: { CopyCount: 2 } }));
    await until('ic-roll-a InService', async () => (await componentStatus('ic-roll-a')) === 'InService', POLL);
    await sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-roll-a', Specification: spec('v2'), DeploymentConfig: { RollingUpdatePolicy: { MaximumBatchSize: { Type: 'COPY_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 } } }));
    // Invoked one after another throughout the update, until it is over and the new copies answer.
    const tags: string[] = [];
    const failures: string[] = [];
    for (;;) {
      const status = await componentStatus('ic-roll-a');
      try {
        tags.push((await invoke('ic-roll', 'ic-roll-a')).tag);
      } catch (err) {
        failures.push(`${(err as Error).name}: ${(err as Error).message}`);
      }
      if ((status === 'InService' && tags.at(-1) === 'v2') || failures.length > 3 || tags.length > 10_000) break;
    }
    assert.deepEqual(failures, []);
    assert.deepEqual([...new Set(tags)], tags[0] === 'v1' ? ['v1', 'v2'] : ['v2']);
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-roll-a' }));
    await until('ic-roll-a deleted', () => componentStatus('ic-roll-a').then(() => false, () => true), POLL);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-roll' }));
  });

  test('DescribeInferenceComponent gives back every member of the Specification; MaxMemoryRequiredInMb caps each copy\'s memory; an adapter component is refused, naming a base that does not exist', async () => {
    await hostEndpoint('ic-spec-ep');
    const specification = {
      InstanceType: 'ml.g5.2xlarge' as const,
      Container: { ArtifactUrl: dir, Environment: { FAKE_TAG: 'spec' }, ContainerMetricsConfig: { MetricsEndpoints: [{ MetricsEndpointPath: '/metrics', MetricPublishFrequencyInSeconds: 60 }] } },
      ComputeResourceRequirements: { MinMemoryRequiredInMb: 256, MaxMemoryRequiredInMb: 512, NumberOfCpuCoresRequired: 1 },
      StartupParameters: { ContainerStartupHealthCheckTimeoutInSeconds: 600 },
      DataCacheConfig: { EnableCaching: true },
      SchedulingConfig: { PlacementStrategy: 'BINPACK' as const, AvailabilityZoneBalance: { EnforcementMode: 'PERMISSIVE' as const, MaxImbalance: 1 } },
    };
    await sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-spec', EndpointName: 'ic-spec-ep', Specification: specification, RuntimeConfig: { CopyCount: 1 } }));
    await until('ic-spec InService', async () => (await componentStatus('ic-spec')) === 'InService', POLL);
    const { Container, ...rest } = specification;
    const { ArtifactUrl, Environment, ContainerMetricsConfig } = Container;
    assert.deepEqual((await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-spec' }))).Specification, { ...rest, Container: { ArtifactUrl, Environment, ContainerMetricsConfig } });
    assert.deepEqual(backend.started.filter((s) => s.id.startsWith('ic-spec-ep/ic-spec/')).map((s) => s.memoryMb), [512]);
    assert.equal((await invoke('ic-spec-ep', 'ic-spec')).tag, 'spec');

    await assert.rejects(
      sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-spec-bad', EndpointName: 'ic-spec-ep', Specification: { ...specification, Container: { ArtifactUrl: dir, ContainerMetricsConfig: { MetricsEndpoints: [{ MetricsEndpointPath: 'metrics' }] } } }, RuntimeConfig: { CopyCount: 1 } })),
      (err: Error) => err.name === 'ValidationException' && /containerMetricsConfig\.metricsEndpoints\.1\.member\.metricsEndpointPath' failed to satisfy constraint: Member must satisfy regular expression pattern/.test(err.message),
    );
    const adapter = (base: string) => sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: 'ic-spec-adapter', EndpointName: 'ic-spec-ep', Specification: { BaseInferenceComponentName: base, Container: { ArtifactUrl: 's3://bucket/adapter.tar.gz' } } }));
    await assert.rejects(adapter('no-base'), (err: Error) => err.name === 'ValidationException' && err.message.startsWith('Could not find inference component "arn:aws:sagemaker:eu-west-1:123456789012:inference-component/no-base" (BaseInferenceComponentName)'));
    await assert.rejects(adapter('ic-spec'), (err: Error) => err.name === 'ValidationException' && err.message.startsWith('Adapter inference components (BaseInferenceComponentName "ic-spec") are not supported by the local SageMaker'));
    assert.deepEqual((await sm.send(new ListInferenceComponentsCommand({ EndpointNameEquals: 'ic-spec-ep' }))).InferenceComponents?.map((c) => c.InferenceComponentName), ['ic-spec']);
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-spec' }));
    await until('ic-spec deleted', () => componentStatus('ic-spec').then(() => false, () => true), POLL);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-spec-ep' }));
  });

  test('invalid, duplicate and unknown names, an unknown variant, and changes to a component still Creating are refused with a ValidationException, changing nothing', async () => {
    await hostEndpoint('ic-valid-ep');
    const spec = { Container: { ArtifactUrl: dir }, ComputeResourceRequirements: MEMORY };
    const create = (name: string, more: { VariantName?: string } = {}) => sm.send(new CreateInferenceComponentCommand({ InferenceComponentName: name, EndpointName: 'ic-valid-ep', Specification: spec, RuntimeConfig: { CopyCount: 1 }, ...more }));
    const refused = (pattern: RegExp) => (err: Error) => err.name === 'ValidationException' && pattern.test(err.message);
    await assert.rejects(create('bad_name'), refused(/^1 validation error detected: Value 'bad_name' at 'inferenceComponentName' failed to satisfy constraint: Member must satisfy regular expression pattern/));
    await assert.rejects(create('a'.repeat(64)), refused(/at 'inferenceComponentName' failed to satisfy constraint: Member must have length less than or equal to 63/));
    await assert.rejects(create('ic-valid', { VariantName: 'Other' }), refused(/^The variant "Other" is not present in the endpoint "arn:aws:sagemaker:eu-west-1:123456789012:endpoint\/ic-valid-ep"\.$/));
    for (const op of [
      new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-nope' }),
      new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'ic-nope', DesiredRuntimeConfig: { CopyCount: 1 } }),
      new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-nope', RuntimeConfig: { CopyCount: 1 } }),
      new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-nope' }),
    ]) {
      await assert.rejects(sm.send(op as DescribeInferenceComponentCommand), refused(/^Could not find inference component "arn:aws:sagemaker:eu-west-1:123456789012:inference-component\/ic-nope"\.$/));
    }
    // /ping answers 503 for a minute: the component stays Creating while it is changed.
    backend.readyAfterMs = 60_000;
    try {
      await create('ic-valid');
    } finally {
      backend.readyAfterMs = undefined;
    }
    assert.equal(await componentStatus('ic-valid'), 'Creating');
    await assert.rejects(create('IC-VALID'), refused(/^Cannot create already existing inference component "arn:aws:sagemaker:eu-west-1:123456789012:inference-component\/ic-valid"\.$/));
    const inProgress = refused(/^Cannot update in-progress inference component "arn:aws:sagemaker:eu-west-1:123456789012:inference-component\/ic-valid": it is Creating\.$/);
    await assert.rejects(sm.send(new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: 'ic-valid', DesiredRuntimeConfig: { CopyCount: 2 } })), inProgress);
    await assert.rejects(sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-valid', Specification: spec })), inProgress);
    await assert.rejects(sm.send(new UpdateInferenceComponentCommand({ InferenceComponentName: 'ic-valid' })), refused(/^UpdateInferenceComponent changes nothing/));
    const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'ic-valid' }));
    assert.deepEqual({ status: d.InferenceComponentStatus, desired: d.RuntimeConfig?.DesiredCopyCount }, { status: 'Creating', desired: 1 });
    // A component still Creating can be deleted: its copy's start is cut short.
    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'ic-valid' }));
    await until('ic-valid deleted', () => componentStatus('ic-valid').then(() => false, () => true), POLL);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-valid-ep' }));
  });
});
