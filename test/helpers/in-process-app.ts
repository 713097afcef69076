import assert from 'node:assert/strict';
import http, { type RequestListener, type Server } from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { createApp, type AppSettings } from '../../src/server/app.js';
import { HTTP_SERVER_OPTIONS } from '../../src/server/respond.js';
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

/** Loads the model in `modelDir` in this process on the CPU, one thread, logging to `log`; fails the test if it does not load. */
export async function loadModelInProcess(modelDir: string, log: ServerLogger = createLogger('silent')): Promise<InProcessBackend> {
  const backend = new InProcessBackend(
    { modelDir, codeDir: path.join(modelDir, 'code'), program: 'inference', defaultAccept: 'application/json', runtime: { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0 }, log },
    log,
  );
  await backend.loaded;
  assert.equal(backend.state(), 'ready', String(backend.failure()?.message));
  return backend;
}

/** Loads the model in `modelDir` on the CPU (failing the test if it does not load) and serves it with `settings`, logging to `log`. */
export async function serveModelInProcess(modelDir: string, settings: AppSettings = IN_PROCESS_SETTINGS, log: ServerLogger = createLogger('silent')): Promise<InProcessApp> {
  const backend = await loadModelInProcess(modelDir, log);
  return { app: createApp({ settings, backend, log }), close: () => backend.close() };
}

/** A node:http server (the options `smkit serve` uses) listening on a loopback port. */
export interface LoopbackServer {
  server: Server;
  port: number;
  /** Cuts every connection and waits until the server is closed. */
  close(): Promise<void>;
}

/** Serves `app` over a real HTTP server on a free loopback port; `configure` adds listeners before it listens. */
export async function listenOnLoopback(app: RequestListener, configure: (server: Server) => void = () => undefined): Promise<LoopbackServer> {
  const server = http.createServer(HTTP_SERVER_OPTIONS, app);
  configure(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
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
