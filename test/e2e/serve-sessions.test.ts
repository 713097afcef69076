/** Stateful sessions through a real `smkit serve` of two workers, and in-process for a model without user code. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { REPO_ROOT, makeOptMl, removeDir, runSmkit, startServe, waitForPing, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { IN_PROCESS_SETTINGS, serveModelInProcess, type InProcessApp } from '../helpers/in-process-app.js';

/** `NewSessionId`'s pattern in the SageMaker Runtime API model. */
const NEW_SESSION_ID = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*;\sExpires=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** POSTs on a connection of its own (no keep-alive), so the primary hands each request to the next worker. */
function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/invocations`, { method: 'POST', agent: false, headers: { 'Content-Type': 'text/plain', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('stateful sessions, smkit serve with two workers', () => {
  let server: ServeProcess;
  let base: string;
  let sessions: string;
  before(async () => {
    base = makeOptMl();
    cpSync(path.join(REPO_ROOT, 'test/fixtures/handlers/session-counter'), path.join(base, 'model'), { recursive: true });
    sessions = path.join(base, 'sessions');
    server = await startServe({
      SAGEMAKER_BASE_DIR: base,
      SAGEMAKER_MODEL_SERVER_WORKERS: '2',
      SMKIT_CONNECTION_BALANCING: 'primary',
      SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true',
      SAGEMAKER_SESSIONS_PATH: sessions,
    });
    await waitForPing(server);
    // /ping proves one worker ready; the round-robin test needs both listening (logged once all are).
    await until('both workers to listen', () => /ready: listening/.test(server.output()), { timeoutMs: 60_000 });
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  test('a session opened with {"requestType": "NEW_SESSION"} keeps its state across workers until the client closes it', async () => {
    const opened = await post(server.url, '{"requestType": "NEW_SESSION"}', { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
    assert.equal(opened.status, 200, opened.body);
    const newId = String(opened.headers['x-amzn-sagemaker-new-session-id']);
    assert.match(newId, NEW_SESSION_ID);
    assert.equal(opened.headers['x-amzn-sagemaker-session-id'], newId);
    const id = newId.split(';')[0]!;
    assert.equal(opened.body, `Session ${id} created`);

    const pids = new Set<number>();
    for (let n = 1; n <= 6; n++) {
      const res = await post(server.url, 'hello', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(res.status, 200, res.body);
      const seen = JSON.parse(res.body) as { session: string; count: number; pid: number };
      assert.deepEqual([seen.session, seen.count], [id, n]);
      assert.equal(res.headers['x-amzn-sagemaker-new-session-id'], undefined, 'only the request that opens a session names it');
      pids.add(seen.pid);
    }
    assert.equal(pids.size, 2, 'round-robin handed the session to both workers, and both saw its state');

    const closed = await post(server.url, '{"requestType":"CLOSE"}', { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Session-Id': id });
    assert.equal(closed.status, 200, closed.body);
    assert.equal(closed.headers['x-amzn-sagemaker-closed-session-id'], id);
    assert.equal(existsSync(path.join(sessions, id)), false, 'its folder is gone');
    const after = await post(server.url, 'hello', { 'X-Amzn-SageMaker-Session-Id': id });
    assert.equal(after.status, 400);
    assert.equal((JSON.parse(after.body) as { code: string }).code, 'ERR_SESSION_NOT_FOUND');
  });

  test('NEW_SESSION on an inference opens a session for it; user code closes it with context.session.close()', async () => {
    const first = await post(server.url, 'hi', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
    assert.equal(first.status, 200, first.body);
    const newId = String(first.headers['x-amzn-sagemaker-new-session-id']);
    assert.match(newId, NEW_SESSION_ID);
    const seen = JSON.parse(first.body) as { session: string; count: number; expiresAt: string };
    assert.equal(seen.count, 1);
    assert.equal(newId, `${seen.session}; Expires=${seen.expiresAt.replace(/\.\d{3}Z$/, 'Z')}`);
    const bye = await post(server.url, 'bye', { 'X-Amzn-SageMaker-Session-Id': seen.session });
    assert.equal(bye.status, 200, bye.body);
    assert.equal((JSON.parse(bye.body) as { count: number }).count, 2);
    assert.equal(bye.headers['x-amzn-sagemaker-closed-session-id'], seen.session);
    assert.equal(existsSync(path.join(sessions, seen.session)), false);
  });

  test("a session whose files cannot be read is the sessions folder's 424 ERR_SESSION_STORAGE, not the handler's 500, and the session is kept", async () => {
    const first = await post(server.url, 'hi', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
    assert.equal(first.status, 200, first.body);
    const id = String(first.headers['x-amzn-sagemaker-new-session-id']).split(';')[0]!;
    // The handler's stored count cannot be read (EISDIR here, as EMFILE or EIO would fail it).
    const value = path.join(sessions, id, 'count.json');
    rmSync(value);
    mkdirSync(value);
    const failed = await post(server.url, 'hello', { 'X-Amzn-SageMaker-Session-Id': id });
    assert.equal(failed.status, 424, failed.body);
    const error = JSON.parse(failed.body) as { code: string; message: string };
    assert.equal(error.code, 'ERR_SESSION_STORAGE');
    assert.match(error.message, /could not read session value "count"/);
    // Nor can its expiry: the same answer, and the session stays (a CLOSE cannot find out it is open either).
    const expiry = path.join(sessions, id, '.expires');
    const expiresAt = readFileSync(expiry, 'utf8');
    rmSync(expiry);
    mkdirSync(expiry);
    const unreadable = await post(server.url, 'hello', { 'X-Amzn-SageMaker-Session-Id': id });
    assert.equal(unreadable.status, 424, unreadable.body);
    assert.equal((JSON.parse(unreadable.body) as { code: string }).code, 'ERR_SESSION_STORAGE');
    assert.equal(existsSync(path.join(sessions, id)), true);
    // Readable again, it closes as any session.
    rmSync(expiry, { recursive: true });
    writeFileSync(expiry, expiresAt);
    const closed = await post(server.url, '{"requestType":"CLOSE"}', { 'Content-Type': 'application/json', 'X-Amzn-SageMaker-Session-Id': id });
    assert.equal(closed.status, 200, closed.body);
    assert.equal(existsSync(path.join(sessions, id)), false);
  });

  test('smkit invoke --session-id opens a session, continues it, and reports its close on stderr', async () => {
    const hi = path.join(base, 'hi.txt');
    const bye = path.join(base, 'bye.txt');
    writeFileSync(hi, 'hi');
    writeFileSync(bye, 'bye');
    const args = (file: string, session: string) => ['invoke', server.url, '--file', file, '--content-type', 'text/plain', '--session-id', session];
    const opened = await runSmkit(args(hi, 'NEW_SESSION'), process.env);
    assert.equal(opened.code, 0, opened.stderr);
    const m = /session opened: ([0-9a-f-]+); Expires=\S+Z \(send --session-id \1 from now on\)/.exec(opened.stderr);
    assert.ok(m, opened.stderr);
    const closed = await runSmkit(args(bye, m[1]!), process.env);
    assert.equal(closed.code, 0, closed.stderr);
    assert.equal((JSON.parse(closed.stdout) as { count: number }).count, 2);
    assert.match(closed.stderr, new RegExp(`session closed: ${m[1]}`));
  });

  test('a CLOSE racing many requests of its session: each gets 200 or 400 ERR_SESSION_NOT_FOUND, never a 500, and /ping answers', async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 8; round++) {
      const opened = await post(server.url, '{"requestType":"NEW_SESSION"}', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
      const id = String(opened.headers['x-amzn-sagemaker-new-session-id']).split(';')[0]!;
      const racing = Array.from({ length: 30 }, (_, i) => post(server.url, i === 15 ? 'bye' : 'hello', { 'X-Amzn-SageMaker-Session-Id': id }));
      racing.push(post(server.url, '{"requestType":"CLOSE"}', { 'X-Amzn-SageMaker-Session-Id': id }));
      for (const res of await Promise.all(racing)) {
        const outcome = res.status === 200 ? '200' : `${res.status} ${(JSON.parse(res.body) as { code: string }).code}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      assert.equal(existsSync(path.join(sessions, id)), false, 'the session is gone');
    }
    assert.deepEqual([...outcomes.keys()].filter((o) => o !== '200' && o !== '400 ERR_SESSION_NOT_FOUND'), [], JSON.stringify([...outcomes]));
    assert.deepEqual(readdirSync(sessions).filter((n) => n.startsWith('.')), [], 'no closed folder is left behind');
    const ping = await fetch(`${server.url}/ping`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(ping.status, 200);
  });

  test('hostile session ids get 400 and write nothing; requests without a session are untouched', async () => {
    const before = readdirSync(sessions).sort();
    for (const id of ['../../etc', 'a/b', 'x'.repeat(300), '-x']) {
      const res = await post(server.url, 'hello', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(res.status, 400, id);
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'ERR_SESSION_NOT_FOUND');
    }
    const bad = await post(server.url, '{"requestType":"DELETE"}', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
    assert.equal(bad.status, 400);
    assert.deepEqual(readdirSync(sessions).sort(), before);
    const plain = await post(server.url, 'hello', {});
    assert.deepEqual(JSON.parse(plain.body).session, null);
  });
});

