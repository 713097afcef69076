import { pino, type Logger as PinoLogger } from 'pino';
import type { LogFormat, LogLevel } from '../config/settings.js';
import { buildPinoLogger, type LoggerOptions } from './pino-options.js';

/** smkit's logger: JSON lines on stdout (CloudWatch reads stdout), one object per event. */
export type SmkitLogger = PinoLogger;

export type { LoggerOptions } from './pino-options.js';

/**
 * Creates a logger. `bindings` are added to every line (for example `{ worker: 2 }`); `format`
 * chooses JSON lines or readable lines. Lines are written synchronously, so a crash never loses
 * its last lines.
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, format: LogFormat | LoggerOptions = 'json'): SmkitLogger {
  return buildPinoLogger(pino, level, bindings, format);
}
