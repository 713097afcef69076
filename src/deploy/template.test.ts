import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { parseEndpointFile } from '../endpoint-file/schema.js';
import type { ContainerArtifact } from './artifacts.js';
import { desiredEndpoint } from './desired.js';
import { renderTemplate, writeTemplate, type CloudFormationTemplate } from './template.js';

type SpecDb = Awaited<ReturnType<typeof loadAwsServiceSpec>>;
type PropertyType = { type: string; reference?: { $ref: string }; element?: PropertyType; types?: PropertyType[]; allowedValues?: (string | number)[] };
type Property = { type: PropertyType; previousTypes?: PropertyType[]; required?: boolean };

const INTRINSICS = new Set(['Ref', 'Fn::GetAtt', 'Fn::Sub', 'Fn::Join', 'Fn::If', 'Fn::Select', 'Fn::ImportValue', 'Fn::FindInMap']);

function isIntrinsic(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && INTRINSICS.has(Object.keys(v)[0]!);
}

/**
 * Checks a resource's properties against the CloudFormation resource schema in
 * @aws-cdk/aws-service-spec: every property name exists, every required one is present, and every
 * value has the schema's type (strings, integers, numbers, booleans, lists, maps and nested
 * property types, recursively). Intrinsic functions stand for a value of any type.
 */
function validateProperties(db: SpecDb, value: Record<string, unknown>, props: Record<string, Property>, where: string, errors: string[]): void {
  for (const key of Object.keys(value)) if (!(key in props)) errors.push(`${where}: unknown property ${key} (allowed: ${Object.keys(props).join(', ')})`);
  for (const [key, p] of Object.entries(props)) {
    if (p.required && value[key] === undefined) errors.push(`${where}: required property ${key} is missing`);
    if (value[key] === undefined) continue;
    const candidates = [p.type, ...(p.previousTypes ?? [])];
    const attempts = candidates.map((t) => {
      const errs: string[] = [];
      validateValue(db, value[key], t, `${where}.${key}`, errs);
      return errs;
    });
    if (!attempts.some((a) => a.length === 0)) errors.push(...attempts[0]!);
  }
}

function validateValue(db: SpecDb, v: unknown, t: PropertyType, where: string, errors: string[]): void {
  if (isIntrinsic(v)) return;
  const bad = (what: string): void => void errors.push(`${where}: expected ${what}, got ${JSON.stringify(v)}`);
  switch (t.type) {
    case 'string':
    case 'date-time':
      if (typeof v !== 'string') bad('a string');
      else if (t.allowedValues && !t.allowedValues.includes(v)) bad(`one of ${t.allowedValues.join(', ')}`);
      return;
    case 'integer':
      if (!Number.isInteger(v)) bad('an integer');
      else if (t.allowedValues && !t.allowedValues.includes(v as number)) bad(`one of ${t.allowedValues.join(', ')}`);
      return;
    case 'number':
      if (typeof v !== 'number') bad('a number');
      return;
    case 'boolean':
      if (typeof v !== 'boolean') bad('a boolean');
      return;
    case 'json':
      if (typeof v !== 'object' || v === null) bad('a JSON object');
      return;
    case 'array':
      if (!Array.isArray(v)) return bad('a list');
      v.forEach((x, i) => validateValue(db, x, t.element!, `${where}[${i}]`, errors));
      return;
    case 'map':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('a map');
      for (const [k, x] of Object.entries(v)) validateValue(db, x, t.element!, `${where}.${k}`, errors);
      return;
    case 'ref': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('an object');
      const def = db.get('typeDefinition', t.reference!.$ref) as unknown as { properties: Record<string, Property> };
      validateProperties(db, v as Record<string, unknown>, def.properties, where, errors);
      return;
    }
    case 'union': {
      const ok = t.types!.some((u) => {
        const errs: string[] = [];
        validateValue(db, v, u, where, errs);
        return errs.length === 0;
      });
      if (!ok) bad(`one of ${t.types!.map((u) => u.type).join(', ')}`);
      return;
    }
    case 'tag': {
      // The spec's built-in tag: CloudFormation's { Key, Value }, both strings and required, nothing else.
      const tag = v as Record<string, unknown>;
      if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof tag.Key !== 'string' || typeof tag.Value !== 'string' || Object.keys(tag).some((k) => k !== 'Key' && k !== 'Value')) bad('a tag { Key, Value }');
      return;
    }
    default:
      errors.push(`${where}: the validator does not know type ${t.type}`);
  }
}

