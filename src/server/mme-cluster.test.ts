// The primary's side of multi-model loads and unloads (MmeCoordinator), with stand-in workers whose
// acknowledgements the test gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { MmeCoordinator } from './mme-cluster.js';
import type { ToWorker } from './cluster-protocol.js';
import { createLogger } from '../logging/logger.js';

type Apply = Extract<ToWorker, { type: 'mme-apply' }>;
type Response = Extract<ToWorker, { type: 'mme-response' }>;

/** A worker that records what the primary sends it and resolves waiters for its next message. */
function fakeWorker(id: number) {
  const received: ToWorker[] = [];
  const waiters: ((m: ToWorker) => void)[] = [];
  const worker = {
    id,
    isConnected: () => true,
    isDead: () => false,
    /** What send() returns: false when a message is only queued (a handle in flight, a backlog). */
    sendReturns: true,
    send(msg: ToWorker) {
      const waiter = waiters.shift();
      if (waiter) waiter(msg);
      else received.push(msg);
      return worker.sendReturns;
    },
  };
  const next = () => new Promise<ToWorker>((resolve) => (received.length > 0 ? resolve(received.shift()!) : waiters.push(resolve)));
  return { worker: worker as typeof worker & Worker, next };
}

test('a load answered to a worker whose send() says false (the message only queued) is left to that worker: the primary lets its copy of the connection go and writes nothing on it', async () => {
  const w = fakeWorker(1);
  w.worker.sendReturns = false;
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000);
  let closed = 0;
  // Not a real connection: the primary taking it over to write an answer would throw.
  const connection = { close: () => void closed++ };
  coordinator.onRequest(w.worker, { type: 'mme-request', id: 1, op: 'load', name: 'a', url: '/opt/ml/models/a/model' }, connection);
  const apply = (await w.next()) as Apply;
  coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: apply.applyId });
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 1 });
  assert.equal(closed, 1, 'the copy is released once');
});

test('a load that arrives while its model is being unloaded waits for the unload, then loads it (a 409 would say it is loaded while it goes away)', async () => {
  const w = fakeWorker(1);
  // Every apply is acknowledged; the short apply timeout only ends a failing run sooner.
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000);
  const request = (id: number, op: 'load' | 'unload') => coordinator.onRequest(w.worker, { type: 'mme-request', id, op, name: 'a', ...(op === 'load' ? { url: '/opt/ml/models/a/model' } : {}) });
  const ack = (apply: ToWorker) => coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: (apply as Apply).applyId });

  request(1, 'load');
  ack(await w.next());
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 1 });

  request(2, 'unload');
  const unload = (await w.next()) as Apply;
  assert.equal(unload.op, 'unload');
  // The unload is still running on the worker (in-flight requests get their grace) when the load comes.
  request(3, 'load');
  ack(unload);
  // Then, in either order: the unload's answer, and the load applied (not refused).
  const after = [await w.next(), await w.next()];
  assert.deepEqual(after.find((m) => m.type === 'mme-response'), { type: 'mme-response', id: 2 }, JSON.stringify(after));
  const reload = after.find((m) => m.type === 'mme-apply');
  assert.equal((reload as Apply | undefined)?.op, 'load', `the load is applied after the unload, not refused: ${JSON.stringify(after)}`);
  ack(reload!);
  const loaded = (await w.next()) as Response;
  assert.deepEqual(loaded, { type: 'mme-response', id: 3 });
  assert.deepEqual(coordinator.assigned(), [['a', '/opt/ml/models/a/model']]);
});

