import { type DType, type Tensor, type TensorMap, allocate, castTensor } from '../../core/tensor.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { failedStep, stepFailure, type Step, type StepBuildEnv, type StepBuilder, type StepData } from '../step.js';
import { loadLabels } from './labels.js';

type Options = Readonly<Record<string, unknown>>;
type NumericData = Exclude<Tensor['data'], string[] | BigInt64Array | BigUint64Array>;

/** Where the channels are in an image tensor: last (`hwc`, `nhwc`) or before height (`chw`, `nchw`). */
export type ImageLayout = 'hwc' | 'chw';

/** An image tensor's geometry: batch (1 when unbatched), height, width, channels. */
export interface ImageGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly batched: boolean;
  readonly layout: ImageLayout;
}

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

/** Reads an image tensor's geometry; rank 3 is one image, rank 4 a batch. */
export function imageGeometry(t: Tensor, layout: ImageLayout, what: string): ImageGeometry {
  const r = t.shape.length;
  if (r !== 3 && r !== 4) {
    throw new ToolkitError(
      'ERR_INPUT_MISMATCH',
      `${what} needs an image tensor of rank 3 (${layout === 'hwc' ? 'height, width, channels' : 'channels, height, width'}) or 4 (a batch), got shape [${t.shape.join(', ')}]`,
    );
  }
  const s = r === 3 ? [1, ...t.shape] : t.shape;
  const [n, a, b, c] = s as [number, number, number, number];
  return layout === 'hwc' ? { n, h: a, w: b, c, batched: r === 4, layout } : { n, c: a, h: b, w: c, batched: r === 4, layout };
}

function imageShape(g: ImageGeometry, h: number, w: number, c = g.c, layout = g.layout): number[] {
  const inner = layout === 'hwc' ? [h, w, c] : [c, h, w];
  return g.batched ? [g.n, ...inner] : inner;
}

/** Index of pixel (i, y, x, channel k) in a flat image of the given geometry. */
function indexer(g: { n: number; h: number; w: number; c: number; layout: ImageLayout }): (i: number, y: number, x: number, k: number) => number {
  const { h, w, c } = g;
  return g.layout === 'hwc' ? (i, y, x, k) => ((i * h + y) * w + x) * c + k : (i, y, x, k) => ((i * c + k) * h + y) * w + x;
}

function numericData(t: Tensor, what: string): NumericData {
  if (t.dtype === 'string') throw new ToolkitError('ERR_INPUT_MISMATCH', `${what} needs numbers, got strings`);
  if (t.dtype === 'int64' || t.dtype === 'uint64' || t.dtype === 'float16') return castTensor(t, 'float32').data as Float32Array;
  return t.data as NumericData;
}

function writerFor(dtype: DType): (v: number) => number {
  switch (dtype) {
    case 'uint8':
      return (v) => Math.min(255, Math.max(0, Math.round(v)));
    case 'int8':
      return (v) => Math.min(127, Math.max(-128, Math.round(v)));
    case 'uint16':
      return (v) => Math.min(65535, Math.max(0, Math.round(v)));
    case 'int16':
    case 'int32':
    case 'uint32':
      return (v) => Math.round(v);
    default:
      return (v) => v;
  }
}

