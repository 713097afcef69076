/** Process-level behaviour: health under load, timeouts, crashes, SIGTERM, bad settings, bad models. */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SMKIT_BIN, makeOptMl, removeDir, runSmkit, startServe, waitForPing, fetchWithTimeout, type ServeProcess } from '../helpers/serve-process.js';
import { until } from '../helpers/until.js';
import { countListeners, KERNEL_SOCKETS_PER_WORKER, supportsReusePort } from '../../src/server/connection-balancing.js';

/** Retrying a restarting server: a request may fail; pause between attempts so it is not hammered. */
const RETRY = { retryErrors: true, intervalMs: 100 };

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/handlers');
type Cleanup = () => Promise<void> | void;

/** Runs `list` in reverse, every clean-up even past one that failed (the first failure is reported after). */
async function runCleanups(list: Cleanup[]): Promise<void> {
  const failures: unknown[] = [];
  for (const c of list.splice(0).reverse()) await Promise.resolve().then(c).catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw failures[0];
}

/** The shared servers' clean-ups: they run once every test is done. */
const cleanups: Cleanup[] = [];
after(() => runCleanups(cleanups));

const perTest = new WeakMap<TestContext, Cleanup[]>();
/**
 * Test `t`'s clean-ups: they run when it ends, so no server it started idles on through the tests
 * after it (an idle server still costs CPU: about 2 % of a core for its worker).
 */
function cleanupsOf(t: TestContext): Cleanup[] {
  let list = perTest.get(t);
  if (!list) {
    const own: Cleanup[] = [];
    perTest.set(t, own);
    t.after(() => runCleanups(own));
    list = own;
  }
  return list;
}

async function serveFixture(fixture: string, env: Record<string, string> = {}, fileLimit?: number, into: Cleanup[] = cleanups): Promise<ServeProcess> {
  const base = makeOptMl();
  // Run in reverse: the server stops before its folder goes, which goes even if the start failed.
  into.push(() => removeDir(base));
  cpSync(path.join(FIXTURES, fixture), path.join(base, 'model'), { recursive: true });
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env }, [], fileLimit);
  into.push(() => server.stop());
  return server;
}

/**
 * One server of the 'blocking' fixture with default settings: the busy-/ping test uses it, and the
 * SIGTERM test, which ends it, next (a start-up less; neither leaves state the other sees).
 */
let blockingServer: Promise<ServeProcess> | undefined;
const sharedBlocking = () => (blockingServer ??= serveFixture('blocking'));
/** One server of the 'crash' fixture with default settings for the two crash tests: each waits until it serves again. */
let crashServer: Promise<ServeProcess> | undefined;
const sharedCrash = () => (crashServer ??= serveFixture('crash'));

/**
 * A request on a connection of its own (unless `agent` is given), so that each may reach either
 * worker: its status, its body, and whether it went over a connection kept alive from before.
 */
function requestAlone(
  server: ServeProcess,
  pathname: string,
  body?: string,
  { agent = false, contentType = 'text/plain' }: { agent?: http.Agent | false; contentType?: string } = {},
): Promise<{ status: number; text: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${pathname}`, { agent, method: body === undefined ? 'GET' : 'POST', headers: { 'Content-Type': contentType }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${body === undefined ? 'GET' : 'POST'} ${pathname} (body ${JSON.stringify(body)}) timed out after 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` pings at once, each on a connection of its own. */
const pingsAlone = (server: ServeProcess, n: number) => Promise.all(Array.from({ length: n }, () => requestAlone(server, '/ping')));

/** How many times the primary has logged a worker process's end (and that it replaces it). */
const deathsLogged = (server: ServeProcess) => server.output().match(/"msg":"worker process died; replacing it"/g)?.length ?? 0;

/**
 * Waits until the primary has logged `n` worker deaths in all. A connection the primary accepts
 * after a worker died, but before it handled that worker's end, can be handed to the dead process
 * (Node's cluster round-robin): it is never answered, and its request waits out its time-out (10 s,
 * once per test that killed a worker). Requests sent once the primary logged the death go to a worker alive.
 */
const untilDeathsLogged = (server: ServeProcess, n: number) =>
  until(`the primary to log ${n} worker deaths`, () => deathsLogged(server) >= n, { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });

const invoke = (server: ServeProcess, body: string, timeoutMs?: number) =>
  fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } }, timeoutMs);

