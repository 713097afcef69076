import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceEngine } from './engine.js';
import { createLogger } from '../logging/logger.js';
import { engineOptions } from '../../test/helpers/engine-options.js';

const log = createLogger('silent');

/** A model directory whose handler exports predictBatchFn (no model file: the handler predicts). */
function handlerDir(source: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-batchfn-'));
  mkdirSync(path.join(dir, 'code'));
  writeFileSync(path.join(dir, 'code', 'inference.mjs'), source);
  return dir;
}

const HANDLER = `
export const calls = [];
export async function predictBatchFn(inputs, model, contexts) {
  calls.push(inputs.length);
  await new Promise((r) => setTimeout(r, 5));
  return inputs.map((input, i) => {
    const x = input.tensors[''].data[0];
    if (x < 0) return new Error('negative input in request ' + contexts[i].requestId);
    contexts[i].setCustomAttributes('batch=' + inputs.length);
    return { value: x * 10 };
  });
}
export function outputFn(prediction) {
  return JSON.stringify(prediction.value);
}
`;

async function load(dir: string, maxSize: number): Promise<InferenceEngine> {
  return InferenceEngine.load(engineOptions(dir, { batching: { maxSize, maxDelayMs: 0 } }));
}

const invoke = (engine: InferenceEngine, x: number) =>
  engine.invoke({ requestId: `r${x}`, body: Buffer.from(`${x}\n`), contentType: 'text/csv', headers: {} }, log);

