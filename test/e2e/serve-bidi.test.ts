/**
 * Bidirectional streaming through a real `smkit serve`, with a real WebSocket client (`ws`): a
 * handler's `bidiFn`, the per-message default of a model without one, the handshake's refusals,
 * flow control both ways, limits, and SIGTERM with a stream open.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import os from 'node:os';
import { REPO_ROOT, makeOptMl, removeDir, runSmkit, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';
import { until, whenSteady } from '../helpers/until.js';

const BIDI_FIXTURE = path.join(REPO_ROOT, 'test/fixtures/handlers/bidi');
const IRIS = path.join(REPO_ROOT, 'models/iris-onnx');
const PATH = '/invocations-bidirectional-stream';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  // No server starts after this: the clean-ups below stop every one started.
  stopping = true;
  await prestarted;
  for (const c of cleanups.reverse()) await c();
});

async function serve(model: string, env: Record<string, string> = {}, handler?: string): Promise<ServeProcess> {
  const base = makeOptMl(model);
  if (handler !== undefined) {
    mkdirSync(path.join(base, 'model', 'code'), { recursive: true });
    writeFileSync(path.join(base, 'model', 'code', 'inference.mjs'), handler);
  }
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env });
  cleanups.push(() => server.stop(), () => removeDir(base));
  await waitForPing(server);
  return server;
}

/** The README's bidiFn example, as printed. */
function readmeBidiExample(): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('// code/inference.mjs: a bidirectional stream');
  assert.ok(start > 0, 'the README has the example');
  return readme.slice(start, readme.indexOf('```', start));
}

/**
 * Every server the tests use, in the order they first use one. Some are shared by tests whose
 * settings can be the same (a start-up less each):
 * - `readme-<mode>`: the README example served in `mode`: its own test and, in thread mode, `smkit
 *   invoke --bidi`'s.
 * - `bidi-<mode>`: the bidi fixture in `mode`, with a 60 s grace and a small SMKIT_BODY_MEMORY_MB:
 *   the body-memory test (inline: after the client-leaves test and the failing clean-up test), then
 *   the SIGTERM test that ends it (the grace is only felt at shutdown; the memory limit only by
 *   messages over it).
 */
const SERVERS = {
  fixture: () => serve(BIDI_FIXTURE),
  'iris-small-payload': () => serve(IRIS, { SAGEMAKER_MAX_PAYLOAD_IN_MB: '1' }),
  // Round-robin hands consecutive connections to alternate workers: a per-worker cap let the second in.
  'one-stream': () => serve(BIDI_FIXTURE, { SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_BIDI_STREAMS_MAX: '1', SMKIT_CONNECTION_BALANCING: 'primary' }),
  'multi-model': () => serve(IRIS, { SAGEMAKER_MULTI_MODEL: 'true' }),
  'readme-thread': () => serve(IRIS, { SMKIT_INFERENCE_MODE: 'thread' }, readmeBidiExample()),
  'readme-inline': () => serve(IRIS, { SMKIT_INFERENCE_MODE: 'inline' }, readmeBidiExample()),
  'bidi-inline': () => bidiFixture('inline'),
  'bidi-thread': () => bidiFixture('thread'),
} satisfies Record<string, () => Promise<ServeProcess>>;
type ServerName = keyof typeof SERVERS;

function bidiFixture(mode: 'thread' | 'inline'): Promise<ServeProcess> {
  return serve(BIDI_FIXTURE, { SMKIT_INFERENCE_MODE: mode, SMKIT_SHUTDOWN_GRACE_SECONDS: '60', SAGEMAKER_MAX_PAYLOAD_IN_MB: '1', SMKIT_BODY_MEMORY_MB: '1.5', SAGEMAKER_MODEL_SERVER_WORKERS: '1' });
}

