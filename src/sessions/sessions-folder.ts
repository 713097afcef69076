import { constants, readFileSync } from 'node:fs';
import { access, chmod, lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
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
  // The checks below look at the folder the path leads to now; a link on the way, or a folder on
  // the way, of another user lets them make it lead elsewhere later (to a folder of theirs, once
  // this one passed), as every session is opened by that path.
  const foreign = await foreignStep(root, uid);
  if (foreign !== undefined) {
    throw new ToolkitError(
      'ERR_CONFIG_INVALID',
      `SAGEMAKER_SESSIONS_PATH=${root}: will not keep stateful sessions there: ${foreign.path} is ${foreign.link ? 'a symbolic link' : 'a folder'} of another user (uid ${foreign.uid}), who could ${foreign.link ? 'point it elsewhere' : 'put another folder in its place'} at any time and then read and change the sessions' files. Point it at a folder of your own that only you may write, through folders and links of your own or root's`,
    );
  }
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

/** `/`, `/a`, `/a/b` for `/a/b`. */
function steps(absolute: string): string[] {
  const out: string[] = [];
  for (let at = path.resolve(absolute); ; at = path.dirname(at)) {
    out.push(at);
    if (path.dirname(at) === at) return out.reverse();
  }
}

/**
 * The first link or folder on the way to folder `root` that belongs to a user other than `uid` and
 * root: each step of the path as given (links included, `root` itself when it is a link) and of the
 * path it resolves to, but not the folder it resolves to (its owner is checked by the caller).
 * Checked at start-up and again each time a session opens (a folder on the way removed since, and
 * made again by another user, would let them swap the sessions folder under the server).
 */
export async function foreignStep(root: string, uid: number): Promise<{ path: string; uid: number; link: boolean } | undefined> {
  const real = await realpath(root);
  const unmapped = unmappedOwner();
  // Without links on the way both lists are the same path: each step is looked at once.
  for (const step of new Set([...steps(root), ...steps(real).slice(0, -1)])) {
    const st = await lstat(step);
    if (step !== real && st.uid !== uid && st.uid !== 0 && st.uid !== unmapped) return { path: step, uid: st.uid, link: st.isSymbolicLink() };
  }
  return undefined;
}

let unmappedUid: number | undefined | null = null;

/**
 * In a user namespace that does not map the machine's root (`unshare -r`, a sandbox, a rootless
 * container on the host's folders), files of users it does not map show as the overflow uid
 * (65534), `/` and `/dev/shm` among them: the folders of the machine's root as they are seen
 * there, which the path may well go through. Undefined where that uid is mapped (outside such a
 * namespace, or in one that maps it), where it is a user like any other (nobody).
 */
function unmappedOwner(): number | undefined {
  if (unmappedUid !== null) return unmappedUid;
  unmappedUid = undefined;
  try {
    const overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim());
    // Lines of `inside outside count`; where the overflow uid is mapped, it is that user's (nobody's).
    const ranges = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').map((line) => line.trim().split(/\s+/).map(Number));
    const mapped = ranges.some(([inside, , count]) => inside! <= overflow && overflow < inside! + count!);
    if (Number.isInteger(overflow) && !mapped) unmappedUid = overflow;
  } catch {
    // No /proc (macOS, a BSD): no user namespaces either.
  }
  return unmappedUid;
}
