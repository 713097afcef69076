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

test('capture upload: a file whose upload fails is reported and tried again next pass; the other files still go up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-'));
  try {
    const puts: string[] = [];
    const errors: string[] = [];
    let refuse = true;
    const sync = new CaptureS3Sync({
      localDir: dir,
      bucket: 'b',
      prefix: 'c',
      s3: () => ({
        put: async (_bucket, key) => {
          if (refuse && key.endsWith('/A/f.jsonl')) throw new Error(`S3 refused ${key}`);
          puts.push(key);
        },
      }),
      onError: (err) => errors.push(err.message),
    });
    for (const variant of ['A', 'B']) {
      await mkdir(join(dir, 'ep', variant), { recursive: true });
      await writeFile(join(dir, 'ep', variant, 'f.jsonl'), '{"a":1}\n');
    }
    await sync.flush();
    assert.deepEqual(puts, ['c/ep/B/f.jsonl']);
    assert.deepEqual(errors, ['S3 refused c/ep/A/f.jsonl']);
    refuse = false;
    await sync.flush();
    assert.deepEqual(puts, ['c/ep/B/f.jsonl', 'c/ep/A/f.jsonl']);
    assert.equal(errors.length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
