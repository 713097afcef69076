import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { spawn } from 'node:child_process';
import { connect, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { createDeployClients } from './clients.js';
import { bypassesProxy, EnvProxyAgent, parseNoProxy } from './proxy.js';
import { serviceError } from './service-error.js';

test('NO_PROXY matches as the AWS CLI (botocore) and curl do: a name covers its subdomains, a leading dot is ignored, host:port one port', () => {
  // Each expectation here is botocore.utils.should_bypass_proxies's answer (botocore 1.43).
  const entries = parseNoProxy('amazonaws.com, .corp.example 127.0.0.1:9000,[::1]:8080 *.wild.example');
  const cases: [string, number, boolean][] = [
    ['sagemaker.us-east-1.amazonaws.com', 443, true],
    ['amazonaws.com', 443, true],
    ['notamazonaws.com', 443, false],
    ['corp.example', 443, true],
    ['a.corp.example', 443, true],
    ['127.0.0.1', 9000, true],
    ['127.0.0.1', 9001, false],
    ['::1', 8080, true],
    ['[::1]', 8081, false],
    ['x.wild.example', 443, true],
    ['localhost', 8080, false],
    ['SageMaker.US-EAST-1.AmazonAWS.com', 443, true],
  ];
  for (const [host, port, direct] of cases) assert.equal(bypassesProxy(entries, host, port), direct, `${host}:${port}`);
  assert.equal(bypassesProxy(parseNoProxy('*'), 'anything.example', 443), true);
  assert.equal(bypassesProxy(parseNoProxy(''), 'localhost', 80), false);
});

async function listen(server: Server | import('node:https').Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test('a subdomain of a NO_PROXY name goes direct, over real HTTP; any other host through HTTP_PROXY', { timeout: 60_000 }, async () => {
  const target = createServer((req, res) => res.end(`direct ${req.url}`));
  const seen: string[] = [];
  const proxy = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('via proxy');
  });
  const targetPort = await listen(target);
  const proxyPort = await listen(proxy);
  const agent = new EnvProxyAgent(false, { http: `http://127.0.0.1:${proxyPort}`, noProxy: 'example.test' });
  // Both names resolve to the target's loopback address, as DNS would.
  const lookup = (_h: string, o: { all?: boolean }, cb: (err: null, address: unknown, family?: number) => void) =>
    o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  const get = (host: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host, port: targetPort, path: '/ping', agent, lookup: lookup as never }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
      });
      req.on('error', reject).end();
    });
  try {
    assert.equal(await get('sagemaker.example.test'), 'direct /ping');
    assert.deepEqual(seen, []);
    assert.equal(await get('other.invalid'), 'via proxy');
    assert.deepEqual(seen, [`GET http://other.invalid:${targetPort}/ping`]);
  } finally {
    agent.destroy();
    target.close();
    proxy.close();
  }
});

test('http through HTTP_PROXY with a user and password: Proxy-Authorization (percent-decoded) on every proxied request, none to a NO_PROXY host', { timeout: 60_000 }, async () => {
  const direct: (string | undefined)[] = [];
  const target = createServer((req, res) => {
    direct.push(req.headers['proxy-authorization']);
    res.end('direct');
  });
  const viaProxy: (string | undefined)[] = [];
  const proxy = createServer((req, res) => {
    viaProxy.push(req.headers['proxy-authorization']);
    res.end('via proxy');
  });
  const targetPort = await listen(target);
  const proxyPort = await listen(proxy);
  const agent = new EnvProxyAgent(false, { http: `http://user%40corp:p%3Aw@127.0.0.1:${proxyPort}`, noProxy: 'example.test' });
  const lookup = (_h: string, o: { all?: boolean }, cb: (err: null, address: unknown, family?: number) => void) =>
    o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  const get = (host: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host, port: targetPort, path: '/ping', agent, lookup: lookup as never }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
      });
      req.on('error', reject).end();
    });
  try {
    const basic = `Basic ${Buffer.from('user@corp:p:w').toString('base64')}`;
    assert.equal(await get('other.invalid'), 'via proxy');
    assert.equal(await get('other.invalid'), 'via proxy');
    assert.equal(await get('sagemaker.example.test'), 'direct');
    assert.deepEqual(viaProxy, [basic, basic]);
    assert.deepEqual(direct, [undefined]);
  } finally {
    agent.destroy();
    target.close();
    proxy.close();
  }
});

