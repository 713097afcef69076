import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeScalableTargetsCommand, DescribeScalingPoliciesCommand } from '@aws-sdk/client-application-auto-scaling';
import { DescribeAlarmsCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, DescribeEndpointConfigCommand, ListModelsCommand } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { runDeploy } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const deploy = runDeploy;
/** Describe polls: 200 ms is fine enough for waits of seconds and spares CPU on a loaded machine. */
const POLL_MS = 200;

/**
 * Loops still running: a failed step leaves its loop, which then fails at once (clients destroyed)
 * and spins at full CPU for ever, keeping the file from ending: the test's clean-up stops them.
 */
const loops = new Set<() => Promise<unknown>>();

/**
 * Invokes the endpoint in a loop until stopped; counts answers and failures. `hold` asks the test's
 * handler (test/fixtures/handlers/held) to hold each request before answering, and checks it did.
 */
function trafficLoop(runtime: SageMakerRuntimeClient, endpoint: string, { pauseMs = 0, hold = false } = {}): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: endpoint, ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from('5.1,3.5,1.4,0.2'), ...(hold ? { CustomAttributes: 'hold' } : {}) }), {
          abortSignal: AbortSignal.timeout(30_000),
        });
        if (hold && out.CustomAttributes !== 'held') failed.push(`not held (custom attributes ${String(out.CustomAttributes)})`);
        else if (out.Body && JSON.parse(Buffer.from(out.Body).toString()).length === 1) ok++;
        else failed.push('empty answer');
      } catch (err) {
        failed.push(`${(err as Error).name}: ${(err as Error).message}`);
      }
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  const stop = async (): Promise<{ ok: number; failed: string[] }> => {
    running = false;
    loops.delete(stop);
    await loop;
    return { ok, failed };
  };
  loops.add(stop);
  return { stop };
}

/**
 * Traffic through an update that keeps a request in flight nearly all the time (with
 * `terminationWaitInSeconds: 0`, one in flight as the old fleet goes is what must not fail) while
 * keeping variant A under its autoscaling target, so the update is all that changes its fleet (a
 * scale-out would start another serve process, and step 6 would wait for the scale-in first).
 *
 * Two loops back to back, each request held by the handler (test/fixtures/handlers/held, in every
 * variant and the shadow) 260 ms before its answer: each loop has one in flight but for the moments
 * between an answer and the next send, and the two together nearly always. A's target is 5
 * invocations per instance per minute, a minute lasting 0.5 s here, and target tracking scales out
 * after 3 minutes over it. Whatever instant a request is counted at (sent, received or answered),
 * a loop's next one is counted at least 260 ms later, as it is sent only after the previous answer,
 * which came 260 ms after that request arrived: so at most 2 per loop fall in one half-second
 * minute, 4 for both, under 5 even if they all went to A (weights 3:1 send B a quarter) and to one
 * instance of it (in an update, the old and the new fleet share them). Without the hold both loops
 * ran some 15 requests a second through every serve process, the shadow and the data capture (a
 * quarter of this file's CPU); held, some 5.
 */
function steadyTraffic(runtime: SageMakerRuntimeClient, endpoint: string): { stop(): Promise<{ ok: number; failed: string[] }> } {
  const both = [trafficLoop(runtime, endpoint, { hold: true }), trafficLoop(runtime, endpoint, { hold: true })];
  return {
    async stop() {
      const results = await Promise.all(both.map((l) => l.stop()));
      return { ok: results.reduce((n, r) => n + r.ok, 0), failed: results.flatMap((r) => r.failed) };
    },
  };
}

