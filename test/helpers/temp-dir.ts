import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** What `tempDirFor` needs of a test: a way to run code once it ends (a node:test context). */
export type Cleanup = Pick<TestContext, 'after'>;

/** A new folder `<os temp dir>/<prefix>XXXXXX`, removed with all it holds once test `t` ends, passed or failed. */
export async function tempDirFor(t: Cleanup, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** {@link tempDirFor}, synchronously. */
export function tempDirForSync(t: Cleanup, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Makes a folder `<os temp dir>/<prefix>XXXXXX`, runs `start` with it, and returns the folder and
 * what `start` started. When `start` fails the folder is removed before the error goes on (a start
 * that failed hands back nothing to stop, so nothing else would remove it); once started, removing
 * it is the caller's.
 */
export async function startInTempDir<T>(prefix: string, start: (dir: string) => Promise<T>): Promise<{ dir: string; started: T }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return { dir, started: await start(dir) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
