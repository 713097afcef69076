import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { negotiateAccept } from './negotiate.js';

const AVAILABLE = ['application/json', 'text/csv', 'application/x-npy', 'application/jsonlines', 'application/octet-stream'];
const pick = (accept: string | undefined, def = 'application/json'): string | undefined => negotiateAccept(accept, AVAILABLE, def);

test('C-3.1: the first supported type wins, by order', () => {
  assert.equal(pick('text/csv'), 'text/csv');
  assert.equal(pick('text/csv, application/json'), 'text/csv');
  assert.equal(pick('unsupported/type, text/csv'), 'text/csv');
});

test('C-3.2: unsupported types are skipped', () => {
  assert.equal(pick('application/unsupported, application/json, text/csv'), 'application/json');
});

test('C-3.3: JSON first, parameters stripped, NPY by name', () => {
  assert.equal(pick('application/json,text/csv'), 'application/json');
  assert.equal(pick('text/csv;q=0.9, application/json'), 'application/json');
  assert.equal(pick('application/json; charset=utf-8'), 'application/json');
  assert.equal(pick('application/x-npy'), 'application/x-npy');
});

test('C-3.5: a missing, empty or */*-only Accept means the default accept', () => {
  assert.equal(pick(undefined), 'application/json');
  assert.equal(pick(''), 'application/json');
  assert.equal(pick('*/*'), 'application/json');
  assert.equal(pick('*/*', 'text/csv'), 'text/csv');
  assert.equal(pick(' */* ; q=0.8'), 'application/json');
  // The default is returned even when no codec has it: user outputFn code may produce it.
  assert.equal(negotiateAccept('*/*', AVAILABLE, 'application/custom'), 'application/custom');
});

test('an empty q or one that is not a number counts as 1, never as the q=0 that would exclude the type', () => {
  assert.equal(pick('text/csv;q=""'), 'text/csv');
  assert.equal(pick('text/csv;q='), 'text/csv');
  assert.equal(pick('text/csv;q=" "'), 'text/csv');
  assert.equal(pick('text/csv;q=abc'), 'text/csv');
  assert.equal(pick('application/json;q=0.5, text/csv;q=""'), 'text/csv');
});

test("every q outside RFC 9110's qvalue grammar is ignored alike (the range counts as q=1): negative, past 1, not a number", () => {
  for (const bad of ['-1', '-0.5', '2', '1.5', '1.0001', 'abc', '1e-1', '.5', '+0.5', '0x1', 'Infinity', 'NaN']) {
    // Ignored, not excluding: the lone range is still acceptable, and it outranks a valid q below 1.
    assert.equal(pick(`text/csv;q=${bad}`), 'text/csv', `q=${bad} alone`);
    assert.equal(pick(`application/json;q=0.9, text/csv;q=${bad}`), 'text/csv', `q=${bad} beside q=0.9`);
    assert.equal(pick(`text/csv;q=${bad}, */*`), 'text/csv', `q=${bad} does not exclude the type from */*`);
  }
  // The grammar's own forms keep their values: 0. and 0.000 exclude, 1. and 1.000 are 1, three decimals rank.
  for (const zero of ['0', '0.', '0.0', '0.000']) assert.equal(pick(`text/csv;q=${zero}`), undefined, `q=${zero}`);
  for (const one of ['1', '1.', '1.000']) assert.equal(pick(`application/json;q=0.999, text/csv;q=${one}`), 'text/csv', `q=${one}`);
  assert.equal(pick('text/csv;q=0.001, application/x-npy;q=0.002'), 'application/x-npy');
});

test('a q from 0 to 1 with more than three decimals keeps its value: q=0.0001 ranks last (it did rank first), q=0.0000 excludes', () => {
  assert.equal(pick('text/csv;q=0.0001, application/json;q=0.5'), 'application/json');
  assert.equal(pick('text/csv;q=0.0001, */*;q=0.001'), 'application/json');
  assert.equal(pick('text/csv;q=0.0001'), 'text/csv');
  assert.equal(pick('text/csv;q=0.0002, application/x-npy;q=0.00015'), 'text/csv');
  assert.equal(pick('text/csv;q=0.0000'), undefined);
  assert.equal(pick('text/csv;q=0.0000, */*'), 'application/json');
  assert.equal(pick('application/json;q=0.999, text/csv;q=1.0000'), 'text/csv');
});

