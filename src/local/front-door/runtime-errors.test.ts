import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerFailure, unreachableFailure } from '../endpoint/container.js';
import { MAX_MESSAGE_LENGTH, modelErrorFor, truncateMessage, validationError } from './runtime-errors.js';

const container = { hostname: 'primary', url: 'http://127.0.0.1:1', logFile: '/tmp/smkit/primary.log' };

test('ModelError: a short container body is quoted whole in Message and given as OriginalMessage', () => {
  const e = modelErrorFor(new ContainerFailure('status', container, 0, 400, '{"code":"ERR_CSV_PARSE"}'));
  assert.equal(e.status, 424);
  assert.equal(e.message, 'Received client error (400) from primary with message "{"code":"ERR_CSV_PARSE"}". See /tmp/smkit/primary.log for more information.');
  assert.deepEqual(e.body(), { Message: e.message, OriginalStatusCode: 400, OriginalMessage: '{"code":"ERR_CSV_PARSE"}', LogStreamArn: container.logFile });
});

test('ModelError: Message and OriginalMessage stay within the API model\'s 2048 characters for any body', () => {
  for (const length of [1900, 2000, 2048, 2049, 5000, 100_000]) {
    const detail = 'x'.repeat(length - 1) + '😀';
    const body = modelErrorFor(new ContainerFailure('status', container, 0, 500, detail)).body() as { Message: string; OriginalMessage: string };
    assert.ok(body.Message.length <= MAX_MESSAGE_LENGTH, `${length}: Message ${body.Message.length}`);
    assert.ok(body.OriginalMessage.length <= MAX_MESSAGE_LENGTH, `${length}: OriginalMessage ${body.OriginalMessage.length}`);
    assert.ok(detail.startsWith(body.OriginalMessage));
    assert.match(body.Message, /^Received server error \(500\) from primary/);
  }
  const long = { ...container, logFile: `/tmp/${'d/'.repeat(1500)}log` };
  assert.ok(modelErrorFor(new ContainerFailure('timeout', long, 0, undefined, '60 s')).message.length <= MAX_MESSAGE_LENGTH);
  // A cut never leaves half a surrogate pair.
  assert.equal(truncateMessage('ab😀', 3), 'ab');
  assert.equal(truncateMessage('ab😀', 4), 'ab😀');
});

test('ModelStreamError events keep Message within 2048 characters too', async () => {
  const { EventStreamCodec } = await import('@smithy/eventstream-codec');
  const { modelStreamError } = await import('./event-stream.js');
  const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (t) => new Uint8Array(Buffer.from(t, 'utf8')));
  const event = codec.decode(modelStreamError(`broke: ${'x'.repeat(10_000)}`, 'StreamBroken'));
  const body = JSON.parse(Buffer.from(event.body).toString('utf8')) as { Message: string; ErrorCode: string };
  assert.equal(body.ErrorCode, 'StreamBroken');
  assert.equal(body.Message.length, MAX_MESSAGE_LENGTH);
});

test('a container fetch could not reach: the 503 names the cause of fetch\'s bare "fetch failed" and what the caller can do', async () => {
  // A real fetch failure: undici's TypeError('fetch failed') whose cause says why.
  const server = (await import('node:net')).createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => server.close(r));
  const err = await fetch(`http://127.0.0.1:${port}/models`, { method: 'POST' }).catch((e: unknown) => e);
  assert.equal((err as Error).message, 'fetch failed');
  const refused = modelErrorFor(unreachableFailure(err, container, 0, 'loading a.tar.gz: '));
  assert.equal(refused.name, 'ServiceUnavailable');
  assert.equal(refused.status, 503);
  assert.equal(refused.message, `Container primary is not reachable (loading a.tar.gz: connect ECONNREFUSED 127.0.0.1:${port}); nothing listens at its address: the container may have exited or be restarting. See /tmp/smkit/primary.log for more information.`);

  // This process out of descriptors: the advice is to raise its limit, not that the container exited.
  const emfile = new TypeError('fetch failed', { cause: Object.assign(new Error('connect EMFILE 127.0.0.1:8080 - Local (undefined:undefined)'), { code: 'EMFILE' }) });
  const busy = modelErrorFor(unreachableFailure(emfile, container, 0));
  assert.equal(busy.status, 503);
  assert.match(busy.message, /^Container primary is not reachable \(connect EMFILE 127\.0\.0\.1:8080 - Local \(undefined:undefined\)\); this process \(smkit local\) has no file descriptors to spare: raise its open files limit \(ulimit -n\) or send fewer requests at once, then retry\. See /);

  // A cause without a message, or none at all.
  assert.match(modelErrorFor(unreachableFailure(new TypeError('fetch failed', { cause: { code: 'UND_ERR_CLOSED' } }), container, 0)).message, /not reachable \(UND_ERR_CLOSED\); the container closed the connection/);
  assert.match(modelErrorFor(unreachableFailure(new Error('boom'), container, 0)).message, /not reachable \(boom\); it may have exited\. See /);
});

test('ValidationError: a value cut to 100 characters keeps whole characters (an endpoint name in the path may hold any)', () => {
  const message = validationError([{ value: 'a' + '😀'.repeat(60), member: 'endpointName', constraint: 'Member must have length less than or equal to 63' }]).message;
  assert.equal(message, `1 validation error detected: Value 'a${'😀'.repeat(49)}...' at 'endpointName' failed to satisfy constraint: Member must have length less than or equal to 63`);
});
