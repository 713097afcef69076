// Response streaming through the front door (InvokeEndpointWithResponseStream, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointWithResponseStream.html),
// driven by the real AWS SDK v3 client: PayloadPart events, ModelStreamError, and ModelError.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvokeEndpointCommand, InvokeEndpointWithResponseStreamCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { LocalEndpointsHandle } from '../../src/local/endpoint/start.js';
import { startLocalForTest, type LocalEndpointsUnderTest } from '../helpers/local-endpoints.js';
import { spawn } from 'node:child_process';
import { REPO_ROOT, SMKIT_BIN } from '../helpers/serve-process.js';

let local: LocalEndpointsUnderTest;
let handle: LocalEndpointsHandle;
let client: SageMakerRuntimeClient;

describe('local streaming', () => {
  before(async () => {
    const model = join(REPO_ROOT, 'test', 'fixtures', 'handlers', 'streaming');
    local = await startLocalForTest(`endpoints:\n  - name: chat\n    variants:\n      - name: AllTraffic\n        model: ${model}\n    dataCapture:\n      destination: capture\n`);
    ({ handle, client } = local);
  });

  after(() => local?.stop());

  const stream = (body: string) =>
    client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'chat', Body: Buffer.from(body), ContentType: 'text/plain', Accept: 'text/plain' }));

  test('the SDK receives the container chunks as PayloadPart events', async () => {
    const out = await stream('4');
    assert.equal(out.ContentType, 'text/plain');
    assert.equal(out.InvokedProductionVariant, 'AllTraffic');
    const parts: string[] = [];
    for await (const event of out.Body!) {
      if (event.PayloadPart?.Bytes) parts.push(Buffer.from(event.PayloadPart.Bytes).toString('utf8'));
    }
    // How many events the chunks arrive in depends on TCP reads; their concatenation does not.
    assert.equal(parts.join(''), 'token-0\ntoken-1\ntoken-2\ntoken-3\n');
  });

  test('a stream that breaks part way raises ModelStreamError after the parts already sent', async () => {
    const out = await stream('fail');
    const parts: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of out.Body!) {
          if (event.PayloadPart?.Bytes) parts.push(Buffer.from(event.PayloadPart.Bytes).toString('utf8'));
        }
      })(),
      (err: Error & { ErrorCode?: string }) => {
        assert.equal(err.name, 'ModelStreamError');
        assert.equal(err.ErrorCode, 'StreamBroken');
        // What broke, in words (not undici's bare "terminated").
        assert.match(err.message, /^The model's response stream broke: the connection to container primary closed before its answer ended \(other side closed\)\. See the container log/);
        return true;
      },
    );
    assert.equal(parts.join(''), 'partial\n');
  });

  test('an error before the first chunk is a ModelError with the container status', async () => {
    await assert.rejects(stream('fail-early'), (err: Error & { OriginalStatusCode?: number; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.name, 'ModelError');
      assert.equal(err.OriginalStatusCode, 413);
      assert.equal(err.$metadata?.httpStatusCode, 424);
      return true;
    });
  });

  test('data capture: a streamed invocation is not captured, an InvokeEndpoint of the same endpoint is', async () => {
    const out = await client.send(new InvokeEndpointWithResponseStreamCommand({ EndpointName: 'chat', Body: Buffer.from('2'), ContentType: 'text/plain', InferenceId: 'streamed-1' }));
    for await (const event of out.Body!) void event;
    const invoked = await client.send(new InvokeEndpointCommand({ EndpointName: 'chat', Body: Buffer.from('1'), ContentType: 'text/plain', InferenceId: 'invoked-1' }));
    assert.equal(Buffer.from(invoked.Body!).toString(), 'token-0\n');
    await handle.endpoints.get('chat')!.idle();
    // Every other test here streams: the one record is the InvokeEndpoint's.
    const dir = join(local.dir, 'capture', 'chat', 'AllTraffic');
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jsonl'));
    const lines = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('').trimEnd().split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    const record = JSON.parse(lines[0]!) as { captureData: { endpointOutput: { data: string; encoding: string } }; eventMetadata: { inferenceId?: string } };
    assert.equal(record.eventMetadata.inferenceId, 'invoked-1');
    assert.equal(record.captureData.endpointOutput.encoding, 'BASE64');
    assert.equal(Buffer.from(record.captureData.endpointOutput.data, 'base64').toString(), 'token-0\n');
  });

  /** Runs the CLI without blocking this process (the front door under test runs in it). */
  function run(args: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [SMKIT_BIN, 'invoke', ...args, '--stream', '-c', 'text/plain', '-f', '-']);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  test('smkit invoke --stream prints the stream from the front door and from the container', async () => {
    const viaFrontDoor = await run(['--endpoint', 'chat', '--front-door', handle.url], '2');
    assert.equal(viaFrontDoor.status, 0, viaFrontDoor.stderr);
    assert.equal(viaFrontDoor.stdout, 'token-0\ntoken-1\n');
    const direct = await run([handle.containers[0]!.url], '3');
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout, 'token-0\ntoken-1\ntoken-2\n');
    const broken = await run(['--endpoint', 'chat', '--front-door', handle.url], 'fail');
    assert.notEqual(broken.status, 0);
    assert.equal(broken.stdout, 'partial\n', 'what arrived before the break is printed');
    assert.match(broken.stderr, /ModelStreamError/);
  });
});
