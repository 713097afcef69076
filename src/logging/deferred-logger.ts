import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hasFreeDescriptors } from '../core/free-descriptors.js';
import type { Logger as PinoLogger, pino as pinoFactory } from 'pino';
import type { LogFormat, LogLevel } from '../config/settings.js';
import { buildPinoLogger, type LoggerOptions } from './pino-options.js';
import type { ServerLogger } from './server-logger.js';

/** pino's level numbers (a line is written when its level is at least the logger's). */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Method = keyof typeof LEVELS;

/** Lines held before pino is loaded; past this many pino is loaded at once. */
const MAX_HELD_LINES = 1000;

/** How long, at most, a server process holds its log lines while it starts (see {@link DeferredLogger.loadWithin}). */
export const LOG_HOLD_MS = 1000;

/** How long after a failed load (no descriptor free to read pino's files) pino is tried again. */
export const LOAD_RETRY_MS = 1000;

/**
 * pino's dependencies that `require('pino')` does not load: they serve transports
 * (`pino.transport()`, which smkit does not use; pino-abstract-transport brings split2) and
 * deprecation warnings. Loading them with the rest (gradual-require.ts) cost a worker 4 files and
 * about 3 ms of CPU (of 55-60) at every start.
 */
export const PINO_LAZY_DEPENDENCIES: ReadonlySet<string> = new Set(['pino-abstract-transport', 'real-require', 'process-warning']);
const NO_PACKAGES: ReadonlySet<string> = new Set();

interface HeldLine {
  readonly logger: DeferredLogger;
  readonly method: Method;
  readonly args: unknown[];
  readonly time: number;
}

/** What a deferred logger and its children share: the held lines, then the real root logger. */
class DeferredRoot {
  real: PinoLogger | undefined;
  readonly held: HeldLine[] = [];
  readonly threshold: number;
  /** The time of the held line being written, while it is. */
  #replaying: number | undefined;

  constructor(
    readonly level: LogLevel,
    private readonly bindings: Record<string, unknown>,
    private readonly format: LogFormat | LoggerOptions,
  ) {
    this.threshold = level === 'silent' ? Number.POSITIVE_INFINITY : LEVELS[level];
  }

  /** The CommonJS packages {@link DeferredRoot.load} requires. */
  packages(): string[] {
    return this.#pretty() ? ['pino', 'pino-pretty'] : ['pino'];
  }

  /**
   * Dependencies of those packages that requiring them does not load, so a gradual load leaves them
   * out (see gradual-require.ts). pino-pretty loads pino's transport helpers itself.
   */
  lazyDependencies(): ReadonlySet<string> {
    return this.#pretty() ? NO_PACKAGES : PINO_LAZY_DEPENDENCIES;
  }

  #pretty(): boolean {
    return (typeof this.format === 'string' ? this.format : this.format.format) === 'pretty';
  }

  /**
   * {@link DeferredRoot.load}, or undefined when pino cannot be loaded now: the process has no
   * descriptors to spare (trying then would make Node take pino for missing for good), or the load
   * threw. Held lines stay held.
   */
  tryLoad(): PinoLogger | undefined {
    if (this.real) return this.real;
    if (!hasFreeDescriptors()) return undefined;
    try {
      return this.load();
    } catch {
      return undefined;
    }
  }

  /**
   * Writes one line without pino, as pino would write it in JSON (for when pino cannot be loaded):
   * synchronously to the logger's descriptor; a line that cannot be written is dropped.
   */
  fallback(method: Method, bindings: Record<string, unknown>, args: unknown[], time = Date.now()): void {
    if (LEVELS[method] < this.threshold) return;
    const fd = typeof this.format === 'string' ? 1 : (this.format.fd ?? 1);
    const [first, ...rest] = args;
    const fields = first !== null && typeof first === 'object' && !(first instanceof Error) ? (first as Record<string, unknown>) : first instanceof Error ? { err: first } : {};
    const words = first !== null && typeof first === 'object' ? rest : args;
    const msg = words.length > 0 ? words.map(String).join(' ') : first instanceof Error ? first.message : undefined;
    const line = { level: method, time: new Date(time).toISOString(), pid: process.pid, ...this.bindings, ...bindings, ...fields, ...(msg === undefined ? {} : { msg }) };
    try {
      writeSync(fd, `${JSON.stringify(line, errorsAsObjects)}\n`);
    } catch {
      // Nowhere left to say it.
    }
  }

  /** Writes the held lines through {@link DeferredRoot.fallback}. */
  fallbackHeld(): void {
    for (const line of this.held.splice(0)) this.fallback(line.method, line.logger.allBindings(), line.args, line.time);
  }

  /** Loads pino (synchronously: pino is CommonJS) and writes the held lines with their own times. */
  load(): PinoLogger {
    if (this.real) return this.real;
    const { pino } = createRequire(import.meta.url)('pino') as { pino: typeof pinoFactory };
    this.real = buildPinoLogger(pino, this.level, this.bindings, this.format, () => this.#replaying ?? Date.now());
    for (const line of this.held.splice(0)) {
      this.#replaying = line.time;
      try {
        (line.logger.loaded()[line.method] as (...a: unknown[]) => void)(...line.args);
      } finally {
        this.#replaying = undefined;
      }
    }
    return this.real;
  }
}

