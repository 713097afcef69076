import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, notePort, waitForPing } from './serve-process.js';
import { until } from './until.js';

const HELPER = fileURLToPath(new URL('./serve-process.js', import.meta.url));

test('freePort never hands out a port another test process of the run was given: each is noted in the shared temporary folder', async () => {
  // Another test file's process (as run-tests runs them side by side, with the same TMPDIR).
  const theirs = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', `const { freePort } = await import(${JSON.stringify(HELPER)}); const ports = []; for (let i = 0; i < 5; i++) ports.push(await freePort()); console.log(JSON.stringify(ports));`], { encoding: 'utf8', timeout: 60_000 }),
  ) as number[];
  assert.equal(new Set(theirs).size, 5);
  // The OS may offer any of them again once that process closed its probe: this process refuses them.
  for (const port of theirs) assert.equal(notePort(port), false, `port ${port} was noted by the other process`);
  const mine = await freePort();
  assert.ok(!theirs.includes(mine));
  assert.equal(notePort(mine), false, 'a port handed out here is noted too');
});

test('waitForPing polls on new connections: a kept-alive one to a server that had the port a moment never hides the child that holds it now', async () => {
  // The other server: keeps its connections alive and answers every /ping 200 with its own id.
  const otherSockets: net.Socket[] = [];
  let otherRequests = 0;
  const other = net.createServer((socket) => {
    otherSockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      for (let i = d.toString('latin1').split('\r\n\r\n').length - 1; i > 0; i--) {
        otherRequests++;
        socket.write('HTTP/1.1 200 OK\r\nx-smkit-instance-id: someone-else\r\ncontent-length: 2\r\nkeep-alive: timeout=600\r\n\r\n{}');
      }
    });
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as net.AddressInfo;
  // A stand-in for the child process: waitForPing only asks whether it has exited.
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const mine = http.createServer((_req, res) => res.writeHead(200, { 'x-smkit-instance-id': 'mine' }).end('{"status":"Healthy"}'));
  try {
    const server = { url: `http://127.0.0.1:${port}`, port, child, instanceId: 'mine', output: () => '', exited: new Promise<never>(() => undefined), stop: async () => undefined };
    const waiting = waitForPing(server, 200, 20_000);
    await until('a poll to reach the other server', () => otherRequests > 0);
    // It stops listening (its connections stay, as a server's busy ones do) and the child binds the port.
    await new Promise((resolve) => other.close(resolve));
    await new Promise<void>((resolve) => mine.listen(port, '127.0.0.1', resolve));
    const res = await waiting;
    assert.equal(res.headers.get('x-smkit-instance-id'), 'mine');
    assert.deepEqual(await res.json(), { status: 'Healthy' });
  } finally {
    child.kill();
    for (const socket of otherSockets) socket.destroy();
    other.close();
    mine.closeAllConnections();
    await new Promise((resolve) => mine.close(resolve));
  }
});
