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
