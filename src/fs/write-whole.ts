import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` to `file` so that a reader sees the old content or all of the new, never an empty
 * or half-written file: the data goes to a temporary file beside it, which is then renamed over
 * it (a rename within one directory is atomic on POSIX file systems). Like an S3 put, which the
 * local stand-ins for `s3://` destinations imitate. The temporary file is removed if the write fails.
 */
export async function writeWhole(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.${randomUUID()}.partial`);
  try {
    await writeFile(temporary, data);
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw err;
  }
}
