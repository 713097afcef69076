import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterStreamSlots, StreamSlotCounter, type SlotRequest, type SlotReturn } from './stream-slots.js';

test("the primary's count holds every worker's streams to one limit, and a worker that exits frees its own", () => {
  const slots = new StreamSlotCounter(3);
  assert.equal(slots.take(1), true);
  assert.equal(slots.take(2), true);
  assert.equal(slots.take(2), true);
  assert.equal(slots.take(1), false, 'three held between the two workers: the fourth is refused, whichever asks');
  slots.give(7);
  assert.equal(slots.total, 3, 'a worker cannot give back slots it does not hold');
  slots.forget(2);
  assert.equal(slots.total, 1);
  assert.equal(slots.take(1), true);
  slots.give(1);
  slots.give(1);
  slots.give(1);
  assert.equal(slots.total, 0);
});

test("a worker's request is answered by the primary's answer, and refused when the primary is gone or cannot be reached", async () => {
  const sent: (SlotRequest | SlotReturn)[] = [];
  let connected = true;
  const slots = new ClusterStreamSlots((msg) => connected && sent.push(msg) > 0);
  const granted = slots.take();
  const waiting = slots.take();
  assert.deepEqual(sent, [
    { type: 'bidi-slot', id: 1 },
    { type: 'bidi-slot', id: 2 },
  ]);
  slots.onAnswer({ type: 'bidi-slot-answer', id: 1, granted: true });
  assert.equal(await granted, true);
  slots.abandon();
  assert.equal(await waiting, false);
  connected = false;
  assert.equal(await slots.take(), false);
});
