import { statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ToolkitError, isToolkitError } from '../../errors/catalogue.js';
import { isTensor, isTensorMap } from '../../codecs/tensor-map.js';
import { sizeOf } from '../../core/tensor.js';
import { stepDataWithFloat16Bits, type StepBuilder, type StepData } from '../step.js';
import { resolveInside } from './predict.js';
import { checkTensorStorage } from '../../core/tensor.js';
import { moduleLoadError } from '../../errors/module-load-error.js';
import { excerpt, jsonExcerpt, thrownMessage, valueKind } from '../../errors/excerpt.js';
import type { StepBuildEnv } from '../step.js';

/**
 * The `module` and `export` options, checked: `export` left out is `default`; one that is no name
 * (`export: 5`, a list) was taken as `default`, so another function than the one meant ran.
 */
function moduleAndExport(options: Readonly<Record<string, unknown>>, env: Pick<StepBuildEnv, 'name'>): { moduleName: string; exportName: string } {
  const moduleName = options['module'];
  if (typeof moduleName !== 'string' || moduleName === '') throw new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: "module" must name a file in code/ (for example steps.mjs)`);
  const exportName = options['export'] ?? 'default';
  if (typeof exportName !== 'string' || exportName === '') {
    throw new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: "export" must be the name of the function ${moduleName} exports (leave it out for its default export)`);
  }
  return { moduleName, exportName };
}

/** The `status` (or `statusCode`) from 400 to 599 that a thrown value carries, if any; reading it never throws. */
function thrownStatus(err: unknown): number | undefined {
  try {
    const e = err as { status?: unknown; statusCode?: unknown } | null | undefined;
    const status = Number(e?.status ?? e?.statusCode);
    return Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a map whose every value has a `dtype`, a `shape` and `data`, one of them in a typed array
 * (tensors meant, then), is no tensor map: `"x" has shape [5], which holds 5 values, but its data
 * has 2`; undefined for anything else, a value for smkit to encode. Such a map was taken for that
 * value: answered as JSON as it was, or refused by a model after it as "an object, not tensors",
 * never saying which tensor was wrong. Data only in plain arrays is a JSON answer that describes a
 * tensor (`{ scores: { dtype: 'float32', shape: [3], data: [0.1, 0.2, 0.7] } }`), answered as it is.
 */
function meantTensorsProblem(map: unknown): string | undefined {
  if (typeof map !== 'object' || map === null || Array.isArray(map) || ArrayBuffer.isView(map)) return undefined;
  const entries = Object.entries(map);
  if (entries.length === 0 || !entries.every(([, v]) => typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v)) return undefined;
  if (!entries.some(([, v]) => ArrayBuffer.isView((v as { data: unknown }).data))) return undefined;
  for (const [name, v] of entries as [string, { dtype: unknown; shape: unknown; data: unknown }][]) {
    if (isTensor(v)) continue;
    const where = `"${excerpt(name)}"`;
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isInteger(d) || (d as number) < 0)) return `${where} has shape ${jsonExcerpt(v.shape)}: give a list of whole numbers of at least 0`;
    const data = v.data as { length?: unknown };
    const isList = v.dtype === 'string' ? Array.isArray(data) : ArrayBuffer.isView(data) && !(data instanceof DataView);
    if (!isList) return `${where} has dtype ${jsonExcerpt(v.dtype)} and data that is ${valueKind(data)}: give ${v.dtype === 'string' ? 'an array of strings' : 'a typed array'}`;
    const size = sizeOf(v.shape as number[]);
    if (data.length !== size) return `${where} has shape [${(v.shape as number[]).join(', ')}], which holds ${size} values, but its data has ${String(data.length)}`;
    return `${where} has dtype ${jsonExcerpt(v.dtype)}, which is none of float32, float64, float16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, string`;
  }
  return undefined;
}

/**
 * Why the step's module file cannot be imported, or undefined when it is a regular file (or a link
 * to one): not in code/ (Node's own error named smkit's file as the importer, "imported from
 * .../custom.js"), or a FIFO, whose import() waited for a writer for good, or a folder.
 */
