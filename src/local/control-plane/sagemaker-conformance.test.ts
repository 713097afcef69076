// The local SageMaker against the SageMaker API reference, through the real JS SDK over HTTP:
// behaviour the reference states that a script can depend on.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddTagsCommand,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DeleteTagsCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListEndpointConfigsCommand,
  ListEndpointsCommand,
  ListModelsCommand,
  ListTagsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateEndpointWeightsAndCapacitiesCommand,
  paginateListModels,
  waitUntilEndpointInService,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { startLocalS3 } from '../../../test/helpers/local-s3.js';
import { createModelArchive } from '../../archive/model-archive.js';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { until } from '../../../test/helpers/until.js';
import { localClientConfig, localSdkClients } from '../../../test/helpers/local-sdk-clients.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from './local-sagemaker.js';

let dir: string;
let local: LocalSageMakerHandle;
let sm: SageMakerClient;
let backend: FakeBackend;

describe('sagemaker conformance', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-conformance-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    backend = new FakeBackend();
    local = await startLocalSageMaker({ port: 0, backendImpl: backend, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: {} });
    sm = new SageMakerClient(localClientConfig(local.url, { requestTimeoutMs: 30_000 }));
    await sm.send(new CreateModelCommand({ ModelName: 'conf-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-config', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  });

  after(async () => {
    sm?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('CreationTimeAfter is inclusive ("greater than or equal to"): a resource\'s own CreationTime lists it; CreationTimeBefore is exclusive', async () => {
    const model = await sm.send(new DescribeModelCommand({ ModelName: 'conf-model' }));
    const models = await sm.send(new ListModelsCommand({ CreationTimeAfter: model.CreationTime }));
    assert.deepEqual(models.Models?.map((m) => m.ModelName), ['conf-model']);
    assert.deepEqual((await sm.send(new ListModelsCommand({ CreationTimeBefore: model.CreationTime }))).Models, []);

    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-config' }));
    const configs = await sm.send(new ListEndpointConfigsCommand({ CreationTimeAfter: config.CreationTime }));
    assert.deepEqual(configs.EndpointConfigs?.map((c) => c.EndpointConfigName), ['conf-config']);

    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-listed', EndpointConfigName: 'conf-config' }));
    const endpoint = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-listed' }));
    const endpoints = await sm.send(new ListEndpointsCommand({ CreationTimeAfter: endpoint.CreationTime, NameContains: 'conf-listed' }));
    assert.deepEqual(endpoints.Endpoints?.map((e) => e.EndpointName), ['conf-listed']);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-listed' }));
  });

  test('List* NextToken: each page goes on after the last item of the page before, so deleting what was listed while paging skips nothing; a token of another List* operation or sort is refused', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `conf-page-${i}`);
    for (const ModelName of names) await sm.send(new CreateModelCommand({ ModelName, PrimaryContainer: { ModelDataUrl: dir } }));
    // The clean-up loop scripts run: list a page, delete what it lists, ask for the next page.
    const seen: string[] = [];
    for await (const page of paginateListModels({ client: sm, pageSize: 3 }, { NameContains: 'conf-page-', SortBy: 'Name', SortOrder: 'Ascending' })) {
      for (const { ModelName } of page.Models ?? []) {
        seen.push(ModelName!);
        await sm.send(new DeleteModelCommand({ ModelName }));
      }
    }
    assert.deepEqual(seen, names);

    for (const EndpointConfigName of ['conf-page-a', 'conf-page-b']) {
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    const { EndpointConfigs, NextToken } = await sm.send(new ListEndpointConfigsCommand({ NameContains: 'conf-page-', MaxResults: 1 }));
    assert.deepEqual(EndpointConfigs?.map((c) => c.EndpointConfigName), ['conf-page-b']);
    const refused = (operation: string) => (err: Error) =>
      err.name === 'ValidationException' && err.message === `Invalid pagination token: pass the NextToken of the previous ${operation} answer as it came, with the same SortBy and SortOrder, or no NextToken for the first page.`;
    await assert.rejects(sm.send(new ListModelsCommand({ NextToken })), refused('ListModels'));
    await assert.rejects(sm.send(new ListEndpointConfigsCommand({ NameContains: 'conf-page-', NextToken, SortBy: 'Name' })), refused('ListEndpointConfigs'));
    await assert.rejects(sm.send(new ListEndpointsCommand({ NextToken: 'not-a-token' })), refused('ListEndpoints'));
    const next = await sm.send(new ListEndpointConfigsCommand({ NameContains: 'conf-page-', MaxResults: 1, NextToken }));
    assert.deepEqual([next.EndpointConfigs?.map((c) => c.EndpointConfigName), next.NextToken], [['conf-page-a'], undefined]);
  });

  test('ARNs name the partition of the region, as the service writes them (arn:aws-cn:sagemaker:cn-northwest-1:...): SageMaker resources, alarms and log groups', async () => {
    const china = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, settings: { region: 'cn-north-1', accountId: '123456789012' } });
    const clients = localSdkClients(china.url, { region: 'cn-north-1', requestTimeoutMs: 30_000 });
    const logs = new CloudWatchLogsClient(localClientConfig(china.url, { region: 'cn-north-1', requestTimeoutMs: 30_000 }));
    try {
      const { ModelArn } = await clients.sagemaker.send(new CreateModelCommand({ ModelName: 'Cn-Model', PrimaryContainer: { ModelDataUrl: dir }, Tags: [{ Key: 'k', Value: 'v' }] }));
      assert.equal(ModelArn, 'arn:aws-cn:sagemaker:cn-north-1:123456789012:model/cn-model');
      assert.deepEqual((await clients.sagemaker.send(new ListTagsCommand({ ResourceArn: ModelArn }))).Tags, [{ Key: 'k', Value: 'v' }]);
      const { EndpointConfigArn } = await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'cn', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'Cn-Model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      assert.equal(EndpointConfigArn, 'arn:aws-cn:sagemaker:cn-north-1:123456789012:endpoint-config/cn');
      await assert.rejects(clients.sagemaker.send(new DescribeModelCommand({ ModelName: 'nope' })), (err: Error) => err.message === 'Could not find model "arn:aws-cn:sagemaker:cn-north-1:123456789012:model/nope".');

      const policy = 'arn:aws-cn:autoscaling:cn-north-1:123456789012:scalingPolicy:0123abcd-0000-0000-0000-000000000000:resource/sagemaker/endpoint/cn/variant/AllTraffic:policyName/p';
      await clients.cloudwatch.send(new PutMetricAlarmCommand({ AlarmName: 'cn-alarm', Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [policy] }));
      const [alarm] = (await clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['cn-alarm'] }))).MetricAlarms ?? [];
      assert.equal(alarm?.AlarmArn, 'arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:cn-alarm');
      // The endpoint's instance writes to its log group.
      await clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'cn', EndpointConfigName: 'cn' }));
      await until('cn InService', async () => (await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'cn' }))).EndpointStatus === 'InService', { intervalMs: 100 });
      const groups = (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/sagemaker/Endpoints/cn' }))).logGroups ?? [];
      assert.deepEqual(groups.map((g) => g.logGroupArn), ['arn:aws-cn:logs:cn-north-1:123456789012:log-group:/aws/sagemaker/Endpoints/cn']);
    } finally {
      clients.destroy();
      logs.destroy();
      await china.stop();
    }
  });

  test('CreateEndpoint: names are case-insensitive ("Iris" exists, so "iris" is an already existing endpoint)', async () => {
    await sm.send(new CreateEndpointCommand({ EndpointName: 'Conf-Case', EndpointConfigName: 'conf-config' }));
    await assert.rejects(
      sm.send(new CreateEndpointCommand({ EndpointName: 'conf-case', EndpointConfigName: 'conf-config' })),
      (err: Error) => err.name === 'ValidationException' && err.message === `Cannot create already existing endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/conf-case".`,
    );
    const listed = await sm.send(new ListEndpointsCommand({ NameContains: 'conf-case' }));
    assert.deepEqual(listed.Endpoints?.map((e) => e.EndpointName), ['Conf-Case']);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'Conf-Case' }));
  });

  test('CreateModel and CreateEndpointConfig: names differing only in case share one ARN, so the second is an already existing resource', async () => {
    const { ModelArn } = await sm.send(new CreateModelCommand({ ModelName: 'Conf-Model-Case', PrimaryContainer: { ModelDataUrl: dir } }));
    assert.equal(ModelArn, 'arn:aws:sagemaker:us-east-1:000000000000:model/conf-model-case');
    await assert.rejects(
      sm.send(new CreateModelCommand({ ModelName: 'conf-model-case', PrimaryContainer: { ModelDataUrl: dir } })),
      (err: Error) => err.name === 'ValidationException' && err.message === `Cannot create already existing model "${ModelArn}".`,
    );
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'Conf-Model-Case', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    const { EndpointConfigArn } = await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'Conf-Config-Case', ProductionVariants: variants }));
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'CONF-CONFIG-CASE', ProductionVariants: variants })),
      (err: Error) => err.name === 'ValidationException' && err.message === `Cannot create already existing endpoint configuration "${EndpointConfigArn}".`,
    );
  });

  test('CreateModel: MultiModelConfig.ModelCacheSetting is Enabled or Disabled (ModelCacheSetting enum); DescribeModel echoes it', async () => {
    await assert.rejects(
      sm.send(new CreateModelCommand({ ModelName: 'conf-mme-bad', PrimaryContainer: { ModelDataUrl: dir, Mode: 'MultiModel', MultiModelConfig: { ModelCacheSetting: 'Off' as 'Disabled' } } })),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message === "1 validation error detected: Value 'Off' at 'primaryContainer.multiModelConfig.modelCacheSetting' failed to satisfy constraint: Member must satisfy enum value set: [Enabled, Disabled]",
    );
    await sm.send(new CreateModelCommand({ ModelName: 'conf-mme', PrimaryContainer: { ModelDataUrl: dir, Mode: 'MultiModel', MultiModelConfig: { ModelCacheSetting: 'Disabled' } } }));
    const { PrimaryContainer } = await sm.send(new DescribeModelCommand({ ModelName: 'conf-mme' }));
    assert.deepEqual(PrimaryContainer?.MultiModelConfig, { ModelCacheSetting: 'Disabled' });

    // Disabled is honoured: each invocation's model is unloaded after it (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-caching.html).
    await mkdir(join(dir, 'mme-a'), { recursive: true });
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-mme', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-mme', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-mme', EndpointConfigName: 'conf-mme' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-mme' });
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    const calls = () => backend.requests.filter((r) => r.id.startsWith('conf-mme/')).map((r) => r.call.replace(/m-[0-9a-f]{16}/, 'm-…'));
    for (let i = 1; i <= 2; i++) {
      await runtime.send(new InvokeEndpointCommand({ EndpointName: 'conf-mme', TargetModel: 'mme-a', Body: Buffer.from('{}') }));
      await until('the model unloaded after its invocation', () => calls().length === 3 * i, { timeoutMs: 30_000, intervalMs: 100 });
    }
    runtime.destroy();
    assert.deepEqual(calls(), ['POST /models', 'POST /models/m-…/invoke', 'DELETE /models/m-…', 'POST /models', 'POST /models/m-…/invoke', 'DELETE /models/m-…']);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-mme' }));
  });

  test('a multi-model endpoint of 2 instances sends each TargetModel to the instance that has it loaded (while that one is not busier), so each model is loaded once', async () => {
    await mkdir(join(dir, 'mme-a'), { recursive: true });
    await mkdir(join(dir, 'mme-b'), { recursive: true });
    await sm.send(new CreateModelCommand({ ModelName: 'conf-mme2', PrimaryContainer: { ModelDataUrl: dir, Mode: 'MultiModel' } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-mme2', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-mme2', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-mme2', EndpointConfigName: 'conf-mme2' }));
    await until('conf-mme2 in service', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-mme2' }))).EndpointStatus === 'InService', { intervalMs: 100 });
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    try {
      for (const target of ['mme-a', 'mme-a', 'mme-b', 'mme-b', 'mme-a']) await runtime.send(new InvokeEndpointCommand({ EndpointName: 'conf-mme2', TargetModel: target, Body: Buffer.from('{}') }));
    } finally {
      runtime.destroy();
    }
    const calls = backend.requests.filter((r) => r.id.startsWith('conf-mme2/'));
    const loads = calls.filter((r) => r.call === 'POST /models');
    assert.equal(loads.length, 2, `each model is loaded once: ${JSON.stringify(calls)}`);
    const invokes = calls.filter((r) => r.call.endsWith('/invoke'));
    // Each model's invocations all went to the one instance that loaded it.
    const byModel = new Map<string, Set<string>>();
    for (const r of invokes) byModel.set(r.call, (byModel.get(r.call) ?? new Set()).add(r.id));
    assert.equal(byModel.size, 2);
    for (const ids of byModel.values()) assert.equal(ids.size, 1);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-mme2' }));
  });

  test('Tags: Create* record them; AddTags adds and overwrites, DeleteTags removes, ListTags lists; aws: keys are refused; a deleted resource has none', async () => {
    const { ModelArn } = await sm.send(new CreateModelCommand({ ModelName: 'conf-tagged', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir }, Tags: [{ Key: 'team', Value: 'ml' }, { Key: 'stage', Value: 'dev' }] }));
    const tagsOf = async (arn: string) => (await sm.send(new ListTagsCommand({ ResourceArn: arn }))).Tags;
    assert.deepEqual(await tagsOf(ModelArn!), [{ Key: 'team', Value: 'ml' }, { Key: 'stage', Value: 'dev' }]);
    await sm.send(new AddTagsCommand({ ResourceArn: ModelArn, Tags: [{ Key: 'stage', Value: 'prod' }, { Key: 'owner', Value: 'a@b' }] }));
    await sm.send(new DeleteTagsCommand({ ResourceArn: ModelArn, TagKeys: ['team', 'not-there'] }));
    assert.deepEqual(await tagsOf(ModelArn!), [{ Key: 'stage', Value: 'prod' }, { Key: 'owner', Value: 'a@b' }]);
    // One page holds a resource's tags (at most 50; MaxResults at least 50): no NextToken, and one ListTags did not give is refused.
    const page = await sm.send(new ListTagsCommand({ ResourceArn: ModelArn, MaxResults: 50 }));
    assert.deepEqual([page.Tags?.length, page.NextToken], [2, undefined]);
    const { NextToken: modelsToken } = await sm.send(new ListModelsCommand({ MaxResults: 1 }));
    assert.ok(modelsToken, 'ListModels gives a token to pass');
    for (const NextToken of [modelsToken, 'not-a-token']) {
      await assert.rejects(
        sm.send(new ListTagsCommand({ ResourceArn: ModelArn, NextToken })),
        (err: Error) => err.name === 'ValidationException' && err.message === 'Invalid pagination token: ListTags answers every tag of a resource in one page and gives no NextToken; call it without one.',
      );
    }
    await assert.rejects(
      sm.send(new AddTagsCommand({ ResourceArn: ModelArn, Tags: [{ Key: 'aws:cloudformation:stack-name', Value: 's' }] })),
      (err: Error) => err.name === 'ValidationException' && err.message === "System prefix 'aws:' reserved for AWS usage in tag key: aws:cloudformation:stack-name",
    );
    // A key given twice in one request is refused (SageMaker's tags hold one value per key), changing nothing.
    const duplicate = (err: Error) => err.name === 'ValidationException' && err.message === 'Duplicate tag key: stage is given more than once; give each key once.';
    await assert.rejects(sm.send(new AddTagsCommand({ ResourceArn: ModelArn, Tags: [{ Key: 'stage', Value: 'a' }, { Key: 'x', Value: '' }, { Key: 'stage', Value: 'b' }] })), duplicate);
    assert.deepEqual(await tagsOf(ModelArn!), [{ Key: 'stage', Value: 'prod' }, { Key: 'owner', Value: 'a@b' }]);
    // A Create* refused for its tags creates nothing.
    await assert.rejects(sm.send(new CreateModelCommand({ ModelName: 'conf-refused', PrimaryContainer: { ModelDataUrl: dir }, Tags: [{ Key: 'aws:x', Value: '' }] })), (err: Error) => err.name === 'ValidationException');
    await assert.rejects(sm.send(new CreateModelCommand({ ModelName: 'conf-refused', PrimaryContainer: { ModelDataUrl: dir }, Tags: [{ Key: 'stage', Value: '1' }, { Key: 'stage', Value: '2' }] })), duplicate);
    await assert.rejects(sm.send(new DescribeModelCommand({ ModelName: 'conf-refused' })), (err: Error) => err.name === 'ValidationException');

    const { EndpointArn } = await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-tagged', EndpointConfigName: 'conf-config', Tags: [{ Key: 'app', Value: 'iris' }] }));
    assert.deepEqual(await tagsOf(EndpointArn!), [{ Key: 'app', Value: 'iris' }]);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-tagged' }));
    await sm.send(new DeleteModelCommand({ ModelName: 'conf-tagged' }));
    // The service's words for an ARN that names nothing, to each tag operation (aws/sagemaker-python-sdk#4304, boto/boto3#4606).
    const missing = (err: Error) => err.name === 'ValidationException' && err.message === 'Resource does not exist.';
    await assert.rejects(sm.send(new ListTagsCommand({ ResourceArn: ModelArn })), missing);
    await assert.rejects(sm.send(new AddTagsCommand({ ResourceArn: ModelArn, Tags: [{ Key: 'k', Value: 'v' }] })), missing);
    await assert.rejects(sm.send(new DeleteTagsCommand({ ResourceArn: ModelArn, TagKeys: ['k'] })), missing);
    await assert.rejects(sm.send(new ListTagsCommand({ ResourceArn: 'not-an-arn' })), (err: Error) => err.name === 'ValidationException' && /at 'resourceArn' failed to satisfy constraint/.test(err.message));
  });

  test('Tags of an endpoint stay while it is Deleting and go once it is gone: an endpoint created again under its name has only its own Tags', async () => {
    // A held invocation keeps the endpoint Deleting (its instance drains) until the test lets it answer.
    await sm.send(new CreateModelCommand({ ModelName: 'conf-retag', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_HOLD: 'true' } } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-retag', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-retag', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    const { EndpointArn } = await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-retag', EndpointConfigName: 'conf-retag', Tags: [{ Key: 'old', Value: '1' }] }));
    await until('conf-retag InService', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-retag' }))).EndpointStatus === 'InService', { intervalMs: 100 });
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    const tagsOf = async () => (await sm.send(new ListTagsCommand({ ResourceArn: EndpointArn }))).Tags;
    try {
      const held = runtime.send(new InvokeEndpointCommand({ EndpointName: 'conf-retag', Body: Buffer.from('{}') }));
      await until('the invocation is held', () => backend.invocations.some((i) => i.id.startsWith('conf-retag/')), { intervalMs: 100 });
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-retag' }));
      assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-retag' }))).EndpointStatus, 'Deleting');
      assert.deepEqual(await tagsOf(), [{ Key: 'old', Value: '1' }]);
      await sm.send(new AddTagsCommand({ ResourceArn: EndpointArn, Tags: [{ Key: 'late', Value: '2' }] }));
      backend.release();
      await held;
    } finally {
      runtime.destroy();
    }
    await until('conf-retag gone', () => sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-retag' })).then(() => false, () => true), { intervalMs: 100 });
    await assert.rejects(tagsOf(), (err: Error) => err.name === 'ValidationException');
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-retag', EndpointConfigName: 'conf-retag', Tags: [{ Key: 'new', Value: '3' }] }));
    assert.deepEqual(await tagsOf(), [{ Key: 'new', Value: '3' }]);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-retag' }));
  });

  test('UpdateEndpoint: a RollingUpdatePolicy MaximumBatchSize must be 5% to 50% of the new fleet (RollingUpdatePolicy reference); the endpoint stays InService on its config', async () => {
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' as const }];
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-config-two', ProductionVariants: variants }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-rolling', EndpointConfigName: 'conf-config' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-rolling' });
    const rolling = (Type: 'INSTANCE_COUNT' | 'CAPACITY_PERCENT', Value: number) => ({ RollingUpdatePolicy: { MaximumBatchSize: { Type, Value }, WaitIntervalInSeconds: 0 } });
    for (const [type, value] of [['CAPACITY_PERCENT', 100], ['CAPACITY_PERCENT', 4], ['INSTANCE_COUNT', 2]] as const) {
      await assert.rejects(
        sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-rolling', EndpointConfigName: 'conf-config-two', DeploymentConfig: rolling(type, value) })),
        (err: Error) => err.name === 'ValidationException' && err.message === `RollingUpdatePolicy MaximumBatchSize (${value} ${type}) must be between 5% and 50% of the new fleet's capacity (2 instances).`,
      );
    }
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-rolling' }));
    assert.equal(d.EndpointStatus, 'InService');
    assert.equal(d.EndpointConfigName, 'conf-config');
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-rolling', EndpointConfigName: 'conf-config-two', DeploymentConfig: rolling('INSTANCE_COUNT', 1) }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-rolling' });
    assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-rolling' }))).EndpointConfigName, 'conf-config-two');
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-rolling' }));
  });

  test('UpdateEndpoint needs the endpoint configuration the endpoint runs: once it is deleted (which DeleteEndpointConfig allows), the update is refused naming it, and the endpoint serves on', async () => {
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    for (const name of ['conf-running', 'conf-next']) await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: variants }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-orphan', EndpointConfigName: 'conf-running' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-orphan' });
    await sm.send(new DeleteEndpointConfigCommand({ EndpointConfigName: 'conf-running' }));
    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-orphan', EndpointConfigName: 'conf-next' })),
      (err: Error) => err.name === 'ValidationException' && err.message === `Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/conf-running".`,
    );
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-orphan' }));
    assert.deepEqual([d.EndpointStatus, d.EndpointConfigName, d.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', 'conf-running', 1]);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-orphan' }));
  });

  test('DeleteModel and DeleteEndpointConfig of what an InService endpoint runs are taken (as on AWS); the endpoint answers invocations and scales out with UpdateEndpointWeightsAndCapacities after', async () => {
    await sm.send(new CreateModelCommand({ ModelName: 'conf-gone-model', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-gone', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-gone-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-gone', EndpointConfigName: 'conf-gone' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-gone' });
    await sm.send(new DeleteModelCommand({ ModelName: 'conf-gone-model' }));
    await sm.send(new DeleteEndpointConfigCommand({ EndpointConfigName: 'conf-gone' }));
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    try {
      const invoke = async () => (await runtime.send(new InvokeEndpointCommand({ EndpointName: 'conf-gone', Body: Buffer.from('[1]'), ContentType: 'application/json' }))).InvokedProductionVariant;
      assert.equal(await invoke(), 'AllTraffic');
      await sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: 'conf-gone', DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: 2 }] }));
      await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-gone' });
      const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-gone' }));
      assert.deepEqual([d.EndpointStatus, d.FailureReason, d.ProductionVariants?.[0]?.CurrentInstanceCount], ['InService', undefined, 2]);
      assert.equal(await invoke(), 'AllTraffic');
    } finally {
      runtime.destroy();
    }
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-gone' }));
  });

  test('UpdateEndpoint with several production variants: an INSTANCE_COUNT linear step inside 10%-50% of each variant\'s instance count is taken though it is under 10% of the whole new fleet (as smkit deploy passes it on); one outside both is refused', async () => {
    const variants = (a: number, b: number) => [
      { VariantName: 'A', ModelName: 'conf-model', InitialInstanceCount: a, InstanceType: 'ml.m5.large' as const },
      { VariantName: 'B', ModelName: 'conf-model', InitialInstanceCount: b, InstanceType: 'ml.m5.large' as const },
    ];
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-ab-small', ProductionVariants: variants(1, 1) }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-ab-large', ProductionVariants: variants(6, 5) }));
    // 13 instances at the update, of the 16 the local limit allows: the endpoints earlier tests deleted must be gone first.
    await until('the endpoints of earlier tests gone', async () => ((await sm.send(new ListEndpointsCommand({}))).Endpoints?.length === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-ab', EndpointConfigName: 'conf-ab-small' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-ab' });
    const linear = (Value: number) => ({ BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'LINEAR' as const, LinearStepSize: { Type: 'INSTANCE_COUNT' as const, Value }, WaitIntervalInSeconds: 0 } } });
    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-ab', EndpointConfigName: 'conf-ab-large', DeploymentConfig: linear(6) })),
      (err: Error) => err.name === 'ValidationException' && err.message === "LinearStepSize (6 INSTANCE_COUNT) must be between 10% and 50% of the new fleet's capacity (11 instances), or of each production variant's instance count (6, 5).",
    );
    // 1 instance: 9% of the 11, 17% and 20% of the variants.
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-ab', EndpointConfigName: 'conf-ab-large', DeploymentConfig: linear(1) }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-ab' });
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-ab' }));
    assert.deepEqual([d.EndpointConfigName, d.FailureReason, d.ProductionVariants?.map((v) => v.CurrentInstanceCount)], ['conf-ab-large', undefined, [6, 5]]);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-ab' }));
  });

  test('UpdateEndpoint naming the endpoint configuration the endpoint already runs is refused ("To update an endpoint, you must create a new EndpointConfig"), also with RetainAllVariantProperties; the endpoint stays InService on it', async () => {
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-same', ProductionVariants: variants }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-same', EndpointConfigName: 'conf-same' }));
    await waitUntilEndpointInService({ client: sm, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { EndpointName: 'conf-same' });
    const started = backend.started.length;
    for (const extra of [{}, { RetainAllVariantProperties: true }]) {
      await assert.rejects(
        sm.send(new UpdateEndpointCommand({ EndpointName: 'conf-same', EndpointConfigName: 'conf-same', ...extra })),
        (err: Error) =>
          err.name === 'ValidationException' &&
          err.message === 'Cannot update endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/conf-same" to endpoint configuration "conf-same": the endpoint already runs it. To update an endpoint, create a new endpoint configuration (CreateEndpointConfig) and name that one.',
      );
    }
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-same' }));
    assert.deepEqual([d.EndpointStatus, d.EndpointConfigName, d.PendingDeploymentSummary], ['InService', 'conf-same', undefined]);
    assert.equal(backend.started.length, started, 'no new fleet was started');
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-same' }));
  });

  test('UpdateEndpointWeightsAndCapacities: ServerlessUpdateConfig changes a serverless variant\'s MaxConcurrency and ProvisionedConcurrency in place', async () => {
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-model', ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 1 } }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-sl', EndpointConfigName: 'conf-sl' }));
    const inService = (EndpointName: string) => until(`${EndpointName} InService`, async () => (await sm.send(new DescribeEndpointCommand({ EndpointName }))).EndpointStatus === 'InService', { intervalMs: 100 });
    await inService('conf-sl');
    const update = (VariantName: string, ServerlessUpdateConfig: { MaxConcurrency?: number; ProvisionedConcurrency?: number }, EndpointName = 'conf-sl') =>
      sm.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName, DesiredWeightsAndCapacities: [{ VariantName, ServerlessUpdateConfig }] }));
    const refused = (message: string) => (err: Error) => err.name === 'ValidationException' && err.message === message;
    await assert.rejects(update('AllTraffic', { MaxConcurrency: 201 }), refused("1 validation error detected: Value '201' at 'desiredWeightsAndCapacities.1.member.serverlessUpdateConfig.maxConcurrency' failed to satisfy constraint: Member must have value less than or equal to 200"));
    await assert.rejects(update('AllTraffic', { ProvisionedConcurrency: 2 }), refused('ProvisionedConcurrency (2) of variant "AllTraffic" must be less than or equal to MaxConcurrency (1).'));
    await assert.rejects(update('AllTraffic', {}), refused('ServerlessUpdateConfig of variant "AllTraffic" changes nothing: specify MaxConcurrency, ProvisionedConcurrency or both.'));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-inst', EndpointConfigName: 'conf-config' }));
    await inService('conf-inst');
    await assert.rejects(
      update('AllTraffic', { MaxConcurrency: 2 }, 'conf-inst'),
      refused('Variant "AllTraffic" is not serverless: ServerlessUpdateConfig changes a serverless variant\'s concurrency. Change an instance-based variant\'s capacity with DesiredInstanceCount.'),
    );
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-inst' }));

    const started = backend.started.length;
    await update('AllTraffic', { MaxConcurrency: 3, ProvisionedConcurrency: 2 });
    await inService('conf-sl');
    const [variant] = (await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-sl' }))).ProductionVariants!;
    const expected = { MemorySizeInMB: 2048, MaxConcurrency: 3, ProvisionedConcurrency: 2 };
    assert.deepEqual(variant!.CurrentServerlessConfig, expected);
    assert.deepEqual(variant!.DesiredServerlessConfig, expected);
    assert.equal(backend.started.length, started + 2, 'the two provisioned instances are warm');
    const { ProductionVariants } = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-sl' }));
    assert.deepEqual(ProductionVariants![0]!.ServerlessConfig, { MemorySizeInMB: 2048, MaxConcurrency: 1 }, 'the endpoint configuration is unchanged');
    // Three invocations in flight now fit; a fourth is throttled at the new MaxConcurrency.
    const pool = local.lifecycle.routable('conf-sl')!.serving!.variants[0]!.serverless!;
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    await assert.rejects(pool.acquire(), (err: Error) => err.name === 'ServerlessThrottlingError' && /MaxConcurrency of 3/.test(err.message));
    for (const lease of leases) lease.release();
    // While provisioned instances warm up, the variant's status says what it is changing to.
    backend.readyAfterMs = 60_000;
    const running = new Set(backend.runningIds);
    try {
      await update('AllTraffic', { MaxConcurrency: 4, ProvisionedConcurrency: 4 });
      const updating = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-sl' }));
      assert.equal(updating.EndpointStatus, 'Updating');
      assert.equal(updating.ProductionVariants![0]!.VariantStatus?.[0]?.StatusMessage, 'Changing to weight 1, MaxConcurrency 4 and ProvisionedConcurrency 4.');
      assert.deepEqual(updating.ProductionVariants![0]!.CurrentServerlessConfig, expected);
      assert.deepEqual(updating.ProductionVariants![0]!.DesiredServerlessConfig, { MemorySizeInMB: 2048, MaxConcurrency: 4, ProvisionedConcurrency: 4 });
      const warming = await until('the new instance started', () => backend.runningIds.find((id) => !running.has(id)), { intervalMs: 100 });
      backend.crash(warming);
      await until('the update ended', async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-sl' }))).EndpointStatus === 'InService', { intervalMs: 100 });
    } finally {
      backend.readyAfterMs = undefined;
    }
    // Provisioned instances that cannot start leave the variant as it was, with a FailureReason.
    backend.failStarts = true;
    try {
      await update('AllTraffic', { MaxConcurrency: 5, ProvisionedConcurrency: 5 });
      const failed = await until('the failed update settled', async () => {
        const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-sl' }));
        return d.EndpointStatus === 'InService' && d.FailureReason !== undefined ? d : undefined;
      }, { intervalMs: 100 });
      assert.match(failed.FailureReason!, /variant AllTraffic could not warm 5 provisioned instance\(s\)/);
      assert.deepEqual(failed.ProductionVariants![0]!.CurrentServerlessConfig, expected);
      assert.deepEqual(failed.ProductionVariants![0]!.DesiredServerlessConfig, expected);
    } finally {
      backend.failStarts = false;
    }
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-sl' }));
  });

  test('VpcConfig: CreateModel and CreateEndpointConfig check it as the service model states and Describe* echo it (with the config\'s EnableNetworkIsolation); a serverless variant refuses it', async () => {
    const VpcConfig = { SecurityGroupIds: ['sg-0123abcd'], Subnets: ['subnet-0a1b', 'subnet-2c3d'] };
    await sm.send(new CreateModelCommand({ ModelName: 'conf-vpc', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir }, VpcConfig }));
    assert.deepEqual((await sm.send(new DescribeModelCommand({ ModelName: 'conf-vpc' }))).VpcConfig, VpcConfig);
    await assert.rejects(
      sm.send(new CreateModelCommand({ ModelName: 'conf-vpc-bad', PrimaryContainer: { ModelDataUrl: dir }, VpcConfig: { SecurityGroupIds: [], Subnets: ['subnet_1'] } })),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message ===
          "2 validation errors detected: Value '[]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'subnet_1' at 'vpcConfig.subnets.1.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [-0-9a-zA-Z]+",
    );
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-vpc', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }], VpcConfig, EnableNetworkIsolation: false }));
    const described = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-vpc' }));
    assert.deepEqual([described.VpcConfig, described.EnableNetworkIsolation], [VpcConfig, false]);

    const serverless = (ModelName: string) => [{ VariantName: 'AllTraffic', ModelName, ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 1 } }];
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-vpc-sl', ProductionVariants: serverless('conf-model'), VpcConfig })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'Variant "AllTraffic" is serverless: VPC configuration (VpcConfig) is not supported for serverless endpoints.',
    );
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-vpc-sl', ProductionVariants: serverless('conf-vpc') })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'Variant "AllTraffic" is serverless: model "conf-vpc" has a VpcConfig, which serverless endpoints do not support.',
    );
  });

  test('MetricsConfig: CreateEndpointConfig records it, DescribeEndpointConfig and DescribeEndpoint echo it; a MetricPublishFrequencyInSeconds outside the valid values is a ValidationException', async () => {
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-metrics-bad', ProductionVariants: variants, MetricsConfig: { MetricPublishFrequencyInSeconds: 45 as 60 } })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'MetricsConfig.MetricPublishFrequencyInSeconds 45 is not valid: use one of 10, 30, 60, 120, 180, 240, 300.',
    );
    const MetricsConfig = { EnableEnhancedMetrics: true, MetricPublishFrequencyInSeconds: 10 };
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-metrics', ProductionVariants: variants, MetricsConfig }));
    assert.deepEqual((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-metrics' }))).MetricsConfig, MetricsConfig);
    await sm.send(new CreateEndpointCommand({ EndpointName: 'conf-metrics', EndpointConfigName: 'conf-metrics' }));
    try {
      assert.deepEqual((await sm.send(new DescribeEndpointCommand({ EndpointName: 'conf-metrics' }))).MetricsConfig, MetricsConfig);
    } finally {
      await sm.send(new DeleteEndpointCommand({ EndpointName: 'conf-metrics' }));
    }
    assert.equal((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-vpc' }))).MetricsConfig, undefined, 'none given, none described');
  });

  test('ExplainerConfig: CreateEndpointConfig refuses it (no Clarify explainer runs locally, so the endpoint would answer in another form than on AWS) rather than dropping it', async () => {
    const variants = [{ VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-explainer', ProductionVariants: variants, ExplainerConfig: { ClarifyExplainerConfig: { ShapConfig: { ShapBaselineConfig: { ShapBaseline: '0,0,0,0' } } } } })),
      (err: Error) => err.name === 'ValidationException' && /^ExplainerConfig is not supported by the local SageMaker.*leave it unset/.test(err.message),
    );
    await assert.rejects(sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-explainer' })), (err: Error) => err.name === 'ValidationException', 'not recorded');
  });

  test('CreateEndpointConfig: a production variant\'s timeouts, volume size, RoutingConfig and ManagedInstanceScaling are checked as the service model states them, and a variant that names a model takes no ManagedInstanceScaling ENABLED; DescribeEndpointConfig echoes them', async () => {
    const variant = { VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const };
    await assert.rejects(
      sm.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: 'conf-variant-bad',
          ProductionVariants: [{ ...variant, VolumeSizeInGB: 0, ContainerStartupHealthCheckTimeoutInSeconds: 30, RoutingConfig: { RoutingStrategy: 'ROUND_ROBIN' as 'RANDOM' }, ManagedInstanceScaling: { ScaleInPolicy: { Strategy: 'IDLE_RELEASE', CooldownInMinutes: 1 } } }],
        }),
      ),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message ===
          "4 validation errors detected: Value '0' at 'productionVariants.1.member.volumeSizeInGB' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
            "Value '30' at 'productionVariants.1.member.containerStartupHealthCheckTimeoutInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60; " +
            "Value 'ROUND_ROBIN' at 'productionVariants.1.member.routingConfig.routingStrategy' failed to satisfy constraint: Member must satisfy enum value set: [LEAST_OUTSTANDING_REQUESTS, RANDOM, PREFIX_AWARE]; " +
            "Value '1' at 'productionVariants.1.member.managedInstanceScaling.scaleInPolicy.cooldownInMinutes' failed to satisfy constraint: Member must have value greater than or equal to 5",
    );
    // Valid in shape, but a variant that names a model does not scale by ManagedInstanceScaling: Status ENABLED is
    // the service's refusal (terraform-provider-aws#45926, 2026), for a shadow variant too; DISABLED is taken.
    const enabled = { Status: 'ENABLED' as const, MinInstanceCount: 1, MaxInstanceCount: 2 };
    for (const config of [{ ProductionVariants: [{ ...variant, ManagedInstanceScaling: enabled }] }, { ProductionVariants: [variant], ShadowProductionVariants: [{ ...variant, VariantName: 'Shadow', ManagedInstanceScaling: enabled }] }]) {
      await assert.rejects(
        sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-variant-scaling', ...config })),
        (err: Error) => err.name === 'ValidationException' && err.message === 'ManagedInstanceScaling is only supported for inference component endpoints.',
      );
    }
    // An asynchronous endpoint's is worded otherwise (DIAGNijmegen/rse-grand-challenge#4659, 2026).
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-variant-scaling', ProductionVariants: [{ ...variant, ManagedInstanceScaling: enabled }], AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://bucket/out' } } })),
      (err: Error) => err.name === 'ValidationException' && err.message === 'ManagedInstanceScaling is not supported with the given EndpointConfig setup.',
    );
    await assert.rejects(sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-variant-scaling' })), /Could not find endpoint configuration/);
    const disabled = { ...variant, ManagedInstanceScaling: { Status: 'DISABLED' as const, MinInstanceCount: 1, MaxInstanceCount: 2 } };
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-variant-scaling', ProductionVariants: [disabled] }));
    assert.deepEqual((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-variant-scaling' }))).ProductionVariants, [{ ...disabled, InitialVariantWeight: 1 }]);
    const good = { ...variant, VolumeSizeInGB: 30, ModelDataDownloadTimeoutInSeconds: 600, ContainerStartupHealthCheckTimeoutInSeconds: 600, RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' as const } };
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-variant-good', ProductionVariants: [good] }));
    const { ProductionVariants } = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-variant-good' }));
    assert.deepEqual(ProductionVariants, [{ ...good, InitialVariantWeight: 1 }]);
  });

  test('CreateEndpointConfig: production variants that all weigh 0 are refused, as UpdateEndpointWeightsAndCapacities refuses setting them all to 0; one weight above 0 (or a default 1) is taken', async () => {
    const variant = (VariantName: string, InitialVariantWeight?: number) => ({ VariantName, ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const, ...(InitialVariantWeight === undefined ? {} : { InitialVariantWeight }) });
    for (const [name, variants] of [['conf-zero-one', [variant('A', 0)]], ['conf-zero-two', [variant('A', 0), variant('B', 0)]]] as const) {
      await assert.rejects(sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [...variants] })), {
        name: 'ValidationException',
        message: /^Every production variant has an InitialVariantWeight of 0.*give at least one production variant a weight above 0\.$/,
      });
      await assert.rejects(sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: name })), { name: 'ValidationException', message: /Could not find endpoint configuration/ });
    }
    // A shadow variant takes no share of the traffic, so its weight does not count.
    await assert.rejects(sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-zero-shadow', ProductionVariants: [variant('A', 0)], ShadowProductionVariants: [variant('S', 1)] })), { name: 'ValidationException', message: /^Every production variant/ });
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-zero-some', ProductionVariants: [variant('A', 0), variant('B')] }));
    assert.deepEqual((await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-zero-some' }))).ProductionVariants!.map((v) => v.InitialVariantWeight), [0, 1]);
  });

  test('CreateEndpointConfig: a variant\'s InferenceAmiVersion, InstancePools and CapacityReservationConfig are checked as the service model states them, a pool\'s ModelNameOverride must name a model, and DescribeEndpointConfig echoes them', async () => {
    const variant = { VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const };
    const create = (name: string, extra: object) => sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ ...variant, ...extra } as typeof variant] }));
    await assert.rejects(
      create('conf-members-bad', {
        InferenceAmiVersion: 'al2-ami-sagemaker-inference-gpu-9',
        InstancePools: [{ InstanceType: 'ml.g5.xlarge', Priority: 0 }, { Priority: 2 }],
        CapacityReservationConfig: { CapacityReservationPreference: 'capacity-reservations-first', MlReservationArn: 'arn:nope' },
      }),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message ===
          "6 validation errors detected: Value 'al2-ami-sagemaker-inference-gpu-9' at 'productionVariants.1.member.inferenceAmiVersion' failed to satisfy constraint: Member must satisfy enum value set: [al2-ami-sagemaker-inference-gpu-2, al2-ami-sagemaker-inference-gpu-2-1, al2-ami-sagemaker-inference-gpu-3-1, al2-ami-sagemaker-inference-neuron-2, al2023-ami-sagemaker-inference-gpu-4-1]; " +
            "Value '0' at 'productionVariants.1.member.instancePools.1.member.priority' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
            "Value null at 'productionVariants.1.member.instancePools.2.member.instanceType' failed to satisfy constraint: Member must not be null; " +
            "Value 'capacity-reservations-first' at 'productionVariants.1.member.capacityReservationConfig.capacityReservationPreference' failed to satisfy constraint: Member must satisfy enum value set: [capacity-reservations-only]; " +
            "Value 'arn:nope' at 'productionVariants.1.member.capacityReservationConfig.mlReservationArn' failed to satisfy constraint: Member must have length greater than or equal to 20; " +
            "Value 'arn:nope' at 'productionVariants.1.member.capacityReservationConfig.mlReservationArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:[a-z0-9\\-]{1,14}/.*",
    );
    await assert.rejects(create('conf-members-pools', { InstancePools: Array.from({ length: 6 }, (_, i) => ({ InstanceType: 'ml.m5.large', Priority: (i % 5) + 1 })) }), { name: 'ValidationException', message: /instancePools' failed to satisfy constraint: Member must have length less than or equal to 5/ });
    await assert.rejects(create('conf-members-override', { InstancePools: [{ InstanceType: 'ml.g5.xlarge', Priority: 1, ModelNameOverride: 'no-such-model' }] }), { name: 'ValidationException', message: /Could not find model ".*model\/no-such-model"/ });
    const good = {
      ...variant,
      InferenceAmiVersion: 'al2-ami-sagemaker-inference-gpu-3-1',
      InstancePools: [{ InstanceType: 'ml.g5.xlarge', Priority: 1, ModelNameOverride: 'conf-model' }, { InstanceType: 'ml.g6.xlarge', Priority: 2 }],
      CapacityReservationConfig: { CapacityReservationPreference: 'capacity-reservations-only', MlReservationArn: 'arn:aws:sagemaker:us-east-1:111122223333:ml-reservation/abc' },
    };
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-members-good', ProductionVariants: [good as typeof variant] }));
    const { ProductionVariants } = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'conf-members-good' }));
    assert.deepEqual(ProductionVariants, [{ ...good, InitialVariantWeight: 1 }]);
    const names = (await sm.send(new ListEndpointConfigsCommand({ MaxResults: 100 }))).EndpointConfigs!.map((c) => c.EndpointConfigName);
    for (const refused of ['conf-members-bad', 'conf-members-pools', 'conf-members-override']) assert.ok(!names.includes(refused), refused);
  });

  test('CreateEndpointConfig: RoutingStrategy PREFIX_AWARE takes PrefixAwareRoutingConfig (PrefixLength 1024-65536, ConcurrencyThreshold 1-1024, both needed), which no other strategy takes; DescribeEndpointConfig echoes it', async () => {
    const variant = { VariantName: 'AllTraffic', ModelName: 'conf-model', InitialInstanceCount: 2, InstanceType: 'ml.m5.large' as const };
    const create = (name: string, RoutingConfig: object, shadow?: object) =>
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ ...variant, RoutingConfig } as typeof variant], ...(shadow ? { ShadowProductionVariants: [shadow as typeof variant] } : {}) }));
    const refused = async (name: string, RoutingConfig: object, message: string, shadow?: object) =>
      assert.rejects(create(name, RoutingConfig, shadow), (err: Error) => {
        assert.equal(err.name, 'ValidationException');
        assert.equal(err.message, message);
        return true;
      });
    await refused(
      'conf-prefix-range',
      { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 1023, ConcurrencyThreshold: 1025 } },
      "2 validation errors detected: Value '1023' at 'productionVariants.1.member.routingConfig.prefixAwareRoutingConfig.prefixLength' failed to satisfy constraint: Member must have value greater than or equal to 1024; " +
        "Value '1025' at 'productionVariants.1.member.routingConfig.prefixAwareRoutingConfig.concurrencyThreshold' failed to satisfy constraint: Member must have value less than or equal to 1024",
    );
    await refused(
      'conf-prefix-range-2',
      { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 65537, ConcurrencyThreshold: 0 } },
      "2 validation errors detected: Value '65537' at 'productionVariants.1.member.routingConfig.prefixAwareRoutingConfig.prefixLength' failed to satisfy constraint: Member must have value less than or equal to 65536; " +
        "Value '0' at 'productionVariants.1.member.routingConfig.prefixAwareRoutingConfig.concurrencyThreshold' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    await refused(
      'conf-prefix-none',
      { RoutingStrategy: 'PREFIX_AWARE' },
      'Variant "AllTraffic": RoutingStrategy PREFIX_AWARE needs RoutingConfig.PrefixAwareRoutingConfig with PrefixLength (1024 to 65536: the bytes from the start of the request body that choose the instance) and ConcurrencyThreshold (1 to 1024: the requests in flight on that instance at which another takes the request).',
    );
    await refused(
      'conf-prefix-no-threshold',
      { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 4096 } },
      'Variant "AllTraffic": RoutingStrategy PREFIX_AWARE needs RoutingConfig.PrefixAwareRoutingConfig with ConcurrencyThreshold (1 to 1024: the requests in flight on that instance at which another takes the request); add what is missing.',
    );
    await refused(
      'conf-prefix-no-length',
      { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { ConcurrencyThreshold: 4 } },
      'Variant "AllTraffic": RoutingStrategy PREFIX_AWARE needs RoutingConfig.PrefixAwareRoutingConfig with PrefixLength (1024 to 65536: the bytes from the start of the request body that choose the instance); add what is missing.',
    );
    await refused(
      'conf-prefix-random',
      { RoutingStrategy: 'RANDOM', PrefixAwareRoutingConfig: { PrefixLength: 4096, ConcurrencyThreshold: 4 } },
      'Variant "AllTraffic": RoutingConfig.PrefixAwareRoutingConfig applies only to RoutingStrategy PREFIX_AWARE, and the RoutingStrategy is RANDOM. Remove PrefixAwareRoutingConfig, or set RoutingStrategy to PREFIX_AWARE.',
    );
    // The shadow variant's RoutingConfig is checked as a production variant's is.
    await refused(
      'conf-prefix-shadow',
      { RoutingStrategy: 'RANDOM' },
      'Variant "Shadow": RoutingConfig.PrefixAwareRoutingConfig applies only to RoutingStrategy PREFIX_AWARE, and the RoutingStrategy is LEAST_OUTSTANDING_REQUESTS. Remove PrefixAwareRoutingConfig, or set RoutingStrategy to PREFIX_AWARE.',
      { ...variant, VariantName: 'Shadow', RoutingConfig: { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS', PrefixAwareRoutingConfig: { PrefixLength: 1024, ConcurrencyThreshold: 1 } } },
    );
    for (const [name, PrefixAwareRoutingConfig] of [['conf-prefix-low', { PrefixLength: 1024, ConcurrencyThreshold: 1 }], ['conf-prefix-high', { PrefixLength: 65536, ConcurrencyThreshold: 1024 }]] as const) {
      const RoutingConfig = { RoutingStrategy: 'PREFIX_AWARE' as const, PrefixAwareRoutingConfig };
      await create(name, RoutingConfig);
      const { ProductionVariants } = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: name }));
      assert.deepEqual(ProductionVariants, [{ ...variant, RoutingConfig, InitialVariantWeight: 1 }]);
    }
  });

  test('ContainerStartupHealthCheckTimeoutInSeconds is the variant\'s /ping deadline, in place of the local startup timeout', async () => {
    // A local SageMaker whose own startup timeout (100 ms) is shorter than the container takes to pass /ping (300 ms).
    const short = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 100, alarmsAndScaling: false, settings: {} });
    const client = new SageMakerClient(localClientConfig(short.url, { requestTimeoutMs: 30_000 }));
    try {
      await client.send(new CreateModelCommand({ ModelName: 'slow', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_READY_AFTER_MS: '300' } } }));
      const variant = { VariantName: 'AllTraffic', ModelName: 'slow', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const, ContainerStartupHealthCheckTimeoutInSeconds: 60 };
      await client.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'slow', ProductionVariants: [variant] }));
      await client.send(new CreateEndpointCommand({ EndpointName: 'slow', EndpointConfigName: 'slow' }));
      const settled = await until('slow settled', async () => {
        const d = await client.send(new DescribeEndpointCommand({ EndpointName: 'slow' }));
        return d.EndpointStatus === 'Creating' ? undefined : d;
      }, { intervalMs: 100 });
      assert.equal(settled.EndpointStatus, 'InService', settled.FailureReason);
    } finally {
      client.destroy();
      await short.stop();
    }
  });

  test('a multi-model endpoint on an s3:// prefix fetches a TargetModel put there after it started, on its first invocation, as the service does; one that is not there is a ValidationError naming the key', async () => {
    const s3 = await startLocalS3(['models']);
    const fake = new FakeBackend();
    const withS3 = await startLocalSageMaker({ port: 0, backendImpl: fake, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url } });
    const client = new SageMakerClient(localClientConfig(withS3.url, { requestTimeoutMs: 30_000 }));
    const runtime = new SageMakerRuntimeClient({ ...localClientConfig(withS3.url, { requestTimeoutMs: 30_000 }), maxAttempts: 1 });
    try {
      await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'mme/first.tar.gz', Body: craftTarGz([{ path: 'model.onnx', body: 'first' }]) }));
      await client.send(new CreateModelCommand({ ModelName: 'mme-s3', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://models/mme/', Mode: 'MultiModel' } }));
      await client.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'mme-s3', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'mme-s3', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      await client.send(new CreateEndpointCommand({ EndpointName: 'mme-s3', EndpointConfigName: 'mme-s3' }));
      await until('mme-s3 in service', async () => (await client.send(new DescribeEndpointCommand({ EndpointName: 'mme-s3' }))).EndpointStatus === 'InService', { intervalMs: 100 });
      await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'mme/v2/late.tar.gz', Body: craftTarGz([{ path: 'model.onnx', body: 'late' }]) }));
      const invoke = (TargetModel: string) => runtime.send(new InvokeEndpointCommand({ EndpointName: 'mme-s3', TargetModel, Body: Buffer.from('{}') }));
      const s3Dir = join(withS3.workDir, 'model-data', 's3');
      const cached = async () => (await readdir(s3Dir, { recursive: true })).filter((f) => f.endsWith('.tar.gz')).sort();
      assert.deepEqual(await cached(), [], 'CreateEndpoint downloads no model: each is fetched on first use');
      const late = await invoke('v2/late.tar.gz');
      assert.equal(late.$metadata.httpStatusCode, 200);
      const loaded = fake.requests.filter((r) => r.id.startsWith('mme-s3/') && r.call === 'POST /models');
      assert.equal(loaded.length, 1);
      assert.equal((await invoke('first.tar.gz')).$metadata.httpStatusCode, 200);
      await assert.rejects(invoke('absent.tar.gz'), (err: Error) => err.name === 'ValidationError' && err.message === 'Failed to download model data for TargetModel absent.tar.gz: there is no s3://models/mme/absent.tar.gz.');
      // The folder stored for v2/late.tar.gz is not a model v2: S3 has no object mme/v2.
      await assert.rejects(invoke('v2'), (err: Error) => err.name === 'ValidationError' && err.message === 'Failed to download model data for TargetModel v2: there is no s3://models/mme/v2.');
      // Objects that cannot both be stored under their keys: each way round, both named.
      const clash = (TargetModel: string, file: string, folder: string) =>
        assert.rejects(invoke(TargetModel), (err: Error) => {
          assert.equal(err.name, 'ValidationError');
          assert.equal(
            err.message,
            `Failed to download model data for TargetModel ${TargetModel}: the objects s3://models/mme/${file} and s3://models/mme/${folder} cannot both be models of this endpoint in the local SageMaker, which stores each TargetModel's object under its key after the prefix: ${file} would be a file where ${folder} needs a folder. Rename one of them.`,
          );
          return true;
        });
      await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'mme/v2', Body: craftTarGz([{ path: 'model.onnx', body: 'v2' }]) }));
      await clash('v2', 'v2', 'v2/late.tar.gz');
      await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: 'mme/first.tar.gz/inner.tar.gz', Body: craftTarGz([{ path: 'model.onnx', body: 'inner' }]) }));
      await clash('first.tar.gz/inner.tar.gz', 'first.tar.gz', 'first.tar.gz/inner.tar.gz');
      assert.equal(fake.requests.filter((r) => r.id.startsWith('mme-s3/') && r.call === 'POST /models').length, 2, 'only v2/late.tar.gz and first.tar.gz were loaded');
    } finally {
      runtime.destroy();
      client.destroy();
      await withS3.stop();
      await s3.stop();
    }
  });

  test('ModelDataSource: an uncompressed S3Prefix or S3Object becomes the model folder (S3ModelDataSource rules); combinations SageMaker excludes are refused', async () => {
    const s3 = await startLocalS3(['models']);
    const fake = new FakeBackend();
    const withS3 = await startLocalSageMaker({ port: 0, backendImpl: fake, startupTimeoutMs: 5_000, alarmsAndScaling: false, settings: { s3EndpointUrl: s3.url } });
    const client = new SageMakerClient(localClientConfig(withS3.url, { requestTimeoutMs: 30_000 }));
    try {
      const archive = join(dir, 'archive', 'model.tar.gz');
      await createModelArchive(dir, archive);
      for (const [Key, Body] of [['llm/config.json', '{"layers":2}'], ['llm/weights/part1', 'w1'], ['one/model.bin', 'bin'], ['gz/model.tar.gz', await readFile(archive)]] as const) {
        await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key, Body }));
      }
      const source = (S3Uri: string, S3DataType: 'S3Prefix' | 'S3Object', CompressionType: 'None' | 'Gzip' = 'None') => ({ S3DataSource: { S3Uri, S3DataType, CompressionType } });
      const refused = (message: string) => (err: Error) => err.name === 'ValidationException' && err.message === message;
      const create = (ModelName: string, container: Record<string, unknown>) => client.send(new CreateModelCommand({ ModelName, PrimaryContainer: { Image: 'repo/img:1', ...container } }));
      await assert.rejects(create('x', { ModelDataSource: source('s3://models/llm', 'S3Prefix') }), refused('ModelDataSource.S3DataSource.S3Uri s3://models/llm is an S3Prefix, which must end with a forward slash (/).'));
      await assert.rejects(create('x', { ModelDataSource: source('s3://models/llm/', 'S3Prefix', 'Gzip') }), refused('ModelDataSource.S3DataSource: CompressionType Gzip needs S3DataType S3Object (one model.tar.gz); an S3Prefix holds uncompressed files (CompressionType None).'));
      await assert.rejects(create('x', { ModelDataSource: source('s3://models/llm/', 'S3Prefix'), ModelDataUrl: 's3://models/m.tar.gz' }), refused('Specify either ModelDataUrl or ModelDataSource for a container, not both.'));
      await assert.rejects(create('x', { ModelDataSource: source('s3://models/llm/', 'S3Prefix'), Mode: 'MultiModel' }), refused('ModelDataSource cannot be used with a MultiModel container: give the S3 prefix of its model archives as ModelDataUrl.'));
      await assert.rejects(
        create('x', { ModelDataSource: source('ftp://models/llm/', 'S3Prefix') }),
        refused("1 validation error detected: Value 'ftp://models/llm/' at 'primaryContainer.modelDataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"),
      );

      await create('prefix', { ModelDataSource: source('s3://models/llm/', 'S3Prefix') });
      await create('object', { ModelDataSource: source('s3://models/one/model.bin', 'S3Object') });
      await create('gzip', { ModelDataSource: source('https://models.s3.amazonaws.com/gz/model.tar.gz', 'S3Object', 'Gzip') });
      await assert.rejects(
        client.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'prefix', ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 1 } }] })),
        refused('Variant "AllTraffic" is serverless: model "prefix" gives its model data as ModelDataSource, which serverless endpoints do not support; use ModelDataUrl (a model.tar.gz).'),
      );
      const settled = async (name: string) => {
        await client.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
        await client.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: name }));
        return until(`${name} settled`, async () => {
          const d = await client.send(new DescribeEndpointCommand({ EndpointName: name }));
          return d.EndpointStatus === 'Creating' ? undefined : d;
        }, { intervalMs: 100 });
      };
      const modelDir = () => join(fake.started.at(-1)!.optMlDir, 'model');
      assert.equal((await settled('prefix')).EndpointStatus, 'InService');
      assert.equal(await readFile(join(modelDir(), 'config.json'), 'utf8'), '{"layers":2}');
      assert.equal(await readFile(join(modelDir(), 'weights', 'part1'), 'utf8'), 'w1');
      assert.equal((await settled('object')).EndpointStatus, 'InService');
      assert.deepEqual(await readdir(modelDir()), ['model.bin']);
      const gzip = await settled('gzip');
      assert.equal(gzip.EndpointStatus, 'InService', gzip.FailureReason);
      assert.equal(await readFile(join(modelDir(), 'weights.bin'), 'utf8'), 'w');
    } finally {
      client.destroy();
      await withS3.stop();
      await s3.stop();
    }
  });

  test('ImageConfig: RepositoryAccessMode is Platform or Vpc; DescribeModel echoes it; a serverless variant refuses a private registry (Vpc)', async () => {
    await assert.rejects(
      sm.send(new CreateModelCommand({ ModelName: 'conf-registry-bad', PrimaryContainer: { Image: 'registry.example.com/img:1', ImageConfig: { RepositoryAccessMode: 'Private' as 'Vpc' } } })),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message === "1 validation error detected: Value 'Private' at 'primaryContainer.imageConfig.repositoryAccessMode' failed to satisfy constraint: Member must satisfy enum value set: [Platform, Vpc]",
    );
    const ImageConfig = { RepositoryAccessMode: 'Vpc' as const };
    await sm.send(new CreateModelCommand({ ModelName: 'conf-registry', PrimaryContainer: { Image: 'registry.example.com/img:1', ModelDataUrl: dir, ImageConfig } }));
    assert.deepEqual((await sm.send(new DescribeModelCommand({ ModelName: 'conf-registry' }))).PrimaryContainer?.ImageConfig, ImageConfig);
    await assert.rejects(
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'conf-registry-sl', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'conf-registry', ServerlessConfig: { MemorySizeInMB: 1024, MaxConcurrency: 1 } }] })),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message === 'Variant "AllTraffic" is serverless: model "conf-registry" pulls its image from a private Docker registry (ImageConfig RepositoryAccessMode Vpc), which serverless endpoints do not support; push the image to Amazon ECR.',
    );
  });
});

test("the cause of an InternalFailure the front door answers goes to the local SageMaker's log, not into the answer", async () => {
  const logged: Array<[string, string, Record<string, unknown>]> = [];
  const extraEndpoints = { get: () => { throw new Error('boom at /home/me/secret/path'); } } as unknown as ReadonlyMap<string, never>;
  const failing = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), alarmsAndScaling: false, settings: {}, extraEndpoints, log: (level, msg, fields) => logged.push([level, msg, fields]) });
  try {
    const res = await fetch(`${failing.url}/endpoints/nowhere/invocations`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    assert.equal(res.status, 500);
    assert.doesNotMatch(text, /boom|secret/);
    const told = logged.filter(([, msg]) => msg.includes('its caller was not told the cause'));
    assert.deepEqual(told.map(([level, msg, fields]) => [level, msg, fields.message]), [['warn', 'the local front door failed (its caller was not told the cause)', 'boom at /home/me/secret/path']]);
  } finally {
    await failing.stop();
  }
});
