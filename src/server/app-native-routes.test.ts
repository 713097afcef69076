import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';

// Runs in a process of its own, so that nothing else has loaded express: a metrics scrape, the
// execution parameters, the usual 404s and 405s and every invocation (compressed and multipart
// bodies too) are answered without it (express swaps the prototypes of what it serves, which
// slows Node's HTTP code for every request after), and the check would see express once a route
// that needs it has been called.
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
  // Answers with what it was given: the body as text, and the form's parts.
  invoke: async (r) => ({ body: Buffer.from(JSON.stringify({ body: r.body.toString('latin1'), parts: (r.parts ?? []).map((p) => [p.field, p.contentType, p.data.length]) })), contentType: 'application/json' }),
};
const settings = { maxPayloadMb: 6, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 3, batchStrategy: 'MULTI_RECORD' };
const server = createServer(createApp({ settings, backend, log: createLogger('silent'), metrics: createMetrics() }));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
const call = async (method, path) => {
  const res = await fetch(base + path, { method });
  const text = await res.text();
  return { method, path, status: res.status, type: res.headers.get('content-type'), allow: res.headers.get('allow'), upgrade: res.headers.get('upgrade'), code: text.startsWith('{') ? JSON.parse(text).code : undefined, text: text.slice(0, 200) };
};
const native = [];
for (const [method, path] of [['GET', '/metrics'], ['HEAD', '/metrics'], ['GET', '/execution-parameters'], ['HEAD', '/execution-parameters'], ['GET', '/no-such-route'], ['GET', '/invocations-bidirectional-stream'], ['PUT', '/invocations'], ['GET', '/invocations'], ['POST', '/ping'], ['DELETE', '/execution-parameters'], ['POST', '/metrics'], ['GET', '/ping'], ['POST', '/invocations']]) native.push(await call(method, path));
const post = async (name, headers, body) => {
  const res = await fetch(base + '/invocations', { method: 'POST', headers, body });
  const text = await res.text();
  return { name, status: res.status, code: res.status >= 400 ? JSON.parse(text).code : undefined, json: res.status === 200 ? JSON.parse(text) : undefined };
};
const { gzipSync, brotliCompressSync } = await import('node:zlib');
const form = new FormData();
form.append('image', new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' }), 'a.png');
form.append('note', 'hi');
const bodies = [
  await post('gzip', { 'content-type': 'text/csv', 'content-encoding': 'gzip' }, gzipSync('1,2,3')),
  await post('br', { 'content-type': 'text/csv', 'content-encoding': 'br' }, brotliCompressSync('4,5,6')),
  await post('not gzip', { 'content-type': 'text/csv', 'content-encoding': 'gzip' }, 'plain text'),
  await post('unknown coding', { 'content-type': 'text/csv', 'content-encoding': 'compress' }, 'x'),
  await post('form', {}, form),
  await post('gzipped form', { 'content-type': 'multipart/form-data; boundary=b', 'content-encoding': 'gzip' }, gzipSync('--b--')),
];
const loadedBefore = expressLoaded();
const viaExpress = await call('GET', '/models');
const spelled = await call('POST', '/Metrics/');
console.log(JSON.stringify({ native, bodies, loadedBefore, viaExpress, spelled, loadedAfter: expressLoaded() }));
server.close();
`;

test('a scrape, the execution parameters, the usual 404 and 405 answers and compressed or multipart invocations do not load express; a /models call does', () => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
    native: { method: string; path: string; status: number; type: string | null; allow: string | null; upgrade: string | null; code?: string; text: string }[];
    bodies: { name: string; status: number; code?: string; json?: { body: string; parts: [string, string, number][] } }[];
    loadedBefore: boolean;
    viaExpress: { status: number; code?: string };
    spelled: { status: number; allow: string | null };
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
  assert.equal(by('GET', '/no-such-route').status, 404);
  assert.equal(by('GET', '/no-such-route').code, 'ERR_NOT_FOUND');
  assert.match(by('GET', '/no-such-route').text, /no route GET \/no-such-route;/);
  // A WebSocket handshake whose Connection: Upgrade a proxy dropped reaches the plain routes.
  const plainBidi = by('GET', '/invocations-bidirectional-stream');
  assert.deepEqual([plainBidi.status, plainBidi.code, plainBidi.upgrade], [426, 'ERR_BAD_REQUEST', 'websocket'], 'a 426 names the protocol in Upgrade (RFC 9110 §15.5.22)');
  assert.match(plainBidi.text, /Connection: Upgrade.{1,8} and .{1,8}Upgrade: websocket/);
  for (const [method, p, allow] of [['PUT', '/invocations', 'POST'], ['GET', '/invocations', 'POST'], ['POST', '/ping', 'GET, HEAD'], ['DELETE', '/execution-parameters', 'GET, HEAD'], ['POST', '/metrics', 'GET, HEAD']] as const) {
    assert.equal(by(method, p).status, 405, `${method} ${p}`);
    assert.equal(by(method, p).code, 'ERR_METHOD_NOT_ALLOWED');
    assert.equal(by(method, p).allow, allow, `a 405 lists what ${p} takes in Allow (RFC 9110 §15.5.6)`);
    assert.match(by(method, p).text, new RegExp(`${method} is not allowed on ${p}; it takes ${allow}`));
  }
  assert.deepEqual([out.spelled.status, out.spelled.allow], [405, 'GET, HEAD'], 'express answers /metrics in its other spellings as the listener does');
  assert.equal(by('GET', '/ping').status, 200);
  assert.equal(by('POST', '/invocations').status, 200);
  const body = (name: string) => out.bodies.find((b) => b.name === name)!;
  assert.deepEqual([body('gzip').status, body('gzip').json?.body], [200, '1,2,3']);
  assert.deepEqual([body('br').status, body('br').json?.body], [200, '4,5,6']);
  assert.deepEqual([body('not gzip').status, body('not gzip').code], [400, 'ERR_BAD_REQUEST']);
  assert.deepEqual([body('unknown coding').status, body('unknown coding').code], [415, 'ERR_UNSUPPORTED_MEDIA_TYPE']);
  assert.equal(body('form').status, 200);
  assert.deepEqual(body('form').json, { body: '', parts: [['image', 'image/png', 3], ['note', 'text/plain', 2]] });
  assert.deepEqual([body('gzipped form').status, body('gzipped form').code], [415, 'ERR_UNSUPPORTED_MEDIA_TYPE']);
  assert.equal(out.loadedBefore, false, 'express is not loaded by any of those, compressed and multipart invocations included');
  assert.equal(out.viaExpress.status, 404);
  assert.equal(out.viaExpress.code, 'ERR_MULTI_MODEL_DISABLED');
  assert.equal(out.loadedAfter, true, 'the check sees express once a route that needs it is called');
});
