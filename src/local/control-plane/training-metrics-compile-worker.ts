// Compiles training jobs' MetricDefinitions off the control plane's thread: V8 builds every
// Unicode property class of a translated regex as it parses it, which long regexes make slow.
import { parentPort } from 'node:worker_threads';
import { AwsServiceError } from '../../aws/service.js';
import { compileMetricDefinitions, type CompileRequest, type CompileResult } from './training-metrics.js';

parentPort!.on('message', ({ id, definitions }: CompileRequest) => {
  let result: CompileResult;
  try {
    result = { id, compiled: compileMetricDefinitions(definitions) };
  } catch (err) {
    // Anything else is unexpected: the worker fails, and the control plane compiles them itself.
    if (!(err instanceof AwsServiceError)) throw err;
    result = { id, invalid: err.message };
  }
  parentPort!.postMessage(result);
});
