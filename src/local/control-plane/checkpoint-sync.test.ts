import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../../../test/helpers/local-s3.js';
import { createS3Objects } from '../s3/client.js';
import { CheckpointSync } from './checkpoint-sync.js';

test("a link in the checkpoint folder to one of its files (latest -> ckpt-2.pt) is synced as that file, so a resumed job finds it; links to a folder, out of the folder or to nowhere are left out with a warning each, once", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'smkit-ckpt-links-'));
  const s3 = await startLocalS3(['b']);
  t.after(async () => {
    await s3.stop();
    await rm(root, { recursive: true, force: true });
  });
  const base = join(root, 'opt', 'ml');
  const dir = join(base, 'checkpoints');
  await mkdir(join(dir, 'run1'), { recursive: true });
  await writeFile(join(dir, 'ckpt-2.pt'), 'weights 2');
  await writeFile(join(dir, 'run1', 'a.txt'), 'a');
  await symlink('ckpt-2.pt', join(dir, 'latest'));
  await symlink('run1', join(dir, 'current'));
  await writeFile(join(root, 'host-secret'), 'not for S3');
  await symlink(join(root, 'host-secret'), join(dir, 'outside'));
  await symlink('gone.pt', join(dir, 'dangling'));
  const warnings: Array<{ link?: unknown; why?: unknown }> = [];
  const sync = new CheckpointSync({
    s3: () => createS3Objects({ s3EndpointUrl: s3.url, region: 'us-east-1' }),
    bucket: 'b',
    prefix: 'ckpt/',
    dir,
    scratch: join(root, 'scratch'),
    base,
    job: 'j',
    log: (_level, msg, fields) => {
      if (msg === 'a symbolic link in the checkpoint folder is not synced to S3') warnings.push({ link: fields?.['link'], why: fields?.['why'] });
    },
  });
  await sync.finish();
  await sync.finish(); // a second pass names no link again
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'b', Prefix: 'ckpt/' }));
  assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), ['ckpt/ckpt-2.pt', 'ckpt/latest', 'ckpt/run1/a.txt']);
  const latest = await s3.client.send(new GetObjectCommand({ Bucket: 'b', Key: 'ckpt/latest' }));
  assert.equal(await latest.Body!.transformToString(), 'weights 2');
  const byLink = new Map(warnings.map((w) => [w.link, w.why]));
  assert.deepEqual(
    [...byLink.entries()].sort(),
    [
      [join(dir, 'current'), 'it leads to a folder'],
      [join(dir, 'dangling'), 'it leads nowhere'],
      [join(dir, 'outside'), 'it leads out of the checkpoint folder'],
    ],
  );
  assert.equal(warnings.length, 3, 'each link named once');
});
