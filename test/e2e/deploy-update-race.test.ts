/**
 * `smkit deploy` against an endpoint that starts changing after it was planned (autoscaling adding
 * an instance, another deploy): the update waits for it to settle and goes through, instead of
 * failing with SageMaker's "Cannot update in-progress endpoint", and says which config it replaces
 * (the one served then, not the one planned from).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, ListEndpointConfigsCommand, ListModelsCommand, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { until } from '../helpers/until.js';
import type { DeployClients } from '../../src/deploy/clients.js';
import { withDeployTarget } from '../helpers/deploy-target.js';
import { applyPlan } from '../../src/deploy/apply.js';
import type { EndpointPlan } from '../../src/deploy/plan.js';
import { ToolkitError } from '../../src/errors/catalogue.js';

/** The plan both tests apply: made while ep served cfg-a, it updates ep to cfg-c and deletes cfg-a as superseded. */
const planToCfgC = (): EndpointPlan => ({
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
});

/**
 * A local SageMaker with the endpoint configs `configs` (config name to the model of its one
 * variant: `m`, or `m-bad`, whose fake container exits at once) and endpoint ep on cfg-a,
 * InService; `run` gets the deploy clients.
 */
async function withEndpoint(configs: Readonly<Record<string, 'm' | 'm-bad'>>, run: (clients: DeployClients) => Promise<void>): Promise<void> {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    for (const model of new Set(Object.values(configs))) {
      const environment = model === 'm-bad' ? { FAKE_PING: 'fail' } : undefined;
      await send.send(new CreateModelCommand({ ModelName: model, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir, ...(environment ? { Environment: environment } : {}) } }));
    }
    for (const [name, model] of Object.entries(configs)) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: model, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-a' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    await run(clients);
  });
}

test('an update planned while the endpoint was InService waits when the endpoint is Updating by the time it is applied', { timeout: 120_000 }, async () => {
  await withEndpoint({ 'cfg-a': 'm', 'cfg-b': 'm', 'cfg-c': 'm' }, async (clients) => {
    const send = clients.sagemaker;
    const status = async () => (await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus;
    // The plan was made while ep ran cfg-a; meanwhile something else starts changing it (a baking blue/green update).
    await send.send(
      new UpdateEndpointCommand({
        EndpointName: 'ep',
        EndpointConfigName: 'cfg-b',
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 2 }, TerminationWaitInSeconds: 0 } },
      }),
    );
    assert.equal(await status(), 'Updating');
    const plan = planToCfgC();
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
  });
});

test('an endpoint that another update moved to the desired config after it was planned is not updated again', { timeout: 120_000 }, async () => {
  await withEndpoint({ 'cfg-a': 'm', 'cfg-c': 'm' }, async (clients) => {
    const send = clients.sagemaker;
    const describe = () => send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    // Planned from cfg-a; another deploy of the same file updates ep to cfg-c first.
    await send.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-c' }));
    await until('ep InService on cfg-c', async () => {
      const ep = await describe();
      return ep.EndpointStatus === 'InService' && ep.EndpointConfigName === 'cfg-c' ? true : undefined;
    });
    const modified = (await describe()).LastModifiedTime;
    const plan = planToCfgC();
    const lines: string[] = [];
    await applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.ok(lines.includes('ep changed after it was planned: it already serves cfg-c, so it is not updated'), lines.join('\n'));
    assert.ok(!lines.some((l) => /^updating endpoint/.test(l)), lines.join('\n'));
    const ep = await describe();
    assert.equal(ep.EndpointStatus, 'InService');
    assert.deepEqual(ep.LastModifiedTime, modified, 'no second update');
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName), ['cfg-c']);
  });
});

test('an update rolled back after another update came first says it serves that one\'s config, not the one planned from', { timeout: 120_000 }, async () => {
  await withEndpoint({ 'cfg-a': 'm', 'cfg-b': 'm', 'cfg-c': 'm-bad' }, async (clients) => {
    const send = clients.sagemaker;
    // Planned from cfg-a; cfg-b comes first.
    await send.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-b' }));
    // cfg-c's model never starts, so the update rolls back; nothing is superseded.
    const plan: EndpointPlan = { ...planToCfgC(), cleanup: { configs: [], models: [] } };
    const lines: string[] = [];
    await assert.rejects(applyPlan(clients, plan, { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError && err.code === 'ERR_DEPLOY_ROLLED_BACK', String(err));
      assert.match(err.message, /The endpoint serves cfg-b again\.$/);
      return true;
    });
    assert.ok(lines.includes('ep: rolled back to cfg-b'), lines.join('\n'));
    assert.equal((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointConfigName, 'cfg-b');
  });
});
