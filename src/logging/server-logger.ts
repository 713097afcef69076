import type { Logger } from '../core/context.js';

/**
 * What a server worker, and the code it hands its logger to, call on it: the levels user code gets,
 * `isLevelEnabled` (hot paths skip building debug records) and `child` (per-model bindings). pino's
 * logger and `DeferredLogger` both have this shape, so a worker can log before pino is loaded.
 */
export interface ServerLogger extends Logger {
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): ServerLogger;
}