const started = new Map<ServerName, Promise<ServeProcess>>();
/** The server `name`, started now unless it already was (by a test, or ahead of its tests). */
function serverNamed(name: ServerName): Promise<ServeProcess> {
  let running = started.get(name);
  if (running === undefined) {
    started.set(name, (running = SERVERS[name]()));
    // A start that fails is reported by the test that awaits it, not as an unhandled rejection.
    running.catch(() => {});
  }
  return running;
}

/**
 * Most of a start-up is waiting (for the worker to load its model): the servers are started one at
 * a time, in the order the tests use them, while the tests before run, so most are up by the time
 * their tests come. One at a time, so the tests running meanwhile share the CPU with one start-up
 * at most.
 */
let stopping = false;
let prestarted: Promise<void> = Promise.resolve();
before(() => {
  prestarted = (async () => {
    for (const name of Object.keys(SERVERS) as ServerName[]) {
      if (stopping) return;
      await serverNamed(name).catch(() => {});
    }
  })();
});

const readmeServer = (mode: 'thread' | 'inline') => serverNamed(`readme-${mode}`);
const bidiServer = (mode: 'thread' | 'inline') => serverNamed(`bidi-${mode}`);

/** How many times bidiFn has logged taking a "hold" message (a shared server's earlier tests logged some). */
const holdings = (server: ServeProcess) => server.output().match(/bidi holding/g)?.length ?? 0;

interface Reply {
  data: Buffer;
  binary: boolean;
}

