import type { CodecRegistry } from '../codecs/registry.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import type { StepRegistry } from '../pipeline/registry.js';

/** The registries an engine works with: codecs for bodies, runtimes for models, pipeline step kinds. */
export interface EngineRegistries {
  readonly codecs: CodecRegistry;
  readonly runtimes: RuntimeRegistry;
  readonly steps: StepRegistry;
}
