// Asynchronous endpoints scaled to zero, end to end: real AWS SDK v3 clients against
// `startLocalSageMaker` (real `smkit serve` processes as instances), results in a real local S3
// (s3rver), one CloudWatch minute shortened to half a real second (SMKIT_LOCAL_SECONDS_PER_MINUTE
// 0.5: the idle endpoint's fifteen minutes take 7.5 s, while three instances idle).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { PutScalingPolicyCommand, RegisterScalableTargetCommand, ValidationException } from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, UpdateEndpointWeightsAndCapacitiesCommand, waitUntilEndpointInService } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand, InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3, type LocalS3 } from '../helpers/local-s3.js';
import { localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { settledActivities } from '../helpers/scaling-activities.js';

const ROWS = ['5.1,3.5,1.4,0.2', '6.7,3.0,5.2,2.3', '5.9,3.0,4.2,1.5'];
let s3: LocalS3;
let local: LocalSageMakerHandle;
let c: LocalSdkClients;

/** The object's bytes once s3rver holds all of them (it lists an object while writing it); undefined while absent. */
async function object(url: string): Promise<string | undefined> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url)!;
  try {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
    const body = Buffer.from(await out.Body!.transformToByteArray()).toString();
    return body.length > 0 ? body : undefined;
  } catch (err) {
    if ((err as Error).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function exists(url: string): Promise<boolean> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url)!;
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: m[1], Key: m[2] }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'NotFound') return false;
    throw err;
  }
}

async function counts(endpoint: string): Promise<{ status: string; current: number; desired: number }> {
  const out = await c.sagemaker.send(new DescribeEndpointCommand({ EndpointName: endpoint }));
  const v = out.ProductionVariants![0]!;
  return { status: out.EndpointStatus!, current: v.CurrentInstanceCount!, desired: v.DesiredInstanceCount! };
}

/** The largest value of the endpoint's metric over the last five (real) minutes. */
async function maximum(endpoint: string, metricName: string): Promise<number> {
  const now = Date.now();
  const out = await c.cloudwatch.send(
    new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: metricName, Dimensions: [{ Name: 'EndpointName', Value: endpoint }], StartTime: new Date(now - 300_000), EndTime: new Date(now + 60_000), Period: 60, Statistics: ['Maximum'] }),
  );
  return Math.max(-1, ...(out.Datapoints ?? []).map((d) => d.Maximum ?? -1));
}

async function setCount(endpoint: string, count: number): Promise<void> {
  await c.sagemaker.send(new UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: endpoint, DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredInstanceCount: count }] }));
}

before(async () => {
  s3 = await startLocalS3(['out']);
  local = await startLocalSageMaker({ port: 0, settings: { s3EndpointUrl: s3.url, region: 'us-east-1', accountId: '111122223333' }, metricsSettings: { secondsPerMinute: 0.5 }, startupTimeoutMs: 60_000 });
  c = localSdkClients(local.url, { requestTimeoutMs: 30_000 });
  await c.sagemaker.send(new CreateModelCommand({ ModelName: 'iris', PrimaryContainer: { Image: 'smkit', ModelDataUrl: join(REPO_ROOT, 'models', 'iris-onnx'), Environment: { SAGEMAKER_MODEL_SERVER_WORKERS: '1' } } }));
  const variants = [{ VariantName: 'AllTraffic', ModelName: 'iris', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' as const }];
  await c.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris-async', ProductionVariants: variants, AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/results/', S3FailurePath: 's3://out/failures/' } } }));
  await c.sagemaker.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris-realtime', ProductionVariants: variants }));
  for (const [name, config] of [['zero', 'iris-async'], ['idle', 'iris-async'], ['realtime', 'iris-realtime']]) await c.sagemaker.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: config }));
  for (const name of ['zero', 'idle', 'realtime']) await waitUntilEndpointInService({ client: c.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 120 }, { EndpointName: name });
});

after(async () => {
  c?.destroy();
  await local?.stop();
  await s3?.stop();
});

