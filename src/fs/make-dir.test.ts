import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDir } from './make-dir.js';

test('makeDir does what recursive mkdir does: makes the missing folders, returns the first it made, and refuses a file in the way', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smkit-make-dir-'));
  try {
    assert.equal(await makeDir(join(dir, 'a', 'b', 'c')), join(dir, 'a'));
    assert.ok((await stat(join(dir, 'a', 'b', 'c'))).isDirectory());
    assert.equal(await makeDir(join(dir, 'a', 'b')), undefined);
    assert.equal(await makeDir(join(dir, 'a', 'b', 'd')), join(dir, 'a', 'b', 'd'));
    await writeFile(join(dir, 'f'), 'x');
    await assert.rejects(makeDir(join(dir, 'f')), { code: 'EEXIST' });
    await assert.rejects(makeDir(join(dir, 'f', 'g')), { code: 'ENOTDIR' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('makeDir under /proc ends with ENOENT: Node recursive mkdir retried it for ever (smkit init /proc/x never finished)', { skip: !existsSync('/proc/self') }, () => {
  // In a child killed if it does not end: a loop in Node's mkdir holds its thread, and no timer here could stop it.
  const script = `import { makeDir } from ${JSON.stringify(new URL('./make-dir.js', import.meta.url).href)};
makeDir('/proc/smkit-no-such/x').then(() => console.log('made'), (err) => console.log(err.code, err.path));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  assert.equal(r.signal, null, 'it ended by itself');
  assert.equal(r.stdout, 'ENOENT /proc/smkit-no-such\n');
});
