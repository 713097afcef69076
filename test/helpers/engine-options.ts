import path from 'node:path';
import type { EngineOptions } from '../../src/handlers/engine.js';
import { createLogger } from '../../src/logging/logger.js';

/** Options for an in-process `InferenceEngine` on `modelDir` (CPU, one thread, silent log), with `extra` on top. */
export function engineOptions(modelDir: string, extra: Partial<EngineOptions> = {}): EngineOptions {
  return {
    modelDir,
    codeDir: path.join(modelDir, 'code'),
    program: 'inference',
    defaultAccept: 'application/json',
    runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 },
    log: createLogger('silent'),
    ...extra,
  };
}