/** Validates a whole template: resource types, properties, and that every Ref / GetAtt / Sub / DependsOn names something that exists. */
function validateTemplate(db: SpecDb, t: CloudFormationTemplate): string[] {
  const errors: string[] = [];
  const names = new Set([...Object.keys(t.Parameters), ...Object.keys(t.Resources)]);
  const resourceOf = (id: string): { attributes: Record<string, unknown> } | undefined => {
    const r = t.Resources[id];
    return r ? (db.lookup('resource', 'cloudFormationType', 'equals', r.Type).only() as unknown as { attributes: Record<string, unknown> }) : undefined;
  };
  const checkRefs = (v: unknown, where: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => checkRefs(x, `${where}[${i}]`));
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string' && !names.has(o.Ref)) errors.push(`${where}: Ref to unknown ${o.Ref}`);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      const r = resourceOf(id);
      if (!r) errors.push(`${where}: GetAtt of unknown resource ${id}`);
      else if (!(attr in r.attributes)) errors.push(`${where}: ${id} has no attribute ${attr} (has ${Object.keys(r.attributes).join(', ')})`);
    }
    if (typeof o['Fn::Sub'] === 'string') {
      for (const m of (o['Fn::Sub'] as string).matchAll(/\$\{([^}]+)\}/g)) {
        const [id, attr] = m[1]!.split('.');
        if (!names.has(id!)) errors.push(`${where}: Sub names unknown ${id}`);
        else if (attr !== undefined && !(attr in (resourceOf(id!)?.attributes ?? {}))) errors.push(`${where}: Sub names unknown attribute ${m[1]}`);
      }
    }
    for (const [k, x] of Object.entries(o)) checkRefs(x, `${where}.${k}`);
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    if (!/^[A-Za-z0-9]+$/.test(id)) errors.push(`${id}: logical ids are alphanumeric`);
    const spec = db.lookup('resource', 'cloudFormationType', 'equals', r.Type);
    if (spec.length !== 1) {
      errors.push(`${id}: unknown resource type ${r.Type}`);
      continue;
    }
    validateProperties(db, r.Properties, (spec.only() as unknown as { properties: Record<string, Property> }).properties, `${id} (${r.Type})`, errors);
    for (const dep of r.DependsOn ?? []) if (!(dep in t.Resources)) errors.push(`${id}: DependsOn unknown ${dep}`);
    checkRefs(r.Properties, id);
  }
  return errors;
}

