#!/usr/bin/env node
// `npm pack` / `npm publish` run this around packing (package.json's prepack and postpack). npm
// never publishes a root package-lock.json or .npmrc, yet the Dockerfile installs smkit's
// dependencies from them: `copy` puts them into docker/, which the package ships, so `smkit build`
// from an installed package can build the same image (src/build/package-context.ts); `clean`
// removes the copies again.
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// prepack builds first, so the compiled module is there.
import { SHIPPED_ROOT_FILES } from '../dist/src/build/package-context.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
for (const [name, copy] of Object.entries(SHIPPED_ROOT_FILES)) {
  if (mode === 'copy') copyFileSync(path.join(root, name), path.join(root, copy));
  else if (mode === 'clean') rmSync(path.join(root, copy), { force: true });
  else {
    console.error('usage: pack-build-context.mjs copy|clean');
    process.exit(2);
  }
}
