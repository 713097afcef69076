import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient, type CreateEndpointConfigCommandInput, type CreateModelCommandInput } from '@aws-sdk/client-sagemaker';
import { PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { withDeployTarget } from '../../test/helpers/deploy-target.js';
import { ToolkitError } from '../errors/catalogue.js';
import { applyPlan } from './apply.js';
import { applyDelete, planDelete } from './delete.js';
import { describeAlarms, describeScaling } from './inspect.js';
import { SCALABLE_DIMENSION, variantResourceId } from './desired.js';
import { until } from '../../test/helpers/until.js';
import type { DeployClients } from './clients.js';
import type { EndpointPlan } from './plan.js';
import { parseEndpointFile } from '../endpoint-file/schema.js';

// A stub speaking SageMaker's JSON protocol, through the real SDK client: an endpoint that stays
// Creating, as a real one does for minutes.

let server: Server;
let sagemaker: SageMakerClient;
const calls: string[] = [];
/** What DescribeEndpoint answers beside EndpointStatus. */
let described: Record<string, unknown> = { EndpointStatus: 'Creating' };

/** A plan that only creates what `models` and `config` give, around an unchanged endpoint. */
function plan(endpoint: EndpointPlan['endpoint'], models: { name: string; input: CreateModelCommandInput }[] = [], config: { name: string; input: CreateEndpointConfigCommandInput } = { name: 'cfg', input: {} as never }): EndpointPlan {
  return {
    desired: { name: 'ep', models: models.map((m) => ({ ...m, variant: 'AllTraffic' })), config, alarms: [], scaling: [] },
    uploads: [],
    createModels: models.map((m) => ({ ...m, variant: 'AllTraffic' })),
    createConfig: models.length > 0,
    putAlarms: [],
    deregister: [],
    endpoint,
    registerTargets: [],
    putPolicies: [],
    deletePolicies: [],
    putScalingAlarms: [],
    deleteAlarms: [],
    cleanup: { configs: [], models: [] },
    leftovers: { configs: [], models: [] },
    items: [],
  };
}

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const op = String(req.headers['x-amz-target']).replace(/^SageMaker\./, '');
      calls.push(op);
      const body =
        op === 'CreateEndpoint'
          ? { EndpointArn: 'arn:aws:sagemaker:us-east-1:0:endpoint/ep' }
          : { EndpointName: 'ep', EndpointArn: 'arn:aws:sagemaker:us-east-1:0:endpoint/ep', EndpointConfigName: 'cfg', CreationTime: 0, LastModifiedTime: 0, ...described };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sagemaker = new SageMakerClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

after(async () => {
  sagemaker?.destroy();
  await new Promise((resolve) => server?.close(resolve));
});

test('Ctrl-C while a new endpoint is Creating stops the wait, saying the creation goes on in SageMaker and how to follow it or pick up', async () => {
  const listeners = process.listenerCount('SIGINT');
  let interrupted = false;
  const log = (line: string): void => {
    // The first progress line comes from the wait, which is when deploy listens for Ctrl-C.
    if (!interrupted && /^ep: Creating/.test(line)) {
      interrupted = true;
      process.kill(process.pid, 'SIGINT');
    }
  };
  const clients = { sagemaker } as unknown as DeployClients;
  await assert.rejects(applyPlan(clients, plan('create'), { log, pollSeconds: 60, timeoutSeconds: 600, awsCliOptions: ' --region us-east-1' }), (err: unknown) => {
    assert.ok(err instanceof ToolkitError);
    assert.equal(err.code, 'ERR_DEPLOY_FAILED');
    assert.equal(
      err.message,
      'interrupted by SIGINT while endpoint ep was being created with cfg; the creation goes on in SageMaker. Follow it with aws sagemaker describe-endpoint --region us-east-1 --endpoint-name ep; ' +
        'run smkit deploy again to wait for it and do what comes after (autoscaling, deleting what an earlier run left), or smkit deploy --delete to remove it.',
    );
    return true;
  });
  assert.deepEqual(calls, ['CreateEndpoint', 'DescribeEndpoint']);
  assert.equal(process.listenerCount('SIGINT'), listeners, 'the SIGINT listener is removed');
});

test('--timeout while a new endpoint is Creating says, as Ctrl-C does, that running deploy again waits for it and does what comes after', async () => {
  calls.length = 0;
  const clients = { sagemaker } as unknown as DeployClients;
  await assert.rejects(applyPlan(clients, plan('create'), { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 0.2 }), {
    code: 'ERR_DEPLOY_FAILED',
    message:
      'endpoint ep still Creating after 0.2 s; it keeps going on the service side (see DescribeEndpoint). ' +
      'Run smkit deploy again to wait for endpoint ep and do what comes after its creation (autoscaling, deleting what an earlier run left), or smkit deploy --delete to remove it.',
  });
  assert.equal(calls[0], 'CreateEndpoint');
});

test('a model or endpoint config that exists already when deploy creates it (an SDK retry of a create that went through, another deploy) is used, not a failure', async () => {
  await withDeployTarget(async ({ clients, modelDir }) => {
    const model = { name: 'ep-AllTraffic-0123456789', input: { ModelName: 'ep-AllTraffic-0123456789', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: modelDir } } };
    const config = { name: 'ep-0123456789', input: { EndpointConfigName: 'ep-0123456789', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: model.name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }] } };
    await clients.sagemaker.send(new CreateModelCommand(model.input));
    await clients.sagemaker.send(new CreateEndpointConfigCommand(config.input));
    const lines: string[] = [];
    await applyPlan(clients, plan('unchanged', [model], config), { log: (l) => lines.push(l), pollSeconds: 1, timeoutSeconds: 60 });
    assert.deepEqual(lines, [
      'model ep-AllTraffic-0123456789 exists already (a retried create that went through, or another deploy of the same definition); using it',
      'endpoint config ep-0123456789 exists already (a retried create that went through, or another deploy of the same definition); using it',
    ]);
  });
});

