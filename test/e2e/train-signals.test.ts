import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { c as createTar } from 'tar';
import { loadTrainingSettings } from '../../src/config/training.js';
import { runTraining } from '../../src/train/runner.js';
import { resolveCodeDir } from '../../src/train/entry-point.js';
import { trainingPaths } from '../../src/train/paths.js';
import { TRAIN_FIXTURES, alive, cleanEnv, gone, killRun, makeTree, runSmkit, startSmkit, waitForPid } from './train-helpers.js';

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

test('SIGTERM while the submit directory archive is extracted: the entry point never starts, output/failure says why, exit 143', async () => {
  const tree = makeTree({});
  trees.push(tree);
  const archive = path.join(tree, 'sourcedir.tar.gz');
  await createTar({ gzip: true, file: archive, cwd: TRAIN_FIXTURES }, ['dump-env.mjs']);
  const hyperparameters = { sagemaker_program: '"dump-env.mjs"', sagemaker_submit_directory: JSON.stringify(archive) };
  writeFileSync(path.join(tree, 'input/config/hyperparameters.json'), JSON.stringify(hyperparameters));
  const settings = loadTrainingSettings(cleanEnv({ SAGEMAKER_BASE_DIR: tree, SMKIT_LOG_LEVEL: 'silent' }));
  // In process, so the signal lands at a known point: only runTraining's handlers may see it.
  const others = process.rawListeners('SIGTERM') as ((...args: unknown[]) => void)[];
  process.removeAllListeners('SIGTERM');
  try {
    const run = runTraining({ settings, numCpus: 1, numGpus: 0 });
    // runTraining has returned to this caller at its first await: the archive's extraction.
    assert.equal(process.emit('SIGTERM', 'SIGTERM'), true, 'runTraining listens for SIGTERM during start-up');
    const r = await run;
    assert.equal(r.exitCode, 143); // 128 + SIGTERM, as when the entry point ends on it
    assert.equal(readFileSync(path.join(tree, 'output/failure'), 'utf8'), 'Training stopped: SIGTERM received during start-up; the entry point was not started');
    assert.equal(existsSync(path.join(tree, 'output/success')), false);
    assert.deepEqual(readdirSync(path.join(tree, 'code')), [], 'the extraction stopped before writing the entry point');
    assert.equal(process.listenerCount('SIGTERM'), 0, 'the handlers are removed');
    // Uninterrupted, the same archive extracts in full.
    assert.equal(await resolveCodeDir(trainingPaths(tree), [archive]), path.join(tree, 'code'));
    assert.equal(readFileSync(path.join(tree, 'code/dump-env.mjs'), 'utf8'), readFileSync(path.join(TRAIN_FIXTURES, 'dump-env.mjs'), 'utf8'));
  } finally {
    for (const l of others) process.on('SIGTERM', l);
  }
});
