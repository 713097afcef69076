/**
 * The code `smkit serve` loads with a feature's first request (the session support, the
 * multipart/form-data reader, express for the rarer routes), first asked for while the worker has
 * no file descriptor to spare: that request is told to retry (503 `ERR_SERVER_BUSY`,
 * `Retry-After: 1`), and the feature works once descriptors are free again. Node keeps a module it
 * could not open failed for good, so a load tried then would leave the feature broken (a 500) for
 * the life of the worker.
 *
 * The handler's predictFn takes every descriptor the worker may open but a few, and gives them
 * back, when asked: requests meanwhile come on connections opened before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOAD_DESCRIPTORS } from '../../src/core/free-descriptors.js';
import { REPO_ROOT, descriptorHoldingHandler, makeOptMl, removeDir, startServeWithFileLimit, type ServeProcess } from '../helpers/serve-process.js';

/** The server's descriptor limit, low enough that taking them all is quick wherever the tests run. */
const FILE_LIMIT = 256;

/** Descriptors the handler leaves free while it holds the rest: fewer than a lazy load asks for. */
const LEFT_FREE = LOAD_DESCRIPTORS / 2;

const HANDLER = descriptorHoldingHandler(LEFT_FREE);

let server: ServeProcess;
let port: number;
let base: string;
let sessions: string;

describe('serve lazy loads fd', () => {
  before(async () => {
    base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
    mkdirSync(path.join(base, 'model', 'code'), { recursive: true });
    writeFileSync(path.join(base, 'model', 'code', 'inference.mjs'), HANDLER);
    sessions = mkdtempSync(path.join(os.tmpdir(), 'smkit-fd-sessions-'));
    server = await startServeWithFileLimit(FILE_LIMIT, { SAGEMAKER_BASE_DIR: base, SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true', SAGEMAKER_SESSIONS_PATH: sessions });
    port = server.port;
  });

  after(async () => {
    await server?.stop();
    removeDir(base);
    removeDir(sessions);
  });

  interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    text: string;
  }

  /** One connection, kept alive: its requests go over the same socket (none can be opened while the worker holds every descriptor). */
  function connection(): { agent: http.Agent; request(method: string, urlPath: string, headers?: Record<string, string>, body?: string | Buffer): Promise<Answer> } {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return {
      agent,
      request: (method, urlPath, headers = {}, body) =>
        new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent, timeout: 30_000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          });
          req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 30 s`)));
          req.on('error', (err) => reject(new Error(`${method} ${urlPath}: ${err.message}\n${server.output()}`)));
          req.end(body);
        }),
    };
  }

  const json = { 'Content-Type': 'application/json' };

  /** A form of one JSON part, as a client's multipart/form-data body. */
  function form(): { headers: Record<string, string>; body: Buffer } {
    const boundary = 'smkitfdboundary';
    const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="input"; filename="input.json"\r\nContent-Type: application/json\r\n\r\n[[5.1,3.5,1.4,0.2]]\r\n--${boundary}--\r\n`);
    return { headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(body.length) }, body };
  }

  function assertBusy(answer: Answer, what: RegExp): void {
    assert.equal(answer.status, 503, answer.text);
    assert.equal(answer.headers['retry-after'], '1');
    const body = JSON.parse(answer.text) as { code: string; message: string };
    assert.equal(body.code, 'ERR_SERVER_BUSY');
    assert.match(body.message, what);
    assert.match(body.message, /cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\); retry shortly/);
  }

  test('features whose code loads on first use, first asked for while the worker has no descriptor to spare: 503 ERR_SERVER_BUSY with Retry-After, then they work once descriptors are free', async () => {
    const [control, sessionCalls, routeCalls, formCalls, formCalls2] = [connection(), connection(), connection(), connection(), connection()];
    const all = [control, sessionCalls, routeCalls, formCalls, formCalls2];
    const hold = async (what: 'hold' | 'release') => {
      const answer = await control.request('POST', '/invocations', { ...json, 'X-Amzn-SageMaker-Custom-Attributes': what }, '[[1,2,3,4]]');
      assert.equal(answer.status, 200, answer.text);
    };
    try {
      // Each connection opened (and its socket kept) before the descriptors run out.
      for (const c of all.slice(0, 4)) assert.equal((await c.request('GET', '/ping')).status, 200);

      await hold('hold');
      try {
        assertBusy(await sessionCalls.request('POST', '/invocations', { ...json, 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' }, '[[1,2,3,4]]'), /^the session support /);
        // Asked again, still refused (not loaded meanwhile), and the connection still served.
        assertBusy(await sessionCalls.request('POST', '/invocations', { ...json, 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' }, '[[1,2,3,4]]'), /^the session support /);
        // Express may have loaded already (it preloads a few seconds after start): then the route answers as usual.
        const route = await routeCalls.request('GET', '/models');
        if (route.status === 503) assertBusy(route, /^the code of this route \(express\) /);
        else assert.equal((JSON.parse(route.text) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED', route.text);
        // Last: a refused form's body is not read, so its connection is closed after the answer. The
        // Content-Type parser is not loaded yet either (the worker used to die of its MODULE_NOT_FOUND).
        const f = form();
        assertBusy(await formCalls.request('POST', '/invocations', f.headers, f.body), /^the package content-type /);
      } finally {
        await hold('release');
      }
      // Once more with the parser loaded (by a multipart type that is not a form), for the form reader's own code.
      assert.equal((await formCalls2.request('GET', '/ping')).status, 200);
      await formCalls2.request('POST', '/invocations', { 'Content-Type': 'multipart/mixed; boundary=x' }, 'x');
      await hold('hold');
      try {
        const f = form();
        assertBusy(await formCalls2.request('POST', '/invocations', f.headers, f.body), /^the multipart\/form-data reader /);
      } finally {
        await hold('release');
      }

      const opened = await sessionCalls.request('POST', '/invocations', { ...json, 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' }, '[[1,2,3,4]]');
      assert.equal(opened.status, 200, opened.text);
      assert.match(String(opened.headers['x-amzn-sagemaker-new-session-id']), /;\s*Expires=/);
      const route = await connection().request('GET', '/models');
      assert.equal(route.status, 404, route.text);
      assert.equal((JSON.parse(route.text) as { code: string }).code, 'ERR_MULTI_MODEL_DISABLED');
      const f = form();
      const formAnswer = await connection().request('POST', '/invocations', f.headers, f.body);
      assert.equal(formAnswer.status, 200, formAnswer.text);
      assert.deepEqual(JSON.parse(formAnswer.text), { ok: true });
    } finally {
      for (const c of all) c.agent.destroy();
    }
    assert.doesNotMatch(server.output(), /worker process died|inference thread exited/);
  });
});