test('a new endpoint that ends Failed: exit with its FailureReason and what the next run does with it', async () => {
  described = { EndpointStatus: 'Failed', FailureReason: "The account-level service limit 'ml.g5.xlarge for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances." };
  calls.length = 0;
  try {
    await assert.rejects(applyPlan({ sagemaker } as unknown as DeployClients, plan('create'), { log: () => {}, pollSeconds: 0.001, timeoutSeconds: 60 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.equal(
        err.message,
        "endpoint ep failed: The account-level service limit 'ml.g5.xlarge for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. " +
          'Fix the cause and run smkit deploy again: it deletes the Failed endpoint and creates it anew (or smkit deploy --delete removes it)',
      );
      return true;
    });
  } finally {
    described = { EndpointStatus: 'Creating' };
  }
});

test('CreateEndpoint answered "Cannot create already existing endpoint" for an endpoint on the desired config (an SDK retry of a create that went through) follows it; one on another config says it was made since the plan', async () => {
  await withDeployTarget(async ({ clients, modelDir }) => {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: modelDir } }));
    for (const c of ['ep-1', 'ep-2']) await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: c, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'ep-1' }));
    const lines: string[] = [];
    await applyPlan(clients, plan('create', [], { name: 'ep-1', input: {} as never }), { log: (l) => lines.push(l), pollSeconds: 0.05, timeoutSeconds: 60 });
    assert.equal(lines[0], 'endpoint ep exists already on ep-1 (a retried create that went through, or another deploy of the same file); following it');
    assert.equal(lines.at(-1), 'endpoint ep is InService on ep-1');
    await assert.rejects(applyPlan(clients, plan('create', [], { name: 'ep-2', input: {} as never }), { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 60 }), (err: Error) => {
      assert.match(err.message, /^SageMaker CreateEndpoint ep failed: ValidationException: Cannot create already existing endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint\/ep"\. It was created after the plan \(on ep-1\), by another deploy or someone else: run smkit deploy again, which plans from it\.$/);
      return true;
    });
  });
});

