import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleOutputs, groupMiniBatches, splitRecords } from './records.js';
import { parseBatchStrategy, resolveExecutionParameters } from './parameters.js';

const b = (s: string): Buffer => Buffer.from(s);

test('Line split keeps each trailing newline and skips blank lines', () => {
  const recs = splitRecords(b('1,2\n\n3,4\r\n5,6'), 'Line');
  assert.deepEqual(recs.map((r) => r.data.toString()), ['1,2\n', '3,4\r\n', '5,6']);
  assert.deepEqual(recs.map((r) => r.index), [0, 1, 2]);
});

test('None split is the whole file; an empty file has no records', () => {
  assert.equal(splitRecords(b('a\nb\n'), 'None')[0]!.data.toString(), 'a\nb\n');
  assert.equal(splitRecords(b(''), 'None').length, 0);
  assert.equal(splitRecords(b('\n\n'), 'Line').length, 0);
});

test('MULTI_RECORD packs consecutive records under the limit, in order', () => {
  const recs = splitRecords(b('aaaa\nbbbb\ncccc\ndddd\n'), 'Line');
  const batches = groupMiniBatches(recs, 'MULTI_RECORD', 10);
  assert.deepEqual(batches.map((x) => x.body.toString()), ['aaaa\nbbbb\n', 'cccc\ndddd\n']);
  assert.equal(groupMiniBatches(recs, 'MULTI_RECORD', 0).length, 1, '0 = no limit');
});

test('SINGLE_RECORD sends one record per request', () => {
  const recs = splitRecords(b('a\nb\nc\n'), 'Line');
  assert.deepEqual(groupMiniBatches(recs, 'SINGLE_RECORD', 100).map((x) => x.records.map((r) => r.index)), [[0], [1], [2]]);
});

test('a record over the limit gets its own batch marked tooLarge', () => {
  const recs = splitRecords(b('ab\n' + 'x'.repeat(20) + '\ncd\n'), 'Line');
  const batches = groupMiniBatches(recs, 'MULTI_RECORD', 8);
  assert.deepEqual(batches.map((x) => [x.records.map((r) => r.index), Boolean(x.tooLarge)]), [[[0], false], [[1], true], [[2], false]]);
});

test('assemble: Line puts a newline after every answer, as the service does; None concatenates', () => {
  assert.equal(assembleOutputs([b('1'), b('2\n'), b('3')], 'Line').toString(), '1\n2\n\n3\n');
  assert.equal(assembleOutputs([b(''), b('x')], 'Line').toString(), '\nx\n');
  assert.equal(assembleOutputs([b('1'), b('2')], 'None').toString(), '12');
});

test('execution parameters: flags, then container, then defaults', () => {
  assert.deepEqual(resolveExecutionParameters({}, {}), { maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD', maxPayloadInMB: 6 });
  assert.deepEqual(resolveExecutionParameters({ maxPayloadInMB: 1 }, { maxPayloadInMB: 2, batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 4 }), {
    maxConcurrentTransforms: 4,
    batchStrategy: 'SINGLE_RECORD',
    maxPayloadInMB: 1,
  });
  assert.equal(parseBatchStrategy('MultiRecord'), 'MULTI_RECORD');
  assert.equal(parseBatchStrategy('single_record'), 'SINGLE_RECORD');
  assert.equal(parseBatchStrategy('x'), undefined);
});
