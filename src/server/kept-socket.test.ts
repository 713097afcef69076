/**
 * The kept listening socket (kept-socket.ts) is bound through Node's private `net._createServerHandle`.
 * Should a Node lack it or it throw, the server must still start as before (without the kept socket)
 * and say why, not fail to start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { keepListeningSocket } from './kept-socket.js';

type Patchable = { _createServerHandle?: unknown };

async function withCreate<T>(replacement: unknown, body: () => Promise<T>): Promise<T> {
  const n = net as unknown as Patchable;
  const original = n._createServerHandle;
  if (replacement === undefined) delete n._createServerHandle;
  else n._createServerHandle = replacement;
  try {
    return await body();
  } finally {
    n._createServerHandle = original;
  }
}

test('a Node without net._createServerHandle: no kept socket, and the reason is given', async () => {
  const reasons: string[] = [];
  const kept = await withCreate(undefined, () => keepListeningSocket('127.0.0.1', 0, 'primary', (r) => reasons.push(r)));
  assert.equal(kept, undefined);
  assert.match(reasons.join('\n'), /_createServerHandle is missing/);
});

test('net._createServerHandle throwing: no kept socket, and the reason is given', async () => {
  const reasons: string[] = [];
  const kept = await withCreate(
    () => {
      throw new TypeError('changed signature');
    },
    () => keepListeningSocket('127.0.0.1', 0, 'kernel', (r) => reasons.push(r)),
  );
  assert.equal(kept, undefined);
  assert.match(reasons.join('\n'), /threw: changed signature/);
});

test('net._createServerHandle returning something else: no kept socket', async () => {
  const reasons: string[] = [];
  const kept = await withCreate(() => ({}), () => keepListeningSocket('127.0.0.1', 0, 'primary', (r) => reasons.push(r)));
  assert.equal(kept, undefined);
  assert.match(reasons.join('\n'), /no socket handle/);
});

test('the real helper binds a socket that can be closed twice', async () => {
  const kept = await keepListeningSocket('127.0.0.1', 0, 'primary', (r) => assert.fail(r));
  assert.ok(kept);
  kept.close();
  kept.close();
});
