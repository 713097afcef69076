import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { IDLE_CHECK_MS, WorkGatedLoopDelay, type RepeatTimer } from './work-gated-loop-delay.js';

/** A repeating timer run by hand, and a clock set by hand. */
function fakeTimers(): { every: RepeatTimer; now: () => number; armed: () => number; fire: (times: number, ms: number) => void; set: (t: number) => void } {
  let time = 0;
  const timers = new Set<() => void>();
  return {
    every: (fn) => {
      timers.add(fn);
      return () => timers.delete(fn);
    },
    now: () => time,
    armed: () => timers.size,
    fire: (times, ms) => {
      for (let i = 0; i < times; i++) {
        time += ms;
        for (const fn of [...timers]) fn();
      }
    },
    set: (t) => (time = t),
  };
}

const TICKS_PER_CHECK = IDLE_CHECK_MS / 10;

/** Within the histogram's precision (three significant digits). */
function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected / 100, `${what}: ${actual}, not about ${expected}`);
}

test('no timer runs until work arrives; one runs then, and stops at the first check that finds no new work and none held', () => {
  const timers = fakeTimers();
  let held = 0;
  const delay = new WorkGatedLoopDelay({ resolutionMs: 10, busy: () => held > 0, every: timers.every, now: timers.now });
  assert.equal(timers.armed(), 0);
  assert.equal(delay.sampling, false);
  delay.markBusy();
  delay.markBusy();
  assert.equal(timers.armed(), 1, 'one timer however much work arrives');
  // The first check sees the work marked above; the second finds none new.
  timers.fire(TICKS_PER_CHECK, 10);
  assert.equal(delay.sampling, true);
  timers.fire(TICKS_PER_CHECK, 10);
  assert.equal(delay.sampling, false);
  assert.equal(timers.armed(), 0);
  assert.equal(delay.count, 2 * TICKS_PER_CHECK);
  // Work held (an invocation still running) keeps it going without new arrivals.
  held = 1;
  delay.markBusy();
  timers.fire(5 * TICKS_PER_CHECK, 10);
  assert.equal(delay.sampling, true);
  held = 0;
  timers.fire(2 * TICKS_PER_CHECK, 10);
  assert.equal(delay.sampling, false);
});

test('with quietChecks 2, sampling stops at the second check in a row that finds no work; onCheck runs at every check, before the gate', () => {
  const timers = fakeTimers();
  const checks: boolean[] = [];
  const delay: WorkGatedLoopDelay = new WorkGatedLoopDelay({
    resolutionMs: 100,
    busy: () => false,
    quietChecks: 2,
    onCheck: () => checks.push(delay.sampling),
    every: timers.every,
    now: timers.now,
  });
  const perCheck = IDLE_CHECK_MS / 100;
  delay.markBusy();
  timers.fire(perCheck, 100); // saw the work
  timers.fire(perCheck, 100); // first quiet check
  assert.equal(delay.sampling, true);
  delay.markBusy(); // work again: the quiet checks start over
  timers.fire(2 * perCheck, 100);
  assert.equal(delay.sampling, true);
  timers.fire(perCheck, 100);
  assert.equal(delay.sampling, false);
  assert.deepEqual(checks, [true, true, true, true, true]);
  timers.fire(5 * perCheck, 100);
  assert.equal(checks.length, 5, 'no check while stopped');
});

test('samples are the time between runs of the timer, from the arrival of the work; a pause between two spells of work is no sample', () => {
  const timers = fakeTimers();
  const delay = new WorkGatedLoopDelay({ resolutionMs: 10, busy: () => false, every: timers.every, now: timers.now });
  delay.markBusy();
  timers.fire(1, 10);
  timers.fire(1, 250); // the loop held for 240 ms past the timer's time
  assert.equal(delay.count, 2);
  near(delay.min, 10e6, 'min');
  near(delay.max, 250e6, 'max');
  assert.equal(delay.disable(), true);
  timers.set(60_000);
  delay.markBusy();
  timers.fire(1, 10);
  assert.equal(delay.count, 3, 'kept across the pause');
  near(delay.max, 250e6, 'the minute without a timer is not a sample: max');
  delay.reset();
  assert.equal(delay.count, 0);
});

test('with no sample since the last reset, every statistic reads as an undelayed loop (the resolution; deviation 0)', () => {
  const delay = new WorkGatedLoopDelay({ resolutionMs: 10, busy: () => false, every: fakeTimers().every });
  assert.equal(delay.enable(), true);
  assert.equal(delay.sampling, false, 'enable() (prom-client calls it) starts nothing');
  assert.deepEqual([delay.min, delay.max, delay.mean, delay.stddev, delay.percentile(99)], [10e6, 10e6, 10e6, 0, 10e6]);
});

test("prom-client's event-loop delay gauges read the gated monitor: in a process without work they read an undelayed loop", () => {
  const script = `
import { createMetrics } from ${JSON.stringify(new URL('./metrics.js', import.meta.url).href)};
const list = await createMetrics().collect();
const value = (name) => list.find((m) => m.name === name)?.values[0]?.value;
console.log(JSON.stringify([value('smkit_nodejs_eventloop_lag_min_seconds'), value('smkit_nodejs_eventloop_lag_max_seconds'), value('smkit_nodejs_eventloop_lag_stddev_seconds')]));
`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  // prom-client's own monitor would read no sample yet (min 2^63 ns) or some, never exactly these.
  assert.deepEqual(JSON.parse(child.stdout.trim()), [0.01, 0.01, 0]);
});

test('a reset between two samples loses none: the window after it holds the next block whole', () => {
  const timers = fakeTimers();
  const delay = new WorkGatedLoopDelay({ resolutionMs: 100, busy: () => true, every: timers.every, now: timers.now });
  delay.markBusy();
  for (let block = 0; block < 3; block++) {
    // Model runs of 1.2 s back to back: one sample a window, read and reset at each.
    timers.fire(1, 1200);
    assert.equal(delay.count, 1);
    near(delay.max, 1200e6, `block ${block}`);
    delay.reset();
  }
});

test('the gate is checked by the clock, not by timer runs: blocks of 1.2 s back to back turn the window at each', () => {
  const timers = fakeTimers();
  const windows: number[] = [];
  const delay: WorkGatedLoopDelay = new WorkGatedLoopDelay({
    resolutionMs: 100,
    busy: () => true,
    onCheck: () => {
      windows.push(delay.count);
      delay.reset();
    },
    every: timers.every,
    now: timers.now,
  });
  delay.markBusy();
  timers.fire(3, 1200);
  // Ten timer runs a check would have made the first window wait for ten blocks (12 s).
  assert.deepEqual(windows, [1, 1, 1]);
  timers.fire(9, 100);
  assert.equal(windows.length, 3, 'no check within a second of the last');
  timers.fire(1, 100);
  assert.deepEqual(windows, [1, 1, 1, 10]);
});
