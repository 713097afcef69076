import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { ToolkitError } from '../errors/catalogue.js';
import { makeDir } from '../fs/make-dir.js';

/**
 * Makes the sessions folder at start-up, so a folder the server cannot write stops it with a
 * message naming `SAGEMAKER_SESSIONS_PATH` instead of failing the first session.
 */
export async function prepareSessionsFolder(root: string): Promise<void> {
  try {
    // The folder and the parents it makes private to the server (session files are its clients').
    await makeDir(root, 0o700);
    await access(root, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ToolkitError('ERR_CONFIG_INVALID', `SAGEMAKER_SESSIONS_PATH=${root}: cannot use it for stateful sessions (${(err as Error).message}); point it at a writable folder`);
  }
}
