/**
 * What the process-level tests of `smkit serve` (test/e2e/serve-process, serve-worker-lifecycle)
 * share: servers of the handler fixtures and their clean-ups, requests on connections of their own,
 * and waiting for the primary to handle a worker's death.
 */
import type { TestContext } from 'node:test';
import http from 'node:http';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, makeOptMl, removeDir, startServe, type ServeProcess } from './serve-process.js';
import { until } from './until.js';

/** Retrying a restarting server: a request may fail; pause between attempts so it is not hammered. */
export const RETRY = { retryErrors: true, intervalMs: 100 };

/** The handler fixtures (test/fixtures/handlers/<name>/code/inference.mjs). */
export const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/handlers');

/** Something to undo once a test (or a file's tests) is done. */
export type Cleanup = () => Promise<void> | void;

/** Runs `list` in reverse, every clean-up even past one that failed (the first failure is reported after). */
export async function runCleanups(list: Cleanup[]): Promise<void> {
  const failures: unknown[] = [];
  for (const c of list.splice(0).reverse()) await Promise.resolve().then(c).catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw failures[0];
}

const perTest = new WeakMap<TestContext, Cleanup[]>();

/**
 * Test `t`'s clean-ups: they run when it ends, so no server it started idles on through the tests
 * after it (an idle server still costs CPU: about 2 % of a core for its worker).
 */
export function cleanupsOf(t: TestContext): Cleanup[] {
  let list = perTest.get(t);
  if (!list) {
    const own: Cleanup[] = [];
    perTest.set(t, own);
    t.after(() => runCleanups(own));
    list = own;
  }
  return list;
}

/**
 * Starts `smkit serve` on a copy of the handler fixture `fixture` with `env` (and `ulimit -n fileLimit`
 * when given); its stop and the removal of its folder go into `into`.
 */
export async function serveFixture(fixture: string, env: Record<string, string>, fileLimit: number | undefined, into: Cleanup[]): Promise<ServeProcess> {
  const base = makeOptMl();
  // Run in reverse: the server stops before its folder goes, which goes even if the start failed.
  into.push(() => removeDir(base));
  cpSync(path.join(FIXTURES, fixture), path.join(base, 'model'), { recursive: true });
  const server = await startServe({ SAGEMAKER_BASE_DIR: base, ...env }, [], fileLimit);
  into.push(() => server.stop());
  return server;
}

/**
 * A request on a connection of its own (unless `agent` is given), so that each may reach either
 * worker: its status, its body, and whether it went over a connection kept alive from before.
 * It fails once its connection has been idle for `timeoutMs` (10 s: long enough for a small request,
 * short enough that one handed to a dead worker fails soon); a request that starts slow work (an
 * inference thread) asks for more.
 */
export function requestAlone(
  server: ServeProcess,
  pathname: string,
  body?: string,
  { agent = false, contentType = 'text/plain', timeoutMs = 10_000 }: { agent?: http.Agent | false; contentType?: string; timeoutMs?: number } = {},
): Promise<{ status: number; text: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${pathname}`, { agent, method: body === undefined ? 'GET' : 'POST', headers: { 'Content-Type': contentType }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    const shown = body === undefined || body.length <= 200 ? JSON.stringify(body) : `${JSON.stringify(body.slice(0, 60))}… (${body.length} characters)`;
    req.on('timeout', () => req.destroy(new Error(`${body === undefined ? 'GET' : 'POST'} ${pathname} (body ${shown}) timed out after ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` pings at once, each on a connection of its own. */
export const pingsAlone = (server: ServeProcess, n: number) => Promise.all(Array.from({ length: n }, () => requestAlone(server, '/ping')));

/** How many times the primary has logged a worker process's end (and that it replaces it). */
export const deathsLogged = (server: ServeProcess): number => server.output().match(/"msg":"worker process died; replacing it"/g)?.length ?? 0;

/**
 * Waits until the primary has logged `n` worker deaths in all. A connection the primary accepts
 * after a worker died, but before it handled that worker's end, can be handed to the dead process
 * (Node's cluster round-robin): it is never answered, and is closed once the primary has read the
 * dead process's end (src/server/handed-connections.ts). Requests sent once the primary logged the death go to a worker alive.
 */
export const untilDeathsLogged = (server: ServeProcess, n: number): Promise<boolean> =>
  until(`the primary to log ${n} worker deaths`, () => deathsLogged(server) >= n, { timeoutMs: 30_000, detail: () => server.output().slice(-2000) });
