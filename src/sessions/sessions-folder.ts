import { constants } from 'node:fs';
import { access, chmod, readdir, stat } from 'node:fs/promises';
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
  // The default is in /dev/shm (or the temp dir), which every user of the machine may write: a
  // folder another user made there first, or one others may write, would let them read and change
  // the sessions' files (the clients' state) and plant sessions of their own.
  const st = await stat(root);
  const uid = process.getuid?.();
  if (uid === undefined) return;
  // A folder of this user's that others may write and that holds nothing yet (a tmpfs or an
  // emptyDir mounted at the path comes world-writable, 1777 or 0777) is made private, then found
  // still empty: once private, no one else can add to it.
  if (st.uid === uid && (st.mode & 0o002) !== 0 && (await emptyFolder(root))) {
    try {
      await chmod(root, 0o700);
    } catch {
      // Cannot be changed (a read-only mount): refused below.
    }
    if (((await stat(root)).mode & 0o002) === 0 && (await emptyFolder(root))) return;
  }
  const why = st.uid !== uid ? `it belongs to another user (uid ${st.uid})` : (st.mode & 0o002) !== 0 ? `others may write it (mode ${(st.mode & 0o777).toString(8)}) and it holds files already` : undefined;
  if (why !== undefined) {
    throw new ToolkitError(
      'ERR_CONFIG_INVALID',
      `SAGEMAKER_SESSIONS_PATH=${root}: will not keep stateful sessions there: ${why}, who could then read and change the sessions' files. Point it at a folder of your own that only you may write (an empty one, or a missing one, is made private), or remove this one`,
    );
  }
}

/** Whether `dir` holds nothing (false when it cannot be read). */
async function emptyFolder(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return false;
  }
}
