// Inference components end to end: real AWS SDK v3 clients against `startLocalSageMaker` with the
// process backend, one component whose copy is a real `smkit serve` of the iris ONNX model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateInferenceComponentCommand,
  DeleteEndpointCommand,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  ListInferenceComponentsCommand,
  waitUntilEndpointInService,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

let local: LocalSageMakerHandle;
let clients: LocalSdkClients;

describe('local inference components', () => {
  before(async () => {
    local = await startLocalSageMaker({ port: 0, settings: { region: 'us-east-1', accountId: '111122223333' }, startupTimeoutMs: 60_000, alarmsAndScaling: false });
    clients = localSdkClients(local.url, { runtimeMaxAttempts: 1 });
  });

  after(async () => {
    clients?.destroy();
    await local?.stop();
  });

  test('a model deployed as an inference component of an endpoint without models answers InvokeEndpoint with InferenceComponentName', async () => {
    const sm = clients.sagemaker;
    await sm.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'ic-e2e',
        ExecutionRoleArn: 'arn:aws:iam::111122223333:role/smkit-local',
        ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1 }],
      }),
    );
    await sm.send(new CreateEndpointCommand({ EndpointName: 'ic-e2e', EndpointConfigName: 'ic-e2e' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { EndpointName: 'ic-e2e' });
    await sm.send(
      new CreateInferenceComponentCommand({
        InferenceComponentName: 'iris',
        EndpointName: 'ic-e2e',
        VariantName: 'AllTraffic',
        Specification: { Container: { Image: 'smkit:latest', ArtifactUrl: pathToFileURL(join(REPO_ROOT, 'models', 'iris-onnx')).href }, ComputeResourceRequirements: { MinMemoryRequiredInMb: 512, NumberOfCpuCoresRequired: 1 } },
        RuntimeConfig: { CopyCount: 1 },
      }),
    );
    const created = await until(
      'inference component iris started',
      async () => {
        const d = await sm.send(new DescribeInferenceComponentCommand({ InferenceComponentName: 'iris' }));
        return d.InferenceComponentStatus === 'Creating' ? undefined : d;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal(created.InferenceComponentStatus, 'InService', created.FailureReason);

    const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'ic-e2e', InferenceComponentName: 'iris', ContentType: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
    const probabilities = (JSON.parse(Buffer.from(out.Body!).toString()) as number[][])[0]!;
    assert.equal(probabilities.length, 3);
    assert.ok(probabilities[0]! > 0.9, `setosa expected, got ${JSON.stringify(probabilities)}`);
    assert.equal(out.InvokedProductionVariant, 'AllTraffic');

    await sm.send(new DeleteInferenceComponentCommand({ InferenceComponentName: 'iris' }));
    await until('inference component iris deleted', async () => (await sm.send(new ListInferenceComponentsCommand({ EndpointNameEquals: 'ic-e2e' }))).InferenceComponents?.length === 0, { timeoutMs: 60_000, intervalMs: 100 });
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'ic-e2e' }));
  });
});