test('loads of a model already being loaded wait for that one load and get its outcome: 409 once every worker holds it, or its failure; one mme-apply in all', async () => {
  const w = fakeWorker(1);
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000);
  const load = (id: number) => coordinator.onRequest(w.worker, { type: 'mme-request', id, op: 'load', name: 'a', url: '/opt/ml/models/a/model' });

  load(1);
  const apply = (await w.next()) as Apply;
  assert.equal(apply.op, 'load');
  // Still loading on the worker when the same load arrives twice more: nothing is answered yet.
  load(2);
  load(3);
  coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: apply.applyId });
  const answers = [await w.next(), await w.next(), await w.next()] as Response[];
  assert.deepEqual(answers[0], { type: 'mme-response', id: 1 }, JSON.stringify(answers));
  for (const [i, id] of [2, 3].entries()) {
    assert.equal(answers[i + 1]!.id, id);
    assert.equal(answers[i + 1]!.error?.status, 409, JSON.stringify(answers[i + 1]));
    assert.match(answers[i + 1]!.error!.message, /model "a" is already loaded/);
  }

  // A load that fails: the one waiting for it gets that failure, without a second attempt.
  const failing = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000);
  const failingLoad = (id: number) => failing.onRequest(w.worker, { type: 'mme-request', id, op: 'load', name: 'b', url: '/opt/ml/models/b/model' });
  failingLoad(4);
  const tried = (await w.next()) as Apply;
  failingLoad(5);
  failing.onApplied(w.worker, { type: 'mme-applied', applyId: tried.applyId, error: { code: 'ERR_INSUFFICIENT_RESOURCES', status: 507, message: 'model "b" failed to load: out of memory' } });
  const undo = (await w.next()) as Apply;
  assert.equal(undo.op, 'unload', 'all or nothing: the failed load is undone');
  failing.onApplied(w.worker, { type: 'mme-applied', applyId: undo.applyId });
  const failed = [await w.next(), await w.next()] as Response[];
  assert.deepEqual(failed.map((r) => [r.id, r.error?.status]), [[4, 507], [5, 507]]);
  assert.deepEqual(failing.assigned(), []);
});

test('an unload that arrives while its model is being loaded waits for the load, then unloads it: a 404 at once would leave the model loaded once the load ends', async () => {
  const w = fakeWorker(1);
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000);
  const request = (id: number, op: 'load' | 'unload') => coordinator.onRequest(w.worker, { type: 'mme-request', id, op, name: 'a', ...(op === 'load' ? { url: '/opt/ml/models/a/model' } : {}) });
  const ack = (apply: ToWorker) => coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: (apply as Apply).applyId });

  request(1, 'load');
  const load = (await w.next()) as Apply;
  // Still loading on the worker (a replacement worker that could not load it asks the same) when the unload comes.
  request(2, 'unload');
  ack(load);
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 1 });
  const unload = (await w.next()) as Apply;
  assert.equal(unload.op, 'unload', `the unload is applied once the load is done, not refused: ${JSON.stringify(unload)}`);
  ack(unload);
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 2 });
  assert.deepEqual(coordinator.assigned(), []);

  // A load that fails is undone by itself: the unload waiting for it has nothing left to unload (404).
  request(3, 'load');
  const failing = (await w.next()) as Apply;
  request(4, 'unload');
  coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: failing.applyId, error: { code: 'ERR_MODEL_LOAD', status: 500, message: 'model "a" failed to load' } });
  const undo = (await w.next()) as Apply;
  assert.equal(undo.op, 'unload');
  ack(undo);
  const answers = [await w.next(), await w.next()] as Response[];
  assert.deepEqual(answers.map((r) => [r.id, r.error?.status]).sort(), [[3, 500], [4, 404]]);
});

