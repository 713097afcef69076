import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isToolkitError } from '../errors/catalogue.js';
import { bidiCommand } from './bidi.js';
import { invokeCommand } from './command.js';

const usage = (pattern: RegExp) => (e: unknown) => isToolkitError(e) && e.code === 'ERR_CLI_USAGE' && pattern.test(e.message);

test('smkit invoke --timeout and --bidi --idle past a day are usage errors, not a wait that ends at once ("no answer within 3000000 s")', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-invoke-flags-'));
  try {
    const file = path.join(dir, 'rows.csv');
    writeFileSync(file, '5.1,3.5,1.4,0.2\n');
    // Nothing listens on port 9: a request that went out would fail with ERR_INVOKE_FAILED instead.
    const url = 'http://127.0.0.1:9';
    for (const timeout of ['3000000', '1e10', 'Infinity', '0', 'abc']) {
      await assert.rejects(invokeCommand(url, { file, frontDoor: url, timeout }), usage(new RegExp(`^--timeout must be a positive number of seconds, at most 86400 \\(got ${timeout}\\)$`)));
    }
    for (const idle of ['3000000', 'Infinity', '-1']) {
      await assert.rejects(bidiCommand(url, { file, idle }), usage(new RegExp(`^--idle must be a positive number of seconds, at most 86400 \\(got ${idle}\\)$`)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
