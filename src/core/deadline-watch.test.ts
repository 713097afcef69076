import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
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

test('expireAll calls every watched deadline at once with the reason, and only those', () => {
  const watch = new DeadlineWatch(5);
  const calls: [string, unknown][] = [];
  watch.watch(60_000, (reason) => calls.push(['a', reason]));
  const b = watch.watch(60_000, (reason) => calls.push(['b', reason]));
  watch.watch(60_000, (reason) => calls.push(['c', reason]));
  watch.cancel(b);
  const reason = new Error('closing');
  watch.expireAll(reason);
  assert.deepEqual(calls.map(([name]) => name).sort(), ['a', 'c']);
  assert.ok(calls.every(([, r]) => r === reason));
  assert.equal(watch.size, 0);
  watch.expireAll(reason);
  assert.equal(calls.length, 2, 'nothing is called twice');
});

test('an expiry that cancels another deadline due at the same check: the cancelled one is not called', async () => {
  const watch = new DeadlineWatch(5);
  const fired: string[] = [];
  // Each cancels the other: whichever the check reaches first runs, and only it.
  const deadlines: ReturnType<DeadlineWatch['watch']>[] = [];
  deadlines.push(watch.watch(1, () => (fired.push('a'), watch.cancel(deadlines[1]!))));
  deadlines.push(watch.watch(1, () => (fired.push('b'), watch.cancel(deadlines[0]!))));
  await until('the check to run', () => watch.size === 0);
  assert.equal(fired.length, 1, `exactly one of the two ran: ${fired.join(', ')}`);
});

test('watch and cancel in any order keep the count and answer as a set would (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant<'add'>('add'), fc.nat(40)), { maxLength: 200 }), (ops) => {
      const watch = new DeadlineWatch(60_000);
      const deadlines: ReturnType<DeadlineWatch['watch']>[] = [];
      const model = new Set<number>();
      for (const op of ops) {
        if (op === 'add') {
          deadlines.push(watch.watch(60_000, () => undefined));
          model.add(deadlines.length - 1);
        } else if (op < deadlines.length) {
          assert.equal(watch.cancel(deadlines[op]!), model.delete(op));
        }
        assert.equal(watch.size, model.size);
      }
      watch.clear();
      for (const d of deadlines) assert.equal(watch.cancel(d), false);
    }),
  );
});
