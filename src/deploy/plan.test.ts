import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpointFile } from '../endpoint-file/schema.js';
import type { ContainerArtifact } from './artifacts.js';
import { contentHash, desiredEndpoint, hashedName, type DesiredEndpoint } from './desired.js';
import type { CurrentState } from './inspect.js';
import { formatPlan, planEndpoint, planIsEmpty } from './plan.js';
import { describeProgress } from './progress.js';

const ROLE = 'arn:aws:iam::123456789012:role/R';

function desired(variantA: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): { d: DesiredEndpoint; artifacts: ContainerArtifact[] } {
  const cfg = parseEndpointFile(
    {
      endpoints: [
        {
          name: 'iris',
          variants: [{ name: 'A', model: 'a', autoscaling: { minCapacity: 1, maxCapacity: 3, targetInvocationsPerInstance: 70 }, ...variantA }],
          alarms: [{ name: 'iris-5xx', metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanOrEqualToThreshold', periodSeconds: 60, evaluationPeriods: 1 }],
          ...extra,
        },
      ],
    },
    (p) => `/m/${p}`,
    () => Buffer.alloc(0),
  );
  const artifact: ContainerArtifact = { source: '/m/a', bucket: 'b', key: 'k/model.tar.gz', uri: 's3://b/k/model.tar.gz', files: [{ file: '/tmp/a.tar.gz', bytes: 10, sha256: 'x', key: 'k/model.tar.gz' }] };
  return { d: desiredEndpoint(cfg.endpoints[0]!, { artifacts: new Map([['/m/a', artifact]]), role: ROLE, image: 'img:1' }), artifacts: [artifact] };
}

/** The state the services would report right after `d` was deployed. */
function deployedState(d: DesiredEndpoint): CurrentState {
  const s = d.scaling[0]!;
  const stepArn = 'arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/sagemaker/endpoint/iris/variant/A:policyName/step';
  const policies = [s.policy, ...(s.fromZero ? [s.fromZero.policy] : [])].map((p) => ({ ...p, PolicyARN: p.PolicyType === 'StepScaling' ? stepArn : 'p', CreationTime: new Date() }) as never);
  const alarms = [...d.alarms, ...(s.fromZero ? [{ ...s.fromZero.alarm, AlarmActions: [stepArn] }] : [])];
  return {
    presentObjects: new Set(['b/k/model.tar.gz']),
    existingModels: new Set(d.models.map((m) => m.name)),
    configExists: true,
    endpoint: { status: 'InService', configName: d.config.name },
    alarms: new Map(alarms.map((a) => [a.AlarmName!, { ...a, StateValue: 'OK' as const }])),
    targets: new Map([[s.resourceId, { ...s.target, ServiceNamespace: 'sagemaker' as const, ResourceId: s.resourceId, ScalableDimension: 'sagemaker:variant:DesiredInstanceCount' as const, MinCapacity: s.target.MinCapacity!, MaxCapacity: s.target.MaxCapacity!, RoleARN: 'r', CreationTime: new Date() }]]),
    policies: new Map([[s.resourceId, policies]]),
  };
}

test('names are content hashes: the same definition gives the same name, any change a new one, within 63 characters', () => {
  const a = desired().d;
  const b = desired().d;
  assert.equal(a.config.name, b.config.name);
  assert.equal(a.models[0]!.name, b.models[0]!.name);
  assert.match(a.models[0]!.name, /^iris-A-[0-9a-f]{10}$/);
  const bigger = desired({ instanceCount: 2 }).d;
  assert.equal(bigger.models[0]!.name, a.models[0]!.name, 'the model does not change with the instance count');
  assert.notEqual(bigger.config.name, a.config.name, 'the config does');
  assert.equal(contentHash({ b: 1, a: [1, { d: 2, c: 3 }] }), contentHash({ a: [1, { c: 3, d: 2 }], b: 1 }), 'key order does not matter');
  const long = hashedName(`${'e'.repeat(60)}-${'v'.repeat(30)}`, 'abcdef0123');
  assert.equal(long.length, 63);
  assert.match(long, /^e+-[0-9a-f]{6}-abcdef0123$/);
  assert.equal(hashedName('iris-A', 'abcdef0123'), 'iris-A-abcdef0123', 'a base that fits is kept whole');
});

test('names cut to 63 characters stay apart: variants of a long endpoint, long endpoints with a common start', () => {
  const long = `recommendation-ranking-model-production-us-east-1-${'x'.repeat(8)}`;
  const cfg = parseEndpointFile(
    {
      endpoints: ['1', '2'].map((n) => ({ name: `${long}${n}`, variants: [{ name: 'A', model: 'a' }, { name: 'B', model: 'a' }] })),
    },
    (p) => `/m/${p}`,
    () => Buffer.alloc(0),
  );
  const artifact: ContainerArtifact = { source: '/m/a', bucket: 'b', key: 'k/model.tar.gz', uri: 's3://b/k/model.tar.gz', files: [{ file: '/tmp/a.tar.gz', bytes: 10, sha256: 'x', key: 'k/model.tar.gz' }] };
  const ds = cfg.endpoints.map((e) => desiredEndpoint(e, { artifacts: new Map([['/m/a', artifact]]), role: ROLE, image: 'img:1' }));
  const models = ds.flatMap((d) => d.models.map((m) => m.name));
  assert.equal(new Set(models).size, 4, `four distinct model names: ${models.join(', ')}`);
  assert.equal(new Set(ds.map((d) => d.config.name)).size, 2, 'two distinct config names');
  for (const name of [...models, ...ds.map((d) => d.config.name)]) {
    assert.ok(name.length <= 63, name);
    assert.match(name, /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, name);
  }
  const fresh = planEndpoint(ds[0]!, [artifact], { presentObjects: new Set(), existingModels: new Set(), configExists: false, alarms: new Map(), targets: new Map(), policies: new Map() });
  assert.equal(new Set(fresh.createModels.map((m) => m.name)).size, 2, 'no model is created twice');
});

test('a model name is one endpoint\'s even where <endpoint>-<variant> reads the same (endpoint fraud-v2, variant canary; endpoint fraud, variant v2-canary)', () => {
  const cfg = parseEndpointFile(
    {
      endpoints: [
        { name: 'fraud-v2', variants: [{ name: 'canary', model: 'a' }] },
        { name: 'fraud', variants: [{ name: 'v2-canary', model: 'a' }] },
      ],
    },
    (p) => `/m/${p}`,
    () => Buffer.alloc(0),
  );
  const artifact: ContainerArtifact = { source: '/m/a', bucket: 'b', key: 'k/model.tar.gz', uri: 's3://b/k/model.tar.gz', files: [{ file: '/tmp/a.tar.gz', bytes: 10, sha256: 'x', key: 'k/model.tar.gz' }] };
  const [plain, hyphenated] = cfg.endpoints.map((e) => desiredEndpoint(e, { artifacts: new Map([['/m/a', artifact]]), role: ROLE, image: 'img:1' }).models[0]!);
  assert.notEqual(plain!.name, hyphenated!.name);
  assert.match(hyphenated!.name, /^fraud-v2-canary-[0-9a-f]{10}$/);
  const { ModelName, ...body } = plain!.input;
  assert.equal(ModelName, `fraud-v2-canary-${contentHash(body)}`, 'a variant name without a hyphen keeps the name of its definition alone');
});

test('a first deploy creates everything; a second with nothing changed plans nothing', () => {
  const { d, artifacts } = desired();
  const fresh = planEndpoint(d, artifacts, { presentObjects: new Set(), existingModels: new Set(), configExists: false, alarms: new Map(), targets: new Map(), policies: new Map() });
  assert.deepEqual(fresh.items.map((i) => `${i.action} ${i.kind}`), ['upload archive', 'create model', 'create endpoint-config', 'create alarm', 'create endpoint', 'create scalable-target', 'create scaling-policy']);
  assert.equal(fresh.endpoint, 'create');
  const same = planEndpoint(d, artifacts, deployedState(d));
  assert.ok(planIsEmpty(same), formatPlan(same));
  assert.match(formatPlan(same), /no changes/);
});

test('an update deregisters autoscaling of a variant whose instance type changes, and cleans up the superseded config and model', () => {
  const before = desired().d;
  const { d, artifacts } = desired({ instanceType: 'ml.c5.xlarge', env: { X: 1 } });
  const state: CurrentState = {
    ...deployedState(before),
    existingModels: new Set(),
    configExists: false,
    currentConfig: { name: before.config.name, variants: [{ name: 'A', modelName: before.models[0]!.name, instanceType: 'ml.m5.large' }] },
  };
  const plan = planEndpoint(d, artifacts, state);
  assert.equal(plan.endpoint, 'update');
  assert.deepEqual(plan.deregister, ['endpoint/iris/variant/A']);
  assert.equal(plan.registerTargets.length, 1, 're-registered after the update');
  assert.deepEqual(plan.cleanup, { configs: [before.config.name], models: [before.models[0]!.name] });
  const lines = formatPlan(plan);
  assert.match(lines, /delete\s+scalable-target\s+endpoint\/iris\/variant\/A\s+\(before the endpoint changes\)/);
  assert.match(lines, /update\s+endpoint\s+iris\s+\(config iris-\w+ → iris-\w+; blue\/green, all at once\)/);
});

test('changed alarms and scaling are updates; a Failed endpoint is recreated; a busy one is refused', () => {
  const { d, artifacts } = desired();
  const state = deployedState(d);
  const changed = desired({ autoscaling: { minCapacity: 1, maxCapacity: 5, targetInvocationsPerInstance: 40 } }, {
    alarms: [{ name: 'iris-5xx', metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 5, comparison: 'GreaterThanOrEqualToThreshold', periodSeconds: 60, evaluationPeriods: 1 }],
  }).d;
  const plan = planEndpoint(changed, artifacts, state);
  assert.deepEqual(plan.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`), ['update alarm', 'update scalable-target', 'update scaling-policy']);
  assert.equal(plan.endpoint, 'unchanged');
  const failed = planEndpoint(d, artifacts, { ...state, endpoint: { status: 'Failed', configName: d.config.name, failureReason: 'ping failed' } });
  assert.equal(failed.endpoint, 'recreate');
  assert.match(formatPlan(failed), /was Failed \(ping failed\)/);
  assert.throws(() => planEndpoint(d, artifacts, { ...state, endpoint: { status: 'Updating', configName: d.config.name } }), (e: Error & { code?: string }) => e.code === 'ERR_DEPLOY_FAILED' && /is Updating; wait/.test(e.message));
});

test('progress lines show each pending variant stage, bake time left and weights', () => {
  const start = new Date(10_000);
  const line = describeProgress(
    {
      $metadata: {},
      EndpointName: 'iris',
      EndpointStatus: 'Updating',
      PendingDeploymentSummary: {
        EndpointConfigName: 'c',
        ProductionVariants: [{ VariantName: 'A', CurrentInstanceCount: 1, DesiredInstanceCount: 2, VariantStatus: [{ Status: 'Baking', StartTime: start, StatusMessage: '50% of traffic on the new fleet' }] }],
      },
    } as never,
    30,
    22_000,
  );
  assert.equal(line, 'iris: Updating | A Baking (bake time left 18 s): 50% of traffic on the new fleet, instances 1/2');
  assert.equal(
    describeProgress({ $metadata: {}, EndpointName: 'iris', EndpointStatus: 'InService', ProductionVariants: [{ VariantName: 'A', CurrentWeight: 1, CurrentInstanceCount: 2 }] } as never),
    'iris: InService | A weight 1, instances 2',
  );
});

test('asyncInference becomes the config\'s AsyncInferenceConfig (a change gives a new config); deploy refuses local folders for it', () => {
  const plain = desired().d;
  const backlog = { autoscaling: { minCapacity: 1, maxCapacity: 3, targetBacklogPerInstance: 5 } };
  const asynchronous = desired(backlog, { asyncInference: { outputPath: 's3://b/out/', maxConcurrentInvocationsPerInstance: 2 } }).d;
  assert.deepEqual(asynchronous.config.input.AsyncInferenceConfig, { OutputConfig: { S3OutputPath: 's3://b/out/' }, ClientConfig: { MaxConcurrentInvocationsPerInstance: 2 } });
  assert.equal(plain.config.input.AsyncInferenceConfig, undefined);
  assert.notEqual(asynchronous.config.name, plain.config.name);
  assert.throws(
    () => desired(backlog, { asyncInference: { outputPath: 's3://b/out/', failurePath: 'failed' } }),
    (err: Error & { code?: string }) => err.code === 'ERR_DEPLOY_CONFIG' && /asyncInference\.failurePath must be an s3:\/\/ URI to deploy \(got \/m\/failed\)/.test(err.message),
  );
});

test('a file that drops asyncInference from an asynchronous endpoint is refused when planned (SageMaker refuses the UpdateEndpoint): delete and re-create', () => {
  const backlog = { autoscaling: { minCapacity: 1, maxCapacity: 3, targetBacklogPerInstance: 5 } };
  const before = desired(backlog, { asyncInference: { outputPath: 's3://b/out/' } }).d;
  const { d, artifacts } = desired();
  const state = (asynchronous: boolean): CurrentState => ({
    ...deployedState(d),
    configExists: false,
    endpoint: { status: 'InService', configName: before.config.name },
    currentConfig: { name: before.config.name, variants: [{ name: 'A', modelName: before.models[0]!.name, instanceType: 'ml.m5.large' }], asynchronous },
  });
  assert.throws(
    () => planEndpoint(d, artifacts, state(true)),
    (err: Error & { code?: string }) =>
      err.code === 'ERR_DEPLOY_CONFIG' && err.message.startsWith(`iris: the endpoint file has no asyncInference, but endpoint iris is asynchronous (config ${before.config.name})`) && /Delete the endpoint \(smkit deploy --delete\) and run smkit deploy again/.test(err.message),
  );
  assert.equal(planEndpoint(d, artifacts, state(false)).endpoint, 'update', 'a real-time endpoint updates');
  assert.equal(planEndpoint(d, artifacts, { ...state(true), endpoint: { status: 'Failed', configName: before.config.name } }).endpoint, 'recreate', 'a Failed one is re-created, not updated');
  const stillAsync = desired(backlog, { asyncInference: { outputPath: 's3://b/out2/' } });
  assert.equal(planEndpoint(stillAsync.d, stillAsync.artifacts, state(true)).endpoint, 'update', 'another asynchronous config updates');
});

test('a variant renamed in the file with a blue/green or rolling deploymentConfig is refused when planned (the update must keep the variant names); without one it updates', () => {
  const before = desired().d;
  const routing = { trafficRoutingConfiguration: { type: 'ALL_AT_ONCE', waitIntervalInSeconds: 0 } };
  const state = (variants: readonly string[], shadow?: string): CurrentState => ({
    ...deployedState(before),
    configExists: false,
    currentConfig: { name: before.config.name, variants: [...variants.map((name) => ({ name, modelName: 'm', instanceType: 'ml.m5.large' })), ...(shadow ? [{ name: shadow, modelName: 'm', shadow: true as const }] : [])] },
  });
  const plan = (variant: Record<string, unknown>, deploymentConfig?: Record<string, unknown>, current = state(['A'])) => {
    const { d, artifacts } = desired({ instanceCount: 2, ...variant }, deploymentConfig ? { deploymentConfig } : {});
    return planEndpoint(d, artifacts, current);
  };
  for (const [deploymentConfig, policy] of [[{ blueGreenUpdatePolicy: routing }, 'blueGreenUpdatePolicy'], [{ rollingUpdatePolicy: { maximumBatchSize: { type: 'INSTANCE_COUNT', value: 1 }, waitIntervalInSeconds: 0 } }, 'rollingUpdatePolicy']] as const) {
    assert.throws(
      () => plan({ name: 'B' }, deploymentConfig),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_DEPLOY_CONFIG' &&
        err.message.startsWith(`iris: the endpoint file's variants [B] are not the endpoint's [A] (config ${before.config.name}), and its deploymentConfig has a ${policy}: a blue/green or rolling deployment keeps the variant names`) &&
        /delete the endpoint \(smkit deploy --delete\)/.test(err.message),
      policy,
    );
    assert.equal(plan({}, deploymentConfig).endpoint, 'update', `${policy}: the same name updates`);
    assert.equal(plan({}, deploymentConfig, state(['A'], 'S')).endpoint, 'update', `${policy}: a shadow variant of the old config is not a production variant`);
  }
  assert.equal(plan({ name: 'B' }).endpoint, 'update', 'no update policy: all at once, a rename allowed');
  assert.equal(plan({ name: 'B' }, { autoRollbackConfiguration: { alarms: [{ alarmName: 'iris-5xx' }] } }).endpoint, 'update', 'alarms alone are no update policy');
});

test('an asynchronous variant that scales from zero: a backlog target, the step policy and the alarm that invokes it; dropping it deletes both', () => {
  const asyncEndpoint = { asyncInference: { outputPath: 's3://b/out/' } };
  const { d, artifacts } = desired({ autoscaling: { minCapacity: 0, maxCapacity: 2, targetBacklogPerInstance: 5 } }, asyncEndpoint);
  const s = d.scaling[0]!;
  assert.equal(s.target.MinCapacity, 0);
  assert.equal(s.policy.PolicyName, 'iris-A-backlog-per-instance');
  assert.deepEqual(s.policy.TargetTrackingScalingPolicyConfiguration, {
    TargetValue: 5,
    CustomizedMetricSpecification: { MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'iris' }], Statistic: 'Average' },
  });
  assert.deepEqual(s.fromZero?.policy.StepScalingPolicyConfiguration, { AdjustmentType: 'ChangeInCapacity', MetricAggregationType: 'Average', Cooldown: 300, StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }] });
  assert.equal(s.fromZero?.alarm.MetricName, 'HasBacklogWithoutCapacity');
  assert.equal(s.fromZero?.alarm.ComparisonOperator, 'GreaterThanOrEqualToThreshold');

  const fresh = planEndpoint(d, artifacts, { presentObjects: new Set(), existingModels: new Set(), configExists: false, alarms: new Map(), targets: new Map(), policies: new Map() });
  assert.deepEqual(fresh.items.slice(-4).map((i) => `${i.action} ${i.kind} ${i.name}`), [
    'create scalable-target endpoint/iris/variant/A',
    'create scaling-policy iris-A-backlog-per-instance',
    'create scaling-policy iris-A-scale-from-zero',
    'create alarm iris-A-backlog-without-capacity',
  ]);
  assert.deepEqual(fresh.putPolicies.map((p) => p.PolicyName), ['iris-A-backlog-per-instance', 'iris-A-scale-from-zero']);
  assert.deepEqual(fresh.putScalingAlarms.map((a) => `${a.alarm.AlarmName} → ${a.policyName}`), ['iris-A-backlog-without-capacity → iris-A-scale-from-zero']);

  const deployed = deployedState(d);
  const same = planEndpoint(d, artifacts, deployed);
  assert.ok(planIsEmpty(same), formatPlan(same));

  // An alarm that no longer names the policy's ARN (the policy was put again elsewhere) is put again.
  const staleAlarm = new Map(deployed.alarms);
  staleAlarm.set('iris-A-backlog-without-capacity', { ...staleAlarm.get('iris-A-backlog-without-capacity')!, AlarmActions: ['arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:old'] });
  const stale = planEndpoint(d, artifacts, { ...deployed, alarms: staleAlarm });
  assert.deepEqual(stale.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`), ['update alarm']);

  // Back to a minimum of one: the step policy and the alarm go (an asynchronous endpoint publishes
  // no InvocationsPerInstance, so it keeps scaling on its backlog).
  const back = desired({ autoscaling: { minCapacity: 1, maxCapacity: 2, targetBacklogPerInstance: 5 } }, asyncEndpoint).d;
  const plan = planEndpoint(back, artifacts, deployed);
  assert.deepEqual(plan.putPolicies.map((p) => p.PolicyName), []);
  assert.deepEqual(plan.deletePolicies.map((p) => p.policyName).sort(), ['iris-A-scale-from-zero']);
  assert.deepEqual(plan.deleteAlarms, ['iris-A-backlog-without-capacity']);
  assert.deepEqual(plan.putScalingAlarms, []);
  assert.match(formatPlan(plan), /delete\s+alarm\s+iris-A-backlog-without-capacity/);

  // A real-time endpoint in its place scales on invocations: the backlog and step policies and the alarm go.
  const realTime = planEndpoint(desired({ autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 70 } }).d, artifacts, deployed);
  assert.deepEqual(realTime.putPolicies.map((p) => p.PolicyName), ['iris-A-invocations-per-instance']);
  assert.deepEqual(realTime.deletePolicies.map((p) => p.policyName).sort(), ['iris-A-backlog-per-instance', 'iris-A-scale-from-zero']);
  assert.deepEqual(realTime.deleteAlarms, ['iris-A-backlog-without-capacity']);
});

