import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO, TRAIN_FIXTURES, cleanEnv, runSmkit } from './train-helpers.js';
import { startServe, waitForPing } from '../helpers/serve-process.js';

const dirs: string[] = [];
describe('train local', () => {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  function tmp(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'smkit-local-train-test-'));
    dirs.push(d);
    return d;
  }

  const TEMPLATE = path.join(REPO, 'opt-ml-template');

  test('smkit local train writes the local-mode config files and JSON-encodes non-string hyperparameters', async () => {
    const work = tmp();
    const hpFile = path.join(work, 'hps.json');
    writeFileSync(hpFile, JSON.stringify({ epochs: 3, 'learning-rate': 0.5, name: 'x', sagemaker_program: '"dump-env.mjs"' }));
    const single = path.join(work, 'one.csv');
    writeFileSync(single, '0,1,2,3,4\n');
    const out = path.join(work, 'model');
    const r = await runSmkit(
      ['local', 'train', '--code', TRAIN_FIXTURES, '--channel', `training=${path.join(TEMPLATE, 'input/data/training')}`, '--channel', `extra=${single}`, '--channel', `__proto__=${single}`, '--hyperparameters', hpFile, '--hp', 'name=override', '--hp', '__proto__=p', '--output', out],
      cleanEnv(),
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const dump = JSON.parse(readFileSync(path.join(out, 'env.json'), 'utf8')) as { env: Record<string, string>; argv: string[] };
    assert.equal(dump.env['SM_RESOURCE_CONFIG'], '{"current_host":"algo-1","current_instance_type":"local","hosts":["algo-1"],"network_interface_name":"eth0"}');
    // `__proto__` is a legal channel and hyperparameter name (a plain object's setter swallowed both).
    assert.equal(dump.env['SM_INPUT_DATA_CONFIG'], '{"__proto__":{"TrainingInputMode":"File"},"extra":{"TrainingInputMode":"File"},"training":{"TrainingInputMode":"File"}}');
    assert.equal(dump.env['SM_CHANNELS'], '["__proto__","extra","training"]');
    assert.equal(dump.env['SM_CHANNEL___PROTO__'], path.join(dump.env['SAGEMAKER_BASE_DIR']!, 'input/data/__proto__'));
    assert.equal(dump.env['SM_HPS'], '{"__proto__":"p","epochs":3,"learning-rate":0.5,"name":"override"}');
    assert.deepEqual(dump.argv, ['--__proto__', 'p', '--epochs', '3', '--learning-rate', '0.5', '--name', 'override']);
    assert.equal(dump.env['SM_CURRENT_HOST'], 'algo-1');
    assert.match(dump.env['TRAINING_JOB_NAME']!, /^smkit-local-/);
    // The temporary tree is gone after success; only the model was copied out.
    const base = dump.env['SAGEMAKER_BASE_DIR']!;
    assert.equal(existsSync(base), false);
    assert.deepEqual(readdirSync(out).sort(), ['env.json', 'model.txt']);
  });

  test("smkit local train runs --entry-point with the job's own SM_ variables, whatever SAGEMAKER_ and SM_ values the shell holds (a training job gets none of them)", async () => {
    const out = path.join(tmp(), 'model');
    const stray = { SAGEMAKER_PROGRAM: 'fail.mjs', SAGEMAKER_SUBMIT_DIRECTORY: '/nonexistent', SM_STRAY: 'from the shell', SM_NUM_CPUS: '999', SM_EMPTY: ' ' };
    const r = await runSmkit(['local', 'train', '--code', TRAIN_FIXTURES, '--entry-point', 'dump-env.mjs', '--output', out], cleanEnv(stray));
    // Before: SAGEMAKER_PROGRAM won over --entry-point, and fail.mjs ran.
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const { env } = JSON.parse(readFileSync(path.join(out, 'env.json'), 'utf8')) as { env: Record<string, string> };
    assert.equal(env['SM_STRAY'], undefined);
    assert.equal(env['SAGEMAKER_PROGRAM'], undefined);
    assert.equal(env['SAGEMAKER_SUBMIT_DIRECTORY'], undefined);
    assert.notEqual(env['SM_NUM_CPUS'], '999');
    assert.equal(JSON.parse(env['SM_TRAINING_ENV']!).user_entry_point, 'dump-env.mjs');
    // Said once, not dropped without a word (an empty value is none).
    const output = r.stdout + r.stderr;
    assert.equal(output.split('SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY, SM_NUM_CPUS, SM_STRAY are set in this shell, but a training job does not get them').length, 2, output);
  });

  test('smkit local train --output under a folder with a space prints a smkit serve command that keeps the path one shell word', async () => {
    const out = path.join(tmp(), 'my models', 'model');
    const r = await runSmkit(['local', 'train', '--code', TRAIN_FIXTURES, '--entry-point', 'dump-env.mjs', '--output', out], cleanEnv({ SMKIT_LOG_LEVEL: 'info' }));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const hint = /serve it with: smkit serve --model-dir (.*?)(?:"|$)/m.exec(r.stderr + r.stdout)?.[1];
    assert.equal(hint, `'${out}'`, r.stderr + r.stdout);
    // A shell reads the printed argument back as the one path.
    const words = spawnSync('sh', ['-c', `printf '%s\\n' ${hint}`], { encoding: 'utf8' });
    assert.equal(words.stdout, `${out}\n`);
  });

  test('smkit local train: a failing script exits with its code and keeps the tree; bad flags are usage errors', async () => {
    const work = tmp();
    const r = await runSmkit(['local', 'train', '--code', TRAIN_FIXTURES, '--entry-point', 'fail.mjs', '--output', path.join(work, 'model')], cleanEnv());
    assert.equal(r.code, 1);
    const kept = /"failureFile":"([^"]+)"/.exec(r.stdout)?.[1];
    assert.ok(kept && existsSync(kept), r.stdout);
    assert.match(readFileSync(kept, 'utf8'), /bad training data/);
    rmSync(path.dirname(path.dirname(path.dirname(path.dirname(kept)))), { recursive: true, force: true });
    assert.equal(existsSync(path.join(work, 'model')), false);

    const bad = await runSmkit(['local', 'train', '--code', TRAIN_FIXTURES, '--entry-point', 'dump-env.mjs', '--channel', 'no-equals-sign'], cleanEnv());
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ERR_CLI_USAGE: --channel="no-equals-sign" is invalid: expected NAME=PATH/);
    const missing = await runSmkit(['local', 'train', '--code', TRAIN_FIXTURES, '--entry-point', 'dump-env.mjs', '--channel', `t=${path.join(work, 'nope')}`], cleanEnv());
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ERR_CLI_USAGE: --channel="t=.*" is invalid: expected NAME=PATH, a channel name and a local folder or file; .*nope does not exist\./);
  });

  test('train → serve → invoke: the example trains on the iris-like CSV and the served model predicts', { timeout: 120_000 }, async () => {
    const work = tmp();
    const modelDir = path.join(work, 'model');
    const r = await runSmkit(
      [
        'local', 'train',
        '--channel', `training=${path.join(TEMPLATE, 'input/data/training')}`,
        '--hyperparameters', path.join(TEMPLATE, 'input/config/hyperparameters.json'),
        '--code', path.join(TEMPLATE, 'code'),
        '--output', modelDir,
      ],
      cleanEnv(),
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /training accuracy (9\d|100)\.\d% on 120 rows/);
    assert.deepEqual(readdirSync(modelDir).sort(), ['labels.txt', 'model.onnx', 'pipeline.yaml']);

    // The shared helper starts it again on a new port if another test file took the one it probed.
    const server = await startServe(cleanEnv(), ['--model-dir', modelDir]);
    try {
      await waitForPing(server, 200, 90_000);
      const res = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/csv', Accept: 'application/json' },
        body: '5.1,3.5,1.4,0.2\n6.0,2.8,4.4,1.3\n6.9,3.1,5.8,2.3\n',
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const rows = JSON.parse(text) as { label: string; score: number }[][];
      assert.deepEqual(rows.map((row) => row[0]!.label), ['setosa', 'versicolor', 'virginica']);
      for (const row of rows) {
        assert.equal(row.length, 3);
        assert.ok(Math.abs(row.reduce((s, x) => s + x.score, 0) - 1) < 1e-4);
        assert.ok(row[0]!.score > 0.5);
      }
    } finally {
      await server.stop();
    }
  });
});
