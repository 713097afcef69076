/**
 * `smkit deploy` against an endpoint that starts changing after it was planned (autoscaling adding
 * an instance, another deploy): the update waits for it to settle and goes through, instead of
 * failing with SageMaker's "Cannot update in-progress endpoint", and says which config it replaces
 * (the one served then, not the one planned from).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, ListEndpointConfigsCommand, ListModelsCommand, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../helpers/fake-backend.js';
import { until } from '../helpers/until.js';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { createDeployClients } from '../../src/deploy/clients.js';
import { applyPlan } from '../../src/deploy/apply.js';
import type { EndpointPlan } from '../../src/deploy/plan.js';
import { ToolkitError } from '../../src/errors/catalogue.js';

test('an update planned while the endpoint was InService waits when the endpoint is Updating by the time it is applied', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-race-'));
  await writeFile(path.join(dir, 'weights.bin'), 'w');
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, settings: { region: 'us-east-1', accountId: '000000000000' } });
  const clients = createDeployClients({ endpointUrl: sm.url, region: 'us-east-1' }, { hasCredentials: false });
  try {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    for (const name of ['cfg-a', 'cfg-b', 'cfg-c']) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-a' }));
    const status = async () => (await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus;
    await until('ep InService', async () => ((await status()) === 'InService' ? true : undefined));
    // The plan was made while ep ran cfg-a; meanwhile something else starts changing it (a baking blue/green update).
    await send.send(
      new UpdateEndpointCommand({
        EndpointName: 'ep',
        EndpointConfigName: 'cfg-b',
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 2 }, TerminationWaitInSeconds: 0 } },
      }),
    );
    assert.equal(await status(), 'Updating');
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-c', input: { EndpointConfigName: 'cfg-c', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm' }] } }, alarms: [], scaling: [] },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [],
      endpoint: 'update',
      previousConfig: 'cfg-a',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: ['cfg-a'], models: [] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.1, timeoutSeconds: 60 });
    assert.ok(lines.some((l) => /ep started changing after it was planned/.test(l)), lines.join('\n'));
    // What it replaced is the config the other update left, not the one planned from, and it is deleted as superseded.
    assert.ok(lines.includes('ep changed after it was planned: it serves cfg-b, not cfg-a, so the update replaces cfg-b'), lines.join('\n'));
    assert.ok(lines.includes('updating endpoint ep: cfg-b → cfg-c'), lines.join('\n'));
    const ep = await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    assert.equal(ep.EndpointStatus, 'InService');
    assert.equal(ep.EndpointConfigName, 'cfg-c');
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName), ['cfg-c']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName), ['m'], 'the model the new config runs stays');
  } finally {
    clients.destroy();
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an endpoint that another update moved to the desired config after it was planned is not updated again', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-race-'));
  await writeFile(path.join(dir, 'weights.bin'), 'w');
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, settings: { region: 'us-east-1', accountId: '000000000000' } });
  const clients = createDeployClients({ endpointUrl: sm.url, region: 'us-east-1' }, { hasCredentials: false });
  try {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    for (const name of ['cfg-a', 'cfg-c']) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-a' }));
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    await until('ep InService', async () => ((await describe()).EndpointStatus === 'InService' ? true : undefined));
    // Planned from cfg-a; another deploy of the same file updates ep to cfg-c first.
    await send.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-c' }));
    await until('ep InService on cfg-c', async () => {
      const ep = await describe();
      return ep.EndpointStatus === 'InService' && ep.EndpointConfigName === 'cfg-c' ? true : undefined;
    });
    const modified = (await describe()).LastModifiedTime;
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-c', input: { EndpointConfigName: 'cfg-c', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm' }] } }, alarms: [], scaling: [] },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [],
      endpoint: 'update',
      previousConfig: 'cfg-a',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: ['cfg-a'], models: [] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.ok(lines.includes('ep changed after it was planned: it already serves cfg-c, so it is not updated'), lines.join('\n'));
    assert.ok(!lines.some((l) => /^updating endpoint/.test(l)), lines.join('\n'));
    const ep = await describe();
    assert.equal(ep.EndpointStatus, 'InService');
    assert.deepEqual(ep.LastModifiedTime, modified, 'no second update');
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName), ['cfg-c']);
  } finally {
    clients.destroy();
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an update rolled back after another update came first says it serves that one\'s config, not the one planned from', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-race-'));
  await writeFile(path.join(dir, 'weights.bin'), 'w');
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 10_000, settings: { region: 'us-east-1', accountId: '000000000000' } });
  const clients = createDeployClients({ endpointUrl: sm.url, region: 'us-east-1' }, { hasCredentials: false });
  try {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    // The fake container of this model exits at once, so the new fleet never starts and the update rolls back.
    await send.send(new CreateModelCommand({ ModelName: 'm-bad', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, Environment: { FAKE_PING: 'fail' } } }));
    for (const [name, model] of [['cfg-a', 'm'], ['cfg-b', 'm'], ['cfg-c', 'm-bad']] as const) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: model, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-a' }));
    const status = async () => (await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus;
    await until('ep InService', async () => ((await status()) === 'InService' ? true : undefined));
    // Planned from cfg-a; cfg-b comes first.
    await send.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-b' }));
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-c', input: {} as never }, alarms: [], scaling: [] },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [],
      endpoint: 'update',
      previousConfig: 'cfg-a',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: [], models: [] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    const lines: string[] = [];
    await assert.rejects(applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError && err.code === 'ERR_DEPLOY_ROLLED_BACK', String(err));
      assert.match(err.message, /The endpoint serves cfg-b again\.$/);
      return true;
    });
    assert.ok(lines.includes('ep: rolled back to cfg-b'), lines.join('\n'));
    assert.equal((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointConfigName, 'cfg-b');
  } finally {
    clients.destroy();
    await sm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
