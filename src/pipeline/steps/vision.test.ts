import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InvocationContext } from '../../core/context.js';
import { type Tensor, type TensorMap, tensor, UNNAMED } from '../../core/tensor.js';
import { isToolkitError } from '../../errors/catalogue.js';
import type { Step, StepBuildEnv, StepData } from '../step.js';
import { centerCrop, resizeImage, transposeLayout } from './image-ops.js';
import { visionSteps } from './vision.js';
import { Pipeline } from '../pipeline.js';
import { setTensor } from '../../codecs/tensor-map.js';

const env = (name: string, modelDir = os.tmpdir(), maxDecodedBytes?: number): StepBuildEnv =>
  ({ modelDir, stage: 'preprocess', name, runtimeOptions: {} as never, codeDir: modelDir, runtimes: {} as never, maxDecodedBytes }) as StepBuildEnv;
const ctx = {} as InvocationContext;

async function build(kind: string, options: Record<string, unknown>, modelDir?: string): Promise<Step> {
  return visionSteps[kind]!(options, env(`preprocess[0]:${kind}`, modelDir));
}

async function run(step: Step, tensors: TensorMap): Promise<StepData> {
  return step.run({ tensors }, ctx);
}

/** A 2×3 RGB image whose pixel (y, x) is [10y + x, 100 + 10y + x, 200 + x]. */
function image(): Tensor<'uint8'> {
  const d: number[] = [];
  for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) d.push(10 * y + x, 100 + 10 * y + x, 200 + x);
  return tensor('uint8', [2, 3, 3], Uint8Array.from(d));
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isToolkitError(err) && err.code === code);
}

test('resize: nearest picks source pixels, bilinear interpolates, dtype kept, batches handled', async () => {
  const img = image();
  const up = resizeImage(img, 'hwc', 4, 6, 'nearest');
  assert.deepEqual(up.shape, [4, 6, 3]);
  // Output pixel (3, 5) maps back to source (1, 2).
  assert.deepEqual([...up.data.slice((3 * 6 + 5) * 3, (3 * 6 + 5) * 3 + 3)], [12, 112, 202]);
  const bil = resizeImage(tensor('float32', [1, 2, 1], Float32Array.from([0, 10])), 'hwc', 1, 4, 'bilinear');
  assert.deepEqual([...bil.data], [0, 2.5, 7.5, 10]);
  const u8 = resizeImage(tensor('uint8', [1, 2, 1], Uint8Array.from([0, 255])), 'hwc', 1, 4, 'bilinear');
  assert.equal(u8.dtype, 'uint8');
  assert.deepEqual([...u8.data], [0, 64, 191, 255]);
  const batch = tensor('uint8', [2, 2, 3, 3], Uint8Array.from([...image().data, ...image().data]));
  const step = await build('resize', { height: 1, width: 1, method: 'nearest' });
  const out = (await run(step, { [UNNAMED]: batch }))[ 'tensors'][UNNAMED]!;
  assert.deepEqual(out.shape, [2, 1, 1, 3]);
  // size: shorter side to 4, aspect kept (2×3 → 4×6).
  const bySize = await build('resize', { size: 4 });
  assert.deepEqual((await run(bySize, { [UNNAMED]: img })).tensors[UNNAMED]!.shape, [4, 6, 3]);
  assert.throws(() => visionSteps['resize']!({ height: 4 }, env('r')), /height" and "width/);
  assert.throws(() => visionSteps['resize']!({ size: 4, method: 'bicubic' }, env('r')), /bilinear or nearest/);
});

