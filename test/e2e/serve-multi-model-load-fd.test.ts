/**
 * A multi-model `POST /models` while the worker has no file descriptor to spare: a load opens the
 * model's files and loads code (the inference thread's, a runtime's), which Node would keep failed
 * for the life of the worker. It is not started: 507 `ERR_INSUFFICIENT_RESOURCES` (the contract's
 * answer for a load short of memory or other resources: SageMaker unloads unused models and
 * retries), the model is left unloaded, and the same `POST /models` loads it once descriptors are free.
 *
 * A first model's predictFn takes every descriptor the worker may open but a few, and gives them
 * back, when asked: requests meanwhile come on connections opened before.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOAD_DESCRIPTORS } from '../../src/core/free-descriptors.js';
import { REPO_ROOT, descriptorHoldingHandler, makeOptMl, removeDir, startServeWithFileLimit, type ServeProcess } from '../helpers/serve-process.js';

/** The server's descriptor limit, low enough that taking them all is quick wherever the tests run. */
const FILE_LIMIT = 256;

/** Fewer free descriptors than a load asks for, while the holder model holds the rest. */
const HANDLER = descriptorHoldingHandler(LOAD_DESCRIPTORS / 2);

let server: ServeProcess;
let port: number;
let base: string;
let models: string;

describe('serve multi model load fd', () => {
  before(async () => {
    base = makeOptMl();
    models = mkdtempSync(path.join(os.tmpdir(), 'smkit-mme-fd-'));
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(models, 'holder'), { recursive: true });
    mkdirSync(path.join(models, 'holder', 'code'), { recursive: true });
    writeFileSync(path.join(models, 'holder', 'code', 'inference.mjs'), HANDLER);
    cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(models, 'iris'), { recursive: true });
    server = await startServeWithFileLimit(FILE_LIMIT, { SAGEMAKER_BASE_DIR: base, SAGEMAKER_MULTI_MODEL: 'true' });
    port = server.port;
  });

  after(async () => {
    await server?.stop();
    removeDir(base);
    removeDir(models);
  });

  interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    text: string;
  }

  /** One connection, kept alive: none can be opened while the worker holds every descriptor. */
  function connection(): (method: string, urlPath: string, headers?: Record<string, string>, body?: string) => Promise<Answer> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return (method, urlPath, headers = {}, body) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent, timeout: 60_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 60 s`)));
        req.on('error', (err) => reject(new Error(`${method} ${urlPath}: ${err.message}\n${server.output()}`)));
        req.end(body);
      });
  }

  const json = { 'Content-Type': 'application/json' };

  test('POST /models while the worker has no descriptor to spare: 507 ERR_INSUFFICIENT_RESOURCES, the model not loaded; the same load succeeds once descriptors are free', async () => {
    const control = connection();
    const loads = connection();
    const load = (name: string) => loads('POST', '/models', json, JSON.stringify({ model_name: name, url: path.join(models, name) }));
    const invoke = (name: string, attributes?: string) => control('POST', `/models/${name}/invoke`, { ...json, ...(attributes ? { 'X-Amzn-SageMaker-Custom-Attributes': attributes } : {}) }, '[[5.1,3.5,1.4,0.2]]');
    const holder = await load('holder');
    assert.equal(holder.status, 200, holder.text);
    assert.equal((await invoke('holder', 'release')).status, 200);
    const held = await invoke('holder', 'hold');
    assert.equal(held.status, 200, held.text);
    try {
      const refused = await load('iris');
      assert.equal(refused.status, 507, refused.text);
      const body = JSON.parse(refused.text) as { code: string; message: string };
      assert.equal(body.code, 'ERR_INSUFFICIENT_RESOURCES');
      assert.match(body.message, /^model "iris" cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\); retry shortly$/);
      const listed = await loads('GET', '/models/iris');
      assert.equal(listed.status, 404, listed.text);
    } finally {
      assert.equal((await invoke('holder', 'release')).status, 200);
    }
    const loaded = await load('iris');
    assert.equal(loaded.status, 200, loaded.text);
    const answer = await invoke('iris');
    assert.equal(answer.status, 200, answer.text);
    assert.equal((JSON.parse(answer.text) as number[][])[0]!.length, 3);
  });
});
