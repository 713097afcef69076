// A local multi-model endpoint: a folder of model archives stands in for the S3 prefix; each
// TargetModel is fetched, extracted and loaded on first use (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html), through the real SDK.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { createModelArchive } from '../../src/archive/model-archive.js';
import type { LocalEndpointsHandle } from '../../src/local/endpoint/start.js';
import { startLocalForTest, type LocalEndpointsUnderTest } from '../helpers/local-endpoints.js';
import { REPO_ROOT } from '../helpers/serve-process.js';

let local: LocalEndpointsUnderTest;
let handle: LocalEndpointsHandle;
let client: SageMakerRuntimeClient;

describe('local multi-model', () => {
  before(async () => {
    local = await startLocalForTest(`endpoints:\n  - name: many\n    variants:\n      - name: AllTraffic\n        model: ./models\n        mode: MultiModel\n`, async (dir) => {
      await mkdir(join(dir, 'models', 'v2'), { recursive: true });
      await createModelArchive(join(REPO_ROOT, 'models', 'iris-onnx'), join(dir, 'models', 'iris.tar.gz'));
      await createModelArchive(join(REPO_ROOT, 'models', 'iris-pipeline'), join(dir, 'models', 'v2', 'top2.tar.gz'));
    });
    ({ handle, client } = local);
  });

  after(() => local?.stop());

  const invoke = (targetModel?: string) =>
    client.send(
      new InvokeEndpointCommand({
        EndpointName: 'many',
        ContentType: 'text/csv',
        Body: Buffer.from('5.1,3.5,1.4,0.2'),
        ...(targetModel === undefined ? {} : { TargetModel: targetModel }),
      }),
    );

  test('each TargetModel is loaded on first use and answers with its own model', async () => {
    for (let i = 0; i < 2; i++) {
      const a = JSON.parse(Buffer.from((await invoke('iris.tar.gz')).Body!).toString()) as number[][];
      assert.equal(a[0]!.length, 3, 'probabilities from iris.tar.gz');
      const b = JSON.parse(Buffer.from((await invoke('v2/top2.tar.gz')).Body!).toString()) as { label: string }[][];
      assert.equal(b[0]![0]!.label, 'setosa', 'top-2 labels from v2/top2.tar.gz');
    }
    // Loaded once each, under opaque names, as the service does.
    const container = handle.containers[0]!;
    const loaded = await (await fetch(`${container.url}/models`)).json() as { models: { modelName: string }[] };
    assert.equal(loaded.models.length, 2);
    assert.ok(loaded.models.every((m) => /^m-[0-9a-f]{16}$/.test(m.modelName)));
    assert.equal((await readdir(join(container.spec.optMlDir, 'models'))).length, 2);
  });

  test('a missing, unknown or escaping TargetModel is a ValidationError; so is one that names a model only as a path would (an S3 key is appended to the prefix as it is)', async () => {
    for (const target of [undefined, 'nope.tar.gz', '../endpoints.yaml', './iris.tar.gz', 'v2/../iris.tar.gz', 'v2//top2.tar.gz', '/iris.tar.gz']) {
      await assert.rejects(invoke(target), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'ValidationError', `TargetModel ${target}: ${err.message}`);
        assert.equal(err.$metadata?.httpStatusCode, 400);
        return true;
      });
    }
  });
});
