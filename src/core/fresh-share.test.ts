import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freshShare } from './fresh-share.js';

/** A collection whose runs the test ends by hand; each run returns the counter as it was when the run began. */
function harness() {
  let counter = 0;
  const runs: { seen: number; end: (fail?: boolean) => void }[] = [];
  const collect = freshShare(
    () =>
      new Promise<number>((resolve, reject) => {
        const seen = counter;
        runs.push({ seen, end: (fail) => (fail ? reject(new Error(`run ${runs.length} failed`)) : resolve(seen)) });
      }),
  );
  return { collect, runs, bump: () => ++counter };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

test('callers during a run share one run, and it begins after they came: a change before the call is in the answer', async () => {
  const { collect, runs, bump } = harness();
  const first = collect();
  assert.equal(runs.length, 1);
  bump();
  // Arrived while run 1 (which saw 0) was under way: they must not get its answer.
  const second = collect();
  const third = collect();
  assert.equal(second, third, 'shared');
  assert.equal(runs.length, 1, 'the next run waits for the one under way');
  runs[0]!.end();
  assert.equal(await first, 0);
  await settled();
  assert.equal(runs.length, 2);
  runs[1]!.end();
  assert.equal(await second, 1);
  assert.equal(await third, 1);
  // Nothing under way: a new run.
  const fourth = collect();
  assert.equal(runs.length, 3);
  runs[2]!.end();
  assert.equal(await fourth, 1);
});

test('a failed run fails its callers only; the callers queued behind it get the next run', async () => {
  const { collect, runs, bump } = harness();
  const first = collect();
  bump();
  const second = collect();
  runs[0]!.end(true);
  await assert.rejects(first, /run 1 failed/);
  await settled();
  runs[1]!.end();
  assert.equal(await second, 1);
});

test('a run that throws at once is a rejection, and the next call runs again', async () => {
  let calls = 0;
  const collect = freshShare<number>(() => {
    calls++;
    throw new Error('no');
  });
  await assert.rejects(collect(), /no/);
  await assert.rejects(collect(), /no/);
  assert.equal(calls, 2);
});
