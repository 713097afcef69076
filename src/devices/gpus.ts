import { existsSync, readdirSync } from 'node:fs';
import { lazyRequire } from '../core/lazy-require.js';
import { readDeviceEnv } from '../config/devices.js';

/** Only a GPU probe runs nvidia-smi: a CPU-only start does not load child_process. */
const childProcess = lazyRequire<typeof import('node:child_process')>('node:child_process');

/** Facts about the machine's GPUs, gathered by {@link GpuProbes}. Injected in tests. */
export interface GpuProbes {
  /** Lists `/dev` entries (for `nvidia0`, `nvidia1` ...). */
  listDevFiles(): string[];
  /** Output of `nvidia-smi -L`, or undefined when it cannot run. */
  nvidiaSmiList(): string | undefined;
  /** The `CUDA_VISIBLE_DEVICES` value, if set (an empty string is a value: it hides every GPU). */
  cudaVisibleDevices(): string | undefined;
}

/** A GPU the machine (or container) has, numbered as `nvidia-smi` and `/dev/nvidiaN` number it. */
export interface PhysicalGpu {
  /** Index in `nvidia-smi -L` (the PCI bus order), or the place of its `/dev/nvidiaN` among them (0 up, in N's order). */
  readonly index: number;
  /** Product name, when `nvidia-smi` ran. */
  readonly name?: string;
  /** `GPU-…` UUID, when `nvidia-smi` ran. */
  readonly uuid?: string;
  /** `MIG-…` UUIDs of MIG instances on this GPU, when `nvidia-smi` listed any. */
  readonly migUuids?: readonly string[];
}

/** A GPU this process may use, as CUDA numbers it: `ordinal` is the `deviceId` to pass to runtimes. */
export interface VisibleGpu {
  /** CUDA device ordinal inside this process (0..n-1, in `CUDA_VISIBLE_DEVICES` order). */
  readonly ordinal: number;
  /** The physical GPU it maps to. */
  readonly physical: PhysicalGpu;
  /** The `CUDA_VISIBLE_DEVICES` entry that made it visible (a physical index or a UUID). */
  readonly id: string;
}

/** Everything GPU detection found, with notes explaining surprising results (for logs). */
export interface GpuInventory {
  /** Where the physical list came from. */
  readonly source: 'nvidia-smi' | 'device-files' | 'none';
  /** All GPUs present, whether or not this process may use them. */
  readonly physical: readonly PhysicalGpu[];
  /** GPUs this process may use, by CUDA ordinal. */
  readonly visible: readonly VisibleGpu[];
  /** The `CUDA_VISIBLE_DEVICES` value, when set. */
  readonly cudaVisibleDevices?: string;
  /** Explanations worth logging (an entry CUDA will ignore, UUIDs that could not be checked). */
  readonly notes: readonly string[];
}

/**
 * `nvidia-smi -L`'s output, or undefined when it does not run or does not finish within
 * `timeoutMs`. Killed with SIGKILL at the timeout: `execFileSync` waits for its child to exit, so one
 * that ignores the default SIGTERM (a tool stuck on a wedged driver) would hold the model's load,
 * and `/ping`'s first 200, for as long as it hangs.
 */
export function listNvidiaSmi(timeoutMs = 5000): string | undefined {
  try {
    return childProcess().execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** Probes that look at the real machine. */
export const systemGpuProbes: GpuProbes = {
  listDevFiles() {
    try {
      return existsSync('/dev') ? readdirSync('/dev') : [];
    } catch {
      return [];
    }
  },
  nvidiaSmiList: () => listNvidiaSmi(),
  cudaVisibleDevices() {
    return readDeviceEnv().cudaVisibleDevices;
  },
};

/**
 * Parses `nvidia-smi -L` output:
 * `GPU 0: Tesla T4 (UUID: GPU-8932f937-…)`, optionally followed by indented
 * `  MIG 1g.5gb Device 0: (UUID: MIG-…)` lines for MIG instances of that GPU.
 */
export function parseNvidiaSmiList(text: string): PhysicalGpu[] {
  const gpus: { index: number; name?: string; uuid?: string; migUuids?: string[] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const gpu = /^GPU (\d+):\s*(.*?)\s*(?:\(UUID:\s*(GPU-[^)\s]+)\))?$/.exec(line);
    if (gpu) {
      gpus.push({ index: Number(gpu[1]), ...(gpu[2] ? { name: gpu[2] } : {}), ...(gpu[3] ? { uuid: gpu[3] } : {}) });
      continue;
    }
    const mig = /^MIG .*\(UUID:\s*(MIG-[^)\s]+)\)$/.exec(line);
    const parent = gpus[gpus.length - 1];
    if (mig && parent) (parent.migUuids ??= []).push(mig[1]!);
  }
  return gpus.sort((a, b) => a.index - b.index);
}

/**
 * Applies CUDA's `CUDA_VISIBLE_DEVICES` rules to the physical GPUs:
 * - unset: every GPU, in index order;
 * - set but empty (or only spaces): none;
 * - a comma-separated list of indexes or UUIDs (`GPU-…`, `MIG-…`, or a unique prefix of one):
 *   those GPUs, renumbered 0..n-1 in the order given. CUDA stops at the first invalid entry
 *   (`-1`, an index out of range, an unknown UUID, a repeat), so `0,2,-1,1` makes 0 and 2 visible.
 * UUIDs cannot be checked without `nvidia-smi`; each is then assumed to name a different GPU.
 */