for (const mode of ['inline', 'thread'] as const) {
  describe(`stateful sessions and streamed answers, SMKIT_INFERENCE_MODE=${mode}`, () => {
    let server: ServeProcess;
    let base: string;
    let sessions: string;
    before(async () => {
      base = makeOptMl();
      cpSync(path.join(REPO_ROOT, 'test/fixtures/handlers/session-stream'), path.join(base, 'model'), { recursive: true });
      sessions = path.join(base, 'sessions');
      server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_INFERENCE_MODE: mode, SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true', SAGEMAKER_SESSIONS_PATH: sessions });
      await waitForPing(server);
    });
    after(async () => {
      await server.stop();
      removeDir(base);
    });

    const open = async (): Promise<string> => {
      const opened = await post(server.url, '{"requestType":"NEW_SESSION"}', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
      assert.equal(opened.status, 200, opened.body);
      return String(opened.headers['x-amzn-sagemaker-new-session-id']).split(';')[0]!;
    };

    test('close() before the stream is returned: the stream still runs in the session, which goes once it ends', async () => {
      const id = await open();
      const res = await post(server.url, 'close-first', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, 'first-0\nfirst-1\nfirst-2\nrecorded 3\n', 'every chunk was stored in the session while it streamed');
      assert.equal(res.headers['x-amzn-sagemaker-closed-session-id'], id);
      await until('the closed session is removed', () => !existsSync(path.join(sessions, id)));
      const after = await post(server.url, 'more', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(after.status, 400);
    });

    test('a stream that fails before its first chunk: an error answer naming no session, and none left behind', async () => {
      // Session folders only: a closed one being removed (a dot name) may still be there from the test before.
      const sessionFolders = () => readdirSync(sessions).filter((n) => !n.startsWith('.')).sort().join();
      const before = sessionFolders();
      const opened = await post(server.url, 'fail-early', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
      assert.equal(opened.status, 422, opened.body);
      assert.deepEqual(
        ['x-amzn-sagemaker-new-session-id', 'x-amzn-sagemaker-session-id', 'x-amzn-sagemaker-closed-session-id'].map((h) => opened.headers[h]),
        [undefined, undefined, undefined],
      );
      await until('the session opened for the failed request is removed', () => sessionFolders() === before, { detail: () => JSON.stringify({ before, now: sessionFolders() }) });
    });

    test('a stream that fails before its first chunk after close() is an error answer that closes nothing: the session stays open, as after a whole answer that fails', async () => {
      const id = await open();
      for (const body of ['fail-early', 'close-then-fail']) {
        const failed = await post(server.url, body, { 'X-Amzn-SageMaker-Session-Id': id });
        assert.equal(failed.status, 422, failed.body);
        assert.equal(failed.headers['x-amzn-sagemaker-closed-session-id'], undefined);
        // Before, the session was removed all the same: the client, told nothing of a close, got
        // 400 ERR_SESSION_NOT_FOUND on its next request.
        const next = await post(server.url, 'open', { 'X-Amzn-SageMaker-Session-Id': id });
        assert.equal(next.status, 200, `after ${body}: ${next.body}`);
        assert.match(next.body, /^open-0\nopen-1\nopen-2\nrecorded \d+\n$/);
      }
      assert.equal(existsSync(path.join(sessions, id)), true);
    });

    test('a stream closed in its body whose first chunk comes only once its client left closes nothing: nobody got its answer', async () => {
      const id = await open();
      const dir = path.join(sessions, id);
      const leaving = new AbortController();
      const answer = fetch(`${server.url}/invocations`, { method: 'POST', body: 'close-then-wait', headers: { 'Content-Type': 'text/plain', 'X-Amzn-SageMaker-Session-Id': id }, signal: leaving.signal });
      await until('the stream to close its session and wait', () => existsSync(path.join(dir, 'waiting.json')));
      leaving.abort();
      await assert.rejects(answer);
      // The generator's chunk comes once ctx.signal aborts; its end runs before the session would go.
      // Before, the session was removed all the same, as if that chunk had been sent: the next request got 400.
      await until('the stream to be stopped', () => existsSync(path.join(dir, 'stopped.json')));
      const next = await post(server.url, 'open', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(next.status, 200, next.body);
      assert.equal(existsSync(dir), true);
    });

    test('a whole answer closed by its handler that is ready only once its client left closes nothing, as a stream\'s does: nobody got its answer', async () => {
      const id = await open();
      const dir = path.join(sessions, id);
      const leaving = new AbortController();
      const answer = fetch(`${server.url}/invocations`, { method: 'POST', body: 'whole-close-then-wait', headers: { 'Content-Type': 'text/plain', 'X-Amzn-SageMaker-Session-Id': id }, signal: leaving.signal });
      await until('the handler to close its session and wait', () => existsSync(path.join(dir, 'waiting.json')));
      leaving.abort();
      await assert.rejects(answer);
      await until('the handler to answer', () => existsSync(path.join(dir, 'stopped.json')));
      // Before, the session was removed once the answer nobody read was ready: the next request got 400.
      const next = await post(server.url, 'open', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(next.status, 200, next.body);
      assert.equal(existsSync(dir), true);
    });

    test('close() while the stream runs ends the session with the stream (no header: it left with the first chunk)', async () => {
      const id = await open();
      const kept = await post(server.url, 'open', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(kept.body, 'open-0\nopen-1\nopen-2\nrecorded 3\n');
      assert.equal(existsSync(path.join(sessions, id)), true, 'a stream that does not close keeps its session');
      const res = await post(server.url, 'close-late', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, 'first\nlate-0\nlate-1\nlate-2\nrecorded 6\n');
      await until('the session closed part way through the stream is removed', () => !existsSync(path.join(sessions, id)));
      const after = await post(server.url, 'open', { 'X-Amzn-SageMaker-Session-Id': id });
      assert.equal(after.status, 400, after.body);
      assert.equal((JSON.parse(after.body) as { code: string }).code, 'ERR_SESSION_NOT_FOUND');
    });
  });
}

describe('stateful sessions and dynamic batching (predictBatchFn, SMKIT_BATCH_MAX_SIZE)', () => {
  let server: ServeProcess;
  let base: string;
  let sessions: string;
  before(async () => {
    base = makeOptMl();
    cpSync(path.join(REPO_ROOT, 'test/fixtures/handlers/session-batch'), path.join(base, 'model'), { recursive: true });
    sessions = path.join(base, 'sessions');
    server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '1', SMKIT_BATCH_MAX_SIZE: '8', SAGEMAKER_ENABLE_STATEFUL_SESSIONS: 'true', SAGEMAKER_SESSIONS_PATH: sessions });
    await waitForPing(server);
  });
  after(async () => {
    await server.stop();
    removeDir(base);
  });

  test('requests batched together each run in their own session, and a close() closes only its own', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const opened = await post(server.url, '{"requestType":"NEW_SESSION"}', { 'X-Amzn-SageMaker-Session-Id': 'NEW_SESSION' });
      ids.push(String(opened.headers['x-amzn-sagemaker-new-session-id']).split(';')[0]!);
    }
    const counts = ids.map(() => 0);
    let largest = 0;
    // Concurrency decides how batches form; send waves until one request shared a call.
    await until('two requests of different sessions batched together', async () => {
      const answers = await Promise.all(ids.map((id, i) => post(server.url, `${i},0\n`, { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Session-Id': id })));
      answers.forEach((res, i) => {
        assert.equal(res.status, 200, res.body);
        const seen = JSON.parse(res.body) as { session: string; count: number; batch: number };
        counts[i]! += 1;
        assert.deepEqual([seen.session, seen.count], [ids[i], counts[i]], 'each request saw its own session');
        largest = Math.max(largest, seen.batch);
      });
      return largest >= 2;
    });
    const last = await Promise.all(ids.map((id, i) => post(server.url, `${i},${i % 2}\n`, { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Session-Id': id })));
    last.forEach((res, i) => assert.equal(res.headers['x-amzn-sagemaker-closed-session-id'], i % 2 === 1 ? ids[i] : undefined, `request ${i}`));
    assert.deepEqual(
      ids.map((id) => existsSync(path.join(sessions, id))),
      ids.map((_, i) => i % 2 === 0),
      'only the sessions whose requests called close() are gone',
    );
  });
});

describe('stateful sessions in-process, a model without user code', () => {
  let served: InProcessApp;
  let root: string;
  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-app-'));
    served = await serveModelInProcess(path.join(REPO_ROOT, 'models/iris-onnx'), { ...IN_PROCESS_SETTINGS, sessions: { path: root, ttlSeconds: 60, max: 2 } });
  });
  after(async () => {
    await served.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('an inference opens a session, runs in it, and a failed one leaves no session behind', async () => {
    const opened = await request(served.app).post('/invocations').set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Session-Id', 'NEW_SESSION').send('5.1,3.5,1.4,0.2');
    assert.equal(opened.status, 200, opened.text);
    const id = String(opened.headers['x-amzn-sagemaker-new-session-id']).split(';')[0]!;
    assert.deepEqual(readdirSync(root), [id]);
    const again = await request(served.app).post('/invocations').set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Session-Id', id).send('5.1,3.5,1.4,0.2');
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, opened.body);
    const failed = await request(served.app).post('/invocations').set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Session-Id', 'NEW_SESSION').send('not,numbers');
    assert.equal(failed.status, 400);
    assert.equal(failed.headers['x-amzn-sagemaker-new-session-id'], undefined);
    assert.deepEqual(readdirSync(root), [id], 'the session opened for the failed request was removed');
    await request(served.app).post('/invocations').set('Content-Type', 'application/json').set('X-Amzn-SageMaker-Session-Id', 'NEW_SESSION').send('{"requestType":"NEW_SESSION"}').expect(200);
    const full = await request(served.app).post('/invocations').set('Content-Type', 'application/json').set('X-Amzn-SageMaker-Session-Id', 'NEW_SESSION').send('{"requestType":"NEW_SESSION"}');
    assert.equal(full.status, 503);
    assert.equal(full.body.code, 'ERR_TOO_MANY_SESSIONS');
  });

  test('without SAGEMAKER_ENABLE_STATEFUL_SESSIONS a session header gets 400 naming it', async () => {
    const plain = await serveModelInProcess(path.join(REPO_ROOT, 'models/iris-onnx'));
    try {
      const res = await request(plain.app).post('/invocations').set('Content-Type', 'text/csv').set('X-Amzn-SageMaker-Session-Id', 'NEW_SESSION').send('5.1,3.5,1.4,0.2');
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'ERR_SESSIONS_DISABLED');
      assert.match(res.body.message, /SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true/);
    } finally {
      await plain.close();
    }
  });
});