/** A client's side of one stream: its replies as they come, and how it ended. */
interface Stream {
  readonly ws: WebSocket;
  next(): Promise<Reply>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

function open(server: ServeProcess, query = '', headers: Record<string, string> = {}): Promise<Stream> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${PATH}${query}`, { headers });
  const queue: Reply[] = [];
  const waiters: ((r: Reply) => void)[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    const reply = { data, binary };
    const waiter = waiters.shift();
    if (waiter) waiter(reply);
    else queue.push(reply);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        closed,
        next: () =>
          queue.length > 0
            ? Promise.resolve(queue.shift()!)
            : new Promise<Reply>((r, fail) => {
                waiters.push(r);
                void closed.then((c) => fail(new Error(`the stream closed (${c.code} ${c.reason}) before the next reply`)));
              }),
      }),
    );
    ws.once('error', reject);
  });
}

/** A WebSocket handshake sent by hand; the HTTP answer when the server refuses it. */
function handshake(server: ServeProcess, pathAndQuery: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${pathAndQuery}`, {
      method,
      agent: false,
      timeout: 15_000,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      reject(new Error(`the server switched protocols (${res.statusCode})`));
    });
    req.on('timeout', () => req.destroy(new Error('the handshake timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function pingStatus(server: ServeProcess): Promise<number> {
  const res = await fetchWithTimeout(`${server.url}/ping`, {}, 10_000);
  await res.arrayBuffer();
  return res.status;
}

/** The highest `produced` count the endless reply loop has logged (from `from` on in the server's output). */
function produced(server: ServeProcess, from = 0): number {
  let max = 0;
  for (const m of server.output().slice(from).matchAll(/"produced":(\d+)[^\n]*endless bidi reply/g)) max = Math.max(max, Number(m[1]));
  return max;
}

describe('bidirectional streaming with a handler bidiFn', () => {
  let server: ServeProcess;
  before(async () => {
    server = await serverNamed('fixture');
  });

  test('text and binary frames keep their type, replies come in order, ctx has the path, query and headers, and ctx.invoke runs the hooks', async () => {
    const stream = await open(server, '?lang=en&voice=a%20b', { 'X-Amzn-SageMaker-Custom-Attributes': 'trace=1' });
    const opened = await stream.next();
    assert.equal(opened.binary, false);
    assert.deepEqual(JSON.parse(opened.data.toString()), { opened: { path: PATH, query: { lang: 'en', voice: 'a b' }, customAttributes: 'trace=1' } });
    stream.ws.send('hello');
    stream.ws.send(Buffer.from([0, 1, 2, 255]));
    stream.ws.send('predict:[1,2,3.5]');
    stream.ws.send('héllo wörld');
    const echo = await stream.next();
    assert.deepEqual([echo.binary, echo.data.toString()], [false, 'echo: hello']);
    const bytes = await stream.next();
    assert.equal(bytes.binary, true);
    assert.deepEqual([...bytes.data], [0, 1, 2, 255]);
    const predicted = await stream.next();
    assert.deepEqual([predicted.binary, predicted.data.toString()], [false, 'application/json {"sum":6.5}']);
    assert.equal((await stream.next()).data.toString(), 'echo: héllo wörld');
    stream.ws.send('bye');
    assert.deepEqual(await stream.closed, { code: 1000, reason: '' });
    await until('bidiFn finished normally', () => /"aborted":false[^\n]*bidi stream finished/.test(server.output()), { timeoutMs: 10_000 });
    const metrics = await (await fetchWithTimeout(`${server.url}/metrics`)).text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(metrics)?.[1]);
    assert.equal(value('smkit_bidi_messages_total{direction="in"}'), 5);
    assert.equal(value('smkit_bidi_messages_total{direction="out"}'), 5);
    assert.equal(value('smkit_bidi_streams_closed_total{code="1000"}'), 1);
    assert.equal(value('smkit_bidi_streams_open'), 0);
  });

  test("a client's own path (SageMaker's ModelInvocationPath) reaches bidiFn in ctx.path", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/transcribe?model=small`);
    const [opened] = (await once(ws, 'message')) as [Buffer];
    assert.deepEqual(JSON.parse(opened.toString()), { opened: { path: '/v1/transcribe', query: { model: 'small' }, customAttributes: null } });
    ws.close();
    await once(ws, 'close');
  });

  test('a reply bidiFn gives as an async generator goes out in parts, one message: the client reads it joined, then the next reply', async () => {
    const stream = await open(server);
    await stream.next();
    stream.ws.send('parts:one two thrée');
    stream.ws.send('after');
    const joined = await stream.next();
    assert.deepEqual([joined.binary, joined.data.toString()], [false, 'one two thrée ']);
    assert.equal((await stream.next()).data.toString(), 'echo: after');
    stream.ws.close();
    await stream.closed;
  });

  test('a bidiFn error closes the stream with 4000 + its status and the catalogued code; the server keeps serving', async () => {
    const stream = await open(server);
    await stream.next();
    stream.ws.send('boom');
    const closed = await stream.closed;
    assert.equal(closed.code, 4422);
    assert.match(closed.reason, /^ERR_USER_CODE: .*the word boom is not allowed/);
    assert.ok(Buffer.byteLength(closed.reason) <= 123);
    // Logged once, by the front (whose lines are throttled), not a second time by the thread.
    const lines = () => server.output().match(/[^\n]*the word boom is not allowed[^\n]*/g)?.length ?? 0;
    await until('the failure to be logged', () => lines() > 0, { timeoutMs: 10_000 });
    assert.equal(await whenSteady(lines, 500, 5000), 1, server.output().match(/[^\n]*the word boom is not allowed[^\n]*/g)?.join('\n'));
    assert.equal(await pingStatus(server), 200);
    const again = await open(server);
    await again.next();
    again.ws.send('still here?');
    assert.equal((await again.next()).data.toString(), 'echo: still here?');
    again.ws.close();
    await again.closed;
  });

  test('ctx.invoke takes an ArrayBuffer body as bytes; a reply of undefined fails the stream with 4500 ERR_USER_CODE saying so, as such a streamed HTTP chunk fails, not a null text frame', async () => {
    const stream = await open(server);
    await stream.next();
    stream.ws.send('predict-buffer:[1,2]');
    assert.equal((await stream.next()).data.toString(), 'application/json {"sum":3}');
    stream.ws.send('nothing');
    const closed = await stream.closed;
    assert.equal(closed.code, 4500);
    assert.match(closed.reason, /^ERR_USER_CODE: bidiFn/);
    await until('the failure to be logged', () => /bidiFn replied undefined, which JSON has no text for/.test(server.output()), { timeoutMs: 10_000 });
  });

  test('a client that leaves ends bidiFn: its ctx.signal aborts', async () => {
    const before = server.output().match(/"aborted":true[^\n]*bidi stream finished/g)?.length ?? 0;
    const stream = await open(server);
    await stream.next();
    const holding = server.output().match(/bidi holding/g)?.length ?? 0;
    stream.ws.send('hold');
    await until('bidiFn to take the message', () => (server.output().match(/bidi holding/g)?.length ?? 0) > holding, { timeoutMs: 10_000 });
    stream.ws.terminate();
    await until('bidiFn ended with its signal aborted', () => (server.output().match(/"aborted":true,"reason":"ERR_CLIENT_GONE"[^\n]*bidi stream finished/g)?.length ?? 0) > before, { timeoutMs: 10_000 });
  });

  test("a client that breaks the protocol ends bidiFn too, and its ctx.signal's reason says how (a message over the limit: ERR_PAYLOAD_TOO_LARGE)", async () => {
    const finished = () => server.output().match(/"aborted":true,"reason":"ERR_PAYLOAD_TOO_LARGE"[^\n]*bidi stream finished/g)?.length ?? 0;
    const before = finished();
    const stream = await open(server);
    await stream.next();
    const holding = server.output().match(/bidi holding/g)?.length ?? 0;
    stream.ws.send('hold');
    await until('bidiFn to take the message', () => (server.output().match(/bidi holding/g)?.length ?? 0) > holding, { timeoutMs: 10_000 });
    // This server has the default SAGEMAKER_MAX_PAYLOAD_IN_MB, 6.
    stream.ws.send(Buffer.alloc(6 * 1024 * 1024 + 1, 0x31));
    assert.equal((await stream.closed).code, 1009);
    await until('bidiFn ended with the reason', () => finished() > before, { timeoutMs: 10_000, detail: () => server.output().split('\n').filter((l) => l.includes('bidi stream finished')).join('\n') });
  });

  test('a client that stops reading holds bidiFn back, and leaving ends it', async () => {
    const stream = await open(server);
    await stream.next();
    // The client reads nothing more: its socket stops, so the server's writes back up.
    (stream.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    stream.ws.send('endless:64');
    // Bounded by the kernel's socket buffers plus the window of replies in flight, not by time: an
    // unbounded producer makes thousands of 64 KB replies within seconds.
    // Steady means no new line for 1.5 s: the producer's first line must be there before that counts.
    await until('bidiFn to start producing', () => produced(server) > 0, { timeoutMs: 30_000 });
    const steady = await whenSteady(() => produced(server), 1500, 30_000);
    assert.ok(steady > 0 && steady < 200, `bidiFn made ${steady} replies while the client was not reading`);
    const finishedBefore = server.output().match(/bidi stream finished/g)?.length ?? 0;
    stream.ws.terminate();
    await until('bidiFn ended once the client left', () => (server.output().match(/bidi stream finished/g)?.length ?? 0) > finishedBefore, { timeoutMs: 10_000 });
    assert.equal(await pingStatus(server), 200);
  });

  test('a client that sends faster than bidiFn reads is held back by its own connection', async () => {
    const stream = await open(server);
    await stream.next();
    stream.ws.send('hold');
    const chunk = Buffer.alloc(256 * 1024, 0x62);
    // 64 MB: far more than the loopback buffers and the server's few messages in hand hold.
    for (let i = 0; i < 256; i++) stream.ws.send(chunk);
    const backlog = await whenSteady(() => stream.ws.bufferedAmount, 1000, 30_000);
    assert.ok(backlog > 8 * 1024 * 1024, `the client could hand over all but ${backlog} bytes: the server kept reading messages nobody took`);
    stream.ws.terminate();
    assert.equal(await pingStatus(server), 200);
  });

  test('SIGTERM closes an open stream with 1001 (going away), and the server exits', async () => {
    const stream = await open(server);
    await stream.next();
    server.child.kill('SIGTERM');
    const closed = await stream.closed;
    assert.equal(closed.code, 1001);
    assert.match(closed.reason, /^ERR_SHUTTING_DOWN/);
    const exit = await server.exited;
    assert.equal(exit.code, 0);
  });
});

describe('bidirectional streaming of a model without bidiFn: one invocation per message', () => {
  let server: ServeProcess;
  before(async () => {
    server = await serverNamed('iris-small-payload');
  });

  test('JSON text messages get JSON text answers in order; the query string picks CSV', async () => {
    const stream = await open(server);
    stream.ws.send('[[5.1,3.5,1.4,0.2]]');
    stream.ws.send('{"instances":[[6.3,3.3,6.0,2.5]]}');
    const first = await stream.next();
    assert.equal(first.binary, false);
    const setosa = JSON.parse(first.data.toString()) as number[][];
    assert.equal(setosa[0]!.indexOf(Math.max(...setosa[0]!)), 0);
    const second = JSON.parse((await stream.next()).data.toString()) as { predictions: number[][] };
    assert.equal(second.predictions[0]!.indexOf(Math.max(...second.predictions[0]!)), 2);
    stream.ws.close(1000);
    assert.equal((await stream.closed).code, 1000);

    const csv = await open(server, '?content-type=text%2Fcsv&accept=text%2Fcsv');
    csv.ws.send('5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5');
    const rows = (await csv.next()).data.toString().trim().split('\n');
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.split(',').length, 3);
    csv.ws.close();
    await csv.closed;
  });

  test('a message that fails closes the stream with 4000 + its status and code; the server keeps serving', async () => {
    const stream = await open(server);
    stream.ws.send('[[5.1,3.5,1.4,0.2]]');
    await stream.next();
    stream.ws.send('{"instances": [[1,2,3,4]');
    const closed = await stream.closed;
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /^ERR_JSON_PARSE: /);
    const wrongShape = await open(server);
    wrongShape.ws.send('[[1,2]]');
    const refused = await wrongShape.closed;
    assert.equal(refused.code, 4400);
    assert.match(refused.reason, /^ERR_INPUT_MISMATCH: /);
    assert.equal(await pingStatus(server), 200);
  });

  test('a message over SAGEMAKER_MAX_PAYLOAD_IN_MB closes the stream with 1009 (too big); the server keeps serving', async () => {
    const stream = await open(server);
    stream.ws.send(Buffer.alloc(1024 * 1024 + 1, 0x31));
    assert.equal((await stream.closed).code, 1009);
    const next = await open(server);
    next.ws.send('[[5.1,3.5,1.4,0.2]]');
    assert.equal((await next.next()).binary, false);
    next.ws.close();
    await next.closed;
  });

  test('smkit invoke --bidi sends each input line as a message and prints each answer; a failed stream exits non-zero with its close code', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-bidi-cli-'));
    cleanups.push(() => removeDir(dir));
    const lines = path.join(dir, 'rows.csv');
    writeFileSync(lines, '5.1,3.5,1.4,0.2\n\n6.3,3.3,6.0,2.5\n');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    const ok = await runSmkit(['invoke', '--bidi', server.url, '--file', lines, '--content-type', 'text/csv', '--idle', '2'], env);
    assert.equal(ok.code, 0, ok.stderr);
    const answers = ok.stdout.trim().split('\n').map((l) => JSON.parse(l) as number[][]);
    assert.equal(answers.length, 2);
    assert.deepEqual(answers.map((a) => a[0]!.indexOf(Math.max(...a[0]!))), [0, 2]);
    writeFileSync(lines, '5.1,3.5,1.4,0.2\nnot,a,number,row\n');
    // A long idle time: the server's 4400 close, not the client's idle timer, must end this one.
    const failed = await runSmkit(['invoke', '--bidi', server.url, '--file', lines, '--content-type', 'text/csv', '--idle', '30'], env);
    assert.notEqual(failed.code, 0);
    assert.equal(failed.stdout.trim().split('\n').length, 1, 'the first answer was printed');
    assert.match(failed.stderr, /4400: ERR_CSV_PARSE/);
  });

  test('a message in more than 16 384 fragments closes the stream with 1008, a text message that is not UTF-8 with 1007, any other breach of RFC 6455 with 1002', async () => {
    const stream = await open(server);
    const one = Buffer.from('1');
    for (let i = 0; i < 20_000 && stream.ws.readyState === WebSocket.OPEN; i++) stream.ws.send(one, { fin: false, binary: true });
    assert.equal((await stream.closed).code, 1008);
    const notUtf8 = await open(server);
    notUtf8.ws.send(Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), { binary: false });
    assert.equal((await notUtf8.closed).code, 1007, 'a text frame that is not UTF-8');
    // A close frame with 1005, a code no endpoint may send (RFC 6455, section 7.4.1), written under ws (which refuses to send it).
    const badClose = await open(server);
    (badClose.ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed]));
    assert.equal((await badClose.closed).code, 1002, 'a close code no endpoint may send');
    assert.equal(await pingStatus(server), 200);
  });

  test('handshakes it cannot take get a catalogued JSON error and no switch', async () => {
    const wrongPath = await handshake(server, '/invocations', {});
    assert.equal(wrongPath.status, 404);
    assert.equal(JSON.parse(wrongPath.body).code, 'ERR_NOT_FOUND');
    assert.match(JSON.parse(wrongPath.body).message, /invocations-bidirectional-stream/);
    const oldVersion = await handshake(server, PATH, { 'Sec-WebSocket-Version': '8' });
    assert.equal(oldVersion.status, 426);
    assert.equal(oldVersion.headers['sec-websocket-version'], '13');
    assert.equal(JSON.parse(oldVersion.body).code, 'ERR_BAD_REQUEST');
    const badKey = await handshake(server, PATH, { 'Sec-WebSocket-Key': 'not base64 of 16 bytes' });
    assert.equal(badKey.status, 400);
    assert.equal(JSON.parse(badKey.body).code, 'ERR_BAD_REQUEST');
    const post = await handshake(server, PATH, {}, 'POST');
    assert.equal(post.status, 405);
    assert.equal(JSON.parse(post.body).code, 'ERR_METHOD_NOT_ALLOWED');
    assert.equal(post.headers['allow'], 'GET', 'a 405 lists the methods the resource takes (RFC 9110 §15.5.6)');
    assert.equal(await pingStatus(server), 200);
  });

  test('an Upgrade that is not WebSocket (curl --http2 sends h2c) is served as a plain request where Node allows it', async () => {
    const answer = await handshake(server, '/ping', { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA' });
    const major = Number(process.versions.node.split('.')[0]);
    if (major >= 22) {
      // shouldUpgradeCallback (Node 24.9+; on Node 22, checked on 22.23.5, the version CI runs): node:http serves it as the request it is.
      assert.equal(answer.status, 200);
      assert.equal(JSON.parse(answer.body).status, 'Healthy');
    } else {
      // Node 20 hands every Upgrade over: it gets a catalogued refusal, never a dropped connection.
      assert.equal(answer.status, 400);
      assert.equal(JSON.parse(answer.body).code, 'ERR_BAD_REQUEST');
    }
  });
});

test('SMKIT_BIDI_STREAMS_MAX holds for the whole server, not each worker: with 2 workers and a cap of 1, every other handshake gets 503 ERR_TOO_MANY_STREAMS with Retry-After, and one opens once the stream has closed', async () => {
  const server = await serverNamed('one-stream');
  // One worker answers /ping as soon as its model is ready; the other may still be loading (503 ERR_NOT_READY).
  await until('both workers ready', () => /ready: listening/.test(server.output()), { timeoutMs: 30_000 });
  const first = await open(server);
  assert.match((await first.next()).data.toString(), /opened/);
  for (let i = 0; i < 4; i++) {
    const refused = await handshake(server, PATH, {});
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(JSON.parse(refused.body).code, 'ERR_TOO_MANY_STREAMS');
    assert.match(JSON.parse(refused.body).message, /this server already holds SMKIT_BIDI_STREAMS_MAX=1 bidirectional streams/);
  }
  first.ws.close();
  await first.closed;
  // The slot is given back once the server's side of the connection has closed too.
  const next = await until('a handshake to open once the stream has closed', () => open(server).catch(() => undefined), { timeoutMs: 10_000 });
  next.ws.send('hello');
  assert.match((await next.next()).data.toString(), /opened/);
  next.ws.close();
  await next.closed;
});

test('a multi-model endpoint serves no bidirectional streams: 404 with what to call instead', async () => {
  const server = await serverNamed('multi-model');
  const answer = await handshake(server, PATH, {});
  assert.equal(answer.status, 404);
  assert.match(JSON.parse(answer.body).message, /\/models\/\{name\}\/invoke/);
});

for (const mode of ['thread', 'inline'] as const) {
  test(`the README's bidiFn example works as printed (${mode})`, async () => {
    const server = await readmeServer(mode);
    const stream = await open(server);
    stream.ws.send('5.1,3.5,1.4,0.2');
    stream.ws.send('6.3,3.3,6.0,2.5');
    stream.ws.send('done');
    const argmax = (p: number[]) => p.indexOf(Math.max(...p));
    const first = JSON.parse((await stream.next()).data.toString()) as { row: number; probabilities: number[] };
    assert.deepEqual([first.row, first.probabilities.length, argmax(first.probabilities)], [1, 3, 0]);
    const second = JSON.parse((await stream.next()).data.toString()) as { row: number; probabilities: number[] };
    assert.deepEqual([second.row, argmax(second.probabilities)], [2, 2]);
    const summary = await stream.next();
    assert.deepEqual([summary.binary, summary.data.toString()], [false, 'rows: 2']);
    assert.equal((await stream.closed).code, 1000);
  });
}

test('smkit invoke --bidi exits once the container closes the stream, though its input is still open (lines typed at a terminal)', async () => {
  const server = await readmeServer('thread');
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/smkit.js'), 'invoke', '--bidi', server.url, '--idle', '60'], { stdio: ['pipe', 'pipe', 'pipe'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close', not 'exit': stdout may still hold the last reply at 'exit'.
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // "done" makes the example's bidiFn answer a summary and end the stream; stdin stays open.
  child.stdin!.write('5.1,3.5,1.4,0.2\ndone\n');
  const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())]);
  assert.equal(code, 0, `exit ${String(code)}; stdout: ${stdout}; stderr: ${stderr}`);
  const lines = stdout.trim().split('\n');
  assert.deepEqual([lines.length, (JSON.parse(lines[0]!) as { row: number }).row, lines[1]], [2, 1, 'rows: 1']);
  child.stdin!.destroy();
});

