import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32, tableCrc32 } from './crc32.js';

test('crc32: the check value of CRC-32/ISO-HDLC, and the table agrees with node:zlib on any bytes', () => {
  for (const f of [crc32, tableCrc32]) {
    assert.equal(f(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(f(new Uint8Array(0)), 0);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => tableCrc32(bytes) === crc32(bytes)), { numRuns: 200 });
});
