import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceWorker } from './inference-worker.js';
import { createLogger } from '../logging/logger.js';
import type { InferenceThreadData } from './thread-protocol.js';

/**
 * A stand-in inference thread whose model load is 400 ms of synchronous work, as ONNX Runtime's
 * native session set-up is: it cannot answer a message until the load is over.
 */
const SLOW_LOADING_THREAD = `
import { parentPort } from 'node:worker_threads';
parentPort.on('message', (msg) => { if (msg.type === 'flush') parentPort.postMessage({ type: 'flushed' }); });
const until = Date.now() + 400;
while (Date.now() < until);
parentPort.postMessage({ type: 'ready', loadMs: 400, description: { hooks: [], runtimes: [], rawBodies: false, maxBatchSize: 1 } });
`;

test('stopping a thread that is loading its model lets the load end first (terminating mid-load can abort the process)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-slow-thread-'));
  const file = path.join(dir, 'thread.mjs');
  writeFileSync(file, SLOW_LOADING_THREAD);
  const worker = new InferenceWorker(pathToFileURL(file), {} as InferenceThreadData, 1, createLogger('silent'));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(worker.state(), 'loading');
  await worker.close();
  // Without the wait, close() gave up on the flush after 200 ms and terminated the thread mid-load.
  assert.equal(worker.state(), 'ready', 'the load finished before the thread was stopped');
});
