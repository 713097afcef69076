import type { RuntimeFactory } from '../runtime.js';
import { ToolkitError } from '../../errors/catalogue.js';

/** TensorFlow.js runtime (layers models, graph models, SavedModels). Placeholder until the TF.js issue lands. */
export const tfjsRuntimeFactory: RuntimeFactory = {
  name: 'tfjs',
  async detect() {
    return undefined;
  },
  async load() {
    throw new ToolkitError('ERR_RUNTIME_UNAVAILABLE', 'the tfjs runtime is not implemented yet');
  },
};
