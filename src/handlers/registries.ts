import type { CodecRegistry } from '../codecs/registry.js';
import { createDefaultCodecs } from '../codecs/defaults.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { createDefaultRuntimes } from '../runtimes/defaults.js';
import type { StepRegistry } from '../pipeline/registry.js';
import { createDefaultSteps } from '../pipeline/default-steps.js';

/** The registries an engine works with: codecs for bodies, runtimes for models, pipeline step kinds. */
export interface EngineRegistries {
  readonly codecs: CodecRegistry;
  readonly runtimes: RuntimeRegistry;
  readonly steps: StepRegistry;
}

/** smkit's built-in codecs, runtimes and steps. Whoever starts an engine may pass others instead. */
export function createDefaultRegistries(): EngineRegistries {
  return { codecs: createDefaultCodecs(), runtimes: createDefaultRuntimes(), steps: createDefaultSteps() };
}
