#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled sources (run `npm run build` after editing src/).
import module from 'node:module';

// Node 22.1+ keeps V8's compiled code on disk and reuses it on the next start, which is most of a
// cold start's CPU (the images bake a warm cache, see the Dockerfile). The variable hands the same
// directory to the server's worker processes and threads. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
const cache = module.enableCompileCache?.();
if (cache?.directory && !process.env.NODE_COMPILE_CACHE) process.env.NODE_COMPILE_CACHE = cache.directory;

import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('smkit: dist/ is missing; run `npm run build` first.');
  } else {
    console.error(err);
  }
  process.exit(1);
});