test('center-crop takes the middle and refuses crops larger than the image', async () => {
  const img = tensor('uint8', [3, 3, 1], Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  assert.deepEqual([...centerCrop(img, 'hwc', 1, 1).data], [5]);
  assert.deepEqual([...centerCrop(img, 'hwc', 2, 3).data], [1, 2, 3, 4, 5, 6]);
  const step = await build('center-crop', { size: 4 });
  await assert.rejects(async () => run(step, { [UNNAMED]: img }), (e: unknown) => isToolkitError(e) && e.status === 400 && /resize it first/.test(e.message));
});

test('image-normalize: scale, per-channel mean/std, presets; float32 out', async () => {
  const img = tensor('uint8', [1, 1, 3], Uint8Array.from([255, 0, 51]));
  const step = await build('image-normalize', { scale: 1 / 255, mean: [0.5, 0, 0.2], std: [0.5, 1, 0.1] });
  const out = (await run(step, { [UNNAMED]: img })).tensors[UNNAMED]!;
  assert.equal(out.dtype, 'float32');
  [1, 0, 0].forEach((v, i) => assert.ok(Math.abs(Number(out.data[i]) - v) < 1e-6));
  const imagenet = (await run(await build('image-normalize', { preset: 'imagenet' }), { [UNNAMED]: img })).tensors[UNNAMED]!;
  assert.ok(Math.abs(Number(imagenet.data[0]) - (1 - 0.485) / 0.229) < 1e-5);
  // CHW layout: the channel is the first axis.
  const chw = tensor('float32', [2, 1, 1], Float32Array.from([1, 1]));
  const outChw = (await run(await build('image-normalize', { mean: [1, 0], layout: 'chw' }), { [UNNAMED]: chw })).tensors[UNNAMED]!;
  assert.deepEqual([...outChw.data], [0, 1]);
  await assert.rejects(async () => run(await build('image-normalize', { mean: [1, 2] }), { [UNNAMED]: img }), /3 channels/);
  assert.throws(() => visionSteps['image-normalize']!({ preset: 'nope' }, env('n')), /imagenet/);
});

test('channel-order: HWC ↔ CHW round trip, RGB ↔ BGR swap', async () => {
  const img = image();
  const chw = transposeLayout(img, 'hwc', 'chw');
  assert.deepEqual(chw.shape, [3, 2, 3]);
  assert.deepEqual([...chw.data.slice(0, 6)], [0, 1, 2, 10, 11, 12]);
  assert.deepEqual([...transposeLayout(chw, 'chw', 'hwc').data], [...img.data]);
  const step = await build('channel-order', { colors: 'bgr', layout: 'chw' });
  const out = (await run(step, { [UNNAMED]: img })).tensors[UNNAMED]!;
  assert.deepEqual(out.shape, [3, 2, 3]);
  assert.deepEqual([...out.data.slice(0, 3)], [200, 201, 202]);
  const bgr = (await run(await build('channel-order', { colors: 'bgr' }), { [UNNAMED]: img })).tensors[UNNAMED]!;
  assert.deepEqual([...bgr.data.slice(0, 3)], [200, 100, 0]);
  assert.throws(() => visionSteps['channel-order']!({}, env('c')), /layout/);
});

test('resize refuses, before allocating, images it would make larger than a request may decode to or than an image may be', async () => {
  const tooLarge = (step: string, what: RegExp) => (e: unknown) =>
    isToolkitError(e) && e.code === 'ERR_DECODED_TOO_LARGE' && e.status === 413 && e.details?.['step'] === step && what.test(e.message);
  // A 1×4000 strip (12 KB) to 256 on its shorter side: 256×1 024 000 pixels, 786 MB as uint8.
  const strip = tensor('uint8', [1, 4000, 3], new Uint8Array(12_000));
  const limited = await visionSteps['resize']!({ size: 256 }, env('preprocess[0]:resize', os.tmpdir(), 96 * 1024 * 1024));
  await assert.rejects(async () => limited.run({ tensors: { [UNNAMED]: strip } }, ctx), tooLarge('preprocess[0]:resize', /^preprocess\[0\]:resize: the 1×4000 image would be resized to 256×1024000 \(750 MB\), more than the 96 MB a request's inputs may take \(SMKIT_MAX_DECODED_MB\)/));
  // Without a budget, the decoder's pixel limit: 256×51 200 000 pixels was a RangeError (500).
  const unlimited = await build('resize', { size: 256 });
  await assert.rejects(async () => run(unlimited, { [UNNAMED]: tensor('uint8', [1, 200_000, 1], new Uint8Array(200_000)) }), tooLarge('preprocess[0]:resize', /more than the 50000000 pixels an image may have/));
  assert.deepEqual((await run(limited, { [UNNAMED]: tensor('uint8', [2, 4, 1], new Uint8Array(8)) })).tensors[UNNAMED]!.shape, [256, 512, 1]);
});

test('add-batch-dim adds a leading 1 to single images only', async () => {
  const step = await build('add-batch-dim', {});
  const out = await run(step, { [UNNAMED]: image(), batch: tensor('uint8', [2, 1, 1, 1], Uint8Array.from([1, 2])) });
  assert.deepEqual(out.tensors[UNNAMED]!.shape, [1, 2, 3, 3]);
  assert.deepEqual(out.tensors['batch']!.shape, [2, 1, 1, 1]);
});

test('image steps keep a tensor the request names __proto__ as a tensor of that name', async () => {
  const request = (): TensorMap => {
    const map: TensorMap = {};
    setTensor(map, '__proto__', image());
    return map;
  };
  for (const [kind, options] of [['resize', { height: 1, width: 1 }], ['add-batch-dim', {}], ['threshold', { value: 50 }]] as const) {
    const out = await run(await build(kind, options), request());
    assert.deepEqual(Object.keys(out.tensors), ['__proto__'], kind);
    assert.equal(Object.getPrototypeOf(out.tensors), Object.prototype, kind);
  }
});

test("threshold names itself once when the pipeline runs it on strings (a model's output: a 500)", async () => {
  const step = await visionSteps['threshold']!({}, { ...env('postprocess[0]:threshold'), stage: 'postprocess' });
  await assert.rejects(new Pipeline([step]).run({ tensors: { x: tensor('string', [1], ['a']) } }, { log: { isLevelEnabled: () => false } } as unknown as InvocationContext), {
    code: 'ERR_STEP_FAILED',
    message: 'postprocess[0]:threshold: tensor "x" holds strings, not scores',
  });
});

test('an image-normalize whose mean and std have different counts of values is refused when built, a preset\'s included', async () => {
  await assert.rejects(async () => build('image-normalize', { mean: [0.5, 0.5, 0.5], std: [1, 1] }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_PIPELINE_INVALID' && e.message === 'preprocess[0]:image-normalize: "mean" has 3 values and "std" 2: give each one value or one per channel');
  await assert.rejects(async () => build('image-normalize', { preset: 'imagenet', std: [1, 1] }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_PIPELINE_INVALID');
  await build('image-normalize', { preset: 'imagenet', std: [2] });
});

test('image steps skip non-image tensors and explain when there is no image', async () => {
  const step = await build('resize', { height: 1, width: 1 });
  const out = await run(step, { [UNNAMED]: image(), scale: tensor('float32', [1], Float32Array.from([2])) });
  assert.deepEqual(out.tensors['scale']!.shape, [1]);
  await assert.rejects(async () => run(step, { x: tensor('float32', [4], new Float32Array(4)) }), (e: unknown) => isToolkitError(e) && e.code === 'ERR_INPUT_MISMATCH' && /rank 3 or 4/.test(e.message));
  throwsCode(() => resizeImage(tensor('float32', [4], new Float32Array(4)), 'hwc', 1, 1, 'nearest'), 'ERR_INPUT_MISMATCH');
});

test('threshold: a bool mask, or labels over the threshold per row with a labels file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'smkit-vision-'));
  try {
    await writeFile(path.join(dir, 'labels.txt'), 'cat\ndog\nbird\n');
    const scores = tensor('float32', [2, 3], Float32Array.from([0.9, 0.2, 0.6, 0.1, 0.1, 0.1]));
    const mask = (await run(await build('threshold', { value: 0.5 }), { probabilities: scores })).tensors['probabilities']!;
    assert.equal(mask.dtype, 'bool');
    assert.deepEqual([...mask.data], [1, 0, 1, 0, 0, 0]);
    const labelled = await run(await build('threshold', { value: 0.5, labels: 'labels.txt' }, dir), { probabilities: scores });
    assert.deepEqual(labelled.value, [
      [
        { label: 'cat', score: Math.fround(0.9) },
        { label: 'bird', score: Math.fround(0.6) },
      ],
      [],
    ]);
    // Rows of no scores answer an empty list each, not no rows.
    assert.deepEqual((await run(await build('threshold', { labels: ['a'] }), { p: tensor('float32', [2, 0], new Float32Array(0)) })).value, [[], []]);
    assert.throws(() => visionSteps['threshold']!({ labels: '../outside.txt' }, env('t', dir)), /inside the model directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a step naming its tensor (tensor: image) takes an image body, the lone tensor its client cannot name; one named otherwise is no match', async () => {
  // An image/jpeg request decodes to one unnamed tensor: resize { tensor: image } refused it (400) and
  // add-batch-dim { tensor: image } left it without the batch dimension the model needs.
  const resized = await run(await build('resize', { height: 1, width: 1, tensor: 'image' }), { [UNNAMED]: image() });
  assert.deepEqual(resized.tensors[UNNAMED]!.shape, [1, 1, 3]);
  const batched = await run(await build('add-batch-dim', { tensor: 'image' }), { [UNNAMED]: image() });
  assert.deepEqual(batched.tensors[UNNAMED]!.shape, [1, 2, 3, 3]);
  const masked = await run(await build('threshold', { value: 150, tensor: 'image' }), { [UNNAMED]: image() });
  assert.equal(masked.tensors[UNNAMED]!.dtype, 'bool');
  await assert.rejects(async () => run(await build('resize', { height: 1, width: 1, tensor: 'image' }), { photo: image() }), {
    code: 'ERR_INPUT_MISMATCH',
    message: 'preprocess[0]:resize: no tensor named image; the request has photo [2, 3, 3]',
  });
  assert.deepEqual((await run(await build('add-batch-dim', { tensor: 'image' }), { photo: image() })).tensors['photo']!.shape, [2, 3, 3]);
});
