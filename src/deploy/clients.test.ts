import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createDeployClients, SERVICE_TIMEOUT_MS } from './clients.js';
import { call } from './service-error.js';

test('a service (SageMaker, or S3 for an upload) that takes the connection and never answers fails the call with the step named, not a hang', { timeout: 60_000 }, async () => {
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
    const before = connections;
    await assert.rejects(call('S3 PutObject s3://artifacts/k', () => clients.s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'k', Body: Buffer.alloc(1024) }))), {
      code: 'ERR_DEPLOY_FAILED',
      message: /^S3 PutObject s3:\/\/artifacts\/k failed: .*timed out after 200 ms/,
    });
    assert.ok(connections - before >= 2, `S3 too: the silent upload was retried, then failed (${connections - before} connections)`);
  } finally {
    clients.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an S3 upload that keeps sending to a slow reader is not cut by the idle timeout', { timeout: 60_000 }, async () => {
  // The server reads 64 kB every 4 ms at most: the 24 MB body takes ~2 s, longer than the 1 s idle limit
  // to go, in one socket write of the SDK's, which Node counts as activity while it progresses.
  let connections = 0;
  let received = 0;
  const server = createHttpServer((req, res) => {
    connections += 1;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      req.pause();
      setTimeout(() => req.resume(), 4);
    });
    req.on('end', () => res.writeHead(200, { ETag: '"e"' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients = createDeployClients({ endpointUrl: url, timeoutMs: 1000 }, { hasCredentials: false, s3EndpointUrl: url });
  try {
    const body = Buffer.alloc(24 * 1024 * 1024);
    await clients.s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'k', Body: body }));
    assert.deepEqual({ connections, received }, { connections: 1, received: body.length }, 'one attempt, sent whole');
  } finally {
    clients.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
