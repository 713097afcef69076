import { accessSync, constants, mkdirSync } from 'node:fs';
import { ToolkitError } from '../errors/catalogue.js';

/**
 * Makes the sessions folder at start-up, so a folder the server cannot write stops it with a
 * message naming `SAGEMAKER_SESSIONS_PATH` instead of failing the first session.
 */
export function prepareSessionsFolder(root: string): void {
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    accessSync(root, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ToolkitError('ERR_CONFIG_INVALID', `SAGEMAKER_SESSIONS_PATH=${root}: cannot use it for stateful sessions (${(err as Error).message}); point it at a writable folder`);
  }
}
