import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IdTable } from './id-table.js';

test('an IdTable answers as a Map would, whatever the order of ids, sets and deletes (property)', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant<'set'>('set'), id: fc.nat(300), value: fc.integer() }),
    fc.record({ kind: fc.constant<'delete'>('delete'), id: fc.nat(300) }),
    fc.record({ kind: fc.constant<'get'>('get'), id: fc.nat(300) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 8, 64), fc.array(op, { maxLength: 300 }), (slots, ops) => {
      const table = new IdTable<number>(slots);
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          table.set(o.id, o.value);
          model.set(o.id, o.value);
        } else if (o.kind === 'delete') {
          assert.equal(table.delete(o.id), model.delete(o.id));
        } else {
          assert.equal(table.get(o.id), model.get(o.id));
        }
        assert.equal(table.size, model.size);
      }
      assert.deepEqual(
        table.entries().sort((a, b) => a[0] - b[0]),
        [...model].sort((a, b) => a[0] - b[0]),
      );
    }),
  );
});

test('an entry that outlives its slot (a slow request) is kept while later ids take the slot', () => {
  const table = new IdTable<string>(4);
  table.set(1, 'slow');
  for (let id = 2; id < 40; id++) {
    table.set(id, `fast ${id}`);
    table.delete(id);
  }
  assert.equal(table.get(1), 'slow');
  assert.equal(table.size, 1);
  assert.deepEqual(table.entries(), [[1, 'slow']]);
  assert.equal(table.delete(1), true);
  assert.equal(table.size, 0);
});

test('IdTable refuses a ring size that is not a power of two', () => {
  assert.throws(() => new IdTable(3), RangeError);
  assert.throws(() => new IdTable(0), RangeError);
});
