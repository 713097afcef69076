// `smkit deploy` behind an HTTP proxy: the AWS SDK for JavaScript v3 reads no HTTPS_PROXY,
// HTTP_PROXY or NO_PROXY (the AWS CLI and boto3 do), so a user who reaches AWS only through a
// corporate proxy could not deploy at all. A real proxy (node:http, a few lines) in front of the
// local SageMaker and a real local S3 sees each request; an https:// service is reached by CONNECT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { startLocalSageMaker } from '../../src/local/control-plane/local-sagemaker.js';
import { startLocalS3 } from '../helpers/local-s3.js';
import { localSdkClients } from '../helpers/local-sdk-clients.js';
import { REPO_ROOT, runDeploy } from '../helpers/serve-process.js';
import { FakeBackend } from '../helpers/fake-backend.js';

/**
 * A forward proxy: absolute-URI requests (http://) are forwarded, CONNECT tunnels are opened to
 * loopback only (anything else is answered 403, so nothing leaves the machine), and each request
 * line is recorded.
 */
async function startProxy(): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => sockets.add(s));
  server.on('connect', (req, client: Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    if (host !== '127.0.0.1') {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const FILE = `deploy:
  role: arn:aws:iam::123456789012:role/SageMakerRole
  artifacts: s3://artifacts/smkit/
  image: smkit:local
endpoints:
  - name: proxied
    variants:
      - name: A
        model: ./model
`;

test('smkit deploy goes through HTTP_PROXY / HTTPS_PROXY and around them for NO_PROXY hosts', { timeout: 240_000 }, async () => {
  const s3server = await startLocalS3(['artifacts']);
  const sm = await startLocalSageMaker({ port: 0, backendImpl: new FakeBackend(), settings: { s3EndpointUrl: s3server.url, region: 'us-east-1', accountId: '000000000000' }, startupTimeoutMs: 60_000 });
  const proxy = await startProxy();
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-deploy-proxy-'));
  const { sagemaker, destroy } = localSdkClients(sm.url);
  const file = path.join(dir, 'e.yaml');
  const smPort = new URL(sm.url).port;
  const s3Port = new URL(s3server.url).port;
  try {
    await cp(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(dir, 'model'), { recursive: true });
    await writeFile(file, FILE);
    const flags = ['--endpoint-url', sm.url, '--poll-interval', '0.2', '--timeout', '60'];

    // HTTP_PROXY (lower case, as curl reads it first): every SageMaker call and S3 upload goes through it.
    const viaProxy = await runDeploy([file, ...flags], { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1', http_proxy: proxy.url });
    assert.equal(viaProxy.code, 0, viaProxy.stderr);
    assert.equal((await sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'proxied' }))).EndpointStatus, 'InService');
    assert.ok(proxy.seen.some((l) => l === `POST http://127.0.0.1:${smPort}/`), `SageMaker through the proxy: ${proxy.seen.join(', ')}`);
    assert.ok(proxy.seen.some((l) => l.startsWith(`PUT http://127.0.0.1:${s3Port}/artifacts/smkit/`)), `the S3 upload through the proxy: ${proxy.seen.join(', ')}`);

    // NO_PROXY names the local SageMaker's host:port: its calls go direct, S3's still through the proxy.
    proxy.seen.length = 0;
    const around = await runDeploy([file, ...flags, '--dry-run'], { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1', HTTP_PROXY: proxy.url, NO_PROXY: `example.com, 127.0.0.1:${smPort}` });
    assert.equal(around.code, 0, around.stderr);
    assert.ok(!proxy.seen.some((l) => l.includes(`:${smPort}/`)), `NO_PROXY host went direct: ${proxy.seen.join(', ')}`);

    // An https:// service (as AWS's are) is reached by CONNECT through HTTPS_PROXY; this proxy
    // refuses any tunnel off the machine, and the name is .invalid besides: nothing reaches AWS.
    proxy.seen.length = 0;
    const https = await runDeploy([file, '--poll-interval', '0.2', '--timeout', '60'], {
      AWS_ENDPOINT_URL_S3: s3server.url,
      AWS_ENDPOINT_URL_SAGEMAKER: 'https://sagemaker.smkit-proxy-test.invalid',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      HTTPS_PROXY: proxy.url,
      NO_PROXY: '127.0.0.1',
    });
    assert.notEqual(https.code, 0);
    assert.ok(proxy.seen.includes('CONNECT sagemaker.smkit-proxy-test.invalid:443'), `CONNECT through HTTPS_PROXY: ${proxy.seen.join(', ')}; ${https.stderr}`);

    // A proxy variable that is no HTTP proxy's URL is refused naming it, before anything is done.
    const socks = await runDeploy([file, ...flags], { AWS_ENDPOINT_URL_S3: s3server.url, AWS_REGION: 'us-east-1', ALL_PROXY: 'socks5://127.0.0.1:1080' });
    assert.equal(socks.code, 1, socks.stderr);
    assert.match(socks.stderr, /ALL_PROXY="socks5:\/\/127\.0\.0\.1:1080" is invalid: expected the URL of an HTTP proxy/);
  } finally {
    destroy();
    await proxy.close();
    await sm.stop();
    await s3server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
