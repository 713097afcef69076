import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { InvokeEndpointCommand, SageMakerRuntimeClient, ServiceUnavailable } from '@aws-sdk/client-sagemaker-runtime';
import { isRefusedConnection } from '../../server/connection-limit.js';
import { RESERVED_FILE_DESCRIPTORS } from '../../server/open-files.js';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { until } from '../../../test/helpers/until.js';
import { createFrontDoorServer, frontDoorMaxConnections } from './http-server.js';

test('the connections a front door holds are bounded by half of what its open files limit leaves (each invocation also opens one to its container)', () => {
  assert.equal(frontDoorMaxConnections(1024), (1024 - RESERVED_FILE_DESCRIPTORS) / 2);
  assert.equal(frontDoorMaxConnections(RESERVED_FILE_DESCRIPTORS), 1);
  assert.equal(frontDoorMaxConnections(undefined), undefined);
});

test('past its connection limit the front door answers 503 ServiceUnavailable, which an AWS SDK client raises as such and retries', async () => {
  // Room for two connections.
  const server = createFrontDoorServer((_req, res) => res.setHeader('Content-Type', 'text/plain').end('ok'), { fileLimit: RESERVED_FILE_DESCRIPTORS + 4 });
  const accepted: Socket[] = [];
  let refused = 0;
  let onRefused = () => undefined as void;
  server.on('connection', (socket: Socket) => {
    if (!isRefusedConnection(socket)) return void accepted.push(socket);
    refused++;
    onRefused();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const held = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  const once1 = new SageMakerRuntimeClient({ ...localClientConfig(url), maxAttempts: 1 });
  const retrying = new SageMakerRuntimeClient({ ...localClientConfig(url), maxAttempts: 3 });
  try {
    await until('the two connections to be held', () => accepted.length === 2, { timeoutMs: 30_000 });
    const err = await once1.send(new InvokeEndpointCommand({ EndpointName: 'e', Body: Buffer.from('x') })).then(
      () => assert.fail('a call past the limit succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceUnavailable, `not ServiceUnavailable: ${String(err)}`);
    assert.equal(err.$metadata.httpStatusCode, 503);
    assert.match(err.message, /already holds 2 connections, as many as its open files limit \(ulimit -n 68\) leaves room for/);
    assert.equal(refused, 1);

    // The held connections close as the next call is refused: the SDK's retry gets through.
    onRefused = () => {
      for (const socket of accepted.splice(0)) socket.destroy();
    };
    const out = await retrying.send(new InvokeEndpointCommand({ EndpointName: 'e', Body: Buffer.from('x') }));
    assert.equal(Buffer.from(out.Body!).toString(), 'ok');
    assert.equal(out.$metadata.attempts, 2, 'refused once, then served');
    assert.equal(refused, 2);
  } finally {
    for (const socket of held) socket.destroy();
    once1.destroy();
    retrying.destroy();
    server.closeAllConnections();
    server.close();
  }
});
