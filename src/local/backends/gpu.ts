import { existsSync, readdirSync } from 'node:fs';

/**
 * Whether SageMaker gives the instances of `instanceType` NVIDIA GPUs: the G and P families
 * (ml.g4dn, ml.g5, ml.g6, ml.g6e, ml.p3, ml.p4d, ml.p5 ...). Inferentia and Trainium (ml.inf2,
 * ml.trn1) carry AWS Neuron devices, which no local engine passes through here.
 */
export function hasNvidiaGpus(instanceType: string | undefined): boolean {
  return instanceType !== undefined && /^ml\.[gp]\d/.test(instanceType);
}

/** The `gpus` member of a container spec for `instanceType`: `{ gpus: true }` for a GPU instance type, else none. */
export function gpusOf(instanceType: string | undefined): { gpus?: true } {
  return hasNvidiaGpus(instanceType) ? { gpus: true } : {};
}

/**
 * Which containers get this machine's NVIDIA GPUs (`smkit local --gpus`): `auto`, those of a GPU
 * instance type ({@link hasNvidiaGpus}) when this machine has an NVIDIA driver
 * ({@link nvidiaDriverPresent}); `all`, those of a GPU instance type whatever the probe finds (an
 * engine on another host through `DOCKER_HOST`, a driver the probe does not see); `none`, no
 * container (a GPU instance type's model tried on the CPU).
 */
export type GpuChoice = 'auto' | 'all' | 'none';

/** The values of {@link GpuChoice}, as `--gpus` takes them. */
export const GPU_CHOICES: readonly GpuChoice[] = ['auto', 'all', 'none'];

/**
 * How `engine run` gives a container every GPU of this machine: docker's `--gpus all` (the NVIDIA
 * Container Toolkit), podman's `--device nvidia.com/gpu=all` (the toolkit's CDI specification).
 */
export function gpuRunArgs(engine: 'docker' | 'podman'): string[] {
  return engine === 'docker' ? ['--gpus', 'all'] : ['--device', 'nvidia.com/gpu=all'];
}

/**
 * How `engine run` gives a container the GPUs of these indexes alone: docker's
 * `--gpus "device=0,2"` (quoted: docker reads the value as CSV, so `device=0,2` unquoted is the
 * options `device=0` and `2`), podman's `--device nvidia.com/gpu=N` each (the CDI specification
 * names every GPU by its index).
 */
export function gpuDeviceRunArgs(engine: 'docker' | 'podman', indexes: readonly number[]): string[] {
  return engine === 'docker' ? ['--gpus', `"device=${indexes.join(',')}"`] : indexes.flatMap((i) => ['--device', `nvidia.com/gpu=${i}`]);
}

/**
 * The indexes of this machine's NVIDIA GPUs, from their device files (`/dev/nvidia0`, `/dev/nvidia1` …);
 * none where the driver makes none (WSL 2) or there is no GPU.
 */
export function localGpuIndexes(list: () => string[] = () => readdirSync('/dev')): number[] {
  let names: string[];
  try {
    names = list();
  } catch {
    return [];
  }
  return names
    .map((f) => /^nvidia(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
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

/**
 * What to do about an engine's refusal to give a container the GPUs, from what the `run` client
 * wrote on stderr; `undefined` when it wrote nothing of the kind. Docker without the NVIDIA
 * Container Toolkit says `could not select device driver "" with capabilities: [[gpu]]`, podman
 * without its CDI specification `unresolvable CDI devices nvidia.com/gpu=all`, and the toolkit
 * without a working driver `nvidia-container-cli: initialization error`, and with a driver older
 * than the image's CUDA `nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8`.
 */
export function gpuFailureHint(engine: 'docker' | 'podman', stderr: string): string | undefined {
  const instead = 'or start smkit local with --gpus none to run GPU instance types without a GPU';
  const cuda = /nvidia-container-cli: requirement error: unsatisfied condition: (cuda[^\s,]*)/.exec(stderr);
  if (cuda) {
    return `this machine's NVIDIA driver is older than the image's CUDA needs (${cuda[1]}): update the driver (nvidia-smi shows the CUDA version it supports), use an image built for an older CUDA, ${instead}`;
  }
  const driver = /nvidia-container-cli: (initialization error[^\n]*)/.exec(stderr);
  if (driver) {
    return `the NVIDIA Container Toolkit could not reach this machine's NVIDIA driver (${driver[1]!.trim()}): check that nvidia-smi works here, ${instead}`;
  }
  if (/could not select device driver "[^"]*" with capabilities: \[\[gpu\]\]|unresolvable CDI devices/.test(stderr)) {
    const setup = engine === 'docker' ? 'configure Docker for it (sudo nvidia-ctk runtime configure --runtime=docker) and restart Docker' : 'generate its CDI specification (sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml)';
    return `${engine} could not give the container the GPUs its instance type has on SageMaker: install the NVIDIA Container Toolkit and ${setup}, ${instead}`;
  }
  return undefined;
}