function endpointFile(canaryWait: number): string {
  return `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
endpoints:
  - name: iris
    variants:
      - name: A
        weight: 3
        model: ./model-a
        instanceType: ml.m5.large
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1, SMKIT_INFERENCE_MODE: inline }
        routing: { strategy: LEAST_OUTSTANDING_REQUESTS }
        autoscaling:
          minCapacity: 1
          maxCapacity: 2
          targetInvocationsPerInstance: 5
          scaleInCooldownSeconds: 60
          scaleOutCooldownSeconds: 60
      - name: B
        weight: 1
        model: ./model-b
        env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1, SMKIT_INFERENCE_MODE: inline }
        routing: { strategy: PREFIX_AWARE, prefixLength: 4096, concurrencyThreshold: 8 }
    shadow:
      name: Shadow
      model: ./model-b
      env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1, SMKIT_INFERENCE_MODE: inline }
    dataCapture:
      destination: s3://artifacts/capture
      samplingPercentage: 100
    deploymentConfig:
      blueGreenUpdatePolicy:
        trafficRoutingConfiguration:
          type: CANARY
          canarySize: { type: CAPACITY_PERCENT, value: 50 }
          waitIntervalInSeconds: ${canaryWait}
        terminationWaitInSeconds: 0
      autoRollbackConfiguration:
        alarms: [{ alarmName: iris-A-5xx }]
    alarms:
      - name: iris-A-5xx
        metric: Invocation5XXErrors
        statistic: Sum
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        periodSeconds: 60
        evaluationPeriods: 1
        variant: A
`;
}

