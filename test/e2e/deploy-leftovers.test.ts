/**
 * What an update that was rolled back created (its endpoint config and models, under smkit's
 * content-hash names) is found and deleted by the next `smkit deploy` of the endpoint, with the
 * real SDK clients against the local SageMaker; before, nothing deleted it and each later deploy
 * left another set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  ListEndpointConfigsCommand,
  ListModelsCommand,
  UpdateEndpointCommand,
  type CreateEndpointConfigCommandInput,
  type CreateModelCommandInput,
} from '@aws-sdk/client-sagemaker';
import { DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { until } from '../helpers/until.js';
import { ToolkitError } from '../../src/errors/catalogue.js';
import { withDeployTarget } from '../helpers/deploy-target.js';
import { applyPlan } from '../../src/deploy/apply.js';
import { hashedName, type DesiredEndpoint } from '../../src/deploy/desired.js';
import { inspectEndpoint } from '../../src/deploy/inspect.js';
import { formatPlan, planEndpoint } from '../../src/deploy/plan.js';

const ROLE = 'arn:aws:iam::000000000000:role/R';

test('the next deploy deletes the config and model a rolled-back update left, and keeps what is not smkit-named', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    const model = (name: string, env: Record<string, string> = {}): CreateModelCommandInput => ({ ModelName: name, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: env } });
    const config = (name: string, modelName: string): CreateEndpointConfigCommandInput => ({
      EndpointConfigName: name,
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: modelName, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }],
    });
    // Named as smkit deploy names them: ep-<hash> and ep-AllTraffic-<hash>.
    await send.send(new CreateModelCommand(model('ep-AllTraffic-aaaaaaaaaa')));
    await send.send(new CreateEndpointConfigCommand(config('ep-aaaaaaaaaa', 'ep-AllTraffic-aaaaaaaaaa')));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-aaaaaaaaaa' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    // An update whose new fleet never passes /ping is rolled back; its config and model stay.
    await send.send(new CreateModelCommand(model('ep-AllTraffic-bbbbbbbbbb', { FAKE_PING: 'fail' })));
    await send.send(new CreateEndpointConfigCommand(config('ep-bbbbbbbbbb', 'ep-AllTraffic-bbbbbbbbbb')));
    await send.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-bbbbbbbbbb' }));
    await until('the rollback', async () => {
      const ep = await describe();
      return ep.EndpointStatus === 'InService' && ep.FailureReason !== undefined ? true : undefined;
    });
    assert.equal((await describe()).EndpointConfigName, 'ep-aaaaaaaaaa');
    // Not smkit's names for ep: never touched.
    await send.send(new CreateModelCommand(model('ep-handmade')));
    await send.send(new CreateEndpointConfigCommand(config('ep-handmade-config', 'ep-handmade')));

    // The next deploy, of a fixed model.
    const desired: DesiredEndpoint = {
      name: 'ep',
      models: [{ name: 'ep-AllTraffic-cccccccccc', variant: 'AllTraffic', input: model('ep-AllTraffic-cccccccccc') }],
      config: { name: 'ep-cccccccccc', input: config('ep-cccccccccc', 'ep-AllTraffic-cccccccccc') },
      alarms: [],
      scaling: [],
    };
    const plan = planEndpoint(desired, [], await inspectEndpoint(clients, desired, []));
    const text = formatPlan(plan);
    assert.match(text, /delete\s+endpoint-config ep-aaaaaaaaaa\s+\(superseded, once the update completes\)/);
    assert.match(text, /delete\s+endpoint-config ep-bbbbbbbbbb\s+\(left by an earlier update that was rolled back or not followed to its end, once the endpoint is in service\)/);
    assert.match(text, /delete\s+model\s+ep-AllTraffic-bbbbbbbbbb\s+\(left by an earlier update/);
    assert.doesNotMatch(text, /handmade/);
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.ok(lines.includes('deleted leftover endpoint config ep-bbbbbbbbbb'), lines.join('\n'));
    assert.equal((await describe()).EndpointConfigName, 'ep-cccccccccc');
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName).sort(), ['ep-cccccccccc', 'ep-handmade-config']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName).sort(), ['ep-AllTraffic-cccccccccc', 'ep-handmade']);
  });
});

test('a leftover that an update started after the plan uses (another deploy) is kept', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    for (const [c, m] of [['ep-aaaaaaaaaa', 'ep-AllTraffic-aaaaaaaaaa'], ['ep-bbbbbbbbbb', 'ep-AllTraffic-bbbbbbbbbb']] as const) {
      await send.send(new CreateModelCommand({ ModelName: m, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-aaaaaaaaaa' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    // The plan found ep-bbbbbbbbbb unused; since then another deploy started updating ep to it (a long bake).
    await send.send(
      new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-bbbbbbbbbb', DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 } } } }),
    );
    const desired: DesiredEndpoint = { name: 'ep', models: [], config: { name: 'ep-aaaaaaaaaa', input: {} as never }, alarms: [], scaling: [] };
    const plan = {
      ...planEndpoint(desired, [], { presentObjects: new Set(), existingModels: new Set(), configExists: true, endpoint: { status: 'InService', configName: 'ep-aaaaaaaaaa' }, alarms: new Map(), targets: new Map(), policies: new Map() }),
      leftovers: { configs: ['ep-bbbbbbbbbb'], models: ['ep-AllTraffic-bbbbbbbbbb'] },
    };
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.ok(lines.includes('kept ep-bbbbbbbbbb, ep-AllTraffic-bbbbbbbbbb: ep started using them after it was planned (another deploy?)'), lines.join('\n'));
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName).sort(), ['ep-aaaaaaaaaa', 'ep-bbbbbbbbbb']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName).sort(), ['ep-AllTraffic-aaaaaaaaaa', 'ep-AllTraffic-bbbbbbbbbb']);
    assert.equal((await describe()).PendingDeploymentSummary?.EndpointConfigName, 'ep-bbbbbbbbbb');
  });
});

test('a leftover model that an endpoint config made by hand uses is kept; the leftover config that used it is deleted', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    const variant = (m: string) => [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    for (const [c, m] of [['ep-aaaaaaaaaa', 'ep-AllTraffic-aaaaaaaaaa'], ['ep-bbbbbbbbbb', 'ep-AllTraffic-bbbbbbbbbb']] as const) {
      await send.send(new CreateModelCommand({ ModelName: m, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: variant(m) }));
    }
    // Someone's own config, on smkit's leftover model.
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'my-own-config', ProductionVariants: variant('ep-AllTraffic-bbbbbbbbbb') }));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-aaaaaaaaaa' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    const desired: DesiredEndpoint = { name: 'ep', models: [], config: { name: 'ep-aaaaaaaaaa', input: {} as never }, alarms: [], scaling: [] };
    const plan = {
      ...planEndpoint(desired, [], { presentObjects: new Set(), existingModels: new Set(), configExists: true, endpoint: { status: 'InService', configName: 'ep-aaaaaaaaaa' }, alarms: new Map(), targets: new Map(), policies: new Map() }),
      leftovers: { configs: ['ep-bbbbbbbbbb'], models: ['ep-AllTraffic-bbbbbbbbbb'] },
    };
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.ok(lines.includes('kept model ep-AllTraffic-bbbbbbbbbb (endpoint config my-own-config uses it)'), lines.join('\n'));
    assert.ok(lines.includes('deleted leftover endpoint config ep-bbbbbbbbbb'), lines.join('\n'));
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName).sort(), ['ep-aaaaaaaaaa', 'my-own-config']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName).sort(), ['ep-AllTraffic-aaaaaaaaaa', 'ep-AllTraffic-bbbbbbbbbb']);
  });
});

test('leftovers of a long endpoint name are found: their cut names hold only the start of it', { timeout: 60_000 }, async () => {
  await withDeployTarget(async ({ clients }) => {
    const name = 'recommendation-ranking-model-production-us-east-1-canary-1';
    const [config, model] = [hashedName(name, 'bbbbbbbbbb'), hashedName(`${name}-AllTraffic`, 'bbbbbbbbbb')];
    assert.ok(!config.includes(name) && !model.includes(name), `${config} and ${model} are cut`);
    await clients.sagemaker.send(new CreateModelCommand({ ModelName: model, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: 's3://b/m.tar.gz' } }));
    await clients.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: config, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: model, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    const desired: DesiredEndpoint = {
      name,
      models: [{ name: hashedName(`${name}-AllTraffic`, 'cccccccccc'), variant: 'AllTraffic', input: {} as never }],
      config: { name: hashedName(name, 'cccccccccc'), input: { EndpointConfigName: hashedName(name, 'cccccccccc'), ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: hashedName(`${name}-AllTraffic`, 'cccccccccc') }] } },
      alarms: [],
      scaling: [],
    };
    assert.deepEqual((await inspectEndpoint(clients, desired, [])).leftovers, { configs: [config], models: [model] });
  });
});

test('an update rolled back after deploy deregistered a variant\'s autoscaling (its instance type changed) says the variant now runs without it', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    const model = (name: string, env: Record<string, string> = {}): CreateModelCommandInput => ({ ModelName: name, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: env } });
    const config = (name: string, modelName: string, InstanceType: 'ml.m5.large' | 'ml.m5.xlarge'): CreateEndpointConfigCommandInput => ({
      EndpointConfigName: name,
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: modelName, InitialInstanceCount: 1, InstanceType }],
    });
    await send.send(new CreateModelCommand(model('ep-AllTraffic-aaaaaaaaaa')));
    await send.send(new CreateEndpointConfigCommand(config('ep-aaaaaaaaaa', 'ep-AllTraffic-aaaaaaaaaa', 'ml.m5.large')));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-aaaaaaaaaa' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/ep/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const, MinCapacity: 1, MaxCapacity: 3 };
    await clients.autoscaling.send(new RegisterScalableTargetCommand(target));
    // The new instance type's fleet never passes /ping: the update is rolled back.
    const desired: DesiredEndpoint = {
      name: 'ep',
      models: [{ name: 'ep-AllTraffic-bbbbbbbbbb', variant: 'AllTraffic', input: model('ep-AllTraffic-bbbbbbbbbb', { FAKE_PING: 'fail' }) }],
      config: { name: 'ep-bbbbbbbbbb', input: config('ep-bbbbbbbbbb', 'ep-AllTraffic-bbbbbbbbbb', 'ml.m5.xlarge') },
      alarms: [],
      scaling: [{ variant: 'AllTraffic', resourceId: target.ResourceId, target, policy: { PolicyName: 'ep-AllTraffic-invocations-per-instance', ServiceNamespace: 'sagemaker', ResourceId: target.ResourceId, ScalableDimension: target.ScalableDimension, PolicyType: 'TargetTrackingScaling', TargetTrackingScalingPolicyConfiguration: { TargetValue: 70, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } } } }],
    };
    const plan = planEndpoint(desired, [], await inspectEndpoint(clients, desired, []));
    assert.deepEqual(plan.deregister, [target.ResourceId]);
    await assert.rejects(applyPlan(clients, plan, { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 60 }), (err: ToolkitError) => {
      assert.equal(err.code, 'ERR_DEPLOY_ROLLED_BACK');
      assert.match(err.message, /The endpoint serves ep-aaaaaaaaaa again\. Deploy deregistered the autoscaling of variant AllTraffic before the update \(SageMaker refuses to update an autoscaled variant's instance type, or to remove it\): it runs at a fixed instance count until a deploy registers it again; fix the cause and run smkit deploy again, or deploy the file of the config it serves\.$/);
      return true;
    });
    assert.equal((await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [target.ResourceId] }))).ScalableTargets?.length, 0, 'as the message says');
  });
});

test('a superseded model that an endpoint config made by hand uses is kept; the superseded config is deleted', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    const variant = (m: string) => [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
    for (const [c, m] of [['ep-aaaaaaaaaa', 'ep-AllTraffic-aaaaaaaaaa'], ['ep-bbbbbbbbbb', 'ep-AllTraffic-bbbbbbbbbb']] as const) {
      await send.send(new CreateModelCommand({ ModelName: m, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: variant(m) }));
    }
    // Someone's own config, on the model of the config the endpoint runs now.
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'my-own-config', ProductionVariants: variant('ep-AllTraffic-aaaaaaaaaa') }));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-aaaaaaaaaa' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    // The deploy moves ep to ep-bbbbbbbbbb: ep-aaaaaaaaaa and its model are superseded.
    const desired: DesiredEndpoint = { name: 'ep', models: [], config: { name: 'ep-bbbbbbbbbb', input: {} as never }, alarms: [], scaling: [] };
    const plan = planEndpoint(desired, [], await inspectEndpoint(clients, desired, []));
    assert.deepEqual(plan.cleanup, { configs: ['ep-aaaaaaaaaa'], models: ['ep-AllTraffic-aaaaaaaaaa'] });
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.equal((await describe()).EndpointConfigName, 'ep-bbbbbbbbbb');
    assert.ok(lines.includes('kept model ep-AllTraffic-aaaaaaaaaa (endpoint config my-own-config uses it)'), lines.join('\n'));
    assert.ok(lines.includes('deleted superseded endpoint config ep-aaaaaaaaaa'), lines.join('\n'));
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName).sort(), ['ep-bbbbbbbbbb', 'my-own-config']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName).sort(), ['ep-AllTraffic-aaaaaaaaaa', 'ep-AllTraffic-bbbbbbbbbb']);
  });
});
