/**
 * A connection flood that takes every file descriptor `smkit serve` may open (its `ulimit -n`):
 * the worker must keep serving the connections it holds, and load what it loads lazily (prom-client
 * for `/metrics`) once descriptors are free again, instead of dying with every connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { PRELOAD_AFTER_MS } from '../../src/server/app.js';
import { until } from '../helpers/until.js';
import { REPO_ROOT, fetchWithTimeout, makeOptMl, removeDir, startServeWithFileLimit, type ServeProcess } from '../helpers/serve-process.js';

/** The server's descriptor limit: its own files, threads and pipes take a few dozen, connections the rest. */
const FILE_LIMIT = 128;
/** Connections opened: more than the limit lets the worker hold. */
const CONNECTIONS = 200;

let server: ServeProcess;
let base: string;
let port: number;

before(async () => {
  base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
  server = await startServeWithFileLimit(FILE_LIMIT, { SAGEMAKER_BASE_DIR: base });
  port = server.port;
});

after(async () => {
  await server?.stop();
  removeDir(base);
});

/** A kept-alive connection that sends `GET /ping` and resolves with whether it was answered 200, or false once it is closed; `answer` gets what came. */
function pingOn(socket: net.Socket, answer: (text: string) => void = () => undefined, request = 'GET /ping HTTP/1.1\r\nHost: x\r\n\r\n'): Promise<boolean> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? NaN);
      if (end >= 0 && text.length >= end + 4 + length) done(/^HTTP\/1\.1 200 /.test(text));
    };
    const onClose = () => done(false);
    const done = (ok: boolean) => {
      answer(text);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(ok);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(request);
  });
}

test('a flood of connections past the file descriptor limit: the connections held keep being served, and /metrics loads once descriptors are free', async () => {
  const sockets: net.Socket[] = [];
  const answered = new Set<net.Socket>();
  const busy: string[] = [];
  try {
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      sockets.push(socket);
      void pingOn(socket, (text) => /^HTTP\/1\.1 503 /.test(text) && busy.push(text)).then((ok) => ok && answered.add(socket));
    }
    // The worker loads prom-client PRELOAD_AFTER_MS after its model is ready: the flood holds every
    // descriptor past that moment (a wait by design: there is no event for a load that must fail).
    await new Promise((r) => setTimeout(r, PRELOAD_AFTER_MS + 1500));
    assert.ok(answered.size > 0 && answered.size < CONNECTIONS, `${answered.size} of ${CONNECTIONS} connections answered; the limit should let some, not all, in`);
    // Those past the limit were told so (the rest may have been refused by the kernel's backlog or the primary).
    assert.ok(busy.length > 0, `no connection was answered 503:\n${server.output()}`);
    assert.match(busy[0]!, /\r\nRetry-After: 1\r\n[^]*"code":"ERR_SERVER_BUSY","message":"this worker already holds \d+ connections, as many as its open files limit \(ulimit -n 128\) leaves room for/);
    // The worker is the same one: every connection it answered is still open and answered again.
    const again = await Promise.all([...answered].map((socket) => pingOn(socket)));
    assert.equal(again.filter((ok) => !ok).length, 0, `held connections were dropped (the worker died?):\n${server.output()}`);
    // A route express serves, whose code loads with its first use: while descriptors are short the
    // request is told to retry (503 ERR_SERVER_BUSY, Retry-After), never a 500, and the load is not
    // tried then (a package whose package.json could not be read would stay missing for good).
    const held = [...answered][0]!;
    let slowAnswer = '';
    await pingOn(held, (text) => (slowAnswer = text), 'GET /models HTTP/1.1\r\nHost: x\r\n\r\n');
    if (/^HTTP\/1\.1 503 /.test(slowAnswer)) assert.match(slowAnswer, /\r\nRetry-After: 1\r\n[^]*"code":"ERR_SERVER_BUSY","message":"the code of this route \(express\) cannot be loaded now: this process has no file descriptors to spare/);
    else assert.match(slowAnswer, /^HTTP\/1\.1 404 [^]*"code":"ERR_MULTI_MODEL_DISABLED"/);
    // While those are held, clients that send nothing and never close their side: each is answered
    // and closed by the server, and the refused ones it holds meanwhile leave the reserved descriptors
    // free (taking them lost the connections handed over next: the server answered none again).
    let ended = 0;
    for (let i = 0; i < 300; i++) {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => undefined);
      socket.resume();
      sockets.push(socket);
      let counted = false;
      const end = () => void (counted || ((counted = true), ended++));
      socket.once('end', end);
      socket.once('close', end);
    }
    await until('the server to answer and close every half-open connection', () => ended === 300, { timeoutMs: 60_000, detail: () => `${ended} of 300 closed:\n${server.output()}` });
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  assert.doesNotMatch(server.output(), /worker process died/);
  // With descriptors free again, the metrics library loads (a failed load is not kept) and /ping answers.
  const deadline = Date.now() + 30_000;
  let metrics: Response | undefined;
  do {
    metrics = await fetchWithTimeout(`http://127.0.0.1:${port}/metrics`, {}, 10_000).catch(() => undefined);
    if (metrics?.status === 200) break;
    await metrics?.arrayBuffer();
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  assert.equal(metrics?.status, 200, server.output());
  assert.match(await metrics!.text(), /^smkit_process_open_fds /m);
  // Express, loaded then or now (its preload waits for descriptors, and is tried again, as is the route's own load).
  const models = await fetchWithTimeout(`http://127.0.0.1:${port}/models`, {}, 10_000);
  assert.equal(models.status, 404, server.output());
  assert.equal(((await models.json()) as { code?: string }).code, 'ERR_MULTI_MODEL_DISABLED');
  // The multipart/form-data reader (multer), loaded with the first form.
  const form = new FormData();
  form.set('input', new Blob([JSON.stringify([[5.1, 3.5, 1.4, 0.2]])], { type: 'application/json' }));
  const formAnswer = await fetchWithTimeout(`http://127.0.0.1:${port}/invocations`, { method: 'POST', body: form }, 10_000);
  assert.notEqual(formAnswer.status, 500, await formAnswer.clone().text());
  assert.notEqual(formAnswer.status, 503, await formAnswer.clone().text());
  await formAnswer.arrayBuffer();
  const ping = await fetchWithTimeout(`http://127.0.0.1:${port}/ping`);
  assert.equal(ping.status, 200);
  assert.equal(ping.headers.get('x-smkit-instance-id'), server.instanceId);
});
