import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkFolder } from './work-folder.js';

/** Runs `fn` with TMPDIR set to `dir`, as the work folder reads it. */
function withTmpdir<T>(dir: string, fn: () => T): T {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

test('a work folder is made at the first read of its path, kept with keep, and never made again once removed', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'smkit-work-folder-'));
  try {
    const unused = withTmpdir(scratch, () => new WorkFolder(true));
    await unused.remove();
    assert.equal(existsSync(unused.path), false, 'never read before its removal: never made, not even by a read after it');

    const kept = withTmpdir(scratch, () => new WorkFolder(true));
    assert.ok(kept.path.startsWith(join(scratch, 'smkit-sagemaker-')));
    assert.ok(existsSync(join(kept.path, 'logs')));
    await kept.remove();
    assert.ok(existsSync(kept.path), 'kept (--keep)');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('a temporary folder the work folder cannot be made in: ERR_CONFIG_INVALID naming TMPDIR, at start-up or at the first read', () => {
  const gone = join(tmpdir(), `smkit-work-folder-gone-${process.pid}`);
  const refusal = (err: Error & { code?: string }) => err.code === 'ERR_CONFIG_INVALID' && err.message.includes(gone) && /set TMPDIR to a writable folder/.test(err.message);
  assert.throws(() => withTmpdir(gone, () => new WorkFolder(true)), refusal);

  const scratch = mkdtempSync(join(tmpdir(), 'smkit-work-folder-'));
  const later = withTmpdir(scratch, () => new WorkFolder(true));
  rmSync(scratch, { recursive: true, force: true });
  assert.throws(() => later.path, (err: Error & { code?: string }) => err.code === 'ERR_CONFIG_INVALID' && err.message.includes(`temporary folder ${scratch} (`) && /ENOENT/.test(err.message));
});
