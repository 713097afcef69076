/**
 * tfjs-node-gpu (TensorFlow) maps nearly all of a GPU's memory in the first process that uses it,
 * unless TF_FORCE_GPU_ALLOW_GROWTH says otherwise; every TF.js worker of `smkit serve` uses the
 * first visible GPU, so all but the first would fail for want of memory. `smkit serve` sets the
 * variable (unless the user did) where the native library reads it: the environment of each worker
 * process, and so of its inference thread. No GPU here: the test reads the environment user code sees.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fetchWithTimeout, makeOptMl, removeDir, startServe, waitForPing } from '../helpers/serve-process.js';

const HANDLER = `export function modelFn() { return {}; }
export function predictFn() { return { growth: process.env.TF_FORCE_GPU_ALLOW_GROWTH ?? null }; }
`;

const cleanups: (() => Promise<void> | void)[] = [];
describe('TensorFlow GPU memory growth', () => {
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function growthSeen(mode: string, value: string | undefined): Promise<unknown> {
    const base = makeOptMl();
    cleanups.push(() => removeDir(base));
    mkdirSync(path.join(base, 'model', 'code'), { recursive: true });
    writeFileSync(path.join(base, 'model', 'code', 'inference.mjs'), HANDLER);
    // An undefined value drops the variable from the child's environment (startServe adds process.env).
    const server = await startServe({
      SAGEMAKER_BASE_DIR: base,
      SAGEMAKER_MODEL_SERVER_WORKERS: '1',
      SMKIT_INFERENCE_MODE: mode,
      TF_FORCE_GPU_ALLOW_GROWTH: value as unknown as string,
    });
    cleanups.push(() => server.stop());
    await waitForPing(server);
    const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '[[1]]', headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    await server.stop();
    return (JSON.parse(body) as { growth: unknown }).growth;
  }

  test('unset: a worker (inline) and an inference thread both see TF_FORCE_GPU_ALLOW_GROWTH=true', async () => {
    assert.equal(await growthSeen('inline', undefined), 'true');
    assert.equal(await growthSeen('thread', undefined), 'true');
  });

  test("the user's own value wins (false: TensorFlow's default)", async () => {
    assert.equal(await growthSeen('thread', 'false'), 'false');
  });
});
