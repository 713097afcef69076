// `smkit deploy` of an asynchronous endpoint that scales to zero, against the local SageMaker and a
// real local S3 (s3rver), with the real SDK clients: the backlog target-tracking policy, AWS's
// scale-from-zero step policy and the HasBacklogWithoutCapacity alarm that invokes it; the idle
// endpoint scales in to no instance, a request sent then waits, the alarm brings an instance back
// and the answer lands in S3; a change of mind removes the policies and the alarm again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeScalableTargetsCommand, DescribeScalingPoliciesCommand } from '@aws-sdk/client-application-auto-scaling';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, runDeploy } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { settledActivities } from '../helpers/scaling-activities.js';

const deploy = runDeploy;

function endpointFile(autoscaling: string): string {
  return `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
endpoints:
  - name: nightly
    asyncInference:
      outputPath: s3://async/out/
    variants:
      - model: ./model
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 }
        autoscaling:
${autoscaling}
`;
}

const TO_ZERO = `          minCapacity: 0
          maxCapacity: 2
          targetBacklogPerInstance: 2
          scaleInCooldownSeconds: 60
          scaleOutCooldownSeconds: 60`;

test('smkit deploy: an asynchronous endpoint scales in to zero and back up from it for a waiting request', { timeout: 300_000 }, async () => {
  const s3server = await startLocalS3(['artifacts', 'async']);
  const sm = await startLocalSageMaker({
    port: 0,
    settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' },
    alarmPollMs: 100,
    startupTimeoutMs: 60_000,
    // One CloudWatch minute lasts half a second: alarms, backlog metrics and cooldowns run 120 times faster.
    metricsSettings: { secondsPerMinute: 0.5 },
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-zero-'));
  const clients = localSdkClients(sm.url);
  const { sagemaker, runtime, cloudwatch, autoscaling } = clients;
  const env = { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1' };
  const file = path.join(dir, 'endpoints.yaml');
  const args = [file, '--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '120'];
  const instances = async () => (await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'nightly' }))).ProductionVariants?.[0]?.CurrentInstanceCount;
  try {
    await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
    await writeFile(file, endpointFile(TO_ZERO));

    const first = await deploy(args, env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /create\s+scaling-policy\s+nightly-AllTraffic-backlog-per-instance/);
    assert.match(first.stdout, /create\s+scaling-policy\s+nightly-AllTraffic-scale-from-zero/);
    assert.match(first.stdout, /create\s+alarm\s+nightly-AllTraffic-backlog-without-capacity/);
    const targets = await autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: ['endpoint/nightly/variant/AllTraffic'] }));
    assert.deepEqual(targets.ScalableTargets?.map((t) => [t.MinCapacity, t.MaxCapacity]), [[0, 2]]);
    const policies = (await autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/nightly/variant/AllTraffic' }))).ScalingPolicies ?? [];
    const step = policies.find((p) => p.PolicyName === 'nightly-AllTraffic-scale-from-zero');
    assert.equal(step?.PolicyType, 'StepScaling');
    assert.equal(policies.find((p) => p.PolicyName === 'nightly-AllTraffic-backlog-per-instance')?.TargetTrackingScalingPolicyConfiguration?.CustomizedMetricSpecification?.MetricName, 'ApproximateBacklogSizePerInstance');
    const alarm = (await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['nightly-AllTraffic-backlog-without-capacity'] }))).MetricAlarms?.[0];
    assert.deepEqual(alarm?.AlarmActions, [step!.PolicyARN], 'the alarm invokes the step policy');

    const again = await deploy(args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes/);

    // Idle: target tracking takes the endpoint in to no instance. Probes every 250 ms here and below:
    // each is an SDK call, and the waits last seconds (fifteen half-second minutes; an instance's start).
    await until('the idle endpoint scaled in to zero', async () => (await instances()) === 0, { timeoutMs: 90_000, intervalMs: 250 });

    // A request while there is no instance waits; the alarm brings one back and the answer lands in S3.
    const sent = await runtime.send(new InvokeEndpointAsyncCommand({ EndpointName: 'nightly', ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
    const key = sent.OutputLocation!.replace('s3://async/', '');
    // The answer can only come from an instance the alarm added. (Polling the instance count for 1
    // can miss it: with a CloudWatch minute of 0.5 s, the idle endpoint may scale in to zero again
    // between two polls once the request is answered.)
    const answer = await until(
      'the answer in S3',
      async () => {
        try {
          const out = await s3server.client.send(new GetObjectCommand({ Bucket: 'async', Key: key }));
          return JSON.parse(await out.Body!.transformToString()) as number[][];
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    assert.equal(answer[0]!.length, 3);
    const activities = (await settledActivities(autoscaling, 'endpoint/nightly/variant/AllTraffic')).reverse();
    const descriptions = activities.map((a) => `${a.Description} ${a.StatusCode}`);
    const toZero = descriptions.indexOf('Setting desired instance count to 0. Successful');
    assert.ok(toZero >= 0 && descriptions.indexOf('Setting desired instance count to 1. Successful', toZero) > toZero, `in to zero, then out to one: ${descriptions.join('; ')}`);

    // Back to a floor of one, still on the backlog (an asynchronous endpoint publishes no InvocationsPerInstance): the step policy and the alarm go.
    await writeFile(file, endpointFile('          minCapacity: 1\n          maxCapacity: 2\n          targetBacklogPerInstance: 5'));
    const back = await deploy(args, env);
    assert.equal(back.code, 0, back.stderr);
    const after = (await autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/nightly/variant/AllTraffic' }))).ScalingPolicies ?? [];
    assert.deepEqual(after.map((p) => p.PolicyName), ['nightly-AllTraffic-backlog-per-instance']);
    assert.deepEqual((await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['nightly-AllTraffic-backlog-without-capacity'] }))).MetricAlarms, []);

    // Real-time now: SageMaker refuses that UpdateEndpoint, so the plan does, before writing anything.
    const servedBefore = (await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'nightly' }))).EndpointConfigName;
    await writeFile(file, endpointFile('').replace(/ {4}asyncInference:\n.*\n/, '').replace(/ {8}autoscaling:\n/, ''));
    const realtime = await deploy(args, env);
    assert.notEqual(realtime.code, 0, realtime.stdout);
    assert.match(realtime.stderr, /ERR_DEPLOY_CONFIG: nightly: the endpoint file has no asyncInference, but endpoint nightly is asynchronous .*smkit deploy --delete/);
    // (Its status may be Updating: autoscaling can be changing its instance count.)
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'nightly' }))).EndpointConfigName, servedBefore, 'no UpdateEndpoint');
  } finally {
    clients.destroy();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
