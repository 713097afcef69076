import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `fs.mkdir(dir, { recursive: true })`, with its result (the first folder it created, or
 * undefined), that always ends. Node's recursive mkdir (seen on Node 20.20) retries for ever, where
 * no signal but SIGKILL ends it, when a folder's parent exists and the folder cannot be made with
 * ENOENT, as under /proc (`smkit init /proc/x`, `smkit package m -o /proc/x/m.tar.gz` never
 * finished). The missing folders are made one at a time instead, so that one is the ENOENT it is.
 * `mode` (before the umask) is that of each folder it makes, as mkdir's.
 */
export async function makeDir(dir: string, mode?: number): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; ) {
    try {
      await stat(at);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  // All there: recursive mkdir cannot loop, and says EEXIST for a file standing where the folder goes.
  if (missing.length === 0) return mkdir(dir, { recursive: true });
  missing.reverse();
  for (const folder of missing) {
    try {
      await mkdir(folder, mode === undefined ? undefined : { mode });
    } catch (err) {
      // Made meanwhile by another process: as recursive mkdir, fine when it is a folder.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(folder)).isDirectory()) throw err;
    }
  }
  return missing[0];
}