test('smkit deploy to the local SageMaker and a local S3: create, no-op, blue/green update under traffic, rollback on a forced alarm, dry run, scale out and in, delete, a failing endpoint', { timeout: 300_000 }, async () => {
  const s3server = await startLocalS3(['artifacts']);
  const sm = await startLocalSageMaker({
    port: 0,
    settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' },
    alarmPollMs: 100,
    startupTimeoutMs: 60_000,
    // One CloudWatch minute lasts half a second: alarms, InvocationsPerInstance and cooldowns run 120 times faster.
    metricsSettings: { secondsPerMinute: 0.5 },
    // Each pass uploads every grown capture file whole again (S3 cannot append) to the in-process
    // s3rver: at 300 ms, under this file's continuous traffic, those uploads burned most of its CPU.
    captureSyncMs: 1_000,
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-e2e-'));
  const clients = localSdkClients(sm.url);
  const { sagemaker, runtime, cloudwatch, autoscaling } = clients;
  const s3 = s3server.client;
  const env = { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1' };
  const file = path.join(dir, 'endpoints.yaml');
  const args = [file, '--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '120'];
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'model-a'), { recursive: true });
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'model-b'), { recursive: true });
    // The handler that holds steadyTraffic's requests, in both models (the shadow serves model-b).
    // Its hold is a timer, so the variants keep the ONNX model's inline inference
    // (SMKIT_INFERENCE_MODE: inline): a handler module would otherwise give every serve process an
    // inference thread to load the model in, and a hop to it on every request.
    for (const model of ['model-a', 'model-b']) await cp(path.join(repo, 'test/fixtures/handlers/held/code'), path.join(dir, model, 'code'), { recursive: true });
    await writeFile(file, endpointFile(1));

    // 1. Create.
    const first = await deploy(args, env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /create\s+endpoint\s+iris/);
    assert.match(first.stdout, /upload\s+archive\s+s3:\/\/artifacts\/smkit\/[0-9a-f]{64}\/model\.tar\.gz/);
    const created = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
    assert.equal(created.EndpointStatus, 'InService');
    assert.deepEqual(created.ProductionVariants?.map((v) => [v.VariantName, v.CurrentWeight]), [['A', 3], ['B', 1]]);
    assert.deepEqual(created.ShadowProductionVariants?.map((v) => v.VariantName), ['Shadow']);
    assert.equal(created.DataCaptureConfig?.EnableCapture, true);
    assert.equal(created.DataCaptureConfig?.DestinationS3Uri, 's3://artifacts/capture');
    const config = await sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: created.EndpointConfigName }));
    assert.match(config.ProductionVariants![0]!.ModelName!, /^iris-A-[0-9a-f]{10}$/);
    assert.equal(config.ProductionVariants![0]!.InstanceType, 'ml.m5.large');
    // Each variant's routing reached CreateEndpointConfig, as the real SDK reads it back.
    const routingOf = (variants: { VariantName?: string | undefined; RoutingConfig?: unknown }[] | undefined): unknown[] => (variants ?? []).map((v) => [v.VariantName, v.RoutingConfig]);
    const routing = [['A', { RoutingStrategy: 'LEAST_OUTSTANDING_REQUESTS' }], ['B', { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 4096, ConcurrencyThreshold: 8 } }]];
    assert.deepEqual(routingOf(config.ProductionVariants), routing);
    assert.deepEqual(routingOf(config.ShadowProductionVariants), [['Shadow', undefined]], 'no routing key, no RoutingConfig');
    assert.deepEqual(routingOf(created.ProductionVariants), routing, "DescribeEndpoint's variant summaries repeat it");
    const answer = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'iris', ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from('5.1,3.5,1.4,0.2') }), { abortSignal: AbortSignal.timeout(30_000) });
    assert.equal(JSON.parse(Buffer.from(answer.Body!).toString()).length, 1);
    const targets = await autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: ['endpoint/iris/variant/A'] }));
    assert.deepEqual(targets.ScalableTargets?.map((t) => [t.ScalableDimension, t.MinCapacity, t.MaxCapacity]), [['sagemaker:variant:DesiredInstanceCount', 1, 2]]);
    const policies = await autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/iris/variant/A' }));
    assert.equal(policies.ScalingPolicies?.[0]?.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType, 'SageMakerVariantInvocationsPerInstance');
    const alarms = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['iris-A-5xx'] }));
    assert.deepEqual(alarms.MetricAlarms?.map((a) => [a.Namespace, a.MetricName, a.Dimensions?.map((d) => `${d.Name}=${d.Value}`).sort().join(',')]), [['AWS/SageMaker', 'Invocation5XXErrors', 'EndpointName=iris,VariantName=A']]);
    assert.ok(first.stderr.indexOf('put alarm iris-A-5xx') < first.stderr.indexOf('creating endpoint iris'), 'the alarm comes before the endpoint');
    assert.ok(first.stderr.indexOf('registered scalable target') > first.stderr.indexOf('is InService'), 'autoscaling comes after');
    await until('captured requests in s3://artifacts/capture/', async () => {
      const captured = await s3.send(new ListObjectsV2Command({ Bucket: 'artifacts', Prefix: 'capture/iris/' }));
      return (captured.KeyCount ?? 0) > 0 ? true : undefined;
      // s3rver rewrites an object's metadata in place while capture files are uploaded: a listing
      // that reads it half written fails, and the next poll lists again.
    }, { timeoutMs: 30_000, retryErrors: true, intervalMs: POLL_MS });
    const archives = await s3.send(new ListObjectsV2Command({ Bucket: 'artifacts', Prefix: 'smkit/' }));
    assert.equal(archives.KeyCount, 1, 'model-a and model-b have the same content: one archive');

    // 2. Unchanged: nothing to do, and it says so.
    const again = await deploy(args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no changes: everything is as the file says/);
    assert.doesNotMatch(again.stdout, /^\s+(create|update|upload|delete)\s/m);
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointConfigName, created.EndpointConfigName);

    // 3. A changed model: a blue/green canary update under continuous traffic, without a failed invocation.
    await writeFile(path.join(dir, 'model-a', 'VERSION'), '2\n');
    const traffic = steadyTraffic(runtime, 'iris');
    const update = await deploy(args, env);
    const { ok, failed } = await traffic.stop();
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /update\s+endpoint\s+iris/);
    assert.match(update.stdout, /blue\/green CANARY 50%/);
    assert.match(update.stdout, /unchanged\s+model\s+iris-B-/, 'variant B keeps its model');
    assert.deepEqual(failed, [], 'no invocation failed during the update');
    assert.ok(ok > 0, 'traffic flowed during the update');
    assert.match(update.stderr, /Updating/);
    const updated = await until('iris to be InService', async () => {
      const ep = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
      return ep.EndpointStatus === 'InService' ? ep : undefined;
    }, { timeoutMs: 60_000, intervalMs: POLL_MS });
    assert.notEqual(updated.EndpointConfigName, created.EndpointConfigName);
    assert.deepEqual(routingOf((await sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: updated.EndpointConfigName }))).ProductionVariants), routing, 'the new config keeps the routing');
    await assert.rejects(sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: created.EndpointConfigName })), /Could not find/, 'the superseded config is removed');

    // 4. A further update whose bake sees the rollback alarm in ALARM: rolled back, reported, exit 1.
    await writeFile(path.join(dir, 'model-a', 'VERSION'), '3\n');
    // The bake lasts until the alarm is seen (the update is rolled back then), not 3 s: a 3 s bake
    // could pass between two polls on a loaded machine, the update then completed, and the wait
    // for Baking ran out (once in the first flake hunt, at a load average of 45-60).
    await writeFile(file, endpointFile(600));
    const traffic2 = steadyTraffic(runtime, 'iris');
    const rollingBack = deploy(args, env);
    await until('the canary to bake', async () => {
      const ep = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
      return ep.PendingDeploymentSummary?.ProductionVariants?.some((v) => v.VariantStatus?.some((s) => s.Status === 'Baking')) ? true : undefined;
    }, { timeoutMs: 150_000, intervalMs: POLL_MS });
    let done = false;
    void rollingBack.finally(() => (done = true));
    // CloudWatch re-evaluates a forced alarm at its next period, as on AWS: keep forcing it until the update reacts.
    while (!done) {
      await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'iris-A-5xx', StateValue: 'ALARM', StateReason: 'forced by the deploy test' }));
      await new Promise((r) => setTimeout(r, 100));
    }
    const rolled = await rollingBack;
    const during = await traffic2.stop();
    assert.equal(rolled.code, 1, 'a rolled-back update is a failure');
    assert.match(rolled.stderr, /ERR_DEPLOY_ROLLED_BACK: the update of iris to iris-[0-9a-f]{10} was rolled back/);
    assert.match(rolled.stderr, /iris-A-5xx/, 'the reason names the alarm');
    assert.match(rolled.stderr, /iris: rolled back to iris-/);
    assert.deepEqual(during.failed, [], 'no invocation failed during the rollback');
    const afterRollback = await until('iris to be InService', async () => {
      const ep = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
      return ep.EndpointStatus === 'InService' ? ep : undefined;
    }, { timeoutMs: 60_000, intervalMs: POLL_MS });
    assert.equal(afterRollback.EndpointConfigName, updated.EndpointConfigName, 'the endpoint serves its previous config');

    // 5. Dry run: the plan, nothing written.
    await writeFile(path.join(dir, 'model-a', 'VERSION'), '4\n');
    const dry = await deploy([...args, '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /upload\s+archive/);
    assert.match(dry.stdout, /update\s+endpoint\s+iris/);
    assert.match(dry.stdout, /dry run: nothing was changed/);
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointConfigName, updated.EndpointConfigName);
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'artifacts', Prefix: 'smkit/' }))).KeyCount, 3, 'the dry run uploaded nothing');

    // 6. Load: variant A scales out to its maximum, and back in once the load stops.
    const variantA = async (): Promise<{ count: number | undefined; status: string | undefined }> => {
      const ep = await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }));
      return { count: ep.ProductionVariants?.find((v) => v.VariantName === 'A')?.CurrentInstanceCount, status: ep.EndpointStatus };
    };
    // A variant at its maximum cannot show this load scaling it out: the load starts on 1 instance
    // at rest (the traffic of steps 3 and 4 stays under A's target, so this holds at once).
    await until('variant A at 1 instance, not scaling, before the load', async () => {
      const a = await variantA();
      return a.count === 1 && a.status === 'InService' ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: POLL_MS });
    // The scale-out is driven by the policy's high alarm, forced into ALARM as step 4 forces the
    // rollback alarm, while a load runs through it. The load alone scaled A out only when the machine
    // answered over 10 requests a second to A for three half-second minutes running: a matter of
    // speed, and at a load average of 50 it did not within two minutes. Forced, the scale-out is
    // the policy deploy put acting on A (its alarm, scalable target and variant), whatever the pace;
    // target tracking on measured load has its own tests (local-alarms-scaling, target-tracking).
    const scalingPolicies = await autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: 'endpoint/iris/variant/A' }));
    const highAlarm = scalingPolicies.ScalingPolicies?.flatMap((p) => p.Alarms ?? []).find((a) => a.AlarmName?.includes('-AlarmHigh-'))?.AlarmName;
    assert.ok(highAlarm, `A's target tracking policy has a high alarm (${JSON.stringify(scalingPolicies.ScalingPolicies?.map((p) => p.Alarms))})`);
    const load = [trafficLoop(runtime, 'iris'), trafficLoop(runtime, 'iris'), trafficLoop(runtime, 'iris')];
    // CloudWatch re-evaluates a forced alarm at its next period (half a second here): keep forcing it until A scales out.
    await until('variant A to scale out to 2 instances', async () => {
      if ((await variantA()).count === 2) return true;
      await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: highAlarm, StateValue: 'ALARM', StateReason: 'forced by the deploy test' }));
      return undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    const loadResults = await Promise.all(load.map((l) => l.stop()));
    assert.deepEqual(loadResults.flatMap((r) => r.failed), [], 'no invocation failed while scaling out');
    // A trickle far below the target scales it in (as a variant without any traffic would: its idle
    // minutes publish InvocationsPerInstance 0).
    const trickle = trafficLoop(runtime, 'iris', { pauseMs: 150 });
    await until('variant A to scale back in to 1 instance', async () => ((await variantA()).count === 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: POLL_MS });
    const trickled = await trickle.stop();
    assert.deepEqual(trickled.failed, [], 'no invocation failed while scaling in');
    assert.ok(trickled.ok > 0, 'the trickle was answered while A scaled in');

    // 7. Delete: endpoint, configs, models go; archives stay.
    const dryDelete = await deploy([...args, '--delete', '--dry-run'], env);
    assert.equal(dryDelete.code, 0, dryDelete.stderr);
    assert.match(dryDelete.stdout, /delete\s+scalable-target\s+endpoint\/iris\/variant\/A[\s\S]*delete\s+endpoint\s+iris[\s\S]*delete\s+alarm\s+iris-A-5xx/);
    assert.match(dryDelete.stdout, /dry run: nothing was deleted/);
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))).EndpointName, 'iris');
    const del = await deploy([...args, '--delete'], env);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /delete\s+endpoint\s+iris/);
    await assert.rejects(sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' })), /Could not find endpoint/);
    const models = await sagemaker.send(new ListModelsCommand({ NameContains: 'iris' }));
    assert.deepEqual(models.Models ?? [], []);
    await s3.send(new HeadObjectCommand({ Bucket: 'artifacts', Key: archives.Contents![0]!.Key! }));
    assert.deepEqual((await autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: ['endpoint/iris/variant/A'] }))).ScalableTargets, []);
    assert.deepEqual((await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['iris-A-5xx'] }))).MetricAlarms, []);
    const nothing = await deploy([...args, '--delete'], env);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /nothing to delete/);

    // 8. A model that cannot load: the endpoint ends Failed and deploy exits 1 with the service's reason.
    await writeFile(path.join(dir, 'model-a', 'model.onnx'), 'not an onnx model');
    await writeFile(file, `deploy:\n  role: arn:aws:iam::123456789012:role/SageMakerRole\n  artifacts: s3://artifacts/smkit/\n  image: smkit:local\nendpoints:\n  - name: broken\n    variants:\n      - model: ./model-a\n`);
    const broken = await deploy(args, env);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /ERR_DEPLOY_FAILED: endpoint broken failed: /);
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'broken' }))).EndpointStatus, 'Failed');
  } finally {
    await Promise.all([...loops].map((stop) => stop()));
    clients.destroy();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
