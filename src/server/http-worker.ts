/**
 * A cluster worker process: one HTTP front (express) plus one inference thread. The primary sends
 * its configuration over IPC, and `shutdown` on SIGTERM.
 */
import { createServer, type Server } from 'node:http';
import type { Settings } from '../config/settings.js';
import { createLogger } from '../logging/logger.js';
import { createApp } from './app.js';
import { InferenceWorker, type InferenceBackend } from './inference-worker.js';
import { InProcessBackend } from './in-process-backend.js';
import { chooseInferenceMode } from './inference-mode.js';
import type { InferenceThreadData } from './thread-protocol.js';

/** What the primary sends a worker before it starts. */
export interface WorkerConfig {
  type: 'config';
  settings: Settings;
  thread: InferenceThreadData;
}

/** Messages a worker sends the primary. */
export type WorkerReport = { type: 'hello' } | { type: 'listening'; port: number } | { type: 'model'; state: 'ready' | 'failed' };

function report(msg: WorkerReport): void {
  process.send?.(msg);
}

async function run(config: WorkerConfig): Promise<void> {
  const { settings } = config;
  const log = createLogger(settings.logLevel, { worker: config.thread.workerIndex });
  const { engine } = config.thread;
  const mode = chooseInferenceMode(settings.inferenceMode, engine.modelDir, engine.codeDir, engine.program);
  log.debug(mode, 'inference mode');
  const backend: InferenceBackend =
    mode.mode === 'inline'
      ? new InProcessBackend({ ...engine, log }, log)
      : new InferenceWorker(new URL('./inference-thread.js', import.meta.url), config.thread, settings.workerConcurrency, log);
  let draining = false;
  const app = createApp({ settings, backend, log, isDraining: () => draining });
  const server: Server = createServer(app);
  server.listen(settings.port, settings.host, () => {
    const address = server.address();
    report({ type: 'listening', port: typeof address === 'object' && address ? address.port : settings.port });
  });
  // SageMaker keeps connections alive; outlive a typical client/load-balancer idle timeout.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  void backend.whenSettled().then(() => report({ type: 'model', state: backend.state() === 'ready' ? 'ready' : 'failed' }));

  const shutdown = async (graceMs: number) => {
    if (draining) return;
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await backend.close(graceMs);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    process.exit(0);
  };
  process.on('message', (msg: { type?: string; graceMs?: number }) => {
    if (msg?.type === 'shutdown') void shutdown(msg.graceMs ?? 0);
  });
  // The primary coordinates shutdown; a terminal's Ctrl-C reaches every process of the group.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => void shutdown(0));
}

// ESM loads asynchronously: ask for the configuration only once this listener exists.
const onConfig = (msg: WorkerConfig) => {
  if (msg?.type !== 'config') return;
  process.off('message', onConfig);
  void run(msg);
};
process.on('message', onConfig);
report({ type: 'hello' });
