import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Facts about the machine's GPUs, gathered by {@link GpuProbes}. Injected in tests. */
export interface GpuProbes {
  /** Lists `/dev` entries (for `nvidia0`, `nvidia1` ...). */
  listDevFiles(): string[];
  /** Output of `nvidia-smi -L`, or undefined when it cannot run. */
  nvidiaSmiList(): string | undefined;
  /** The `CUDA_VISIBLE_DEVICES` value, if set. */
  cudaVisibleDevices(): string | undefined;
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
  nvidiaSmiList() {
    try {
      return execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return undefined;
    }
  },
  cudaVisibleDevices() {
    return process.env['CUDA_VISIBLE_DEVICES'];
  },
};

/**
 * Indexes of the GPUs this process may use. `CUDA_VISIBLE_DEVICES` narrows the list (an empty value
 * or `-1` hides all); otherwise `nvidia-smi -L`, else `/dev/nvidiaN` device files.
 */
export function detectGpus(probes: GpuProbes = systemGpuProbes): number[] {
  const visible = probes.cudaVisibleDevices();
  let found: number[] = [];
  const smi = probes.nvidiaSmiList();
  if (smi !== undefined) {
    found = smi
      .split('\n')
      .map((line) => /^GPU (\d+):/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
  } else {
    found = probes
      .listDevFiles()
      .map((f) => /^nvidia(\d+)$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }
  if (visible === undefined) return found;
  const v = visible.trim();
  if (v === '' || v === '-1' || v.toLowerCase() === 'none') return [];
  // CUDA renumbers visible devices from 0 in the order given.
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((_, i) => i)
    .filter((i) => i < Math.max(found.length, v.split(',').length));
}
