#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled sources (run `npm run build` after editing src/).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('smkit: dist/ is missing; run `npm run build` first.');
  } else {
    console.error(err);
  }
  process.exit(1);
});
