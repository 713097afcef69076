import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tuneHeapGrowing, workerExecArgv, workerHeapGrowingPercent } from './worker-heap.js';

test('workers start their young generation at the setting, after the primary’s own flags', () => {
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 0 }, ['--enable-source-maps']), ['--enable-source-maps', '--min-semi-space-size=16']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 64, oldSpaceMb: 0 }, []), ['--min-semi-space-size=64', '--max-semi-space-size=64'], 'above V8’s default maximum, the maximum rises too');
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 0, oldSpaceMb: 0 }, ['--inspect']), ['--inspect'], '0 leaves V8’s own sizing');
});

test('semi-space flags the operator gave Node are kept and nothing is added', () => {
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 0 }, ['--max-semi-space-size=32']), ['--max-semi-space-size=32']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 0 }, ['--min_semi_space_size', '4']), ['--min_semi_space_size', '4']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 0 }, [], '--max-old-space-size=512 --max-semi-space-size=8'), []);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 0 }, [], '--max-old-space-size=512'), ['--min-semi-space-size=16']);
});

test('workers start their old generation at the setting unless the operator sized it', () => {
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 0, oldSpaceMb: 128 }, ['--inspect']), ['--inspect', '--initial-old-space-size=128']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 32, oldSpaceMb: 128 }, []), ['--min-semi-space-size=32', '--max-semi-space-size=32', '--initial-old-space-size=128']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 0, oldSpaceMb: 128 }, ['--initial_old_space_size=64']), ['--initial_old_space_size=64']);
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 16, oldSpaceMb: 128 }, [], '--initial-heap-size=256'), ['--min-semi-space-size=16'], 'a whole-heap size counts as the operator’s choice');
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 0, oldSpaceMb: 128 }, [], '--max-old-space-size=512'), ['--initial-old-space-size=128'], 'a maximum alone is no initial size');
  assert.deepEqual(workerExecArgv({ semiSpaceMb: 0, oldSpaceMb: 0 }, []), []);
});

test('the old generation\'s growing factor is set in the running worker, unless 0 or the operator set it', () => {
  const set: string[] = [];
  const record = (flags: string) => void set.push(flags);
  assert.equal(tuneHeapGrowing(300, record), true);
  assert.deepEqual(set, ['--heap-growing-percent=300']);
  assert.equal(tuneHeapGrowing(0, record), false, '0 leaves V8\'s own factor');
  assert.deepEqual(set, ['--heap-growing-percent=300'], 'nothing more was set');
  assert.equal(workerHeapGrowingPercent(300, ['--enable-source-maps'], '--max-old-space-size=512'), 300);
  assert.equal(workerHeapGrowingPercent(300, ['--heap_growing_percent=50']), 0, 'given on the command line');
  assert.equal(workerHeapGrowingPercent(300, [], '--max-old-space-size=512 --heap-growing-percent=80'), 0, 'given in NODE_OPTIONS');
});
