/**
 * `GET /metrics` when the primary cannot collect the cluster's metrics (prom-client cannot be
 * loaded there): the scrape fails with a catalogued error, so Prometheus marks the target down,
 * instead of a 200 holding one comment, which it read as a good scrape with no series at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ERROR_CATALOGUE } from '../../src/errors/catalogue.js';
import { REPO_ROOT, fetchWithTimeout, makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';

let server: ServeProcess;
let base: string;
let hookDir: string;

before(async () => {
  base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
  // Preloaded in every process; only the cluster primary refuses to load prom-client.
  hookDir = mkdtempSync(path.join(os.tmpdir(), 'smkit-no-prom-'));
  const hook = path.join(hookDir, 'no-prom-client-in-primary.cjs');
  writeFileSync(
    hook,
    `const Module = require('node:module');
if (require('node:cluster').isPrimary) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    const found = resolve.call(this, request, ...rest);
    if (found.includes('/prom-client/')) throw new Error('prom-client cannot be loaded in the primary (test)');
    return found;
  };
}
`,
  );
  server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '2', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hook}`.trim() });
  await waitForPing(server);
});

after(async () => {
  await server?.stop();
  removeDir(base);
  rmSync(hookDir, { recursive: true, force: true });
});

test('metrics the primary cannot collect are a catalogued 5xx naming why, not a 200 of a comment; /ping still answers', async () => {
  for (const method of ['GET', 'HEAD']) {
    const res = await fetchWithTimeout(`${server.url}/metrics`, { method });
    const text = await res.text();
    assert.ok(res.status >= 500, `${method}: ${res.status} ${text}`);
    if (method === 'GET') {
      const body = JSON.parse(text) as { code: string; message: string };
      assert.ok(Object.hasOwn(ERROR_CATALOGUE, body.code), body.code);
      assert.equal(ERROR_CATALOGUE[body.code as keyof typeof ERROR_CATALOGUE].status, res.status);
      assert.match(body.message, /metrics of the worker processes could not be collected: prom-client cannot be loaded in the primary/);
    }
  }
  assert.equal((await fetchWithTimeout(`${server.url}/ping`)).status, 200);
});
