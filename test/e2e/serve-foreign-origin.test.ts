/**
 * A real `smkit serve` refuses what a web page of another site sends through a visitor's browser:
 * a form or text/plain POST needs no CORS preflight, and any page may open a WebSocket. On a
 * multi-model endpoint such a page could load any directory with `POST /models`, and its `code/`
 * would run (as TorchServe's management API allowed, CVE-2023-43654).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';

const IRIS = path.join(REPO_ROOT, 'models/iris-onnx');
const EVIL = 'https://evil.example';
/** The page origin the single-model server's SMKIT_CORS_ALLOW_ORIGINS names. */
const APP = 'https://app.example.com';

interface Answer {
  status: number;
  /** Access-Control-Allow-Origin. */
  allowOrigin?: string;
  code?: string;
  message?: string;
}

/** One request with `headers`, and its JSON answer's code and message. */
function send(server: ServeProcess, method: string, route: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${route}`, { method, agent: false, timeout: 30_000, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let parsed: { code?: string; message?: string } = {};
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          // An inference's answer need not be an object.
        }
        const allowOrigin = res.headers['access-control-allow-origin'];
        resolve({ status: res.statusCode ?? 0, ...(allowOrigin === undefined ? {} : { allowOrigin }), ...(parsed.code === undefined ? {} : { code: parsed.code, message: parsed.message }) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${route} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A WebSocket handshake by `ws` with `options`: 101 once the stream opens (then closed), else the refusal's status and code. */
async function openStream(server: ServeProcess, options: WebSocket.ClientOptions): Promise<Answer> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/invocations-bidirectional-stream`, { handshakeTimeout: 30_000, ...options });
  const outcome = await Promise.race([
    once(ws, 'open').then(() => undefined),
    once(ws, 'unexpected-response').then(([, res]) => res as http.IncomingMessage),
    once(ws, 'error').then(([err]) => Promise.reject(err as Error)),
  ]);
  if (outcome === undefined) {
    ws.close();
    await once(ws, 'close');
    return { status: 101 };
  }
  let text = '';
  for await (const chunk of outcome) text += String(chunk);
  const body = JSON.parse(text) as { code: string; message: string };
  return { status: outcome.statusCode ?? 0, code: body.code, message: body.message };
}