test('look-alike endpoints (fraud-v2/canary, fraud/v2-canary) that scale from zero get two alarms; the old shared name is deleted only when it watches this endpoint', () => {
  const scaleFromZero = (endpoint: string, variant: string): DesiredEndpoint => {
    const cfg = parseEndpointFile(
      { endpoints: [{ name: endpoint, asyncInference: { outputPath: 's3://b/out/' }, variants: [{ name: variant, model: 'a', autoscaling: { minCapacity: 0, maxCapacity: 2, targetBacklogPerInstance: 5 } }] }] },
      (p) => `/m/${p}`,
      () => Buffer.alloc(0),
    );
    const artifact: ContainerArtifact = { source: '/m/a', bucket: 'b', key: 'k/model.tar.gz', uri: 's3://b/k/model.tar.gz', files: [] };
    return desiredEndpoint(cfg.endpoints[0]!, { artifacts: new Map([['/m/a', artifact]]), role: ROLE, image: 'img:1' });
  };
  const alarmOf = (d: DesiredEndpoint): string => d.scaling[0]!.fromZero!.alarm.AlarmName!;
  const plain = scaleFromZero('fraud-v2', 'canary');
  const hyphenated = scaleFromZero('fraud', 'v2-canary');
  assert.equal(alarmOf(plain), 'fraud-v2-canary-backlog-without-capacity', 'a variant without a hyphen keeps its alarm name');
  assert.match(alarmOf(hyphenated), /^fraud-v2-canary-backlog-without-capacity-[0-9a-f]{10}$/);
  assert.notEqual(alarmOf(hyphenated), alarmOf(plain));
  assert.equal(alarmOf(scaleFromZero('fraud', 'v2-canary')), alarmOf(hyphenated), 'the same endpoint and variant, the same name');
  assert.notEqual(alarmOf(scaleFromZero('fraud-v', '2-canary')), alarmOf(hyphenated));

  // fraud was deployed before the hash: its alarm has the old name, which fraud-v2's can have too.
  const legacy = 'fraud-v2-canary-backlog-without-capacity';
  const state = (watching: string): CurrentState => ({
    presentObjects: new Set(),
    existingModels: new Set(),
    configExists: true,
    endpoint: { status: 'InService', configName: hyphenated.config.name },
    alarms: new Map([[legacy, { AlarmName: legacy, Dimensions: [{ Name: 'EndpointName', Value: watching }] }]]),
    targets: new Map(),
    policies: new Map(),
  });
  const own = planEndpoint(hyphenated, [], state('fraud'));
  assert.deepEqual(own.deleteAlarms, [legacy]);
  assert.deepEqual(own.putScalingAlarms.map((a) => a.alarm.AlarmName), [alarmOf(hyphenated)]);
  assert.match(formatPlan(own), /delete\s+alarm\s+fraud-v2-canary-backlog-without-capacity\s+\(the old name of fraud-v2-canary-backlog-without-capacity-[0-9a-f]{10}/);
  assert.deepEqual(planEndpoint(hyphenated, [], state('fraud-v2')).deleteAlarms, [], "fraud-v2's alarm stays");
});

test('a serverless variant becomes ServerlessConfig instead of an instance type and count; progress lines say so', () => {
  const { d } = desired({ autoscaling: undefined, serverless: { memorySizeInMB: 2048, maxConcurrency: 8, provisionedConcurrency: 1 } });
  assert.deepEqual(d.config.input.ProductionVariants, [
    { VariantName: 'A', ModelName: d.models[0]!.name, ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 8, ProvisionedConcurrency: 1 }, InitialVariantWeight: 1 },
  ]);
  assert.deepEqual(d.scaling, []);
  assert.notEqual(d.config.name, desired().d.config.name);
  assert.equal(
    describeProgress({ $metadata: {}, EndpointName: 'iris', EndpointStatus: 'InService', ProductionVariants: [{ VariantName: 'A', CurrentWeight: 1, CurrentServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 8, ProvisionedConcurrency: 1 } }] } as never),
    'iris: InService | A weight 1, serverless 2048 MB, concurrency 8 (1 provisioned)',
  );
});

