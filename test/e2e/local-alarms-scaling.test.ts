// The local SageMaker's CloudWatch alarms and Application Auto Scaling end to end: real AWS SDK v3
// clients (and the AWS CLI v2 and boto3 where installed) against `startLocalSageMaker`, real
// `smkit serve` processes as instances, one CloudWatch minute shortened to one real second.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmHistoryCommand,
  DescribeAlarmsCommand,
  GetMetricStatisticsCommand,
  ListMetricsCommand,
  PutMetricAlarmCommand,
  ResourceNotFound,
  SetAlarmStateCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  ObjectNotFoundException,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
  ValidationException,
} from '@aws-sdk/client-application-auto-scaling';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateModelCommand, DescribeEndpointCommand, SageMakerClient, waitUntilEndpointInService } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocal } from '../../src/local/control-plane/start-local.js';
import { readEndpointFile } from '../../src/endpoint-file/load.js';
import { awsThroughZygote, type AwsCommand } from '../helpers/aws-zygote.js';
import { localClientConfig, localSdkClients, type LocalSdkClients } from '../helpers/local-sdk-clients.js';
import { invocation5xxAlarm } from '../helpers/metric-alarms.js';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { settledActivities } from '../helpers/scaling-activities.js';

const ENDPOINT = 'iris-guarded';
const DIMENSIONS = [
  { Name: 'EndpointName', Value: ENDPOINT },
  { Name: 'VariantName', Value: 'AllTraffic' },
];
let local: LocalSageMakerHandle;
let work: string;
let sm: SageMakerClient;
let runtime: SageMakerRuntimeClient;
let cw: CloudWatchClient;
let aas: ApplicationAutoScalingClient;
let clients: LocalSdkClients;
const AWS_CLI = '/usr/bin/aws';
/** The AWS CLI the tests run: through a pre-imported Python when it is a Python script (test/helpers/aws-zygote.ts). */
let awsCli: AwsCommand | undefined;
/** Its start, beside the endpoint's: kept so `after` stops a zygote that started though `before` failed. */
let awsCliStarting: Promise<AwsCommand> | undefined;

before(async () => {
  awsCliStarting = existsSync(AWS_CLI) ? awsThroughZygote(AWS_CLI, process.env) : undefined;
  work = await mkdtemp(join(tmpdir(), 'smkit-guard-e2e-'));
  // The iris model with a handler that fails on request (CustomAttributes: crash -> 500).
  const model = join(work, 'model');
  await mkdir(join(model, 'code'), { recursive: true });
  await copyFile(join(REPO_ROOT, 'models', 'iris-onnx', 'model.onnx'), join(model, 'model.onnx'));
  await copyFile(join(REPO_ROOT, 'test', 'fixtures', 'handlers', 'errors', 'code', 'inference.mjs'), join(model, 'code', 'inference.mjs'));
  local = await startLocalSageMaker({
    port: 0,
    settings: { region: 'us-east-1', accountId: '111122223333' },
    metricsSettings: { secondsPerMinute: 1 },
    startupTimeoutMs: 60_000,
  });
  clients = localSdkClients(local.url);
  ({ sagemaker: sm, runtime, cloudwatch: cw, autoscaling: aas } = clients);
  await sm.send(new CreateModelCommand({ ModelName: 'iris', PrimaryContainer: { Image: 'smkit', ModelDataUrl: model, Environment: { SAGEMAKER_MODEL_SERVER_WORKERS: '1' } } }));
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'iris-1', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'iris', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: ENDPOINT, EndpointConfigName: 'iris-1' }));
  await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
  awsCli = await awsCliStarting;
});

after(async () => {
  await (awsCli ?? (await awsCliStarting?.catch(() => undefined)))?.stop();
  clients?.destroy();
  await local?.stop();
  await rm(work, { recursive: true, force: true });
});

