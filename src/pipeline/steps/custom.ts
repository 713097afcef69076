import { pathToFileURL } from 'node:url';
import { ToolkitError } from '../../errors/catalogue.js';
import { isTensorMap } from '../../codecs/tensor-map.js';
import { stepDataWithFloat16Bits, type StepBuilder, type StepData } from '../step.js';
import { resolveInside } from './predict.js';
import { checkTensorStorage } from '../../core/tensor.js';
import { moduleLoadError } from '../../errors/module-load-error.js';

/**
 * `- custom: { module: steps.mjs, export: myStep, options: {...} }`: a JS function from `code/`,
 * called as `fn(data, context, options)`. It may return StepData, a TensorMap, or any value
 * (which then becomes the result to encode).
 */
export const customStep: StepBuilder = async (options, env) => {
  const moduleName = options['module'];
  if (typeof moduleName !== 'string') throw new ToolkitError('ERR_PIPELINE_INVALID', `${env.name}: "module" must name a file in code/ (for example steps.mjs)`);
  const file = resolveInside(env.codeDir, moduleName, `${env.name}: module`);
  const exportName = typeof options['export'] === 'string' ? options['export'] : 'default';
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
      const out: unknown = await (fn as (d: StepData, c: unknown, o: unknown) => unknown)(data, ctx, stepOptions);
      // No codec writes these (JSON would answer 200 "null"): a function not called, most likely.
      if (typeof out === 'function' || typeof out === 'symbol') {
        throw new ToolkitError('ERR_USER_CODE', `the custom step returned a ${typeof out}: return named tensors, { tensors }, or a value for smkit to encode (undefined passes the tensors on)`);
      }
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
