import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AwsServiceError } from '../service.js';
import { SAGEMAKER_INPUTS } from './sagemaker.js';
import { validateInput, withoutNulls } from './validate.js';
import { ConstraintViolations } from '../violations.js';
import { firstChars, lastChars } from '../../errors/text-cut.js';

function messageOf(op: string, input: Record<string, unknown>): string {
  try {
    validateInput(input, SAGEMAKER_INPUTS[op]!);
  } catch (err) {
    assert.ok(err instanceof AwsServiceError);
    return `${err.type}: ${err.message}`;
  }
  return 'ok';
}

test('required members, patterns and lengths fail as the service words them', () => {
  assert.equal(messageOf('CreateEndpoint', { EndpointConfigName: 'c' }), "ValidationException: 1 validation error detected: Value null at 'endpointName' failed to satisfy constraint: Member must not be null");
  assert.equal(
    messageOf('CreateEndpoint', { EndpointName: 'bad_name', EndpointConfigName: 'x'.repeat(64) }),
    "ValidationException: 3 validation errors detected: Value 'bad_name' at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; " +
      `Value '${'x'.repeat(64)}' at 'endpointConfigName' failed to satisfy constraint: Member must have length less than or equal to 63; ` +
      `Value '${'x'.repeat(64)}' at 'endpointConfigName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`,
  );
  assert.equal(messageOf('CreateEndpoint', { EndpointName: 'ok-name', EndpointConfigName: 'c1' }), 'ok');
});

test('nested members: list items are counted from 1 as productionVariants.N.member', () => {
  const msg = messageOf('CreateEndpointConfig', { EndpointConfigName: 'c', ProductionVariants: [{ VariantName: 'A', ModelName: 'm' }, { VariantName: 'B', InitialInstanceCount: 0, InitialVariantWeight: -1 }] });
  assert.match(msg, /^ValidationException: 2 validation errors detected: /);
  assert.match(msg, /Value '0' at 'productionVariants\.2\.member\.initialInstanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1/);
  assert.match(msg, /Value '-1' at 'productionVariants\.2\.member\.initialVariantWeight'/);
  assert.match(messageOf('CreateModel', { ModelName: 'm', Containers: Array.from({ length: 16 }, () => ({})) }), /at 'containers' failed to satisfy constraint: Member must have length less than or equal to 15/);
  assert.match(
    messageOf('UpdateEndpoint', { EndpointName: 'e', EndpointConfigName: 'c', DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'SLOW', WaitIntervalInSeconds: 4000 } } } }),
    /Value 'SLOW' at 'deploymentConfig\.blueGreenUpdatePolicy\.trafficRoutingConfiguration\.type' failed to satisfy constraint: Member must satisfy enum value set: \[ALL_AT_ONCE, CANARY, LINEAR\]; Value '4000' at .*waitIntervalInSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600/,
  );
});

test('a member of the wrong JSON type is a SerializationException; unknown members are ignored', () => {
  assert.match(messageOf('CreateEndpoint', { EndpointName: 5, EndpointConfigName: 'c' }), /^SerializationException: endpointName must be a string/);
  assert.match(messageOf('CreateEndpointConfig', { EndpointConfigName: 'c', ProductionVariants: {} }), /^SerializationException: productionVariants must be a list/);
  assert.equal(messageOf('DescribeEndpoint', { EndpointName: 'e', Whatever: [1] }), 'ok');
});

test("an integer member takes a 32-bit integer, as the service reads it, whatever its range: past it, a SerializationException (MaxConcurrentTransforms 3000000000 was taken and reached the container); a long member takes more", () => {
  const variant = (n: number) => ({ EndpointConfigName: 'c', ProductionVariants: [{ VariantName: 'A', ModelName: 'm', InitialInstanceCount: n }] });
  assert.equal(messageOf('CreateEndpointConfig', variant(2_147_483_647)), 'ok');
  assert.equal(
    messageOf('CreateEndpointConfig', variant(2_147_483_648)),
    'SerializationException: productionVariants.1.member.initialInstanceCount must be a 32-bit integer, -2147483648 to 2147483647 (got 2147483648).',
  );
  // ProfilingIntervalInMilliseconds is the model's long.
  const training = SAGEMAKER_INPUTS.CreateTrainingJob!;
  assert.doesNotThrow(() => validateInput({ ProfilerConfig: { ProfilingIntervalInMilliseconds: 5_000_000_000 } }, { ...training, required: [] }));
});

