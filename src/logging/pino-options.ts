import { createRequire } from 'node:module';
import type { WriteStream } from 'node:tty';
import type { DestinationStream, Logger as PinoLogger, pino as pinoFactory } from 'pino';
import type { LogFormat, LogLevel } from '../config/settings.js';
import { thrownMessage } from '../errors/excerpt.js';

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** `json` (default) or `pretty` (readable lines for a terminal). */
  format?: LogFormat;
  /** File descriptor to write to. @defaultValue 1 (stdout) */
  fd?: 1 | 2;
}

/** The most log output kept unwritten while its destination fails: a line longer than this is never written. */
export const UNWRITTEN_LOG_BYTES = 16 << 20;

/**
 * Where lines go: `fd`, written synchronously so a crash never loses its last lines; readable lines
 * (pino-pretty) for `pretty`.
 */
function destination(pino: typeof pinoFactory, format: LogFormat, fd: 1 | 2): DestinationStream {
  // A line that cannot be written (a terminal gone after a hang-up: EIO; a full disk) must not end
  // the process: pino rethrows every error but EPIPE out of the logging call, which ended it (a
  // server on its next request's log line). sonic-boom keeps what failed and tries it again before
  // the next line, so lines come out again once the destination takes them (a disk freed); one
  // that keeps failing would keep every later line in memory: past maxLength new lines are dropped.
  const stream = pino.destination({ dest: fd, sync: true, maxLength: UNWRITTEN_LOG_BYTES });
  stream.on('error', () => {});
  return format === 'json' ? stream : prettyLines(stream, fd);
}

/**
 * pino-pretty's formatting of each line, written to `stream`. Not pino-pretty's stream: it pipes into
 * its destination, and the pipe is torn down at the destination's first error (any given
 * destination, as it is pump's doing), so every later line was lost, even once writes worked again.
 */
function prettyLines(stream: DestinationStream, fd: 1 | 2): DestinationStream {
  // Loaded only for terminals: containers never pay for it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as { prettyFactory(opts: Record<string, unknown>): (line: string) => string };
  // Colours on a terminal that takes them: hasColors() is false with NO_COLOR (https://no-color.org),
  // NODE_DISABLE_COLORS or TERM=dumb, and true with FORCE_COLOR, as Node's own output reads them.
  const out = fd === 1 ? process.stdout : process.stderr;
  const colorize = out.isTTY === true && (out as Partial<WriteStream>).hasColors?.() === true;
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  // A line pino-pretty cannot parse is given back with its own line end added: pino's is taken off first.
  return { write: (line) => stream.write(pretty(withMessageOnOneLine(line.endsWith('\n') ? line.slice(0, -1) : line))) };
}

/** Control characters but the tab: C0, DEL and C1. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/** A JSON line that may hold a control character: escaped (`\n`, `\r`, `\u001b`...; not a tab), or DEL and C1, which JSON writes as they are. */
// eslint-disable-next-line no-control-regex
const ESCAPED_CONTROL = /\\[nrbfu]|[\u007f-\u009f]/;

/**
 * pino's JSON `line` with its message's control characters written as escapes (`\n`, `\u001b`),
 * for pino-pretty: a message quotes what a client sent (the model name of a path, with `%0A` in
 * it), and pino-pretty writes a message's line breaks as they are, so a request could forge a
 * readable line of its own. JSON lines escape them already. Still a JSON line, for pino-pretty's
 * own parser to take or refuse; one that is not a JSON object is left as it is.
 */
function withMessageOnOneLine(line: string): string {
  if (!ESCAPED_CONTROL.test(line)) return line;
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return line;
  const fields = record as Record<string, unknown>;
  const msg = fields['msg'];
  if (typeof msg !== 'string') return line;
  const escaped = msg.replace(CONTROL_CHARACTERS, escapeControl);
  if (escaped === msg) return line;
  fields['msg'] = escaped;
  return JSON.stringify(fields);
}

function escapeControl(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * pino's error serializer (`err`), which never throws: an error from user code, or one it caused,
 * whose stack, name, message or cause throws when read (a getter, a Proxy) is logged as what can be
 * read of it. pino's own made the logging call throw, and a failed request logged with such a cause
 * was never answered.
 */
function errorSerializer(pino: typeof pinoFactory): (err: unknown) => unknown {
  const serialize = pino.stdSerializers.err;
  return (err) => {
    try {
      const out = serialize(err as Error);
      const message = messageWithNewCauses(err);
      if (message !== undefined && out !== null && typeof out === 'object') (out as { message?: string }).message = message;
      return out;
    } catch {
      return { type: 'Error', message: thrownMessage(err), stack: readableStack(err) };
    }
  };
}

/**
 * The error's message and each of its causes' that it does not quote already. pino appends every
 * cause's message to the error's, and smkit's errors quote what caused them ("cannot load handler
 * .../inference.mjs: Cannot find package 'x' imported from ..."): the log line said it twice.
 * Undefined (pino's message stands) for what is no error, or a cause given as a function (VError's).
 */
function messageWithNewCauses(err: unknown): string | undefined {
  const messageOf = (e: unknown): string | undefined => {
    const m = e !== null && typeof e === 'object' ? (e as { message?: unknown }).message : undefined;
    return typeof m === 'string' ? m : undefined;
  };
  let text = messageOf(err);
  if (text === undefined) return undefined;
  const seen = new Set<unknown>([err]);
  for (let cause = (err as { cause?: unknown }).cause; cause !== undefined && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    if (typeof cause === 'function') return undefined;
    const message = messageOf(cause);
    // Not error-like: pino stops there too.
    if (message === undefined || seen.has(cause)) break;
    seen.add(cause);
    if (message !== '' && !text.includes(message)) text += `: ${message}`;
  }
  return text;
}

/** `err.stack` when it can be read as text; undefined when it cannot (a getter that throws). */
function readableStack(err: unknown): string | undefined {
  try {
    const stack = (err as { stack?: unknown } | null | undefined)?.stack;
    return typeof stack === 'string' ? stack : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one pino configuration every smkit process uses (serve, its workers and threads, train,
 * local): ISO timestamps, the level as its name (`"level":"info"`), `pid` and `bindings` on
 * every line. `now` gives each line's time (pino's `isoTime` reads `Date.now()` the same way).
 */
export function buildPinoLogger(
  pino: typeof pinoFactory,
  level: LogLevel,
  bindings: Record<string, unknown>,
  format: LogFormat | LoggerOptions,
  now: () => number = Date.now,
): PinoLogger {
  const options: LoggerOptions = typeof format === 'string' ? { format } : format;
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: now === Date.now ? pino.stdTimeFunctions.isoTime : () => `,"time":"${new Date(now()).toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: errorSerializer(pino) },
    },
    destination(pino, options.format ?? 'json', options.fd ?? 1),
  );
}
