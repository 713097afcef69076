import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTraining } from './runner.js';
import { loadTrainingSettings } from '../config/training.js';
import { createLogger } from '../logging/logger.js';

test('a run in a tree an earlier run left output/success and output/failure in ends with the files of this run only', async (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'smkit-rerun-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(path.join(base, 'code'));
  mkdirSync(path.join(base, 'output'));
  writeFileSync(path.join(base, 'code', 'train.mjs'), `if (process.argv[2] === '--fail') { console.error('Error: no data'); process.exit(2); }\n`);
  const outcome = (name: string) => path.join(base, 'output', name);
  const run = (hyperparameters: Record<string, string>) => {
    mkdirSync(path.join(base, 'input', 'config'), { recursive: true });
    writeFileSync(path.join(base, 'input', 'config', 'hyperparameters.json'), JSON.stringify(hyperparameters));
    const settings = loadTrainingSettings({ PATH: process.env['PATH'] ?? '' }, { baseDir: base, program: 'train.mjs' });
    return runTraining({ settings, logger: createLogger('silent'), handleSignals: false, numCpus: 1, numGpus: 0 });
  };
  // Stopped earlier (Ctrl-C), run again to resume: this run succeeds.
  writeFileSync(outcome('failure'), 'Training stopped: SIGINT received; the entry point ended with signal SIGINT');
  assert.equal((await run({})).exitCode, 0);
  assert.ok(existsSync(outcome('success')));
  assert.equal(existsSync(outcome('failure')), false, 'the earlier run\'s failure is gone');
  // Run again and fail: the reason is this run's, and the earlier success is gone.
  assert.equal((await run({ fail: '' })).exitCode, 2);
  assert.match(readFileSync(outcome('failure'), 'utf8'), /^ExecuteUserScriptError: "node train\.mjs --fail ''" ended with exit code 2: Error: no data\n/);
  assert.equal(existsSync(outcome('success')), false, 'the earlier run\'s success is gone');
});