const FILE = {
  deploy: { role: 'arn:aws:iam::123456789012:role/SageMakerRole', artifacts: 's3://my-bucket/smkit/', image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/smkit:1' },
  endpoints: [
    {
      name: 'iris',
      variants: [
        { name: 'A', weight: 3, model: 'a', instanceType: 'ml.m5.large', instanceCount: 2, env: { SAGEMAKER_MODEL_SERVER_WORKERS: 1 }, autoscaling: { minCapacity: 1, maxCapacity: 4, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 300, scaleOutCooldownSeconds: 60 } },
        { name: 'B', weight: 1, containers: [{ model: 'pre' }, { model: 'b', image: 'other/image:2' }], routing: { strategy: 'PREFIX_AWARE', prefixLength: 4096, concurrencyThreshold: 8 } },
      ],
      shadow: { name: 'Shadow', model: 'c' },
      dataCapture: { destination: 's3://my-bucket/capture', samplingPercentage: 50, csvContentTypes: ['text/csv'] },
      deploymentConfig: {
        blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: 'CANARY', canarySize: { type: 'CAPACITY_PERCENT', value: 10 }, waitIntervalInSeconds: 300 }, terminationWaitInSeconds: 60, maximumExecutionTimeoutInSeconds: 3600 },
        autoRollbackConfiguration: { alarms: [{ alarmName: 'iris-A-5xx' }] },
      },
      alarms: [{ name: 'iris-A-5xx', metric: 'Invocation5XXErrors', statistic: 'Sum', threshold: 1, comparison: 'GreaterThanOrEqualToThreshold', periodSeconds: 60, evaluationPeriods: 1, variant: 'A' }],
    },
    {
      name: 'pocket',
      variants: [{ model: 'a', serverless: { memorySizeInMB: 2048, maxConcurrency: 4, provisionedConcurrency: 1 } }],
    },
    {
      name: 'linear',
      variants: [{ model: 'a', autoscaling: { minCapacity: 0, maxCapacity: 2, targetBacklogPerInstance: 5 } }],
      asyncInference: { outputPath: 's3://my-bucket/async/', failurePath: 's3://my-bucket/async-failed/', maxConcurrentInvocationsPerInstance: 2 },
      deploymentConfig: { rollingUpdatePolicy: { maximumBatchSize: { type: 'INSTANCE_COUNT', value: 1 }, waitIntervalInSeconds: 60, rollbackMaximumBatchSize: { type: 'CAPACITY_PERCENT', value: 100 } } },
    },
  ],
};

function artifactsFor(models: string[]): Map<string, ContainerArtifact> {
  return new Map(models.map((m, i) => {
    const key = `smkit/${String(i).repeat(64)}/model.tar.gz`;
    return [`/base/${m}`, { source: `/base/${m}`, bucket: 'my-bucket', key, uri: `s3://my-bucket/${key}`, files: [] }];
  }));
}

function build(): CloudFormationTemplate {
  const cfg = parseEndpointFile(FILE, (p) => `/base/${p}`, () => Buffer.alloc(0));
  const artifacts = artifactsFor(['a', 'pre', 'b', 'c']);
  const desired = cfg.endpoints.map((e) => desiredEndpoint(e, { artifacts, role: cfg.deploy!.role!, image: cfg.deploy!.image!, tags: { team: 'ml', 'cost-center': '0100' } }));
  return renderTemplate(desired, artifacts, { bucket: 'my-bucket', role: cfg.deploy!.role!, image: cfg.deploy!.image! });
}

