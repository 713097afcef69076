import { allocate, sizeOf, type TensorMap, type Tensor } from '../../core/tensor.js';
import { MAX_IMAGE_PIXELS } from '../../codecs/image-decode.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { failedStep, misfitCode, namedOrLone, stepFailure, type Step, type StepBuildEnv, type StepBuilder, type StepData } from '../step.js';
import { centerCrop, NORMALIZE_PRESETS, normalizeImage, resizeImage, swapRedBlue, transposeLayout } from './image-ops.js';
import { type ImageLayout, imageGeometry, numericData, outputDType } from './image-tensor.js';
import { loadLabels } from './labels.js';
import { setTensor } from '../../codecs/tensor-map.js';
import type { StepTraits } from '../registry.js';

type Options = Readonly<Record<string, unknown>>;

function bad(env: StepBuildEnv, message: string): ToolkitError {
  return new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: ${message}`);
}

function positiveInt(env: StepBuildEnv, options: Options, key: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(env, `"${key}" must be a whole number of at least 1`);
  return v;
}

function perChannel(env: StepBuildEnv, options: Options, key: string, fallback: number): number[] {
  const v = options[key];
  if (v === undefined) return [fallback];
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw bad(env, `"${key}" must be a number or a list of numbers (one per channel)`);
  }
  return list as number[];
}

function layoutOption(env: StepBuildEnv, options: Options, key = 'layout'): ImageLayout {
  const v = options[key] ?? 'hwc';
  const s = String(v).toLowerCase();
  if (s === 'hwc' || s === 'nhwc') return 'hwc';
  if (s === 'chw' || s === 'nchw') return 'chw';
  throw bad(env, `"${key}" must be hwc (channels last) or chw (channels first)`);
}

/**
 * A step that transforms image tensors one by one. With `tensor: name` (or `tensors: [...]`) it
 * applies to those; otherwise to every tensor of rank 3 or 4 (images and batches of images), so
 * other named inputs pass through untouched.
 */
function imageStep(env: StepBuildEnv, options: Options, fn: (t: Tensor, name: string) => Tensor): Step {
  const one = options['tensor'];
  const many = options['tensors'];
  const named = one !== undefined || many !== undefined;
  const names = new Set<string>(typeof one === 'string' ? [one] : Array.isArray(many) ? many.map(String) : []);
  if (named && names.size === 0) throw bad(env, '"tensor" must be a name, or "tensors" a list of names');
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const tensors: TensorMap = {};
      let applied = 0;
      // A lone unnamed tensor (an image body, which its client cannot name) is the named one.
      const selected = namedOrLone(names, data.tensors);
      for (const [name, t] of Object.entries(data.tensors)) {
        const hit = named ? selected(name) : t.shape.length === 3 || t.shape.length === 4;
        try {
          setTensor(tensors, name, hit ? fn(t, name) : t);
        } catch (err) {
          // The image helpers name the step themselves (they are given env.name); record it as data.
          if (err instanceof ToolkitError && failedStep(err) === undefined) {
            throw new ToolkitError(err.code, err.message, { status: err.status, cause: err, details: { ...err.details, step: env.name } });
          }
          throw err;
        }
        if (hit) applied++;
      }
      if (applied === 0) {
        const have = Object.entries(data.tensors).map(([n, t]) => `${n || '(unnamed)'} [${t.shape.join(', ')}]`).join(', ') || 'none';
        throw stepFailure(
          env.name,
          'ERR_INPUT_MISMATCH',
          named
            ? `no tensor named ${[...names].join(', ')}; the request has ${have}`
            : `no image tensor (rank 3 or 4) in the request; it has ${have}`,
        );
      }
      return { ...data, tensors };
    },
  };
}

/** Target size of a resize or crop: `height` + `width`, or `size` (a square; for resize, the shorter side). */
function sizeOptions(env: StepBuildEnv, options: Options): { height?: number; width?: number; size?: number } {
  const height = positiveInt(env, options, 'height');
  const width = positiveInt(env, options, 'width');
  const size = positiveInt(env, options, 'size');
  if (size !== undefined && (height !== undefined || width !== undefined)) throw bad(env, 'give either "size" or "height" and "width", not both');
  if (size === undefined && (height === undefined || width === undefined)) throw bad(env, 'needs "height" and "width" (or "size")');
  return { ...(height !== undefined ? { height } : {}), ...(width !== undefined ? { width } : {}), ...(size !== undefined ? { size } : {}) };
}

/**
 * `resize`: `{ height, width }` resizes to exactly that size; `{ size }` scales the shorter side to
 * `size`, keeping the aspect ratio (the usual "resize 256, crop 224"). `method`: `bilinear` (default)
 * or `nearest`. `layout`: `hwc` (default) or `chw`.
 */
const resize: StepBuilder = (options, env) => {
  const { height, width, size } = sizeOptions(env, options);
  const method = String(options['method'] ?? options['interpolation'] ?? 'bilinear').toLowerCase();
  if (method !== 'bilinear' && method !== 'nearest') throw bad(env, '"method" must be bilinear or nearest');
  const layout = layoutOption(env, options);
  return imageStep(env, options, (t) => {
    let h = height;
    let w = width;
    if (size !== undefined) {
      const g = imageGeometry(t, layout, env.name);
      const s = size / Math.min(g.h, g.w);
      h = Math.max(1, Math.round(g.h * s));
      w = Math.max(1, Math.round(g.w * s));
    }
    checkResizedSize(env, t, layout, h!, w!);
    return resizeImage(t, layout, h!, w!, method, env.name);
  });
};

/**
 * Refuses (413 `ERR_DECODED_TOO_LARGE`) a resize whose images would have more pixels than an image
 * is decoded with, or take more memory than a request's inputs may (`SMKIT_MAX_DECODED_MB`), before
 * anything is allocated. With `size` the result grows with the image's aspect ratio: a 1×4000 PNG
 * of a few hundred bytes resized to 256 on its shorter side is 256×1 024 000 pixels, which took
 * 786 MB and 27 s of the inference thread.
 */
function checkResizedSize(env: StepBuildEnv, t: Tensor, layout: ImageLayout, h: number, w: number): void {
  const g = imageGeometry(t, layout, env.name);
  if (g.h === h && g.w === w) return;
  const bytes = g.n * h * w * g.c * (allocate(outputDType(t), 0) as Uint8Array).BYTES_PER_ELEMENT;
  const limit = env.maxDecodedBytes ?? Number.POSITIVE_INFINITY;
  if (h * w <= MAX_IMAGE_PIXELS && !(bytes > limit)) return;
  const mb = (n: number) => `${+(n / (1024 * 1024)).toFixed(2)} MB`;
  const over = bytes > limit ? `more than the ${mb(limit)} a request's inputs may take (SMKIT_MAX_DECODED_MB)` : `more than the ${MAX_IMAGE_PIXELS} pixels an image may have`;
  throw stepFailure(
    env.name,
    'ERR_DECODED_TOO_LARGE',
    `the ${g.h}×${g.w} image would be resized to ${h}×${w} (${mb(bytes)}${g.n === 1 ? '' : ` for ${g.n} images`}), ${over}; send images of a more usual aspect ratio or size`,
    { details: { decodedBytes: bytes, ...(Number.isFinite(limit) ? { maxDecodedBytes: limit } : {}) } },
  );
}

