/**
 * The primary's note of connections Node's cluster handed a worker, against a stand-in for the
 * worker's ChildProcess speaking Node's cluster messages (the shapes of Node 20, 22 and 24's
 * internal/cluster: `{ cmd: 'NODE_CLUSTER', act: 'newconn', seq }` sent with the handle, answered by
 * `{ cmd: 'NODE_CLUSTER', ack: seq, accepted }`). Real processes: test/e2e/serve-handed-connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:cluster';
import { closeConnectionsOfDeadWorker, MAX_WAITING } from './handed-connections.js';

function standIn() {
  const sent: unknown[] = [];
  const proc = Object.assign(new EventEmitter(), {
    send(message: unknown, handle?: unknown): boolean {
      sent.push([message, handle]);
      return true;
    },
  });
  closeConnectionsOfDeadWorker({ process: proc } as unknown as Worker);
  return { proc, sent };
}

function handle() {
  return { closes: 0, close() { this.closes += 1; } };
}

test('a connection handed and answered is left alone at the worker\'s end; one not answered is closed then; other messages pass through as they were', () => {
  const { proc, sent } = standIn();
  const answered = handle();
  const waiting = handle();
  const other = handle();
  proc.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: 'k', seq: 1 }, answered);
  proc.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: 'k', seq: 2 }, waiting);
  proc.send({ type: 'smkit', n: 1 }, other);
  proc.send({ type: 'smkit', n: 2 });
  assert.equal(sent.length, 4);
  proc.emit('internalMessage', { cmd: 'NODE_CLUSTER', ack: 1, accepted: true, seq: 0 });
  proc.emit('exit', null, 'SIGKILL');
  assert.equal(waiting.closes, 0, 'not at exit: an answer sent before it may still be unread');
  proc.emit('close', null, 'SIGKILL');
  assert.deepEqual([answered.closes, waiting.closes, other.closes], [0, 1, 0]);
});

test('when the answers are not recognised (another Node\'s shapes), noting stops and nothing is closed, rather than every connection being held for the worker\'s life', () => {
  const { proc } = standIn();
  const handles = Array.from({ length: MAX_WAITING + 5 }, handle);
  handles.forEach((h, seq) => {
    proc.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: 'k', seq }, h);
    proc.emit('internalMessage', { cmd: 'NODE_CLUSTER', answer: seq, accepted: true });
  });
  proc.emit('close', 0, null);
  assert.equal(handles.filter((h) => h.closes > 0).length, 0);
});
