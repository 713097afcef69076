import { ToolkitError } from '../errors/catalogue.js';

/**
 * Parsers for numeric flags, given to commander: each checks the text as typed and throws
 * `ERR_CONFIG_INVALID` naming the flag and that text (not `NaN`), with the same bounds as the
 * environment variable the flag overrides.
 */
function invalidFlag(flag: string, value: string, expected: string): ToolkitError {
  return new ToolkitError('ERR_CONFIG_INVALID', `${flag}=${JSON.stringify(value)} is invalid: expected ${expected}.`, { details: { variable: flag } });
}

/** A whole number from `min` to `max` (digits only: no sign, fraction, exponent or empty text). */
export function wholeNumberFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const text = value.trim();
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw invalidFlag(flag, value, `a whole number from ${min} to ${max}`);
    return Number(text);
  };
}

/** A number of seconds from `min` to `max`, fractions allowed. */
export function secondsFlag(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = text === '' ? NaN : Number(text);
    if (!Number.isFinite(n) || n < min || n > max) throw invalidFlag(flag, value, `a number of seconds from ${min} to ${max}`);
    return n;
  };
}
