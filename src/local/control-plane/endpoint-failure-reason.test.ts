// An endpoint's FailureReason past the API's 1024 characters (botocore FailureReason max 1024): a
// model data URL near 1 KB (ModelDataUrl may have 1024) is named in it, with the model and the variant after it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smkit-ep-reason-'));
  local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, alarmsAndScaling: false });
  sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
});

after(async () => {
  sm?.destroy();
  await local?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('an endpoint whose model data URL near 1 KB is not there is Failed with a FailureReason of at most 1024 characters that keeps its start and its end (the model and the variant), the URL cut in its middle (it was the whole text, past 1024)', async () => {
  // Never made: the model data is not found.
  const url = join(dir, ...Array.from({ length: 4 }, (_, i) => `${i}${'k'.repeat(230)}`), 'model.tar.gz');
  assert.ok(url.length > 950 && url.length <= 1024, String(url.length));
  await sm.send(new CreateModelCommand({ ModelName: 'far-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: url } }));
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'far-config', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'far-model', InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: 'far', EndpointConfigName: 'far-config' }));
  const d = await until('the endpoint to leave Creating', async () => {
    const e = await sm.send(new DescribeEndpointCommand({ EndpointName: 'far' }));
    return e.EndpointStatus === 'Creating' ? undefined : e;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  assert.equal(d.EndpointStatus, 'Failed');
  const reason = d.FailureReason ?? '';
  assert.ok(reason.length <= 1024, `${reason.length} characters`);
  assert.match(reason, /^Could not find model data at \/\S+\.\.\.\S*k+\/model\.tar\.gz\. \(model far-model, variant AllTraffic\)\.$/);
});
