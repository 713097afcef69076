/**
 * A client that pipelines thousands of `GET /metrics` on one connection without reading the
 * answers. Node hands the handler every pipelined request it has parsed at once, and an answer that
 * waits for the primary (the cluster's metrics) holds back none of the next ones: each asked the
 * primary to gather every worker's metrics again, and the primary grew by 600 MB to 2 GB while /ping went
 * unanswered for 20 s. Scrapes that arrive during a collection now share the next one, and a
 * request past 32 in flight on its connection is refused at once.
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

test('20 000 GET /metrics pipelined on one connection and never read: the primary shares its collections among the scrapes (it grew by 2 GB), those past 32 in flight get 503 at once, /ping answers', { skip: process.platform !== 'linux' }, async () => {
  const primary = server.child.pid!;
  // A scrape first: the metrics library is loaded in both processes before the peak is taken.
  assert.equal((await fetchWithTimeout(`${server.url}/metrics`)).status, 200);
  const before = peakMb(primary);
  const socket = net.connect(server.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.pause();
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await new Promise<void>((resolve) => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20_000), () => resolve()));
  // Every answer: the first scrapes are answered (sharing the primary's collections), those past
  // the requests a connection may have in flight get 503 ERR_SERVER_BUSY (see connection-drain.ts).
  const { ok, busy, other } = await new Promise<{ ok: number; busy: number; other: number }>((resolve) => {
    let all = 0;
    const read: string[] = [];
    // The last bytes read: 8 are too few to hold a status line counted already.
    let tail = '';
    const count = (text: string, what: string) => text.split(what).length - 1;
    const done = () => {
      const text = read.join('');
      const ok = count(text, 'HTTP/1.1 200 ');
      const busy = count(text, '"code":"ERR_SERVER_BUSY"');
      resolve({ ok, busy, other: count(text, 'HTTP/1.1 ') - ok - busy });
    };
    socket.on('data', (d: Buffer) => {
      const chunk = d.toString('latin1');
      read.push(chunk);
      all += count(tail + chunk, 'HTTP/1.1 ');
      tail = (tail + chunk).slice(-8);
      if (all >= 20_000) done();
    });
    socket.on('close', done);
    socket.resume();
  });
  assert.ok(ok >= 1 && busy >= 1 && other === 0 && ok + busy === 20_000, `${ok} answers 200, ${busy} ERR_SERVER_BUSY, ${other} others`);
  const grown = peakMb(primary) - before;
  assert.ok(grown < 150, `the primary grew by ${Math.round(grown)} MB`);
  assert.equal((await fetchWithTimeout(`${server.url}/ping`, {}, 120_000)).status, 200);
  socket.destroy();
});