test('https through HTTPS_PROXY: one CONNECT tunnel kept for many calls, the real host in SNI and its certificate checked, Proxy-Authorization from the URL', { timeout: 120_000 }, async () => {
  // A committed self-signed certificate for localhost (test/fixtures/tls/README.md): no openssl needed.
  const dir = path.join(REPO_ROOT, 'test', 'fixtures', 'tls');
  const cert = await readFile(path.join(dir, 'localhost-cert.pem'));
  const servernames: (string | false | null)[] = [];
  const toTarget: (string | undefined)[] = [];
  const target = createHttpsServer({ key: await readFile(path.join(dir, 'localhost-key.pem')), cert }, (req, res) => {
    toTarget.push(req.headers['proxy-authorization']);
    // The service's own 403 through a tunnel the proxy opened: the service's answer, no ProxyRefused.
    if (req.url === '/denied') res.writeHead(403, { 'Content-Type': 'application/x-amz-json-1.1' }).end('{"__type":"AccessDeniedException"}');
    else res.end(`ok ${req.url}`);
  });
  target.keepAliveTimeout = 600_000; // a slow machine's pause between calls must not close the kept connection
  target.on('secureConnection', (s: TLSSocket) => servernames.push(s.servername));
  const tunnels: string[] = [];
  const proxy = createServer();
  const sockets = new Set<Socket>();
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(`${req.url} ${req.headers['proxy-authorization']}`);
    const upstream = connect(targetPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream).add(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const targetPort = await listen(target);
  const proxyPort = await listen(proxy);
  const agent = new EnvProxyAgent(true, { https: `http://al%40ice:p%3Ass@127.0.0.1:${proxyPort}` });
  // As the AWS SDK calls https.request: host, port and path, no protocol.
  const get = (ca?: Buffer, urlPath = '/ping') =>
    new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: 'localhost', port: targetPort, path: urlPath, method: 'POST', agent, ...(ca ? { ca } : {}) }, (res) => {
        let body = `${res.statusCode} `;
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
      });
      req.on('error', reject).end('{}');
    });
  try {
    // The proxy is no reason to trust a certificate: one no CA vouches for is refused.
    await assert.rejects(get(), /self[- ]signed certificate/);
    tunnels.length = 0;
    servernames.length = 0;
    for (let i = 0; i < 5; i++) {
      assert.equal(await get(cert, i === 2 ? '/denied' : '/ping'), i === 2 ? '403 {"__type":"AccessDeniedException"}' : '200 ok /ping');
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(tunnels, [`localhost:${targetPort} Basic ${Buffer.from('al@ice:p:ss').toString('base64')}`], 'one tunnel for five calls');
    assert.deepEqual(servernames, ['localhost']);
    assert.deepEqual(toTarget, Array(5).fill(undefined), 'the proxy\'s credentials never reach the service');
  } finally {
    agent.destroy();
    for (const s of sockets) s.destroy();
    target.close();
    proxy.close();
  }
});

test('a proxy that refuses the CONNECT tunnel is named as the one refusing (its password as ***), not reported as the service\'s bare 403; its password is not in DEBUG=https-proxy-agent\'s lines', { timeout: 120_000 }, async () => {
  const connects: string[] = [];
  const proxy = createServer();
  proxy.on('connect', (req, client: Socket) => {
    connects.push(`${req.url} ${req.headers['proxy-authorization']}`);
    const status = req.url?.startsWith('127.0.0.1:') ? '407 Proxy Authentication Required' : '403 Forbidden';
    client.end(`HTTP/1.1 ${status}\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n<h1>Access denied</h1>`.slice(0, -2));
  });
  const proxyPort = await listen(proxy);
  const proxyUrl = `http://al%40ice:s3cret@127.0.0.1:${proxyPort}`;
  const clients = createDeployClients({ endpointUrl: 'https://localhost:9' }, { hasCredentials: false, proxy: { https: proxyUrl } });
  try {
    const refused = await clients.sagemaker.send(new DescribeEndpointCommand({ EndpointName: 'iris' })).then(
      () => assert.fail('answered'),
      (e: unknown) => serviceError('SageMaker DescribeEndpoint iris', e),
    );
    assert.equal(
      refused.message,
      `SageMaker DescribeEndpoint iris failed: ProxyRefused: the proxy http://al%40ice:***@127.0.0.1:${proxyPort} refused to open a tunnel to localhost:9: it answered CONNECT with 403 Forbidden; ask the proxy's administrators to allow CONNECT to localhost:9, or name the host in NO_PROXY if it can be reached without the proxy`,
    );
    assert.deepEqual(connects, [`localhost:9 Basic ${Buffer.from('al@ice:s3cret').toString('base64')}`], 'one CONNECT: the SDK does not retry a refusal');
    const agent = new EnvProxyAgent(true, { https: proxyUrl });
    try {
      const err = await new Promise<Error>((resolve) => httpsRequest({ host: '127.0.0.1', port: 9, path: '/', method: 'POST', agent }, () => resolve(new Error('answered'))).on('error', resolve).end());
      assert.match(err.message, /answered CONNECT with 407 Proxy Authentication Required; give the proxy's user name and password in its URL/);
    } finally {
      agent.destroy();
    }
    // What DEBUG=https-proxy-agent prints, in a process of its own (debug reads the variable as it loads).
    const script = `import { EnvProxyAgent } from ${JSON.stringify(new URL('./proxy.js', import.meta.url).href)};
import { request } from 'node:https';
const agent = new EnvProxyAgent(true, { https: ${JSON.stringify(proxyUrl)} });
request({ host: 'localhost', port: 9, path: '/', method: 'POST', agent }).on('error', () => agent.destroy()).end();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, DEBUG: 'https-proxy-agent', DEBUG_COLORS: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let debugText = '';
    child.stdout.on('data', (d: Buffer) => (debugText += d.toString()));
    child.stderr.on('data', (d: Buffer) => (debugText += d.toString()));
    assert.equal(await new Promise((resolve) => child.once('close', resolve)), 0, debugText);
    assert.match(debugText, new RegExp(`https-proxy-agent Creating new HttpsProxyAgent instance: 'http://127\\.0\\.0\\.1:${proxyPort}/'`), debugText);
    assert.ok(!debugText.includes('s3cret'), debugText);
  } finally {
    clients.destroy();
    proxy.close();
  }
});
