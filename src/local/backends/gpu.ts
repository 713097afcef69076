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

/** Whether this machine has an NVIDIA driver loaded (`/dev/nvidiactl`), which a container's GPU needs. */
export function nvidiaDriverPresent(): boolean {
  return existsSync('/dev/nvidiactl');
}
