import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelRunClock } from './model-run-clock.js';
import type { ModelRuntime } from './runtime.js';
import type { TensorMap } from '../core/tensor.js';

/** A runtime that runs, as onnxruntime-node does, from a `setImmediate`; `during` is called in the run. */
function immediateRuntime(during: () => void): ModelRuntime {
  return {
    name: 'fake',
    backend: 'cpu',
    inputs: [],
    outputs: [],
    predict: () =>
      new Promise<TensorMap>((resolve) =>
        setImmediate(() => {
          during();
          resolve({});
        }),
      ),
    dispose: async () => undefined,
  };
}

test('a model run is timed from when it starts: a hold of the event loop before it (connections accepted) is not counted', async () => {
  let now = 0;
  const clock = new ModelRunClock(() => now);
  const runtime = clock.timed(immediateRuntime(() => (now += 5)));
  assert.equal(clock.takeLongest(), 0, 'watching starts');
  const run = runtime.predict({});
  // The loop is held 2.3 s before the run's turn comes (the poll phase comes before setImmediate's).
  now += 2300;
  await run;
  assert.equal(clock.takeLongest(), 5);
  assert.equal(clock.takeLongest(), 0, 'each call starts over');
});

test('runs called together and run one after the other in one check phase count together: they hold the loop together', async () => {
  let now = 0;
  const clock = new ModelRunClock(() => now);
  const runtime = clock.timed(immediateRuntime(() => (now += 400)));
  clock.takeLongest();
  // Eight concurrent requests of a 400 ms model: the loop is held 3.2 s, though no run takes 1 s.
  const runs = Array.from({ length: 8 }, () => runtime.predict({}));
  now += 2300;
  await Promise.all(runs);
  assert.equal(clock.takeLongest(), 3200);

  // A run called after a check phase is timed from the next one.
  await runtime.predict({});
  assert.equal(clock.takeLongest(), 400);
});

test('a run that settles before the next turn of the loop is timed from its call; runs are not timed before watching starts', async () => {
  let now = 0;
  const clock = new ModelRunClock(() => now);
  const runtime = clock.timed<ModelRuntime>({ ...immediateRuntime(() => undefined), predict: async () => ((now += 7), {}) });
  await runtime.predict({});
  clock.takeLongest();
  assert.equal(clock.takeLongest(), 0, 'the run before watching began was not timed');
  now += 1000;
  await runtime.predict({});
  await runtime.predict({});
  assert.equal(clock.takeLongest(), 7);
  // A run that fails is timed too, and its failure reaches the caller.
  const failing = clock.timed<ModelRuntime>({ ...immediateRuntime(() => undefined), predict: async () => ((now += 9), Promise.reject(new Error('bad input'))) });
  await assert.rejects(failing.predict({}), /bad input/);
  assert.equal(clock.takeLongest(), 9);
});

test('a run that fails at once, late in a long poll phase while other runs wait for their turn, is timed from its own call', async () => {
  let now = 0;
  const clock = new ModelRunClock(() => now);
  const good = clock.timed(immediateRuntime(() => (now += 5)));
  const bad = clock.timed<ModelRuntime>({ ...immediateRuntime(() => undefined), predict: async () => ((now += 1), Promise.reject(new Error('inputs do not match the model'))) });
  clock.takeLongest();
  const waiting = good.predict({});
  // A burst of connections accepted, then a request whose inputs are refused before the model runs.
  now += 2000;
  await assert.rejects(bad.predict({}), /do not match/);
  await waiting;
  assert.equal(clock.takeLongest(), 5);
});

test('a runtime that cannot be timed (frozen) leaves the watchdog to the loop delay alone', async () => {
  const clock = new ModelRunClock(() => 0);
  const frozen = Object.freeze(immediateRuntime(() => undefined));
  assert.equal(clock.timed(frozen), frozen);
  assert.deepEqual(await frozen.predict({}), {});
  assert.equal(clock.takeLongest(), Number.POSITIVE_INFINITY);
});

test("a predict step's runtime is timed by this process's clock, batched or not (what the inline watchdog reads)", async () => {
  const { batchedRuntime } = await import('../pipeline/steps/predict.js');
  const { modelRunClock } = await import('./model-run-clock.js');
  const busy = () => {
    for (const end = performance.now() + 30; performance.now() < end; );
  };
  const env = { runtimeOptions: { devices: ['cpu'], intraOpThreads: 0, workerIndex: 0, log: { debug() {}, info() {}, warn() {}, error() {} } as never } };
  modelRunClock.takeLongest();
  for (const batching of [undefined, { maxSize: 4, maxDelayMs: 0 }]) {
    const runtime = await batchedRuntime(immediateRuntime(busy), { ...env, ...(batching ? { batching } : {}) }, 'model');
    modelRunClock.takeLongest();
    await runtime.predict({});
    assert.ok(modelRunClock.takeLongest() >= 30, `the 30 ms run was timed (batching ${batching ? 'on' : 'off'})`);
  }
});

test('onRun is told of each run called while runs are watched, before it starts; running counts those not settled, failed ones included', async () => {
  const clock = new ModelRunClock(() => 0);
  const order: string[] = [];
  clock.onRun(() => order.push('told'));
  let fail = false;
  const runtime = clock.timed<ModelRuntime>({
    ...immediateRuntime(() => undefined),
    predict: () => (order.push('run'), fail ? Promise.reject(new Error('bad')) : new Promise<TensorMap>((resolve) => setImmediate(() => resolve({})))),
  });
  await runtime.predict({});
  assert.deepEqual(order, ['run'], 'not before watching starts');
  clock.takeLongest();
  const runs = [runtime.predict({}), runtime.predict({})];
  assert.deepEqual(order, ['run', 'told', 'run', 'told', 'run']);
  assert.equal(clock.running, 2);
  await Promise.all(runs);
  assert.equal(clock.running, 0);
  fail = true;
  await assert.rejects(runtime.predict({}), /bad/);
  assert.equal(clock.running, 0);
  assert.equal(clock.blind, false);
});

test('a runtime that cannot be timed makes the clock blind and tells the listener, which must watch for good', () => {
  const clock = new ModelRunClock(() => 0);
  let told = 0;
  clock.onRun(() => told++);
  clock.timed(Object.freeze(immediateRuntime(() => undefined)));
  assert.equal(clock.blind, true);
  assert.equal(told, 1);
});
