import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { ToolkitError } from '../errors/catalogue.js';
import type { DeployClients } from './clients.js';
import { followDeletion, MAX_MISSED_POLLS, waitForEndpoint, waitForEndpointDeleted } from './progress.js';

// What the real service does and the local SageMaker does not: throttle DescribeEndpoint, answer
// 503. A stub speaking SageMaker's JSON protocol answers each DescribeEndpoint from a script,
// through the real SDK client (one attempt per call: as if the SDK's retries had run out).

/** One scripted answer: an error (`[status, __type, message]`) or DescribeEndpoint's output. */
type Answer = [number, string, string] | Record<string, unknown>;

let server: Server;
let sagemaker: SageMakerClient;
let script: Answer[] = [];
let calls = 0;

describe('progress', () => {
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls += 1;
        assert.equal(req.headers['x-amz-target'], 'SageMaker.DescribeEndpoint');
        const answer = script.length > 1 ? script.shift()! : script[0]!;
        const [status, body] = Array.isArray(answer) ? [answer[0], { __type: answer[1], message: answer[2] }] : [200, answer];
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sagemaker = new SageMakerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  });

  after(async () => {
    sagemaker?.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  const clients = (): DeployClients => ({ sagemaker }) as unknown as DeployClients;
  const endpoint = (status: string): Record<string, unknown> => ({ EndpointName: 'iris', EndpointArn: 'arn:aws:sagemaker:us-east-1:0:endpoint/iris', EndpointConfigName: 'iris-1', EndpointStatus: status, CreationTime: 0, LastModifiedTime: 0 });
  const THROTTLED: Answer = [400, 'ThrottlingException', 'Rate exceeded'];
  const UNAVAILABLE: Answer = [503, 'ServiceUnavailable', 'Service is unavailable'];

  test('a DescribeEndpoint throttled or answered 503 while deploy waits is polled again, backing off, and the wait goes on', async () => {
    script = [THROTTLED, UNAVAILABLE, endpoint('Creating'), THROTTLED, endpoint('InService')];
    calls = 0;
    const lines: string[] = [];
    const outcome = await waitForEndpoint(clients(), 'iris', 'iris-1', { pollSeconds: 0.001, timeoutSeconds: 60, log: (l) => lines.push(l) });
    assert.deepEqual(outcome, { kind: 'in-service' });
    assert.equal(calls, 5);
    assert.match(lines[0]!, /^SageMaker DescribeEndpoint iris: ThrottlingException: Rate exceeded; polling again in 0\.002 s$/);
    assert.match(lines[1]!, /^SageMaker DescribeEndpoint iris: ServiceUnavailable: Service is unavailable; polling again in 0\.004 s$/);
    // A successful poll resets the backoff.
    assert.match(lines[3]!, /ThrottlingException: Rate exceeded; polling again in 0\.002 s$/);
  });

  test('a DescribeEndpoint throttled poll after poll ends the wait with the service error, saying the change goes on and how to follow it', async () => {
    script = [THROTTLED];
    calls = 0;
    await assert.rejects(waitForEndpointDeleted(clients(), 'iris', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} }), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.equal(err.code, 'ERR_DEPLOY_FAILED');
      assert.match(err.message, /^SageMaker DescribeEndpoint iris failed: ThrottlingException: Rate exceeded\. 8 poll\(s\) in a row failed so; .*goes on in SageMaker: follow it with aws sagemaker describe-endpoint --endpoint-name iris and run smkit deploy again/);
      assert.deepEqual(err.details, { serviceError: 'ThrottlingException', httpStatus: 400 });
      return true;
    });
    assert.equal(calls, MAX_MISSED_POLLS);
  });

  test('a deletion that fails (Deleting, then Failed) ends the wait saying so, as AWS\'s EndpointDeleted waiter does, instead of polling a Failed endpoint until --timeout', async () => {
    const notFound: Answer = [400, 'ValidationException', 'Could not find endpoint "iris".'];
    const failed = { ...endpoint('Failed'), FailureReason: 'Internal failure while deleting' };
    const opts = { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} };
    script = [endpoint('Deleting'), endpoint('Deleting'), failed];
    calls = 0;
    assert.deepEqual(await waitForEndpointDeleted(clients(), 'iris', opts), { kind: 'failed', reason: 'Internal failure while deleting' });
    assert.equal(calls, 3);
    // A Failed endpoint just asked to be deleted may read Failed for a moment: that alone is not a failed deletion.
    script = [endpoint('Failed'), endpoint('Failed'), endpoint('Deleting'), notFound];
    calls = 0;
    assert.deepEqual(await waitForEndpointDeleted(clients(), 'iris', opts), { kind: 'deleted' });
    assert.equal(calls, 4);
    // One that stays Failed, never Deleting, is a failed deletion after a few polls.
    script = [endpoint('Failed')];
    calls = 0;
    assert.deepEqual(await waitForEndpointDeleted(clients(), 'iris', opts), { kind: 'failed' });
    assert.equal(calls, MAX_MISSED_POLLS);
  });

  test('DescribeEndpoint throttled poll after poll while --delete waits for the deletion says to run --delete again, not smkit deploy, which would deploy the endpoint anew', async () => {
    script = [THROTTLED];
    calls = 0;
    const next = 'Run smkit deploy --delete again to remove its endpoint configs, models once it is gone (it waits for that).';
    await assert.rejects(followDeletion(clients(), 'iris', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} }, next, 'smkit deploy --delete'), (err: unknown) => {
      assert.ok(err instanceof ToolkitError);
      assert.match(err.message, /8 poll\(s\) in a row failed so; .*follow it with aws sagemaker describe-endpoint --endpoint-name iris and run smkit deploy --delete again once it has settled\. The deletion goes on in SageMaker\. Run smkit deploy --delete again/);
      assert.doesNotMatch(err.message, /run smkit deploy again/);
      return true;
    });
  });

  test('a DescribeEndpoint refused for good (AccessDeniedException) ends the wait at once', async () => {
    script = [[400, 'AccessDeniedException', 'User is not authorized to perform: sagemaker:DescribeEndpoint']];
    calls = 0;
    await assert.rejects(waitForEndpoint(clients(), 'iris', 'iris-1', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} }), /DescribeEndpoint iris failed: AccessDeniedException: User is not authorized/);
    assert.equal(calls, 1);
  });

  test('DescribeEndpoint answering "Could not find endpoint" right after CreateEndpoint (eventual consistency) is polled again until the endpoint shows', async () => {
    const notFound: Answer = [400, 'ValidationException', 'Could not find endpoint "iris".'];
    script = [notFound, notFound, endpoint('Creating'), endpoint('InService')];
    calls = 0;
    const outcome = await waitForEndpoint(clients(), 'iris', 'iris-1', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} });
    assert.deepEqual(outcome, { kind: 'in-service' });
    assert.equal(calls, 4);
    // One that never shows ends the wait after a few polls, naming the endpoint; one seen and then gone at once.
    script = [notFound];
    calls = 0;
    await assert.rejects(waitForEndpoint(clients(), 'iris', 'iris-1', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} }), /^ToolkitError: endpoint iris was not found by DescribeEndpoint in 8 polls after it was created or updated/);
    assert.equal(calls, MAX_MISSED_POLLS);
    script = [endpoint('Creating'), notFound];
    await assert.rejects(waitForEndpoint(clients(), 'iris', 'iris-1', { pollSeconds: 0.001, timeoutSeconds: 60, log: () => {} }), /endpoint iris disappeared while waiting for it/);
  });
  test('a blue/green bake prints its line once, not again at every poll for the countdown alone', async () => {
    const now = Date.now() / 1000;
    const baking = (secondsIn: number): Answer => ({
      ...endpoint('Updating'),
      EndpointConfigName: 'iris-1',
      PendingDeploymentSummary: {
        EndpointConfigName: 'iris-2',
        ProductionVariants: [{ VariantName: 'AllTraffic', CurrentInstanceCount: 1, DesiredInstanceCount: 1, VariantStatus: [{ Status: 'Baking', StartTime: now - secondsIn }] }],
      },
    });
    script = [baking(0), baking(10), baking(20), baking(30), baking(40), { ...endpoint('InService'), EndpointConfigName: 'iris-2' }];
    calls = 0;
    const lines: string[] = [];
    const outcome = await waitForEndpoint(clients(), 'iris', 'iris-2', { pollSeconds: 0.001, timeoutSeconds: 60, bakeSeconds: 600, log: (l) => lines.push(l) });
    assert.deepEqual(outcome, { kind: 'in-service' });
    assert.equal(calls, 6);
    assert.equal(lines.filter((l) => l.includes('Baking')).length, 1, lines.join('\n'));
    assert.match(lines[0]!, /AllTraffic Baking \(bake time left (600|599) s\), instances 1\/1/);
  });
});
