import { spawnSync } from 'node:child_process';

/** Where a module's syntax error is, and the line there (for the log only: it is user source). */
export interface SyntaxErrorPlace {
  /** `line 2, column 13` (or `line 2` when Node shows no caret). */
  readonly at: string;
  /** The line itself, trimmed and cut to 120 characters. */
  readonly source: string;
}

/**
 * Where a module that failed to import with a `SyntaxError` goes wrong, from `node --check` (the
 * import's error carries no position: Node keeps it for the message it prints when such an error
 * ends a process). Undefined when the check finds nothing (the error is in a module it imports, or
 * its top-level code threw a `SyntaxError`, as `JSON.parse` does) or cannot run. Only called on a
 * failed load.
 */
export function syntaxErrorPlace(file: string): SyntaxErrorPlace | undefined {
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, NODE_OPTIONS: '' } });
  if (check.status === 0 || typeof check.stderr !== 'string') return undefined;
  const lines = check.stderr.split('\n');
  const at = lines.findIndex((l) => /:\d+$/.test(l));
  if (at === -1) return undefined;
  const line = /:(\d+)$/.exec(lines[at]!)![1];
  const code = lines[at + 1] ?? '';
  const caret = lines[at + 2]?.indexOf('^') ?? -1;
  const column = caret >= 0 ? `, column ${caret + 1}` : '';
  return { at: `line ${line}${column}`, source: code.trim().slice(0, 120) };
}
