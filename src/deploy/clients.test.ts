import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
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
      // The SDK's idle limit, or on a loaded machine its connect limit when the connection's event came late.
      message: /^SageMaker DescribeEndpoint iris failed: .*(timed out after 200 ms|within the configured timeout of 200 ms)/,
    });
    assert.ok(connections >= 2, `the SDK retried the silent call (${connections} connections)`);
    const before = connections;
    await assert.rejects(call('S3 PutObject s3://artifacts/k', () => clients.s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'k', Body: Buffer.alloc(1024) }))), {
      code: 'ERR_DEPLOY_FAILED',
      message: /^S3 PutObject s3:\/\/artifacts\/k failed: .*(timed out after 200 ms|within the configured timeout of 200 ms)/,
    });
    assert.ok(connections - before >= 2, `S3 too: the silent upload was retried, then failed (${connections - before} connections)`);
  } finally {
    clients.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

// A reader in a process of its own that takes the first PACED bytes of a body slowly, one chunk (up
// to 64 kB) every 8 ms, and the rest at full speed. It prints its port, and answers a request once
// its body has ended with the connections it has had, the bytes of that body and the longest wait
// (ms) between two chunks of any body so far as the ETag.
const PACED = 12 * 1024 * 1024;
const SLOW_READER = `
let connections = 0;
let longestGap = 0;
const server = require('node:http').createServer((req, res) => {
  connections += 1;
  let received = 0;
  let last = Date.now();
  req.on('data', (chunk) => {
    const now = Date.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    received += chunk.length;
    if (received > ${PACED}) return;
    req.pause();
    setTimeout(() => req.resume(), 8);
  });
  req.on('end', () => res.writeHead(200, { ETag: '"' + connections + '-' + received + '-' + longestGap + '"' }).end());
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

test('an S3 upload that keeps sending to a slow reader is not cut by the idle timeout', { timeout: 120_000 }, async () => {
  // The paced 12 MB take the reader seconds, longer than the 1 s idle limit to go, in one socket
  // write of the SDK's, which Node counts as activity while it progresses. Two things made this
  // test fail on a loaded machine, neither of them the client's:
  // - Once the last of the body is in the kernel's socket buffers (up to tcp_wmem's and tcp_rmem's
  //   maximum, 4 MB and 32 MB here) Node's write is over and the wait for the reader counts as idle;
  //   a reader slow to the end took more than the limit to drain them. Past PACED it reads at full
  //   speed, and the 40 MB after PACED are more than those buffers hold, so a write is still in
  //   progress when it speeds up.
  // - A reader in this process paused in the same timers phase as the socket's idle check runs, so
  //   a stall of this process longer than the limit found no progress; it has its own process.
  // - Nothing moves while the machine holds either process (the reader, or this one and its
  //   sends) for longer than the limit: the idle timeout is then right to cut the attempt, and the
  //   SDK's retry (a second connection) says nothing of the client (it failed once in a suite run
  //   on Node 20 at a load average of 40). Such a run is made again: the reader measures the
  //   longest wait between two chunks it got, and this process its own longest wait for a timer.
  const IDLE_MS = 1000;
  for (let run = 1; ; run++) {
    const reader = spawn(process.execPath, ['-e', SLOW_READER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = new Promise<number>((resolve, reject) => {
      createInterface({ input: reader.stdout }).once('line', (line) => resolve(Number(line.slice('port '.length))));
      reader.once('exit', (code) => reject(new Error(`the slow reader exited (${code}) before it listened`)));
    });
    try {
      const url = `http://127.0.0.1:${await port}`;
      const clients = createDeployClients({ endpointUrl: url, timeoutMs: IDLE_MS }, { hasCredentials: false, s3EndpointUrl: url });
      try {
        const body = Buffer.alloc(PACED + 40 * 1024 * 1024);
        let tick = performance.now();
        let held = 0;
        const ticker = setInterval(() => {
          held = Math.max(held, performance.now() - tick);
          tick = performance.now();
        }, 20);
        const { ETag } = await clients.s3.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'k', Body: body })).finally(() => clearInterval(ticker));
        const [attempts, received, longestGap] = (ETag ?? '').replaceAll('"', '').split('-').map(Number) as [number, number, number];
        // A wait of over half the limit, at the reader or here: the machine held one of the processes.
        const why = `longest wait between chunks ${longestGap} ms at the reader, ${Math.round(held)} ms for a timer here`;
        if (attempts !== 1 && Math.max(longestGap, held) > IDLE_MS / 2 && run < 3) continue;
        assert.deepEqual({ attempts, received }, { attempts: 1, received: body.length }, `one attempt (connection), sent whole (${why})`);
        return;
      } finally {
        clients.destroy();
      }
    } finally {
      reader.kill();
    }
  }
});