// The two endpoints are scaled independently: the first test runs while the second waits out its
// fifteen idle (half-second) minutes.
describe('asynchronous endpoints at 0 instances', { concurrency: true }, () => {
  test('scaled to 0, an asynchronous endpoint queues requests (HasBacklogWithoutCapacity 1, nothing in S3); scaled to 1, every result lands in S3', async () => {
    // What the model answers for each row, from the real-time endpoint of the same model.
    const expected = [];
    for (const row of ROWS) expected.push(Buffer.from((await c.runtime.send(new InvokeEndpointCommand({ EndpointName: 'realtime', ContentType: 'text/csv', Body: Buffer.from(row) }))).Body!).toString());

    await assert.rejects(setCount('realtime', 0), (err: Error) => err.name === 'ValidationException' && /only an asynchronous endpoint/.test(err.message));
    await setCount('zero', 0);
    await waitUntilEndpointInService({ client: c.sagemaker, minDelay: 1, maxDelay: 1, maxWaitTime: 60 }, { EndpointName: 'zero' });
    assert.deepEqual(await counts('zero'), { status: 'InService', current: 0, desired: 0 });

    const outputs: string[] = [];
    for (const row of ROWS) {
      const out = await c.runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'zero', ContentType: 'text/csv', Body: Buffer.from(row) }));
      assert.equal(out.$metadata.httpStatusCode, 202);
      assert.match(out.OutputLocation!, /^s3:\/\/out\/results\/[0-9a-f-]{36}\.out$/);
      outputs.push(out.OutputLocation!);
    }
    // A sample taken with the three requests queued and no instance: they wait, nothing is written.
    // Probes every 250 ms, as below: a sample is taken once a (half-second) minute, an instance starts in seconds.
    await until('a backlog of 3 without capacity in CloudWatch', async () => ((await maximum('zero', 'ApproximateBacklogSize')) === 3 ? true : undefined), { intervalMs: 250 });
    assert.equal(await maximum('zero', 'HasBacklogWithoutCapacity'), 1);
    assert.equal(await maximum('zero', 'ApproximateBacklogSizePerInstance'), 3, 'at 0 instances the per-instance backlog is the whole backlog');
    for (const location of outputs) assert.equal(await exists(location), false, `${location} was written with no instance`);
    assert.deepEqual(await counts('zero'), { status: 'InService', current: 0, desired: 0 });

    await setCount('zero', 1);
    assert.equal((await counts('zero')).status, 'Updating');
    const results = [];
    for (const location of outputs) results.push(await until(`the result at ${location}`, () => object(location), { intervalMs: 250, retryErrors: true }));
    assert.deepEqual(results, expected);
    assert.deepEqual(await counts('zero'), { status: 'InService', current: 1, desired: 1 });
  });

  test('target tracking on ApproximateBacklogSizePerInstance with MinCapacity 0 takes an idle asynchronous endpoint to 0 instances, and back to 1 once the backlog exceeds the target', async () => {
    const key = { ServiceNamespace: 'sagemaker' as const, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await assert.rejects(
      c.autoscaling.send(new RegisterScalableTargetCommand({ ...key, ResourceId: 'endpoint/realtime/variant/AllTraffic', MinCapacity: 0, MaxCapacity: 2 })),
      (err: Error) => err instanceof ValidationException && /real-time endpoint realtime: its instance count is at least 1/.test(err.message),
    );
    await c.autoscaling.send(new RegisterScalableTargetCommand({ ...key, ResourceId: 'endpoint/idle/variant/AllTraffic', MinCapacity: 0, MaxCapacity: 2 }));
    await c.autoscaling.send(
      new PutScalingPolicyCommand({
        ...key,
        ResourceId: 'endpoint/idle/variant/AllTraffic',
        PolicyName: 'backlog-per-instance',
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 5,
          CustomizedMetricSpecification: { MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'idle' }], Statistic: 'Average' },
          ScaleInCooldown: 60,
          ScaleOutCooldown: 60,
        },
      }),
    );
    // Fifteen idle (half-second) minutes put the low alarm in ALARM; the scaler then sets 0.
    const final = await until('the idle endpoint at 0 instances', async () => {
      const now = await counts('idle');
      return now.status === 'InService' && now.current === 0 ? now : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
    assert.equal(final.desired, 0);
    const activities = await settledActivities(c.autoscaling, 'endpoint/idle/variant/AllTraffic');
    assert.deepEqual(activities.map((a) => [a.Description, a.StatusCode]), [['Setting desired instance count to 0.', 'Successful']]);
    assert.match(activities[0]!.Cause!, /AlarmLow.*ApproximateBacklogSizePerInstance \(Average\) against a target of 5/);

    // A backlog above the target (6 > 5) at 0 instances: the high alarm brings one instance back and the queue drains.
    const outputs: string[] = [];
    for (let i = 0; i < 6; i++) outputs.push((await c.runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'idle', ContentType: 'text/csv', Body: Buffer.from(ROWS[i % ROWS.length]!) }))).OutputLocation!);
    for (const location of outputs) assert.match(await until(`the result at ${location}`, () => object(location), { timeoutMs: 120_000, intervalMs: 250, retryErrors: true }), /^\[\[/);
    // Oldest first: in to 0, then out of 0 to one instance (a second may follow while the alarm still
    // sees the backlog of the minutes the instance took to start).
    const history = (await settledActivities(c.autoscaling, 'endpoint/idle/variant/AllTraffic')).reverse();
    assert.deepEqual(history.slice(0, 2).map((a) => [a.Description, a.StatusCode]), [
      ['Setting desired instance count to 0.', 'Successful'],
      ['Setting desired instance count to 1.', 'Successful'],
    ]);
    assert.match(history[1]!.Cause!, /AlarmHigh.*6 ApproximateBacklogSizePerInstance \(Average\) against a target of 5/);
  });
});
