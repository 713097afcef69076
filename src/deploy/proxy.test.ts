import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bypassesProxy, EnvProxyAgent, parseNoProxy } from './proxy.js';

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

async function listen(server: Server): Promise<number> {
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

