import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, notePort } from './serve-process.js';

const HELPER = fileURLToPath(new URL('./serve-process.js', import.meta.url));

test('freePort never hands out a port another test process of the run was given: each is noted in the shared temporary folder', async () => {
  // Another test file's process (as run-tests runs them side by side, with the same TMPDIR).
  const theirs = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', `const { freePort } = await import(${JSON.stringify(HELPER)}); const ports = []; for (let i = 0; i < 5; i++) ports.push(await freePort()); console.log(JSON.stringify(ports));`], { encoding: 'utf8', timeout: 60_000 }),
  ) as number[];
  assert.equal(new Set(theirs).size, 5);
  // The OS may offer any of them again once that process closed its probe: this process refuses them.
  for (const port of theirs) assert.equal(notePort(port), false, `port ${port} was noted by the other process`);
  const mine = await freePort();
  assert.ok(!theirs.includes(mine));
  assert.equal(notePort(mine), false, 'a port handed out here is noted too');
});