export function applyCudaVisibleDevices(value: string | undefined, physical: readonly PhysicalGpu[]): { visible: VisibleGpu[]; notes: string[] } {
  if (value === undefined) {
    return { visible: physical.map((p, ordinal) => ({ ordinal, physical: p, id: String(p.index) })), notes: [] };
  }
  const notes: string[] = [];
  const visible: VisibleGpu[] = [];
  const used = new Set<PhysicalGpu>();
  const entries = value.trim() === '' ? [] : value.split(',').map((s) => s.trim());
  for (const [position, entry] of entries.entries()) {
    const gpu = resolveEntry(entry, physical, used, notes);
    if (!gpu) {
      if (physical.length > 0) {
        const ignored = entries.slice(position).join(',');
        notes.push(`CUDA_VISIBLE_DEVICES entry "${entry}" names no usable GPU; CUDA ignores it and every entry after it ("${ignored}")`);
      }
      break;
    }
    used.add(gpu);
    visible.push({ ordinal: visible.length, physical: gpu, id: entry });
  }
  return { visible, notes };
}

function resolveEntry(entry: string, physical: readonly PhysicalGpu[], used: ReadonlySet<PhysicalGpu>, notes: string[]): PhysicalGpu | undefined {
  if (/^\d+$/.test(entry)) {
    const gpu = physical.find((p) => p.index === Number(entry));
    return gpu && !used.has(gpu) ? gpu : undefined;
  }
  if (!/^(GPU|MIG)-/i.test(entry)) return undefined;
  const known = physical.some((p) => p.uuid !== undefined);
  if (!known) {
    // Without nvidia-smi the UUIDs are unknown: trust the entry, one GPU each, in index order.
    const next = physical.find((p) => !used.has(p));
    if (next && !notes.some((n) => n.startsWith('UUIDs in CUDA_VISIBLE_DEVICES'))) {
      notes.push('UUIDs in CUDA_VISIBLE_DEVICES could not be checked (nvidia-smi is not available); assuming each names a different GPU');
    }
    return next;
  }
  const prefix = entry.toLowerCase();
  const matches = physical.filter((p) =>
    [p.uuid, ...(p.migUuids ?? [])].some((u) => u !== undefined && u.toLowerCase().startsWith(prefix)),
  );
  const gpu = matches.length === 1 ? matches[0] : undefined;
  return gpu && !used.has(gpu) ? gpu : undefined;
}

/**
 * Looks at the machine: `nvidia-smi -L` when it runs (it does not honour `CUDA_VISIBLE_DEVICES`,
 * so it gives the physical list), else `/dev/nvidiaN` device files; then applies
 * `CUDA_VISIBLE_DEVICES` ({@link applyCudaVisibleDevices}). The real machine is probed once per
 * process; injected probes are probed on every call.
 */
export function inspectGpus(probes: GpuProbes = systemGpuProbes): GpuInventory {
  if (probes === systemGpuProbes && systemInventory) return systemInventory;
  let source: GpuInventory['source'] = 'none';
  let physical: PhysicalGpu[] = [];
  const smi = probes.nvidiaSmiList();
  if (smi !== undefined) physical = parseNvidiaSmiList(smi);
  if (physical.length > 0) {
    source = 'nvidia-smi';
  } else {
    physical = probes
      .listDevFiles()
      .map((f) => /^nvidia(\d+)$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b)
      // Numbered 0 up, as CUDA (and nvidia-smi) number them here, not by the file's number: a
      // container given the host's GPUs 1 and 3 (docker run --gpus '"device=1,3"') has
      // /dev/nvidia1 and /dev/nvidia3, which CUDA calls 0 and 1 (CUDA_VISIBLE_DEVICES=1 is the second).
      .map((_, index) => ({ index }));
    if (physical.length > 0) source = 'device-files';
  }
  const cudaVisibleDevices = probes.cudaVisibleDevices();
  const { visible, notes } = applyCudaVisibleDevices(cudaVisibleDevices, physical);
  const inventory: GpuInventory = Object.freeze({
    source,
    physical,
    visible,
    ...(cudaVisibleDevices !== undefined ? { cudaVisibleDevices } : {}),
    notes,
  });
  if (probes === systemGpuProbes) systemInventory = inventory;
  return inventory;
}

let systemInventory: GpuInventory | undefined;

/**
 * CUDA device ordinals this process may use (`[0, 1]` for two visible GPUs; `[]` for none).
 * These are the `deviceId`s to pass to ONNX Runtime, not physical indexes.
 */
export function detectGpus(probes: GpuProbes = systemGpuProbes): number[] {
  return inspectGpus(probes).visible.map((g) => g.ordinal);
}

/** Number of GPUs this process may use: the value for `SM_NUM_GPUS` in training. */
export function countGpus(probes: GpuProbes = systemGpuProbes): number {
  return inspectGpus(probes).visible.length;
}
