import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnFailureReason } from './worker-spawn.js';

const spawnError = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`spawn /usr/bin/node ${code}`), { code });

test('spawnFailureReason quotes Node and says what to change for each way a start fails', () => {
  assert.match(spawnFailureReason(spawnError('EAGAIN'), '/usr/bin/node'), /^spawn \/usr\/bin\/node EAGAIN: the system refused a new process \(a limit on processes or threads, .*pids limit.*\); lower SAGEMAKER_MODEL_SERVER_WORKERS, or raise the limit$/);
  for (const code of ['EMFILE', 'ENFILE']) assert.match(spawnFailureReason(spawnError(code), '/usr/bin/node'), new RegExp(`^spawn /usr/bin/node ${code}: no file descriptors .*ulimit -n.*; raise the limit$`));
  for (const code of ['ENOENT', 'EACCES']) assert.match(spawnFailureReason(spawnError(code), '/opt/node/bin/node'), new RegExp(`^spawn /usr/bin/node ${code}: the Node binary /opt/node/bin/node can no longer be run .*; restart smkit serve$`));
  assert.equal(spawnFailureReason(spawnError('EPERM'), '/usr/bin/node'), 'spawn /usr/bin/node EPERM');
});
