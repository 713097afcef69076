import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import request from 'supertest';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { createFrontDoor } from '../front-door/app.js';
import { createLocalSageMaker } from './local-sagemaker.js';

const sm = await createLocalSageMaker({ backendImpl: new FakeBackend(), startupTimeoutMs: 2_000, alarmsAndScaling: false, settings: {} });
describe('sagemaker service (properties)', () => {
  after(() => sm.stop());
  const app = createFrontDoor({ endpoints: sm.directory(), services: sm.services });

  const OPERATIONS = [
    'CreateModel',
    'DescribeModel',
    'ListModels',
    'DeleteModel',
    'CreateEndpointConfig',
    'DescribeEndpointConfig',
    'ListEndpointConfigs',
    'DeleteEndpointConfig',
    'DescribeEndpoint',
    'ListEndpoints',
    'DeleteEndpoint',
    'UpdateEndpoint',
    'UpdateEndpointWeightsAndCapacities',
    'CreateTrainingJob',
    'DescribeTrainingJob',
    'ListTrainingJobs',
    'StopTrainingJob',
    'DeleteTrainingJob',
    'UpdateTrainingJob',
  ];
  const SERVICE_ERRORS = new Set(['ValidationException', 'SerializationException', 'ResourceLimitExceeded', 'ResourceInUse', 'ResourceNotFound', 'UnknownOperationException']);

  /** Inputs shaped like the API's, with members of any JSON type, so validation is exercised past its first check. */
  const member = fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
  const shaped = fc.record(
    {
      ModelName: member,
      EndpointName: member,
      EndpointConfigName: member,
      PrimaryContainer: fc.oneof(
        member,
        fc.record({
          Image: member,
          ModelDataUrl: member,
          Environment: fc.oneof(member, fc.dictionary(fc.string({ maxLength: 10 }), member)),
          Mode: member,
          ModelDataSource: fc.oneof(member, fc.record({ S3DataSource: fc.oneof(member, fc.record({ S3Uri: fc.oneof(member, fc.constantFrom('s3://b/p/', 's3://b/p', 's3://b/m.tar.gz')), S3DataType: member, CompressionType: member })) })),
        }),
      ),
      VpcConfig: fc.oneof(member, fc.record({ SecurityGroupIds: fc.oneof(member, fc.array(member, { maxLength: 6 })), Subnets: member })),
      Containers: fc.oneof(member, fc.array(fc.oneof(member, fc.record({ ContainerHostname: member, ModelDataUrl: member })), { maxLength: 17 })),
      ProductionVariants: fc.oneof(
        member,
        fc.array(
          fc.oneof(
            member,
            fc.record({
              VariantName: member,
              ModelName: member,
              InitialInstanceCount: member,
              InitialVariantWeight: member,
              ServerlessConfig: fc.oneof(member, fc.record({ MemorySizeInMB: member, MaxConcurrency: member, ProvisionedConcurrency: member })),
              ContainerStartupHealthCheckTimeoutInSeconds: member,
              RoutingConfig: fc.oneof(member, fc.record({ RoutingStrategy: fc.oneof(member, fc.constant('PREFIX_AWARE')), PrefixAwareRoutingConfig: fc.oneof(member, fc.record({ PrefixLength: member, ConcurrencyThreshold: member })) })),
            }),
          ),
          { maxLength: 11 },
        ),
      ),
      DesiredWeightsAndCapacities: fc.oneof(
        member,
        fc.array(fc.record({ VariantName: member, DesiredWeight: member, DesiredInstanceCount: member, ServerlessUpdateConfig: fc.oneof(member, fc.record({ MaxConcurrency: member, ProvisionedConcurrency: member })) }), { maxLength: 3 }),
      ),
      DeploymentConfig: fc.oneof(member, fc.record({ BlueGreenUpdatePolicy: fc.oneof(member, fc.record({ TrafficRoutingConfiguration: fc.oneof(member, fc.record({ Type: member, WaitIntervalInSeconds: member, CanarySize: member, LinearStepSize: member })) })) })),
      MaxResults: member,
      NextToken: member,
      SortBy: member,
      TrainingJobName: member,
      RoleArn: fc.oneof(member, fc.constant('arn:aws:iam::123456789012:role/R')),
      AlgorithmSpecification: fc.oneof(member, fc.record({ TrainingImage: member, TrainingInputMode: member, AlgorithmName: member }, { requiredKeys: [] })),
      InputDataConfig: fc.oneof(member, fc.array(fc.oneof(member, fc.record({ ChannelName: member, DataSource: fc.oneof(member, fc.record({ S3DataSource: fc.oneof(member, fc.record({ S3DataType: member, S3Uri: member })) })), InputMode: member })), { maxLength: 3 })),
      OutputDataConfig: fc.oneof(member, fc.record({ S3OutputPath: member })),
      HyperParameters: fc.oneof(member, fc.dictionary(fc.string({ maxLength: 10 }), member)),
      StoppingCondition: fc.oneof(member, fc.record({ MaxRuntimeInSeconds: member })),
      StatusEquals: member,
      ResourceConfig: fc.oneof(member, fc.record({ KeepAlivePeriodInSeconds: member }, { requiredKeys: [] })),
      ProfilerConfig: fc.oneof(member, fc.record({ S3OutputPath: member, ProfilingIntervalInMilliseconds: member, DisableProfiler: member }, { requiredKeys: [] })),
      RemoteDebugConfig: fc.oneof(member, fc.record({ EnableRemoteDebug: member }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  );

  test('any input to any SageMaker operation is answered 2xx or a modelled 4xx, never a 500; the server keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...OPERATIONS), fc.oneof(shaped, fc.jsonValue({ maxDepth: 3 }), fc.string()), async (operation, input) => {
        const body = typeof input === 'string' ? input : JSON.stringify(input);
        const res = await request(app).post('/').set('X-Amz-Target', `SageMaker.${operation}`).set('Content-Type', 'application/x-amz-json-1.1').send(body ?? '');
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `${operation} ${body?.slice(0, 200)} → ${res.status} ${res.text.slice(0, 300)}`);
        if (res.status !== 200) assert.ok(SERVICE_ERRORS.has(JSON.parse(res.text).__type as string), res.text);
      }),
      { numRuns: 300 },
    );
    const ok = await request(app).post('/').set('X-Amz-Target', 'SageMaker.ListEndpoints').set('Content-Type', 'application/x-amz-json-1.1').send('{}');
    assert.equal(ok.status, 200);
  });

  test('any bytes under any X-Amz-Target are answered 2xx or 4xx, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...OPERATIONS.map((o) => `SageMaker.${o}`)), fc.string({ maxLength: 60 })), fc.uint8Array({ maxLength: 300 }), async (target, bytes) => {
        const res = await request(app).post('/').set('X-Amz-Target', target.replace(/[^\x20-\x7e]/g, '') || 'x').set('Content-Type', 'application/x-amz-json-1.1').send(Buffer.from(bytes));
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `${target} → ${res.status} ${res.text.slice(0, 300)}`);
      }),
      { numRuns: 200 },
    );
  });

  test('hostile shapes get a short 4xx: values nested 100 000 deep, lists far past their maximum', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const cases: Array<[string, string]> = [
      ['CreateModel', `{"ModelName":${deep}}`],
      ['CreateModel', `{"ModelName":"m","PrimaryContainer":{"Image":"i","Environment":{"A":${deep}}}}`],
      ['CreateModel', `{"ModelName":"m","Tags":${deep}}`],
      // A member no shape names is still walked (nulls are dropped from the whole input).
      ['ListModels', `{"NotAMember":${deep}}`],
      ['ListModels', `{"NotAMember":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`],
      ['CreateModel', JSON.stringify({ ModelName: 'm', Tags: Array.from({ length: 200_000 }, () => ({})) })],
    ];
    for (const [operation, body] of cases) {
      const res = await request(app).post('/').set('X-Amz-Target', `SageMaker.${operation}`).set('Content-Type', 'application/x-amz-json-1.1').send(body);
      assert.ok(res.status >= 400 && res.status < 500, `${body.slice(0, 80)} → ${res.status} ${res.text.slice(0, 200)}`);
      assert.ok(SERVICE_ERRORS.has(JSON.parse(res.text).__type as string), res.text.slice(0, 300));
      assert.ok(res.text.length < 4_096, `a ${res.text.length}-byte answer to ${body.slice(0, 40)}`);
    }
  });

  test('an X-Amz-Target naming a member every object has (SageMaker.constructor, .__proto__, .toString) is an unknown operation, not a 500 or a 200', async () => {
    for (const operation of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const res = await request(app).post('/').set('X-Amz-Target', `SageMaker.${operation}`).set('Content-Type', 'application/x-amz-json-1.1').send('{}');
      assert.equal(res.status, 400, `${operation} → ${res.status} ${res.text}`);
      assert.deepEqual(JSON.parse(res.text), { __type: 'UnknownOperationException', message: `The local SageMaker does not implement the operation ${operation}.` });
    }
  });

  test('a "__proto__" key is a member like any other: kept in a map (Environment), ignored as an unknown member, never members validation did not see', async () => {
    const call = (operation: string, body: string) => request(app).post('/').set('X-Amz-Target', `SageMaker.${operation}`).set('Content-Type', 'application/x-amz-json-1.1').send(body);
    // The variable named __proto__ matches the Environment key pattern [a-zA-Z_][a-zA-Z0-9_]*, and is kept.
    assert.equal((await call('CreateModel', '{"ModelName":"proto-env","PrimaryContainer":{"Image":"i","Environment":{"__proto__":"x","A":"1"}}}')).status, 200);
    const described = await call('DescribeModel', '{"ModelName":"proto-env"}');
    assert.deepEqual(JSON.parse(described.text).PrimaryContainer.Environment, JSON.parse('{"__proto__":"x","A":"1"}'));
    // Members under an unknown "__proto__" member are not the request's: here there are no Containers.
    const refused = await call('CreateModel', '{"ModelName":"proto-containers","__proto__":{"Containers":5}}');
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual(JSON.parse(refused.text), { __type: 'ValidationException', message: 'Either PrimaryContainer or Containers must be specified.' });
    const variant = '{"VariantName":"AllTraffic","ModelName":"proto-env","InitialInstanceCount":1,"InstanceType":"ml.m5.large","__proto__":{"InitialVariantWeight":"heavy"}}';
    const created = await call('CreateEndpointConfig', `{"EndpointConfigName":"proto-config","ProductionVariants":[${variant}],"__proto__":{"ShadowProductionVariants":"x"}}`);
    assert.equal(created.status, 200, created.text);
    const config = JSON.parse((await call('DescribeEndpointConfig', '{"EndpointConfigName":"proto-config"}')).text);
    assert.equal(config.ProductionVariants[0].InitialVariantWeight, 1);
    assert.equal(config.ShadowProductionVariants, undefined);
  });

  test('a List* time filter is epoch seconds or a date as text: text naming no date, or 1e400, is a SerializationException, not a filter that lists nothing', async () => {
    const list = (body: string) => request(app).post('/').set('X-Amz-Target', 'SageMaker.ListModels').set('Content-Type', 'application/x-amz-json-1.1').send(body);
    for (const [body, shown] of [['{"CreationTimeAfter":"yesterday"}', '"yesterday"'], ['{"CreationTimeBefore":""}', '""'], ['{"CreationTimeAfter":1e400}', 'Infinity'], ['{"CreationTimeAfter":-1e400}', '-Infinity']] as const) {
      const res = await list(body);
      assert.equal(res.status, 400, `${body} → ${res.status} ${res.text}`);
      const member = body.includes('Before') ? 'creationTimeBefore' : 'creationTimeAfter';
      assert.deepEqual(JSON.parse(res.text), { __type: 'SerializationException', message: `${member} must be a timestamp: epoch seconds, or an ISO 8601 date such as "2024-05-01T12:00:00Z" (got ${shown}).` });
    }
    for (const body of ['{"CreationTimeAfter":0}', '{"CreationTimeBefore":"2100-01-01T00:00:00Z"}']) assert.equal((await list(body)).status, 200, body);
  });

  test('a List* time bound given as text is ISO 8601, in UTC unless it names an offset: "0", "12", "1700000000" or "March 7, 2020" is a SerializationException, not a date Date.parse makes of it', async () => {
    const call = (operation: string, body: unknown) => request(app).post('/').set('X-Amz-Target', `SageMaker.${operation}`).set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify(body));
    // "0" was the year 2000 and "12" December 2001 (V8's fallback parser); "March 7, 2020" was in the machine's time zone.
    for (const text of ['0', '12', '1700000000', 'March 7, 2020', '2020-01-01 00:00:00']) {
      const res = await call('ListModels', { CreationTimeAfter: text });
      assert.equal(res.status, 400, `${text} → ${res.status} ${res.text}`);
      assert.equal(JSON.parse(res.text).__type, 'SerializationException', text);
    }
    assert.equal((await call('CreateModel', { ModelName: 'tz-bound', PrimaryContainer: { Image: 'i' } })).status, 200);
    const created = (JSON.parse((await call('DescribeModel', { ModelName: 'tz-bound' })).text) as { CreationTime: number }).CreationTime;
    const names = async (bound: Record<string, string>) => (JSON.parse((await call('ListModels', { NameContains: 'tz-bound', ...bound })).text) as { Models: Array<{ ModelName: string }> }).Models.map((m) => m.ModelName);
    // A date and time without an offset is UTC, whatever the machine's time zone: the same instant as with Z, to the millisecond.
    const utc = new Date(Math.round(created * 1000) + 1).toISOString();
    assert.deepEqual(await names({ CreationTimeBefore: utc.slice(0, -1) }), ['tz-bound']);
    assert.deepEqual(await names({ CreationTimeAfter: utc.slice(0, -1) }), []);
    assert.deepEqual(await names({ CreationTimeAfter: utc.replace('Z', '+01:00') }), ['tz-bound']);
  });
});
