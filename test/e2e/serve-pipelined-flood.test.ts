/**
 * Connections that pipeline thousands of `POST /invocations` and never read the answers. The
 * server stopped reading a connection past 8 requests in flight, but Node parses the whole chunk
 * it read (some 600 small requests) and read again on every answer written: 20 connections grew a
 * worker by 200-430 MB and held `/ping` for up to 9 s, every request queued for a model run. Now
 * the hold survives Node's own resumption, and a request past 32 in flight on its connection gets a
 * 503 ERR_SERVER_BUSY at once (no model run).
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
  server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1' });
  await waitForPing(server);
});

after(async () => {
  await server?.stop();
  removeDir(base);
});

/** The most memory process `pid` has held (VmHWM), in MB. */
function peakMb(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

const CONNECTIONS = 10;
const PIPELINED = 10_000;

test(`${CONNECTIONS} connections pipelining ${PIPELINED} POST /invocations each without reading: every one is answered, those past 32 in flight with 503 at once; the worker stays bounded, /ping answers`, { skip: process.platform !== 'linux' }, async () => {
  const primary = server.child.pid!;
  const worker = Number(readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/)[0]);
  assert.ok(worker > 0, 'the worker process');
  const body = '5.1,3.5,1.4,0.2';
  const request = `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const before = peakMb(worker);
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.pause();
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(request.repeat(PIPELINED));
      return socket;
    }),
  );
  // The worker answers /ping meanwhile (it waited 9 s behind the flood).
  assert.equal((await fetchWithTimeout(`${server.url}/ping`, {}, 120_000)).status, 200);
  // Now read every connection's answers.
  const results = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<{ answers: number; ok: number; busy: number; closed: boolean }>((resolve) => {
          let answers = 0;
          let ok = 0;
          let busy = 0;
          // The last bytes read, too few to hold a whole status line ("HTTP/1.1 ", "HTTP/1.1 200 ")
          // counted already: 8 and 12.
          let tail = '';
          const count = (text: string, what: string) => text.split(what).length - 1;
          socket.on('data', (d: Buffer) => {
            const chunk = d.toString('latin1');
            answers += count(tail.slice(-8) + chunk, 'HTTP/1.1 ');
            ok += count(tail + chunk, 'HTTP/1.1 200 ');
            busy += count(tail + chunk, 'HTTP/1.1 503 ');
            tail = (tail + chunk).slice(-12);
            // Done once every status is read; an answer of another status would never make up the
            // count, so the last status line seen gives it 30 s (for a failing test only) to come.
            if (ok + busy >= PIPELINED) resolve({ answers, ok, busy, closed: false });
            else if (answers >= PIPELINED) setTimeout(() => resolve({ answers, ok, busy, closed: false }), 30_000).unref();
          });
          socket.on('close', () => resolve({ answers, ok, busy, closed: true }));
          socket.resume();
        }),
    ),
  );
  const grown = peakMb(worker) - before;
  for (const socket of sockets) socket.destroy();
  for (const { answers, ok, busy, closed } of results) {
    assert.ok(!closed && answers === PIPELINED && ok + busy === answers, `${answers} answers (${ok} 200, ${busy} 503), connection ${closed ? 'closed' : 'open'}`);
    // Without the limit every one was a 200: all queued for a model run.
    assert.ok(ok >= 1 && busy >= 1, `${ok} answers 200, ${busy} 503`);
  }
  // Mostly the garbage of parsing the requests: the peak does not grow with their number.
  assert.ok(grown < 300, `the worker grew by ${Math.round(grown)} MB`);
  assert.equal((await fetchWithTimeout(`${server.url}/ping`)).status, 200);
});
