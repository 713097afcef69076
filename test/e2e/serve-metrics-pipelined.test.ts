/**
 * A client that pipelines thousands of `GET /metrics` on one connection without reading the
 * answers. Node hands the handler every pipelined request it has parsed at once, and an answer that
 * waits for the primary (the cluster's metrics) holds back none of the next ones: each asked the
 * primary to gather every worker's metrics again, and the primary grew by 600 MB to 2 GB while /ping went
 * unanswered for 20 s. Scrapes under way are now shared.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT, fetchWithTimeout, makeOptMl, removeDir, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';

let server: ServeProcess;
let base: string;

before(async () => {
  base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
  server = await startServe({ SAGEMAKER_BASE_DIR: base });
  await waitForPing(server);
});

after(async () => {
  await server?.stop();
  removeDir(base);
});

/** The most memory process `pid` has held (VmHWM), in MB. */
function peakMb(pid: number): number {
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

test('20 000 GET /metrics pipelined on one connection and never read: the primary gathers once for the scrapes under way (it grew by 2 GB), its answers come, /ping answers', { skip: process.platform !== 'linux' }, async () => {
  const primary = server.child.pid!;
  // A scrape first: the metrics library is loaded in both processes before the peak is taken.
  assert.equal((await fetchWithTimeout(`${server.url}/metrics`)).status, 200);
  const before = peakMb(primary);
  const socket = net.connect(server.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.pause();
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await new Promise<void>((resolve) => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20_000), () => resolve()));
  // The first 2000 answers, which come once the worker has handed every request it parsed on.
  const answers = await new Promise<number>((resolve) => {
    let count = 0;
    let tail = '';
    socket.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      count += text.split('HTTP/1.1 200 OK\r\n').length - 1;
      tail = text.slice(-20);
      if (count >= 2000) resolve(count);
    });
    socket.on('close', () => resolve(count));
    socket.resume();
  });
  assert.ok(answers >= 2000, `${answers} answers`);
  const grown = peakMb(primary) - before;
  assert.ok(grown < 150, `the primary grew by ${Math.round(grown)} MB`);
  assert.equal((await fetchWithTimeout(`${server.url}/ping`, {}, 120_000)).status, 200);
  socket.destroy();
});
