import { ToolkitError } from '../errors/catalogue.js';

/**
 * The readers of command-line flag values, and the one rule they follow: a bad flag value is a
 * usage error (`ERR_CLI_USAGE`), whichever command it belongs to and even when the flag overrides an
 * environment variable; a bad environment variable is `ERR_CONFIG_INVALID`. Both exit 1.
 */

/** The error for a flag given `value` where `expected` was wanted: `ERR_CLI_USAGE`, naming the flag and the text as typed. */
export function invalidFlag(flag: string, value: string, expected: string): ToolkitError {
  return new ToolkitError('ERR_CLI_USAGE', `${flag}=${JSON.stringify(value)} is invalid: expected ${expected}.`, { details: { flag } });
}

/**
 * A commander parser for a whole number from `min` to `max` (digits only: no sign, fraction,
 * exponent or empty text), with the same bounds as the environment variable the flag overrides.
 */
export function wholeNumberFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const text = value.trim();
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw invalidFlag(flag, value, `a whole number from ${min} to ${max}`);
    return Number(text);
  };
}

/** A commander parser for a number of seconds from `min` to `max`, fractions allowed. */
export function secondsFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = text === '' ? NaN : Number(text);
    if (!Number.isFinite(n) || n < min || n > max) throw invalidFlag(flag, value, `a number of seconds from ${min} to ${max}`);
    return n;
  };
}

/**
 * Reads a command's seconds option: a positive number, at most `max` (timers past Node's limit of
 * about 24.8 days fire at once, so every wait needs a bound). Throws `ERR_CLI_USAGE` naming the
 * flag and the text given.
 */
export function positiveSecondsOption(flag: string, value: string | number | undefined, max = Infinity): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0 && n <= max)) {
    throw new ToolkitError('ERR_CLI_USAGE', `${flag} must be a positive number of seconds${max === Infinity ? '' : `, at most ${max}`} (got ${value})`);
  }
  return n;
}
