// Content-hash names of `smkit deploy` for long endpoint names, against the local SageMaker and a
// real local S3 (s3rver) with the real SDK clients: the 63-character limit cuts the base of a
// name, and what was cut must not make two resources one (a model created twice, one endpoint's
// `--delete` removing another endpoint's models and config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeModelCommand } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, runDeploy } from '../helpers/serve-process.js';
import { FakeBackend } from '../helpers/fake-backend.js';
import { until } from '../helpers/until.js';
import { createDeployClients } from '../../src/deploy/clients.js';
import { planDelete } from '../../src/deploy/delete.js';
import { scaleFromZeroAlarmName } from '../../src/deploy/desired.js';
import { parseEndpointFile } from '../../src/endpoint-file/schema.js';

/** Two endpoint names of 58 characters that differ only in their last one. */
const LONG = 'recommendation-ranking-model-production-us-east-1-canary-';

function endpointFile(name: string): string {
  return `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
endpoints:
  - name: ${name}
    variants:
      - name: A
        model: ./model
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 }
      - name: B
        model: ./model
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 }
`;
}

test('smkit deploy: long endpoint names keep their models and configs apart (two variants, two endpoints, a --delete)', { timeout: 180_000 }, async () => {
  const s3server = await startLocalS3(['artifacts']);
  // Fake containers (real HTTP servers in this process): what is checked is which models, configs
  // and endpoints the deploys create and delete, which four `smkit serve` processes (one per variant
  // of each endpoint) did not change but cost a third of this file's CPU to start.
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' }, startupTimeoutMs: 60_000 });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-names-'));
  const { sagemaker, destroy } = localSdkClients(sm.url);
  const env = { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1' };
  const flags = ['--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '60'];
  try {
    await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
    const names = [`${LONG}1`, `${LONG}2`];
    for (const [i, name] of names.entries()) {
      await writeFile(path.join(dir, `e${i}.yaml`), endpointFile(name));
      // Variants A and B run the same model: with a base cut to the same text they once got one name, created twice.
      const run = await runDeploy([path.join(dir, `e${i}.yaml`), ...flags], env);
      assert.equal(run.code, 0, run.stderr);
    }
    const second = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: names[1] }));
    const config = await sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: second.EndpointConfigName }));
    const models = config.ProductionVariants!.map((v) => v.ModelName!);
    assert.equal(new Set(models).size, 2, `one model per variant: ${models.join(', ')}`);

    const del = await runDeploy([path.join(dir, 'e0.yaml'), ...flags, '--delete'], env);
    assert.equal(del.code, 0, del.stderr);
    // The other endpoint keeps its config and models.
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: names[1] }))).EndpointStatus, 'InService');
    await sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: second.EndpointConfigName }));
    for (const m of models) await sagemaker.send(new DescribeModelCommand({ ModelName: m }));
    const again = await runDeploy([path.join(dir, 'e1.yaml'), ...flags], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);
  } finally {
    destroy();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * A local SageMaker on fake containers, deploy's clients for it and a model folder (`dir`, holding
 * one file) to create models from; all stopped and removed once `body` is done.
 */
async function withPlanDeleteSetup(body: (s: { dir: string; clients: ReturnType<typeof createDeployClients> }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-names-'));
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, settings: { region: 'us-east-1', accountId: '000000000000' } });
  const clients = createDeployClients({ endpointUrl: sm.url, region: 'us-east-1' }, { hasCredentials: false });
  try {
    await writeFile(path.join(dir, 'weights.bin'), 'w');
    await body({ dir, clients });
  } finally {
    clients.destroy();
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('smkit deploy --delete keeps the models and the scale-from-zero alarm of an endpoint whose <endpoint>-<variant> reads the same (fraud-v2/canary beside fraud/v2-canary)', { timeout: 60_000 }, async () => {
  await withPlanDeleteSetup(async ({ dir, clients }) => {
    const send = clients.sagemaker;
      // Both models match fraud's pattern fraud-v2-canary-<10 hex>; only the second is fraud's.
      const deployed = [
        { endpoint: 'fraud-v2', variant: 'canary', model: 'fraud-v2-canary-aaaaaaaaaa', config: 'fraud-v2-1111111111' },
        { endpoint: 'fraud', variant: 'v2-canary', model: 'fraud-v2-canary-bbbbbbbbbb', config: 'fraud-2222222222' },
      ];
      for (const d of deployed) {
        await send.send(new CreateModelCommand({ ModelName: d.model, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
        await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: d.config, ProductionVariants: [{ VariantName: d.variant, ModelName: d.model, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
        await send.send(new CreateEndpointCommand({ EndpointName: d.endpoint, EndpointConfigName: d.config }));
      }
      for (const d of deployed) {
        await until(`${d.endpoint} InService`, async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: d.endpoint }))).EndpointStatus === 'InService' ? true : undefined));
      }
      const file = parseEndpointFile({ endpoints: [{ name: 'fraud', variants: [{ name: 'v2-canary', model: 'm' }] }] }, (p) => p, () => Buffer.alloc(0));
      // fraud-v2's scale-from-zero alarm has the name fraud's had before its name got a hash.
      const alarm = (AlarmName: string, endpoint: string) =>
        clients.cloudwatch.send(
          new PutMetricAlarmCommand({ AlarmName, Namespace: 'AWS/SageMaker', MetricName: 'HasBacklogWithoutCapacity', Dimensions: [{ Name: 'EndpointName', Value: endpoint }], Statistic: 'Average', Period: 60, EvaluationPeriods: 2, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }),
        );
      await alarm('fraud-v2-canary-backlog-without-capacity', 'fraud-v2');
      await alarm(scaleFromZeroAlarmName('fraud', 'v2-canary'), 'fraud');
      const plan = await planDelete(clients, file.endpoints[0]!);
      assert.deepEqual(plan.configs, ['fraud-2222222222']);
      assert.deepEqual(plan.models, ['fraud-v2-canary-bbbbbbbbbb']);
      assert.deepEqual(plan.alarms, [scaleFromZeroAlarmName('fraud', 'v2-canary')]);
  });
});

test('smkit deploy --delete of an endpoint first made by hand removes the endpoint and what smkit named for it, never its hand-named config and model (another endpoint may share the model)', { timeout: 60_000 }, async () => {
  await withPlanDeleteSetup(async ({ dir, clients }) => {
    const send = clients.sagemaker;
      const model = (ModelName: string) => send.send(new CreateModelCommand({ ModelName, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
      await model('shared-model');
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'legacy-config', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'shared-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await send.send(new CreateEndpointCommand({ EndpointName: 'legacy', EndpointConfigName: 'legacy-config' }));
      // What an earlier smkit deploy of the file left, under its names: a superseded config and a model.
      await model('legacy-AllTraffic-cccccccccc');
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'legacy-3333333333', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'legacy-AllTraffic-cccccccccc', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await until('legacy InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'legacy' }))).EndpointStatus === 'InService' ? true : undefined));
      const file = parseEndpointFile({ endpoints: [{ name: 'legacy', variants: [{ name: 'A', model: 'm' }] }] }, (p) => p, () => Buffer.alloc(0));
      const plan = await planDelete(clients, file.endpoints[0]!);
      assert.equal(plan.endpointExists, true, 'the endpoint the file names goes');
      assert.deepEqual(plan.configs, ['legacy-3333333333']);
      assert.deepEqual(plan.models, ['legacy-AllTraffic-cccccccccc'], "the current config's variant names count for smkit's model names; its hand-named model stays");
  });
});
