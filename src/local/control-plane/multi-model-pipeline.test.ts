// A serial inference pipeline with one multi-model container, through the real SDK clients: "You can
// use multi-model-enabled containers with serial inference pipelines, but only one multi-model-enabled
// container can be included in an inference pipeline" (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-endpoints.html).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

describe('multi-model pipeline', () => {
  const backend = new FakeBackend();
  let local: LocalSageMakerHandle;
  let sm: SageMakerClient;
  let runtime: SageMakerRuntimeClient;
  let models: string;

  before(async () => {
    models = await mkdtemp(join(tmpdir(), 'smkit-mme-pipeline-'));
    await writeFile(join(models, 'a.tar.gz'), craftTarGz([{ path: 'model.onnx', body: 'weights' }]));
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 60_000 }));
    runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 60_000 }), maxAttempts: 1 });
  });

  after(async () => {
    sm?.destroy();
    runtime?.destroy();
    await local?.stop();
    await rm(models, { recursive: true, force: true });
  });

  const refused = (input: ConstructorParameters<typeof CreateModelCommand>[0], message: string) =>
    assert.rejects(sm.send(new CreateModelCommand(input)), (err: Error) => {
      assert.equal(err.name, 'ValidationException', err.message);
      assert.equal(err.message, message);
      return true;
    });

  test('a serial pipeline of a container and a multi-model container deploys, and an invocation with TargetModel loads the model in the multi-model container and runs both', async () => {
    await sm.send(new CreateModelCommand({
      ModelName: 'pre-mme',
      Containers: [
        { Image: 'repo/pre:1', Environment: { FAKE_TAG: 'pre' } },
        { Image: 'repo/mme:1', Mode: 'MultiModel', ModelDataUrl: models, Environment: { FAKE_TAG: 'mme' } },
      ],
    }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'pre-mme', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'pre-mme', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'pre-mme', EndpointConfigName: 'pre-mme' }));
    await until('pre-mme in service', async () => {
      const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'pre-mme' }));
      assert.notEqual(d.EndpointStatus, 'Failed', d.FailureReason);
      return d.EndpointStatus === 'InService';
    }, { intervalMs: 20, timeoutMs: 60_000 });
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'pre-mme', TargetModel: 'a.tar.gz', ContentType: 'application/json', Body: Buffer.from('{}') }));
    const answer = JSON.parse(Buffer.from(out.Body!).toString()) as { tag: string; got: string };
    assert.equal(answer.tag, 'mme', 'the multi-model container answered last');
    assert.equal((JSON.parse(answer.got) as { tag: string }).tag, 'pre', 'it was given the first container\'s answer');
    const calls = backend.requests.map((r) => r.call);
    assert.ok(calls.some((c) => c === 'POST /models'), calls.join(', '));
    assert.ok(calls.some((c) => /^POST \/models\/m-[0-9a-f]{16}\/invoke$/.test(c)), calls.join(', '));
  });

  test('two multi-model containers in one pipeline, or one in a Direct-mode model, is a ValidationException', async () => {
    await refused(
      { ModelName: 'two', Containers: [{ Image: 'repo/a:1', Mode: 'MultiModel', ModelDataUrl: models }, { Image: 'repo/b:1', Mode: 'MultiModel', ModelDataUrl: models }] },
      'Only one multi-model container (Mode MultiModel) can be included in an inference pipeline; this model has 2.',
    );
    await refused(
      { ModelName: 'direct', InferenceExecutionConfig: { Mode: 'Direct' }, Containers: [{ Image: 'repo/a:1', ContainerHostname: 'a' }, { Image: 'repo/b:1', ContainerHostname: 'b', Mode: 'MultiModel', ModelDataUrl: models }] },
      'A multi-model container (Mode MultiModel) is supported in a serial inference pipeline (AWS documents no multi-model container for InferenceExecutionConfig Mode Direct); use Mode Serial, or a model of its own.',
    );
  });
});
