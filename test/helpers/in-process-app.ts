import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { createApp, type AppSettings } from '../../src/server/app.js';
import { InProcessBackend } from '../../src/server/in-process-backend.js';
import { createLogger } from '../../src/logging/logger.js';
import type { ServerLogger } from '../../src/logging/server-logger.js';
import { identityModelDir, type IdentityInput } from './identity-model.js';

/** A model served in this process by `createApp` (for supertest), and how to unload it. */
export interface InProcessApp {
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

/** Settings of one request at a time with a 6 MB payload limit (the SageMaker default). */
export const IN_PROCESS_SETTINGS: AppSettings = { maxPayloadMb: 6, timeoutSeconds: 30, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'SINGLE_RECORD' };

/** Loads the model in `modelDir` on the CPU (failing the test if it does not load) and serves it with `settings`, logging to `log`. */
export async function serveModelInProcess(modelDir: string, settings: AppSettings = IN_PROCESS_SETTINGS, log: ServerLogger = createLogger('silent')): Promise<InProcessApp> {
  const backend = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
    log,
  );
  await backend.loaded;
  assert.equal(backend.state(), 'ready', String(backend.failure()?.message));
  return { app: createApp({ settings, backend, log }), close: () => backend.close() };
}

/** Serves an identity model of `inputs` (each output `<name>_out` is its input unchanged); closing removes the model. */
export async function serveIdentityModel(inputs: readonly IdentityInput[], settings: AppSettings = IN_PROCESS_SETTINGS, log?: ServerLogger): Promise<InProcessApp> {
  const modelDir = identityModelDir(inputs);
  try {
    const served = await serveModelInProcess(modelDir, settings, log);
    return {
      app: served.app,
      async close() {
        await served.close();
        rmSync(modelDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(modelDir, { recursive: true, force: true });
    throw err;
  }
}
