import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureS3Sync } from './s3-sync.js';

test('capture upload: only complete JSON lines reach S3 (never an empty file or half a record), each growth once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-'));
  try {
    const puts: Array<{ key: string; body: string }> = [];
    const sync = new CaptureS3Sync({ localDir: dir, bucket: 'b', prefix: '/capture/', s3: () => ({ put: async (_bucket, key, body) => void puts.push({ key, body: Buffer.from(body).toString() }) }) });
    await mkdir(join(dir, 'ep', 'A'), { recursive: true });
    const file = join(dir, 'ep', 'A', 'f.jsonl');
    await writeFile(file, '');
    await sync.flush();
    assert.deepEqual(puts, [], 'a file just created is not uploaded empty');
    await appendFile(file, '{"a":1}\n{"b"');
    await sync.flush();
    assert.deepEqual(puts, [{ key: 'capture/ep/A/f.jsonl', body: '{"a":1}\n' }]);
    await sync.flush();
    assert.equal(puts.length, 1, 'a half-written line alone is not a reason to upload again');
    await appendFile(file, ':2}\n');
    await sync.flush();
    assert.deepEqual(puts[1], { key: 'capture/ep/A/f.jsonl', body: '{"a":1}\n{"b":2}\n' });
    await sync.flush();
    assert.equal(puts.length, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
