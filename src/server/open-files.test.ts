import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { minOpenFiles, openFilesLimit, tooFewOpenFiles } from './open-files.js';

test('openFilesLimit reads the soft limit of /proc/self/limits; unlimited or unreadable is no limit', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-limits-'));
  try {
    const file = path.join(dir, 'limits');
    const header = 'Limit                     Soft Limit           Hard Limit           Units     \n';
    writeFileSync(file, `${header}Max processes             95473                95473                processes \nMax open files            1024                 524288               files     \n`);
    assert.equal(openFilesLimit(file), 1024);
    writeFileSync(file, `${header}Max open files            unlimited            unlimited            files     \n`);
    assert.equal(openFilesLimit(file), undefined);
    assert.equal(openFilesLimit(path.join(dir, 'missing')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tooFewOpenFiles: a limit below minOpenFiles for the workers is ERR_CONFIG_INVALID naming ulimit -n, the limit, the minimum and the workers; the minimum, more, unlimited or unknown is none', () => {
  assert.equal(minOpenFiles(1), 128);
  assert.equal(minOpenFiles(64), 128);
  assert.equal(minOpenFiles(200), 264);
  for (const workers of [1, 2, 200]) {
    const needed = minOpenFiles(workers);
    const err = tooFewOpenFiles(needed - 1, workers);
    assert.equal(err?.code, 'ERR_CONFIG_INVALID');
    assert.match(err.message, new RegExp(`^the open files limit \\(ulimit -n\\) is ${needed - 1}, below the ${needed} smkit serve needs with ${workers} workers? \\(`));
    assert.equal(tooFewOpenFiles(needed, workers), undefined);
    assert.equal(tooFewOpenFiles(1_048_576, workers), undefined);
    assert.equal(tooFewOpenFiles(undefined, workers), undefined);
  }
});