test('predictBatchFn gets the requests that arrive while it runs, each answer and error stays its own', async () => {
  const dir = handlerDir(HANDLER);
  try {
    const engine = await load(dir, 8);
    const sizes: number[] = [];
    const xs = [1, 2, 3, -4, 5, 6, 7, 8, 9, 10];
    const outcomes = await Promise.allSettled(xs.map((x) => invoke(engine, x)));
    outcomes.forEach((o, i) => {
      const x = xs[i]!;
      if (x < 0) {
        assert.equal(o.status, 'rejected');
        assert.match(String((o as PromiseRejectedResult).reason), new RegExp(`negative input in request r${x}`));
        return;
      }
      assert.equal(o.status, 'fulfilled', `request ${x}`);
      const res = (o as PromiseFulfilledResult<Awaited<ReturnType<typeof invoke>>>).value;
      assert.equal(res.body.toString(), String(x * 10));
      sizes.push(Number(/batch=(\d+)/.exec(res.customAttributes ?? '')?.[1]));
    });
    // All ten arrived in one turn: a full batch of 8 (the failing one among them), then 2.
    assert.deepEqual(engine.describe().maxBatchSize, 8);
    assert.deepEqual(sizes, [8, 8, 8, 8, 8, 8, 8, 2, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with batching off predictBatchFn is called with one request at a time', async () => {
  const dir = handlerDir(HANDLER);
  try {
    const engine = await load(dir, 1);
    const answers = await Promise.all([1, 2, 3].map((x) => invoke(engine, x)));
    assert.deepEqual(
      answers.map((a) => a.customAttributes),
      ['batch=1', 'batch=1', 'batch=1'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn that returns the wrong number of predictions is a clear error', async () => {
  const dir = handlerDir('export function predictBatchFn(inputs) { return []; }');
  try {
    const engine = await load(dir, 4);
    await assert.rejects(invoke(engine, 1), /predictBatchFn must return an array with one prediction per input \(1\), got 0 items/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn whose array throws when a prediction is read (a getter, a Proxy) fails its batch, whose requests are retried alone: none is left unanswered', { timeout: 10_000 }, async () => {
  const dir = handlerDir(`
export async function predictBatchFn(inputs) {
  await new Promise((r) => setTimeout(r, 5));
  const out = inputs.map((input) => ({ value: input.tensors[''].data[0] }));
  if (inputs.length > 1) Object.defineProperty(out, inputs.length - 1, { get() { throw new Error('not this prediction'); } });
  return out;
}
export function outputFn(prediction) { return JSON.stringify(prediction.value); }
`);
  try {
    const engine = await load(dir, 4);
    // The first runs alone; the three that arrive meanwhile run as one batch, whose last prediction throws.
    const answers = await Promise.all([1, 2, 3, 4].map((x) => invoke(engine, x)));
    // Before: the requests from the one that threw on were never answered.
    assert.deepEqual(answers.map((a) => a.body.toString('utf8')), ['1', '2', '3', '4']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn array with its own iterator is read by index, as its length was checked: each request gets its own prediction', async () => {
  const dir = handlerDir(`
export function predictBatchFn(inputs) {
  const out = inputs.map((input) => ({ value: input.tensors[''].data[0] }));
  out[Symbol.iterator] = function* () { yield { value: -1 }; };
  return out;
}
export function outputFn(prediction) { return JSON.stringify(prediction.value); }
`);
  try {
    const engine = await load(dir, 4);
    const answers = await Promise.all([1, 2, 3].map((x) => invoke(engine, x)));
    assert.deepEqual(answers.map((a) => a.body.toString('utf8')), ['1', '2', '3']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn that changes its inputs in place and then throws: each request is retried on its input as it came', async () => {
  // Scales every input by 10 in place, as a normalising handler might, and fails any batch with a
  // negative value in it: retried on the scaled inputs, 1 would be answered 100, not 10.
  const dir = handlerDir(`
export async function predictBatchFn(inputs) {
  for (const input of inputs) { const d = input.tensors[''].data; for (let i = 0; i < d.length; i++) d[i] *= 10; }
  if (inputs.length > 1 && inputs.some((input) => input.tensors[''].data[0] < 0)) throw new Error('a negative value in the batch');
  return inputs.map((input) => ({ value: input.tensors[''].data[0] }));
}
export function outputFn(prediction) {
  return JSON.stringify(prediction.value);
}
`);
  try {
    const lines: { obj: object | string; msg?: string }[] = [];
    const quiet = () => undefined;
    const logger = { debug: quiet, info: quiet, error: quiet, warn: (obj: object | string, msg?: string) => void lines.push({ obj, msg }) };
    const engine = await InferenceEngine.load(engineOptions(dir, { batching: { maxSize: 8, maxDelayMs: 0 }, log: logger }));
    const answers = await Promise.all([1, 2, -3, 4].map((x) => invoke(engine, x)));
    assert.deepEqual(
      answers.map((a) => a.body.toString()),
      ['10', '20', '-30', '40'],
    );
    // The failed call is logged once, by the hook's name, without the requests' values.
    assert.deepEqual(lines, [
      {
        obj: { step: 'predictBatchFn', batchSize: 4, code: 'ERR_USER_CODE' },
        msg: 'a batched run of 4 requests of predictBatchFn failed (ERR_USER_CODE: a negative value in the batch); each request is retried alone',
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn that fails every batched call while each request succeeds alone is paused from batching, and one warning by its name says so', async () => {
  // Takes one input at a time, as a handler written for batching off might.
  const dir = handlerDir(`
export const sizes = [];
export async function predictBatchFn(inputs) {
  sizes.push(inputs.length);
  await new Promise((r) => setTimeout(r, 2));
  if (inputs.length > 1) throw new Error('one input at a time');
  return [{ value: inputs[0].tensors[''].data[0] }];
}
export function outputFn(prediction) {
  return JSON.stringify(prediction.value);
}
`);
  try {
    const lines: { obj: object | string; msg?: string }[] = [];
    const quiet = () => undefined;
    const logger = { debug: quiet, info: quiet, error: quiet, warn: (obj: object | string, msg?: string) => void lines.push({ obj, msg }) };
    const engine = await InferenceEngine.load(engineOptions(dir, { batching: { maxSize: 8, maxDelayMs: 0 }, log: logger }));
    const paused = () => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('batched runs in a row failed'));
    // Rounds of concurrent requests, until batched calls have failed often enough: every request is answered.
    for (let round = 0; round < 200 && paused().length === 0; round++) {
      const answers = await Promise.all([1, 2, 3, 4].map((x) => invoke(engine, x)));
      assert.deepEqual(
        answers.map((a) => a.body.toString()),
        ['1', '2', '3', '4'],
      );
    }
    assert.deepEqual(paused(), [
      {
        obj: { step: 'predictBatchFn', failedBatches: 3, pauseSeconds: 60 },
        msg: 'predictBatchFn: 3 batched runs in a row failed while each of their requests succeeded alone; requests run one by one for the next 60 s, then batching is tried again',
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn gets a tensor a request names __proto__ as a tensor of that name', async () => {
  const dir = handlerDir(`
export async function predictBatchFn(inputs) {
  return inputs.map((input) => ({ value: inputs.length + ':' + Object.keys(input.tensors).join(',') }));
}
export function outputFn(prediction) {
  return JSON.stringify(prediction.value);
}
`);
  try {
    const engine = await load(dir, 8);
    const body = Buffer.from('{"inputs": {"__proto__": [1], "x": [2]}}');
    const answers = await Promise.all([1, 2].map((i) => engine.invoke({ requestId: `r${i}`, body, contentType: 'application/json', headers: {} }, log)));
    assert.deepEqual(answers.map((a) => a.body.toString()), ['"2:__proto__,x"', '"2:__proto__,x"']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a predictBatchFn that returns something other than an array is told what it returned', async () => {
  const dir = handlerDir(`
export function predictBatchFn(inputs) {
  const x = inputs[0].tensors[''].data[0];
  return x === 1 ? Float32Array.from(inputs, () => 0.5) : x === 2 ? null : x === 4 ? Int32Array.from(inputs, () => 1) : { scores: [] };
}`);
  try {
    const engine = await load(dir, 4);
    await assert.rejects(invoke(engine, 1), /predictBatchFn must return an array with one prediction per input \(1\), got a Float32Array of 1: return a plain array \(Array\.from\)/);
    await assert.rejects(invoke(engine, 2), /predictBatchFn must return an array with one prediction per input \(1\), got null$/);
    await assert.rejects(invoke(engine, 3), /predictBatchFn must return an array with one prediction per input \(1\), got an object$/);
    await assert.rejects(invoke(engine, 4), /predictBatchFn must return an array with one prediction per input \(1\), got an Int32Array of 1: return a plain array \(Array\.from\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('custom attributes a failed batched call set do not reach the answers of its one-by-one retries; a call that succeeds keeps its own, and each context is the one inputFn got', async () => {
  // Sets attributes only in calls of several requests: retried alone, a request sets none.
  const dir = handlerDir(`
const seen = new WeakMap();
export function inputFn(body, contentType, context) {
  const x = Number(body.toString());
  seen.set(context, x);
  return x;
}
export async function predictBatchFn(inputs, model, contexts) {
  if (inputs.length > 1) contexts.forEach((c, i) => c.setCustomAttributes('run-of-' + inputs.length + '-for-' + inputs[i]));
  if (inputs.length > 1 && inputs.includes(-3)) throw new Error('a negative value in the batch');
  return inputs.map((x, i) => (seen.get(contexts[i]) === x ? { x } : new Error('not the context inputFn got')));
}
export function outputFn(prediction) {
  return JSON.stringify(prediction.x);
}
`);
  try {
    const engine = await load(dir, 8);
    const failedBatch = await Promise.allSettled([1, 2, -3, 4].map((x) => invoke(engine, x)));
    assert.deepEqual(
      failedBatch.map((o) => (o.status === 'fulfilled' ? [o.value.body.toString(), o.value.customAttributes] : 'failed')),
      [['1', undefined], ['2', undefined], ['-3', undefined], ['4', undefined]],
    );
    const okBatch = await Promise.all([5, 6].map((x) => invoke(engine, x)));
    assert.deepEqual(
      okBatch.map((a) => [a.body.toString(), a.customAttributes]),
      [['5', 'run-of-2-for-5'], ['6', 'run-of-2-for-6']],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
