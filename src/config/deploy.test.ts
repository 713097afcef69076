import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDeployEnvironment } from './deploy.js';
import { ToolkitError } from '../errors/catalogue.js';

const refused = (variable: string) => (err: unknown) =>
  err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith(`${variable}=`) && err.message.includes('an http:// or https:// URL');

test("an endpoint variable deploy's SDK clients read that is not an http(s) URL is refused naming it, also beside a valid AWS_ENDPOINT_URL_S3", () => {
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_SAGEMAKER: '127.0.0.1:4566' }), refused('AWS_ENDPOINT_URL_SAGEMAKER'));
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_CLOUDWATCH: 'localhost:4566' }), refused('AWS_ENDPOINT_URL_CLOUDWATCH'));
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569', AWS_ENDPOINT_URL: 'ftp://x' }), refused('AWS_ENDPOINT_URL'));
  // Valid ones pass; S3 still follows AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL.
  assert.equal(loadDeployEnvironment({ AWS_ENDPOINT_URL_SAGEMAKER: 'http://127.0.0.1:8080', AWS_ENDPOINT_URL: 'http://127.0.0.1:4569' }).s3EndpointUrl, 'http://127.0.0.1:4569');
  // The SDK ignores them all with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, and so does this check.
  assert.doesNotThrow(() => loadDeployEnvironment({ AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_ENDPOINT_URL_SAGEMAKER: '127.0.0.1:4566' }));
});

test('with --endpoint-url, the variables of the clients given it are not checked (the SDK does not read them); the others still are', () => {
  assert.doesNotThrow(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_SAGEMAKER: '127.0.0.1:4566', AWS_ENDPOINT_URL_CLOUDWATCH: 'x', AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING: 'y' }, true));
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL_ECR: 'localhost:4566' }, true), refused('AWS_ENDPOINT_URL_ECR'));
  assert.throws(() => loadDeployEnvironment({ AWS_ENDPOINT_URL: 'ftp://x' }, true), refused('AWS_ENDPOINT_URL'));
});

test('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS other than true or false is refused, as the SDK would fail on it', () => {
  for (const value of ['TRUE', '1', 'yes']) {
    assert.throws(() => loadDeployEnvironment({ AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: value, AWS_ENDPOINT_URL_SAGEMAKER: '127.0.0.1:4566' }), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS='));
  }
  assert.throws(() => loadDeployEnvironment({ AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false', AWS_ENDPOINT_URL_SAGEMAKER: '127.0.0.1:4566' }), refused('AWS_ENDPOINT_URL_SAGEMAKER'));
});

test('AWS_REGION or AWS_DEFAULT_REGION that is no Region name (US-EAST-1, which the SDK takes and AWS refuses every signature of) is refused naming the variable read', () => {
  assert.throws(() => loadDeployEnvironment({ AWS_REGION: 'US-EAST-1' }), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith('AWS_REGION="US-EAST-1" is invalid: expected an AWS Region such as us-east-1: lower-case'));
  assert.throws(() => loadDeployEnvironment({ AWS_DEFAULT_REGION: 'us east 1' }), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith('AWS_DEFAULT_REGION="us east 1" is invalid'));
  assert.equal(loadDeployEnvironment({ AWS_REGION: 'eusc-de-east-1', AWS_DEFAULT_REGION: 'BAD' }).region, 'eusc-de-east-1');
  // With --region or deploy.region given the variables are not used, so not refused (as the AWS CLI).
  assert.equal(loadDeployEnvironment({ AWS_REGION: 'US-EAST-1' }, false, true).region, undefined);
});

test('proxy variables: lower case first, else ALL_PROXY; a scheme-less value is http://; anything else but an http(s) URL is refused naming it', () => {
  assert.deepEqual(loadDeployEnvironment({ https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2', HTTP_PROXY: 'proxy.corp:3128' }).proxy, { https: 'http://a:1', http: 'http://proxy.corp:3128' });
  assert.deepEqual(loadDeployEnvironment({ ALL_PROXY: 'http://c:3' }).proxy, { https: 'http://c:3', http: 'http://c:3' });
  assert.equal(loadDeployEnvironment({ NO_PROXY: '*' }).proxy, undefined);
  for (const [name, value] of [['HTTPS_PROXY', 'socks5://127.0.0.1:1080'], ['http_proxy', 'http://'], ['ALL_PROXY', 'ftp://x']] as const) {
    assert.throws(() => loadDeployEnvironment({ [name]: value }), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith(`${name}=`));
  }
  // A proxy's password is never shown in the error (it goes to the terminal and to CI logs).
  assert.throws(() => loadDeployEnvironment({ HTTPS_PROXY: 'socks5://alice:s3cret@proxy.corp:1080' }), (err: unknown) => {
    assert.ok(err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID', String(err));
    assert.match(err.message, /^HTTPS_PROXY="socks5:\/\/\*\*\*@proxy\.corp:1080" is invalid/);
    assert.doesNotMatch(err.message, /alice|s3cret/);
    return true;
  });
  // A % that is no escape in the user name or password: named here, not a bare "URI malformed" from every call.
  for (const value of ['http://alice:50%off@proxy.corp:3128', 'http://al%ice:x@proxy.corp:3128']) {
    assert.throws(() => loadDeployEnvironment({ HTTPS_PROXY: value }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID', String(err));
      assert.match(err.message, /^HTTPS_PROXY="http:\/\/\*\*\*@proxy\.corp:3128" is invalid.*write % as %25/);
      return true;
    });
  }
  assert.deepEqual(loadDeployEnvironment({ HTTPS_PROXY: 'http://alice:50%25off@proxy.corp:3128' }).proxy, { https: 'http://alice:50%25off@proxy.corp:3128' });
  assert.deepEqual(loadDeployEnvironment({ HTTP_PROXY: 'http://p:3', no_proxy: 'a.example', NO_PROXY: 'b.example' }).proxy, { http: 'http://p:3', noProxy: 'a.example' });
});
