import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRequestId } from './request-id.js';

test('request ids are distinct version-4 UUIDs', () => {
  const ids = Array.from({ length: 10_000 }, () => nextRequestId());
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
