import { existsSync } from 'node:fs';

/**
 * Whether SageMaker gives the instances of `instanceType` NVIDIA GPUs: the G and P families
 * (ml.g4dn, ml.g5, ml.g6, ml.g6e, ml.p3, ml.p4d, ml.p5 ...). Inferentia and Trainium (ml.inf2,
 * ml.trn1) carry AWS Neuron devices, which no local engine passes through here.
 */
export function hasNvidiaGpus(instanceType: string | undefined): boolean {
  return instanceType !== undefined && /^ml\.[gp]\d/.test(instanceType);
}

/**
 * How `engine run` gives a container every GPU of this machine: docker's `--gpus all` (the NVIDIA
 * Container Toolkit), podman's `--device nvidia.com/gpu=all` (the toolkit's CDI specification).
 */
export function gpuRunArgs(engine: 'docker' | 'podman'): string[] {
  return engine === 'docker' ? ['--gpus', 'all'] : ['--device', 'nvidia.com/gpu=all'];
}

/**
 * Whether this machine has an NVIDIA driver a container's GPU needs: `/dev/nvidiactl`, or under
 * WSL 2, where the Windows driver makes no `/dev/nvidia*` devices, GPU paravirtualization
 * (`/dev/dxg`) with that driver's CUDA library, which `--gpus all` (Docker Desktop, the toolkit's
 * WSL mode) passes through.
 */
export function nvidiaDriverPresent(exists: (path: string) => boolean = existsSync): boolean {
  return exists('/dev/nvidiactl') || (exists('/dev/dxg') && exists('/usr/lib/wsl/lib/libcuda.so'));
}