test('Ctrl-C while deploy waits for a Failed endpoint to be deleted (to create it anew) says the deletion goes on and what to run then', async () => {
  described = { EndpointStatus: 'Deleting' };
  calls.length = 0;
  const listeners = process.listenerCount('SIGINT');
  let interrupted = false;
  const log = (line: string): void => {
    if (!interrupted && line === 'ep: Deleting') {
      interrupted = true;
      process.kill(process.pid, 'SIGINT');
    }
  };
  try {
    await assert.rejects(applyPlan({ sagemaker } as unknown as DeployClients, plan('recreate'), { log, pollSeconds: 60, timeoutSeconds: 600 }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.equal(err.message, 'interrupted by SIGINT while endpoint ep was being deleted; the deletion goes on in SageMaker. Run smkit deploy again: it waits until the endpoint is gone and creates it anew.');
      return true;
    });
  } finally {
    described = { EndpointStatus: 'Creating' };
  }
  assert.deepEqual(calls, ['DeleteEndpoint', 'DescribeEndpoint'], 'CreateEndpoint is not called');
  assert.equal(process.listenerCount('SIGINT'), listeners, 'the SIGINT listener is removed');
});

test('Ctrl-C while --delete waits for the endpoint to go says the deletion goes on and that a second --delete removes the rest', async () => {
  described = { EndpointStatus: 'Deleting' };
  calls.length = 0;
  let interrupted = false;
  const log = (line: string): void => {
    if (!interrupted && line === 'ep: Deleting') {
      interrupted = true;
      process.kill(process.pid, 'SIGINT');
    }
  };
  const deletePlan = { endpoint: 'ep', endpointExists: true, scalableTargets: [], configs: ['ep-1'], models: ['m'], alarms: ['ep-5xx'], items: [] };
  try {
    await assert.rejects(applyDelete({ sagemaker } as unknown as DeployClients, deletePlan, { log, pollSeconds: 60, timeoutSeconds: 600 }), {
      message: 'interrupted by SIGINT while endpoint ep was being deleted; the deletion goes on in SageMaker. Run smkit deploy --delete again to remove its endpoint configs, models and alarms once it is gone (it waits for that).',
    });
  } finally {
    described = { EndpointStatus: 'Creating' };
  }
  assert.deepEqual(calls, ['DeleteEndpoint', 'DescribeEndpoint'], 'nothing else is deleted under it');
});

test('--timeout while --delete waits for the endpoint to go says, as Ctrl-C does, that the deletion goes on and a second --delete removes the rest', async () => {
  described = { EndpointStatus: 'Deleting' };
  calls.length = 0;
  const deletePlan = { endpoint: 'ep', endpointExists: true, scalableTargets: [], configs: ['ep-1'], models: ['m'], alarms: ['ep-5xx'], items: [] };
  try {
    await assert.rejects(applyDelete({ sagemaker } as unknown as DeployClients, deletePlan, { log: () => {}, pollSeconds: 0.05, timeoutSeconds: 0.2 }), {
      code: 'ERR_DEPLOY_FAILED',
      message:
        'endpoint ep still Deleting after 0.2 s. The deletion goes on in SageMaker. Run smkit deploy --delete again to remove its endpoint configs, models and alarms once it is gone (it waits for that).',
    });
  } finally {
    described = { EndpointStatus: 'Creating' };
  }
  assert.deepEqual([...new Set(calls)], ['DeleteEndpoint', 'DescribeEndpoint'], 'nothing else is deleted under it');
});

test('a deletion SageMaker fails (Deleting, then Failed) stops --delete at once saying so and what to run, not at --timeout saying the deletion goes on', async () => {
  described = { EndpointStatus: 'Failed', FailureReason: 'Internal failure' };
  calls.length = 0;
  const deletePlan = { endpoint: 'ep', endpointExists: true, scalableTargets: [], configs: ['ep-1'], models: ['m'], alarms: [], items: [] };
  try {
    await assert.rejects(applyDelete({ sagemaker } as unknown as DeployClients, deletePlan, { log: () => {}, pollSeconds: 0.01, timeoutSeconds: 60 }), {
      code: 'ERR_DEPLOY_FAILED',
      message:
        'SageMaker could not delete endpoint ep: it is Failed (Internal failure), and nothing was deleted after it. Run smkit deploy --delete again to delete it once more, or see aws sagemaker describe-endpoint --endpoint-name ep',
    });
  } finally {
    described = { EndpointStatus: 'Creating' };
  }
  assert.deepEqual([...new Set(calls)], ['DeleteEndpoint', 'DescribeEndpoint'], 'nothing else is deleted under it');
});

