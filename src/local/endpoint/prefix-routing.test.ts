// The prefix-aware choice of instance on a Fleet of stand-in instances (no containers): the key of a
// request, its owner, the threshold, and which keys move when the fleet grows or an instance leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fleet } from '../fleet/fleet.js';
import { prefixKey } from './prefix-routing.js';

const standIns = (name: string) => new Fleet('AllTraffic', async (index) => ({ id: `${name}/i${index}`, containers: [], chain: [] }));
const keys = Array.from({ length: 60 }, (_, i) => prefixKey(Buffer.from(`prompt ${i}`), 1024));
/** The instance one request with `key` and `threshold` is lent (released at once). */
function ownerIn(fleet: Fleet, key: Buffer, threshold = 1024): string {
  const lease = fleet.acquire(undefined, undefined, { key: () => key, threshold });
  lease.release();
  return lease.instance!;
}

test('prefixKey: only the first PrefixLength bytes and the PrefixAwareId count; an id cannot pass for body bytes', () => {
  const body = Buffer.concat([Buffer.alloc(1024, 'p'), Buffer.from('tail')]);
  assert.deepEqual(prefixKey(body, 1024), prefixKey(Buffer.alloc(1024, 'p'), 1024));
  assert.notDeepEqual(prefixKey(body, 1025), prefixKey(Buffer.alloc(1024, 'p'), 1025));
  assert.notDeepEqual(prefixKey(body, 1024, 'a'), prefixKey(body, 1024));
  assert.notDeepEqual(prefixKey(body, 1024, 'a'), prefixKey(body, 1024, 'b'));
  assert.notDeepEqual(prefixKey(Buffer.from('bc'), 1024, 'a'), prefixKey(Buffer.from('c'), 1024, 'ab'));
});

test('a Fleet lends each key to one owner, spreads keys over every instance, and lends past an owner at its threshold to the least busy', async () => {
  const fleet = standIns('spread');
  await fleet.scaleTo(4);
  try {
    const owners = keys.map((k) => ownerIn(fleet, k));
    assert.deepEqual(keys.map((k) => ownerIn(fleet, k)), owners, 'the same owners a second time');
    assert.equal(new Set(owners).size, 4);

    const held = [fleet.acquire(undefined, undefined, { key: () => keys[0]!, threshold: 2 }), fleet.acquire(undefined, undefined, { key: () => keys[0]!, threshold: 2 })];
    assert.deepEqual(held.map((l) => l.instance), [owners[0], owners[0]]);
    const spilled = fleet.acquire(undefined, undefined, { key: () => keys[0]!, threshold: 2 });
    assert.notEqual(spilled.instance, owners[0]);
    for (const l of [...held, spilled]) l.release();
    assert.equal(ownerIn(fleet, keys[0]!, 2), owners[0]);
  } finally {
    await fleet.stop();
  }
});

test('when the fleet grows, a key stays with its owner or moves to the new instance; when it shrinks, only the keys of the instance that left move', async () => {
  const fleet = standIns('grow');
  await fleet.scaleTo(3);
  try {
    const before = keys.map((k) => ownerIn(fleet, k));
    await fleet.scaleTo(4);
    const after = keys.map((k) => ownerIn(fleet, k));
    const added = after.find((o) => !before.includes(o));
    assert.ok(added, 'the new instance owns some keys');
    after.forEach((o, i) => assert.ok(o === before[i] || o === added, `key ${i} moved from ${before[i]} to ${o}`));
    await fleet.scaleTo(3);
    const shrunk = keys.map((k) => ownerIn(fleet, k));
    const left = after.find((o) => !shrunk.includes(o))!;
    shrunk.forEach((o, i) => assert.ok(o === after[i] || after[i] === left, `key ${i} moved from ${after[i]} to ${o}`));
  } finally {
    await fleet.stop();
  }
});

test("an owner at this machine's per-instance cap (SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE) below the threshold lends past it, instead of throttling while other instances have room", async () => {
  const fleet = new Fleet('AllTraffic', async (index) => ({ id: `capped/i${index}`, containers: [], chain: [] }), { maxInFlightPerInstance: 1 });
  await fleet.scaleTo(3);
  try {
    const first = fleet.acquire(undefined, undefined, { key: () => keys[0]!, threshold: 4 });
    const second = fleet.acquire(undefined, undefined, { key: () => keys[0]!, threshold: 4 });
    assert.notEqual(second.instance, first.instance);
    first.release();
    second.release();
  } finally {
    await fleet.stop();
  }
});
