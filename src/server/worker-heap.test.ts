import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workerExecArgv } from './worker-heap.js';

test('workers start their young generation at the setting, after the primary’s own flags', () => {
  assert.deepEqual(workerExecArgv(16, ['--enable-source-maps']), ['--enable-source-maps', '--min-semi-space-size=16']);
  assert.deepEqual(workerExecArgv(64, []), ['--min-semi-space-size=64', '--max-semi-space-size=64'], 'above V8’s default maximum, the maximum rises too');
  assert.deepEqual(workerExecArgv(0, ['--inspect']), ['--inspect'], '0 leaves V8’s own sizing');
});

test('semi-space flags the operator gave Node are kept and nothing is added', () => {
  assert.deepEqual(workerExecArgv(16, ['--max-semi-space-size=32']), ['--max-semi-space-size=32']);
  assert.deepEqual(workerExecArgv(16, ['--min_semi_space_size', '4']), ['--min_semi_space_size', '4']);
  assert.deepEqual(workerExecArgv(16, [], '--max-old-space-size=512 --max-semi-space-size=8'), []);
  assert.deepEqual(workerExecArgv(16, [], '--max-old-space-size=512'), ['--min-semi-space-size=16']);
});
