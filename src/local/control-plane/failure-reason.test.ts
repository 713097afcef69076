// FailureReason texts cut to the API's 1024 characters keep whole characters: a cut inside a surrogate
// pair leaves a lone surrogate, which JSON carries as \udXXX and Python (boto3, the AWS CLI) cannot print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureReason, MAX_FAILURE_REASON } from './deployment.js';
import { transformFailureReason } from './transform-jobs.js';

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

test("an endpoint's FailureReason keeps the end of the container's log tail without half a character at the cut", () => {
  // A container that logs emoji: with either parity of the tail's length, one of the two cuts falls inside a pair.
  for (const tail of [`${'🚀'.repeat(600)}x`, `${'🚀'.repeat(600)}xy`]) {
    const text = failureReason('The primary container did not pass the ping health check.', tail);
    assert.ok(text.length <= MAX_FAILURE_REASON, String(text.length));
    assert.doesNotMatch(text, LONE);
    assert.match(text, /Last log lines:\n\.\.\.🚀/);
    assert.ok(text.endsWith(tail.slice(-5)));
  }
  const head = failureReason(`a${'🚀'.repeat(600)}`);
  assert.doesNotMatch(head, LONE);
  assert.ok(head.length <= MAX_FAILURE_REASON);
  assert.ok(head.includes('🚀...🚀'));
});

test("a transform job's FailureReason is cut to 1024 characters between characters", () => {
  const text = transformFailureReason('😀'.repeat(600));
  assert.ok(text.length <= 1024);
  assert.doesNotMatch(text, LONE);
  assert.ok(text.includes('😀...😀'));
});

test("a transform job's FailureReason over 1024 characters keeps its end, the cause, and cuts the long key in its middle", () => {
  const key = `in/${'k'.repeat(1010)}.csv`;
  const text = transformFailureReason(`ClientError: Could not download the input object s3://data/${key}: Access Denied`);
  assert.equal(text.length, 1024);
  assert.match(text, /^ClientError: Could not download the input object s3:\/\/data\/in\/k+\.\.\.k+\.csv: Access Denied$/);
});
