import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogThrottle } from './log-throttle.js';

function throttleWithClock(perWindow = 3, windowMs = 1000): { throttle: LogThrottle; reports: Array<[string, number]>; clock: { t: number } } {
  const reports: Array<[string, number]> = [];
  const clock = { t: 0 };
  const throttle = new LogThrottle((key, n) => reports.push([key, n]), { perWindow, windowMs, now: () => clock.t });
  return { throttle, reports, clock };
}

test('admits perWindow lines of each key per window, counts the rest, and reports them once when the next window starts', () => {
  const { throttle, reports, clock } = throttleWithClock();
  const admitted = Array.from({ length: 8 }, () => throttle.admit('ERR_TIMEOUT'));
  assert.deepEqual(admitted, [true, true, true, false, false, false, false, false]);
  // Another key has its own budget.
  assert.equal(throttle.admit('ERR_CSV_PARSE'), true);
  assert.deepEqual(reports, []);
  clock.t = 1000;
  assert.equal(throttle.admit('ERR_TIMEOUT'), true);
  assert.deepEqual(reports, [['ERR_TIMEOUT', 5]]);
  throttle.flush();
});

test('a burst that ends is still reported, by the window timer', async () => {
  const reports: Array<[string, number]> = [];
  const throttle = new LogThrottle((key, n) => reports.push([key, n]), { perWindow: 1, windowMs: 30 });
  throttle.admit('ERR_TIMEOUT');
  throttle.admit('ERR_TIMEOUT');
  throttle.admit('ERR_TIMEOUT');
  const deadline = Date.now() + 5000;
  while (reports.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(reports, [['ERR_TIMEOUT', 2]]);
  // The window closed with its report: the next line is admitted and nothing is reported twice.
  assert.equal(throttle.admit('ERR_TIMEOUT'), true);
  throttle.flush();
  assert.equal(reports.length, 1);
});

test('flush reports nothing when nothing was held back', () => {
  const { throttle, reports } = throttleWithClock();
  throttle.admit('ERR_TIMEOUT');
  throttle.flush();
  assert.deepEqual(reports, []);
});
