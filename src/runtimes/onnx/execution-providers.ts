import { detectGpus } from '../../devices/gpus.js';

/** What {@link chooseExecutionProviders} decides. */
export interface ExecutionProviderChoice {
  /** ONNX Runtime `executionProviders` option, best first, always ending with `cpu`. */
  providers: (string | { name: string; deviceId: number })[];
  /** Short label for logs and `/ping` (for example `cuda:1` or `cpu`). */
  label: string;
  /** Fallbacks taken, to be logged as warnings. */
  warnings: string[];
}

/** Inputs to {@link chooseExecutionProviders}; probes are injectable for tests. */
export interface ExecutionProviderRequest {
  /** `SMKIT_DEVICE` list, best first: `auto`, `cpu`, `cuda`/`gpu`, `tensorrt`. */
  requested: readonly string[];
  /** Execution providers this onnxruntime-node build can use (`listSupportedBackends`). */
  supported: readonly string[];
  /** Worker index, for spreading workers across GPUs round-robin. */
  workerIndex: number;
  /** GPU indexes visible to the process; detected when omitted. */
  gpus?: readonly number[];
}

/**
 * Picks ONNX Runtime execution providers. GPU providers need both a GPU and a build that has the
 * provider; otherwise the choice falls back to CPU with a warning, never silently. Workers are
 * spread over the visible GPUs round-robin (worker i → GPU i mod n).
 */
export function chooseExecutionProviders(req: ExecutionProviderRequest): ExecutionProviderChoice {
  const wantsGpu = req.requested.some((d) => d !== 'cpu');
  const gpus = wantsGpu ? (req.gpus ?? detectGpus()) : [];
  const warnings: string[] = [];
  const providers: ExecutionProviderChoice['providers'] = [];
  let label = 'cpu';
  const deviceId = gpus.length > 0 ? gpus[req.workerIndex % gpus.length]! : 0;
  for (const device of req.requested) {
    if (device === 'cpu') break;
    const candidates = device === 'tensorrt' ? ['tensorrt', 'cuda'] : ['cuda'];
    for (const ep of candidates) {
      if (providers.some((p) => typeof p === 'object' && p.name === ep)) continue;
      if (gpus.length === 0) {
        if (device !== 'auto') warnings.push(`${device} was asked for (SMKIT_DEVICE) but no GPU is visible; using CPU`);
        break;
      }
      if (!req.supported.includes(ep)) {
        warnings.push(`${ep} was asked for but this onnxruntime-node build has no ${ep} execution provider (install the GPU image); using the next choice`);
        continue;
      }
      providers.push({ name: ep, deviceId });
      if (label === 'cpu') label = `${ep}:${deviceId}`;
    }
  }
  providers.push('cpu');
  return { providers, label, warnings: [...new Set(warnings)] };
}
