import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';

// Runs in a process of its own, so that nothing else has loaded express: a metrics scrape, the
// execution parameters and the usual 404s and 405s are answered without it (express swaps the
// prototypes of what it serves, which slows Node's HTTP code for every request after), and the
// check would see express once a route that needs it has been called.
const SCRIPT = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const { createApp } = await import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'dist/src/server/app.js')).href)});
const { createMetrics } = await import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'dist/src/server/metrics.js')).href)});
const { createLogger } = await import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'dist/src/logging/logger.js')).href)});
const require = createRequire(${JSON.stringify(path.join(REPO_ROOT, 'package.json'))});
const expressLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/express/'));
const backend = {
  state: () => 'ready', failure: () => undefined, whenSettled: async () => undefined, close: async () => undefined,
  describe: () => ({ hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 }),
  invoke: async () => ({ body: Buffer.from('[1]'), contentType: 'application/json' }),
};
const settings = { maxPayloadMb: 6, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 3, batchStrategy: 'MULTI_RECORD' };
const server = createServer(createApp({ settings, backend, log: createLogger('silent'), metrics: createMetrics() }));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
const call = async (method, path) => {
  const res = await fetch(base + path, { method });
  const text = await res.text();
  return { method, path, status: res.status, type: res.headers.get('content-type'), code: text.startsWith('{') ? JSON.parse(text).code : undefined, text: text.slice(0, 200) };
};
const native = [];
for (const [method, path] of [['GET', '/metrics'], ['HEAD', '/metrics'], ['GET', '/execution-parameters'], ['HEAD', '/execution-parameters'], ['GET', '/no-such-route'], ['GET', '/invocations-bidirectional-stream'], ['PUT', '/invocations'], ['GET', '/invocations'], ['POST', '/ping'], ['DELETE', '/execution-parameters'], ['GET', '/ping'], ['POST', '/invocations']]) native.push(await call(method, path));
const loadedBefore = expressLoaded();
const viaExpress = await call('GET', '/models');
console.log(JSON.stringify({ native, loadedBefore, viaExpress, loadedAfter: expressLoaded() }));
server.close();
`;

test('a scrape, the execution parameters and the usual 404 and 405 answers do not load express; a /models call does', () => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
    native: { method: string; path: string; status: number; type: string | null; code?: string; text: string }[];
    loadedBefore: boolean;
    viaExpress: { status: number; code?: string };
    loadedAfter: boolean;
  };
  const by = (method: string, p: string) => out.native.find((r) => r.method === method && r.path === p)!;
  assert.equal(by('GET', '/metrics').status, 200);
  assert.match(by('GET', '/metrics').type ?? '', /^text\/plain/);
  assert.match(by('GET', '/metrics').text, /smkit_/);
  assert.equal(by('HEAD', '/metrics').status, 200);
  assert.equal(by('GET', '/execution-parameters').status, 200);
  assert.deepEqual(JSON.parse(by('GET', '/execution-parameters').text), { MaxConcurrentTransforms: 3, BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: 6 });
  assert.equal(by('HEAD', '/execution-parameters').status, 200);
  for (const p of ['/no-such-route', '/invocations-bidirectional-stream']) {
    assert.equal(by('GET', p).status, 404);
    assert.equal(by('GET', p).code, 'ERR_NOT_FOUND');
    assert.match(by('GET', p).text, new RegExp(`no route GET ${p};`));
  }
  for (const [method, p] of [['PUT', '/invocations'], ['GET', '/invocations'], ['POST', '/ping'], ['DELETE', '/execution-parameters']] as const) {
    assert.equal(by(method, p).status, 405, `${method} ${p}`);
    assert.equal(by(method, p).code, 'ERR_METHOD_NOT_ALLOWED');
    assert.match(by(method, p).text, new RegExp(`${method} is not allowed on ${p}`));
  }
  assert.equal(by('GET', '/ping').status, 200);
  assert.equal(by('POST', '/invocations').status, 200);
  assert.equal(out.loadedBefore, false, 'express is not loaded by any of those');
  assert.equal(out.viaExpress.status, 404);
  assert.equal(out.viaExpress.code, 'ERR_MULTI_MODEL_DISABLED');
  assert.equal(out.loadedAfter, true, 'the check sees express once a route that needs it is called');
});
