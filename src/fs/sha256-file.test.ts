import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256File } from './sha256-file.js';

test('sha256File: the digest of the whole file, read in many chunks, and of an empty one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-sha256-'));
  try {
    // Several times the stream's 64 KiB chunk, and not a multiple of it.
    const data = Buffer.alloc(300_001, 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    await writeFile(join(dir, 'a.bin'), data);
    await writeFile(join(dir, 'empty'), '');
    assert.equal(await sha256File(join(dir, 'a.bin')), createHash('sha256').update(data).digest('hex'));
    assert.equal(await sha256File(join(dir, 'empty')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
