// InvokeEndpoint's request headers are checked against the constraints of the SageMaker Runtime API
// model (botocore sagemaker-runtime/2017-05-13/service-2.json), through a real SDK client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, SageMakerRuntimeClient, type InvokeEndpointCommandInput, type InvokeEndpointWithResponseStreamCommandInput } from '@aws-sdk/client-sagemaker-runtime';
import { LocalEndpoint } from '../endpoint/local-endpoint.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { createFrontDoor } from './app.js';
import { createFrontDoorServer, listenFrontDoor } from './http-server.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';

let container: Server;
let frontDoor: Server;
let client: SageMakerRuntimeClient;
const seen: IncomingHttpHeaders[] = [];

describe('header constraints', () => {
  before(async () => {
    container = createServer((req, res) => {
      if (answeredStrayPing(req, res)) return;
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => container.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(container.address() as AddressInfo).port}`;
    const ep = new LocalEndpoint('ep', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url, logFile: '/tmp/primary.log' }] }]);
    frontDoor = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['ep', ep]]) }));
    client = new SageMakerRuntimeClient({ ...localClientConfig(`http://127.0.0.1:${await listenFrontDoor(frontDoor, 0)}`), maxAttempts: 1 });
  });

  after(async () => {
    client.destroy();
    await Promise.all([container, frontDoor].map((s) => new Promise((r) => s.close(r))));
  });

  const invoke = (input: Partial<InvokeEndpointCommandInput>) => client.send(new InvokeEndpointCommand({ EndpointName: 'ep', Body: Buffer.from('x'), ...input }));

  async function validationMessage(input: Partial<InvokeEndpointCommandInput>): Promise<string> {
    const err = await invoke(input).then(
      () => assert.fail('the call should fail'),
      (e: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => e,
    );
    assert.equal(err.name, 'ValidationError');
    assert.equal(err.$metadata.httpStatusCode, 400);
    return err.message;
  }

  test('EnableExplanations is at most 64 characters (EnableExplanationsHeader)', async () => {
    const ok = await invoke({ EnableExplanations: '`true`' });
    assert.equal(ok.$metadata.httpStatusCode, 200);
    const message = await validationMessage({ EnableExplanations: `\`${'x'.repeat(63)}\`` });
    assert.match(message, /^1 validation error detected: Value '`x+`' at 'enableExplanations' failed to satisfy constraint: Member must have length less than or equal to 64$/);
  });

  test('CustomAttributes, ContentType and Accept take any US-ASCII (\\p{ASCII}*), a tab included; InferenceId and TargetModel printable ASCII (\\A\\S[\\p{Print}]*\\z)', async () => {
    const ok = await invoke({ CustomAttributes: 'trace=1\tspan=2', ContentType: 'text/csv;\theader=present', Accept: 'application/json' });
    assert.equal(ok.$metadata.httpStatusCode, 200);
    assert.equal(seen.at(-1)!['x-amzn-sagemaker-custom-attributes'], 'trace=1\tspan=2', 'forwarded verbatim');
    assert.equal(
      await validationMessage({ InferenceId: 'inf\t1' }),
      "1 validation error detected: Value 'inf\t1' at 'inferenceId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z",
    );
    assert.match(await validationMessage({ TargetModel: 'model\t1.tar.gz' }), /at 'targetModel' failed to satisfy constraint: Member must satisfy regular expression pattern: \\A\\S\[\\p\{Print\}\]\*\\z$/);
    assert.match(await validationMessage({ CustomAttributes: 'café' }), /at 'customAttributes' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p\{ASCII\}\*$/);
  });

  test('CustomAttributes is sensitive in the API model: a ValidationError names the member but never quotes its value', async () => {
    assert.equal(
      await validationMessage({ CustomAttributes: 'token=s3cr\u00e9t' }),
      "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p{ASCII}*",
    );
    assert.equal(
      await validationMessage({ CustomAttributes: `token=${'s'.repeat(1020)}` }),
      "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024",
    );
  });

  test('TargetModel on an endpoint that is not multi-model is a ValidationError, as the service answers it, and never reaches the container', async () => {
    const before = seen.length;
    // The service's words: https://github.com/aws/amazon-sagemaker-examples/issues/1026
    assert.equal(await validationMessage({ TargetModel: 'model-a.tar.gz' }), 'Endpoint ep is not a multi-model endpoint and does not support target model header.');
    assert.equal(seen.length, before, 'the container was not called');
  });

  test("InvokeEndpointWithResponseStream's Accept is X-Amzn-SageMaker-Accept, checked as InvokeEndpoint's Accept (\\p{ASCII}*, at most 1024); a plain Accept header, which it does not name, is ignored", async () => {
    const stream = (input: Partial<InvokeEndpointWithResponseStreamCommandInput>) => client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'ep', Body: Buffer.from('x'), ...input }));
    const refused = async (input: Partial<InvokeEndpointWithResponseStreamCommandInput>) =>
      stream(input).then(
        () => assert.fail('the call should fail'),
        (e: { name: string; message: string }) => (assert.equal(e.name, 'ValidationError'), e.message),
      );
    assert.match(await refused({ Accept: 'a'.repeat(1025) }), /^1 validation error detected: Value 'a+\.\.\.' at 'accept' failed to satisfy constraint: Member must have length less than or equal to 1024$/);
    assert.match(await refused({ Accept: 'café' }), /at 'accept' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p\{ASCII\}\*$/);
    const ok = await stream({ Accept: 'application/json' });
    for await (const _ of ok.Body!) void _;
    assert.equal(seen.at(-1)!.accept, 'application/json', 'X-Amzn-SageMaker-Accept reaches the container as Accept');
    // A plain Accept is not a member of the streaming operation, so a value InvokeEndpoint would refuse passes.
    const raw = await fetch(`http://127.0.0.1:${(frontDoor.address() as AddressInfo).port}/endpoints/ep/invocations-response-stream`, { method: 'POST', headers: { accept: 'a'.repeat(1025), 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(raw.status, 200, await raw.text());
  });

  test('TargetVariant and TargetContainerHostname are checked as the API model says (at most 63 characters of ^[a-zA-Z0-9](-*[a-zA-Z0-9])*): a longer name fails its length, a bad one the pattern', async () => {
    for (const member of ['TargetVariant', 'TargetContainerHostname'] as const) {
      const field = member === 'TargetVariant' ? 'targetVariant' : 'targetContainerHostname';
      assert.equal(
        await validationMessage({ [member]: 'not_a_name' }),
        `1 validation error detected: Value 'not_a_name' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*`,
      );
      assert.match(await validationMessage({ [member]: 'a'.repeat(64) }), new RegExp(`at '${field}' failed to satisfy constraint: Member must have length less than or equal to 63$`));
    }
  });

  test('InferenceComponentName is at most 63 characters of ^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$ (InferenceComponentHeader): a longer name fails its length, a bad one the pattern', async () => {
    assert.equal(
      await validationMessage({ InferenceComponentName: 'ic-' }),
      "1 validation error detected: Value 'ic-' at 'inferenceComponentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$",
    );
    assert.match(await validationMessage({ InferenceComponentName: 'a'.repeat(64) }), /at 'inferenceComponentName' failed to satisfy constraint: Member must have length less than or equal to 63$/);
  });

  test('PrefixAwareId is 1 to 64 characters of \\A\\S[\\p{Print}]*\\z on InvokeEndpoint and InvokeEndpointWithResponseStream; a routing hint, it never reaches the container', async () => {
    const ok = await invoke({ PrefixAwareId: `tenant ${'a'.repeat(57)}` });
    assert.equal(ok.$metadata.httpStatusCode, 200);
    assert.equal(seen.at(-1)!['x-amzn-sagemaker-prefix-aware-id'], undefined, 'not forwarded');
    assert.equal(
      await validationMessage({ PrefixAwareId: 'tenant\t1' }),
      "1 validation error detected: Value 'tenant\t1' at 'prefixAwareId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z",
    );
    assert.match(await validationMessage({ PrefixAwareId: 'a'.repeat(65) }), /^1 validation error detected: Value 'a+' at 'prefixAwareId' failed to satisfy constraint: Member must have length less than or equal to 64$/);
    const empty = await fetch(`http://127.0.0.1:${(frontDoor.address() as AddressInfo).port}/endpoints/ep/invocations`, { method: 'POST', headers: { 'x-amzn-sagemaker-prefix-aware-id': '', 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(empty.status, 400);
    assert.match(await empty.text(), /at 'prefixAwareId' failed to satisfy constraint: Member must have length greater than or equal to 1/);

    const stream = (PrefixAwareId: string) => client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'ep', Body: Buffer.from('x'), PrefixAwareId }));
    const streamed = await stream('tenant-b');
    for await (const _ of streamed.Body!) void _;
    assert.equal(seen.at(-1)!['x-amzn-sagemaker-prefix-aware-id'], undefined, 'not forwarded on a stream either');
    const refused = await stream('a'.repeat(65)).then(
      () => assert.fail('the call should fail'),
      (e: { name: string; message: string }) => (assert.equal(e.name, 'ValidationError'), e.message),
    );
    assert.match(refused, /at 'prefixAwareId' failed to satisfy constraint: Member must have length less than or equal to 64$/);
  });

  test("SessionId is checked against each operation's own pattern: InvokeEndpoint's takes NEW_SESSION, InvokeEndpointWithResponseStream's (SessionIdHeader) does not, and its ValidationError quotes that pattern", async () => {
    const invalid = "Value 'a_b' at 'sessionId' failed to satisfy constraint: Member must satisfy regular expression pattern:";
    assert.equal(await validationMessage({ SessionId: 'a_b' }), `1 validation error detected: ${invalid} ^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`);
    const streamed = (SessionId: string) =>
      client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'ep', Body: Buffer.from('x'), SessionId })).then(
        () => assert.fail('the call should fail'),
        (e: { name: string; message: string }) => (assert.equal(e.name, 'ValidationError'), e.message),
      );
    assert.equal(await streamed('a_b'), `1 validation error detected: ${invalid} ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`);
    assert.match(await streamed('s'.repeat(257)), /at 'sessionId' failed to satisfy constraint: Member must have length less than or equal to 256$/);
  });
});