/** `center-crop`: `{ height, width }` or `{ size }` (square). Images smaller than the crop are a 400. */
const centerCropStep: StepBuilder = (options, env) => {
  const { height, width, size } = sizeOptions(env, options);
  const layout = layoutOption(env, options);
  return imageStep(env, options, (t) => centerCrop(t, layout, height ?? size!, width ?? size!, env.name));
};

/**
 * `image-normalize`: `scale` (default 1), `mean` and `std` (one value, or one per channel), or a
 * `preset` (`imagenet`, `unit` = x/255, `symmetric` = x/127.5 − 1). Output is float32.
 */
const imageNormalize: StepBuilder = (options, env) => {
  const presetName = options['preset'];
  let preset: { scale: number; mean: number[]; std: number[] } | undefined;
  if (presetName !== undefined) {
    preset = NORMALIZE_PRESETS[String(presetName)];
    if (!preset) throw bad(env, `"preset" must be one of ${Object.keys(NORMALIZE_PRESETS).join(', ')}`);
  }
  const scaleRaw = options['scale'] ?? preset?.scale ?? 1;
  if (typeof scaleRaw !== 'number' || !Number.isFinite(scaleRaw)) throw bad(env, '"scale" must be a number');
  const mean = options['mean'] === undefined && preset ? preset.mean : perChannel(env, options, 'mean', 0);
  const std = options['std'] === undefined && preset ? preset.std : perChannel(env, options, 'std', 1);
  if (std.some((s) => s === 0)) throw bad(env, '"std" values must not be 0');
  // No image has both counts of channels: every request would fail, so the file is refused now.
  if (mean.length !== 1 && std.length !== 1 && mean.length !== std.length) throw bad(env, `"mean" has ${mean.length} values and "std" ${std.length}: give each one value or one per channel`);
  const layout = layoutOption(env, options);
  return imageStep(env, options, (t) => normalizeImage(t, layout, scaleRaw, mean, std, env.name));
};

