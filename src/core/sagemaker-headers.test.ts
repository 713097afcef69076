import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSageMakerName, readSageMakerHeaders, SAGEMAKER_HEADERS, writeSageMakerHeaders } from './sagemaker-headers.js';

test('SageMaker headers: written and read back through the one table, unset members left out', () => {
  const written: Record<string, string> = writeSageMakerHeaders({ customAttributes: 'a=1', inferenceId: 'id-1' }, { accept: 'text/csv' });
  assert.deepEqual({ ...written }, { accept: 'text/csv', 'x-amzn-sagemaker-custom-attributes': 'a=1', 'x-amzn-sagemaker-inference-id': 'id-1' });
  assert.deepEqual(readSageMakerHeaders((h) => written[h]), { customAttributes: 'a=1', inferenceId: 'id-1' });
  assert.equal(SAGEMAKER_HEADERS.targetVariant.max, 63);
  assert.equal(SAGEMAKER_HEADERS.inferenceId.min, 1);
});

test('endpoint names: letters, digits, inner hyphens, at most 63 characters', () => {
  for (const ok of ['a', 'iris-onnx', 'A1--b2', 'x'.repeat(63)]) assert.equal(isSageMakerName(ok), true, ok);
  for (const bad of ['', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64)]) assert.equal(isSageMakerName(bad), false, bad);
});