test('inline (SMKIT_INFERENCE_MODE=inline), bidiFn runs on the HTTP thread the same way: a client that leaves aborts its signal', async () => {
  const server = await bidiServer('inline');
  const stream = await open(server);
  await stream.next();
  stream.ws.send(Buffer.from([7, 8]));
  assert.deepEqual([...(await stream.next()).data], [7, 8]);
  stream.ws.send('hold');
  await until('bidiFn to take the message', () => /bidi holding/.test(server.output()), { timeoutMs: 10_000 });
  stream.ws.terminate();
  await until('bidiFn ended with its signal aborted', () => /"aborted":true[^\n]*bidi stream finished/.test(server.output()), { timeoutMs: 10_000 });
  assert.equal(await pingStatus(server), 200);
});

test('inline: a bidiFn whose finally throws when its client leaves mid-reply is logged, and the worker keeps serving its other streams', async () => {
  // The inline server (one worker) of the tests around: the fixture's finally throws for a stream opened with ?cleanup=throw.
  const server = await bidiServer('inline');
  const loggedBefore = server.output().length;
  const since = () => server.output().slice(loggedBefore);
  const echo = await open(server);
  await echo.next();
  echo.ws.send('one');
  assert.equal((await echo.next()).data.toString(), 'echo: one');
  const flood = await open(server, '?cleanup=throw');
  await flood.next();
  // Not reading: bidiFn comes to wait at its yield (it makes no more replies), then the client leaves.
  (flood.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  flood.ws.send('endless:64');
  await until('bidiFn to start producing', () => produced(server, loggedBefore) > 0, { timeoutMs: 30_000 });
  await whenSteady(() => produced(server, loggedBefore), 500, 10_000);
  flood.ws.terminate();
  await until('bidiFn to run its finally', () => /bidi cleanup failing/.test(since()), { timeoutMs: 10_000 });
  echo.ws.send('two');
  assert.equal((await echo.next()).data.toString(), 'echo: two', 'the other stream of the same worker is still open');
  await until('the failure to be logged', () => /bidiFn failed while it was being stopped/.test(since()), { timeoutMs: 10_000 });
  echo.ws.close();
  await echo.closed;
});

for (const mode of ['thread', 'inline'] as const) {
  test(`messages a stream received and its bidiFn has not taken share SMKIT_BODY_MEMORY_MB with request bodies: a stream past it is closed with 4503 (${mode})`, async () => {
    const server = await bidiServer(mode);
    const held = async () => Number(/^smkit_request_body_bytes (\d+)/m.exec(await (await fetchWithTimeout(`${server.url}/metrics`)).text())?.[1] ?? NaN);
    const message = Buffer.alloc(600 * 1024, 0x62);
    const a = await open(server);
    await a.next();
    // A message bidiFn has taken (and echoed) no longer counts.
    a.ws.send(message);
    assert.equal((await a.next()).data.length, message.length);
    await until('the echoed message given back', async () => (await held()) < 64 * 1024, { timeoutMs: 15_000 });
    const holdingBefore = holdings(server);
    a.ws.send('hold');
    await until('bidiFn to take the message', () => holdings(server) > holdingBefore, { timeoutMs: 10_000 });
    a.ws.send(message);
    a.ws.send(message);
    await until('the two unread messages held', async () => (await held()) >= 2 * 600 * 1024 - 64 * 1024, { timeoutMs: 15_000 });

    const b = await open(server);
    await b.next();
    b.ws.send(message);
    const closed = await b.closed;
    assert.equal(closed.code, 4503);
    assert.match(closed.reason, /SMKIT_BODY_MEMORY_MB/);
    assert.equal(await pingStatus(server), 200);

    a.ws.terminate();
    await until('every byte given back', async () => (await held()) === 0, { timeoutMs: 15_000 });
  });
}

for (const mode of ['thread', 'inline'] as const) {
  test(`SIGTERM ends bidiFn at once (${mode}), even for a client that stopped reading: shutdown does not wait its grace`, async () => {
    const server = await bidiServer(mode);
    const stream = await open(server);
    await stream.next();
    // The inline server's earlier test ran an endless reply loop too: only this stream's count.
    const producedFrom = server.output().length;
    stream.ws.send('endless:64');
    await stream.next();
    // The client stops reading: the server's replies (and its close frame) pile up unread.
    (stream.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await whenSteady(() => produced(server, producedFrom), 500, 10_000);
    // Only what is logged from here on: the inline server's earlier test logged a finished bidiFn too.
    const loggedBefore = server.output().length;
    const started = Date.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const took = Date.now() - started;
    assert.equal(exit.code, 0);
    assert.ok(took < 30_000, `shutdown took ${took} ms with the grace at 60 s`);
    assert.match(server.output().slice(loggedBefore), /"aborted":true[^\n]*bidi stream finished/, "bidiFn's finally ran with its signal aborted");
    stream.ws.terminate();
  });
}
