/**
 * While no worker process is alive (the only one died, or every one at once) the listening socket
 * stays open: the primary keeps it (src/server/kept-socket.ts). A client that connects then is
 * neither refused nor reset: the kernel queues its connection, and the replacement answers it.
 * Before, the socket closed with the last worker and such a client got ECONNREFUSED for the
 * 0.5–0.9 s until a replacement listened, which SageMaker's health check reads as a container down.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT, makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';
import { cleanupsOf, deathsLogged, untilDeathsLogged } from '../helpers/serve-fixtures.js';
import { serverProcesses, supportsReusePort } from '../../src/server/connection-balancing.js';

/** Sends `request` on a connection already open and resolves with all that comes back until the server closes it. */
function answerOn(socket: net.Socket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    // A generous bound (the replacement loads its model first), not a timing assertion.
    socket.setTimeout(60_000, () => socket.destroy(new Error(`no answer within 60 s; got ${JSON.stringify(text)}`)));
    socket.write(request);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const BODY = '5.1,3.5,1.4,0.2';
const INVOKE = `POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`;
const PING = 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

/**
 * Kills every worker process, waits until the primary has logged each end (their own sockets are
 * closed by then), and connects twice. The connections count as made while no worker was alive
 * when, once they are open, the primary still has no child (a replacement forked before would be
 * one). Both must be answered: the ping 200 or 503 (the replacement still loading), the invocation 200.
 * Tried again, the restart back-off growing each time, until the connections were made so.
 */
async function connectWhileNoWorkerIsAlive(server: ServeProcess): Promise<void> {
  const primary = server.child.pid!;
  for (let attempt = 1; ; attempt++) {
    await waitForPing(server);
    const workers = serverProcesses(primary).filter((pid) => pid !== primary);
    assert.ok(workers.length > 0, 'the server has worker processes');
    const before = deathsLogged(server);
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    await untilDeathsLogged(server, before + workers.length);
    // Refused (ECONNREFUSED) before the fix: nothing listened.
    const [ping, invoke] = await Promise.all([connect(server.port), connect(server.port)]);
    const noneAlive = serverProcesses(primary).length === 1;
    const [pingAnswer, invokeAnswer] = await Promise.all([answerOn(ping, PING), answerOn(invoke, INVOKE)]);
    assert.match(pingAnswer, /^HTTP\/1\.1 (200|503) /, pingAnswer);
    assert.match(invokeAnswer, /^HTTP\/1\.1 200 /, invokeAnswer);
    if (noneAlive) return;
    // The replacement was forked before the connections opened: its restart delay doubles next time.
    assert.ok(attempt < 8, `no attempt connected while no worker was alive:\n${server.output().slice(-3000)}`);
  }
}

describe('smkit serve while no worker process is alive', { concurrency: 1 }, () => {
  test('SAGEMAKER_MODEL_SERVER_WORKERS=1: a client that connects after the worker died is answered by its replacement, not refused', async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models', 'iris-onnx'));
    cleanupsOf(t).push(() => removeDir(base));
    const server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_SHUTDOWN_GRACE_SECONDS: '5' });
    cleanupsOf(t).push(() => server.stop());
    await connectWhileNoWorkerIsAlive(server);
    // And the server still drains and stops cleanly on SIGTERM.
    await waitForPing(server);
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null }, server.output().slice(-2000));
  });

  // Node's cluster round-robin (Node 20, or SMKIT_CONNECTION_BALANCING=primary) keeps its own socket with several workers.
  test('two workers with kernel balancing, both killed at once: a client that connects then is answered, not refused', { skip: !supportsReusePort() && 'SO_REUSEPORT balancing needs Node 22.12+ on Linux' }, async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models', 'iris-onnx'));
    cleanupsOf(t).push(() => removeDir(base));
    const server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_CONNECTION_BALANCING: 'kernel', SMKIT_SHUTDOWN_GRACE_SECONDS: '5' });
    cleanupsOf(t).push(() => server.stop());
    await connectWhileNoWorkerIsAlive(server);
  });
});