/**
 * `channel-order`: `layout: chw` moves channels first (HWC → CHW, NHWC → NCHW), `layout: hwc` moves
 * them last; `colors: bgr` (or `rgb`) swaps red and blue. The swap happens before the transpose;
 * `from` names the input layout when only `colors` is given (default `hwc`).
 */
const channelOrder: StepBuilder = (options, env) => {
  const target = options['layout'] === undefined ? undefined : layoutOption(env, options);
  const colors = options['colors'];
  if (colors !== undefined && colors !== 'bgr' && colors !== 'rgb') throw bad(env, '"colors" must be bgr or rgb');
  if (target === undefined && colors === undefined) throw bad(env, 'needs "layout" (hwc or chw) and/or "colors" (bgr or rgb)');
  const from: ImageLayout = options['from'] !== undefined ? layoutOption(env, options, 'from') : target === undefined ? 'hwc' : target === 'chw' ? 'hwc' : 'chw';
  return imageStep(env, options, (t) => {
    const swapped = colors !== undefined ? swapRedBlue(t, from, env.name) : t;
    return target !== undefined ? transposeLayout(swapped, from, target, env.name) : swapped;
  });
};

/**
 * `add-batch-dim`: prepends a batch dimension of 1 to tensors of rank `rank` (default 3, a single
 * image); tensors that already have a batch dimension (rank 4, several images) pass unchanged, so
 * one pipeline serves single images and multipart batches alike.
 */
const addBatchDim: StepBuilder = (options, env) => {
  const rank = options['rank'] ?? 3;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0) throw bad(env, '"rank" must be a whole number');
  const one = options['tensor'];
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const tensors: TensorMap = {};
      const selected = one === undefined ? () => true : namedOrLone(new Set([String(one)]), data.tensors);
      for (const [name, t] of Object.entries(data.tensors)) {
        const hit = selected(name) && t.shape.length === rank;
        setTensor(tensors, name, hit ? { dtype: t.dtype, shape: [1, ...t.shape], data: t.data } : t);
      }
      return { ...data, tensors };
    },
  };
};


/**
 * A threshold's tensor as numbers; strings are refused naming the step once (numericData's own
 * message, given the step's name, had the pipeline name it a second time), as {@link misfitCode} says.
 */
