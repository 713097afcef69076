import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import { loadLocalSageMakerSettings } from './local-sagemaker.js';

test('SMKIT_LOCAL_HEALTH_CHECK_SECONDS: 5 s by default, 0 turns the checks off, fractions allowed, bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({}).healthCheckSeconds, 5);
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_HEALTH_CHECK_SECONDS: '0' }).healthCheckSeconds, 0);
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_HEALTH_CHECK_SECONDS: ' 0.5 ' }).healthCheckSeconds, 0.5);
  for (const bad of ['-1', '0.05', '3601', 'often', 'NaN']) {
    assert.throws(
      () => loadLocalSageMakerSettings({ SMKIT_LOCAL_HEALTH_CHECK_SECONDS: bad }),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes('SMKIT_LOCAL_HEALTH_CHECK_SECONDS') && err.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test('the local SageMaker settings: defaults when nothing is set', () => {
  assert.deepEqual(loadLocalSageMakerSettings({}, 8 * 1024 ** 3), { region: 'us-east-1', accountId: '000000000000', maxInstances: 16, healthCheckSeconds: 5, serverlessIdleSeconds: 60, maxInvocationsPerInstance: 1000, bodyMemoryMb: 2048, logStreamMb: 8, logsMb: 256, s3TimeoutSeconds: 60 });
});

test('SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS: a number of seconds, refused when not one', () => {
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS: '0.5' }).serverlessIdleSeconds, 0.5);
  assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS: 'soon' }), { message: 'SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS="soon" is invalid: expected a decimal number from 0.1 to 86400.' });
  assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS: '0' }), /SMKIT_LOCAL_SERVERLESS_IDLE_SECONDS/);
});

test('SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE: 1000 by default, a whole number from 1 to 1000000; bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE: ' 8 ' }).maxInvocationsPerInstance, 8);
  for (const bad of ['0', '2.5', '0x10', '1e3', 'many', '1000001']) {
    assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE: bad }), { message: `SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE="${bad}" is invalid: expected a whole number from 1 to 1000000.` }, bad);
  }
});

test('SMKIT_LOCAL_BODY_MEMORY_MB: a quarter of the memory by default, never below a 6 MB request and its answer; bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({}, 16 * 1024 ** 3).bodyMemoryMb, 4096);
  assert.equal(loadLocalSageMakerSettings({}, 32 * 1024 ** 2).bodyMemoryMb, 12);
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_BODY_MEMORY_MB: '64.5' }).bodyMemoryMb, 64.5);
  for (const bad of ['11', 'lots', '-1', '2000000', '0x40']) {
    assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_BODY_MEMORY_MB: bad }), { message: `SMKIT_LOCAL_BODY_MEMORY_MB="${bad}" is invalid: expected a decimal number from 12 to 1048576.` }, bad);
  }
});

test('SMKIT_LOCAL_LOG_STREAM_MB: 8 MB by default, from 1 (one largest log event) to 1024; bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_LOG_STREAM_MB: '1.5' }).logStreamMb, 1.5);
  for (const bad of ['0.5', 'big', '1025']) {
    assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_LOG_STREAM_MB: bad }), { message: `SMKIT_LOCAL_LOG_STREAM_MB="${bad}" is invalid: expected a decimal number from 1 to 1024.` }, bad);
  }
});

test('SMKIT_LOCAL_LOGS_MB: 256 MB by default, from 1 to 65536; bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_LOGS_MB: '2.5' }).logsMb, 2.5);
  for (const bad of ['0.5', 'lots', '65537']) {
    assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_LOGS_MB: bad }), { message: `SMKIT_LOCAL_LOGS_MB="${bad}" is invalid: expected a decimal number from 1 to 65536.` }, bad);
  }
});

