/**
 * A client that pipelines thousands of `GET /metrics` on one connection without reading the
 * answers. Node hands the handler every pipelined request it has parsed at once, and an answer that
 * waits for the primary (the cluster's metrics) holds back none of the next ones: each asked the
 * primary to gather every worker's metrics again, and the primary grew by 600 MB to 2 GB while /ping went
 * unanswered for 20 s. Scrapes that arrive during a collection now share the next one, and a
 * request other than GET or HEAD past 32 in flight on its connection is refused at once (a scrape
 * is not: it runs no model).
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

test('20 000 GET /metrics pipelined on one connection and never read: the primary shares its collections among the scrapes (it grew by 2 GB), every scrape answered (GET is never refused by the in-flight limit), /ping answers', { skip: process.platform !== 'linux' }, async () => {
  const primary = server.child.pid!;
  // A scrape first: the metrics library is loaded in both processes before the peak is taken.
  assert.equal((await fetchWithTimeout(`${server.url}/metrics`)).status, 200);
  const before = peakMb(primary);
  const socket = net.connect(server.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.pause();
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await new Promise<void>((resolve) => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(20_000), () => resolve()));
  // Every answer a 200: the scrapes share the primary's collections, and a GET is never refused by
  // the requests a connection may have in flight (see connection-drain.ts).
  const { ok, busy, other, codes } = await new Promise<{ ok: number; busy: number; other: number; codes: number }>((resolve) => {
    let all = 0;
    let ok = 0;
    let busy = 0;
    const read: string[] = [];
    // The last bytes read, too few to hold a whole status line ("HTTP/1.1 ", "HTTP/1.1 200 ")
    // counted already: 8 and 12.
    let tail = '';
    const count = (text: string, what: string) => text.split(what).length - 1;
    const done = () => resolve({ ok, busy, other: all - ok - busy, codes: count(read.join(''), '"code":"ERR_SERVER_BUSY"') });
    socket.on('data', (d: Buffer) => {
      const chunk = d.toString('latin1');
      read.push(chunk);
      all += count(tail.slice(-8) + chunk, 'HTTP/1.1 ');
      ok += count(tail + chunk, 'HTTP/1.1 200 ');
      busy += count(tail + chunk, 'HTTP/1.1 503 ');
      tail = (tail + chunk).slice(-12);
      // Done once every status is read; an answer of another status would never make up the count,
      // so the last status line seen gives it 30 s (for a failing test only) to come.
      if (ok + busy >= 20_000) done();
      else if (all >= 20_000) setTimeout(done, 30_000).unref();
    });
    socket.on('close', done);
    socket.resume();
  });
  assert.ok(ok === 20_000 && busy === 0 && other === 0 && codes === 0, `${ok} answers 200, ${busy} 503 (${codes} ERR_SERVER_BUSY read), ${other} others`);
  const grown = peakMb(primary) - before;
  assert.ok(grown < 150, `the primary grew by ${Math.round(grown)} MB`);
  assert.equal((await fetchWithTimeout(`${server.url}/ping`, {}, 120_000)).status, 200);
  socket.destroy();
});
