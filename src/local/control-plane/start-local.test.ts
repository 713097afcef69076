import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListEndpointsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  waitUntilEndpointInService,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { parseEndpointFile } from '../endpoint-file/schema.js';
import { startLocal } from './start-local.js';

test('endpoint-file endpoints run instanceCount instances, are listed, described and scaled like created ones, and can be updated to a created config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-start-local-'));
  await writeFile(join(dir, 'weights.bin'), 'w');
  const config = parseEndpointFile(
    {
      endpoints: [
        {
          name: 'shop',
          variants: [
            { name: 'A', weight: 3, instanceCount: 2, model: '.', env: { FAKE_TAG: 'file-a' } },
            { name: 'B', weight: 1, model: '.', env: { FAKE_TAG: 'file-b' } },
          ],
          shadow: { name: 'S', model: '.', env: { FAKE_TAG: 'file-s' } },
        },
      ],
    },
    (p) => join(dir, p),
    () => Buffer.alloc(0),
  );
  const run = await startLocal(config, { port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000 }, { alarmsAndScaling: false });
  const clientConfig = { endpoint: run.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, requestHandler: { requestTimeout: 30_000 } };
  const sm = new SageMakerClient(clientConfig);
  const runtime = new SageMakerRuntimeClient(clientConfig);
  try {
    assert.deepEqual((await sm.send(new ListEndpointsCommand({}))).Endpoints?.map((e) => [e.EndpointName, e.EndpointStatus]), [['shop', 'InService']]);
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }));
    assert.equal(d.EndpointConfigName, 'shop');
    assert.deepEqual(d.ProductionVariants?.map((v) => [v.VariantName, v.CurrentWeight, v.CurrentInstanceCount, v.DesiredInstanceCount]), [
      ['A', 3, 2, 2],
      ['B', 1, 1, 1],
    ]);
    assert.deepEqual(d.ShadowProductionVariants?.map((v) => v.VariantName), ['S']);
    const c = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'shop' }));
    assert.deepEqual(c.ProductionVariants?.map((v) => [v.VariantName, v.ModelName, v.InitialVariantWeight, v.InitialInstanceCount]), [
      ['A', 'shop-A', 3, 2],
      ['B', 'shop-B', 1, 1],
    ]);
    const m = await sm.send(new DescribeModelCommand({ ModelName: 'shop-A' }));
    assert.equal(m.PrimaryContainer?.Environment?.FAKE_TAG, 'file-a');
    const answer = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', TargetVariant: 'B', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    assert.equal(JSON.parse(Buffer.from(answer.Body!).toString()).tag, 'file-b');

    // Both instances of A answer, and A scales like a created endpoint's variant.
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', TargetVariant: 'A', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
      ids.add(JSON.parse(Buffer.from(out.Body!).toString()).id as string);
    }
    assert.equal(ids.size, 2, [...ids].join(', '));
    await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'shop', DesiredWeightsAndCapacities: [{ VariantName: 'B', DesiredInstanceCount: 2 }] }));
    await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 30 }, { EndpointName: 'shop' });
    const scaled = await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }));
    assert.equal(scaled.FailureReason, undefined);
    assert.equal(scaled.ProductionVariants?.[1]?.CurrentInstanceCount, 2);

    await sm.send(new CreateModelCommand({ ModelName: 'shop-v2', PrimaryContainer: { ModelDataUrl: dir, Environment: { FAKE_TAG: 'api' } } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'shop-v2', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'shop-v2', InitialInstanceCount: 2 }] }));
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'shop', EndpointConfigName: 'shop-v2' }));
    const deadline = Date.now() + 30_000;
    while ((await sm.send(new DescribeEndpointCommand({ EndpointName: 'shop' }))).EndpointConfigName !== 'shop-v2') {
      assert.ok(Date.now() < deadline, 'the update finishes');
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'shop', Body: Buffer.from('[1]'), ContentType: 'application/json' }));
    assert.equal(after.InvokedProductionVariant, 'AllTraffic');
    assert.equal(JSON.parse(Buffer.from(after.Body!).toString()).tag, 'api');
  } finally {
    sm.destroy();
    runtime.destroy();
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