async function invoke(customAttributes?: string): Promise<boolean> {
  try {
    await runtime.send(new InvokeEndpointCommand({ EndpointName: ENDPOINT, ContentType: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2'), ...(customAttributes ? { CustomAttributes: customAttributes } : {}) }));
    return true;
  } catch {
    return false;
  }
}

async function alarm(name: string): Promise<MetricAlarm> {
  const out = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
  assert.equal(out.MetricAlarms?.length, 1, `alarm ${name} exists`);
  return out.MetricAlarms![0]!;
}

test('an alarm on Invocation5XXErrors goes to ALARM while the container fails and back to OK (JS SDK, JSON 1.0)', async () => {
  await cw.send(new PutMetricAlarmCommand(invocation5xxAlarm('iris-5xx', ENDPOINT, 'AllTraffic', 'notBreaching')));
  const created = await alarm('iris-5xx');
  assert.equal(created.AlarmArn, 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:iris-5xx');
  assert.ok(created.StateUpdatedTimestamp instanceof Date && Math.abs(created.StateUpdatedTimestamp.getTime() - Date.now()) < 60_000);
  await until('OK without traffic (missing data is not breaching)', async () => ((await alarm('iris-5xx')).StateValue === 'OK' ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });

  // The container fails: keep failing until the alarm sees it.
  let failed = 0;
  const alarmed = await until('ALARM while invocations fail', async () => {
    const a = await alarm('iris-5xx');
    return a.StateValue === 'ALARM' ? a : undefined;
  }, {
    timeoutMs: 60_000,
    between: async () => {
      if (!(await invoke('crash'))) failed++;
    },
  });
  assert.ok(failed >= 1);
  assert.match(alarmed.StateReason!, /^Threshold Crossed: 1 datapoint \[\d+\.0 \(\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d\)\] was greater than or equal to the threshold \(1\.0\)\.$/);
  assert.equal(JSON.parse(alarmed.StateReasonData!).statistic, 'Sum');
  assert.equal((await cw.send(new DescribeAlarmsCommand({ StateValue: 'ALARM' }))).MetricAlarms?.some((a) => a.AlarmName === 'iris-5xx'), true);

  // Healthy traffic again: back to OK.
  const ok = await until('OK once invocations succeed', async () => {
    const a = await alarm('iris-5xx');
    return a.StateValue === 'OK' ? a : undefined;
  }, { timeoutMs: 60_000, between: () => invoke() });
  assert.match(ok.StateReason!, /^Threshold Crossed: /);

  // What the alarm read is also in the metrics.
  const now = Date.now();
  const stats = await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: DIMENSIONS, StartTime: new Date(now - 300_000), EndTime: new Date(now + 1000), Period: 60, Statistics: ['Sum'] }));
  assert.ok((stats.Datapoints ?? []).reduce((s, d) => s + (d.Sum ?? 0), 0) >= failed);
  assert.ok(stats.Datapoints!.every((d) => d.Timestamp instanceof Date));
  const latency = await cw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'ModelLatency', Dimensions: DIMENSIONS, StartTime: new Date(now - 300_000), EndTime: new Date(now + 1000), Period: 60, Statistics: ['Average'], ExtendedStatistics: ['p99'] }));
  assert.ok(latency.Datapoints!.length > 0 && latency.Datapoints!.every((d) => d.Unit === 'Microseconds' && d.Average! > 0 && d.ExtendedStatistics!.p99! > 0));
  const listed = await cw.send(new ListMetricsCommand({ Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: ENDPOINT }] }));
  for (const name of ['Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'InvocationModelErrors', 'InvocationsPerInstance', 'ModelLatency', 'OverheadLatency']) {
    assert.ok(listed.Metrics!.some((m) => m.MetricName === name), `ListMetrics has ${name}`);
  }
});