test('SMKIT_LOCAL_S3_TIMEOUT_SECONDS: 60 s by default (botocore\'s connect and read timeouts), 0 turns it off, fractions allowed, bad values name the variable', () => {
  assert.equal(loadLocalSageMakerSettings({}).s3TimeoutSeconds, 60);
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_S3_TIMEOUT_SECONDS: '0' }).s3TimeoutSeconds, 0);
  assert.equal(loadLocalSageMakerSettings({ SMKIT_LOCAL_S3_TIMEOUT_SECONDS: ' 2.5 ' }).s3TimeoutSeconds, 2.5);
  for (const bad of ['-1', '0.05', '3601', 'never', 'NaN']) {
    assert.throws(() => loadLocalSageMakerSettings({ SMKIT_LOCAL_S3_TIMEOUT_SECONDS: bad }), { message: `SMKIT_LOCAL_S3_TIMEOUT_SECONDS="${bad}" is invalid: expected 0 (no timeout) or a decimal number of seconds from 0.1 to 3600.` }, bad);
  }
});

test('a bad variable is ERR_CONFIG_INVALID in the one shape of every setting and flag: the variable, the text as set, what is allowed (decimal only, as flags)', () => {
  for (const [name, value, expected] of [
    ['SMKIT_LOCAL_MAX_INSTANCES', 'lots', 'a whole number from 1 to 1000'],
    ['SMKIT_LOCAL_MAX_INSTANCES', '0x10', 'a whole number from 1 to 1000'],
    ['SMKIT_LOCAL_HEALTH_CHECK_SECONDS', '0b11', '0 (off) or a decimal number of seconds from 0.1 to 3600'],
    ['SMKIT_LOCAL_ACCOUNT_ID', '1234', 'an account ID of 12 digits, such as 000000000000'],
    ['AWS_ENDPOINT_URL', 'localhost:4569', 'an http:// or https:// URL such as http://127.0.0.1:4569'],
    ['AWS_ENDPOINT_URL_S3', 'not a url', 'an http:// or https:// URL such as http://127.0.0.1:4569'],
  ] as const) {
    assert.throws(
      () => loadLocalSageMakerSettings({ [name]: value }),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message === `${name}=${JSON.stringify(value)} is invalid: expected ${expected}.`,
      `${name}=${value}`,
    );
  }
  // A password in the URL is not shown: without a scheme, me:s3cret@h:80 parses as scheme "me:".
  for (const [value, shown] of [['me:s3cret@h:80', 'me:***@h:80'], ['ftp://me:s3cret@h:80', 'ftp://me:***@h:80/']]) {
    assert.throws(() => loadLocalSageMakerSettings({ AWS_ENDPOINT_URL_S3: value }), { code: 'ERR_CONFIG_INVALID', message: `AWS_ENDPOINT_URL_S3=${JSON.stringify(shown)} is invalid: expected an http:// or https:// URL such as http://127.0.0.1:4569.` });
  }
});

test('a Region that is not a Region name (spaces, a dot) stops the local SageMaker naming the variable it came from', () => {
  for (const [env, variable] of [[{ AWS_REGION: 'us east 1' }, 'AWS_REGION'], [{ AWS_DEFAULT_REGION: 'eu-west-1.' }, 'AWS_DEFAULT_REGION']] as const) {
    assert.throws(() => loadLocalSageMakerSettings(env, 8 * 2 ** 30), (err: unknown) => err instanceof Error && (err as { code?: string }).code === 'ERR_CONFIG_INVALID' && err.message.startsWith(`${variable}=`));
  }
  // What the SDK takes is taken: other partitions, made-up local names, a name of digits only.
  for (const region of ['cn-north-1', 'us-gov-west-1', 'eu-isoe-west-1', 'us-east-1-fips', 'local', '123']) {
    assert.equal(loadLocalSageMakerSettings({ AWS_REGION: region }, 8 * 2 ** 30).region, region);
  }
  assert.throws(() => loadLocalSageMakerSettings({ AWS_REGION: 'us-east-1-' }, 8 * 2 ** 30), /AWS_REGION="us-east-1-" is invalid/);
  assert.equal(loadLocalSageMakerSettings({}, 8 * 2 ** 30).region, 'us-east-1');
});
