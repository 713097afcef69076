import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isToolkitError } from '../errors/catalogue.js';
import { isOutOfDescriptors, retryingLoad } from './retrying-load.js';

const emfile = () => Object.assign(new Error("EMFILE: too many open files, open '/x/y.js'"), { code: 'EMFILE' });

test('a load is done once and its result kept: later calls neither load again nor check for descriptors', async () => {
  let loads = 0;
  let checks = 0;
  const load = retryingLoad('the thing', async () => ++loads, () => (checks++, true));
  assert.equal(await load(), 1);
  assert.equal(await load(), 1);
  await Promise.all([load(), load()]);
  assert.equal(loads, 1);
  assert.equal(checks, 1);
});

test('without descriptors to spare nothing is loaded: the call gets 503 ERR_SERVER_BUSY, and a later one loads', async () => {
  let free = false;
  let loads = 0;
  const load = retryingLoad('the session support', async () => ++loads, () => free);
  await assert.rejects(load(), (err: unknown) => {
    assert.ok(isToolkitError(err));
    assert.equal(err.code, 'ERR_SERVER_BUSY');
    assert.equal(err.status, 503);
    assert.match(err.message, /^the session support cannot be loaded now: this process has no file descriptors to spare \(its open files limit, ulimit -n\); retry shortly$/);
    return true;
  });
  assert.equal(loads, 0, 'not even tried');
  free = true;
  assert.equal(await load(), 1);
});

test('a load that failed is not kept: one for want of descriptors is a 503 ERR_SERVER_BUSY, any other failure is passed on as it is; the next call loads again', async () => {
  const failures: unknown[] = [emfile(), new TypeError('fetch failed', { cause: emfile() }), new SyntaxError('bad module')];
  let loads = 0;
  const load = retryingLoad('the codecs', async () => {
    loads++;
    if (failures.length) throw failures.shift();
    return 'loaded';
  });
  for (const cause of ['EMFILE', 'EMFILE']) {
    await assert.rejects(load(), (err: unknown) => {
      assert.ok(isToolkitError(err));
      assert.equal(err.code, 'ERR_SERVER_BUSY');
      assert.equal((err.cause as { code?: string }).code ?? ((err.cause as Error).cause as { code?: string }).code, cause);
      return true;
    });
  }
  await assert.rejects(load(), SyntaxError);
  assert.equal(await load(), 'loaded');
  assert.equal(await load(), 'loaded');
  assert.equal(loads, 4);
});

test('concurrent calls share one load, and a failed one is forgotten once', async () => {
  let loads = 0;
  let fail = true;
  const load = retryingLoad('x', async () => {
    loads++;
    await new Promise((r) => setImmediate(r));
    if (fail) throw emfile();
    return loads;
  });
  const first = await Promise.allSettled([load(), load(), load()]);
  assert.deepEqual(first.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  assert.equal(loads, 1);
  fail = false;
  assert.deepEqual(await Promise.all([load(), load()]), [2, 2]);
});

test('isOutOfDescriptors looks through causes', () => {
  assert.equal(isOutOfDescriptors(emfile()), true);
  assert.equal(isOutOfDescriptors(Object.assign(new Error('x'), { code: 'ENFILE' })), true);
  assert.equal(isOutOfDescriptors(new Error('outer', { cause: new Error('mid', { cause: emfile() }) })), true);
  assert.equal(isOutOfDescriptors(Object.assign(new Error('x'), { code: 'ENOENT' })), false);
  assert.equal(isOutOfDescriptors(undefined), false);
  assert.equal(isOutOfDescriptors('EMFILE'), false);
});
