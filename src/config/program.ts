import { ToolkitError } from '../errors/catalogue.js';

/**
 * The handler module name `smkit package` checks by default: `SAGEMAKER_PROGRAM` without its
 * extension, else `inference` (the same rule `smkit serve` applies).
 */
export function defaultProgram(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const raw = env.SAGEMAKER_PROGRAM?.trim();
  if (!raw) return 'inference';
  return checkProgram(raw, 'SAGEMAKER_PROGRAM');
}

/** Strips a `.js/.mjs/.cjs/.py` extension and refuses paths; `source` names the flag or variable in errors. */
export function checkProgram(raw: string, source: string): string {
  const program = raw.replace(/\.(py|js|mjs|cjs)$/, '');
  if (program === '' || program.includes('/') || program.includes('\\') || program.startsWith('.')) {
    throw new ToolkitError('ERR_CONFIG_INVALID', `${source}=${JSON.stringify(raw)} is invalid: expected a module file name inside code/, without directories.`);
  }
  return program;
}
