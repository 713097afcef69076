import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineWatch } from './deadline-watch.js';
import { until } from '../../test/helpers/until.js';

test('a deadline fires once, after its time; a cancelled one never does', async () => {
  const watch = new DeadlineWatch(5);
  const fired: string[] = [];
  const started = performance.now();
  watch.watch(30, () => fired.push('late'));
  const cancelled = watch.watch(10, () => fired.push('cancelled'));
  watch.watch(10, () => fired.push('early'));
  assert.equal(watch.cancel(cancelled), true);
  await until('both deadlines to fire', () => fired.length === 2);
  assert.ok(performance.now() - started >= 30);
  assert.deepEqual(fired, ['early', 'late']);
  assert.equal(watch.size, 0, 'nothing left watched: the timer has stopped');
  assert.equal(watch.cancel(cancelled), false);
});

test('an expired deadline cannot be cancelled; one added later is watched again', async () => {
  const watch = new DeadlineWatch(5);
  let n = 0;
  const d = watch.watch(1, () => n++);
  await until('the first deadline to fire', () => n === 1);
  assert.equal(watch.cancel(d), false);
  watch.watch(1, () => n++);
  await until('the second deadline to fire', () => n === 2);
});

test('clear stops every deadline at once', async () => {
  const watch = new DeadlineWatch(5);
  let fired = 0;
  watch.watch(1, () => fired++);
  watch.watch(1, () => fired++);
  watch.clear();
  assert.equal(watch.size, 0);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, 0);
});
