import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { alive, cleanEnv, gone, killRun, makeTree, runSmkit, startSmkit, waitForPid } from './train-helpers.js';

const trees: string[] = [];
after(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

test('SIGTERM: a script that ignores it is killed after the grace period and the run fails', { timeout: 60_000 }, async () => {
  const base = makeTree({ hyperparameters: { sagemaker_program: '"ignore-sigterm.mjs"' }, code: ['ignore-sigterm.mjs'] });
  trees.push(base);
  const { child, done } = startSmkit(['train', '--grace-seconds', '1'], cleanEnv({ SAGEMAKER_BASE_DIR: base }));
  const ready = path.join(base, 'output/data/ready');
  let scriptPid: number | undefined;
  try {
    scriptPid = await waitForPid(ready);
    assert.ok(alive(scriptPid));
  } catch (err) {
    killRun(child, scriptPid);
    throw err;
  }
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 137, r.stderr + r.stdout); // 128 + SIGKILL
  assert.equal(await gone(scriptPid), true, `the training script (pid ${scriptPid}) outlived the run`);
  const failure = readFileSync(path.join(base, 'output/failure'), 'utf8');
  assert.equal(failure.split('\n')[0], 'Training stopped: SIGTERM received; the entry point did not exit within 1 s and was killed');
  assert.match(r.stderr, /SIGTERM received and ignored/);
  assert.equal(existsSync(path.join(base, 'output/success')), false);
});

test('SIGTERM: a script that checkpoints and exits 0 ends the run cleanly (spot-training pattern)', { timeout: 60_000 }, async () => {
  const base = makeTree({ hyperparameters: { sagemaker_program: '"checkpoint-on-sigterm.mjs"' }, code: ['checkpoint-on-sigterm.mjs'] });
  trees.push(base);
  const { child, done } = startSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base, SMKIT_TRAIN_GRACE_SECONDS: '30' }));
  const ready = path.join(base, 'output/data/ready');
  let scriptPid: number;
  try {
    scriptPid = await waitForPid(ready);
  } catch (err) {
    killRun(child, undefined);
    throw err;
  }
  child.kill('SIGTERM');
  const r = await done;
  // A failed run must not leave the script running after the test (it never exits on its own).
  if (await gone(scriptPid, 1000) === false) process.kill(scriptPid, 'SIGKILL');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(JSON.parse(readFileSync(path.join(base, 'checkpoints/checkpoint.json'), 'utf8')), { epoch: 7 });
  assert.equal(existsSync(path.join(base, 'output/success')), true);
});

test('a grace period over 110 s is refused (SageMaker kills at 120 s)', async () => {
  const base = makeTree({ hyperparameters: { sagemaker_program: '"dump-env.mjs"' }, code: ['dump-env.mjs'] });
  trees.push(base);
  const r = await runSmkit(['train'], cleanEnv({ SAGEMAKER_BASE_DIR: base, SMKIT_TRAIN_GRACE_SECONDS: '500' }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_CONFIG_INVALID: SMKIT_TRAIN_GRACE_SECONDS="500" is invalid/);
});
