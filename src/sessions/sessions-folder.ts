import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * Makes the sessions folder at start-up, so a folder the server cannot write stops it with a
 * message naming `SAGEMAKER_SESSIONS_PATH` instead of failing the first session.
 */
export function prepareSessionsFolder(root: string): void {
  try {
    makeFolder(root);
    accessSync(root, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ToolkitError('ERR_CONFIG_INVALID', `SAGEMAKER_SESSIONS_PATH=${root}: cannot use it for stateful sessions (${(err as Error).message}); point it at a writable folder`);
  }
}

/**
 * `mkdir -p` that gives up once a folder's parent exists and it still cannot be made. Node's
 * `mkdirSync(dir, { recursive: true })` never returns under `/proc`, which answers ENOENT for a new
 * folder whose parent exists: it makes the parent again (EEXIST) and retries without end.
 */
function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeFolder(parent);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}
