// A serverless cold start that outlasts the invocation's time, through the real SDK clients: the
// service answers ModelNotReadyException (429), "a serverless endpoint variant's resources are still
// being provisioned ... Wait and try your request again" (API_runtime_InvokeEndpoint), and the
// instance goes on starting, so the retries find it rather than each starting another.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

describe('serverless cold start', () => {
  const backend = new FakeBackend();
  let local: LocalSageMakerHandle;
  let sm: SageMakerClient;
  let runtime: SageMakerRuntimeClient;

  before(async () => {
    // Invocations wait 3 s (the service's 60 s) for their instance. The same setting bounds each answer
    // once the instance is up (a late one is a 424 ModelError): 3 s leaves a loaded machine room.
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, invokeTimeoutMs: 3_000, alarmsAndScaling: false });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 60_000 }));
    // No SDK retries: each invocation's own answer is what the test reads.
    runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 60_000 }), maxAttempts: 1 });
    await sm.send(new CreateModelCommand({ ModelName: 'm', PrimaryContainer: { Image: 'repo/img:1' } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 5 } }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'sl', EndpointConfigName: 'sl' }));
    await until('sl in service', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'sl' }))).EndpointStatus === 'InService', { intervalMs: 20, timeoutMs: 60_000 });
  });

  after(async () => {
    sm?.destroy();
    runtime?.destroy();
    await local?.stop();
  });

  const invoke = () => runtime.send(new InvokeEndpointCommand({ EndpointName: 'sl', ContentType: 'application/json', Body: Buffer.from('{}') }));

  test('an invocation whose cold start is still under way after the invocation time is a ModelNotReadyException (429); the start goes on, and the retries take that one instance', async () => {
    const before = backend.started.length;
    // The instance started next answers /ping only after 8 s: a wait's 3 s timer is due well before.
    backend.readyAfterMs = 8_000;
    try {
      await assert.rejects(invoke(), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'ModelNotReadyException', err.message);
        assert.equal(err.$metadata?.httpStatusCode, 429);
        assert.match(err.message, /^Variant AllTraffic is serverless and the instance started for this invocation \(a cold start\) is still being provisioned after 3 s; it goes on starting \(up to 3 minutes\): retry the request\.$/);
        return true;
      });
    } finally {
      backend.readyAfterMs = undefined;
    }
    // Retried as the SDKs retry it (a ModelNotReadyException while the start goes on), until it answers.
    const answer = await until('the cold-started instance to answer', async () => {
      try {
        return await invoke();
      } catch (err) {
        if ((err as Error).name === 'ModelNotReadyException') return undefined;
        throw err;
      }
    }, { intervalMs: 100, timeoutMs: 60_000 });
    assert.equal(answer.$metadata.httpStatusCode, 200);
    assert.equal(backend.started.length, before + 1, 'the retries waited for the one cold start, starting no other instance');
  });
});
