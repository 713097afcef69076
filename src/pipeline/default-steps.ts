import { StepRegistry } from './registry.js';
import { tensorSteps, tensorStepTraits } from './steps/tensor-ops.js';
import { visionSteps, visionStepTraits } from './steps/vision.js';
import { checkPredictStepBeforeLoad, predictStep } from './steps/predict.js';
import { checkCustomStep, customStep } from './steps/custom.js';

/** Every built-in step kind: tensor steps, vision steps, `predict` and `custom`. */
export function createDefaultSteps(): StepRegistry {
  return new StepRegistry()
    .registerAll(tensorSteps, tensorStepTraits)
    .registerAll(visionSteps, visionStepTraits)
    .register('predict', predictStep, { check: checkPredictStepBeforeLoad })
    .register('custom', customStep, { runsUserCode: true, takesValue: true, options: ['module', 'export', 'options'], check: checkCustomStep });
}
