import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ToolkitError } from '../../errors/catalogue.js';
import { closeCodeFor, closeReason } from './close-codes.js';

test('a failed stream closes with 4000 + the status the error answers over HTTP; a shutdown with 1001', () => {
  assert.equal(closeCodeFor(new ToolkitError('ERR_JSON_PARSE', 'bad')), 4400);
  assert.equal(closeCodeFor(new ToolkitError('ERR_UNSUPPORTED_MEDIA_TYPE', 'no decoder')), 4415);
  assert.equal(closeCodeFor(new ToolkitError('ERR_USER_CODE', 'failed', { status: 422 })), 4422);
  assert.equal(closeCodeFor(new ToolkitError('ERR_TIMEOUT', 'slow')), 4504);
  assert.equal(closeCodeFor(new ToolkitError('ERR_INTERNAL', 'odd', { status: 302 })), 4500, 'a status that is not an error is a 500');
  assert.equal(closeCodeFor(new ToolkitError('ERR_SHUTTING_DOWN', 'stopping')), 1001);
});

test('the close reason is the code and message, cut to the 123 bytes a close frame holds at a character boundary', () => {
  assert.equal(closeReason(new ToolkitError('ERR_JSON_PARSE', 'short')), 'ERR_JSON_PARSE: short');
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (message) => {
      const reason = closeReason(new ToolkitError('ERR_USER_CODE', message));
      const bytes = Buffer.from(reason, 'utf8');
      assert.ok(bytes.length <= 123, `${bytes.length} bytes`);
      assert.ok(reason.startsWith('ERR_USER_CODE: '));
      // Cut whole characters only: the text round-trips through UTF-8 unchanged.
      assert.equal(bytes.toString('utf8'), reason);
      const full = `ERR_USER_CODE: ${message}`;
      if (Buffer.byteLength(full) <= 123) assert.equal(reason, full);
      else assert.ok(reason.endsWith('...') && full.startsWith(reason.slice(0, -3)));
    }),
  );
});
