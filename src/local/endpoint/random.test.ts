import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRandom, pickWeighted } from './random.js';
import { compareAnswers, extractNumbers } from './compare.js';
import { MAX_REALTIME_ANSWER_BYTES } from './read-answer.js';

test('seeded randomness repeats; weights steer picks; weight 0 is never picked', () => {
  const a = createRandom(7);
  const b = createRandom(7);
  assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
  const r = createRandom(1);
  const counts = [0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[pickWeighted([1, 3, 0], r)]! += 1;
  assert.equal(counts[2], 0);
  assert.ok(counts[1]! > counts[0]! * 2, `counts ${counts}`);
});

test('answers compare by numbers for JSON and CSV, by bytes otherwise', () => {
  assert.deepEqual(extractNumbers(Buffer.from('{"p":[[0.1,0.9]]}'), 'application/json'), [0.1, 0.9]);
  assert.deepEqual(extractNumbers(Buffer.from('1,2\r\n3,4\n'), 'text/csv; charset=utf-8'), [1, 2, 3, 4]);
  const cmp = compareAnswers({ body: Buffer.from('[0.1,0.5]'), contentType: 'application/json' }, { body: Buffer.from('[0.1, 0.75]'), contentType: 'application/json' });
  assert.equal(cmp.same, false);
  assert.equal(cmp.maxAbsDiff, 0.25);
  assert.equal(compareAnswers({ body: Buffer.from('1,2'), contentType: 'text/csv' }, { body: Buffer.from('1, 2\n'), contentType: 'text/csv' }).same, true);
  assert.equal(compareAnswers({ body: Buffer.from('x'), contentType: 'text/plain' }, { body: Buffer.from('y'), contentType: 'text/plain' }).same, false);
  // The same numbers in another shape are another answer: nested otherwise, under other keys, in other CSV rows.
  const json = (text: string) => ({ body: Buffer.from(text), contentType: 'application/json' });
  const csv = (text: string) => ({ body: Buffer.from(text), contentType: 'text/csv' });
  for (const [production, shadow] of [
    [json('[[1,2]]'), json('[1,2]')],
    [json('{"a":1}'), json('{"b":1}')],
    [json('[[1,2],[3]]'), json('[[1],[2,3]]')],
    [csv('1,2\n3\n'), csv('1\n2,3\n')],
  ] as const) {
    assert.deepEqual(compareAnswers(production, shadow), { same: false }, `${production.body} vs ${shadow.body}`);
  }
  assert.deepEqual(compareAnswers(json('{"b":2,"a":[1]}'), json('{ "a": [1], "b": 2 }')), { same: true, maxAbsDiff: 0 });
  // A number too large for a double is no number to subtract (Infinity - Infinity is NaN): such answers compare by bytes.
  assert.deepEqual(compareAnswers(json('[1e400]'), json('[1e400]')), { same: true });
  assert.deepEqual(compareAnswers(json('[1e400, 1]'), json('[1e400, 2]')), { same: false });
  // Past the real-time 6 MB (an asynchronous answer, up to 1 GB) answers are compared by bytes, not decoded.
  const big = json(`[${'1,'.repeat(MAX_REALTIME_ANSWER_BYTES / 2)}1]`);
  assert.deepEqual(compareAnswers(big, big), { same: true });
});

test('pickWeighted at the edges: leftovers of the draw go to the last item that had a share; all weights 0 pick index 0; a weight too small next to the largest to have a share is never picked', () => {
  const top = 1 - 2 ** -53;
  let calls = 0;
  const highest = () => {
    calls++;
    return top;
  };
  // The largest draw subtracts past the last share by rounding; 5e-324 over 4 is 0, so it took no part.
  assert.equal(pickWeighted([4, 0.8442753620092762, 0.6913373889189909, 0.18510425073396375, 5e-324], highest), 3);
  assert.equal(calls, 1);
  for (const weights of [[0, 0, 0], [0], []]) {
    calls = 0;
    assert.equal(pickWeighted(weights, highest), 0, `weights ${weights}`);
    assert.equal(calls, 1, 'random is drawn once whatever the weights, so a seeded sequence does not shift');
  }
  for (const draw of [0, 0.5, top]) {
    assert.equal(pickWeighted([1e308, 5e-324], () => draw), 0);
    assert.equal(pickWeighted([5e-324, 1e308, 0], () => draw), 1);
    assert.equal(pickWeighted([5e-324, 5e-324], () => draw), draw < 0.5 ? 0 : 1);
  }
});
