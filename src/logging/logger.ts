import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/settings.js';

/** smkit's logger: JSON lines on stdout (CloudWatch reads stdout), one object per event. */
export type SmkitLogger = PinoLogger;

/**
 * Creates the process logger. `bindings` are added to every line (for example `{ worker: 2 }`).
 * Writes synchronously so a crash never loses its last lines.
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): SmkitLogger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
