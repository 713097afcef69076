import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../../../test/helpers/local-s3.js';
import { createS3Objects } from './client.js';

test('putFile streams a multi-MB file to a local S3 server, which keeps exactly its bytes (no aws-chunked framing)', async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-'));
  try {
    const bytes = randomBytes(3 * 1024 * 1024);
    const file = join(dir, 'model.tar.gz');
    await writeFile(file, bytes);
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    await objects.putFile('out', 'job/output/model.tar.gz', file, 'application/x-tar');
    await objects.put('out', 'small.out', Buffer.from('1,2\n'));

    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'job/output/model.tar.gz' }));
    assert.equal(got.ContentType, 'application/x-tar');
    const back = Buffer.from(await got.Body!.transformToByteArray());
    assert.equal(back.length, bytes.length);
    assert.ok(back.equals(bytes), 'the object is the file, byte for byte');
    const small = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'small.out' }));
    assert.equal(await small.Body!.transformToString(), '1,2\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});

test('putFile with a length streams that many bytes of a file still being written; a file shorter than the length rejects instead of waiting for bytes that never come', async () => {
  const s3 = await startLocalS3(['out']);
  const dir = await mkdtemp(join(tmpdir(), 'smkit-putfile-length-'));
  try {
    const file = join(dir, 'capture.jsonl');
    await writeFile(file, '{"a":1}\n{"b":2}\n{"c"');
    const objects = createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' });
    await objects.putFile('out', 'capture.jsonl', file, undefined, { length: 16 });
    const got = await s3.client.send(new GetObjectCommand({ Bucket: 'out', Key: 'capture.jsonl' }));
    assert.equal(await got.Body!.transformToString(), '{"a":1}\n{"b":2}\n');
    // As when the file is cut back (a capture write that failed part-way) while it is uploaded.
    await assert.rejects(objects.putFile('out', 'short.jsonl', file, undefined, { length: 100 }), /capture\.jsonl has 20 bytes, fewer than the 100 being uploaded: it shrank during the upload$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await s3.stop();
  }
});