function scores(env: StepBuildEnv, t: Tensor, name: string): ReturnType<typeof numericData> {
  if (t.dtype === 'string') throw stepFailure(env.name, misfitCode(env.stage), `tensor "${name || '(unnamed)'}" holds strings, not scores`);
  return numericData(t, env.name);
}

/**
 * `threshold`: scores ≥ `value` (default 0.5). Without `labels`, each selected tensor becomes a
 * bool mask of the same shape. With `labels` (a file or list) the answer is, per row of the last
 * axis, the `{ label, score }` pairs over the threshold, highest first (multi-label classification,
 * same shape as `topk`'s answer).
 */
const threshold: StepBuilder = (options, env) => {
  const value = options['value'] ?? options['threshold'] ?? 0.5;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(env, '"value" must be a number');
  const labels = loadLabels(env, options['labels']);
  const one = options['tensor'];
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const selected = one === undefined ? () => true : namedOrLone(new Set([String(one)]), data.tensors);
      const entries = Object.entries(data.tensors).filter(([n]) => selected(n));
      if (entries.length === 0) throw stepFailure(env.name, 'ERR_STEP_FAILED', `no tensor ${one === undefined ? '' : `named "${String(one)}" `}to threshold`);
      if (labels) {
        if (entries.length !== 1) throw stepFailure(env.name, 'ERR_STEP_FAILED', `with labels, threshold needs exactly one tensor; add "tensor: <name>"`);
        const [name, t] = entries[0]!;
        const src = scores(env, t, name);
        const width = t.shape.length ? t.shape[t.shape.length - 1]! : src.length;
        const rows: { label: string; score: number }[][] = [];
        const count = width === 0 ? sizeOf(t.shape.slice(0, -1)) : src.length / width;
        for (let r = 0; r < count; r++) {
          const row: { label: string; score: number }[] = [];
          for (let i = 0; i < width; i++) {
            const s = Number(src[r * width + i]);
            if (s >= value) row.push({ label: labels[i] ?? String(i), score: s });
          }
          rows.push(row.sort((a, b) => b.score - a.score));
        }
        return { ...data, value: rows };
      }
      const tensors: TensorMap = { ...data.tensors };
      for (const [name, t] of entries) {
        const src = scores(env, t, name);
        const mask = new Uint8Array(src.length);
        for (let i = 0; i < src.length; i++) mask[i] = Number(src[i]) >= value ? 1 : 0;
        setTensor(tensors, name, { dtype: 'bool', shape: [...t.shape], data: mask });
      }
      return { ...data, tensors };
    },
  };
};

/**
 * Built-in image steps (pure typed-array code on smkit tensors, so they serve ONNX and TF.js models
 * alike): `resize`, `center-crop`, `image-normalize`, `channel-order`, `add-batch-dim`, and the
 * postprocess step `threshold`. Softmax and top-k with labels are the tensor steps `softmax`, `topk`.
 */
export const visionSteps: Readonly<Record<string, StepBuilder>> = {
  resize,
  'center-crop': centerCropStep,
  'image-normalize': imageNormalize,
  'channel-order': channelOrder,
  'add-batch-dim': addBatchDim,
  threshold,
};

const TARGETS = ['tensor', 'tensors'];

/** The options each of {@link visionSteps} takes. */
export const visionStepTraits: Readonly<Record<string, StepTraits>> = {
  resize: { options: ['height', 'width', 'size', 'method', 'interpolation', 'layout', ...TARGETS] },
  'center-crop': { options: ['height', 'width', 'size', 'layout', ...TARGETS] },
  'image-normalize': { options: ['preset', 'scale', 'mean', 'std', 'layout', ...TARGETS] },
  'channel-order': { options: ['layout', 'colors', 'from', ...TARGETS] },
  'add-batch-dim': { options: ['rank', 'tensor'] },
  threshold: { options: ['value', 'threshold', 'labels', 'tensor'], answersValue: (options) => options['labels'] !== undefined },
};
