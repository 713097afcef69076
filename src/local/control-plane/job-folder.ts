import { lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

/**
 * Where a training job's folder (`model/`, `output/data/`, `checkpoints/`) really is, to be packed
 * or synced to S3, or undefined when it leads out of the job's tree `base` (its `/opt/ml`, where
 * smkit made it) or nowhere. The job may have replaced the folder, or one above it, with a symbolic link, and it
 * runs as this process's user outside any container: followed, a link to `/etc` or `~/.aws` would
 * put the host's files in S3, as a link inside the folder would (those are left out when the folder
 * is packed). A link within the tree (`model/` to `checkpoints/`) is followed. A folder the job
 * removed is made again, empty, unless a link above it leads elsewhere, or a file is above it, or
 * `create` is false (then the path it would have is returned, to be read as empty).
 */
export async function jobFolder(dir: string, base: string, { create = true }: { create?: boolean } = {}): Promise<string | undefined> {
  // The tree where it was made: were the job to replace base itself with a link, its target would not count as inside.
  const tree = join(await realpath(dirname(base)), basename(base));
  const inside = (real: string): boolean => real === tree || real.startsWith(tree + sep);
  const real = await realpath(dir).catch(() => undefined);
  if (real !== undefined) return inside(real) ? real : undefined;
  // Not there: where it would be made is under its nearest folder that is, unless a link to nowhere is in the way.
  let missing = dir;
  let found: string | undefined;
  while (found === undefined) {
    if (await lstat(missing).then(() => true, () => false)) return undefined;
    if (dirname(missing) === missing) return undefined;
    found = await realpath(dirname(missing)).catch(() => undefined);
    if (found === undefined) missing = dirname(missing);
  }
  if (!inside(found)) return undefined;
  const at = resolve(found, relative(dirname(missing), dir));
  // Under a file (the job replaced a folder above it with one) nothing can be made: the path is returned, to be read as no folder.
  if (create && (await stat(found)).isDirectory()) await mkdir(at, { recursive: true });
  return at;
}
