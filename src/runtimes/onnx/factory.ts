import type { RuntimeFactory } from '../runtime.js';

/** ONNX Runtime (onnxruntime-node). */
export const onnxRuntimeFactory: RuntimeFactory = {
  name: 'onnx',
  async detect() {
    return undefined;
  },
  async load() {
    throw new Error('not yet');
  },
};