test('every resource of the template is valid for its CloudFormation type (resource schemas from @aws-cdk/aws-service-spec)', async () => {
  const db = await loadAwsServiceSpec();
  const t = build();
  const types = Object.values(t.Resources).map((r) => r.Type);
  for (const type of ['AWS::SageMaker::Model', 'AWS::SageMaker::EndpointConfig', 'AWS::SageMaker::Endpoint', 'AWS::ApplicationAutoScaling::ScalableTarget', 'AWS::ApplicationAutoScaling::ScalingPolicy', 'AWS::CloudWatch::Alarm']) {
    assert.ok(types.includes(type), `the template has an ${type}`);
  }
  assert.deepEqual(validateTemplate(db, t), []);

  const ep = t.Resources.IrisEndpoint!;
  assert.deepEqual(ep.DependsOn, ['IrisAlarmIrisA5xx'], 'the endpoint waits for the alarm its rollback watches');
  assert.deepEqual((ep.Properties.DeploymentConfig as { AutoRollbackConfiguration: unknown }).AutoRollbackConfiguration, { Alarms: [{ AlarmName: 'iris-A-5xx' }] });
  const model = t.Resources.IrisModelA!.Properties as { ExecutionRoleArn: unknown; PrimaryContainer: { Image: unknown; ModelDataUrl: unknown } };
  assert.deepEqual(model.ExecutionRoleArn, { Ref: 'ExecutionRoleArn' });
  assert.deepEqual(model.PrimaryContainer.Image, { Ref: 'ImageUri' });
  assert.deepEqual(model.PrimaryContainer.ModelDataUrl, { 'Fn::Sub': `s3://\${ArtifactsBucket}/smkit/${'0'.repeat(64)}/model.tar.gz` });
  const pipeline = t.Resources.IrisModelB!.Properties as { Containers: { Image: unknown }[] };
  assert.equal(pipeline.Containers[1]!.Image, 'other/image:2', "a container's own image stays literal");
  assert.equal(t.Parameters.ArtifactsBucket!.Default, 'my-bucket');
  const target = t.Resources.IrisScalableTargetA!.Properties;
  assert.deepEqual(target.ResourceId, { 'Fn::Sub': 'endpoint/${IrisEndpoint.EndpointName}/variant/A' });
  assert.equal(target.MinCapacity, 1);
  const backlog = t.Resources.LinearScalingPolicyAllTraffic!.Properties as { TargetTrackingScalingPolicyConfiguration: Record<string, unknown> };
  assert.deepEqual(backlog.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification, {
    MetricName: 'ApproximateBacklogSizePerInstance',
    Namespace: 'AWS/SageMaker',
    Statistic: 'Average',
    Dimensions: [{ Name: 'EndpointName', Value: { 'Fn::GetAtt': ['LinearEndpoint', 'EndpointName'] } }],
  });
  assert.equal(t.Resources.LinearScalableTargetAllTraffic!.Properties.MinCapacity, 0);
  const irisVariants = (t.Resources.IrisEndpointConfig!.Properties as { ProductionVariants: Record<string, unknown>[] }).ProductionVariants;
  assert.deepEqual(irisVariants[1]!.RoutingConfig, { RoutingStrategy: 'PREFIX_AWARE', PrefixAwareRoutingConfig: { PrefixLength: 4096, ConcurrencyThreshold: 8 } });
  assert.equal('RoutingConfig' in irisVariants[0]!, false, 'a variant without routing gets no RoutingConfig');
  const pocket = (t.Resources.PocketEndpointConfig!.Properties as { ProductionVariants: Record<string, unknown>[] }).ProductionVariants[0]!;
  assert.deepEqual(pocket.ServerlessConfig, { MemorySizeInMB: 2048, MaxConcurrency: 4, ProvisionedConcurrency: 1 });
  assert.equal('InstanceType' in pocket || 'InitialInstanceCount' in pocket, false, 'a serverless variant names no instances');
  assert.equal(t.Resources.LinearScaleFromZeroPolicyAllTraffic!.Properties.PolicyType, 'StepScaling');
  const fromZero = t.Resources.LinearScaleFromZeroAlarmAllTraffic!.Properties;
  assert.equal(fromZero.MetricName, 'HasBacklogWithoutCapacity');
  assert.deepEqual(fromZero.AlarmActions, [{ 'Fn::GetAtt': ['LinearScaleFromZeroPolicyAllTraffic', 'Arn'] }], 'the alarm invokes the step policy by its ARN');
  // deploy.tags: on the SageMaker resources and the alarms, as the API calls give them.
  const tags = [{ Key: 'team', Value: 'ml' }, { Key: 'cost-center', Value: '0100' }];
  for (const id of ['IrisModelA', 'IrisEndpointConfig', 'IrisEndpoint', 'IrisAlarmIrisA5xx', 'LinearScaleFromZeroAlarmAllTraffic']) assert.deepEqual(t.Resources[id]!.Properties.Tags, tags, id);
  assert.deepEqual(t.Resources.LinearEndpointConfig!.Properties.AsyncInferenceConfig, {
    OutputConfig: { S3OutputPath: 's3://my-bucket/async/', S3FailurePath: 's3://my-bucket/async-failed/' },
    ClientConfig: { MaxConcurrentInvocationsPerInstance: 2 },
  });
});

