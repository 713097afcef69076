/**
 * What an update supersedes is not left behind unmentioned: Ctrl-C while `smkit deploy` follows an
 * update names the superseded config and models with the commands that delete them (the update goes
 * on in SageMaker, and a later run finds them only when smkit named them), and a step
 * after the update that fails (autoscaling) comes after they were deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, DescribeEndpointConfigCommand, DescribeModelCommand, ListEndpointConfigsCommand, ListModelsCommand } from '@aws-sdk/client-sagemaker';
import { DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { until } from '../helpers/until.js';
import { withDeployTarget } from '../helpers/deploy-target.js';
import { applyPlan } from '../../src/deploy/apply.js';
import type { EndpointPlan } from '../../src/deploy/plan.js';
import { ToolkitError } from '../../src/errors/catalogue.js';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN } from '../helpers/serve-process.js';

test('Ctrl-C after UpdateEndpoint stops following the update and names the superseded config and models with the commands to delete them', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, url, modelDir: dir }) => {
    const send = clients.sagemaker;
    for (const m of ['m-old', 'm-new']) await send.send(new CreateModelCommand({ ModelName: m, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    for (const [c, m] of [['cfg-old', 'm-old'], ['cfg-new', 'm-new']] as const) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-old' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    // A bake of an hour: the update is still going when Ctrl-C comes.
    const deploymentConfig = { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE' as const, WaitIntervalInSeconds: 3600 }, TerminationWaitInSeconds: 0 } };
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-new', input: {} as never }, alarms: [], scaling: [], deploymentConfig },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [],
      endpoint: 'update',
      previousConfig: 'cfg-old',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: ['cfg-old'], models: ['m-old'] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    const listeners = process.listenerCount('SIGINT');
    let interrupted = false;
    const log = (line: string): void => {
      // The first progress line comes from the wait, which is when deploy listens for Ctrl-C.
      if (!interrupted && /^ep: Updating/.test(line)) {
        interrupted = true;
        process.kill(process.pid, 'SIGINT');
      }
    };
    const cli = ` --endpoint-url ${url} --region us-east-1`;
    await assert.rejects(applyPlan(clients, plan, { log, pollSeconds: 0.05, timeoutSeconds: 60, awsCliOptions: cli }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.equal(
        err.message,
        'interrupted by SIGINT while endpoint ep was updating to cfg-new; the update goes on in SageMaker.' +
          ` Once it is InService on cfg-new (aws sagemaker describe-endpoint${cli} --endpoint-name ep), delete what the update superseded:` +
          ` aws sagemaker delete-endpoint-config${cli} --endpoint-config-name cfg-old; aws sagemaker delete-model${cli} --model-name m-old. If it rolls back to cfg-old instead, keep them.` +
          ' A later smkit deploy, once the endpoint has settled, deletes whichever side is left over when smkit named it (<endpoint>-<hash>, <endpoint>-<variant>-<hash>).',
      );
      return true;
    });
    assert.equal(process.listenerCount('SIGINT'), listeners);
    // Nothing was deleted under the running update, which still needs the old config to roll back to.
    const ep = await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
    assert.equal(ep.EndpointStatus, 'Updating');
    assert.equal((await send.send(new DescribeEndpointConfigCommand({ EndpointConfigName: 'cfg-old' }))).EndpointConfigName, 'cfg-old');
    assert.equal((await send.send(new DescribeModelCommand({ ModelName: 'm-old' }))).ModelName, 'm-old');
  });
});

test('Ctrl-C while following an update that deploy deregistered autoscaling for says the variant runs at a fixed count until a deploy registers it again, completed or rolled back', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, url, modelDir: dir }) => {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    for (const [c, type] of [['cfg-small', 'ml.m5.large'], ['cfg-large', 'ml.m5.xlarge']] as const) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: type }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-small' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    const resourceId = 'endpoint/ep/variant/AllTraffic';
    await clients.autoscaling.send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount', MinCapacity: 1, MaxCapacity: 2 }));
    const deploymentConfig = { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE' as const, WaitIntervalInSeconds: 3600 }, TerminationWaitInSeconds: 0 } };
    // The instance type changes: deploy deregisters the variant's autoscaling first. Nothing is superseded (the config was not smkit's).
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-large', input: {} as never }, alarms: [], scaling: [], deploymentConfig },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [resourceId],
      endpoint: 'update',
      previousConfig: 'cfg-small',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: [], models: [] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    let interrupted = false;
    const log = (line: string): void => {
      if (!interrupted && /^ep: Updating/.test(line)) {
        interrupted = true;
        process.kill(process.pid, 'SIGINT');
      }
    };
    await assert.rejects(applyPlan(clients, plan, { log, pollSeconds: 0.05, timeoutSeconds: 60, awsCliOptions: ` --endpoint-url ${url}` }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(
        err.message,
        'interrupted by SIGINT while endpoint ep was updating to cfg-large; the update goes on in SageMaker.' +
          " Deploy deregistered the autoscaling of variant AllTraffic before the update (SageMaker refuses to update an autoscaled variant's instance type, or to remove it): it runs at a fixed instance count until a deploy registers it again." +
          ' Once the endpoint has settled, run smkit deploy again if the update completed; if it rolled back, fix the cause and run smkit deploy again, or deploy the file of the config it serves.',
      );
      return true;
    });
    const targets = await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [resourceId] }));
    assert.deepEqual(targets.ScalableTargets, [], 'deploy did deregister it');
  });
});

test('UpdateEndpoint refused after deploy deregistered a variant\'s autoscaling for it says the variant runs at a fixed count until a deploy registers it again', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'cfg-small', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-small' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    const resourceId = 'endpoint/ep/variant/AllTraffic';
    await clients.autoscaling.send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount', MinCapacity: 1, MaxCapacity: 2 }));
    // The config the update names is not there, so SageMaker refuses the update (as it would one past a quota).
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-gone', input: {} as never }, alarms: [], scaling: [] },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [resourceId],
      endpoint: 'update',
      previousConfig: 'cfg-small',
      registerTargets: [],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: [], models: [] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    await assert.rejects(applyPlan(clients, plan, { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 60 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.match(err.message, /^SageMaker UpdateEndpoint ep failed: ValidationException: Could not find endpoint configuration/);
      assert.ok(
        err.message.endsWith(
          " Deploy deregistered the autoscaling of variant AllTraffic before the update (SageMaker refuses to update an autoscaled variant's instance type, or to remove it): it runs at a fixed instance count until a deploy registers it again; fix the cause and run smkit deploy again, or deploy the file of the config it serves.",
        ),
        err.message,
      );
      assert.equal(err.details?.serviceError, 'ValidationException', 'the service error is still named for --json');
      return true;
    });
    const targets = await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [resourceId] }));
    assert.deepEqual(targets.ScalableTargets, [], 'deploy did deregister it');
    assert.equal((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointConfigName, 'cfg-small', 'the endpoint was not updated');
  });
});

test('a step after the update that fails (autoscaling) leaves nothing superseded behind: the old config and model are deleted first', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    for (const m of ['m-old', 'm-new']) await send.send(new CreateModelCommand({ ModelName: m, ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } }));
    for (const [c, m] of [['cfg-old', 'm-old'], ['cfg-new', 'm-new']] as const) {
      await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: m, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    }
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg-old' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    const resourceId = 'endpoint/ep/variant/AllTraffic';
    const plan: EndpointPlan = {
      desired: { name: 'ep', models: [], config: { name: 'cfg-new', input: {} as never }, alarms: [], scaling: [] },
      uploads: [],
      createModels: [],
      createConfig: false,
      putAlarms: [],
      deregister: [],
      endpoint: 'update',
      previousConfig: 'cfg-old',
      // Application Auto Scaling refuses a minimum above the maximum.
      registerTargets: [{ variant: 'AllTraffic', resourceId, target: { ServiceNamespace: 'sagemaker', ResourceId: resourceId, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount', MinCapacity: 3, MaxCapacity: 2 }, policy: {} as never }],
      putPolicies: [],
      deletePolicies: [],
      putScalingAlarms: [],
      deleteAlarms: [],
      cleanup: { configs: ['cfg-old'], models: ['m-old'] },
      leftovers: { configs: [], models: [] },
      items: [],
    };
    await assert.rejects(applyPlan(clients, plan, { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 60 }), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_DEPLOY_FAILED' && /RegisterScalableTarget/.test(err.message));
    assert.equal((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointConfigName, 'cfg-new');
    assert.deepEqual((await send.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.map((c) => c.EndpointConfigName), ['cfg-new']);
    assert.deepEqual((await send.send(new ListModelsCommand({}))).Models?.map((m) => m.ModelName), ['m-new']);
  });
});

test('Ctrl-C, SIGTERM or SIGHUP (a closed terminal) while deploy waits for an endpoint to settle before planning ends it by that signal and removes its packaged archives from the temporary folder', { timeout: 120_000 }, async (t) => {
  // A SageMaker whose endpoint stays Updating (another deploy's blue/green bake, say): deploy has
  // packaged the model and waits, outside any step that handles a signal itself.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = { EndpointName: 'ep', EndpointArn: 'arn:aws:sagemaker:us-east-1:0:endpoint/ep', EndpointConfigName: 'cfg', EndpointStatus: 'Updating', CreationTime: 0, LastModifiedTime: 0 };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-settle-int-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
  await writeFile(path.join(dir, 'e.yaml'), 'deploy:\n  role: arn:aws:iam::123456789012:role/R\n  artifacts: s3://artifacts/t/\n  image: repo/img:1\nendpoints:\n  - name: ep\n    variants:\n      - model: ./model\n');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const tmp = path.join(dir, `tmp-${signal}`);
    await mkdir(tmp);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cli = spawn(process.execPath, [SMKIT_BIN, 'deploy', path.join(dir, 'e.yaml'), '--endpoint-url', url, '--poll-interval', '0.2'], {
      // No compile cache: on Node 22+ the launcher would keep one in TMPDIR (node-compile-cache), which this test counts.
      env: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: tmp, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', NODE_DISABLE_COMPILE_CACHE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => cli.on('exit', (_code, sig) => resolve(sig)));
    await until('deploy waiting for ep to settle', () => stderr.includes('ep is Updating; waiting for it to settle before planning'), { detail: () => stderr });
    assert.equal((await readdir(tmp)).length, 1, 'the work folder with the packaged archive is there while deploy waits');
    cli.kill(signal);
    assert.equal(await exited, signal, stderr);
    assert.deepEqual(await readdir(tmp), [], `${signal}: nothing left in the temporary folder`);
  }
});
