#!/usr/bin/env node
// `npm pack` / `npm publish` run this around packing (package.json's prepack and postpack). npm
// never publishes a root package-lock.json or .npmrc, yet the Dockerfile installs smkit's
// dependencies from them: `copy` puts them into docker/, which the package ships, so `smkit build`
// from an installed package can build the same image (src/build/package-context.ts). It also
// records the git commit being packed, for the image's revision label. `clean` removes all of it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// prepack builds first, so the compiled module is there.
import { PACKED_REVISION_FILE, SHIPPED_ROOT_FILES } from '../dist/src/build/package-context.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== 'copy' && mode !== 'clean') {
  console.error('usage: pack-build-context.mjs copy|clean');
  process.exit(2);
}
for (const [name, copy] of Object.entries(SHIPPED_ROOT_FILES)) {
  if (mode === 'copy') copyFileSync(path.join(root, name), path.join(root, copy));
  else rmSync(path.join(root, copy), { force: true });
}
const revisionFile = path.join(root, PACKED_REVISION_FILE);
rmSync(revisionFile, { force: true });
// Only the checkout's own commit: a folder without .git may sit inside some other repository.
if (mode === 'copy' && existsSync(path.join(root, '.git'))) {
  let revision;
  try {
    revision = execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // No git on this machine: the image's revision stays "unknown".
  }
  if (revision) writeFileSync(revisionFile, `${revision}\n`);
}
