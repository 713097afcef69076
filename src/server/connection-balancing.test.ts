import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { chooseConnectionBalancing, countListeners, KERNEL_SOCKETS_PER_WORKER, listenersOfOthers, serverProcesses, supportsReusePort, type BalancingProbe, type ProcReader } from './connection-balancing.js';

const linux = (nodeVersion: string): BalancingProbe => ({ nodeVersion, platform: 'linux' });
const fixedPort = { port: 8080 };
/** The first line of /proc/net/tcp and tcp6. */
const PROC_NET_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

test('SO_REUSEPORT balancing is supported from Node 22.12 and 23.1, on Linux only', () => {
  for (const v of ['22.12.0', '22.23.5', '23.1.0', '24.0.0', '25.2.1']) assert.equal(supportsReusePort(linux(v)), true, v);
  for (const v of ['20.20.2', '22.11.0', '23.0.0', '18.20.0']) assert.equal(supportsReusePort(linux(v)), false, v);
  assert.equal(supportsReusePort({ nodeVersion: '24.0.0', platform: 'darwin' }), false);
  assert.equal(supportsReusePort({ nodeVersion: '24.0.0', platform: 'win32' }), false);
});

test('auto is kernel where supported with a fixed port, with one worker as with several; otherwise primary, without a warning', () => {
  assert.equal(chooseConnectionBalancing('auto', fixedPort, linux('22.23.5')).mode, 'kernel');
  // One worker too: round-robin would only make a /ping wait behind a burst of new connections.
  assert.equal(chooseConnectionBalancing('auto', { port: 8080 }, linux('24.0.0')).mode, 'kernel');
  for (const [server, probe] of [
    [fixedPort, linux('20.20.2')],
    [fixedPort, { nodeVersion: '24.0.0', platform: 'darwin' }],
    [{ port: 0 }, linux('24.0.0')],
  ] as const) {
    const choice = chooseConnectionBalancing('auto', server, probe);
    assert.equal(choice.mode, 'primary', JSON.stringify({ server, probe }));
    assert.equal(choice.warning, undefined);
    assert.ok(choice.reason.length > 0);
  }
});

test('primary is always honoured', () => {
  assert.deepEqual(chooseConnectionBalancing('primary', fixedPort, linux('24.0.0')), { mode: 'primary', reason: 'SMKIT_CONNECTION_BALANCING=primary' });
});

test('an explicit kernel is honoured, and falls back to primary with a warning naming the reason when it cannot be used', () => {
  assert.equal(chooseConnectionBalancing('kernel', fixedPort, linux('22.12.0')).mode, 'kernel');
  const oldNode = chooseConnectionBalancing('kernel', fixedPort, linux('20.20.2'));
  assert.equal(oldNode.mode, 'primary');
  assert.match(oldNode.warning ?? '', /SMKIT_CONNECTION_BALANCING=kernel cannot be used: .*Node 22\.12\+ on Linux \(this is Node 20\.20\.2 on linux\)/);
  const portZero = chooseConnectionBalancing('kernel', { port: 0 }, linux('24.0.0'));
  assert.equal(portZero.mode, 'primary');
  assert.match(portZero.warning ?? '', /port 0/);
});

test('countListeners counts listening sockets on the port over IPv4 and IPv6, and nothing else', () => {
  const tables: Record<string, string> = {
    '/proc/net/tcp':
      PROC_NET_HEADER +
      '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1145 1\n' +
      '   1: 0100007F:1F90 0100007F:AD3A 01 00000000:00000000 00:00000000 00000000     0        0 0 3\n' +
      '   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1146 1\n',
    '/proc/net/tcp6': PROC_NET_HEADER + '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1147 1\n',
  };
  assert.equal(
    countListeners(8080, undefined, (file) => tables[file]!),
    2,
  );
  assert.equal(
    countListeners(8080, undefined, () => {
      throw new Error('ENOENT');
    }),
    undefined,
  );
});

test('countListeners with an address counts the sockets whose address overlaps it: the same one, a wildcard, or any when it is the wildcard; not another specific address', () => {
  const listen = (n: number, local: string) => `   ${n}: ${local} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${1000 + n} 1\n`;
  const tables: Record<string, string> = {
    // 127.0.0.1:8080 twice (two workers), 127.0.0.2:8080 (another service on another address), 0.0.0.0:8080.
    '/proc/net/tcp': PROC_NET_HEADER + listen(0, '0100007F:1F90') + listen(1, '0100007F:1F90') + listen(2, '0200007F:1F90') + listen(3, '00000000:1F90'),
    // [::1]:8080 and [::]:8080.
    '/proc/net/tcp6': PROC_NET_HEADER + listen(0, '00000000000000000000000001000000:1F90') + listen(1, '00000000000000000000000000000000:1F90'),
  };
  const read = (file: string) => tables[file]!;
  // A server on 0.0.0.0 or [::] with SO_REUSEPORT beside one on 127.0.0.1 is a bind the OS refuses
  // without it: both came up "ready" on the same port when started together (each counted only
  // its own address), and each took the connections of the addresses it binds most closely.
  assert.equal(countListeners(8080, { address: '127.0.0.1', family: 'IPv4' }, read), 4, 'its two, 0.0.0.0 and [::]; not 127.0.0.2 nor [::1]');
  assert.equal(countListeners(8080, { address: '0.0.0.0', family: 'IPv4' }, read), 5, 'every IPv4 one and [::]; not [::1]');
  assert.equal(countListeners(8080, { address: '::1', family: 'IPv6' }, read), 2, '[::1] and [::]');
  assert.equal(countListeners(8080, { address: '::', family: 'IPv6' }, read), 6, 'all of them');
  assert.equal(countListeners(8080, undefined, read), 6);
});

