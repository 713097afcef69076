import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogFormat, LogLevel } from '../config/settings.js';

/** smkit's logger: JSON lines on stdout (CloudWatch reads stdout), one object per event. */
export type SmkitLogger = PinoLogger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `json` (default) or `pretty` (readable lines for a terminal). */
  format?: LogFormat;
  /** File descriptor to write to. @defaultValue 1 (stdout) */
  fd?: 1 | 2;
}

/**
 * The one pino configuration every smkit process uses (serve, its workers and threads, train,
 * local): ISO timestamps, the level as its name (`"level":"info"`), `pid` and `bindings` on
 * every line. Writes synchronously so a crash never loses its last lines.
 */
function destination(format: LogFormat, fd: 1 | 2): DestinationStream {
  if (format === 'json') return pino.destination({ dest: fd, sync: true });
  // Loaded only for terminals: containers never pay for it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: Record<string, unknown>) => DestinationStream;
  return pretty({ destination: fd, sync: true, colorize: (fd === 1 ? process.stdout : process.stderr).isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
}

/**
 * Creates a logger. `bindings` are added to every line (for example `{ worker: 2 }`); `format`
 * chooses JSON lines or readable lines.
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, format: LogFormat | LoggerOptions = 'json'): SmkitLogger {
  const options: LoggerOptions = typeof format === 'string' ? { format } : format;
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination(options.format ?? 'json', options.fd ?? 1),
  );
}