test("tag keys and values follow botocore's TagKey/TagValue pattern (letters, spaces, digits, _.:/=+-@ in any script)", () => {
  assert.equal(messageOf('CreateModel', { ModelName: 'm', Tags: [{ Key: 'team name/ü:1', Value: 'ml+ops@example.com = 日本 _-.' }, { Key: 'empty', Value: '' }] }), 'ok');
  const msg = messageOf('CreateModel', { ModelName: 'm', Tags: [{ Key: 'bad#key', Value: 'ok' }, { Key: 'ok', Value: 'semi;colon' }] });
  assert.match(msg, /^ValidationException: 2 validation errors detected: /);
  assert.match(msg, /Value 'bad#key' at 'tags\.1\.member\.key' failed to satisfy constraint: Member must satisfy regular expression pattern: \(\[\\p\{L\}/);
  assert.match(msg, /Value 'semi;colon' at 'tags\.2\.member\.value'/);
});

test('data capture CsvContentTypes/JsonContentTypes must be type/subtype MIME types', () => {
  const config = (header: Record<string, unknown>) => ({
    EndpointConfigName: 'c',
    ProductionVariants: [{ VariantName: 'A', ModelName: 'm' }],
    DataCaptureConfig: { InitialSamplingPercentage: 100, DestinationS3Uri: 's3://b/p', CaptureOptions: [{ CaptureMode: 'Input' }], CaptureContentTypeHeader: header },
  });
  assert.equal(messageOf('CreateEndpointConfig', config({ CsvContentTypes: ['text/csv', 'application/x-csv'], JsonContentTypes: ['application/jsonlines', 'application/vnd.api.v1'] })), 'ok');
  const msg = messageOf('CreateEndpointConfig', config({ CsvContentTypes: ['csv'], JsonContentTypes: ['application/json; charset=utf-8'] }));
  assert.match(msg, /^ValidationException: 2 validation errors detected: /);
  assert.match(msg, /Value 'csv' at 'dataCaptureConfig\.captureContentTypeHeader\.csvContentTypes\.1\.member' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  assert.match(msg, /Value 'application\/json; charset=utf-8' at 'dataCaptureConfig\.captureContentTypeHeader\.jsonContentTypes\.1\.member'/);
});

test('a message stays short whatever the input: the first 100 violations are spelt out and the rest counted', () => {
  // DesiredWeightsAndCapacities has no maximum: a 5 MiB body holds 240 000 bad entries, a 43 MB message spelt out.
  const many = messageOf('UpdateEndpointWeightsAndCapacities', { EndpointName: 'e', DesiredWeightsAndCapacities: Array.from({ length: 250 }, () => ({ VariantName: '-' })) });
  assert.match(many, /^ValidationException: 250 validation errors detected: Value '-' at 'desiredWeightsAndCapacities\.1\.member\.variantName' /);
  assert.equal(many.match(/Value '-' at /g)?.length, 100);
  assert.match(many, /at 'desiredWeightsAndCapacities\.100\.member\.variantName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^;]*; and 150 more, not listed$/);
});

test("a map's keys and values are reported at the map, once each, with every constraint of their shape, as the service words it (\"Map value must satisfy constraint: [...]\")", () => {
  const env = { GOOD: 'v', 'BAD-KEY': 'v', ['K'.repeat(100_000)]: 'v', LONG: 'v'.repeat(2_000), LONGER: 'v'.repeat(3_000) };
  const msg = messageOf('CreateModel', { ModelName: 'm', PrimaryContainer: { Environment: env } });
  // Quoted as Java writes a map, {key=value, ...}, as the service quotes it; cut at 200 characters.
  const shown = `{GOOD=v, BAD-KEY=v, ${'K'.repeat(180)}...`;
  assert.equal(
    msg,
    'ValidationException: 2 validation errors detected: ' +
      `Value '${shown}' at 'primaryContainer.environment' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024 bytes (UTF-8), Member must have length greater than or equal to 0 bytes (UTF-8), Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]; ` +
      `Value '${shown}' at 'primaryContainer.environment' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 1024 bytes (UTF-8), Member must have length greater than or equal to 0 bytes (UTF-8), Member must satisfy regular expression pattern: [\\S\\s]*]`,
  );
  assert.match(messageOf('CreateTrainingJob', { TrainingJobName: 'j', RoleArn: 'arn:aws:iam::123456789012:role/r', OutputDataConfig: { S3OutputPath: 's3://b/o' }, HyperParameters: { lr: 'x'.repeat(2_501) } }), /Value '\{lr=x{196}\.\.\.' at 'hyperParameters' failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length less than or equal to 2500, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: \.\*\]$/);
});

test('a quoted value cut to length keeps whole characters: no lone surrogate reaches the message (boto3 cannot print one)', () => {
  // 'a' then emoji (two UTF-16 units each): the cuts at 200 (validator), 100 (SerializationException) and 256 fall inside a pair.
  const emoji = 'a' + '😀'.repeat(300);
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const value = messageOf('CreateModel', { ModelName: 'm', Tags: [{ Key: 'k', Value: emoji }] });
  assert.match(value, /^ValidationException: 2 validation errors detected: Value 'a(?:😀){99}\.\.\.' at 'tags\.1\.member\.value'/);
  assert.doesNotMatch(value, lone);
  const map = messageOf('CreateModel', { ModelName: 'm', PrimaryContainer: { Environment: { K: emoji } } });
  assert.doesNotMatch(map, lone);
  const typed = messageOf('CreateEndpoint', { EndpointName: ['a' + '😀'.repeat(60)], EndpointConfigName: 'c' });
  assert.match(typed, /^SerializationException: endpointName must be a string/);
  assert.doesNotMatch(typed, lone);
  const violations = new ConstraintViolations();
  violations.add('a' + '😀'.repeat(200), 'value', 'be short');
  assert.doesNotMatch(violations.message()!, lone);
  assert.equal(firstChars('ab😀', 3), 'ab');
  assert.equal(firstChars('ab😀', 4), 'ab😀');
  assert.equal(lastChars('😀ab', 3), 'ab');
  assert.equal(lastChars('😀ab', 4), '😀ab');
  assert.equal(lastChars('ab', 0), '');
});

test('withoutNulls drops null members and list items at every depth, copying only plain objects and arrays: the input is left as it was, and a Date, Uint8Array or Blob an in-process caller passes is kept as it is', () => {
  const date = new Date(0);
  const bytes = new Uint8Array([1, 2]);
  const blob = new Blob(['x']);
  const input = { a: [[null, 1], [null], [{ x: null, y: [null, { z: null }] }]], b: null, c: 's', d: 0, e: false, date, bytes, blob, dates: [null, date] };
  const out = withoutNulls(input);
  assert.deepEqual(out, { a: [[1], [], [{ y: [{}] }]], c: 's', d: 0, e: false, date, bytes, blob, dates: [date] });
  assert.equal(out.date, date);
  assert.equal(out.bytes, bytes);
  assert.equal(out.blob, blob);
  assert.equal(input.b, null, 'the input is not changed');
  assert.deepEqual(input.a[0], [null, 1]);
  // A `__proto__` member (as JSON.parse makes it) stays a member: it sets no prototype.
  const proto = withoutNulls(JSON.parse('{"__proto__":{"polluted":1},"k":null}') as Record<string, unknown>);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.deepEqual(Object.keys(proto), ['__proto__']);
});

test('withoutNulls copies each part an input shares once: an in-process input that refers to one object from many places (a tree of 2^60 leaves in 60 objects) costs what its distinct objects do', () => {
  // One shared part first: without the sharing kept, this fails at once rather than copying 2^60 objects below.
  const part = { leaf: 1 };
  const two = withoutNulls({ a: part, b: [part] });
  assert.equal(two.a, two.b[0], 'one copy of a part referred to twice');
  let shared: Record<string, unknown> = { leaf: 1, gone: null };
  for (let i = 0; i < 60; i++) shared = { left: shared, right: [shared, null], gone: null };
  const out = withoutNulls(shared);
  assert.equal(out.left, (out.right as unknown[])[0], 'one copy of the shared part');
  assert.equal('gone' in out, false);
  let depth = 0;
  for (let node = out; node.left !== undefined; node = node.left as Record<string, unknown>) depth++;
  assert.equal(depth, 60);
});
