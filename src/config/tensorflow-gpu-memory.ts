/**
 * TensorFlow's switch for how it takes GPU memory. Without it TensorFlow (and so
 * `@tensorflow/tfjs-node-gpu`, which has no option of its own for it:
 * https://github.com/tensorflow/tfjs/issues/671) maps nearly all of a GPU's memory the first time a
 * process uses the GPU. `smkit serve` runs one process per worker and every TF.js worker uses the
 * first visible GPU (docs/images.md), so the first worker to load would take the GPU's memory and
 * the others would fail theirs for want of it. `true` makes each process take memory as it needs
 * it (https://www.tensorflow.org/guide/gpu#limiting_gpu_memory_growth).
 */
export const TF_GPU_GROWTH_SWITCH = 'TF_FORCE_GPU_ALLOW_GROWTH';

/**
 * Sets `TF_FORCE_GPU_ALLOW_GROWTH=true` for this process and the processes it starts, unless the
 * user set it (`false` keeps TensorFlow's default, all of the memory at once). TensorFlow reads it
 * from the process's environment as it first uses a GPU: call it on a process's main thread (a
 * worker thread's `process.env` is its own copy, which native code never reads) before TF.js loads.
 * Returns whether it set the variable.
 */
export function defaultTensorFlowGpuMemoryGrowth(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[TF_GPU_GROWTH_SWITCH]) return false;
  env[TF_GPU_GROWTH_SWITCH] = 'true';
  return true;
}
