import { RuntimeRegistry } from './registry.js';
import { onnxRuntimeFactory } from './onnx/factory.js';
import { tfjsRuntimeFactory } from './tfjs/factory.js';

/** The runtimes smkit ships, in detection order. SDKs load lazily inside each factory's `load`. */
export function createDefaultRuntimes(): RuntimeRegistry {
  return new RuntimeRegistry().register(onnxRuntimeFactory).register(tfjsRuntimeFactory);
}