function outputDType(t: Tensor): DType {
  return t.dtype === 'int64' || t.dtype === 'uint64' || t.dtype === 'float16' || t.dtype === 'bool' ? 'float32' : t.dtype;
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
      for (const [name, t] of Object.entries(data.tensors)) {
        const hit = named ? names.has(name) : t.shape.length === 3 || t.shape.length === 4;
        try {
          tensors[name] = hit ? fn(t, name) : t;
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

/** Resizes images (bilinear with half-pixel centres, or nearest neighbour), keeping dtype (integers are rounded). */
export function resizeImage(t: Tensor, layout: ImageLayout, outH: number, outW: number, method: 'bilinear' | 'nearest', what = 'resize'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (g.h === outH && g.w === outW) return t;
  const src = numericData(t, what);
  const dtype = outputDType(t);
  const out = allocate(dtype, g.n * outH * outW * g.c) as NumericData;
  const put = writerFor(dtype);
  const at = indexer(g);
  const to = indexer({ ...g, h: outH, w: outW });
  const sy = g.h / outH;
  const sx = g.w / outW;
  if (method === 'nearest') {
    const xs = Array.from({ length: outW }, (_, x) => Math.min(g.w - 1, Math.floor((x + 0.5) * sx)));
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < outH; y++) {
        const yy = Math.min(g.h - 1, Math.floor((y + 0.5) * sy));
        for (let x = 0; x < outW; x++) for (let k = 0; k < g.c; k++) out[to(i, y, x, k)] = src[at(i, yy, xs[x]!, k)]!;
      }
  } else {
    const axis = (len: number, scale: number, limit: number) =>
      Array.from({ length: len }, (_, d) => {
        const p = Math.min(limit - 1, Math.max(0, (d + 0.5) * scale - 0.5));
        const lo = Math.floor(p);
        return { lo, hi: Math.min(limit - 1, lo + 1), f: p - lo };
      });
    const ys = axis(outH, sy, g.h);
    const xs = axis(outW, sx, g.w);
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < outH; y++) {
        const { lo: y0, hi: y1, f: fy } = ys[y]!;
        for (let x = 0; x < outW; x++) {
          const { lo: x0, hi: x1, f: fx } = xs[x]!;
          for (let k = 0; k < g.c; k++) {
            const top = src[at(i, y0, x0, k)]! * (1 - fx) + src[at(i, y0, x1, k)]! * fx;
            const bottom = src[at(i, y1, x0, k)]! * (1 - fx) + src[at(i, y1, x1, k)]! * fx;
            out[to(i, y, x, k)] = put(top * (1 - fy) + bottom * fy);
          }
        }
      }
  }
  return { dtype, shape: imageShape(g, outH, outW), data: out } as Tensor;
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
    return resizeImage(t, layout, h!, w!, method, env.name);
  });
};

/** Crops the centre `outH` × `outW` of each image. */
export function centerCrop(t: Tensor, layout: ImageLayout, outH: number, outW: number, what = 'center-crop'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (outH > g.h || outW > g.w) {
    throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: the image is ${g.h}×${g.w}, smaller than the ${outH}×${outW} crop; resize it first`);
  }
  if (outH === g.h && outW === g.w) return t;
  const top = Math.floor((g.h - outH) / 2);
  const left = Math.floor((g.w - outW) / 2);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, g.n * outH * outW * g.c) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  const to = indexer({ ...g, h: outH, w: outW });
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < outH; y++)
      for (let x = 0; x < outW; x++) for (let k = 0; k < g.c; k++) out[to(i, y, x, k)] = src[at(i, y + top, x + left, k)];
  return { dtype: t.dtype, shape: imageShape(g, outH, outW), data: out as Tensor['data'] };
}

/** `center-crop`: `{ height, width }` or `{ size }` (square). Images smaller than the crop are a 400. */
const centerCropStep: StepBuilder = (options, env) => {
  const { height, width, size } = sizeOptions(env, options);
  const layout = layoutOption(env, options);
  return imageStep(env, options, (t) => centerCrop(t, layout, height ?? size!, width ?? size!, env.name));
};

/** Normalisation presets (`preset: imagenet`). */
export const NORMALIZE_PRESETS: Readonly<Record<string, { scale: number; mean: number[]; std: number[] }>> = {
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { scale: 1 / 255, mean: [0], std: [1] },
  symmetric: { scale: 1 / 255, mean: [0.5], std: [0.5] },
};

/** `(x * scale - mean[c]) / std[c]` per channel, as float32. */
export function normalizeImage(t: Tensor, layout: ImageLayout, scale: number, mean: readonly number[], std: readonly number[], what = 'image-normalize'): Tensor<'float32'> {
  const g = imageGeometry(t, layout, what);
  for (const [key, list] of [['mean', mean], ['std', std]] as const) {
    if (list.length !== 1 && list.length !== g.c) {
      throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: "${key}" has ${list.length} values but the image has ${g.c} channels`);
    }
  }
  const src = numericData(t, what);
  const out = new Float32Array(src.length);
  const at = indexer(g);
  for (let k = 0; k < g.c; k++) {
    const m = mean[mean.length === 1 ? 0 : k]!;
    const s = std[std.length === 1 ? 0 : k]!;
    for (let i = 0; i < g.n; i++)
      for (let y = 0; y < g.h; y++)
        for (let x = 0; x < g.w; x++) {
          const j = at(i, y, x, k);
          out[j] = (src[j]! * scale - m) / s;
        }
  }
  return { dtype: 'float32', shape: [...t.shape], data: out };
}

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
  const layout = layoutOption(env, options);
  return imageStep(env, options, (t) => normalizeImage(t, layout, scaleRaw, mean, std, env.name));
};

