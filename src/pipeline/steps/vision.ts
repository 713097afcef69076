import type { StepBuilder } from '../step.js';

/** Built-in image steps (resize, center-crop, normalize, channel order, batch dim) and vision postprocess steps. Filled in by the TF.js/vision issue. */
export const visionSteps: Readonly<Record<string, StepBuilder>> = {};
