import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeOptMl } from './serve-process.js';
import { startInTempDir, tempDirForSync } from './temp-dir.js';

test('startInTempDir hands back the folder and what start returned; a start that fails leaves no folder and its error goes on', async () => {
  const { dir, started } = await startInTempDir('smkit-temp-dir-test-', async (dir) => {
    await writeFile(path.join(dir, 'weights.bin'), 'w');
    return 'up';
  });
  try {
    assert.equal(started, 'up');
    assert.equal(path.basename(dir).startsWith('smkit-temp-dir-test-'), true, dir);
    assert.equal(readFileSync(path.join(dir, 'weights.bin'), 'utf8'), 'w', 'the folder is the caller\'s once started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  let failedIn: string | undefined;
  const refused = new Error('the local SageMaker did not start');
  await assert.rejects(
    startInTempDir('smkit-temp-dir-test-', async (dir) => {
      failedIn = dir;
      await writeFile(path.join(dir, 'weights.bin'), 'w');
      throw refused;
    }),
    (err) => err === refused,
  );
  assert.notEqual(failedIn, undefined);
  assert.equal(existsSync(failedIn!), false, `${failedIn} was left behind`);
});

test('makeOptMl with a model source that does not exist throws and leaves no /opt/ml tree in the temp dir', (t) => {
  // A temp dir of this test's own: other test files make smkit-optml-* folders at the same time.
  const tmp = tempDirForSync(t, 'smkit-temp-dir-test-tmp-');
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp;
  try {
    assert.throws(() => makeOptMl(path.join(tmp, 'no-such-model')), { code: 'ENOENT' });
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
  assert.deepEqual(readdirSync(tmp), []);
});