test('a worker process that dies while it loads a model fails the load (507 when Node aborted it, as on a full JavaScript heap; else 500), which is undone and not handed to its replacement', async () => {
  const a = fakeWorker(1);
  const b = fakeWorker(2);
  let workers = [a.worker, b.worker];
  const coordinator = new MmeCoordinator(() => workers, 0, createLogger('silent'), 5_000);
  const load = (id: number, name: string) => coordinator.onRequest(b.worker, { type: 'mme-request', id, op: 'load', name, url: `/opt/ml/models/${name}/model` });
  const ack = (w: ReturnType<typeof fakeWorker>, apply: ToWorker) => coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: (apply as Apply).applyId });

  for (const [id, name, death, status, code] of [
    [1, 'hog', { pid: 7, code: null, signal: 'SIGABRT' }, 507, 'ERR_INSUFFICIENT_RESOURCES'],
    [2, 'quits', { pid: 8, code: 3, signal: null }, 500, 'ERR_MODEL_LOAD'],
  ] as const) {
    workers = [a.worker, b.worker];
    load(id, name);
    const [onA, onB] = [(await a.next()) as Apply, (await b.next()) as Apply];
    assert.deepEqual([onA.op, onB.op], ['load', 'load']);
    ack(b, onB);
    // Worker 1 dies before it acknowledged; its replacement must not be handed the model meanwhile.
    workers = [b.worker];
    coordinator.forget(1, death);
    const undo = (await b.next()) as Apply;
    assert.deepEqual([undo.op, undo.name], ['unload', name], 'all or nothing: the worker that loaded it unloads it');
    ack(b, undo);
    const answer = (await b.next()) as Response;
    assert.equal(answer.id, id);
    assert.deepEqual([answer.error?.status, answer.error?.code], [status, code], JSON.stringify(answer));
    assert.match(answer.error!.message, new RegExp(`a worker process \\(pid ${death.pid}\\) ${death.signal ? 'was ended by SIGABRT' : 'exited with code 3'} while loading model "${name}"; the load is undone`));
    assert.deepEqual(coordinator.assigned(), [], 'a replacement worker is not handed the model');
  }

  // A worker that dies owing only an unload owes nothing more: the unload goes on.
  workers = [a.worker, b.worker];
  load(3, 'ok');
  ack(a, await a.next());
  ack(b, await b.next());
  assert.deepEqual(await b.next(), { type: 'mme-response', id: 3 });
  coordinator.onRequest(b.worker, { type: 'mme-request', id: 4, op: 'unload', name: 'ok' });
  await a.next();
  ack(b, await b.next());
  coordinator.forget(1, { pid: 9, code: null, signal: 'SIGKILL' });
  assert.deepEqual(await b.next(), { type: 'mme-response', id: 4 });
});

test('smkit_model_unloads_total counts each model unloaded from every worker once: an unload that waited for the load, not a second unload of it (404), nor a failed load undone', async () => {
  const a = fakeWorker(1);
  const b = fakeWorker(2);
  const coordinator = new MmeCoordinator(() => [a.worker, b.worker], 0, createLogger('silent'), 5_000);
  const unloads = () => Number(/^smkit_model_unloads_total (\d+)$/m.exec(coordinator.metricsText())?.[1]);
  const request = (id: number, op: 'load' | 'unload', name = 'a') => coordinator.onRequest(a.worker, { type: 'mme-request', id, op, name, ...(op === 'load' ? { url: `/opt/ml/models/${name}/model` } : {}) });
  const ackBoth = async (error?: { code: 'ERR_MODEL_LOAD'; status: number; message: string }) => {
    const [onA, onB] = [(await a.next()) as Apply, (await b.next()) as Apply];
    coordinator.onApplied(a.worker, { type: 'mme-applied', applyId: onA.applyId, ...(error ? { error } : {}) });
    coordinator.onApplied(b.worker, { type: 'mme-applied', applyId: onB.applyId });
    return onA.op;
  };
  assert.match(coordinator.metricsText(), /^# HELP smkit_model_unloads_total .*\n# TYPE smkit_model_unloads_total counter\nsmkit_model_unloads_total 0\n$/);

  // DELETE while the model loads (and a second DELETE behind it): one unload.
  request(1, 'load');
  request(2, 'unload');
  request(3, 'unload');
  assert.equal(await ackBoth(), 'load');
  // Then, in either order: the load's answer, and the unload applied on both workers.
  const [first, second] = [await a.next(), await a.next()];
  const unload = (first.type === 'mme-apply' ? first : second) as Apply;
  assert.deepEqual(first.type === 'mme-response' ? first : second, { type: 'mme-response', id: 1 });
  coordinator.onApplied(a.worker, { type: 'mme-applied', applyId: unload.applyId });
  coordinator.onApplied(b.worker, { type: 'mme-applied', applyId: ((await b.next()) as Apply).applyId });
  const answers = [await a.next(), await a.next()] as Response[];
  assert.deepEqual(answers.map((r) => [r.id, r.error?.status]).sort(), [[2, undefined], [3, 404]]);
  assert.equal(unloads(), 1);

  // A load that fails is undone on every worker, and a DELETE waiting for it gets 404: no unload counted.
  request(4, 'load', 'b');
  request(5, 'unload', 'b');
  assert.equal(await ackBoth({ code: 'ERR_MODEL_LOAD', status: 500, message: 'model "b" failed to load' }), 'load');
  assert.equal(await ackBoth(), 'unload');
  const failed = [await a.next(), await a.next()] as Response[];
  assert.deepEqual(failed.map((r) => [r.id, r.error?.status]).sort(), [[4, 500], [5, 404]]);
  assert.equal(unloads(), 1);
});

test('a load a worker never finishes (a load hook whose promise never settles) fails after the apply timeout with ERR_MODEL_LOAD saying what to fix, and is undone on every worker', async () => {
  const w = fakeWorker(1);
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 50);
  coordinator.onRequest(w.worker, { type: 'mme-request', id: 1, op: 'load', name: 'never', url: '/opt/ml/models/never/model' });
  assert.equal(((await w.next()) as Apply).op, 'load');
  // Never acknowledged: the timeout fails it, and the undo reaches the worker.
  const undo = (await w.next()) as Apply;
  assert.deepEqual([undo.op, undo.name], ['unload', 'never']);
  coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: undo.applyId });
  const answer = (await w.next()) as Response;
  assert.deepEqual([answer.id, answer.error?.code, answer.error?.status], [1, 'ERR_MODEL_LOAD', 500]);
  assert.match(answer.error!.message, /^model "never" did not finish loading within 0\.05 s \(SAGEMAKER_STARTUP_TIMEOUT\) on 1 worker process\(es\): .*never settled.*raise SAGEMAKER_STARTUP_TIMEOUT/);
  assert.deepEqual(coordinator.assigned(), []);
});