describe('smkit serve as a process', () => {
  test('/ping answers while the only worker is busy in CPU-bound user code', async (t) => {
    const server = await sharedBlocking();
    await waitForPing(server);
    const marks = mkdtempSync(path.join(os.tmpdir(), 'smkit-busy-ping-'));
    cleanupsOf(t).push(() => removeDir(marks));
    const gate = path.join(marks, 'gate');
    let invocationDone = false;
    const busy = invoke(server, `gate:${gate}`).then(async (r) => {
      invocationDone = true;
      return r;
    });
    // The handler spins from when it writes gate.started until the gate exists: the pings go out
    // while it spins, however slow this machine (a fixed 5 s spin cost 5 s of CPU, and a ping
    // could still come before the spin began), and each must come back before the invocation does.
    await until('the handler to start spinning', () => existsSync(`${gate}.started`), { timeoutMs: 30_000, intervalMs: 100 });
    try {
      for (let i = 0; i < 3; i++) {
        const ping = await fetchWithTimeout(`${server.url}/ping`);
        assert.equal(ping.status, 200);
        await ping.arrayBuffer();
        assert.equal(invocationDone, false, `ping ${i} answered only after the busy invocation finished`);
      }
    } finally {
      writeFileSync(gate, '');
    }
    const res = await busy;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'spun until the gate opened');
  });

  test('SIGTERM finishes the in-flight request, then the process exits 0', async () => {
    const server = await sharedBlocking();
    await waitForPing(server);
    const inFlight = invoke(server, 'async:1500');
    // Signal only once the request is inside the handler (it logs when it starts waiting).
    await until('the request to be inside the handler', () => server.output().includes('async wait started'), { timeoutMs: 30_000, intervalMs: 100 });
    server.child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'waited');
    const exit = await server.exited;
    assert.equal(exit.code, 0);
    assert.match(server.output(), /draining/);
  });

  test('a request past SAGEMAKER_MODEL_SERVER_TIMEOUT gets 504; a blocked thread is replaced and serving resumes', async (t) => {
    const server = await serveFixture('blocking', { SAGEMAKER_MODEL_SERVER_TIMEOUT: '0.5' }, undefined, cleanupsOf(t));
    await waitForPing(server);
    const slow = await invoke(server, '4000');
    assert.equal(slow.status, 504);
    const timedOut = (await slow.json()) as { code: string; message: string };
    assert.equal(timedOut.code, 'ERR_TIMEOUT');
    assert.match(timedOut.message, /^the invocation took longer than 0\.5 s \(SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS or SAGEMAKER_MODEL_SERVER_TIMEOUT\) in the handler's transformFn \(.*inference\.mjs\): make it answer within it /);
    // The replacement thread reloads; poll until an invocation succeeds again.
    await until('an invocation to succeed again', async () => (await invoke(server, 'async:1', 10_000)).status === 200, RETRY);
    assert.match(server.output(), /blocked past the timeout; replacing it/);
  });

  test('inline mode: a worker held by a handler in a synchronous loop is killed once its heartbeats stop (SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS) and replaced; the request it held gets no answer', async (t) => {
    const server = await serveFixture('blocking', { SMKIT_INFERENCE_MODE: 'inline', SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS: '1' }, undefined, cleanupsOf(t));
    await waitForPing(server);
    const readyPids = () => [...server.output().matchAll(/"pid":(\d+),"worker":0,"mode":"inline".*"msg":"model ready"/g)].map((m) => Number(m[1]));
    const first = await until('the worker to log its model ready', () => readyPids()[0]);
    // About 28 hours of spinning: before, the worker (the only one) held it, and every later connection waited, for good.
    // The kill takes a second or two; the wait is long because the primary's ticks and the close reach
    // this process through a machine another test file may be loading (once, under load 40, 30 s passed).
    const stuck = await invoke(server, '100000000', 90_000).then(
      (res) => `HTTP ${res.status}`,
      (err: Error) => (err.name === 'TimeoutError' ? 'no answer within 90 s' : 'connection closed'),
    );
    assert.equal(stuck, 'connection closed');
    const line = await until('the blocked worker to be logged', () => server.output().split('\n').find((l) => l.includes('"code":"ERR_WORKER_BLOCKED"')));
    assert.match(line, new RegExp(`"msg":"worker process 0 \\(pid ${first}\\) sent no heartbeat for over 1 s \\(SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS\\): synchronous code holds its event loop, where handler code runs with SMKIT_INFERENCE_MODE=inline`));
    assert.match(line, /Move long synchronous work off the event loop, or use SMKIT_INFERENCE_MODE=thread/);
    await until('/ping to answer 200 again', async () => (await fetchWithTimeout(`${server.url}/ping`, {}, 10_000)).status === 200, RETRY);
    assert.equal(await (await invoke(server, '1')).text(), 'spun 1 ms');
    await until('the new worker process to log its model ready', () => readyPids().some((pid) => pid !== first));
  });

  test('a crashed inference thread or worker process is replaced and logged', async () => {
    const server = await sharedCrash();
    await waitForPing(server);
    const threadCrash = await invoke(server, 'thread');
    assert.equal(threadCrash.status, 500);
    const crashed = (await threadCrash.json()) as { code: string; message: string };
    assert.equal(crashed.code, 'ERR_WORKER_CRASHED');
    assert.match(crashed.message, /^the inference thread ended while this request ran: user code called process\.exit\(3\);/);
    const deaths = deathsLogged(server);
    const processCrash = await invoke(server, 'process').catch(() => undefined);
    assert.ok(!processCrash || processCrash.status >= 500);
    await untilDeathsLogged(server, deaths + 1);
    // Each attempt has its own short timeout: a request to a half-started worker fails and is retried.
    await until('the replaced worker to serve again', async () => (await (await invoke(server, 'again', 10_000)).text()) === 'ok:again', RETRY);
    assert.match(server.output(), /inference thread exited \(user code called process\.exit\(3\)\); starting a new one/);
    assert.match(server.output(), /worker process died; replacing it/);
  });

  test('an error user code throws from a timer after the load ends the inference thread: every request on it gets 500 ERR_WORKER_CRASHED saying why, and the new thread serves', async (t) => {
    const server = await sharedCrash();
    // The last test of the shared crash server.
    cleanupsOf(t).push(() => server.stop());
    await waitForPing(server);
    const held = invoke(server, 'hold');
    await until('the held request to reach the thread', () => /"msg":"holding"/.test(server.output()), { timeoutMs: 10_000 });
    const answers = await Promise.all([held, invoke(server, 'timer-throw')]);
    for (const res of answers) {
      assert.equal(res.status, 500);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, 'ERR_WORKER_CRASHED');
      assert.match(body.message, /^the inference thread ended while this request ran: user code threw an error nothing caught \(from a timer, an event handler or a callback\), which is in the server log; it is being replaced and the model reloaded/);
      assert.doesNotMatch(body.message, /s3cr3t/, 'what user code threw is not quoted to clients');
    }
    await until('/ping to answer 200 again', async () => (await fetchWithTimeout(`${server.url}/ping`, {}, 10_000)).status === 200, RETRY);
    assert.equal(await (await invoke(server, 'again')).text(), 'ok:again');
    assert.match(server.output(), /"code":"ERR_USER_CODE".*token=s3cr3t refresh failed/, 'the error and its stack are logged');
  });

  test('SMKIT_CONNECTION_BALANCING=kernel: each worker listens itself (KERNEL_SOCKETS_PER_WORKER sockets) where Node supports SO_REUSEPORT; elsewhere a warning and the primary hands connections over', async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models', 'iris-onnx'));
    cleanupsOf(t).push(() => removeDir(base));
    const server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_CONNECTION_BALANCING: 'kernel' });
    cleanupsOf(t).push(() => server.stop());
    // One worker's /ping 200 does not mean the other has loaded its model: an invocation that
    // reaches a worker still loading waits for it, so all 24 are answered 200.
    await waitForPing(server);
    // Each on a connection of its own, so both workers' sockets (or the primary's) take some.
    const answers = await Promise.all(
      Array.from({ length: 24 }, () =>
        fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv', Connection: 'close' } }),
      ),
    );
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    // The primary writes its held start-up lines (the ready line among them) shortly after the
    // first model is ready, and this process reads the pipe when it gets to it: wait for a line.
    const line = (pattern: RegExp) => until(`a line matching ${pattern}`, () => pattern.test(server.output()), { timeoutMs: 15_000, detail: () => server.output() });
    if (supportsReusePort()) {
      await line(/"connectionBalancing":"kernel"/);
      // Each worker opens its sockets once its first one listens, so the last may still be on their way.
      await until(`${2 * KERNEL_SOCKETS_PER_WORKER} listening sockets`, () => countListeners(server.port) === 2 * KERNEL_SOCKETS_PER_WORKER, { timeoutMs: 30_000, intervalMs: 100 });
    } else {
      await line(/SMKIT_CONNECTION_BALANCING=kernel cannot be used: SO_REUSEPORT balancing needs Node 22\.12\+ on Linux/);
      await line(/"connectionBalancing":"primary"/);
      if (process.platform === 'linux') assert.equal(countListeners(server.port), 1, 'the primary\'s socket only');
    }
  });

  test("auto mode, several workers: a model served on the HTTP thread whose inference thread cannot load keeps its worker process (the large requests run inline); only a reload that fails after a thread served ends one", async (t) => {
    const base = makeOptMl(path.join(REPO_ROOT, 'models', 'iris-onnx'));
    cleanupsOf(t).push(() => removeDir(base));
    // No rebalancing: it could close the one kept-alive connection below (one worker holding it is over its share).
    const server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_CONNECTION_REBALANCING: 'false' });
    cleanupsOf(t).push(() => server.stop());
    await waitForPing(server);
    // The model file is broken once the workers hold it: an inference thread started now cannot load it.
    // (A tiny SMKIT_INFERENCE_THREAD_HEAP_MB would fail it too, but on Node 22 V8 then ends the whole process.)
    writeFileSync(path.join(base, 'model', 'model.onnx'), 'not an ONNX model');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanupsOf(t).push(() => agent.destroy());
    const csv = { agent, contentType: 'text/csv' };
    // Over 256 KB: a request for the inference thread, which starts now and fails its first load.
    const large = await requestAlone(server, '/invocations', '5.1,3.5,1.4,0.2\n'.repeat(20_000), csv);
    assert.equal(large.status, 200, large.text);
    await until('the thread\'s failure to be logged', () => /the inference thread could not load the model/.test(server.output()), { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    // Through the primary and back, on the same connection: the worker that served it is still there.
    const metrics = await requestAlone(server, '/metrics', undefined, csv);
    const small = await requestAlone(server, '/invocations', '5.1,3.5,1.4,0.2', csv);
    assert.deepEqual([metrics.status, metrics.reused, small.status, small.reused], [200, true, 200, true]);
    assert.doesNotMatch(server.output(), /"exitCode":8\d|this worker process ends/);
  });

  test('kept-alive connections spread over the workers again: a replacement worker gets its share of the connections that moved to the other (SMKIT_CONNECTION_REBALANCING)', async (t) => {
    const server = await serveFixture('crash', { SAGEMAKER_MODEL_SERVER_WORKERS: '2' }, undefined, cleanupsOf(t));
    await waitForPing(server);
    // Eight kept-alive connections, each sending its next request once answered (as SageMaker's
    // front end and the SDKs do); /metrics goes over them too, so they are all the connections there are.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanupsOf(t).push(() => agent.destroy());
    const get = (pathname: string, method = 'GET', body = '') =>
      new Promise<string>((resolve, reject) => {
        const req = http.request(`${server.url}${pathname}`, { agent, method, headers: { 'Content-Type': 'text/plain' }, timeout: 10_000 }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve(text));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(body);
      });
    let running = true;
    const clients = Array.from({ length: 8 }, async () => {
      while (running) {
        // A request on a connection of the crashed worker fails; the agent opens a new one.
        await get('/invocations', 'POST', 'x').catch(() => undefined);
        // 20 ms, as before this pacing was tried at 100 ms: the replacement then did not get its share
        // within 30 s in one fresh-clone CI run (cause not found).
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    /** Connections per worker, from smkit_http_connections. */
    const split = async () => {
      const text = await get('/metrics');
      return [...text.matchAll(/^smkit_http_connections\{worker="(\d+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    };
    const even = (counts: number[]) => counts.length === 2 && counts.every((n) => n >= 3) && counts[0]! + counts[1]! >= 8;
    try {
      await until('the connections to spread over both workers', async () => even(await split()), { timeoutMs: 30_000, intervalMs: 100, retryErrors: true });
      // Kill one worker: its connections reconnect to the other while it is replaced.
      const killed = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: 'process', headers: { Connection: 'close' } }).catch(() => undefined);
      assert.ok(!killed || killed.status >= 500);
      await until('the worker to be replaced', () => /worker process died; replacing it/.test(server.output()), { timeoutMs: 30_000 });
      // The primary sums /metrics over every worker process (prom-client's cluster protocol), waiting
      // 5 s for each: one just forked answers only once it has started. Polled before, a /metrics
      // waited out those 5 s (and said "metrics unavailable"), the clients' traffic going on meanwhile.
      await until('the replacement to load the model', () => (server.output().match(/"msg":"model ready"/g)?.length ?? 0) >= 3, { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
      // Without rebalancing the survivor would keep all eight for as long as the clients keep them.
      await until('the replacement to hold its share of the connections', async () => even(await split()), { timeoutMs: 30_000, intervalMs: 100, retryErrors: true, detail: () => server.output().slice(-2000) });
      const rebalanced = [...(await get('/metrics')).matchAll(/^smkit_connections_rebalanced_total\{worker="\d+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      assert.ok(rebalanced >= 3, `${rebalanced} connections closed to rebalance them`);
    } finally {
      running = false;
      await Promise.all(clients);
    }
  });

  test('two workers: /ping says 503 until both have loaded the model, then 200; a replacement takes no connections while it loads, so no /ping says 503 after the first 200', async (t) => {
    const gate = mkdtempSync(path.join(os.tmpdir(), 'smkit-load-gate-'));
    cleanupsOf(t).push(() => removeDir(gate));
    const server = await serveFixture('load-gate', { SAGEMAKER_MODEL_SERVER_WORKERS: '2', LOAD_GATE_DIR: gate }, undefined, cleanupsOf(t));
    const request = (pathname: string, body?: string) => requestAlone(server, pathname, body);
    const pings = (n: number) => pingsAlone(server, n);
    const waiting = () => readdirSync(gate).filter((n) => n.startsWith('waiting-'));
    // One worker loads; the other waits at the gate. Until it loads, every /ping is 503, the loaded one's too.
    const seen: number[] = [];
    await until(
      'the loaded worker to answer /ping',
      async () => {
        const answer = await request('/ping');
        seen.push(answer.status);
        return waiting().length === 1 && answer.text.includes('this worker process has loaded the model, but not every worker process has yet');
      },
      { ...RETRY, timeoutMs: 60_000, detail: () => server.output().slice(-2000) },
    );
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(503),
    );
    assert.ok(!seen.includes(200), `no /ping said 200 while a worker loaded: ${seen.join(' ')}`);
    writeFileSync(path.join(gate, 'open'), '');
    await waitForPing(server);
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(200),
    );
    // A worker dies; its replacement waits at the gate (closed again) while the other serves alone.
    rmSync(path.join(gate, 'open'));
    const [firstWaiter] = waiting();
    const killed = await request('/invocations', 'process').catch(() => undefined);
    assert.ok(!killed || killed.status >= 500);
    await until('the replacement to wait at the gate', () => waiting().length === 2, { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    const replacement = Number(waiting().find((n) => n !== firstWaiter)!.slice('waiting-'.length));
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(200),
    );
    const served = await Promise.all(Array.from({ length: 10 }, () => request('/invocations', 'x')));
    assert.deepEqual(
      served.map((a) => a.status),
      Array(10).fill(200),
    );
    const pids = new Set(served.map((a) => (JSON.parse(a.text) as { pid: number }).pid));
    assert.ok(!pids.has(replacement), 'the loading replacement took no invocation');
    // A replacement whose load fails ends without taking a connection, and another is started.
    writeFileSync(path.join(gate, 'fail'), '');
    await until('a replacement to fail its load and end', () => /"code":"ERR_MODEL_LOAD".*which replaces one that ended, could not load the model: .*it took no connections/.test(server.output()), { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(200),
    );
    // Once loaded, a replacement takes connections.
    rmSync(path.join(gate, 'fail'));
    writeFileSync(path.join(gate, 'open'), '');
    let joined = 0;
    await until(
      'a replacement to serve',
      async () => {
        joined = (JSON.parse((await request('/invocations', 'x')).text) as { pid: number }).pid;
        return !pids.has(joined);
      },
      { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) },
    );
    // A worker's inference thread ends and its reload fails: the worker process ends too, and a new
    // one loads the model while the other serves (before, it answered its share of pings 503 for good).
    writeFileSync(path.join(gate, 'fail'), '');
    const crashed = await request('/invocations', 'thread');
    assert.equal(crashed.status, 500);
    await until('the worker whose reload failed to end', () => /could not be loaded again after its inference thread ended.*this worker process ends/.test(server.output()), { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(200),
    );
    rmSync(path.join(gate, 'fail'));
    const serving = new Set<number>();
    await until('two worker processes to serve again', async () => serving.add((JSON.parse((await request('/invocations', 'x')).text) as { pid: number }).pid).size === 2, { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    // The same while no other worker serves (the other's replacement is still loading): the worker
    // stays, so something answers /ping, and leaves once that replacement serves.
    const [stays, killed2] = [...serving] as [number, number];
    rmSync(path.join(gate, 'open'));
    const waitingBefore = waiting().length;
    process.kill(killed2, 'SIGKILL');
    await until('its replacement to wait at the gate', () => waiting().length > waitingBefore, { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    writeFileSync(path.join(gate, 'fail'), '');
    assert.equal((await request('/invocations', 'thread')).status, 500);
    await until('its reload to fail', async () => (await request('/ping')).text.includes('"status":"Unhealthy"'), { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    assert.deepEqual(
      (await pings(20)).map((a) => a.status),
      Array(20).fill(503),
    );
    rmSync(path.join(gate, 'fail'));
    writeFileSync(path.join(gate, 'open'), '');
    const again = new Set<number>();
    await until(
      'two worker processes, not the one whose reload failed, to serve',
      async () => {
        const { pid } = JSON.parse((await request('/invocations', 'x')).text) as { pid?: number };
        if (pid !== undefined && pid !== stays) again.add(pid);
        return again.size === 2;
      },
      { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) },
    );
    // Both workers end at once and their replacements cannot load: with no worker serving, they take
    // connections at once, and /ping says why rather than the port refusing every connection.
    rmSync(path.join(gate, 'open'));
    writeFileSync(path.join(gate, 'fail'), '');
    const deathsBefore = deathsLogged(server);
    for (const pid of again) process.kill(pid, 'SIGKILL');
    await untilDeathsLogged(server, deathsBefore + again.size);
    await until('the replacements to answer /ping', async () => (await request('/ping')).text.includes('"status":"Unhealthy"'), { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    await until('every /ping to say Unhealthy', async () => (await pings(20)).every((a) => a.status === 503 && a.text.includes('"status":"Unhealthy"')), { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
  });

  test('two workers, one of which cannot load the model at start-up: every /ping says 503 Unhealthy naming that worker and why, the loaded one included', async (t) => {
    const gate = mkdtempSync(path.join(os.tmpdir(), 'smkit-load-gate-'));
    cleanupsOf(t).push(() => removeDir(gate));
    writeFileSync(path.join(gate, 'fail'), '');
    const server = await serveFixture('load-gate', { SAGEMAKER_MODEL_SERVER_WORKERS: '2', LOAD_GATE_DIR: gate }, undefined, cleanupsOf(t));
    await waitForPing(server, 503);
    await until('the loaded worker to say so too', async () => (await requestAlone(server, '/ping')).text.includes('"status":"Unhealthy","code":"ERR_NOT_READY","message":"worker process'), { ...RETRY, timeoutMs: 30_000 });
    const answers = await pingsAlone(server, 20);
    for (const a of answers) {
      assert.equal(a.status, 503);
      const body = JSON.parse(a.text) as { status: string; message: string };
      assert.equal(body.status, 'Unhealthy');
      assert.match(body.message, /ERR_USER_CODE|could not load the model|failed/);
    }
    assert.ok(answers.some((a) => /^worker process \d could not load the model: /.test((JSON.parse(a.text) as { message: string }).message)), 'the loaded worker names the one that failed');
    // The failed worker ends; its replacement waits at the gate: /ping says "loading" again, not the old failure.
    rmSync(path.join(gate, 'fail'));
    const [failedWorker] = readdirSync(gate).filter((n) => n.startsWith('waiting-'));
    const deaths = deathsLogged(server);
    process.kill(Number(failedWorker!.slice('waiting-'.length)), 'SIGKILL');
    await untilDeathsLogged(server, deaths + 1);
    await until('the failure to be cleared', async () => (await pingsAlone(server, 20)).every((a) => a.status === 503 && a.text.includes('"status":"Loading"')), { ...RETRY, timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
    writeFileSync(path.join(gate, 'open'), '');
    await waitForPing(server);
  });

  test('two workers, one of which never finishes loading: start-up ends at SAGEMAKER_STARTUP_TIMEOUT naming how many were not ready', async (t) => {
    const gate = mkdtempSync(path.join(os.tmpdir(), 'smkit-load-gate-'));
    cleanupsOf(t).push(() => removeDir(gate));
    const server = await serveFixture('load-gate', { SAGEMAKER_MODEL_SERVER_WORKERS: '2', LOAD_GATE_DIR: gate, SAGEMAKER_STARTUP_TIMEOUT: '10', SMKIT_SHUTDOWN_GRACE_SECONDS: '1' }, undefined, cleanupsOf(t));
    // Before, the loaded worker's /ping said 200 and the other's 503 for good.
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([server.exited, new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 60_000)))]);
    clearTimeout(timer);
    assert.deepEqual(exit, { code: 1, signal: null }, server.output());
    assert.match(server.output(), /1 of 2 worker processes were not ready \(the model loaded, the port bound\) within 10 s \(SAGEMAKER_STARTUP_TIMEOUT\)/);
    assert.equal(readdirSync(gate).filter((n) => n.startsWith('waiting-')).length, 1, 'one worker loaded, the other waited');
  });

  test('inline mode: a modelFn that calls process.exit ends start-up with exit 1 naming the cause, not a restart loop until SAGEMAKER_STARTUP_TIMEOUT', async (t) => {
    const server = await serveFixture('exit-on-load', { SMKIT_INFERENCE_MODE: 'inline', SAGEMAKER_STARTUP_TIMEOUT: '60' }, undefined, cleanupsOf(t));
    // Before, the primary replaced the worker (with backoff) until the start-up timeout, /ping saying only "loading".
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([server.exited, new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 20_000)))]);
    clearTimeout(timer);
    assert.deepEqual(exit, { code: 1, signal: null }, server.output());
    assert.match(server.output(), /ended while loading the model, 3 times in a row \(exit code 7: process\.exit was called/);
  });

  test('a worker process left with no file descriptors while its model loads is replaced (a new process may load it), and start-up ends naming the open files limit once three in a row could not', async (t) => {
    // The fixture's modelFn leaks every descriptor, then throws the EMFILE from a timer, ending its
    // inference thread: a failure of the process, not of the model, which a new process may not meet.
    const server = await serveFixture('leaks-descriptors-on-load', { SAGEMAKER_STARTUP_TIMEOUT: '60' }, 256, cleanupsOf(t));
    const exit = await server.exited;
    const output = server.output();
    assert.deepEqual(exit, { code: 1, signal: null }, output);
    assert.equal(output.match(/this worker process could not load the model for want of file descriptors/g)?.length, 3, output);
    assert.match(output, /could not load the model for want of file descriptors, 3 times in a row \(see the errors above\); raise the open files limit \(ulimit -n\)/);
    assert.doesNotMatch(output, /SAGEMAKER_STARTUP_TIMEOUT/, 'ended by the load deaths, not the start-up timeout');
  });

  test('a model whose reload (its inference thread ended while serving) meets its worker process short of file descriptors: that process is replaced, and the new one serves', async (t) => {
    const marks = mkdtempSync(path.join(os.tmpdir(), 'smkit-reload-fd-'));
    cleanupsOf(t).push(() => removeDir(marks));
    const server = await serveFixture('leaks-descriptors-on-reload', { MARK_DIR: marks }, 256, cleanupsOf(t));
    await waitForPing(server);
    const first = await invoke(server, 'x');
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'ok');
    // Before, the worker answered /ping 503 (the reload's ERR_SERVER_BUSY) for good.
    await until('the worker short of descriptors to leave', () => /this worker process could not load the model for want of file descriptors/.test(server.output()), { timeoutMs: 60_000, intervalMs: 100 });
    await waitForPing(server);
    const again = await invoke(server, 'x');
    assert.equal(again.status, 200);
    assert.equal(await again.text(), 'ok');
    assert.equal(readdirSync(marks).length, 2, 'a second worker process loaded the model');
  });

  test('an invalid setting stops start-up naming the variable', () => {
    const r = spawnSync(process.execPath, [SMKIT_BIN, 'serve'], { env: { ...process.env, SAGEMAKER_BIND_TO_PORT: 'eighty' }, encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /SAGEMAKER_BIND_TO_PORT="eighty" is invalid/);
  });

  // Each starts a server of its own and waits on its start-up or load: they run side by side.
  describe('start-up and model loading', { concurrency: 4 }, () => {
    test('a model that does not load within SAGEMAKER_STARTUP_TIMEOUT ends start-up with exit 1', async (t) => {
      const server = await serveFixture('hang', { SAGEMAKER_STARTUP_TIMEOUT: '1' }, undefined, cleanupsOf(t));
      const exit = await server.exited;
      assert.equal(exit.code, 1);
      assert.match(server.output(), /within 1 s \(SAGEMAKER_STARTUP_TIMEOUT\)/);
      // A worker still starting when the timeout fired stops at once, not when the 25 s grace is over.
      assert.doesNotMatch(server.output(), /grace period over/);
    });

    test('an empty model directory falls back to the baked model (SMKIT_BAKED_MODEL_DIR); a mounted model wins', async (t) => {
      const baked = path.join(REPO_ROOT, 'models/iris-onnx');
      const empty = makeOptMl();
      const mounted = makeOptMl(path.join(REPO_ROOT, 'models/iris-pipeline'));
      cleanupsOf(t).push(() => removeDir(empty), () => removeDir(mounted));
      // Two independent servers: they start side by side, and each that started is stopped after, even if the other failed.
      const starts = [startServe({ SAGEMAKER_BASE_DIR: empty, SMKIT_BAKED_MODEL_DIR: baked }), startServe({ SAGEMAKER_BASE_DIR: mounted, SMKIT_BAKED_MODEL_DIR: baked })];
      for (const s of await Promise.allSettled(starts)) if (s.status === 'fulfilled') cleanupsOf(t).push(() => s.value.stop());
      const [fromBaked, fromMounted] = (await Promise.all(starts)) as [ServeProcess, ServeProcess];
      await Promise.all([waitForPing(fromBaked), waitForPing(fromMounted)]);
      const a = await fetchWithTimeout(`${fromBaked.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
      assert.equal(((await a.json()) as number[][])[0]!.length, 3, 'probabilities from the baked iris model');
      const b = await fetchWithTimeout(`${fromMounted.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
      assert.equal(((await b.json()) as { label: string }[][])[0]![0]!.label, 'setosa', 'top-k labels from the mounted pipeline');
    });

    test('code/package.json dependencies are installed into a writable copy in the temporary folder, never into the model dir', async (t) => {
      // TMPDIR of its own: the copy lands there (and goes with it), not in this machine's /tmp.
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-tmpdir-'));
      cleanupsOf(t).push(() => removeDir(tmp));
      const server = await serveFixture('code-deps', { TMPDIR: tmp }, undefined, cleanupsOf(t));
      await waitForPing(server, 200, 120_000);
      const res = await invoke(server, 'smkit');
      assert.equal(await res.text(), 'hello, smkit');
      const modelDir = /"modelDir":"([^"]+)"/.exec(server.output())![1]!;
      assert.equal(existsSync(path.join(modelDir, 'code', 'node_modules')), false, 'nothing is written to the (read-only) model directory');
      assert.match(server.output(), /installing code\/package.json dependencies/);
      const target = /"target":"([^"]+)"/.exec(server.output())![1]!;
      assert.equal(path.dirname(target), tmp);
      assert.ok(existsSync(path.join(target, 'node_modules')));
    });

    test('SMKIT_INSTALL_CODE_DEPS=never skips the install; the failed import is the load error', async (t) => {
      const server = await serveFixture('code-deps', { SMKIT_INSTALL_CODE_DEPS: 'never' }, undefined, cleanupsOf(t));
      const ping = await waitForPing(server, 503);
      assert.match(((await ping.json()) as { message: string }).message, /greet/);
    });

    test('a start-up failure after the workers were forked stops them too (invalid code/package.json)', async (t) => {
      const base = makeOptMl();
      cleanupsOf(t).push(() => removeDir(base));
      cpSync(path.join(REPO_ROOT, 'models/iris-onnx'), path.join(base, 'model'), { recursive: true });
      mkdirSync(path.join(base, 'model/code'));
      writeFileSync(path.join(base, 'model/code/package.json'), '{ "dependencies": ');
      // The workers share the CLI's stdout and stderr: the run only "closes" once none of them is left.
      // Port 0: a probed port could be taken before the workers bind it, and fail the run another way.
      // 90 s: a deadline for a hang only; it starts beside three other servers (this describe's concurrency).
      const r = await runSmkit(['serve', '--workers', '2', '--port', '0'], { ...process.env, SAGEMAKER_BASE_DIR: base }, 90_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /ERR_CODE_DEPENDENCIES: .*code\/package\.json is not valid JSON/);
    });

    test('a SAGEMAKER_PROGRAM that names no module in code/ beside other scripts is a start-up warning, and the default hooks serve', async (t) => {
      const base = makeOptMl(path.join(REPO_ROOT, 'models/iris-onnx'));
      mkdirSync(path.join(base, 'model', 'code'));
      writeFileSync(path.join(base, 'model', 'code', 'handler.mjs'), 'export const outputFn = () => ({ body: "custom", contentType: "text/plain" });\n');
      const server = await startServe({ SAGEMAKER_BASE_DIR: base, SAGEMAKER_PROGRAM: 'handlr.py' });
      cleanupsOf(t).push(() => removeDir(base), () => server.stop());
      await waitForPing(server);
      const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } });
      assert.equal(((await res.json()) as number[][])[0]!.length, 3, 'the default hooks answered');
      await until('the start-up warning to be written', () => server.output().includes('serving with the default hooks'), RETRY);
      assert.match(server.output(), /code\/ has handler\.mjs but no handlr\.\{mjs,js,cjs\}: serving with the default hooks; set SAGEMAKER_PROGRAM/);
    });

    test('a broken model file: /ping 503 with the reason logged, invocations 503', async (t) => {
      const base = makeOptMl();
      writeFileSync(path.join(base, 'model', 'model.onnx'), 'this is not a protobuf');
      const server = await startServe({ SAGEMAKER_BASE_DIR: base });
      cleanupsOf(t).push(() => removeDir(base), () => server.stop());
      const ping = await waitForPing(server, 503);
      assert.match(((await ping.json()) as { message: string }).message, /cannot load ONNX model/);
      const res = await fetchWithTimeout(`${server.url}/invocations`, { method: 'POST', body: '1,2,3,4', headers: { 'Content-Type': 'text/csv' } });
      assert.equal(res.status, 503);
      assert.match(server.output(), /model failed to load/);
    });

    test('two .onnx files without model.onnx or a pipeline file is a clear load error', async (t) => {
      const base = makeOptMl();
      for (const n of ['a.onnx', 'b.onnx']) cpSync(path.join(REPO_ROOT, 'models/iris-onnx/model.onnx'), path.join(base, 'model', n));
      const server = await startServe({ SAGEMAKER_BASE_DIR: base });
      cleanupsOf(t).push(() => removeDir(base), () => server.stop());
      const ping = await waitForPing(server, 503);
      assert.match(((await ping.json()) as { message: string }).message, /several ONNX models \(a\.onnx, b\.onnx\)/);
    });
  });
});
