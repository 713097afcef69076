#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled sources (run `npm run build` after editing src/).
import { accessSync, constants, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import url from 'node:url';

/**
 * Node keeps its compile cache in a folder per user id (`<dir>/v22.x-x64-<V8 tag>-<uid>`), so a user
 * other than the one who filled `dir` finds nothing there and, the folder being another's, cannot
 * make its own: the images' cache is root's (their build runs as root), and each start of
 * `docker run --user 1000 <image>` compiled everything afresh. This links root's folders under this
 * user's names in a folder of its own in the temp dir, and returns that folder; Node reads the
 * entries through the links (and cannot add to them, as under a read-only root filesystem).
 * Undefined when there is nothing to link, or no folder that is surely this user's.
 */
function linkRootCompileCache(dir) {
  const uid = process.getuid?.();
  if (!dir || uid === undefined || uid === 0) return undefined;
  try {
    const base = path.resolve(dir);
    // Root's folders whose entries this user may read (Node writes them 0600; the images' build
    // makes them readable): linking unreadable ones would only lose the temp dir's own cache.
    const readable = (tag) => {
      try {
        const entry = readdirSync(path.join(base, tag))[0];
        return entry !== undefined && (accessSync(path.join(base, tag, entry), constants.R_OK), true);
      } catch {
        return false;
      }
    };
    const tags = readdirSync(base).filter((name) => name.endsWith('-0') && readable(name));
    if (tags.length === 0) return undefined;
    const own = path.join(os.tmpdir(), `smkit-node-compile-cache-${uid}`);
    try {
      mkdirSync(own, { mode: 0o700 });
    } catch (err) {
      if (err.code !== 'EEXIST') return undefined;
      // In a temp dir others can write, trust only a folder this user made and only it can change.
      const st = lstatSync(own);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    }
    for (const tag of tags) {
      const link = path.join(own, `${tag.slice(0, -1)}${uid}`);
      const target = path.join(base, tag);
      let current;
      try {
        current = readlinkSync(link);
      } catch {}
      if (current === target) continue;
      if (current !== undefined) unlinkSync(link);
      symlinkSync(target, link);
    }
    return own;
  } catch {
    return undefined;
  }
}

// Node 22.1+ keeps V8's compiled code on disk and reuses it on the next start, which is most of a
// cold start's CPU (the images bake a warm cache, see the Dockerfile). The variable hands the same
// directory to the server's worker processes and threads. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
// A NODE_COMPILE_CACHE that Node could not use at start-up (another user's, see above) is replaced
// by this user's links to it, for this process and, through the variable, the ones it starts. Node 22.1–22.7
// have no getCompileCacheDir (22.8+), so they are left as they were.
const configured = process.env.NODE_COMPILE_CACHE;
const linked =
  module.enableCompileCache && module.getCompileCacheDir && configured && !process.env.NODE_DISABLE_COMPILE_CACHE && !module.getCompileCacheDir() ? linkRootCompileCache(configured) : undefined;
const cache = module.enableCompileCache?.(linked);
if (cache?.directory && (linked || !configured)) process.env.NODE_COMPILE_CACHE = cache.directory;

import('../dist/src/cli/main.js')
  .then(
    (m) => m.main(process.argv),
    // Only the loading of the CLI's own code: what a command loads later reports its own failures.
    (err) => Promise.reject(loadFailure(err) ?? err),
  )
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });

/**
 * What to tell the user when the CLI's code could not be loaded for a reason they can fix: dist/
 * not built (or only partly), or a package smkit needs not installed. Node says "Cannot find module
 * '<path or name>'" (ERR_MODULE_NOT_FOUND from an import, MODULE_NOT_FOUND from a require: the CLI
 * requires some packages) or "Cannot find package '<name>'". Undefined for anything else.
 */
function loadFailure(err) {
  if (!err || (err.code !== 'ERR_MODULE_NOT_FOUND' && err.code !== 'MODULE_NOT_FOUND')) return undefined;
  const missing = /^Cannot find (?:module|package) '([^']+)'/.exec(String(err.message))?.[1];
  if (missing === undefined) return undefined;
  const dist = path.join(path.dirname(path.dirname(url.fileURLToPath(import.meta.url))), 'dist') + path.sep;
  if (missing.startsWith(dist)) return 'smkit: dist/ is missing or incomplete; run `npm run build` first.';
  if (path.isAbsolute(missing) || missing.startsWith('.')) return undefined;
  const name = missing.split('/').slice(0, missing.startsWith('@') ? 2 : 1).join('/');
  return `smkit: the package ${name} is not installed; install smkit's dependencies (npm ci, or npm install), or reinstall smkit.`;
}