test('q-values order entries and q=0 excludes a type', () => {
  assert.equal(pick('text/csv;q=0.5, application/x-npy;q=0.8'), 'application/x-npy');
  assert.equal(pick('application/x-npy;q=0.5, text/csv;q=0.5'), 'application/x-npy');
  assert.equal(pick('application/json;q=0, */*'), 'text/csv');
  assert.equal(pick('text/csv;q=0'), undefined);
  assert.equal(pick('*/*;q=0'), undefined);
});

test('wildcards prefer the default accept, else the first available type they cover', () => {
  assert.equal(pick('text/html, */*;q=0.8'), 'application/json');
  assert.equal(pick('text/*'), 'text/csv');
  assert.equal(pick('application/*'), 'application/json');
  assert.equal(pick('application/*', 'text/csv'), 'application/json');
  assert.equal(pick('application/*', 'application/x-npy'), 'application/x-npy');
  assert.equal(pick('*'), 'application/json');
});

test("a type's q is that of the most specific entry covering it (RFC 9110 §12.5.1), not of a broader wildcard", () => {
  assert.equal(pick('application/json;q=0.1, */*'), 'text/csv');
  assert.equal(pick('*/*, application/json;q=0.1'), 'text/csv');
  assert.equal(pick('text/*;q=0, */*', 'text/csv'), 'application/json');
  assert.equal(pick('application/*;q=0.2, application/x-npy;q=0.9, */*;q=0.5'), 'application/x-npy');
  assert.equal(pick('application/*;q=0.2, */*;q=0.5'), 'text/csv');
  assert.equal(pick('application/json;q=0.1, text/*;q=0'), 'application/json');
  assert.equal(pick('text/csv;q=0, text/csv'), undefined, 'the first of two equal entries sets the q');
});

test('nothing acceptable gives undefined (the server answers 406)', () => {
  assert.equal(pick('image/png'), undefined);
  assert.equal(pick('image/*, text/html'), undefined);
});

test('matching ignores case', () => {
  assert.equal(pick('TEXT/CSV'), 'text/csv');
});

test('property: a q outside the qvalue grammar picks what the same header without that q picks', () => {
  // A number from 0 to 1 as RFC 9110 writes it, with any number of decimals, is read: anything else is ignored.
  const QVALUE = /^(?:0(?:\.\d*)?|1(?:\.0*)?)$/;
  // Characters that stay inside one parameter value (no ',' or ';', which end it, nor quotes).
  const qText = fc.string({ unit: fc.constantFrom(...'0123456789.-+eE abcxN'), maxLength: 8 }).filter((s) => !QVALUE.test(s.trim()));
  const others = fc.constantFrom('application/json;q=0.5', '*/*;q=0.1', 'application/x-npy', 'text/*;q=0', 'application/json;q=0');
  fc.assert(
    fc.property(qText, others, fc.boolean(), (q, other, first) => {
      const entries = (csv: string) => (first ? `${csv}, ${other}` : `${other}, ${csv}`);
      assert.equal(pick(entries(`text/csv;q=${q}`)), pick(entries('text/csv')), `q=${JSON.stringify(q)} beside ${other}`);
    }),
    { numRuns: 500 },
  );
});

test('property: q-values with any number of decimals rank by value, ties in header order, and 0 excludes', () => {
  const q = fc.integer({ min: 0, max: 10 ** 6 }).map((n) => ({ value: n / 10 ** 6, text: (n / 10 ** 6).toFixed(6) }));
  fc.assert(
    fc.property(q, q, ({ value: a, text: qa }, { value: b, text: qb }) => {
      const expected = a === 0 && b === 0 ? undefined : a >= b ? 'text/csv' : 'application/x-npy';
      assert.equal(pick(`text/csv;q=${qa}, application/x-npy;q=${qb}`), expected, `${qa} ${qb}`);
    }),
    { numRuns: 300 },
  );
});
