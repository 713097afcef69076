/**
 * The environment variables GPU detection reads. Kept here because only `src/config/` reads
 * `process.env`; values are passed on raw because their meaning (CUDA's own parsing rules) is
 * interpreted in `src/devices/gpus.ts`. `NVIDIA_VISIBLE_DEVICES` is not read: the NVIDIA container
 * runtime applies it on the host, and inside the container nvidia-smi and /dev/nvidiaN show only the
 * GPUs it mounted.
 */
export interface DeviceEnv {
  /** `CUDA_VISIBLE_DEVICES`: the GPUs CUDA (and so ONNX Runtime and TensorFlow) may use. */
  readonly cudaVisibleDevices?: string;
}

/** Reads {@link DeviceEnv} from the environment (unset stays undefined; an empty value is kept). */
export function readDeviceEnv(env: Readonly<Record<string, string | undefined>> = process.env): DeviceEnv {
  return Object.freeze({
    cudaVisibleDevices: env['CUDA_VISIBLE_DEVICES'],
  });
}
