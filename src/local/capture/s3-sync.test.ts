import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../../../test/helpers/local-s3.js';
import { createS3Objects } from '../s3/client.js';
import type { PutFileOptions } from '../s3/objects.js';
import { CaptureS3Sync, completeLinesLength } from './s3-sync.js';

test('capture upload: only complete JSON lines reach S3 (never an empty file or half a record), each growth once, streamed from the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-'));
  const s3 = await startLocalS3(['b']);
  try {
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    const uploads: Array<{ key: string; path: string; options: PutFileOptions | undefined }> = [];
    const sync = new CaptureS3Sync({
      localDir: dir,
      bucket: 'b',
      prefix: '/capture/',
      s3: () => ({
        putFile: (bucket, key, path, contentType, options) => {
          uploads.push({ key, path, options });
          return objects.putFile(bucket, key, path, contentType, options);
        },
      }),
    });
    const object = async (key: string): Promise<string> => (await (await s3.client.send(new GetObjectCommand({ Bucket: 'b', Key: key }))).Body!.transformToString());
    await mkdir(join(dir, 'ep', 'A'), { recursive: true });
    const file = join(dir, 'ep', 'A', 'f.jsonl');
    await writeFile(file, '');
    await sync.flush();
    assert.deepEqual(uploads, [], 'a file just created is not uploaded empty');
    await appendFile(file, '{"a":1}\n{"b"');
    await sync.flush();
    // The file itself goes to S3, as far as its last whole line: its bytes are never held in memory.
    assert.deepEqual(uploads, [{ key: 'capture/ep/A/f.jsonl', path: file, options: { length: 8 } }]);
    assert.equal(await object('capture/ep/A/f.jsonl'), '{"a":1}\n');
    await sync.flush();
    assert.equal(uploads.length, 1, 'a half-written line alone is not a reason to upload again');
    await appendFile(file, ':2}\n');
    await sync.flush();
    assert.equal(uploads.length, 2);
    assert.equal(await object('capture/ep/A/f.jsonl'), '{"a":1}\n{"b":2}\n');
    await sync.flush();
    assert.equal(uploads.length, 2);
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('capture upload: a file whose upload fails is reported and tried again each pass, reported again only when it fails another way or after a success; the other files still go up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-'));
  try {
    const puts: string[] = [];
    const errors: string[] = [];
    let refusal: string | undefined = 'AccessDenied';
    const sync = new CaptureS3Sync({
      localDir: dir,
      bucket: 'b',
      prefix: 'c',
      s3: () => ({
        putFile: async (_bucket, key) => {
          if (refusal !== undefined && key.endsWith('/A/f.jsonl')) throw new Error(`S3 refused ${key}: ${refusal}`);
          puts.push(key);
        },
      }),
      onError: (err) => errors.push(err.message),
    });
    for (const variant of ['A', 'B']) {
      await mkdir(join(dir, 'ep', variant), { recursive: true });
      await writeFile(join(dir, 'ep', variant, 'f.jsonl'), '{"a":1}\n');
    }
    const refused = (why: string): string => `Uploading data capture to s3://b/c/ep/A/f.jsonl failed: S3 refused c/ep/A/f.jsonl: ${why}`;
    await sync.flush();
    assert.deepEqual(puts, ['c/ep/B/f.jsonl']);
    assert.deepEqual(errors, [refused('AccessDenied')]);
    await sync.flush();
    await sync.flush();
    assert.deepEqual(errors, [refused('AccessDenied')], 'the same failure again is not reported again');
    refusal = 'SlowDown';
    await sync.flush();
    assert.deepEqual(errors, [refused('AccessDenied'), refused('SlowDown')]);
    refusal = undefined;
    await sync.flush();
    assert.deepEqual(puts, ['c/ep/B/f.jsonl', 'c/ep/A/f.jsonl']);
    await appendFile(join(dir, 'ep', 'A', 'f.jsonl'), '{"b":2}\n');
    refusal = 'AccessDenied';
    await sync.flush();
    assert.deepEqual(errors, [refused('AccessDenied'), refused('SlowDown'), refused('AccessDenied')], 'after a success, a failure is news again');
    assert.equal(puts.length, 2);
    // A write cut short (a full disk) leaves its new file truncated back to nothing, never uploaded.
    await mkdir(join(dir, 'ep', 'C'));
    await writeFile(join(dir, 'ep', 'C', 'f.jsonl'), '');
    // Once its deployment stopped: what is in S3 goes from the disk, with its folder, and so does an
    // empty file; what is not in S3 stays.
    await sync.removeUploaded();
    assert.deepEqual(await readdir(dir, { recursive: true }), [join('ep'), join('ep', 'A'), join('ep', 'A', 'f.jsonl')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('capture upload: flushes made while a pass waits on S3 (one timing out) share the one pass queued behind it instead of piling up a pass each', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-queued-'));
  try {
    await mkdir(join(dir, 'ep', 'A'), { recursive: true });
    await writeFile(join(dir, 'ep', 'A', 'f.jsonl'), '{"a":1}\n');
    let uploads = 0;
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const sync = new CaptureS3Sync({
      localDir: dir,
      bucket: 'b',
      prefix: 'c',
      s3: () => ({
        putFile: async () => {
          // Every pass fails, so every pass that runs tries the file again.
          if (++uploads === 1) {
            started();
            await held;
          }
          throw new Error('S3 at http://127.0.0.1:1 went 60 s without sending or taking a byte');
        },
      }),
      onError: () => {},
    });
    const first = sync.flush();
    await firstStarted;
    // As the 5-second timer and DeleteEndpoint's last upload call it while S3 hangs.
    const later = Array.from({ length: 10 }, () => sync.flush());
    release();
    await Promise.all([first, ...later]);
    assert.equal(uploads, 2, 'the pass that was waiting, and one pass for the ten calls made meanwhile');
    await sync.flush();
    assert.equal(uploads, 3, 'a flush after that runs a pass of its own');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('capture upload with a KMS key: each upload asks S3 for SSE-KMS with it, and a refused one says where the key comes from', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-sync-kms-'));
  try {
    const asked: Array<PutFileOptions | undefined> = [];
    const errors: string[] = [];
    let refuse = true;
    const sync = new CaptureS3Sync({
      localDir: dir,
      bucket: 'b',
      prefix: 'c',
      kmsKeyId: 'alias/capture',
      s3: () => ({
        putFile: async (_bucket, _key, _path, _contentType, options) => {
          asked.push(options);
          if (refuse) throw new Error('KMS is not configured');
        },
      }),
      onError: (err) => errors.push(err.message),
    });
    await mkdir(join(dir, 'ep', 'A'), { recursive: true });
    await writeFile(join(dir, 'ep', 'A', 'f.jsonl'), '{"a":1}\n');
    await sync.flush();
    refuse = false;
    await sync.flush();
    assert.deepEqual(asked, [{ length: 8, kmsKeyId: 'alias/capture' }, { length: 8, kmsKeyId: 'alias/capture' }]);
    assert.deepEqual(errors, [
      'Uploading data capture to s3://b/c/ep/A/f.jsonl with SSE-KMS key alias/capture (DataCaptureConfig.KmsKeyId; an S3 server without KMS refuses such uploads: leave KmsKeyId out of the endpoint config there) failed: KMS is not configured',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('completeLinesLength finds the last line end reading back from the end, across chunks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-capture-tail-'));
  try {
    const cases: Array<[string, number]> = [
      ['', 0],
      ['{"a"', 0],
      ['{"a":1}\n', 8],
      ['{"a":1}\n{"b":2}\n{"c":', 16],
      // A record longer than a chunk, cut off: the line end is several chunks back.
      [`{"a":1}\n${'x'.repeat(50)}`, 8],
      [`${'y'.repeat(50)}\n`, 51],
    ];
    for (const [i, [text, expected]] of cases.entries()) {
      const file = join(dir, `${i}.jsonl`);
      await writeFile(file, text);
      for (const chunk of [1, 3, 7, 64 * 1024]) assert.equal(await completeLinesLength(file, Buffer.byteLength(text), chunk), expected, `${JSON.stringify(text)} in chunks of ${chunk}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
