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

test('a run that settles before the next turn of the loop is timed from its call; runs are not timed before watching starts', async () => {
  let now = 0;
  const clock = new ModelRunClock(() => now);
  const runtime = clock.timed<ModelRuntime>({ ...immediateRuntime(() => undefined), predict: async () => ((now += 7), {}) });
  await runtime.predict({});
  clock.takeLongest();
  assert.equal(clock.takeLongest(), 0, 'the run before watching began was not timed');
  await runtime.predict({});
  await runtime.predict({});
  assert.equal(clock.takeLongest(), 7);
});
