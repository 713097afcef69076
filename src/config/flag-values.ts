import { constants, statSync, accessSync, type Stats } from 'node:fs';
import path from 'node:path';
import { closestNames, orList } from '../core/closest-name.js';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * The readers of command-line flag values, and the one rule they follow: a bad flag value is a
 * usage error (`ERR_CLI_USAGE`), whichever command it belongs to and even when the flag overrides an
 * environment variable; a bad environment variable is `ERR_CONFIG_INVALID`. Both exit 1. Every
 * command words it the same way, through {@link invalidFlag}.
 */

/**
 * The error for a flag given `value` where `expected` was wanted: `ERR_CLI_USAGE`, naming the flag
 * and the text as typed (`--port="80a" is invalid: expected a whole number from 0 to 65535.`),
 * then the values `meant` when the text looks like a typo of them (`Did you mean "process"?`).
 */
export function invalidFlag(flag: string, value: string, expected: string, meant: readonly string[] = []): ToolkitError {
  const hint = meant.length > 0 ? ` Did you mean ${orList(meant)}?` : '';
  return new ToolkitError('ERR_CLI_USAGE', `${flag}=${JSON.stringify(value)} is invalid: expected ${expected}.${hint}`, { details: { flag } });
}

/**
 * Refuses a URL with a user name or password in it (`http://me:pw@host:8080`), for `who` (`smkit
 * invoke`), which sends no credentials: a SageMaker container takes none. fetch refused such a URL
 * (read as "could not reach ...: Is the server running?"), while Node's http and ws sent the pair as
 * Basic auth, so one URL worked for one command and not the next. The error shows the URL with the
 * password as `***`, and the URL meant without the credentials. Flagged when `flag` is given.
 */
export function refuseUrlCredentials(url: URL, who: string, flag?: string): void {
  if (url.username === '' && url.password === '') return;
  const shown = new URL(url.href);
  if (shown.password !== '') shown.password = '***';
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  const expected = `a URL without a user name or password (${who} sends no credentials: a SageMaker container takes none), such as ${bare.href}`;
  if (flag !== undefined) throw invalidFlag(flag, shown.href, expected);
  throw new ToolkitError('ERR_CLI_USAGE', `${shown.href} has a user name${url.password === '' ? '' : ' and password'} in it; expected ${expected}`);
}

/**
 * `text` as an error may show it: a URL's password as `***` (`ftp://me:***@host/`), whatever its
 * scheme, and so without one (`me:***@host:80`, which parses as scheme `me:` with no password).
 */
export function urlWithoutPassword(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') {
      url.password = '***';
      return url.href;
    }
  } catch {
    // not a URL: the text below
  }
  return text.replace(/^((?:[A-Za-z][\w+.-]*:)?(?:\/\/)?[^\s/?#@:]*:)[^\s/?#@]*@/, '$1***@');
}

/** `value` when it is one of `allowed` (as spelled there), else {@link invalidFlag} listing them and the one meant. */
export function choiceValue<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw invalidFlag(flag, value, `one of ${allowed.join(', ')}`, closestNames(value, allowed));
}

/** A commander parser for {@link choiceValue}, for an option that also lists `allowed` as its choices in `--help`. */
export function choiceFlag(flag: string, allowed: readonly string[]): (value: string) => string {
  return (value) => choiceValue(flag, value, allowed);
}

/** A whole number from `min` to `max` (digits only: no sign, fraction, exponent or empty text), else {@link invalidFlag}. */
export function wholeNumberValue(flag: string, value: string, min: number, max: number): number {
  const text = value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw invalidFlag(flag, value, `a whole number from ${min} to ${max}`);
  return Number(text);
}

/**
 * A commander parser for a whole number from `min` to `max` (digits only: no sign, fraction,
 * exponent or empty text), with the same bounds as the environment variable the flag overrides.
 */
export function wholeNumberFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => wholeNumberValue(flag, value, min, max);
}

/** A number written in decimal (fractions and exponents allowed: `Number()` also reads `0x10`, `0b11` and `0o17`, and empty text as 0), else NaN. */
export function decimalNumber(text: string): number {
  return /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i.test(text.trim()) ? Number(text.trim()) : NaN;
}

/** A commander parser for a number of seconds from `min` to `max`, fractions allowed. */
export function secondsFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = decimalNumber(value);
    if (!Number.isFinite(n) || n < min || n > max) throw invalidFlag(flag, value, `a number of seconds from ${min} to ${max}`);
    return n;
  };
}