test('an endpoint left UpdateRollbackFailed is not "waited for": the plan says it will not settle and what to do', () => {
  const { d, artifacts } = desired();
  const state = { ...deployedState(d), endpoint: { status: 'UpdateRollbackFailed', configName: 'iris-0123456789', failureReason: 'Rollback failed: instance capacity' } };
  assert.throws(
    () => planEndpoint(d, artifacts, state),
    (err: Error & { code?: string }) =>
      err.code === 'ERR_DEPLOY_FAILED' && /UpdateRollbackFailed \(a rolling update and its rollback both failed: Rollback failed: instance capacity\).*will not settle by itself.*--delete/.test(err.message) && !/wait until/.test(err.message),
  );
});

test('a variant\'s routing becomes its RoutingConfig in CreateEndpointConfig; a routing change is a new config and an UpdateEndpoint, the models kept', () => {
  const routing = { strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 8 };
  const before = desired().d;
  const { d, artifacts } = desired({ routing }, { shadow: { name: 'S', model: 'a', routing: { strategy: 'RANDOM' } } });
  assert.deepEqual(d.config.input.ProductionVariants, [
    { VariantName: 'A', ModelName: d.models[0]!.name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large', InitialVariantWeight: 1, RoutingConfig: { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 4096, ConcurrencyThreshold: 8 } } },
  ]);
  assert.deepEqual(d.config.input.ShadowProductionVariants![0]!.RoutingConfig, { RoutingStrategy: 'RANDOM' });
  assert.equal(before.config.input.ProductionVariants![0]!.RoutingConfig, undefined, 'no routing key, no RoutingConfig');
  assert.equal(d.models[0]!.name, before.models[0]!.name, 'routing is the config\'s, not the model\'s');

  const changed = desired({ routing: { ...routing, concurrencyThreshold: 16 } }).d;
  const unrouted = desired({ routing }).d;
  assert.notEqual(changed.config.name, unrouted.config.name, 'a changed threshold is a new config');
  assert.notEqual(unrouted.config.name, before.config.name, 'adding routing is a new config');
  assert.equal(desired({ routing }).d.config.name, unrouted.config.name, 'the same routing, the same config');

  const state: CurrentState = {
    ...deployedState(before),
    configExists: false,
    currentConfig: { name: before.config.name, variants: [{ name: 'A', modelName: before.models[0]!.name, instanceType: 'ml.m5.large' }] },
  };
  const plan = planEndpoint(unrouted, artifacts, state);
  assert.equal(plan.endpoint, 'update');
  assert.equal(plan.createConfig, true);
  assert.deepEqual(plan.createModels, []);
  assert.deepEqual(plan.deregister, [], 'the instance type is unchanged: autoscaling stays registered');
  assert.deepEqual(plan.cleanup, { configs: [before.config.name], models: [] });
  assert.match(formatPlan(plan), new RegExp(`update\\s+endpoint\\s+iris\\s+\\(config ${before.config.name} → ${unrouted.config.name};`));
});

test('an alarm of the file that exists already on another endpoint (alarm names are one per account and Region) is refused, not taken over: the message names that endpoint and what to do', () => {
  const { d, artifacts } = desired();
  const state = deployedState(d);
  const theirs = { ...state.alarms.get('iris-5xx')!, Dimensions: [{ Name: 'EndpointName', Value: 'iris-old' }, { Name: 'VariantName', Value: 'A' }] };
  assert.throws(() => planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', theirs]]) }), {
    code: 'ERR_DEPLOY_CONFIG',
    message: 'iris: alarm iris-5xx exists already and watches endpoint iris-old, not endpoint iris: CloudWatch alarm names are one per account and Region, so deploying would take it over (and smkit deploy --delete would remove it). Give the alarm another name in the endpoint file, or delete that alarm first if nothing uses it (aws cloudwatch delete-alarms --alarm-names iris-5xx)',
  });
  const other = { AlarmName: 'iris-5xx', Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Dimensions: [{ Name: 'InstanceId', Value: 'i-1' }] };
  assert.throws(() => planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', other]]) }), { message: /^iris: alarm iris-5xx exists already and watches AWS\/EC2 CPUUtilization without an endpoint, not endpoint iris:/ });
  // A metric math alarm (no metric of its own) of another endpoint is said to be that endpoint's.
  const math = { AlarmName: 'iris-5xx', Metrics: [{ Id: 'e', Expression: 'm1/m2' }, { Id: 'm1', MetricStat: { Metric: { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: [{ Name: 'EndpointName', Value: 'iris-old' }, { Name: 'VariantName', Value: 'A' }] }, Period: 60, Stat: 'Sum' } }] };
  assert.throws(() => planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', math]]) }), { message: /^iris: alarm iris-5xx exists already and is a metric math alarm of endpoint iris-old, not endpoint iris:/ });
  // One that reads this endpoint's own metrics is still not an alarm deploy makes, and is said so without contradiction.
  const ownMath = { ...math, Metrics: math.Metrics.map((m) => (m.MetricStat ? { ...m, MetricStat: { ...m.MetricStat, Metric: { ...m.MetricStat.Metric, Dimensions: [{ Name: 'EndpointName', Value: 'iris' }] } } } : m)) };
  assert.throws(() => planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', ownMath]]) }), {
    message: /^iris: alarm iris-5xx exists already and is a metric math alarm of endpoint iris, not an alarm on one metric of endpoint iris as smkit deploy makes: /,
  });
  // The command to delete it goes where deploy does (--endpoint-url, --region).
  assert.throws(() => planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', theirs]]) }, { awsCliOptions: ' --endpoint-url http://127.0.0.1:8080 --region eu-west-1' }), {
    message: /\(aws cloudwatch delete-alarms --alarm-names iris-5xx --endpoint-url http:\/\/127\.0\.0\.1:8080 --region eu-west-1\)$/,
  });
  // Its own alarm, changed: an update, as before.
  const ours = { ...state.alarms.get('iris-5xx')!, Threshold: 5 };
  const plan = planEndpoint(d, artifacts, { ...state, alarms: new Map([['iris-5xx', ours]]) });
  assert.deepEqual(plan.putAlarms.map((a) => a.AlarmName), ['iris-5xx']);
});