test('SetAlarmState forces a state; errors raise the SDK exception classes; DeleteAlarms', async () => {
  // The evaluator runs every (scaled) minute and would move a forced state back to what the data
  // says, as CloudWatch does: an alarm on a metric with no data that ignores missing data keeps it,
  // however long this loaded machine takes between SetAlarmState and DescribeAlarms.
  const idle = [{ Name: 'EndpointName', Value: 'no-traffic' }, { Name: 'VariantName', Value: 'AllTraffic' }];
  await cw.send(new PutMetricAlarmCommand({ AlarmName: 'iris-latency', Namespace: 'AWS/SageMaker', MetricName: 'ModelLatency', Dimensions: idle, ExtendedStatistic: 'p99', Period: 60, EvaluationPeriods: 3, DatapointsToAlarm: 2, Threshold: 5_000_000, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'ignore' }));
  await cw.send(new SetAlarmStateCommand({ AlarmName: 'iris-latency', StateValue: 'ALARM', StateReason: 'rehearsing a rollback' }));
  const forced = await alarm('iris-latency');
  assert.deepEqual([forced.StateValue, forced.StateReason, forced.ExtendedStatistic, forced.DatapointsToAlarm], ['ALARM', 'rehearsing a rollback', 'p99', 2]);
  const history = await cw.send(new DescribeAlarmHistoryCommand({ AlarmName: 'iris-latency', HistoryItemType: 'StateUpdate' }));
  assert.equal(history.AlarmHistoryItems?.[0]?.HistorySummary, 'Alarm updated from INSUFFICIENT_DATA to ALARM');
  assert.ok(history.AlarmHistoryItems![0]!.Timestamp instanceof Date);
  await assert.rejects(cw.send(new SetAlarmStateCommand({ AlarmName: 'no-such-alarm', StateValue: 'OK', StateReason: 'x' })), (err: unknown) => {
    assert.ok(err instanceof ResourceNotFound);
    assert.equal(err.$metadata.httpStatusCode, 404);
    assert.match(err.message, /Alarm no-such-alarm does not exist/);
    return true;
  });
  await assert.rejects(
    cw.send(new PutMetricAlarmCommand({ AlarmName: 'bad', Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Statistic: 'Sum', Period: 45, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' })),
    // ValidationError is not modelled for PutMetricAlarm: the SDK names it by the body's __type.
    (err: unknown) => (err as Error).name === 'ValidationException' && (err as Error).message === 'Period must be 10, 20, 30 or a multiple of 60',
  );
  await cw.send(new DeleteAlarmsCommand({ AlarmNames: ['iris-latency'] }));
  assert.deepEqual((await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'iris-latency' }))).MetricAlarms, []);
});

function form(params: Record<string, string>): Promise<{ status: number; xml: Record<string, any> }> {
  return fetch(local.url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams(params).toString(), signal: AbortSignal.timeout(10_000) }).then(async (res) => ({
    status: res.status,
    xml: new XMLParser({ ignoreAttributes: false }).parse(await res.text()) as Record<string, any>,
  }));
}

