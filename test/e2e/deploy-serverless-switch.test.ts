/**
 * `smkit deploy` of a file that turns an instance-based endpoint serverless: SageMaker refuses that
 * UpdateEndpoint (serverless-endpoints-update.html), so deploy refuses it when planning, with the
 * real SDK clients against the local SageMaker. Found only at apply time, the refusal came after
 * deploy had created the new config and deregistered the variant's autoscaling, which stayed off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, type CreateModelCommandInput } from '@aws-sdk/client-sagemaker';
import { DescribeScalableTargetsCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { until } from '../helpers/until.js';
import { withDeployTarget } from '../helpers/deploy-target.js';
import { SCALABLE_DIMENSION, variantResourceId, type DesiredEndpoint } from '../../src/deploy/desired.js';
import { inspectEndpoint } from '../../src/deploy/inspect.js';
import { planEndpoint } from '../../src/deploy/plan.js';

const ROLE = 'arn:aws:iam::000000000000:role/R';

test('a file that makes an instance-based endpoint serverless is refused when planned, its autoscaling left registered; a serverless endpoint updates to another serverless config', { timeout: 120_000 }, async () => {
  await withDeployTarget(async ({ clients, modelDir: dir }) => {
    const send = clients.sagemaker;
    const model = (name: string): CreateModelCommandInput => ({ ModelName: name, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: dir } });
    await send.send(new CreateModelCommand(model('ep-AllTraffic-aaaaaaaaaa')));
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'ep-aaaaaaaaaa', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'ep-AllTraffic-aaaaaaaaaa', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    await send.send(new CreateModelCommand(model('sv-AllTraffic-aaaaaaaaaa')));
    await send.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'sv-aaaaaaaaaa', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'sv-AllTraffic-aaaaaaaaaa', ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 2 } }] }));
    for (const [name, config] of [['ep', 'ep-aaaaaaaaaa'], ['sv', 'sv-aaaaaaaaaa']] as const) {
      await send.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: config }));
    }
    for (const name of ['ep', 'sv']) {
      await until(`${name} InService`, async () => ((await send.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService' ? true : undefined));
    }
    const ResourceId = variantResourceId('ep', 'AllTraffic');
    await clients.autoscaling.send(new RegisterScalableTargetCommand({ ServiceNamespace: 'sagemaker', ResourceId, ScalableDimension: SCALABLE_DIMENSION, MinCapacity: 1, MaxCapacity: 2 }));

    const serverless = (endpoint: string, memory: number): DesiredEndpoint => {
      const modelName = `${endpoint}-AllTraffic-bbbbbbbbbb`;
      return {
        name: endpoint,
        models: [{ name: modelName, variant: 'AllTraffic', input: model(modelName) }],
        config: { name: `${endpoint}-bbbbbbbbbb`, input: { EndpointConfigName: `${endpoint}-bbbbbbbbbb`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: modelName, ServerlessConfig: { MemorySizeInMB: memory, MaxConcurrency: 2 } }] } },
        alarms: [],
        scaling: [],
      };
    };
    const toServerless = serverless('ep', 2048);
    const state = await inspectEndpoint(clients, toServerless, []);
    assert.throws(
      () => planEndpoint(toServerless, [], state),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_DEPLOY_CONFIG' &&
        err.message.startsWith('ep: the endpoint file makes endpoint ep serverless, but it runs on instances (config ep-aaaaaaaaaa), and SageMaker does not update an instance-based endpoint to a serverless config') &&
        /Delete the endpoint \(smkit deploy --delete\) and run smkit deploy again/.test(err.message),
    );
    const targets = await clients.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [ResourceId] }));
    assert.equal(targets.ScalableTargets?.length, 1, 'the autoscaling stays registered');
    // Serverless to serverless is an update SageMaker makes.
    const other = serverless('sv', 3072);
    assert.equal(planEndpoint(other, [], await inspectEndpoint(clients, other, [])).endpoint, 'update');
  });
});