test('an endpoint with more alarms than one DescribeAlarms page (50) or one DeleteAlarms call (100): the inspection a deploy plans from finds them all, --delete removes them all', { timeout: 60_000 }, async () => {
  await withDeployTarget(async ({ clients }) => {
    const names = Array.from({ length: 120 }, (_, i) => `ep-alarm-${String(i).padStart(3, '0')}`);
    for (const AlarmName of names) {
      await clients.cloudwatch.send(new PutMetricAlarmCommand({ AlarmName, Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' }));
    }
    assert.deepEqual([...(await describeAlarms(clients, names)).keys()].sort(), names);
    const log: string[] = [];
    await applyDelete(clients, { endpoint: 'ep', endpointExists: false, scalableTargets: [], configs: [], models: [], alarms: names, items: [] }, { log: (l) => log.push(l), pollSeconds: 1, timeoutSeconds: 10 });
    assert.equal((await describeAlarms(clients, names)).size, 0, log.join('\n'));
  });
});

test('a variant with more scaling policies than one DescribeScalingPolicies page (10): the inspection a deploy plans from finds them all', { timeout: 60_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir }) => {
    const send = clients.sagemaker;
    await send.send(new CreateModelCommand({ ModelName: 'm', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/R', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: modelDir } }));
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'cfg', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'm', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await send.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'cfg' }));
    await until('ep InService', async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus === 'InService' ? true : undefined));
    const ResourceId = variantResourceId('ep', 'AllTraffic');
    await clients.autoscaling.send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId, ScalableDimension: SCALABLE_DIMENSION, MinCapacity: 1, MaxCapacity: 4 }));
    const names = Array.from({ length: 12 }, (_, i) => `step-${String(i).padStart(2, '0')}`);
    for (const PolicyName of names) {
      await clients.autoscaling.send(new PutScalingPolicyCommand({
        PolicyName, ServiceNamespace: 'sagemaker', ResourceId, ScalableDimension: SCALABLE_DIMENSION, PolicyType: 'StepScaling',
        StepScalingPolicyConfiguration: { AdjustmentType: 'ChangeInCapacity', StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] },
      }));
    }
    const { policies } = await describeScaling(clients, [ResourceId]);
    assert.deepEqual((policies.get(ResourceId) ?? []).map((p) => p.PolicyName).sort(), names);
  });
});

test('--delete keeps an alarm of the file that watches another endpoint (alarm names are one per account and Region: a copied file, a renamed endpoint), and says so; its own go', { timeout: 60_000 }, async () => {
  await withDeployTarget(async ({ clients }) => {
    const alarm = (AlarmName: string, EndpointName: string): PutMetricAlarmCommand =>
      new PutMetricAlarmCommand({ AlarmName, Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: [{ Name: 'EndpointName', Value: EndpointName }, { Name: 'VariantName', Value: 'AllTraffic' }], Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    await clients.cloudwatch.send(alarm('shared-5xx', 'iris'));
    await clients.cloudwatch.send(alarm('twin-latency', 'twin'));
    const rule = { metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanOrEqualToThreshold', periodSeconds: 60, evaluationPeriods: 1 };
    const file = parseEndpointFile({ endpoints: [{ name: 'twin', variants: [{ model: 'm' }], alarms: [{ name: 'shared-5xx', ...rule }, { name: 'twin-latency', ...rule }] }] }, (p) => `/m/${p}`, () => Buffer.alloc(0));
    const plan = await planDelete(clients, file.endpoints[0]!);
    assert.deepEqual(plan.alarms, ['twin-latency']);
    assert.deepEqual(plan.items.filter((i) => i.kind === 'alarm'), [
      { kind: 'alarm', name: 'twin-latency', action: 'delete' },
      { kind: 'alarm', name: 'shared-5xx', action: 'unchanged', detail: 'it watches endpoint iris, not twin' },
    ]);
    await applyDelete(clients, plan, { log: () => {}, pollSeconds: 1, timeoutSeconds: 10 });
    assert.deepEqual([...(await describeAlarms(clients, ['shared-5xx', 'twin-latency'])).keys()], ['shared-5xx']);
  });
});