test('the query protocol: form-encoded requests get the XML CloudWatch documents', async () => {
  const put = await form({ Action: 'PutMetricAlarm', Version: '2010-08-01', AlarmName: 'form-alarm', Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Statistic: 'Sum', Period: '60', EvaluationPeriods: '2', Threshold: '1000', ComparisonOperator: 'GreaterThanThreshold', 'Dimensions.member.1.Name': 'EndpointName', 'Dimensions.member.1.Value': ENDPOINT, 'Dimensions.member.2.Name': 'VariantName', 'Dimensions.member.2.Value': 'AllTraffic' });
  assert.equal(put.status, 200);
  assert.equal(put.xml.PutMetricAlarmResponse['@_xmlns'], 'http://monitoring.amazonaws.com/doc/2010-08-01/');
  assert.match(put.xml.PutMetricAlarmResponse.ResponseMetadata.RequestId, /^[0-9a-f-]{36}$/);
  const described = await form({ Action: 'DescribeAlarms', Version: '2010-08-01', 'AlarmNames.member.1': 'form-alarm' });
  const member = described.xml.DescribeAlarmsResponse.DescribeAlarmsResult.MetricAlarms.member;
  assert.equal(member.AlarmName, 'form-alarm');
  assert.equal(member.EvaluationPeriods, 2);
  assert.deepEqual(member.Dimensions.member.map((d: { Name: string }) => d.Name), ['EndpointName', 'VariantName']);
  assert.match(member.StateUpdatedTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const missing = await form({ Action: 'SetAlarmState', Version: '2010-08-01', AlarmName: 'nope', StateValue: 'OK', StateReason: 'x' });
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.xml.ErrorResponse.Error, { Type: 'Sender', Code: 'ResourceNotFound', Message: 'Alarm nope does not exist.' });
  const badNumber = await form({ Action: 'PutMetricAlarm', AlarmName: 'x', Period: 'sixty' });
  assert.equal(badNumber.status, 400);
  assert.equal(badNumber.xml.ErrorResponse.Error.Code, 'ValidationError');
  assert.match(badNumber.xml.ErrorResponse.Error.Message, /'period'/);
  const unknown = await form({ Action: 'PutDashboard', Version: '2010-08-01' });
  assert.equal(unknown.xml.ErrorResponse.Error.Code, 'InvalidAction');
  for (const body of ['', 'Action', '%%%', 'Action=DescribeAlarms&AlarmNames.member.0=a', 'Action=DescribeAlarms&MaxRecords=1&MaxRecords=2', '\u0000\uffff']) {
    const res = await fetch(local.url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body, signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 400, `body ${JSON.stringify(body)}`);
    assert.match(await res.text(), /^<ErrorResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><Error><Type>Sender<\/Type><Code>\w+<\/Code><Message>.+<\/Message><\/Error><RequestId>/);
  }
  await form({ Action: 'DeleteAlarms', 'AlarmNames.member.1': 'form-alarm' });

  // The JSON 1.0 wire of the same error: __type plus the query-compatible code header.
  const json = await fetch(local.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'GraniteServiceVersion20100801.PutMetricAlarm', 'x-amzn-query-mode': 'true' },
    body: JSON.stringify({ AlarmName: 'x', Namespace: 'n', MetricName: 'm', Statistic: 'Sum', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'sometimes' }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(json.status, 400);
  assert.equal(json.headers.get('x-amzn-query-error'), 'InvalidParameterValue;Sender');
  assert.equal(((await json.json()) as { __type: string }).__type, 'InvalidParameterValueException');
});

function run(file: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local', AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '', AWS_ENDPOINT_URL: local?.url ?? '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** boto3 as Debian installs it (query protocol) and, when another python3 with boto3 is first on PATH, that one too (recent botocore sends JSON 1.0). */
const pythons = [...new Set(['/usr/bin/python3', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'python3'))].filter((p) => existsSync(p)).map((p) => realpathSync(p)))].slice(0, 2);
/**
 * The exit code of the boto3 test's script when `import boto3` fails: the test then skips. The script
 * finds that out itself instead of a `python -c 'import boto3'` before it, which started the Python
 * and imported boto3 once more (some 0.8 CPU-s, and 1.1 through a pyenv shim, per python).
 */
const NO_BOTO3 = 3;
/**
 * The script's first line of output, before it imports boto3. Without it no Python ran the script
 * (a pyenv shim with no python3 behind it exits 127, a broken interpreter fails to start): the test
 * skips then too, as the probe before it did.
 */
const PYTHON_STARTED = 'python started';

