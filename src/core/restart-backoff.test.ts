import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestartBackoff, WORKER_BACKOFF } from './restart-backoff.js';

test('crashes in a row back off exponentially up to the cap', () => {
  let now = 0;
  const backoff = new RestartBackoff(WORKER_BACKOFF, () => now);
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    backoff.started(0);
    now += 50; // each replacement crashes at once
    const delay = backoff.delayAfterCrash(0);
    delays.push(delay);
    now += delay;
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
});

test('one crash after a healthy spell is replaced quickly, whatever happened before', () => {
  let now = 0;
  const backoff = new RestartBackoff(WORKER_BACKOFF, () => now);
  for (let i = 0; i < 8; i++) {
    backoff.started(0);
    now += 10;
    now += backoff.delayAfterCrash(0);
  }
  backoff.started(0);
  now += WORKER_BACKOFF.healthyMs; // a quiet spell
  assert.equal(backoff.delayAfterCrash(0), 100);
});

test('each worker slot has its own count', () => {
  let now = 0;
  const backoff = new RestartBackoff(WORKER_BACKOFF, () => now);
  backoff.started(0);
  backoff.started(1);
  now += 10;
  backoff.delayAfterCrash(0);
  backoff.started(0);
  assert.equal(backoff.delayAfterCrash(0), 200);
  assert.equal(backoff.delayAfterCrash(1), 100);
});

test('a worker that never served (it could not load) had no healthy spell, however long it ran: the delays keep growing', () => {
  let now = 0;
  const backoff = new RestartBackoff(WORKER_BACKOFF, () => now);
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    backoff.started(0);
    now += WORKER_BACKOFF.healthyMs + 1; // each load fails only after a long try
    const delay = backoff.delayAfterCrash(0, { served: false });
    delays.push(delay);
    now += delay;
  }
  assert.deepEqual(delays, [100, 200, 400, 800]);
  backoff.started(0);
  now += WORKER_BACKOFF.healthyMs;
  assert.equal(backoff.delayAfterCrash(0), 100, 'one that served that long starts again from the base');
});
