import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deadline } from './deadline.js';

/**
 * Waits for `signal` to abort while holding the event loop open: a deadline's timer is unref'd (as
 * AbortSignal.timeout's is), so on its own it would let the test's process end first.
 */
async function aborted(signal: AbortSignal): Promise<void> {
  const hold = setInterval(() => {}, 60_000);
  try {
    if (!signal.aborted) await once(signal, 'abort');
  } finally {
    clearInterval(hold);
  }
}

test('a deadline aborts its signal with a TimeoutError once its time passes, as AbortSignal.timeout does', async () => {
  const limit = deadline(1);
  assert.equal(limit.signal.aborted, false);
  await aborted(limit.signal);
  assert.equal(limit.signal.aborted, true);
  assert.ok(limit.signal.reason instanceof DOMException);
  // The very reason AbortSignal.timeout gives: code that tells a timeout by name, message or code still does.
  const node = AbortSignal.timeout(1);
  await aborted(node);
  const [ours, theirs] = [limit.signal.reason, node.reason] as DOMException[];
  assert.deepEqual({ name: ours!.name, message: ours!.message, code: ours!.code }, { name: theirs!.name, message: theirs!.message, code: theirs!.code });
  assert.equal(ours!.name, 'TimeoutError');
});

test('a cleared deadline never aborts: its timer is disarmed', async () => {
  const cleared = deadline(1);
  cleared.clear();
  // A later deadline of the same length fires after the cleared one would have.
  const later = deadline(5);
  await aborted(later.signal);
  assert.equal(cleared.signal.aborted, false);
});

test('fetch given a deadline that passes rejects with a TimeoutError (what invokeChain reports as a timeout)', async () => {
  const server = createServer(() => {
    // Never answers.
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const limit = deadline(50);
    await assert.rejects(fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: limit.signal }), (err: Error) => err.name === 'TimeoutError');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("invokeChain disarms each container call's deadline once the call ended, answered or failed", async (t) => {
  // A limit no other timer in this process uses, so the timers armed for it can be told apart.
  const TIMEOUT_MS = 987_654;
  const armed = new Set<unknown>();
  const disarmed = new Set<unknown>();
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  t.mock.method(globalThis, 'setTimeout', (...args: Parameters<typeof setTimeout>) => {
    const timer = realSetTimeout(...args);
    if (args[1] === TIMEOUT_MS) armed.add(timer);
    return timer;
  });
  t.mock.method(globalThis, 'clearTimeout', (timer: Parameters<typeof clearTimeout>[0]) => {
    if (armed.has(timer)) disarmed.add(timer);
    return realClearTimeout(timer);
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => (req.url === '/invocations' && req.headers['content-type'] === 'text/csv' ? res.writeHead(200, { 'content-type': 'text/csv' }).end('1') : res.writeHead(500).end('no')));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const container = { hostname: 'c1', url, logFile: '/dev/null' };
    const { invokeChain } = await import('./chain.js');
    // Two containers (the first's answer is the second's request), then one that answers 500.
    const answer = await invokeChain([container, container], { body: Buffer.from('5.1'), contentType: 'text/csv' }, { timeoutMs: TIMEOUT_MS });
    assert.equal(answer.body.toString(), '1');
    await assert.rejects(invokeChain([container], { body: Buffer.from('x'), contentType: 'application/json' }, { timeoutMs: TIMEOUT_MS }));
    assert.equal(armed.size, 3, 'one deadline per container call');
    assert.deepEqual([...armed].filter((timer) => !disarmed.has(timer)), [], 'every deadline disarmed');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