// Only the target tracking test invokes the endpoint. It waits out the fifteen (one-second) minutes
// of its scale-in while the other tests, one at a time, run the AWS CLI, boto3, smkit and a second
// local SageMaker: those do not touch its endpoint's traffic or its scaling.
describe('target tracking beside the other clients', { concurrency: true }, () => {
  async function variantCounts(): Promise<{ status: string; desired: number; current: number }> {
    const d = await sm.send(new DescribeEndpointCommand({ EndpointName: ENDPOINT }));
    const v = d.ProductionVariants!.find((x) => x.VariantName === 'AllTraffic')!;
    return { status: d.EndpointStatus!, desired: v.DesiredInstanceCount!, current: v.CurrentInstanceCount! };
  }

  test('target tracking on InvocationsPerInstance scales the variant out under load and back in, visible in DescribeEndpoint', async () => {
    const key = { ServiceNamespace: 'sagemaker' as const, ResourceId: `endpoint/${ENDPOINT}/variant/AllTraffic`, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const };
    await assert.rejects(aas.send(new RegisterScalableTargetCommand({ ...key, ResourceId: 'endpoint/nope/variant/AllTraffic', MinCapacity: 1, MaxCapacity: 2 })), (err: unknown) => err instanceof ValidationException && /nope/.test(err.message));
    await assert.rejects(aas.send(new DeleteScalingPolicyCommand({ ...key, PolicyName: 'none' })), (err: unknown) => err instanceof ObjectNotFoundException);
    const registered = await aas.send(new RegisterScalableTargetCommand({ ...key, MinCapacity: 1, MaxCapacity: 2 }));
    assert.match(registered.ScalableTargetARN!, /^arn:aws:application-autoscaling:us-east-1:111122223333:scalable-target\//);
    const targets = await aas.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [key.ResourceId] }));
    assert.deepEqual([targets.ScalableTargets![0]!.MinCapacity, targets.ScalableTargets![0]!.MaxCapacity], [1, 2]);
    assert.ok(targets.ScalableTargets![0]!.CreationTime instanceof Date);
    const policy = await aas.send(
      new PutScalingPolicyCommand({
        ...key,
        PolicyName: 'invocations-per-instance',
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' }, ScaleOutCooldown: 60, ScaleInCooldown: 60 },
      }),
    );
    assert.equal(policy.Alarms!.length, 2);
    const policies = await aas.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker', ResourceId: key.ResourceId }));
    assert.equal(policies.ScalingPolicies![0]!.TargetTrackingScalingPolicyConfiguration!.TargetValue, 5);
    const high = await alarm(policy.Alarms!.find((a) => a.AlarmName!.includes('AlarmHigh'))!.AlarmName!);
    assert.deepEqual([high.MetricName, high.Statistic, high.Threshold, high.EvaluationPeriods], ['InvocationsPerInstance', 'Sum', 5, 3]);

    // Load far above 5 invocations per instance per (one-second) minute: the variant scales out to its maximum.
    const out = await until('scale-out to 2 instances', async () => ((await variantCounts()).desired === 2 ? true : undefined), { timeoutMs: 90_000, between: () => Promise.all([invoke(), invoke()]) });
    assert.ok(out);
    await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
    assert.deepEqual(await variantCounts(), { status: 'InService', desired: 2, current: 2 });

    // A trickle under 90 % of the target for 15 minutes: back to one instance.
    // Two paced loops, so that a slow invocation on a loaded machine does not leave a minute empty.
    let trickling = true;
    const trickle = [0, 1].map(async () => {
      while (trickling) {
        await invoke();
        await new Promise((r) => setTimeout(r, 400));
      }
    });
    try {
      // 200 ms between describes: the scale-in takes fifteen (one-second) minutes; finer polls only burn CPU.
      await until('scale-in to 1 instance', async () => ((await variantCounts()).desired === 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 200 });
    } finally {
      trickling = false;
      await Promise.all(trickle);
    }
    await waitUntilEndpointInService({ client: sm, minDelay: 1, maxDelay: 1, maxWaitTime: 90 }, { EndpointName: ENDPOINT });
    assert.deepEqual(await variantCounts(), { status: 'InService', desired: 1, current: 1 });
    const activities = await settledActivities(aas, key.ResourceId);
    assert.deepEqual(activities.map((a) => [a.Description, a.StatusCode]), [
      ['Setting desired instance count to 1.', 'Successful'],
      ['Setting desired instance count to 2.', 'Successful'],
    ]);

    await aas.send(new DeregisterScalableTargetCommand(key));
    assert.deepEqual((await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'TargetTracking-' }))).MetricAlarms, []);
  });

  describe('the AWS CLI, boto3, an endpoint file and an invalid setting', { concurrency: 1 }, () => {
    test('the AWS CLI v2 puts, describes, sets and deletes alarms (query protocol)', { skip: existsSync(AWS_CLI) ? false : 'the AWS CLI v2 is not installed' }, async () => {
      // Each `aws` command costs CPU of its own even through the zygote, so the calls that do not depend on each other run side by side.
      const cloudWatch = async (): Promise<void> => {
        const put = await run(awsCli!.bin, ['cloudwatch', 'put-metric-alarm', '--endpoint-url', local.url, '--alarm-name', 'cli-alarm', '--namespace', 'AWS/SageMaker', '--metric-name', 'Invocation4XXErrors', '--statistic', 'Average', '--period', '60', '--evaluation-periods', '1', '--threshold', '0.5', '--comparison-operator', 'GreaterThanThreshold', '--dimensions', `Name=EndpointName,Value=${ENDPOINT}`, 'Name=VariantName,Value=AllTraffic', '--treat-missing-data', 'notBreaching']);
        assert.equal(put.code, 0, put.stderr);
        const [described, set] = await Promise.all([
          run(awsCli!.bin, ['cloudwatch', 'describe-alarms', '--endpoint-url', local.url, '--alarm-names', 'cli-alarm', '--output', 'json']),
          run(awsCli!.bin, ['cloudwatch', 'set-alarm-state', '--endpoint-url', local.url, '--alarm-name', 'cli-alarm', '--state-value', 'ALARM', '--state-reason', 'from the CLI']),
        ]);
        assert.equal(described.code, 0, described.stderr);
        const alarms = JSON.parse(described.stdout).MetricAlarms;
        assert.deepEqual([alarms[0].AlarmName, alarms[0].Threshold, alarms[0].TreatMissingData, alarms[0].Dimensions.length], ['cli-alarm', 0.5, 'notBreaching', 2]);
        assert.equal(set.code, 0, set.stderr);
        // The alarm is evaluated every (one-second) minute, so by the time this looks it may be back
        // at OK: the history shows the CLI's set either way.
        if ((await alarm('cli-alarm')).StateValue !== 'ALARM') {
          const updates = (await cw.send(new DescribeAlarmHistoryCommand({ AlarmName: 'cli-alarm', HistoryItemType: 'StateUpdate' }))).AlarmHistoryItems ?? [];
          const states = updates.map((h) => JSON.parse(h.HistoryData ?? '{}').newState as { stateValue?: string; stateReason?: string });
          assert.ok(states.some((s) => s.stateValue === 'ALARM' && s.stateReason === 'from the CLI'), JSON.stringify(updates));
        }
        const deleted = await run(awsCli!.bin, ['cloudwatch', 'delete-alarms', '--endpoint-url', local.url, '--alarm-names', 'cli-alarm']);
        assert.equal(deleted.code, 0, deleted.stderr);
        assert.deepEqual((await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['cli-alarm'] }))).MetricAlarms, []);
      };
      const missingAlarm = async (): Promise<void> => {
        const missing = await run(awsCli!.bin, ['cloudwatch', 'set-alarm-state', '--endpoint-url', local.url, '--alarm-name', 'nope', '--state-value', 'OK', '--state-reason', 'x']);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /\(ResourceNotFound\) when calling the SetAlarmState operation: Alarm nope does not exist\./);
      };
      // Application Auto Scaling from the CLI (JSON 1.1): the service's exception names reach it.
      const autoScaling = async (): Promise<void> => {
        const [refused, targets] = await Promise.all([
          run(awsCli!.bin, ['application-autoscaling', 'register-scalable-target', '--endpoint-url', local.url, '--service-namespace', 'sagemaker', '--resource-id', 'endpoint/nope/variant/AllTraffic', '--scalable-dimension', 'sagemaker:variant:DesiredInstanceCount', '--min-capacity', '1', '--max-capacity', '2']),
          run(awsCli!.bin, ['application-autoscaling', 'describe-scalable-targets', '--endpoint-url', local.url, '--service-namespace', 'sagemaker', '--output', 'json']),
        ]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /\(ValidationException\) when calling the RegisterScalableTarget operation: .*nope/);
        assert.equal(targets.code, 0, targets.stderr);
        assert.ok(Array.isArray(JSON.parse(targets.stdout).ScalableTargets));
      };
      await Promise.all([cloudWatch(), missingAlarm(), autoScaling()]);
    });

    for (const python of pythons.length > 0 ? pythons : ['/usr/bin/python3']) {
    test(`boto3 (${python}) puts, describes, sets and deletes alarms and raises its exception classes`, async (t) => {
      const script = `
import json, os, sys
print('${PYTHON_STARTED}', flush=True)
try:
    import boto3
except Exception:
    sys.exit(${NO_BOTO3})
cw = boto3.client('cloudwatch', endpoint_url=os.environ['AWS_ENDPOINT_URL'])
cw.put_metric_alarm(AlarmName='boto-alarm', Namespace='AWS/SageMaker', MetricName='Invocations', Statistic='Sum', Period=60,
    EvaluationPeriods=1, Threshold=100.0, ComparisonOperator='GreaterThanThreshold',
    Dimensions=[{'Name': 'EndpointName', 'Value': '${ENDPOINT}'}, {'Name': 'VariantName', 'Value': 'AllTraffic'}])
cw.set_alarm_state(AlarmName='boto-alarm', StateValue='ALARM', StateReason='from boto3')
a = cw.describe_alarms(AlarmNames=['boto-alarm'])['MetricAlarms'][0]
try:
    cw.set_alarm_state(AlarmName='nope', StateValue='OK', StateReason='x')
    caught = None
except cw.exceptions.ResourceNotFound as e:
    caught = e.response['Error']['Code']
cw.delete_alarms(AlarmNames=['boto-alarm'])
left = cw.describe_alarms(AlarmNames=['boto-alarm'])['MetricAlarms']
print(json.dumps({'state': a['StateValue'], 'reason': a['StateReason'], 'updated': a['StateUpdatedTimestamp'].isoformat(), 'caught': caught, 'left': len(left)}))
      `;
      const out = await run(python, ['-c', script]);
      const [started, ...printed] = out.stdout.split('\n');
      if (started !== PYTHON_STARTED || !existsSync(python)) {
        t.skip(`${python} does not start (exit code ${out.code}: ${out.stderr.trim().split('\n').at(-1) ?? ''})`);
        return;
      }
      if (out.code === NO_BOTO3) {
        t.skip(`boto3 is not installed for ${python}`);
        return;
      }
      assert.equal(out.code, 0, out.stderr);
      const result = JSON.parse(printed.join('\n'));
      assert.deepEqual({ ...result, updated: undefined }, { state: 'ALARM', reason: 'from boto3', updated: undefined, caught: 'ResourceNotFound', left: 0 });
      assert.match(result.updated, /^\d{4}-\d\d-\d\dT/);
    });
    }

    test('endpoints from an endpoint file publish the same metrics to the local CloudWatch', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'smkit-guard-file-'));
      const yaml = join(dir, 'endpoints.yaml');
      await writeFile(yaml, `endpoints:\n  - name: from-file\n    variants:\n      - name: AllTraffic\n        model: ${join(REPO_ROOT, 'models', 'iris-onnx')}\n        env:\n          SAGEMAKER_MODEL_SERVER_WORKERS: "1"\n`);
      const run = await startLocal(await readEndpointFile(yaml), { port: 0, startupTimeoutMs: 60_000 }, { metricsSettings: { secondsPerMinute: 1 } });
      const fileRuntime = new SageMakerRuntimeClient(localClientConfig(run.url));
      const fileCw = new CloudWatchClient(localClientConfig(run.url));
      try {
        for (let i = 0; i < 3; i++) await fileRuntime.send(new InvokeEndpointCommand({ EndpointName: 'from-file', ContentType: 'text/csv', Body: Buffer.from('5.1,3.5,1.4,0.2') }));
        const now = Date.now();
        const stats = await fileCw.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/SageMaker', MetricName: 'Invocations', Dimensions: [{ Name: 'EndpointName', Value: 'from-file' }, { Name: 'VariantName', Value: 'AllTraffic' }], StartTime: new Date(now - 60_000), EndTime: new Date(now + 1000), Period: 60, Statistics: ['Sum'] }));
        assert.equal((stats.Datapoints ?? []).reduce((s, d) => s + (d.Sum ?? 0), 0), 3);
      } finally {
        fileRuntime.destroy();
        fileCw.destroy();
        await run.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('smkit local stops at start-up on an invalid SMKIT_LOCAL_SECONDS_PER_MINUTE, naming it, and leaves no work folder', async () => {
      const scratch = await mkdtemp(join(tmpdir(), 'smkit-guard-invalid-'));
      try {
        const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
          execFile(process.execPath, [join(REPO_ROOT, 'bin', 'smkit.js'), 'local', '--port', '0'], { env: { ...process.env, SMKIT_LOCAL_SECONDS_PER_MINUTE: 'fast', TMPDIR: scratch }, timeout: 60_000 }, (err, _stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
          );
        });
        assert.equal(out.code, 1);
        assert.match(out.stderr, /ERR_CONFIG_INVALID: SMKIT_LOCAL_SECONDS_PER_MINUTE="fast" is invalid: expected a decimal number from 0\.1 to 60/);
        // Node 22+ may keep its compile cache there (node-compile-cache): that is Node's, not a work folder.
        assert.deepEqual((await readdir(scratch)).filter((name) => name.startsWith('smkit-')), [], 'the refused start-up left no work folder');
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  });
});