export function customModuleProblem(file: string, moduleName: string, env: Pick<StepBuildEnv, 'name' | 'codeDir'>): ToolkitError | undefined {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) return new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: module ${moduleName} is not in code/ (${env.codeDir}): put it there, or name the file code/ holds`);
  if (st.isFile()) return undefined;
  const kind = st.isDirectory() ? 'a directory' : 'neither a file nor a directory (a FIFO, socket or device)';
  return new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: module ${moduleName} in code/ is ${kind}: make it the step's JavaScript file`);
}

/** The custom step's module file in code/ ({@link customModuleProblem}), for a check that does not import it (smkit package). */
export function checkCustomModuleFile(options: Readonly<Record<string, unknown>>, env: StepBuildEnv): void {
  const { moduleName } = moduleAndExport(options, env);
  const problem = customModuleProblem(resolveInside(env.codeDir, moduleName, `${env.name}: module`), moduleName, env);
  if (problem !== undefined) throw problem;
}

/** The custom step's options checked before any step is built (so before a model loads): see {@link moduleAndExport}. */
export async function checkCustomStep(options: Readonly<Record<string, unknown>>, env: StepBuildEnv): Promise<void> {
  const { moduleName } = moduleAndExport(options, env);
  resolveInside(env.codeDir, moduleName, `${env.name}: module`);
}

/**
 * `- custom: { module: steps.mjs, export: myStep, options: {...} }`: a JS function from `code/`,
 * called as `fn(data, context, options)`. It may return StepData, a TensorMap, or any value
 * (which then becomes the result to encode).
 */
export const customStep: StepBuilder = async (options, env) => {
  const { moduleName, exportName } = moduleAndExport(options, env);
  const file = resolveInside(env.codeDir, moduleName, `${env.name}: module`);
  const problem = customModuleProblem(file, moduleName, env);
  if (problem !== undefined) throw problem;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw moduleLoadError(file, `${env.name}: cannot load ${file}`, err);
  }
  let fn: unknown;
  try {
    fn = mod[exportName] ?? (exportName === 'default' ? undefined : (mod['default'] as Record<string, unknown> | undefined)?.[exportName]);
  } catch (err) {
    // An export that throws when read (a getter, a Proxy as the default export): the module's code failing.
    throw moduleLoadError(file, `${env.name}: cannot load ${file}`, err);
  }
  if (typeof fn !== 'function') throw new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: ${moduleName} does not export a function "${exportName}"`);
  const stepOptions = (options['options'] ?? {}) as Record<string, unknown>;
  return {
    name: env.name,
    stage: env.stage,
    takesValue: true,
    async run(data, ctx): Promise<StepData> {
      let out: unknown;
      try {
        out = await (fn as (d: StepData, c: unknown, o: unknown) => unknown)(data, ctx, stepOptions);
      } catch (err) {
        // As a hook's: an error with a status from 400 to 599 answers with it (a ModelError, a
        // ToolkitError, does already), so a step that checks the request can answer 400; anything
        // else the pipeline makes a 500 naming the step.
        const status = isToolkitError(err) ? undefined : thrownStatus(err);
        if (status !== undefined) throw new ToolkitError('ERR_USER_CODE', thrownMessage(err), { status, cause: err });
        throw err;
      }
      // No codec writes these (JSON would answer 200 "null"): a function not called, most likely.
      if (typeof out === 'function' || typeof out === 'symbol') {
        throw new ToolkitError('ERR_USER_CODE', `the custom step returned a ${typeof out}: return named tensors, { tensors }, or a value for smkit to encode (undefined passes the tensors on)`);
      }
      const problem = meantTensorsProblem(out) ?? (out && typeof out === 'object' && 'tensors' in out ? meantTensorsProblem((out as StepData).tensors) : undefined);
      if (problem !== undefined) throw new ToolkitError('ERR_USER_CODE', `the custom step returned tensors of which ${problem}`);
      let next: StepData;
      if (out && typeof out === 'object' && 'tensors' in out && isTensorMap((out as StepData).tensors)) next = stepDataWithFloat16Bits(out as StepData);
      else if (isTensorMap(out)) next = stepDataWithFloat16Bits({ ...data, tensors: out, value: undefined });
      else return { ...data, value: out };
      // Data in another typed array than its dtype's would be read as other numbers by the steps and encoders after.
      checkTensorStorage(next.tensors, 'the custom step');
      return next;
    },
  };
};
