import type { GpuInventory, VisibleGpu } from './gpus.js';

/**
 * The GPU a worker uses: worker i gets visible GPU i mod n, so N workers on M GPUs spread evenly
 * instead of all landing on GPU 0. Undefined when no GPU is visible.
 *
 * @example
 * gpuForWorker(3, inventory.visible) // with 2 visible GPUs: the GPU with ordinal 1
 */
export function gpuForWorker(workerIndex: number, visible: readonly VisibleGpu[]): VisibleGpu | undefined {
  if (visible.length === 0) return undefined;
  if (!Number.isInteger(workerIndex) || workerIndex < 0) throw new RangeError(`workerIndex must be a whole number >= 0, got ${workerIndex}`);
  return visible[workerIndex % visible.length];
}

/** One row of {@link planWorkerGpus}: which GPU a worker gets, or none. */
export interface WorkerGpu {
  readonly worker: number;
  readonly gpu?: VisibleGpu;
}

/** The round-robin assignment for `workers` workers (for start-up logs and `/execution-parameters`-style reports). */
export function planWorkerGpus(workers: number, inventory: GpuInventory): WorkerGpu[] {
  return Array.from({ length: workers }, (_, worker) => {
    const gpu = gpuForWorker(worker, inventory.visible);
    return gpu ? { worker, gpu } : { worker };
  });
}

/**
 * A `CUDA_VISIBLE_DEVICES` value that pins a worker *process* to its round-robin GPU, for code that
 * starts its own worker processes with TensorFlow.js (tfjs-node-gpu places work on its first
 * visible GPU and has no per-model device option): set it in each child's environment before TF
 * loads. `smkit serve` does not call it: its ONNX Runtime workers get the ordinal as the CUDA
 * provider's `deviceId` instead, and its TF.js workers all use the first visible GPU.
 * The value replaces (does not narrow) the parent's, so it names the physical GPU: its UUID when
 * `nvidia-smi` reported one (unambiguous), else the entry that made it visible here (an index,
 * which CUDA reads in `CUDA_DEVICE_ORDER`; on SageMaker's single-model GPU instances that order and
 * `nvidia-smi`'s agree). Undefined when no GPU is visible.
 */
export function cudaVisibleDevicesForWorker(workerIndex: number, inventory: GpuInventory): string | undefined {
  const gpu = gpuForWorker(workerIndex, inventory.visible);
  return gpu ? (gpu.physical.uuid ?? gpu.id) : undefined;
}
