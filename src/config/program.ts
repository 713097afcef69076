import { ToolkitError } from '../errors/catalogue.js';
import { invalidFlag } from './flag-values.js';

/**
 * The handler module name `SAGEMAKER_PROGRAM` names without its extension, else `inference`: what
 * `smkit serve` loads and `smkit package` checks by default.
 */
export function defaultProgram(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const raw = env.SAGEMAKER_PROGRAM?.trim();
  if (!raw) return 'inference';
  return checkProgram(raw, 'SAGEMAKER_PROGRAM');
}

/**
 * Strips a `.js/.mjs/.cjs/.py` extension (and `.ts/.mts/.cts`: such a handler is then refused
 * for what it is, TypeScript, not looked for as `inference.ts.mjs`) and refuses paths; `source` names the flag (`--program`:
 * `ERR_CLI_USAGE`) or the variable (`ERR_CONFIG_INVALID`) in errors.
 */
export function checkProgram(raw: string, source: string): string {
  const program = raw.replace(/\.(py|js|mjs|cjs|ts|mts|cts)$/, '');
  if (program === '' || program.includes('/') || program.includes('\\') || program.startsWith('.')) {
    const expected = 'a module file name inside code/, without directories';
    if (source.startsWith('--')) throw invalidFlag(source, raw, expected);
    throw new ToolkitError('ERR_CONFIG_INVALID', `${source}=${JSON.stringify(raw)} is invalid: expected ${expected}.`, { details: { variable: source } });
  }
  return program;
}
