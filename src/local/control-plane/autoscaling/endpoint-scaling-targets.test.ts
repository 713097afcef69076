// SageMaker endpoints and the Application Auto Scaling targets on their variants, as on AWS: deleting
// an endpoint deregisters them (endpoint-delete-with-scaling.html); an update that changes an
// autoscaled variant's instance type fails (endpoint-scaling-update.html). Real SDK clients over
// HTTP, fake containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingActivitiesCommand,
  DescribeScalingPoliciesCommand,
  DescribeScheduledActionsCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DeleteEndpointCommand, DescribeEndpointCommand, UpdateEndpointCommand, waitUntilEndpointDeleted, waitUntilEndpointInService, type ProductionVariantInstanceType } from '@aws-sdk/client-sagemaker';
import { FakeBackend } from '../../../../test/helpers/fake-backend.js';
import { localSdkClients, type LocalSdkClients } from '../../../../test/helpers/local-sdk-clients.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../local-sagemaker.js';

let dir: string;
let local: LocalSageMakerHandle;
let clients: LocalSdkClients;
const wait = { minDelay: 1, maxDelay: 1, maxWaitTime: 30 };

describe('endpoint scaling targets', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smkit-delete-scaling-'));
    await writeFile(join(dir, 'weights.bin'), 'w');
    local = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), startupTimeoutMs: 5_000, metricsSettings: { secondsPerMinute: 1 }, settings: {} });
    clients = localSdkClients(local.url, { requestTimeoutMs: 30_000 });
  });

  after(async () => {
    clients?.destroy();
    await local?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('DeleteEndpoint deregisters the scalable targets on its variants, with their policies and alarms; other endpoints keep theirs', async () => {
    const { sagemaker: sm, autoscaling: aas, cloudwatch: cw } = clients;
    await sm.send(new CreateModelCommand({ ModelName: 'del-model', PrimaryContainer: { ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({
      EndpointConfigName: 'del-config',
      ProductionVariants: [
        { VariantName: 'a', ModelName: 'del-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' },
        { VariantName: 'b', ModelName: 'del-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' },
      ],
    }));
    for (const name of ['del-gone', 'del-kept']) {
      await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: 'del-config' }));
      await waitUntilEndpointInService({ client: sm, ...wait }, { EndpointName: name });
    }
    const key = (endpoint: string, variant: string) => ({ ServiceNamespace: 'sagemaker' as const, ResourceId: `endpoint/${endpoint}/variant/${variant}`, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const });
    for (const [endpoint, variant] of [['del-gone', 'a'], ['del-gone', 'b'], ['del-kept', 'a']] as const) {
      await aas.send(new RegisterScalableTargetCommand({ ...key(endpoint, variant), MinCapacity: 1, MaxCapacity: 3 }));
    }
    const policy = await aas.send(new PutScalingPolicyCommand({
      ...key('del-gone', 'a'),
      PolicyName: 'del-tracking',
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 100, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } },
    }));
    const policyAlarms = policy.Alarms!.map((a) => a.AlarmName!);
    assert.equal((await cw.send(new DescribeAlarmsCommand({ AlarmNames: policyAlarms }))).MetricAlarms?.length, 2);

    await sm.send(new DeleteEndpointCommand({ EndpointName: 'del-gone' }));
    await waitUntilEndpointDeleted({ client: sm, ...wait }, { EndpointName: 'del-gone' });

    const targets = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }));
    assert.deepEqual(targets.ScalableTargets?.map((t) => t.ResourceId), ['endpoint/del-kept/variant/a']);
    assert.deepEqual((await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker' }))).ScalingPolicies, []);
    assert.deepEqual((await cw.send(new DescribeAlarmsCommand({ AlarmNames: policyAlarms }))).MetricAlarms, []);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'del-kept' }));
  });

  test('UpdateEndpoint fails when it would change the instance type of an autoscaled variant; a new model on the same type, or a deregistered target, is allowed', async () => {
    const { sagemaker: sm, autoscaling: aas } = clients;
    await sm.send(new CreateModelCommand({ ModelName: 'type-model', PrimaryContainer: { ModelDataUrl: dir } }));
    await sm.send(new CreateModelCommand({ ModelName: 'type-model-2', PrimaryContainer: { ModelDataUrl: dir } }));
    const config = (name: string, model: string, InstanceType: ProductionVariantInstanceType) =>
      sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [{ VariantName: 'a', ModelName: model, InitialInstanceCount: 1, InstanceType }] }));
    await config('type-m5', 'type-model', 'ml.m5.large');
    await config('type-m5-new-model', 'type-model-2', 'ml.m5.large');
    await config('type-c5', 'type-model', 'ml.c5.xlarge');
    await sm.send(new CreateEndpointCommand({ EndpointName: 'type-ep', EndpointConfigName: 'type-m5' }));
    await waitUntilEndpointInService({ client: sm, ...wait }, { EndpointName: 'type-ep' });
    const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/type-ep/variant/a', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await aas.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 1, MaxCapacity: 2 }));

    await assert.rejects(
      sm.send(new UpdateEndpointCommand({ EndpointName: 'type-ep', EndpointConfigName: 'type-c5' })),
      (err: Error) =>
        err.name === 'ValidationException' &&
        err.message.startsWith('Endpoint configuration "type-c5" changes the instance type of variant "a" (ml.m5.large to ml.c5.xlarge), which is registered with Application Auto Scaling as scalable target endpoint/type-ep/variant/a.'),
    );
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: 'type-ep' }));
    assert.equal(d.EndpointStatus, 'InService');
    assert.equal(d.EndpointConfigName, 'type-m5');

    await sm.send(new UpdateEndpointCommand({ EndpointName: 'type-ep', EndpointConfigName: 'type-m5-new-model' }));
    await waitUntilEndpointInService({ client: sm, ...wait }, { EndpointName: 'type-ep' });
    await aas.send(new DeregisterScalableTargetCommand(target));
    await sm.send(new UpdateEndpointCommand({ EndpointName: 'type-ep', EndpointConfigName: 'type-c5' }));
    await waitUntilEndpointInService({ client: sm, ...wait }, { EndpointName: 'type-ep' });
    assert.equal((await sm.send(new DescribeEndpointCommand({ EndpointName: 'type-ep' }))).EndpointConfigName, 'type-c5');
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'type-ep' }));
  });

  test('a NextToken one Describe* operation gave is refused by the others (InvalidNextTokenException), not read as a place in their listings', async () => {
    const { sagemaker: sm, autoscaling: aas } = clients;
    await sm.send(new CreateModelCommand({ ModelName: 'token-model', PrimaryContainer: { ModelDataUrl: dir } }));
    const variant = (VariantName: string) => ({ VariantName, ModelName: 'token-model', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const });
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'token-config', ProductionVariants: [variant('a'), variant('b')] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'token-ep', EndpointConfigName: 'token-config' }));
    await waitUntilEndpointInService({ client: sm, ...wait }, { EndpointName: 'token-ep' });
    const key = (v: string) => ({ ServiceNamespace: 'sagemaker' as const, ResourceId: `endpoint/token-ep/variant/${v}`, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const });
    for (const v of ['a', 'b']) await aas.send(new RegisterScalableTargetCommand({ ...key(v), MinCapacity: 1, MaxCapacity: 2 }));
    const targets = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [key('a').ResourceId, key('b').ResourceId], MaxResults: 1 }));
    const refused = (operation: string) => (err: Error) => err.name === 'InvalidNextTokenException' && err.message === `The NextToken is not one ${operation} gave: pass the NextToken of the previous ${operation} answer as it came, or none for the first page.`;
    await assert.rejects(aas.send(new DescribeScheduledActionsCommand({ ServiceNamespace: 'sagemaker', NextToken: targets.NextToken })), refused('DescribeScheduledActions'));
    await assert.rejects(aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', NextToken: targets.NextToken })), refused('DescribeScalingPolicies'));
    await assert.rejects(aas.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', NextToken: targets.NextToken })), refused('DescribeScalingActivities'));
    // Each token still pages its own listing.
    const rest = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [key('a').ResourceId, key('b').ResourceId], MaxResults: 1, NextToken: targets.NextToken }));
    assert.deepEqual([targets.ScalableTargets?.map((t) => t.ResourceId), rest.ScalableTargets?.map((t) => t.ResourceId), rest.NextToken], [[key('a').ResourceId], [key('b').ResourceId], undefined]);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'token-ep' }));
  });
  test('a member past the model\'s length bounds is worded as the services word it ("Member must have length less than or equal to 256"), not as a range of this emulator\'s', async () => {
    const { autoscaling: aas } = clients;
    const variant = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/no-such/variant/a', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    const policy = { ...variant, PolicyType: 'TargetTrackingScaling' as const, TargetTrackingScalingPolicyConfiguration: { TargetValue: 1, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' as const } } };
    await assert.rejects(aas.send(new PutScalingPolicyCommand({ ...policy, PolicyName: 'p'.repeat(257) })), (err: Error) => err.message.endsWith("at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 256"));
    await assert.rejects(aas.send(new PutScalingPolicyCommand({ ...policy, PolicyName: 'tab\there' })), (err: Error) => err.message === "1 validation error detected: Value 'tab\there' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p{Print}+");
    await assert.rejects(aas.send(new RegisterScalableTargetCommand({ ...variant, MinCapacity: 1, MaxCapacity: 2, RoleARN: '' })), (err: Error) => err.message === "1 validation error detected: Value '' at 'roleARN' failed to satisfy constraint: Member must have length greater than or equal to 1");
    await assert.rejects(aas.send(new DeregisterScalableTargetCommand({ ...variant, ResourceId: 'r'.repeat(1601) })), (err: Error) => err.message.endsWith("at 'resourceId' failed to satisfy constraint: Member must have length less than or equal to 1600"));
  });
  test('RegisterScalableTarget on a serverless variant\'s DesiredInstanceCount is a ValidationException that says why, not a target whose every scaling fails', async () => {
    const { sagemaker: sm, autoscaling: aas } = clients;
    await sm.send(new CreateModelCommand({ ModelName: 'sl-model', ExecutionRoleArn: 'arn:aws:iam::123456789012:role/R', PrimaryContainer: { Image: 'repo/img:a', ModelDataUrl: dir } }));
    await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'sl-config', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'sl-model', ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 2 } }] }));
    await sm.send(new CreateEndpointCommand({ EndpointName: 'sl-ep', EndpointConfigName: 'sl-config' }));
    await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 300 }, { EndpointName: 'sl-ep' });
    const target = { ServiceNamespace: 'sagemaker' as const, ResourceId: 'endpoint/sl-ep/variant/AllTraffic', ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const, MinCapacity: 1, MaxCapacity: 2 };
    await assert.rejects(aas.send(new RegisterScalableTargetCommand(target)), (err: Error) => err.name === 'ValidationException' && /Variant AllTraffic of endpoint sl-ep is serverless/.test(err.message) && /ServerlessUpdateConfig/.test(err.message));
    const targets = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [target.ResourceId] }));
    assert.deepEqual(targets.ScalableTargets, []);
    await sm.send(new DeleteEndpointCommand({ EndpointName: 'sl-ep' }));
    await waitUntilEndpointDeleted({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 300 }, { EndpointName: 'sl-ep' });
  });
});
