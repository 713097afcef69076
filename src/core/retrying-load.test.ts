import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isToolkitError } from '../errors/catalogue.js';
import { isOutOfDescriptors, retryingLoad } from './retrying-load.js';

const execFileAsync = promisify(execFile);

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
  // A native addon dlopen could not open (Node 20's words for onnxruntime_binding.node at ulimit -n): only the text says why.
  const dlopen = (why: string) => Object.assign(new Error(`/x/onnxruntime_binding.node: cannot open shared object file: ${why}`), { code: 'ERR_DLOPEN_FAILED' });
  assert.equal(isOutOfDescriptors(dlopen('Too many open files')), true);
  assert.equal(isOutOfDescriptors(dlopen('Too many open files in system')), true);
  assert.equal(isOutOfDescriptors(dlopen('No such file or directory')), false);
  assert.equal(isOutOfDescriptors(Object.assign(new Error('Too many open files'), { code: 'ERR_SOMETHING' })), false);
});

test('a failure met again as the very same error was kept by Node: 500 ERR_INTERNAL saying so, not a 503 to retry for ever; a fresh error each time stays a 503', async () => {
  const kept = emfile();
  let loads = 0;
  let fail = true;
  const load = retryingLoad('the session support', async () => {
    loads++;
    if (fail) throw kept;
    return 'loaded';
  });
  await assert.rejects(load(), { code: 'ERR_SERVER_BUSY', status: 503 });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(load(), (err: unknown) => {
      assert.ok(isToolkitError(err));
      assert.equal(err.code, 'ERR_INTERNAL');
      assert.equal(err.status, 500);
      assert.equal(err.cause, kept);
      assert.match(err.message, /^the session support could not be loaded for want of file descriptors \(EMFILE: too many open files, open '\/x\/y\.js'\), and Node does not load a module again once it failed in this process: restart the server/);
      return true;
    });
  }
  assert.equal(load.loaded, undefined);
  // A runtime that does try again (a later Node) loads it.
  fail = false;
  assert.equal(await load(), 'loaded');
  assert.equal(load.loaded, 'loaded');
  assert.equal(loads, 4);
});

test('loaded is the value once a load has succeeded, for callers that go on without a promise', async () => {
  const load = retryingLoad('x', async () => ({ n: 1 }));
  assert.equal(load.loaded, undefined);
  const first = load();
  assert.equal(load.loaded, undefined, 'not before the load has finished');
  const value = await first;
  assert.equal(load.loaded, value);
});

test("Node's own import(): one that failed for want of descriptors is answered 503, then 500 once Node gives the same failure back (or loads, where Node tries again)", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-retrying-load-'));
  try {
    writeFileSync(path.join(dir, 'feature.mjs'), 'export const value = 42;\n');
    const script = `
      import { closeSync, openSync } from 'node:fs';
      const { retryingLoad } = await import(${JSON.stringify(new URL('./retrying-load.js', import.meta.url).href)});
      const load = retryingLoad('the feature', () => import(${JSON.stringify(pathToFileURL(path.join(dir, 'feature.mjs')).href)}), () => true);
      const outcome = (p) => p.then((m) => 'loaded ' + m.value, (err) => err.code + ' ' + err.status);
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      const first = await outcome(load());
      for (const fd of held) closeSync(fd);
      console.log(JSON.stringify([first, await outcome(load()), await outcome(load())]));
    `;
    const { stdout } = await execFileAsync('sh', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { timeout: 60_000 });
    const [first, second, third] = JSON.parse(stdout) as string[];
    assert.equal(first, 'ERR_SERVER_BUSY 503');
    assert.ok(second === 'ERR_INTERNAL 500' || second === 'loaded 42', second);
    assert.equal(third, second);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
