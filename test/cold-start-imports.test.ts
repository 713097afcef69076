// What a worker and the primary load on their way to the first /ping 200 (cold start) is their
// static import graph. Code that only some endpoints need (multi-model, batching), or that waits
// until the model is ready (codecs, heap tuning, gradual loading, metrics aggregation, the slower
// routes), is imported lazily; these checks keep a new static import from pulling it back. The
// last check does the same for `smkit deploy`, which checks its input before it loads the AWS SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/serve-process.js';

const finder = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'import-cycles.mjs')).href)) as {
  importGraph(dir: string): Map<string, string[]>;
};
const SRC = path.join(REPO_ROOT, 'dist', 'src');
const graph = finder.importGraph(SRC);
const relative = (file: string) => path.relative(SRC, file).split(path.sep).join('/');

/** Every module `entry` (relative to dist/src) loads through static imports, itself included. */
function staticallyReached(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [path.join(SRC, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...(graph.get(file) ?? []));
  }
  return new Set([...seen].map(relative));
}

/** `modules` that `reached` holds; each must exist, so that a renamed file cannot pass unseen. */
function loadedOfThese(reached: Set<string>, modules: readonly string[]): string[] {
  const all = new Set([...graph.keys()].map(relative));
  assert.deepEqual(modules.filter((m) => !all.has(m)), [], 'every module named here exists in dist/src');
  return modules.filter((m) => reached.has(m));
}

test('a worker loads no multi-model, batching, heap-tuning, codec or slow-route code before its first /ping', () => {
  const reached = staticallyReached('server/http-worker.js');
  for (const needed of ['server/app.js', 'handlers/engine.js', 'server/in-process-backend.js', 'pipeline/steps/predict.js']) {
    assert.ok(reached.has(needed), `${needed} is on the worker's path (the graph is followed)`);
  }
  const later = [
    'config/settings.js',
    'server/mme-cluster.js',
    'server/model-store.js',
    'batching/adaptive-batcher.js',
    'batching/batched-runtime.js',
    'batching/tensor-batch.js',
    'server/worker-heap.js',
    'core/gradual-require.js',
    'handlers/engine-invocation.js',
    'codecs/registry.js',
    'codecs/csv.js',
    'server/multipart.js',
    'server/inference-worker.js',
    'server/bidi/websocket-front.js',
  ];
  assert.deepEqual(loadedOfThese(reached, later), []);
});

test('the primary loads no metrics aggregation or multi-model code while its workers start', () => {
  // serve.js forks the workers, then imports primary.js: both run during the workers' start.
  const reached = new Set([...staticallyReached('server/serve.js'), ...staticallyReached('server/primary.js')]);
  assert.ok(reached.has('server/early-workers.js') && reached.has('server/cluster-protocol.js'), 'the graph is followed');
  assert.deepEqual(loadedOfThese(reached, ['server/metrics.js', 'server/cluster-metrics.js', 'server/labelled-metrics.js', 'server/mme-cluster.js', 'core/gradual-require.js']), []);
});

/** Whether a compiled module (relative to dist/src) imports an AWS SDK package statically. */
const importsAwsSdk = (module: string): boolean => /^\s*import\b[^;]*?['"]@aws-sdk\//m.test(readFileSync(path.join(SRC, module), 'utf8'));

test('smkit deploy checks its flags and endpoint file before it loads an AWS SDK client', () => {
  // cli/commands/deploy.js imports deploy/request.js, and deploy/command.js (the SDK clients) only once the request is checked.
  const reached = staticallyReached('deploy/request.js');
  assert.ok(reached.has('endpoint-file/load.js') && reached.has('deploy/desired.js'), 'the graph is followed');
  assert.ok(importsAwsSdk('deploy/clients.js') && importsAwsSdk('deploy/artifacts.js'), 'an SDK import, on one line or several, is seen');
  assert.deepEqual([...reached].filter(importsAwsSdk), []);
});
