import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWhole } from './write-whole.js';

test('writeWhole: a reader polling the file while it is replaced sees the old or the new content, never a part', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-write-whole-'));
  try {
    const file = join(dir, 'result.out');
    const versions = Array.from({ length: 40 }, (_, i) => Buffer.alloc(256 * 1024, 97 + (i % 26)));
    await writeFile(file, versions[0]!);
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const text = await readFile(file);
        assert.ok(text.length === 256 * 1024 && text.every((b) => b === text[0]), `a whole version, not ${text.length} bytes of mixed content`);
      }
    })();
    for (const v of versions.slice(1)) await writeWhole(file, v);
    writing = false;
    await reader;
    assert.equal((await readFile(file))[0], versions.at(-1)![0]);
    assert.deepEqual(await readdir(dir), ['result.out'], 'no temporary file is left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('writeWhole: a failed write leaves neither a temporary file nor a changed target', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-write-whole-'));
  try {
    // The target is a directory: the rename over it fails after the temporary file was written.
    await writeFile(join(dir, 'keep'), 'x');
    const target = join(dir, 'sub');
    await mkdir(join(target, 'inner'), { recursive: true });
    await assert.rejects(writeWhole(target, 'data'));
    assert.deepEqual((await readdir(dir)).sort(), ['keep', 'sub']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