test('countListeners sees a server listening in this process', { skip: process.platform !== 'linux' && 'reads /proc/net (Linux)' }, async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    assert.equal(countListeners(port), 1);
    assert.equal(countListeners(port, { address: '127.0.0.1', family: 'IPv4' }), 1);
    assert.equal(countListeners(port, { address: '127.0.0.2', family: 'IPv4' }), 0);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('listenersOfOthers counts the listeners on the port that no process of the server holds, by socket inode', () => {
  const listen = (n: number, local: string, inode: number) => `   ${n}: ${local} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1\n`;
  // 127.0.0.1:8080: 8 sockets of this worker (inodes 100..107), 8 of another process (200..207); 127.0.0.2:8080 one more.
  const table = PROC_NET_HEADER + Array.from({ length: 8 }, (_, i) => listen(i, '0100007F:1F90', 100 + i) + listen(8 + i, '0100007F:1F90', 200 + i)).join('') + listen(16, '0200007F:1F90', 300);
  const fds: Record<string, string[]> = { '/proc/10/fd': [], '/proc/11/fd': ['0', '1', ...Array.from({ length: 8 }, (_, i) => String(20 + i))] };
  const proc: ProcReader = {
    read: (file) => ({ '/proc/net/tcp': table, '/proc/net/tcp6': PROC_NET_HEADER, '/proc/10/task/10/children': '11 ' })[file] ?? assert.fail(`read ${file}`),
    readdir: (dir) => fds[dir] ?? assert.fail(`readdir ${dir}`),
    readlink: (file) => {
      const fd = Number(file.split('/').pop());
      return fd >= 20 ? `socket:[${100 + fd - 20}]` : '/dev/null';
    },
  };
  const bound = { address: '127.0.0.1', family: 'IPv4' };
  assert.deepEqual(serverProcesses(10, proc), [10, 11]);
  // The count the check used to make: 16 listeners, no more than two workers' sockets. A server of
  // two workers whose second had not bound yet took the other process's 8 for its own.
  assert.equal(countListeners(8080, bound, proc.read), 2 * KERNEL_SOCKETS_PER_WORKER);
  assert.equal(listenersOfOthers(8080, bound, serverProcesses(10, proc), proc), 8);
  assert.equal(listenersOfOthers(8080, { address: '127.0.0.2', family: 'IPv4' }, [10, 11], proc), 1);
  // Nothing of its own found: /proc cannot tell (the caller falls back to the count).
  assert.equal(listenersOfOthers(8080, bound, [10], proc), undefined);
});

test('serverProcesses finds the children from /proc/<pid>/stat where the children file is absent', () => {
  const stats: Record<string, string> = { '/proc/5/stat': '5 (a) S 1 5', '/proc/6/stat': '6 (b) c) d) S 5 5', '/proc/7/stat': '7 (w) S 5 5', '/proc/8/stat': '8 (x) S 6 5' };
  const proc: ProcReader = {
    read: (file) => stats[file] ?? (() => { throw new Error('ENOENT'); })(),
    readdir: () => ['5', '6', '7', '8', 'self', 'net'],
    readlink: () => '',
  };
  assert.deepEqual(serverProcesses(5, proc), [5, 6, 7]);
});

test('listenersOfOthers tells real SO_REUSEPORT sockets of another process from this one\'s', { skip: !(process.platform === 'linux' && supportsReusePort()) && 'SO_REUSEPORT balancing needs Node 22.12+ on Linux' }, async () => {
  const ours: net.Server[] = [];
  const listen = (port: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen({ port, host: '127.0.0.1', reusePort: true, exclusive: true } as net.ListenOptions, () => resolve(s));
    });
  ours.push(await listen(0));
  const { port } = ours[0]!.address() as AddressInfo;
  for (let i = 1; i < KERNEL_SOCKETS_PER_WORKER; i++) ours.push(await listen(port));
  // Another process binds as many on the same port, as a second one-worker server would.
  const other = spawn(process.execPath, ['-e', `const net = require('node:net'); let n = 0; for (let i = 0; i < ${KERNEL_SOCKETS_PER_WORKER}; i++) net.createServer().listen({ port: ${port}, host: '127.0.0.1', reusePort: true, exclusive: true }, () => { if (++n === ${KERNEL_SOCKETS_PER_WORKER}) console.log('bound'); }); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      other.stdout!.on('data', (d: Buffer) => d.toString().includes('bound') && resolve());
      other.once('exit', (code) => reject(new Error(`the other process ended (${code})`)));
    });
    const bound = { address: '127.0.0.1', family: 'IPv4' };
    assert.equal(countListeners(port, bound), 2 * KERNEL_SOCKETS_PER_WORKER);
    assert.equal(listenersOfOthers(port, bound, [process.pid]), KERNEL_SOCKETS_PER_WORKER);
    assert.equal(listenersOfOthers(port, bound, [process.pid, other.pid!]), 0);
  } finally {
    other.kill();
    for (const s of ours) await new Promise((resolve) => s.close(resolve));
  }
});
