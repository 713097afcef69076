import path from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { UNNAMED, type TensorMap } from '../../core/tensor.js';
import type { ModelRuntime } from '../../runtimes/runtime.js';
import type { Step, StepBuilder, StepData } from '../step.js';

/** Resolves `relative` inside `root`, refusing paths that leave it. */
export function resolveInside(root: string, relative: string, what: string): string {
  const base = path.resolve(root);
  const full = path.resolve(base, relative);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new ToolkitError('ERR_PIPELINE_INVALID', `${what} "${relative}" must be inside ${base}`);
  }
  return full;
}

/** True when `name` is an input name the request itself chose (not the unnamed key, not a step's output). */
function namedByClient(data: StepData, name: string): boolean {
  return name !== UNNAMED && data.request !== undefined && Object.hasOwn(data.request.tensors, name);
}

/** Wraps a loaded runtime as a step. A lone tensor feeds a single-input model whatever its name. */
export function runtimeStep(name: string, runtime: ModelRuntime): Step & { runtime: ModelRuntime } {
  return {
    name,
    stage: 'predict',
    runtime,
    async run(data: StepData): Promise<StepData> {
      let inputs: TensorMap = data.tensors;
      const names = Object.keys(inputs);
      // A lone tensor that an earlier step named (a preprocess output, a first model's output) feeds
      // a single-input model whatever its name; one the client named must match the model's input.
      if (names.length === 1 && runtime.inputs.length === 1 && names[0] !== runtime.inputs[0]!.name && !namedByClient(data, names[0]!)) {
        inputs = { [UNNAMED]: inputs[names[0]!]! };
      }
      return { ...data, tensors: await runtime.predict(inputs), value: undefined };
    },
    dispose: () => runtime.dispose(),
  };
}

/** `- model: <path>` with optional `runtime: onnx|tfjs` (detected from the file otherwise). */
export const predictStep: StepBuilder = async (options, env) => {
  const modelPath = resolveInside(env.modelDir, String(options['model']), `${env.name}: model`);
  const runtimeName = options['runtime'];
  let factory;
  let found: string | undefined;
  if (runtimeName !== undefined) {
    factory = env.runtimes.get(String(runtimeName));
    found = await factory.detect(modelPath);
    if (found === undefined) throw new ToolkitError('ERR_MODEL_DIR', `${env.name}: no ${factory.name} model at ${modelPath}`);
  } else {
    const detected = await env.runtimes.detect(modelPath).catch((err: unknown) => {
      throw new ToolkitError('ERR_MODEL_DIR', `${env.name}: ${(err as Error).message}`, { cause: err });
    });
    factory = detected.factory;
    found = detected.modelPath;
  }
  const { model: _m, runtime: _r, ...extra } = options;
  const runtime = await factory.load(found, { ...env.runtimeOptions, extra: { ...env.runtimeOptions.extra, ...extra } });
  return runtimeStep(env.name, runtime);
};
