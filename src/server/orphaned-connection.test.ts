// HeldConnections: the primary's copies of a worker's connections, answered in order when the
// worker is gone. A child process stands in for the worker: it accepts a real TCP connection and
// sends its handle over IPC, as a worker sends a POST /models connection to the primary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { HeldConnections, type NativeHandle } from './orphaned-connection.js';

const WORKER = `
const net = require('node:net');
let socket;
const server = net.createServer({ pauseOnConnect: true }, (s) => { socket = s; process.send({ type: 'connected' }); });
server.listen(0, '127.0.0.1', () => process.send({ type: 'port', port: server.address().port }));
process.on('message', (m) => {
  if (m.type === 'handle') process.send({ type: 'handle' }, socket._handle);
  else if (m.type === 'exit') process.exit(0);
});
`;

interface Message {
  type: string;
  port?: number;
}

/** A stand-in worker with one client connection, and what the client reads on it until it closes. */
async function workerWithConnection() {
  const child: ChildProcess = spawn(process.execPath, ['-e', WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => once(child, 'message') as Promise<[Message, NativeHandle | undefined]>;
  const [{ port }] = await next();
  const client = net.connect(port!, '127.0.0.1');
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  const closed = new Promise<string[]>((resolve, reject) => {
    client.on('close', () => resolve(received === '' ? [] : received.split(/(?=HTTP\/1\.1 )/)));
    client.on('error', reject);
  });
  await next();
  return {
    /** A copy of the connection's handle, as sent with each pipelined load. */
    async handle(): Promise<NativeHandle> {
      const reply = next();
      child.send({ type: 'handle' });
      const [, handle] = await reply;
      assert.ok(handle);
      return handle;
    },
    async die(): Promise<void> {
      const exited = once(child, 'exit');
      child.send({ type: 'exit' });
      await exited;
    },
    /** The answers the client read, once the connection is closed. */
    closed,
  };
}

const answerOf = (status: number, name: string) => ({ status, body: { code: status === 409 ? 'ERR_MODEL_ALREADY_LOADED' : 'ERR_MODEL_LOAD', message: `model "${name}"` } });

test('two pipelined loads, the worker gone: the primary answers them in the order they were read, though the later one settles first, and closes after the last', { timeout: 30_000 }, async () => {
  const w = await workerWithConnection();
  const held = new HeldConnections();
  const first = held.hold(1, await w.handle());
  const second = held.hold(2, await w.handle(), 1);
  await w.die();
  const a = answerOf(500, 'a');
  const b = answerOf(409, 'b');
  second.answer(b.status, b.body);
  first.answer(a.status, a.body);
  const answers = await w.closed;
  assert.equal(answers.length, 2, answers.join(''));
  assert.match(answers[0]!, /^HTTP\/1\.1 500 Internal Server Error\r\n[^]*model \\"a\\"/);
  assert.doesNotMatch(answers[0]!, /Connection: close/i, 'the first answer leaves the connection open for the second');
  assert.match(answers[1]!, /^HTTP\/1\.1 409 Conflict\r\n[^]*model \\"b\\"/);
  assert.match(answers[1]!, /Connection: close/i);
});

test('a later load whose outcome went to the worker before it died behind the first: the worker never wrote it (the answer ahead was never written), so the primary writes both', { timeout: 30_000 }, async () => {
  const w = await workerWithConnection();
  const held = new HeldConnections();
  const first = held.hold(1, await w.handle());
  const second = held.hold(2, await w.handle(), 1);
  // The 409 is sent to the worker, which holds it behind the first load's answer; then it dies.
  second.answeredByWorker(409, answerOf(409, 'b').body);
  await w.die();
  first.answer(500, answerOf(500, 'a').body);
  const answers = await w.closed;
  assert.equal(answers.length, 2, answers.join(''));
  assert.match(answers[0]!, /^HTTP\/1\.1 500 [^]*model \\"a\\"/);
  assert.match(answers[1]!, /^HTTP\/1\.1 409 [^]*model \\"b\\"[^]*$/);
  assert.match(answers[1]!, /Connection: close/i);
});

test('a load behind one the worker answered, the worker then gone: the primary lets the connection go without an answer (it could be read as the one before)', { timeout: 30_000 }, async () => {
  const w = await workerWithConnection();
  const held = new HeldConnections();
  const first = held.hold(1, await w.handle());
  const second = held.hold(2, await w.handle(), 1);
  first.answeredByWorker(200, { status: 'Model "a" registered' });
  await w.die();
  second.answer(500, answerOf(500, 'b').body);
  // Closed: neither the worker nor the primary holds the connection any more.
  assert.deepEqual(await w.closed, []);
});

test('a load whose request ahead is no longer held (answered already) is let go, and so is every later one; a lone load is answered with Connection: close', { timeout: 30_000 }, async () => {
  const w = await workerWithConnection();
  const held = new HeldConnections();
  const broken = held.hold(5, await w.handle(), 4);
  const behind = held.hold(6, await w.handle(), 5);
  await w.die();
  behind.answer(500, answerOf(500, 'c').body);
  broken.answer(500, answerOf(500, 'b').body);
  assert.deepEqual(await w.closed, []);

  const lone = await workerWithConnection();
  const only = new HeldConnections().hold(1, await lone.handle());
  await lone.die();
  only.answer(507, answerOf(507, 'a').body);
  // Settling twice (the worker's death and a late answer) writes nothing more.
  only.answer(500, answerOf(500, 'a').body);
  const answers = await lone.closed;
  assert.equal(answers.length, 1, answers.join(''));
  assert.match(answers[0]!, /^HTTP\/1\.1 507 [^]*Connection: close/i);
});
