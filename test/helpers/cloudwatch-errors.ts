import assert from 'node:assert/strict';
import { CloudWatchError } from '../../src/local/control-plane/cloudwatch/errors.js';

/** Asserts that `p` rejects with the local CloudWatch's error of this type and query code, and this message (exact, or matching). */
export async function rejectsWithCloudWatchError(p: Promise<unknown>, type: string, queryCode: string, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CloudWatchError, String(err));
    assert.equal(err.type, type);
    assert.equal(err.queryCode, queryCode);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}
