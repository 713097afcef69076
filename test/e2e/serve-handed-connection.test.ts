/**
 * Node's cluster round-robin (`SMKIT_CONNECTION_BALANCING=primary`) hands each new connection to a
 * worker process and closes the primary's copy only once that worker says it took it: a connection
 * handed to a worker that dies first must close (its client retries), not stay open unanswered.
 * Over real TCP against a real `smkit serve`, with a worker process killed by `SIGKILL`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeDir, waitForPing } from '../helpers/serve-process.js';
import { RETRY, cleanupsOf, deathsLogged, requestAlone, serveFixture, untilDeathsLogged } from '../helpers/serve-fixtures.js';
import { until } from '../helpers/until.js';

test('round-robin: a new connection handed to a worker process busy on its event loop, which is then killed (SIGKILL), is closed at its death, not left open unanswered; the other worker answers meanwhile and after', async (t) => {
  const gate = mkdtempSync(path.join(os.tmpdir(), 'smkit-handed-gate-'));
  cleanupsOf(t).push(() => removeDir(gate));
  const server = await serveFixture(
    'blocking',
    // Inline, the busy spell holds the worker's event loop, so it cannot take a connection handed to it.
    { SAGEMAKER_MODEL_SERVER_WORKERS: '2', SMKIT_INFERENCE_MODE: 'inline', SMKIT_CONNECTION_BALANCING: 'primary', SMKIT_CONNECTION_REBALANCING: 'false' },
    undefined,
    cleanupsOf(t),
  );
  cleanupsOf(t).push(() => writeFileSync(path.join(gate, 'open'), ''));
  await waitForPing(server);
  const pids = () => new Set([...server.output().matchAll(/"pid":(\d+),"worker":\d+,"mode":"inline".*"msg":"model ready"/g)].map((m) => Number(m[1])));
  await until('both workers to log their model ready', () => pids().size === 2, { timeoutMs: 60_000, detail: () => server.output().slice(-2000) });
  // One worker spins (until the gate opens, or a minute) on a connection of its own.
  const spell = requestAlone(server, '/invocations', `gate:${path.join(gate, 'open')}`, { timeoutMs: 120_000 }).catch((err: Error) => err);
  await until('the busy spell to start', () => readdirSync(gate).includes('open.started'), { timeoutMs: 30_000 });
  // New connections, each asking for the pid that answers: the round-robin hands the first or the
  // second to the busy worker, which does not take it, and the rest to the other worker.
  /** How each request ended: its answer, or the error that ended it (a closed connection, or its time-out). */
  const outcomes: (string | undefined)[] = new Array(4).fill(undefined);
  const requests = outcomes.map((_, i) =>
    requestAlone(server, '/invocations', 'pid', { timeoutMs: 90_000 }).then(
      (answer) => (outcomes[i] = `HTTP ${answer.status} ${answer.text}`),
      (err: Error) => (outcomes[i] = /timed out/.test(err.message) ? `no answer: ${err.message}` : `closed: ${err.message}`),
    ),
  );
  await until('three of the four to be answered by the worker not spinning', () => outcomes.filter((o) => o !== undefined).length >= 3, { timeoutMs: 60_000, detail: () => JSON.stringify(outcomes) });
  const answeredBy = new Set(outcomes.filter((o) => o !== undefined).map((o) => /^HTTP 200 (\d+)$/.exec(o!)?.[1]));
  assert.equal(answeredBy.size, 1, `the three were answered 200 by one worker: ${JSON.stringify(outcomes)}`);
  const other = Number([...answeredBy][0]);
  const busy = [...pids()].find((pid) => pid !== other);
  assert.ok(busy !== undefined && pids().has(other), `the answering pid ${other} is one of the workers ${[...pids()]}`);
  // The fourth waits on the busy worker, which cannot take it while it spins.
  assert.equal(outcomes.filter((o) => o === undefined).length, 1, JSON.stringify(outcomes));
  const deaths = deathsLogged(server);
  process.kill(busy, 'SIGKILL');
  // Before, the primary kept its copy of the connection open for good: the request waited out its 90 s.
  await Promise.all(requests);
  const left = outcomes.find((o) => !/^HTTP 200 /.test(o!));
  assert.match(left ?? '', /^closed: /, JSON.stringify(outcomes));
  await spell;
  await untilDeathsLogged(server, deaths + 1);
  // The survivor (and, once started, the replacement) serves new connections.
  await until('an invocation to be answered after the death', async () => (await requestAlone(server, '/invocations', 'pid')).status === 200, RETRY);
});
