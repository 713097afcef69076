import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeatMs, WorkerWatchdog } from './worker-watchdog.js';

/** A watchdog whose ticks the test drives (its own timer is unref'd and stopped at the end). */
function watch(intervalMs: number, bounds: Record<number, number>) {
  const blocked: [number, number][] = [];
  const dog = new WorkerWatchdog(intervalMs, (id) => bounds[id]!, (id, silentMs) => blocked.push([id, silentMs]));
  return { dog, blocked };
}

/**
 * Counts the watchdog's time from `t0`: `heard` starts it at its own Date.now(), which a loaded
 * machine may take a millisecond or more after the test's `t0`. A tick before the last adds nothing.
 */
function startAt(dog: WorkerWatchdog, t0: number): void {
  dog.tick(t0);
}

test('heartbeats go out four times per bound, at most once a second', () => {
  assert.equal(heartbeatMs(1), 250);
  assert.equal(heartbeatMs(90), 1000);
});

test('a worker silent past its bound is reported once; one whose heartbeats arrive never is', () => {
  const { dog, blocked } = watch(100, { 1: 300, 2: 300 });
  const t0 = Date.now();
  dog.heard(1);
  dog.heard(2);
  startAt(dog, t0);
  try {
    for (let i = 1; i <= 10; i++) {
      dog.tick(t0 + i * 100);
      dog.heard(2);
    }
    assert.deepEqual(blocked, [[1, 400]]);
  } finally {
    dog.stop();
  }
});

test("a primary held up itself counts one interval, not its whole pause: the heartbeats waiting on its channel are read before the next tick", () => {
  const { dog, blocked } = watch(100, { 1: 300 });
  const t0 = Date.now();
  dog.heard(1);
  try {
    dog.tick(t0 + 60_000);
    assert.deepEqual(blocked, []);
    dog.heard(1);
    for (let i = 1; i <= 3; i++) dog.tick(t0 + 60_000 + i * 100);
    assert.deepEqual(blocked, [], 'silent for 300 ms: not over the bound');
    dog.tick(t0 + 60_400);
    assert.deepEqual(blocked, [[1, 400]]);
  } finally {
    dog.stop();
  }
});

test('each worker has its own bound (a worker loading its model may be silent longer); forgotten and stopped workers are not reported', () => {
  const { dog, blocked } = watch(100, { 1: 200, 2: 1000, 3: 200 });
  const t0 = Date.now();
  for (const id of [1, 2, 3]) dog.heard(id);
  startAt(dog, t0);
  dog.forget(3);
  for (let i = 1; i <= 5; i++) dog.tick(t0 + i * 100);
  assert.deepEqual(blocked, [[1, 300]]);
  dog.stop();
  dog.heard(2);
  for (let i = 6; i <= 20; i++) dog.tick(t0 + i * 100);
  assert.deepEqual(blocked, [[1, 300]]);
});