describe('smkit serve refuses requests a web page of another site sent', () => {
  let single: ServeProcess;
  let multi: ServeProcess;
  let singleBase: string;
  let multiBase: string;
  /** Written by the multi-model handler's code as it loads: the page's code would run. */
  let ran: string;

  before(async () => {
    singleBase = makeOptMl(IRIS);
    multiBase = makeOptMl();
    ran = path.join(multiBase, 'handler-ran');
    const model = path.join(multiBase, 'models', 'shell', 'model');
    cpSync(IRIS, model, { recursive: true });
    mkdirSync(path.join(model, 'code'));
    writeFileSync(path.join(model, 'code', 'inference.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(ran)}, 'ran');\n`);
    [single, multi] = await Promise.all([
      startServe({ SAGEMAKER_BASE_DIR: singleBase, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_LOG_LEVEL: 'error', SMKIT_CORS_ALLOW_ORIGINS: `${APP}/`, SMKIT_ALLOWED_HOSTS: 'devbox.example' }),
      startServe({ SAGEMAKER_BASE_DIR: multiBase, SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_LOG_LEVEL: 'error' }),
    ]);
    await Promise.all([waitForPing(single), waitForPing(multi)]);
  });
  after(async () => {
    await Promise.all([single?.stop(), multi?.stop()]);
    removeDir(singleBase);
    removeDir(multiBase);
  });

  test('POST /models from another site (text/plain, no preflight) is 403 ERR_FOREIGN_ORIGIN and loads nothing; from localhost it loads', async () => {
    const load = JSON.stringify({ model_name: 'shell', url: path.join(multiBase, 'models', 'shell', 'model') });
    const senders: Record<string, string>[] = [{ Origin: EVIL }, { Origin: 'null' }, { Origin: 'http://localhost.evil.example' }, { Referer: `${EVIL}/page.html` }];
    for (const headers of senders) {
      const refused = await send(multi, 'POST', '/models', { 'Content-Type': 'text/plain', ...headers }, load);
      assert.equal(refused.status, 403, JSON.stringify(headers));
      assert.equal(refused.code, 'ERR_FOREIGN_ORIGIN');
      assert.match(refused.message ?? '', /from a web page of another site \((Origin|Referer): /);
    }
    // The other model routes too.
    assert.equal((await send(multi, 'GET', '/models', { Origin: EVIL })).status, 403);
    assert.equal((await send(multi, 'DELETE', '/models/shell', { Origin: EVIL })).status, 403);
    assert.equal((await send(multi, 'POST', '/models/shell/invoke', { Origin: EVIL, 'Content-Type': 'text/csv' }, '5.1,3.5,1.4,0.2')).status, 403);
    assert.equal(existsSync(ran), false, "the handler's code did not run");
    assert.equal((await send(multi, 'GET', '/models/shell', {})).code, 'ERR_MODEL_NOT_LOADED');
    // A page on this machine loads it: the refusals above were the Origin's.
    assert.equal((await send(multi, 'POST', '/models', { 'Content-Type': 'application/json', Origin: 'http://localhost:3000' }, load)).status, 200);
    assert.equal(existsSync(ran), true);
  });

  test('/invocations and the other routes refuse another site, serve none and localhost; GET /ping answers anyone', async () => {
    const csv = { 'Content-Type': 'text/csv' };
    assert.equal((await send(single, 'POST', '/invocations', csv, '5.1,3.5,1.4,0.2')).status, 200);
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
      assert.equal((await send(single, 'POST', '/invocations', { ...csv, Origin: origin }, '5.1,3.5,1.4,0.2')).status, 200, origin);
    }
    const refused = await send(single, 'POST', '/invocations', { 'Content-Type': 'text/plain', Origin: EVIL }, '5.1,3.5,1.4,0.2');
    assert.deepEqual([refused.status, refused.code], [403, 'ERR_FOREIGN_ORIGIN']);
    // DNS rebinding: the page's own name in Host and Origin alike.
    assert.equal((await send(single, 'POST', '/invocations', { ...csv, Host: 'evil.example:8080', Origin: 'http://evil.example:8080' }, '5.1,3.5,1.4,0.2')).status, 403);
    for (const route of ['/execution-parameters', '/metrics', '/nowhere']) assert.equal((await send(single, 'GET', route, { Origin: EVIL })).status, 403, route);
    assert.equal((await send(single, 'GET', '/ping', { Origin: EVIL })).status, 200);
  });

  test('a WebSocket from another site is refused with 403 before the switch; from localhost, or from the address it was sent to, it opens', async () => {
    const refused = await openStream(single, { origin: EVIL });
    assert.deepEqual([refused.status, refused.code], [403, 'ERR_FOREIGN_ORIGIN']);
    assert.equal((await openStream(single, {})).status, 101);
    assert.equal((await openStream(single, { origin: 'http://localhost:3000' })).status, 101);
    // A client that sends its own URL as Origin (Netty's does), to the address in Host.
    assert.equal((await openStream(single, { origin: 'http://10.0.0.5:8080', headers: { Host: '10.0.0.5:8080' } })).status, 101);
    assert.equal((await openStream(single, { origin: 'http://10.0.0.6:8080', headers: { Host: '10.0.0.5:8080' } })).status, 403);
    // On a multi-model endpoint (no streams) the Origin is refused first too.
    assert.equal((await openStream(multi, { origin: EVIL })).code, 'ERR_FOREIGN_ORIGIN');
  });

  test('with SMKIT_ALLOWED_HOSTS, a request addressed to another name (DNS rebinding: a same-origin GET has no Origin) is 403 ERR_FOREIGN_ORIGIN; without it, any Host is served', async () => {
    for (const route of ['/execution-parameters', '/metrics']) {
      const refused = await send(single, 'GET', route, { Host: 'evil.example:8080' });
      assert.deepEqual([refused.status, refused.code], [403, 'ERR_FOREIGN_ORIGIN'], route);
      assert.match(refused.message ?? '', /Host: evil\.example:8080.*SMKIT_ALLOWED_HOSTS/);
    }
    assert.equal((await send(single, 'POST', '/invocations', { 'Content-Type': 'text/csv', Host: 'evil.example' }, '5.1,3.5,1.4,0.2')).status, 403);
    for (const host of ['devbox.example:8080', 'localhost:8080', '10.0.0.5:8080']) {
      assert.equal((await send(single, 'POST', '/invocations', { 'Content-Type': 'text/csv', Host: host }, '5.1,3.5,1.4,0.2')).status, 200, host);
    }
    assert.equal((await send(single, 'GET', '/ping', { Host: 'evil.example' })).status, 200, 'a health check by any name');
    const stream = await openStream(single, { headers: { Host: 'evil.example:8080' } });
    assert.deepEqual([stream.status, stream.code], [403, 'ERR_FOREIGN_ORIGIN']);
    assert.equal((await openStream(single, { headers: { Host: 'devbox.example' } })).status, 101);
    assert.equal((await send(multi, 'GET', '/models', { Host: 'evil.example:8080' })).status, 200, 'off by default: SageMaker calls a container by a name of its own');
  });

  test('a page of an origin SMKIT_CORS_ALLOW_ORIGINS names invokes, reads the answer (CORS) and opens a WebSocket; the multi-model server without the setting refuses it', async () => {
    const preflight = await send(single, 'OPTIONS', '/invocations', { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' });
    assert.deepEqual([preflight.status, preflight.allowOrigin], [204, APP]);
    const answer = await send(single, 'POST', '/invocations', { 'Content-Type': 'text/csv', Origin: APP }, '5.1,3.5,1.4,0.2');
    assert.deepEqual([answer.status, answer.allowOrigin], [200, APP]);
    assert.equal((await send(single, 'POST', '/invocations', { 'Content-Type': 'text/csv', Referer: `${APP}/demo.html` }, '5.1,3.5,1.4,0.2')).status, 200);
    assert.equal((await openStream(single, { origin: APP })).status, 101);
    const other = await send(single, 'POST', '/invocations', { 'Content-Type': 'text/csv', Origin: EVIL }, '5.1,3.5,1.4,0.2');
    assert.deepEqual([other.status, other.allowOrigin], [403, undefined]);
    assert.equal((await send(multi, 'GET', '/models', { Origin: APP })).status, 403);
  });
});