/**
 * A logger with pino's calls (`info(obj?, msg)`, `child`, `isLevelEnabled`, ...) that loads pino
 * only when {@link DeferredLogger.load} is called, at its first `error`/`fatal` line, or when the
 * process exits. Lines logged before are held, then written in order with the time they were
 * logged. A server worker uses it so loading pino (its own modules and dependencies) is not on the
 * way to its first healthy `/ping`.
 */
export class DeferredLogger implements ServerLogger {
  #real: PinoLogger | undefined;

  private constructor(
    private readonly root: DeferredRoot,
    private readonly parent: DeferredLogger | undefined,
    private readonly bindings: Record<string, unknown>,
  ) {}

  /**
   * A deferred logger configured like `createLogger(level, bindings, format)`. Held lines are
   * written when the process exits, however it exits short of being killed.
   */
  static create(level: LogLevel, bindings: Record<string, unknown> = {}, format: LogFormat | LoggerOptions = 'json'): DeferredLogger {
    const root = new DeferredRoot(level, bindings, format);
    process.once('exit', () => {
      if (root.held.length > 0 && !root.tryLoad()) root.fallbackHeld();
    });
    return new DeferredLogger(root, undefined, {});
  }

  /** Loads pino now and writes the held lines. */
  load(): void {
    this.root.load();
  }

  /**
   * Loads pino one package per turn of the event loop (see gradual-require.ts), then writes the
   * held lines: for a server that is already answering requests, which loading pino in one go would
   * hold for some 30 ms. An error line or the timer of {@link DeferredLogger.loadWithin} meanwhile
   * loads the rest at once.
   */
  async loadGradually(): Promise<void> {
    // Without descriptors to spare it is left to the timer of loadWithin (see DeferredRoot.tryLoad).
    if (this.root.real || !hasFreeDescriptors()) return;
    await (await import('../core/gradual-require.js')).requireGradually(this.root.packages(), import.meta.url, undefined, undefined, this.root.lazyDependencies());
    this.root.tryLoad();
  }

  /**
   * Loads pino `ms` from now at the latest (a timer that does not keep the process alive). When it
   * cannot be loaded then (see {@link DeferredRoot.tryLoad}), it is tried again every
   * {@link LOAD_RETRY_MS}; an error line meanwhile is written without pino.
   */
  loadWithin(ms: number): this {
    setTimeout(() => {
      if (!this.root.tryLoad()) this.loadWithin(LOAD_RETRY_MS);
    }, ms).unref();
    return this;
  }

  /** The bindings of this logger and its parents, for lines written without pino. */
  allBindings(): Record<string, unknown> {
    return this.parent ? { ...this.parent.allBindings(), ...this.bindings } : this.bindings;
  }

  /** This logger's pino logger (loading pino if needed). */
  loaded(): PinoLogger {
    if (this.#real) return this.#real;
    this.#real = this.parent ? this.parent.loaded().child(this.bindings) : this.root.load();
    return this.#real;
  }

  #write(method: Method, args: unknown[]): void {
    // Below the level nothing is written, so a child logger is not built for it either.
    if (LEVELS[method] < this.root.threshold) return;
    if (this.root.real) return void (this.loaded()[method] as (...a: unknown[]) => void)(...args);
    // An error may be the last thing this process says: write it, and everything before it, now.
    if (LEVELS[method] >= LEVELS.error || this.root.held.length >= MAX_HELD_LINES) {
      if (this.root.tryLoad()) return void (this.loaded()[method] as (...a: unknown[]) => void)(...args);
      // pino cannot be loaded now: nothing is lost, and memory stays bounded.
      this.root.fallbackHeld();
      return this.root.fallback(method, this.allBindings(), args);
    }
    this.root.held.push({ logger: this, method, args, time: Date.now() });
  }

  /** Logs at `trace`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }
  /** Logs at `debug`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }
  /** Logs at `info`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  info(...args: unknown[]): void {
    this.#write('info', args);
  }
  /** Logs at `warn`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }
  /** Logs at `error`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  error(...args: unknown[]): void {
    this.#write('error', args);
  }
  /** Logs at `fatal`: `({ ...fields }, message)` or `(message)`, as pino takes them. */
  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }

  /**
   * Whether `level` is written (pino's answer once loaded). A child answers with the root's pino
   * logger (children are never given their own level): a request's child logger that is only asked
   * this, as the pipeline does on every invocation, then never builds a pino child.
   */
  isLevelEnabled(level: string): boolean {
    if (this.root.real) return this.root.real.isLevelEnabled(level);
    const n = (LEVELS as Record<string, number>)[level];
    return n !== undefined && n >= this.root.threshold;
  }

  /** The level name. */
  get level(): string {
    return this.root.real ? this.root.real.level : this.root.level;
  }

  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): DeferredLogger {
    return new DeferredLogger(this.root, this, bindings);
  }

  /** Flushes pino's destination (nothing to flush before pino is loaded: lines are held). */
  flush(): void {
    if (this.root.real) this.loaded().flush();
  }
}

/** `JSON.stringify`'s replacer for {@link DeferredRoot.fallback}: an error as pino's serializer writes it. */
function errorsAsObjects(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as NodeJS.ErrnoException).code;
  return { type: value.name, message: value.message, stack: value.stack, ...(code === undefined ? {} : { code }) };
}