test('a worker process that stops, its server stopped, while it loads a model fails the load with 503 ERR_SHUTTING_DOWN naming what stopped the server (a Ctrl-C is no SIGTERM)', async () => {
  const a = fakeWorker(1);
  const b = fakeWorker(2);
  let workers = [a.worker, b.worker];
  const coordinator = new MmeCoordinator(() => workers, 0, createLogger('silent'), 5_000);
  coordinator.onRequest(b.worker, { type: 'mme-request', id: 1, op: 'load', name: 'm', url: '/opt/ml/models/m/model' });
  const [, onB] = [(await a.next()) as Apply, (await b.next()) as Apply];
  coordinator.onApplied(b.worker, { type: 'mme-applied', applyId: onB.applyId });
  workers = [b.worker];
  coordinator.forget(1, { pid: 7, code: 0, signal: null, stopping: 'SIGINT, Ctrl-C' });
  const undo = (await b.next()) as Apply;
  coordinator.onApplied(b.worker, { type: 'mme-applied', applyId: undo.applyId });
  const answer = (await b.next()) as Response;
  assert.deepEqual([answer.error?.status, answer.error?.code], [503, 'ERR_SHUTTING_DOWN']);
  assert.match(answer.error!.message, /^the server is shutting down \(SIGINT, Ctrl-C\): a worker process \(pid 7\) stopped while loading model "m"/);
});

test('holds() says which models the workers hold, and onUnloaded hears of each model once it is unloaded from every worker (the metrics drop what exited workers counted for it)', async () => {
  const w = fakeWorker(1);
  const unloaded: string[] = [];
  const coordinator = new MmeCoordinator(() => [w.worker], 0, createLogger('silent'), 5_000, (name) => unloaded.push(name));
  const request = (id: number, op: 'load' | 'unload') => coordinator.onRequest(w.worker, { type: 'mme-request', id, op, name: 'a', ...(op === 'load' ? { url: '/opt/ml/models/a/model' } : {}) });
  const ack = (apply: ToWorker) => coordinator.onApplied(w.worker, { type: 'mme-applied', applyId: (apply as Apply).applyId });
  assert.equal(coordinator.holds('a'), false);
  request(1, 'load');
  assert.equal(coordinator.holds('a'), true, 'while it loads');
  ack(await w.next());
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 1 });
  request(2, 'unload');
  const unload = await w.next();
  assert.deepEqual(unloaded, [], 'not before every worker has unloaded it');
  ack(unload);
  assert.deepEqual(await w.next(), { type: 'mme-response', id: 2 });
  assert.deepEqual(unloaded, ['a']);
  assert.equal(coordinator.holds('a'), false);
});
