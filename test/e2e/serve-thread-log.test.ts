// A thread model's log lines while it loads: held off the cold-start path, never lost.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';

/** A model whose modelFn logs, leaves a marker file, then takes `loadMs` to finish. */
function slowLoadingModel(loadMs: number): { dir: string; marker: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-thread-log-'));
  const marker = path.join(dir, 'loading');
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(
    path.join(dir, 'code', 'inference.mjs'),
    `import { writeFileSync } from 'node:fs';
export async function modelFn(modelDir, context) {
  context.log.info('user model_fn: fetching weights');
  writeFileSync(${JSON.stringify(marker)}, '');
  await new Promise((r) => setTimeout(r, ${loadMs}));
  return {};
}
export const transformFn = () => ({ body: 'ok', contentType: 'text/plain' });
`,
  );
  return { dir, marker };
}

/** Serves a model whose load takes a minute; resolves once its modelFn has started. */
async function serveWhileLoading(t: TestContext): Promise<ServeProcess> {
  const { dir, marker } = slowLoadingModel(60_000);
  const server = await startServe({ SMKIT_LOG_FORMAT: 'json' }, ['--model-dir', dir]);
  t.after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await until('modelFn to start', () => existsSync(marker), { timeoutMs: 60_000 });
  return server;
}

test('lines logged while a thread model loads are written when the server stops during the load', async (t) => {
  const server = await serveWhileLoading(t);
  await server.stop();
  assert.match(server.output(), /"msg":"user model_fn: fetching weights"/, server.output());
});

test('a load that takes more than a second has its lines written while it is still loading', async (t) => {
  const server = await serveWhileLoading(t);
  await until('the held line to be written before the model is ready', () => server.output().includes('user model_fn: fetching weights'), { timeoutMs: 30_000 });
  assert.doesNotMatch(server.output(), /"msg":"model ready"/);
});
