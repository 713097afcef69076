import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createFrontDoorServer } from './http-server.js';

test('a kept-alive connection idle for longer than Node\'s default 5 s still takes the next request', async () => {
  const server = createFrontDoorServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  const answers = () => received.split('HTTP/1.1 200').length - 1;
  const request = 'GET /ping HTTP/1.1\r\nHost: x\r\n\r\n';
  try {
    await once(socket, 'connect');
    socket.write(request);
    for (let i = 0; i < 100 && answers() < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answers(), 1);
    // What an SDK client does between two calls a few seconds apart.
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(socket.destroyed, false, 'the server closed the idle connection');
    socket.write(request);
    for (let i = 0; i < 100 && answers() < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answers(), 2);
  } finally {
    socket.destroy();
    server.close();
  }
});