test('the validator catches what CloudFormation would refuse', async () => {
  const db = await loadAwsServiceSpec();
  const t = build();
  (t.Resources.IrisEndpoint!.Properties as Record<string, unknown>).EndpointConfig = 'x';
  delete (t.Resources.IrisEndpointConfig!.Properties as Record<string, unknown>).ProductionVariants;
  (t.Resources.IrisAlarmIrisA5xx!.Properties as Record<string, unknown>).Period = '60';
  ((t.Resources.IrisScalingPolicyA!.Properties as { TargetTrackingScalingPolicyConfiguration: Record<string, unknown> }).TargetTrackingScalingPolicyConfiguration).TargetVal = 3;
  (t.Resources.IrisScalableTargetA!.Properties as Record<string, unknown>).ResourceId = { 'Fn::Sub': 'endpoint/${Nope.EndpointName}/variant/A' };
  (t.Resources.IrisModelB!.Properties as { InferenceExecutionConfig: { Mode: string } }).InferenceExecutionConfig.Mode = 'Parallel';
  const errors = validateTemplate(db, t).join('\n');
  assert.match(errors, /InferenceExecutionConfig\.Mode: expected one of Serial, Direct/);
  assert.match(errors, /IrisEndpoint .*unknown property EndpointConfig/);
  assert.match(errors, /required property ProductionVariants is missing/);
  assert.match(errors, /Period: expected an integer/);
  assert.match(errors, /unknown property TargetVal/);
  assert.match(errors, /Sub names unknown Nope/);
});

test('--template writes YAML or JSON by extension', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-template-'));
  try {
    const t = build();
    await writeTemplate(path.join(dir, 'stack.yaml'), t);
    await writeTemplate(path.join(dir, 'stack.json'), t);
    const { parse } = await import('yaml');
    assert.deepEqual(parse(await readFile(path.join(dir, 'stack.yaml'), 'utf8')), JSON.parse(JSON.stringify(t)));
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'stack.json'), 'utf8')), JSON.parse(JSON.stringify(t)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('names that give one logical id (letters and digits only) are refused, not written as one resource', () => {
  const render = (endpoints: unknown[]): CloudFormationTemplate => {
    const cfg = parseEndpointFile({ endpoints }, (p) => `/base/${p}`, () => Buffer.alloc(0));
    const artifacts = artifactsFor(['a']);
    return renderTemplate(cfg.endpoints.map((e) => desiredEndpoint(e, { artifacts, image: 'img:1', role: 'arn:aws:iam::123456789012:role/R' })), artifacts, { bucket: 'my-bucket' });
  };
  const refused = (endpoints: unknown[], message: string): void => {
    assert.throws(() => render(endpoints), (err: Error & { code?: string }) => err.code === 'ERR_DEPLOY_CONFIG' && err.message === message);
  };
  refused(
    [{ name: 'irisA', variants: [{ model: 'a' }] }, { name: 'iris-a', variants: [{ model: 'a' }] }],
    'the model of irisA/AllTraffic and the model of iris-a/AllTraffic both become the CloudFormation logical id IrisAModelAllTraffic (it keeps only letters and digits); rename one to write a template',
  );
  refused([{ name: 'e', variants: [{ name: 'a-b', model: 'a' }, { name: 'aB', model: 'a' }] }], 'the model of e/a-b and the model of e/aB both become the CloudFormation logical id EModelAB (it keeps only letters and digits); rename one to write a template');
  const template = render([{ name: 'e', variants: [{ name: 'a-b', model: 'a' }, { name: 'c', model: 'a' }] }]);
  assert.deepEqual(Object.keys(template.Resources).filter((id) => id.startsWith('EModel')), ['EModelAB', 'EModelC']);
});
