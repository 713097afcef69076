import { ToolkitError } from '../../errors/catalogue.js';
import { allocate, castTensor, sizeOf, type DType, type Tensor, type TensorMap } from '../../core/tensor.js';
import { misfitCode, namedOrLone, stepFailure, type Step, type StepBuilder, type StepBuildEnv, type StepData } from '../step.js';
import { loadLabels } from './labels.js';
import { setTensor } from '../../codecs/tensor-map.js';
import type { StepTraits } from '../registry.js';

const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'];

function bad(env: StepBuildEnv, message: string): ToolkitError {
  return new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: ${message}`);
}

function numberOption(env: StepBuildEnv, options: Readonly<Record<string, unknown>>, key: string, fallback?: number): number {
  const v = options[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(env, `"${key}" must be a number`);
  return v;
}

/**
 * The `axis` option: a whole number (negative counts from the last axis). A fraction (`0.5`) named
 * no axis, yet passed the range check and ran the step along none: softmax answered all zeros.
 */
function axisOption(env: StepBuildEnv, options: Readonly<Record<string, unknown>>): number {
  const axis = numberOption(env, options, 'axis', -1);
  if (!Number.isInteger(axis)) throw bad(env, `"axis" must be a whole number (-1 for the last axis), not ${axis}`);
  return axis;
}

function numberList(env: StepBuildEnv, options: Readonly<Record<string, unknown>>, key: string): number[] | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw bad(env, `"${key}" must be a number or a list of numbers`);
  return list as number[];
}

/** The names `tensor: name` (or `tensors: [..]`) gives, undefined when neither is given (the step applies to all). */
function namedTargets(env: StepBuildEnv, options: Readonly<Record<string, unknown>>): ReadonlySet<string> | undefined {
  const one = options['tensor'];
  const many = options['tensors'];
  if (one === undefined && many === undefined) return undefined;
  const names = new Set<string>(typeof one === 'string' ? [one] : Array.isArray(many) ? many.map(String) : []);
  if (names.size === 0) throw bad(env, '"tensor" must be a name, or "tensors" a list of names');
  return names;
}

/**
 * Which of `tensors` a step applies to: `tensor: name` (or `tensors: [..]`), a lone unnamed tensor
 * standing for them ({@link namedOrLone}), else all.
 */
function targetNames(names: ReadonlySet<string> | undefined, tensors: TensorMap): ((name: string) => boolean) {
  return names === undefined ? () => true : namedOrLone(names, tensors);
}

/**
 * A step that maps each selected tensor independently. One given names of which no tensor has
 * any fails, as a vision step does: a misspelt name (`softmax: { tensor: logit }` for `logits`)
 * left the step undone and the answer wrong. A request's lone unnamed tensor (CSV) is the named one
 * ({@link namedOrLone}): `normalize: { tensor: input }` was skipped for it.
 */
function mapStep(env: StepBuildEnv, options: Readonly<Record<string, unknown>>, fn: (t: Tensor, name: string) => Tensor): Step {
  const names = namedTargets(env, options);
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const tensors: TensorMap = {};
      let applied = 0;
      const selected = targetNames(names, data.tensors);
      for (const [name, t] of Object.entries(data.tensors)) {
        const hit = selected(name);
        setTensor(tensors, name, hit ? fn(t, name) : t);
        if (hit) applied++;
      }
      if (applied === 0 && names !== undefined) {
        const have = Object.entries(data.tensors).map(([n, t]) => `${n ? `"${n}"` : '(unnamed)'} [${t.shape.join(', ')}]`).join(', ') || 'none';
        const where = env.stage === 'preprocess' ? 'the request has' : 'the tensors here are';
        throw stepFailure(env.name, misfitCode(env.stage), `no tensor named ${[...names].map((n) => `"${n}"`).join(', ')}; ${where} ${have}`);
      }
      return { ...data, tensors };
    },
  };
}

function numeric(env: StepBuildEnv, t: Tensor, name: string): Float32Array | Float64Array {
  if (t.dtype === 'float32' || t.dtype === 'float64') return t.data as Float32Array | Float64Array;
  if (t.dtype === 'string') throw stepFailure(env.name, misfitCode(env.stage), `tensor "${name || '(unnamed)'}" holds strings; cast it first`);
  return castTensor(t, 'float32').data as Float32Array;
}

function normAxis(env: StepBuildEnv, axis: number, rank: number): number {
  const a = axis < 0 ? rank + axis : axis;
  if (a < 0 || a >= rank) throw stepFailure(env.name, misfitCode(env.stage), `axis ${axis} is out of range for a rank-${rank} tensor`);
  return a;
}

/** Iterates over every 1-D slice along `axis`: calls fn(offset, stride, length) for each. */
function forEachLane(shape: readonly number[], axis: number, fn: (offset: number, stride: number, length: number, lane: number) => void): void {
  const length = shape[axis]!;
  const stride = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  let lane = 0;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < stride; i++) fn(o * length * stride + i, stride, length, lane++);
  }
}

const cast: StepBuilder = (options, env) => {
  const dtype = options['dtype'];
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype as DType)) throw bad(env, `"dtype" must be one of ${DTYPES.join(', ')}`);
  return mapStep(env, options, (t) => castTensor(t, dtype as DType));
};

const reshape: StepBuilder = (options, env) => {
  const shape = options['shape'];
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < -1) || shape.filter((d) => d === -1).length > 1) {
    throw bad(env, '"shape" must be a list of whole numbers with at most one -1');
  }
  return mapStep(env, options, (t, name) => {
    const known = (shape as number[]).filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const n = t.data.length;
    const resolved = (shape as number[]).map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
    if (sizeOf(resolved) !== n || resolved.some((d) => !Number.isInteger(d))) {
      throw stepFailure(env.name, misfitCode(env.stage), `tensor "${name || '(unnamed)'}" with ${n} values cannot be reshaped to [${(shape as number[]).join(', ')}]`);
    }
    return { dtype: t.dtype, shape: resolved, data: t.data };
  });
};

const scale: StepBuilder = (options, env) => {
  const factor = numberOption(env, options, 'factor', 1);
  const offset = numberOption(env, options, 'offset', 0);
  return mapStep(env, options, (t, name) => {
    const src = numeric(env, t, name);
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i]! * factor + offset;
    return { dtype: 'float32', shape: t.shape, data: out };
  });
};

const normalize: StepBuilder = (options, env) => {
  const mean = numberList(env, options, 'mean') ?? [0];
  const std = numberList(env, options, 'std') ?? [1];
  if (std.some((s) => s === 0)) throw bad(env, '"std" values must not be 0');
  // No tensor has both counts of channels: every request would fail, so the file is refused now.
  if (mean.length !== 1 && std.length !== 1 && mean.length !== std.length) throw bad(env, `"mean" has ${mean.length} values and "std" ${std.length}: give each one value or one per channel`);
  const axisOpt = axisOption(env, options);
  return mapStep(env, options, (t, name) => {
    const src = numeric(env, t, name);
    const out = new Float32Array(src.length);
    const axis = normAxis(env, axisOpt, Math.max(1, t.shape.length));
    const shape = t.shape.length ? t.shape : [1];
    const channels = shape[axis]!;
    for (const list of [mean, std]) {
      if (list.length !== 1 && list.length !== channels) {
        throw stepFailure(env.name, misfitCode(env.stage), `mean/std have ${list.length} values but axis ${axisOpt} of "${name || '(unnamed)'}" has ${channels}`);
      }
    }
    forEachLane(shape, axis, (offset, stride, length) => {
      for (let c = 0; c < length; c++) {
        const i = offset + c * stride;
        out[i] = (src[i]! - mean[mean.length === 1 ? 0 : c]!) / std[std.length === 1 ? 0 : c]!;
      }
    });
    return { dtype: 'float32', shape: t.shape, data: out };
  });
};

const softmax: StepBuilder = (options, env) => {
  const axisOpt = axisOption(env, options);
  return mapStep(env, options, (t, name) => {
    const src = numeric(env, t, name);
    const out = new Float32Array(src.length);
    const shape = t.shape.length ? t.shape : [src.length];
    forEachLane(shape, normAxis(env, axisOpt, shape.length), (offset, stride, length) => {
      let max = -Infinity;
      for (let c = 0; c < length; c++) max = Math.max(max, src[offset + c * stride]!);
      let sum = 0;
      for (let c = 0; c < length; c++) {
        const e = Math.exp(src[offset + c * stride]! - max);
        out[offset + c * stride] = e;
        sum += e;
      }
      for (let c = 0; c < length; c++) out[offset + c * stride]! /= sum;
    });
    return { dtype: 'float32', shape: t.shape, data: out };
  });
};

/**
 * Orders scores from highest to lowest, NaN after every number. Subtracting (`y - x`) made NaN and
 * ties of infinities NaN comparisons, which leave the sort's order undefined: one NaN among top-k's
 * scores dropped the best class from the answer ([0.3, NaN, 0.9, 0.5] gave labels 0 and 1), and
 * argmax took a NaN only when it came first.
 */
function descending(x: number, y: number): number {
  if (x > y) return -1;
  if (x < y) return 1;
  if (x === y) return 0;
  return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
}

const argmax: StepBuilder = (options, env) => {
  const axisOpt = axisOption(env, options);
  const labels = loadLabels(env, options['labels']);
  return mapStep(env, options, (t, name) => {
    const src = numeric(env, t, name);
    const shape = t.shape.length ? t.shape : [src.length];
    const axis = normAxis(env, axisOpt, shape.length);
    const outShape = shape.filter((_, i) => i !== axis);
    // An empty axis has no largest value: index 0 (or the first label) would be an answer made up.
    if (shape[axis] === 0 && sizeOf(outShape) > 0) {
      throw stepFailure(env.name, misfitCode(env.stage), `axis ${axisOpt} of "${name || '(unnamed)'}" (shape [${t.shape.join(', ')}]) is empty: there is no largest value`);
    }
    const idx = new BigInt64Array(sizeOf(outShape));
    forEachLane(shape, axis, (offset, stride, length, lane) => {
      let best = 0;
      let top = src[offset]!;
      for (let c = 1; c < length; c++) {
        const v = src[offset + c * stride]!;
        // As descending() orders them (NaN below every number, the first of equals), inline: argmax reads every score.
        if (v > top || (top !== top && v === v)) {
          best = c;
          top = v;
        }
      }
      idx[lane] = BigInt(best);
    });
    if (!labels) return { dtype: 'int64', shape: outShape, data: idx };
    const names = allocate('string', idx.length);
    idx.forEach((v, i) => (names[i] = labels[Number(v)] ?? String(v)));
    return { dtype: 'string', shape: outShape, data: names };
  });
};

/**
 * Top-k along the last axis. Produces a value (not tensors): for each row, a list of
 * `{ label, score }` (label is the class index when no labels are given). A single row still
 * gives a list of rows, so clients see one shape.
 */
const topk: StepBuilder = (options, env) => {
  const k = numberOption(env, options, 'k', 5);
  if (!Number.isInteger(k) || k < 1) throw bad(env, '"k" must be a whole number of at least 1');
  const labels = loadLabels(env, options['labels']);
  const names = namedTargets(env, options);
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const selected = targetNames(names, data.tensors);
      const entries = Object.entries(data.tensors).filter(([n]) => selected(n));
      if (entries.length !== 1) {
        throw stepFailure(env.name, 'ERR_STEP_FAILED', `top-k needs exactly one tensor but got ${entries.length} (${entries.map(([n]) => n).join(', ')}); add "tensor: <name>"`);
      }
      const [name, t] = entries[0]!;
      const src = numeric(env, t, name);
      const width = t.shape.length ? t.shape[t.shape.length - 1]! : src.length;
      // Rows of no scores are rows all the same: each answers an empty list, as threshold's do.
      const rows = width === 0 ? sizeOf(t.shape.slice(0, -1)) : src.length / width;
      const value: { label: string | number; score: number }[][] = [];
      for (let r = 0; r < rows; r++) {
        const order = Array.from({ length: width }, (_, i) => i).sort((a, b) => descending(src[r * width + a]!, src[r * width + b]!));
        value.push(order.slice(0, k).map((i) => ({ label: labels ? (labels[i] ?? String(i)) : i, score: src[r * width + i]! })));
      }
      return { ...data, value };
    },
  };
};

const select: StepBuilder = (options, env) => {
  const raw = options['outputs'] ?? options['output'];
  const names = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.map(String) : undefined;
  if (!names || names.length === 0) throw bad(env, '"output" must be a tensor name, or "outputs" a list of names');
  const rename = options['as'];
  if (rename !== undefined && (typeof rename !== 'string' || names.length !== 1)) throw bad(env, '"as" renames a single selected output');
  return {
    name: env.name,
    stage: env.stage,
    run(data: StepData): StepData {
      const tensors: TensorMap = {};
      for (const n of names) {
        // Own tensors only: "toString" is no output, and a tensor named __proto__ is kept as one.
        const t = Object.hasOwn(data.tensors, n) ? data.tensors[n] : undefined;
        if (!t) throw stepFailure(env.name, 'ERR_STEP_FAILED', `no tensor "${n}"; available: ${Object.keys(data.tensors).join(', ')}`);
        setTensor(tensors, typeof rename === 'string' ? rename : n, t);
      }
      return { ...data, tensors };
    },
  };
};

/** The built-in tensor steps usable in any stage of a pipeline file. */
export const tensorSteps: Readonly<Record<string, StepBuilder>> = { cast, reshape, scale, normalize, softmax, argmax, topk, select };

const TARGETS = ['tensor', 'tensors'];

/** The options each of {@link tensorSteps} takes (`tensor`/`tensors` where it picks its tensors). */
export const tensorStepTraits: Readonly<Record<string, StepTraits>> = {
  cast: { options: ['dtype', ...TARGETS] },
  reshape: { options: ['shape', ...TARGETS] },
  scale: { options: ['factor', 'offset', ...TARGETS] },
  normalize: { options: ['mean', 'std', 'axis', ...TARGETS] },
  softmax: { options: ['axis', ...TARGETS] },
  argmax: { options: ['axis', 'labels', ...TARGETS] },
  topk: { options: ['k', 'labels', ...TARGETS], answersValue: () => true },
  select: { options: ['output', 'outputs', 'as'] },
};
