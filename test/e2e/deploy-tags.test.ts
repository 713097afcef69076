// `deploy.tags` of `smkit deploy`, against the local SageMaker and a real local S3 (s3rver) with the
// real SDK clients: the models, endpoint config and endpoint it creates carry them; an endpoint that
// exists gets those it lacks with AddTags, with no new config or update; a tag is no part of a
// model's or config's definition, so changing one renames nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeEndpointCommand, ListEndpointConfigsCommand, ListModelsCommand, ListTagsCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { desiredEndpoint } from '../../src/deploy/desired.js';
import { parseEndpointFile } from '../../src/endpoint-file/schema.js';
import { readEndpointFile } from '../../src/endpoint-file/load.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, runDeploy } from '../helpers/serve-process.js';
import { FakeBackend } from '../helpers/fake-backend.js';

function endpointFile(tags: string): string {
  return `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
${tags}
endpoints:
  - name: tagged
    variants:
      - name: A
        model: ./model
    alarms:
      - { name: tagged-5xx, metric: Invocation5XXErrors, statistic: Sum, threshold: 1, comparison: GreaterThanOrEqualToThreshold, periodSeconds: 60, evaluationPeriods: 1 }
`;
}

async function tagsOf(sagemaker: SageMakerClient, arn: string | undefined): Promise<Record<string, string>> {
  const out = await sagemaker.send(new ListTagsCommand({ ResourceArn: arn }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key, t.Value]));
}

test('smkit deploy: deploy.tags go on every model, config and endpoint it creates; an existing endpoint gets those it lacks, and no new config', { timeout: 180_000 }, async () => {
  const s3server = await startLocalS3(['artifacts']);
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' }, startupTimeoutMs: 60_000 });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-tags-'));
  const { sagemaker, destroy } = localSdkClients(sm.url);
  const env = { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1' };
  const flags = ['--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '60'];
  const file = path.join(dir, 'e.yaml');
  try {
    await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
    await writeFile(file, endpointFile('  tags: { team: ml, cost-center: "0100" }'));
    const first = await runDeploy([file, ...flags], env);
    assert.equal(first.code, 0, first.stderr);
    const want = { team: 'ml', 'cost-center': '0100' };
    const ep = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'tagged' }));
    assert.deepEqual(await tagsOf(sagemaker, ep.EndpointArn), want);
    const models = (await sagemaker.send(new ListModelsCommand({ NameContains: 'tagged' }))).Models ?? [];
    const configs = (await sagemaker.send(new ListEndpointConfigsCommand({ NameContains: 'tagged' }))).EndpointConfigs ?? [];
    assert.equal(models.length, 1);
    assert.equal(configs.length, 1);
    assert.deepEqual(await tagsOf(sagemaker, models[0]!.ModelArn), want);
    assert.deepEqual(await tagsOf(sagemaker, configs[0]!.EndpointConfigArn), want);

    // The same file again: nothing to do.
    const again = await runDeploy([file, ...flags], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes: everything is as the file says/);

    // A changed and an added tag: AddTags on the endpoint; the same config and model (tags are no part of their definition).
    await writeFile(file, endpointFile('  tags: { team: search, cost-center: "0100", stage: prod }'));
    const retag = await runDeploy([file, ...flags], env);
    assert.equal(retag.code, 0, retag.stderr);
    assert.match(retag.stdout, /  update    endpoint-tags   tagged  \(team=search, stage=prod\)\n/);
    assert.match(retag.stdout, /  unchanged endpoint        tagged  \(config /);
    assert.match(retag.stderr, /tagged endpoint tagged: team=search, stage=prod\n/);
    assert.deepEqual(await tagsOf(sagemaker, ep.EndpointArn), { team: 'search', 'cost-center': '0100', stage: 'prod' });
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'tagged' }))).EndpointConfigName, configs[0]!.EndpointConfigName);

    // --dry-run lists the tagging and changes nothing.
    await writeFile(file, endpointFile('  tags: { team: ranking }'));
    const dry = await runDeploy([file, ...flags, '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /  update    endpoint-tags   tagged  \(team=ranking\)\n/);
    assert.equal((await tagsOf(sagemaker, ep.EndpointArn)).team, 'search');
  } finally {
    destroy();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('deploy.tags: the APIs get them as Tags, alarms too; the content-hash names do not change with them; keys and values SageMaker refuses are refused naming the key', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-tags-file-'));
  try {
    const read = async (tags: string) => {
      await writeFile(path.join(dir, 'e.yaml'), endpointFile(tags));
      return readEndpointFile(path.join(dir, 'e.yaml'));
    };
    const artifacts = new Map([[path.join(dir, 'model'), { uri: 's3://artifacts/smkit/x/model.tar.gz', bucket: 'artifacts', source: 'model', files: [] }]]);
    const config = await read('  tags: { team: ml }');
    assert.deepEqual(config.deploy?.tags, { team: 'ml' });
    const tagged = desiredEndpoint(config.endpoints[0]!, { artifacts: artifacts as never, role: 'arn:aws:iam::123456789012:role/R', image: 'i', tags: config.deploy!.tags! });
    const plain = desiredEndpoint(config.endpoints[0]!, { artifacts: artifacts as never, role: 'arn:aws:iam::123456789012:role/R', image: 'i' });
    const Tags = [{ Key: 'team', Value: 'ml' }];
    assert.deepEqual(tagged.models[0]!.input.Tags, Tags);
    assert.deepEqual(tagged.config.input.Tags, Tags);
    assert.deepEqual(tagged.alarms[0]!.Tags, Tags);
    assert.deepEqual(tagged.tags, Tags);
    assert.equal(plain.models[0]!.input.Tags, undefined);
    assert.equal(plain.tags, undefined);
    assert.equal(tagged.models[0]!.name, plain.models[0]!.name);
    assert.equal(tagged.config.name, plain.config.name);

    const refused = async (tags: string, message: RegExp) => {
      await assert.rejects(read(tags), (err: Error & { code?: string }) => err.code === 'ERR_ENDPOINT_FILE_INVALID' && message.test(err.message));
    };
    await refused('  tags: { cost-center: 0100 }', /^deploy\.tags\.cost-center: must be text \(got 100\): quote it/);
    await refused('  tags: { "aws:team": ml }', /^deploy\.tags\.aws:team: starts with aws:/);
    await refused('  tags: { "team#1": ml }', /^deploy\.tags\.team#1: is not a tag key SageMaker takes/);
    await refused(`  tags: { team: "${'x'.repeat(257)}" }`, /^deploy\.tags\.team: is not a tag value SageMaker takes/);
    await refused('  tags: [team]', /^deploy\.tags: must be a map of tag keys to values/);
    await refused(`  tags: { ${Array.from({ length: 51 }, (_, i) => `k${i}: v`).join(', ')} }`, /^deploy\.tags: has 51 tags; SageMaker takes at most 50/);
    assert.throws(() => parseEndpointFile({ deploy: { tags: { '': 'v' } }, endpoints: [{ name: 'a', variants: [{ model: dir }] }] }, (p) => p, () => Buffer.alloc(0)), /deploy\.tags\.: is not a tag key/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
