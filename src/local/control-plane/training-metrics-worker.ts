// Runs a training job's metric regular expressions off the control plane's thread, so that one
// that backtracks for ever stalls only this thread, which the control plane then terminates.
import { parentPort, workerData } from 'node:worker_threads';
import { pythonRegExp, pythonSearch } from './python-regex.js';
import type { MetricBatch, MetricBatchResult, MetricWorkerData } from './training-metrics.js';

const { definitions, progress } = workerData as MetricWorkerData;
const compiled = definitions.map((d) => ({ index: d.index, group: d.group, re: pythonRegExp(d) }));
const where = new Int32Array(progress);

parentPort!.on('message', (batch: MetricBatch) => {
  const found: MetricBatchResult['found'] = [];
  batch.lines.forEach((text, line) => {
    for (const { index, group, re } of compiled) {
      // Written before each match, so that the control plane can tell which definition is stuck.
      Atomics.store(where, 0, line);
      Atomics.store(where, 1, index);
      Atomics.add(where, 2, 1);
      const captured = pythonSearch(re, text)?.[group];
      if (captured !== undefined) found.push([line, index, captured]);
    }
  });
  Atomics.add(where, 2, 1);
  parentPort!.postMessage({ id: batch.id, found } satisfies MetricBatchResult);
});
