import { StepRegistry } from './registry.js';
import { tensorSteps } from './steps/tensor-ops.js';
import { visionSteps } from './steps/vision.js';
import { predictStep } from './steps/predict.js';
import { customStep } from './steps/custom.js';

/** Every built-in step kind: tensor steps, vision steps, `predict` and `custom`. */
export function createDefaultSteps(): StepRegistry {
  return new StepRegistry().registerAll(tensorSteps).registerAll(visionSteps).register('predict', predictStep).register('custom', customStep, { runsUserCode: true });
}
