/**
 * bin/smkit.js and Node's compile cache (Node 22.1+), which Node keeps in a folder per user id: a
 * user other than the one who filled NODE_COMPILE_CACHE (the images' cache, made by root at build
 * time, under `docker run --user 1000`) still reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(REPO_ROOT, 'bin', 'smkit.js');
const skip = !('enableCompileCache' in module) ? 'Node before 22.1 has no compile cache' : process.getuid?.() !== 0 ? 'runs smkit as another user, which needs root' : false;

test('a user other than the one who filled NODE_COMPILE_CACHE reads its code from it (an image\'s root-made cache under --user 1000)', { skip }, (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-compile-cache-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  chmodSync(tmp, 0o755);
  const cache = path.join(tmp, 'cache');
  const smkit = (env: NodeJS.ProcessEnv, uid?: number) =>
    spawnSync(process.execPath, [BIN, '--version'], { env: { ...process.env, NODE_COMPILE_CACHE: cache, ...env }, encoding: 'utf8', ...(uid === undefined ? {} : { uid, gid: uid }) });
  const warm = smkit({});
  assert.equal(warm.status, 0, warm.stderr);
  const tags = readdirSync(cache).filter((d) => d.endsWith('-0'));
  assert.equal(tags.length, 1, `root's cache folder: ${readdirSync(cache).join(', ')}`);
  // Node writes its entries 0600; the images' warm-up makes them readable (docker/warm-compile-cache.mjs).
  for (const f of readdirSync(path.join(cache, tags[0]!))) chmodSync(path.join(cache, tags[0]!, f), 0o644);
  // The user's own temp dir, as a container's --tmpfs /tmp; the cache itself it cannot write.
  const userTmp = path.join(tmp, 'tmp-1000');
  mkdirSync(userTmp);
  chownSync(userTmp, 1000, 1000);
  const r = smkit({ TMPDIR: userTmp, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }, 1000);
  assert.equal(r.status, 0, r.stderr);
  const reads = r.stderr.split('\n').filter((l) => l.includes('reading cache from') && l.includes('/dist/src/cli/main.js'));
  assert.equal(reads.length, 1, r.stderr);
  assert.match(reads[0]!, /success, size=\d+/, 'the CLI\'s code came from root\'s cache');
});
