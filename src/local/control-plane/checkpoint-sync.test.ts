import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
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
  // Out of the folder and back in (resolved, it is a file of the folder), a chain of links, a loop, a FIFO.
  await symlink(join('..', '..', '..', 'ml', 'checkpoints', 'run1', '..', 'ckpt-2.pt'), join(dir, 'run1', 'back'));
  await symlink('latest', join(dir, 'newest'));
  await symlink('loop-b', join(dir, 'loop-a'));
  await symlink('loop-a', join(dir, 'loop-b'));
  const fifo = spawnSync('mkfifo', [join(dir, 'pipe')]).status === 0; // none on Windows
  if (fifo) await symlink('pipe', join(dir, 'to-pipe'));
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
  assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), ['ckpt/ckpt-2.pt', 'ckpt/latest', 'ckpt/newest', 'ckpt/run1/a.txt', 'ckpt/run1/back']);
  for (const key of ['ckpt/latest', 'ckpt/newest', 'ckpt/run1/back']) {
    const latest = await s3.client.send(new GetObjectCommand({ Bucket: 'b', Key: key }));
    assert.equal(await latest.Body!.transformToString(), 'weights 2', key);
  }
  const byLink = new Map(warnings.map((w) => [w.link, w.why]));
  assert.deepEqual(
    [...byLink.entries()].sort(),
    [
      [join(dir, 'current'), 'it leads to a folder'],
      [join(dir, 'dangling'), 'it leads nowhere'],
      [join(dir, 'loop-a'), 'it is one of a loop of links'],
      [join(dir, 'loop-b'), 'it is one of a loop of links'],
      [join(dir, 'outside'), 'it leads out of the checkpoint folder'],
      ...(fifo ? [[join(dir, 'to-pipe'), 'it leads to something other than a file (a FIFO, a socket, a device)']] : []),
    ],
  );
  assert.equal(warnings.length, fifo ? 6 : 5, 'each link named once');
});
