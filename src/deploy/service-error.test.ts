import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, createServer } from 'node:http';
import type { AddressInfo, TcpNetConnectOpts } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateEndpointCommand, CreateModelCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { allPages, call } from './service-error.js';
import { startLocalS3 } from '../../test/helpers/local-s3.js';
import { createDeployClients } from './clients.js';
import { objectExists } from './artifacts.js';

// The AWS SDK's own errors when it finds no region or no credentials, in a process whose
// environment and home hold neither (no profile files, no instance metadata): deploy's message
// says what to set. The calls never leave the process, so nothing reaches AWS.
const script = `
import { createDeployClients } from ${JSON.stringify(new URL('./clients.js', import.meta.url).href)};
import { call } from ${JSON.stringify(new URL('./service-error.js', import.meta.url).href)};
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
for (const target of [{}, { region: 'eu-west-1' }]) {
  const clients = createDeployClients(target, { hasCredentials: false });
  try {
    await call('SageMaker DescribeEndpoint iris', () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' })));
  } catch (err) {
    console.log(err.code + ' ' + err.message);
  } finally {
    clients.destroy();
  }
}
`;

test('no region and no credentials: the SDK errors say which flag, file key or variables to set', async () => {
  const home = await mkdtemp(path.join(tmpdir(), 'smkit-no-aws-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      // From the repository's root, where @aws-sdk/client-sagemaker resolves.
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: home, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: path.join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none') },
    });
    const [region, credentials] = stdout.trim().split('\n');
    assert.equal(region, 'ERR_DEPLOY_FAILED SageMaker DescribeEndpoint iris failed: Error: Region is missing. Give the region: --region, deploy.region in the endpoint file, AWS_REGION, or region in your AWS profile.');
    assert.match(credentials!, /^ERR_DEPLOY_FAILED SageMaker DescribeEndpoint iris failed: CredentialsProviderError: Could not load credentials from any providers\. No AWS credentials were found: set AWS_PROFILE .*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; to rehearse against the local SageMaker, give --endpoint-url http:\/\/127\.0\.0\.1:PORT\.$/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('a Create* still throttled or 5xx once the SDK has used its attempts says so, and that running deploy again picks up; a quota (ResourceLimitExceeded) says where to ask for more', async () => {
  const answers: Array<[number, string, string]> = [];
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls += 1;
      const [status, type, message] = answers[0]!;
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: type, message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients = [2, 1].map((maxAttempts) => new SageMakerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts }));
  try {
    answers[0] = [503, 'ServiceUnavailable', 'Service is unavailable'];
    await assert.rejects(call('SageMaker CreateEndpoint iris', () => clients[0]!.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'iris-1' }))), (err: Error) => {
      assert.equal(
        err.message,
        'SageMaker CreateEndpoint iris failed: ServiceUnavailable: Service is unavailable. The AWS SDK tried 2 times (AWS_MAX_ATTEMPTS, default 3; AWS_RETRY_MODE=adaptive also slows its calls down): run smkit deploy again in a while; it plans from what exists, so it picks up where this run stopped.',
      );
      return true;
    });
    assert.equal(calls, 2, 'the SDK retried the 503');
    answers[0] = [400, 'ThrottlingException', 'Rate exceeded'];
    await assert.rejects(call('SageMaker CreateEndpoint iris', () => clients[1]!.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'iris-1' }))), /failed: ThrottlingException: Rate exceeded\. The AWS SDK gave up \(AWS_MAX_ATTEMPTS/);
    answers[0] = [400, 'ResourceLimitExceeded', "The account-level service limit 'ml.g5.xlarge for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota."];
    await assert.rejects(call('SageMaker CreateEndpoint iris', () => clients[1]!.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'iris-1' }))), (err: Error) => {
      assert.match(err.message, /^SageMaker CreateEndpoint iris failed: ResourceLimitExceeded: The account-level service limit 'ml\.g5\.xlarge for endpoint usage' .* Quotas are per account and region: ask for more in the Service Quotas console .*or change instanceType or instanceCount in the endpoint file; .*the next run picks up from there\.$/);
      return true;
    });
    answers[0] = [400, 'ValidationException', 'Could not find endpoint configuration "iris-1".'];
    await assert.rejects(call('SageMaker CreateEndpoint iris', () => clients[1]!.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'iris-1' }))), (err: Error) => {
      assert.equal(err.message, 'SageMaker CreateEndpoint iris failed: ValidationException: Could not find endpoint configuration "iris-1".', 'a refusal gets no retry advice');
      return true;
    });
  } finally {
    for (const c of clients) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('CreateModel refused because SageMaker cannot assume deploy.role: the message names the key, the ARN path, the trust policy and IAM propagation', async () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const message = "Could not assume role arn:aws:iam::123456789012:role/SageMakerRole. Please ensure that the role exists and allows principal 'sagemaker.amazonaws.com' to assume the role.";
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: 'ValidationException', message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new SageMakerClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    await assert.rejects(call('SageMaker CreateModel iris-A-0123456789', () => client.send(new CreateModelCommand({ ModelName: 'iris-A-0123456789', ExecutionRoleArn: 'arn:aws:iam::123456789012:role/SageMakerRole' }))), (err: Error) => {
      assert.match(err.message, /^SageMaker CreateModel iris-A-0123456789 failed: ValidationException: Could not assume role arn:aws:iam::123456789012:role\/SageMakerRole\. Please ensure .* to assume the role\. The role is deploy\.role in the endpoint file: check its ARN \(a role under a path keeps the path in it, .*sagemaker\.amazonaws\.com call sts:AssumeRole; .*run smkit deploy again in a minute\.$/);
      return true;
    });
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('allPages follows NextToken to the last page, and fails a service that answers a token it answered before rather than loop for good', async () => {
  const asked: (string | undefined)[] = [];
  const next: Record<string, string | undefined> = { start: 'a', a: 'b', b: undefined };
  const pages = await allPages('CloudWatch DescribeAlarms', async (token) => {
    asked.push(token);
    return { NextToken: next[token ?? 'start'], page: token ?? 'start' };
  });
  assert.deepEqual([asked, pages.map((p) => p.page)], [[undefined, 'a', 'b'], ['start', 'a', 'b']]);
  let calls = 0;
  await assert.rejects(allPages('Application Auto Scaling DescribeScalingPolicies', async (token) => {
    calls += 1;
    return { NextToken: token === undefined ? 'a' : token === 'a' ? 'b' : 'a' };
  }), {
    code: 'ERR_DEPLOY_FAILED',
    message: 'Application Auto Scaling DescribeScalingPolicies failed: page 3 answered a NextToken it had answered before, so its pages never end.',
  });
  assert.equal(calls, 3);
  await assert.rejects(allPages('CloudWatch DescribeAlarms', async () => { throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }); }), { code: 'ERR_DEPLOY_FAILED', message: /^CloudWatch DescribeAlarms failed: Throttling: Rate exceeded/ });
});

test('an S3 call refused without an error body (HeadObject, 403) names the HTTP status and whose keys were refused, not "Unknown: UnknownError"', { timeout: 60_000 }, async () => {
  // A developer with AWS keys in the environment rehearsing against s3rver: deploy signs with those
  // keys, which s3rver refuses; HeadObject's 403 has no body for the SDK to read a code from.
  const s3 = await startLocalS3(['artifacts']);
  const clients = createDeployClients({ endpointUrl: 'http://127.0.0.1:9', region: 'us-east-1' }, { hasCredentials: true, s3EndpointUrl: s3.url });
  const keys = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = 'AKIDNOTS3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'not-s3rver';
  try {
    assert.equal(await objectExists(s3.client, 'artifacts', 'smkit/none/model.tar.gz'), false, "s3rver's own keys: a missing object");
    await assert.rejects(objectExists(clients.s3, 'artifacts', 'smkit/none/model.tar.gz'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.match(err.message, /^S3 HeadObject s3:\/\/artifacts\/smkit\/none\/model\.tar\.gz failed: HTTP 403: Forbidden \(the answer had no error body\)\. S3 refused the credentials deploy signs with/);
      assert.match(err.message, /A local S3 such as s3rver takes only its own keys \(S3RVER, S3RVER\)/);
      assert.doesNotMatch(err.message, /UnknownError/);
      return true;
    });
  } finally {
    for (const [k, v] of Object.entries(keys)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    clients.destroy();
    await s3.stop();
  }
});

test("an S3 HeadObject answered 301 without a body (the bucket is in another Region) says so, not 'Unknown: UnknownError'", { timeout: 60_000 }, async () => {
  // What S3 answers a HEAD sent to the wrong Region's endpoint: 301, x-amz-bucket-region, no body.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(req.url?.includes('/k400/') ? 400 : 301, { 'x-amz-bucket-region': 'eu-west-1' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clients = createDeployClients({ endpointUrl: 'http://127.0.0.1:9', region: 'us-east-1' }, { hasCredentials: false, s3EndpointUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  try {
    await assert.rejects(objectExists(clients.s3, 'artifacts', 'k/model.tar.gz'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.match(err.message, /^S3 HeadObject s3:\/\/artifacts\/k\/model\.tar\.gz failed: HTTP 301: Moved Permanently \(the answer had no error body\)\. The bucket is in another AWS Region/);
      return true;
    });
    // A HEAD signed for another Region is as often answered a bare 400 (aws/aws-sdk-js-v3#7304).
    await assert.rejects(objectExists(clients.s3, 'artifacts', 'k400/model.tar.gz'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.match(err.message, /^S3 HeadObject s3:\/\/artifacts\/k400\/model\.tar\.gz failed: HTTP 400: Bad Request \(the answer had no error body\)\. S3 answers so a request signed for another AWS Region than the bucket's/);
      return true;
    });
  } finally {
    clients.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a call that nothing accepts (ECONNREFUSED: smkit local or the local S3 not started) says which setting sends it there and what to start', { timeout: 60_000 }, async () => {
  // A port that was just free: nothing listens on it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const url = `http://127.0.0.1:${port}`;
  const clients = createDeployClients({ endpointUrl: url, region: 'us-east-1' }, { hasCredentials: false, s3EndpointUrl: url });
  try {
    await assert.rejects(
      call('SageMaker DescribeEndpoint iris', () => clients.sagemaker.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'c' }))),
      {
        code: 'ERR_DEPLOY_FAILED',
        message: `SageMaker DescribeEndpoint iris failed: Error: connect ECONNREFUSED 127.0.0.1:${port}. Nothing accepted the connection at 127.0.0.1:${port}, where --endpoint-url (else an AWS_ENDPOINT_URL_* variable) sends the SageMaker, CloudWatch and Application Auto Scaling calls: start smkit local there (smkit local --port ${port}) and wait until it says it is ready, or fix the URL.`,
      },
    );
    await assert.rejects(objectExists(clients.s3, 'artifacts', 'k/model.tar.gz'), {
      code: 'ERR_DEPLOY_FAILED',
      message: `S3 HeadObject s3://artifacts/k/model.tar.gz failed: Error: connect ECONNREFUSED 127.0.0.1:${port}. Nothing accepted the connection at 127.0.0.1:${port}, where AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL) sends the S3 calls: start the local S3 there (npx s3rver --directory /tmp/s3 --configure-bucket <bucket> --port ${port}), or fix the variable.`,
    });
    // A host of several addresses (localhost at 127.0.0.1 and ::1, as most resolvers give it): Node tries each and
    // fails with an AggregateError with no message of its own, and the first attempt's code. Attempts of 10 s, not
    // Node's 250 ms: a stalled event loop would record the first refusal as a timeout.
    const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
      options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]) : callback(null, '127.0.0.1', 4)) as unknown as TcpNetConnectOpts['lookup'];
    const agent = new Agent({ lookup, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 10_000 });
    const twoAddresses = new SageMakerClient({ endpoint: `http://smkit.localhost.test:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1, requestHandler: { httpAgent: agent } });
    try {
      await assert.rejects(call('SageMaker DescribeEndpoint iris', () => twoAddresses.send(new CreateEndpointCommand({ EndpointName: 'iris', EndpointConfigName: 'c' }))), (err: Error) => {
        // Before: "SageMaker DescribeEndpoint iris failed: AggregateError: " and nothing more.
        assert.match(err.message, new RegExp(`^SageMaker DescribeEndpoint iris failed: AggregateError: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; connect \\S+ ::1:${port}\\. Nothing accepted the connection at 127\\.0\\.0\\.1:${port}, where --endpoint-url .*smkit local --port ${port}\\)`));
        return true;
      });
    } finally {
      twoAddresses.destroy();
      agent.destroy();
    }
    // ECR (--build's login) is never smkit local's: only AWS_ENDPOINT_URL_ECR or AWS_ENDPOINT_URL sends it to such a port.
    const ecr = new ECRClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1 });
    try {
      await assert.rejects(call('ECR GetAuthorizationToken', () => ecr.send(new GetAuthorizationTokenCommand({}))), {
        code: 'ERR_DEPLOY_FAILED',
        message: `ECR GetAuthorizationToken failed: Error: connect ECONNREFUSED 127.0.0.1:${port}. Nothing accepted the connection at 127.0.0.1:${port}, where AWS_ENDPOINT_URL_ECR (else AWS_ENDPOINT_URL) sends the ECR calls (smkit local serves none): fix the variable, or unset it to push to ECR itself.`,
      });
    } finally {
      ecr.destroy();
    }
  } finally {
    clients.destroy();
  }
});
