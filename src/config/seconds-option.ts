import { ToolkitError } from '../errors/catalogue.js';

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
