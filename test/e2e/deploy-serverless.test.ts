// `smkit deploy` of a serverless endpoint against the local SageMaker and a real local S3
// (s3rver), with the real SDK clients: the file's `serverless` becomes the variant's
// ServerlessConfig (nothing running once InService, a cold start on the first invocation), an
// unchanged file plans nothing, a serverless endpoint updates to instances, and the way back is
// refused by the service as on AWS (an instance-based endpoint cannot become serverless).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, runDeploy } from '../helpers/serve-process.js';

function endpointFile(variant: string): string {
  return `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
endpoints:
  - name: pocket
    variants:
      - model: ./model
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 }
${variant}
`;
}

const SERVERLESS = `        serverless:
          memorySizeInMB: 2048
          maxConcurrency: 2`;

test('smkit deploy: a serverless endpoint, then instances, and not back', { timeout: 240_000 }, async () => {
  const s3server = await startLocalS3(['artifacts']);
  const sm = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' }, startupTimeoutMs: 60_000 });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-serverless-'));
  const clients = localSdkClients(sm.url);
  const env = { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1' };
  const file = path.join(dir, 'endpoints.yaml');
  const args = [file, '--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '120'];
  const variant = async () => (await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'pocket' }))).ProductionVariants?.[0];
  try {
    await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
    await writeFile(file, endpointFile(SERVERLESS));

    const first = await runDeploy(args, env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /pocket: InService \| AllTraffic weight 1, serverless 2048 MB, concurrency 2/);
    const created = await variant();
    assert.deepEqual(created?.CurrentServerlessConfig, { MemorySizeInMB: 2048, MaxConcurrency: 2 });
    assert.equal(created?.CurrentInstanceCount, undefined, 'a serverless variant has no instance count');
    const out = await clients.runtime.send(new InvokeEndpointCommand({ EndpointName: 'pocket', ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
    assert.equal((JSON.parse(Buffer.from(out.Body!).toString()) as number[][])[0]!.length, 3, 'the first invocation cold-starts an instance and answers');

    const again = await runDeploy(args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);

    await writeFile(file, endpointFile('        instanceCount: 1'));
    const toInstances = await runDeploy(args, env);
    assert.equal(toInstances.code, 0, toInstances.stderr);
    const updated = await variant();
    assert.equal(updated?.CurrentInstanceCount, 1);
    assert.equal(updated?.CurrentServerlessConfig, undefined);

    await writeFile(file, endpointFile(SERVERLESS));
    const back = await runDeploy(args, env);
    assert.equal(back.code, 1, back.stdout);
    // SageMaker refuses that UpdateEndpoint: refused when planned, before the config is created.
    assert.match(back.stderr, /ERR_DEPLOY_CONFIG: pocket: the endpoint file makes endpoint pocket serverless, but it runs on instances \(config pocket-[0-9a-f]+\), and SageMaker does not update an instance-based endpoint to a serverless config/);
    assert.doesNotMatch(back.stderr, /created endpoint config/);
    assert.equal((await variant())?.CurrentInstanceCount, 1, 'the endpoint keeps serving on instances');
  } finally {
    clients.destroy();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