/** Reverses the channel order (RGB ↔ BGR; RGBA → BGRA keeps alpha last). */
export function swapRedBlue(t: Tensor, layout: ImageLayout, what = 'channel-order'): Tensor {
  const g = imageGeometry(t, layout, what);
  if (g.c < 3) throw new ToolkitError('ERR_INPUT_MISMATCH', `${what}: swapping red and blue needs 3 or 4 channels, the image has ${g.c}`);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, src.length) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < g.h; y++)
      for (let x = 0; x < g.w; x++)
        for (let k = 0; k < g.c; k++) out[at(i, y, x, k)] = src[at(i, y, x, k < 3 ? 2 - k : k)];
  return { dtype: t.dtype, shape: [...t.shape], data: out as Tensor['data'] };
}

/** Moves channels between last (HWC) and first (CHW), batch or not. */
export function transposeLayout(t: Tensor, from: ImageLayout, to: ImageLayout, what = 'channel-order'): Tensor {
  if (from === to) return t;
  const g = imageGeometry(t, from, what);
  const src = t.data as ArrayLike<unknown>;
  const out = allocate(t.dtype, src.length) as unknown as { [i: number]: unknown };
  const at = indexer(g);
  const dst = indexer({ ...g, layout: to });
  for (let i = 0; i < g.n; i++)
    for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) for (let k = 0; k < g.c; k++) out[dst(i, y, x, k)] = src[at(i, y, x, k)];
  return { dtype: t.dtype, shape: imageShape(g, g.h, g.w, g.c, to), data: out as Tensor['data'] };
}

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
      for (const [name, t] of Object.entries(data.tensors)) {
        const hit = (one === undefined || one === name) && t.shape.length === rank;
        tensors[name] = hit ? { dtype: t.dtype, shape: [1, ...t.shape], data: t.data } : t;
      }
      return { ...data, tensors };
    },
  };
};


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
      const entries = Object.entries(data.tensors).filter(([n]) => one === undefined || n === one);
      if (entries.length === 0) throw stepFailure(env.name, 'ERR_STEP_FAILED', `no tensor ${one === undefined ? '' : `named "${String(one)}" `}to threshold`);
      if (labels) {
        if (entries.length !== 1) throw stepFailure(env.name, 'ERR_STEP_FAILED', `with labels, threshold needs exactly one tensor; add "tensor: <name>"`);
        const [name, t] = entries[0]!;
        const src = numericData(t, `${env.name} (${name || 'unnamed'})`);
        const width = t.shape.length ? t.shape[t.shape.length - 1]! : src.length;
        const rows: { label: string; score: number }[][] = [];
        for (let r = 0; width > 0 && r < src.length / width; r++) {
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
        const src = numericData(t, `${env.name} (${name || 'unnamed'})`);
        const mask = new Uint8Array(src.length);
        for (let i = 0; i < src.length; i++) mask[i] = Number(src[i]) >= value ? 1 : 0;
        tensors[name] = { dtype: 'bool', shape: [...t.shape], data: mask };
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
