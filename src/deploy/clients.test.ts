import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createDeployClients, SERVICE_TIMEOUT_MS } from './clients.js';
import { call } from './service-error.js';

test('a service that takes the connection and never answers fails the call with the step named, not a hang', { timeout: 60_000 }, async () => {
  assert.equal(SERVICE_TIMEOUT_MS, 60_000, "the AWS CLI's read_timeout");
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('data', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients = createDeployClients({ endpointUrl: url, timeoutMs: 200 }, { hasCredentials: false, s3EndpointUrl: url });
  try {
    await assert.rejects(call('SageMaker DescribeEndpoint iris', () => clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' }))), {
      code: 'ERR_DEPLOY_FAILED',
      message: /^SageMaker DescribeEndpoint iris failed: .*timed out after 200 ms/,
    });
    assert.ok(connections >= 2, `the SDK retried the silent call (${connections} connections)`);
  } finally {
    clients.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an S3 upload that keeps sending to a slow reader is not cut by the idle timeout', { timeout: 60_000 }, async () => {
  // The server reads 64 kB every 5 ms (~13 MB/s): the 8 MB body takes ~0.6 s to go, in one socket
  // write of the SDK's, far over the 200 ms idle limit the API clients get here.
  let connections = 0;
  let received = 0;
  const server = createHttpServer((req, res) => {
    connections += 1;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      req.pause();
      setTimeout(() => req.resume(), 5);
    });
    req.on('end', () => res.writeHead(200, { ETag: '"e"' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients = createDeployClients({ endpointUrl: url, timeoutMs: 200 }, { hasCredentials: false, s3EndpointUrl: url });
  try {
    const body = Buffer.alloc(8 * 1024 * 1024);
    await clients.s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'k', Body: body }));
    assert.deepEqual({ connections, received }, { connections: 1, received: body.length }, 'one attempt, sent whole');
  } finally {
    clients.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