/**
 * Reads a command's seconds option: a positive number, at most `max` (timers past Node's limit of
 * about 24.8 days fire at once, so every wait needs a bound). Throws {@link invalidFlag}.
 */
export function positiveSecondsOption(flag: string, value: string | number | undefined, max = Infinity): number {
  const n = typeof value === 'number' ? value : decimalNumber(String(value));
  if (!(Number.isFinite(n) && n > 0 && n <= max)) {
    throw invalidFlag(flag, String(value), `a number of seconds above 0${max === Infinity ? '' : `, at most ${max}`}`);
  }
  return n;
}

/** A repeatable flag's `NAME=VALUE` split at its first `=` (a name that `name` accepts), else {@link invalidFlag} with `expected`. */
export function pairValue(flag: string, value: string, expected: string, name = /^[^=]+$/): readonly [name: string, value: string] {
  const eq = value.indexOf('=');
  if (eq <= 0 || !name.test(value.slice(0, eq))) throw invalidFlag(flag, value, expected);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/**
 * The one error for a path given on the command line (a flag's, or an argument's named as
 * `<model-dir>`) that is missing, of the wrong kind or cannot be used: {@link invalidFlag}'s shape
 * with where it was looked for and what is there, whichever command it belongs to:
 * `--file="rows.csv" is invalid: expected the request body, a file; /home/me/rows.csv does not exist.`
 */
export function invalidPath(name: string, value: string, expected: string, problem: string): ToolkitError {
  return invalidFlag(name, value, `${expected}; ${path.resolve(value)} ${problem}`);
}

/** What an `fs` error on a path says after it: `does not exist`, `is a directory`, `cannot be read (permission denied)`. */
export function pathProblem(err: unknown, doing: 'read' | 'written' = 'read'): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'does not exist';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return `cannot be ${doing} (permission denied)`;
  return `cannot be ${doing} (${code ?? (err as Error).message})`;
}

/** What is at a path that is not the kind wanted: `is a directory`, `is a file`, or neither. */
function wrongKind(stats: Stats): string {
  return stats.isDirectory() ? 'is a directory' : stats.isFile() ? 'is a file' : 'is neither a file nor a directory';
}

/**
 * The path's {@link Stats} when it exists, is a `kind` and can be read; else {@link invalidPath}
 * naming `name` and saying what is there (nothing, the other kind, no permission).
 */
export function checkPath(name: string, value: string, kind: 'file' | 'directory' | 'any', expected: string): Stats {
  let stats: Stats;
  try {
    stats = statSync(value);
    accessSync(value, constants.R_OK);
  } catch (err) {
    throw invalidPath(name, value, expected, pathProblem(err));
  }
  if ((kind === 'file' && !stats.isFile()) || (kind === 'directory' && !stats.isDirectory())) throw invalidPath(name, value, expected, wrongKind(stats));
  return stats;
}

/**
 * Checks a folder that a command writes into and creates when it is missing (an output folder):
 * it is a folder that can be written, or the nearest of its parents that exists is; else
 * {@link invalidPath} saying what is in the way (`cannot be created: /data/rows.csv is a file`).
 */
export function checkFolderToCreate(name: string, value: string, expected: string): void {
  // `-` reads as stdout (smkit invoke -o -, curl), which a folder of files cannot be: a folder named "-" in the working folder was not meant.
  if (value === '-') throw invalidFlag(name, value, `${expected}, named (such as ./out): the command writes files into a folder, not to stdout`);
  const statOf = (p: string): Stats | undefined => {
    try {
      return statSync(p);
    } catch (err) {
      // Not there, or under a file (ENOTDIR): looked for further up.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw invalidPath(name, value, expected, pathProblem(err));
    }
  };
  const stats = statOf(value);
  if (stats !== undefined && !stats.isDirectory()) throw invalidPath(name, value, expected, wrongKind(stats));
  let folder = path.resolve(value);
  let found = stats;
  while (found === undefined && path.dirname(folder) !== folder) {
    folder = path.dirname(folder);
    found = statOf(folder);
  }
  if (found !== undefined && !found.isDirectory()) throw invalidPath(name, value, expected, `cannot be created: ${folder} is ${wrongKind(found).replace(/^is /, '')}`);
  try {
    accessSync(folder, constants.W_OK);
  } catch (err) {
    throw invalidPath(name, value, expected, stats !== undefined ? pathProblem(err, 'written') : `cannot be created: ${folder} ${pathProblem(err, 'written')}`);
  }
}