test('a cooldown removed from the file puts the scaling policy again (back to the 300 s default); one left at the default is unchanged', () => {
  const { d: withCooldown, artifacts } = desired({ autoscaling: { minCapacity: 1, maxCapacity: 3, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 60, scaleOutCooldownSeconds: 30 } });
  const state = deployedState(withCooldown);
  const { d: without } = desired();
  const plan = planEndpoint(without, artifacts, state);
  assert.deepEqual(plan.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`), ['update scaling-policy']);
  // A policy that reports the default explicitly (or none) matches a file that leaves the cooldowns out.
  const { d: atDefault } = desired({ autoscaling: { minCapacity: 1, maxCapacity: 3, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 300, scaleOutCooldownSeconds: 300 } });
  assert.ok(planIsEmpty(planEndpoint(without, artifacts, deployedState(atDefault))));
  assert.ok(planIsEmpty(planEndpoint(without, artifacts, deployedState(without))));
});

test('a scaling policy whose scale-in was turned off outside deploy (DisableScaleIn) is put again; one that says false is unchanged', () => {
  const { d, artifacts } = desired({ autoscaling: { minCapacity: 1, maxCapacity: 3, targetInvocationsPerInstance: 70 } });
  const withScaleIn = (disable: boolean): ReturnType<typeof deployedState> => {
    const state = deployedState(d);
    const policies = new Map([...state.policies].map(([id, list]) => [id, list.map((p) => ({ ...p, TargetTrackingScalingPolicyConfiguration: { ...p.TargetTrackingScalingPolicyConfiguration!, DisableScaleIn: disable } }))]));
    return { ...state, policies };
  };
  assert.deepEqual(planEndpoint(d, artifacts, withScaleIn(true)).items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`), ['update scaling-policy']);
  assert.ok(planIsEmpty(planEndpoint(d, artifacts, withScaleIn(false))));
});
