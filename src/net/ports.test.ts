import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portBindError } from './ports.js';

const failure = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

test('a port that cannot be bound is ERR_PORT_IN_USE, saying why and what to change', () => {
  const taken = portBindError(failure('EADDRINUSE'), '127.0.0.1', 8080);
  assert.equal(taken.code, 'ERR_PORT_IN_USE');
  assert.match(taken.message, /^port 8080 on 127\.0\.0\.1 is already in use by another process; .*pass --port with another port \(0 picks a free one\)/);
  const privileged = portBindError(failure('EACCES'), '0.0.0.0', 80, '--port (SAGEMAKER_BIND_TO_PORT)');
  assert.equal(privileged.code, 'ERR_PORT_IN_USE');
  assert.match(privileged.message, /port 80 on 0\.0\.0\.0 needs privileges this process does not have; .*--port \(SAGEMAKER_BIND_TO_PORT\)/);
  const other = portBindError(failure('EADDRNOTAVAIL'), '10.9.9.9', 8080);
  assert.match(other.message, /cannot be bound \(EADDRNOTAVAIL\)/);
  assert.equal((other.cause as NodeJS.ErrnoException).code, 'EADDRNOTAVAIL');
});
