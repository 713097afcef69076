import { gpuForWorker } from './assign.js';
import type { GpuInventory, VisibleGpu } from './gpus.js';

/** An ONNX Runtime `executionProviders` entry: a name, or a GPU provider with its device ordinal. */
export type OnnxProvider = 'cpu' | { readonly name: 'cuda' | 'tensorrt'; readonly deviceId: number };

/** What {@link selectOnnxProviders} decides for one worker. */
export interface OnnxDeviceChoice {
  /** Providers best first, always ending with `cpu` (ONNX Runtime falls back per node). */
  readonly providers: readonly OnnxProvider[];
  /** Short label for logs (`tensorrt:1`, `cuda:0`, `cpu`). */
  readonly label: string;
  /** The GPU this worker uses, when any. */
  readonly gpu?: VisibleGpu;
  /** Fallbacks from what was asked for: log each as a warning. */
  readonly warnings: readonly string[];
}

/** Inputs of {@link selectOnnxProviders}; all facts are passed in, so it is pure. */
export interface OnnxDeviceRequest {
  /** `SMKIT_DEVICE` list, best first: `auto`, `cpu`, `cuda` (alias `gpu`), `tensorrt`. */
  readonly requested: readonly string[];
  /** Providers this onnxruntime-node build has (`listSupportedBackends()` names). */
  readonly supported: readonly string[];
  /** The worker's index: workers are spread over visible GPUs round-robin. */
  readonly workerIndex: number;
  /** GPU detection result ({@link inspectGpus}). */
  readonly inventory: GpuInventory;
  /**
   * How many workers serve (`SAGEMAKER_MODEL_SERVER_WORKERS` or `--workers`), when known: fewer
   * than the visible GPUs leaves some unused, which worker 0 warns of.
   */
  readonly workers?: number;
}

/**
 * Picks ONNX Runtime execution providers for one worker. `auto` uses CUDA when a GPU is visible and
 * the build has the CUDA provider, else CPU: quietly on the CPU build without a GPU, with a warning
 * on a build with the CUDA provider (the GPU image) that sees no GPU, or on the CPU build that sees one. An explicit `cuda`/`gpu`/`tensorrt` that cannot
 * be honoured falls back to the next choice with a warning, never silently. `tensorrt` keeps `cuda`
 * behind it for the nodes TensorRT does not take. `cpu` ends the list.
 */
export function selectOnnxProviders(req: OnnxDeviceRequest): OnnxDeviceChoice {
  const gpu = gpuForWorker(req.workerIndex, req.inventory.visible);
  const warnings: string[] = [];
  const chosen: ('cuda' | 'tensorrt')[] = [];
  for (const asked of req.requested.map((d) => (d === 'gpu' ? 'cuda' : d))) {
    if (asked === 'cpu') break;
    // What detection saw that CUDA will not do as written (an entry of CUDA_VISIBLE_DEVICES it
    // ignores, with every entry after it): fewer GPUs than asked for must not pass unseen. Once:
    // the list is deduplicated below.
    warnings.push(...req.inventory.notes);
    const explicit = asked !== 'auto';
    if (!gpu) {
      if (explicit) warnings.push(`${asked} was asked for (SMKIT_DEVICE) but no GPU is visible${visibilityHint(req.inventory)}; using CPU`);
      // A build with the CUDA provider is the GPU image: run without a GPU, it is almost always a
      // container started without --gpus (or on a CPU instance), which should not pass unnoticed.
      else if (req.supported.includes('cuda')) warnings.push(`SMKIT_DEVICE=auto: this onnxruntime-node build has the CUDA execution provider (the GPU image) but no GPU is visible${visibilityHint(req.inventory)}; using CPU`);
      continue;
    }
    for (const ep of asked === 'tensorrt' ? (['tensorrt', 'cuda'] as const) : (['cuda'] as const)) {
      if (chosen.includes(ep)) continue;
      if (req.supported.includes(ep)) {
        chosen.push(ep);
      } else if (explicit) {
        warnings.push(`${ep} was asked for (SMKIT_DEVICE) but this onnxruntime-node build has no ${ep} execution provider (use the GPU image); trying the next choice`);
      } else {
        // auto with a GPU there to use and no CUDA provider (auto set on the CPU image run with --gpus, or an
        // npm install, whose onnxruntime-node has no CUDA libraries): the GPU would sit unused unsaid.
        warnings.push(`SMKIT_DEVICE=auto: ${req.inventory.visible.length === 1 ? 'a GPU is' : `${req.inventory.visible.length} GPUs are`} visible but this onnxruntime-node build has no CUDA execution provider (the CPU image, or onnxruntime-node installed without its CUDA libraries): use the GPU image; using CPU`);
      }
    }
  }
  const providers: OnnxProvider[] = [...chosen.map((name) => ({ name, deviceId: gpu!.ordinal })), 'cpu'];
  const first = chosen[0];
  const gpus = req.inventory.visible.length;
  // Worker i uses GPU i mod n: with fewer workers than GPUs the last ones get none (paid for, idle).
  if (first && req.workerIndex === 0 && req.workers !== undefined && req.workers < gpus) {
    const idle = req.inventory.visible.slice(req.workers).map((g) => g.ordinal);
    warnings.push(
      `${gpus} GPUs are visible but only ${req.workers} worker${req.workers === 1 ? '' : 's'} serve${req.workers === 1 ? 's' : ''} (SAGEMAKER_MODEL_SERVER_WORKERS or --workers), one GPU each: ` +
        `GPU${idle.length === 1 ? '' : 's'} ${idle.join(', ')} stay${idle.length === 1 ? 's' : ''} unused; set SAGEMAKER_MODEL_SERVER_WORKERS to ${gpus} (or a multiple of it)`,
    );
  }
  // More workers than GPUs but not a multiple: the first GPUs take one worker more than the rest,
  // so they hold one more copy of the model and, under even load, run slower than the others.
  if (first && req.workerIndex === 0 && req.workers !== undefined && req.workers > gpus && req.workers % gpus !== 0) {
    const per = Math.floor(req.workers / gpus);
    const busier = req.inventory.visible.slice(0, req.workers % gpus).map((g) => g.ordinal);
    const lower = per * gpus;
    warnings.push(
      `${req.workers} workers (SAGEMAKER_MODEL_SERVER_WORKERS or --workers) do not spread evenly over ${gpus} visible GPUs: ` +
        `GPU${busier.length === 1 ? '' : 's'} ${busier.join(', ')} ${busier.length === 1 ? 'gets' : 'get'} ${per + 1} workers (a model copy and its memory each), the others ${per}; ` +
        `set SAGEMAKER_MODEL_SERVER_WORKERS to a multiple of ${gpus} (${lower} or ${lower + gpus})`,
    );
  }
  return {
    providers,
    label: first ? `${first}:${gpu!.ordinal}` : 'cpu',
    ...(first ? { gpu: gpu! } : {}),
    warnings: [...new Set(warnings)],
  };
}

function visibilityHint(inventory: GpuInventory): string {
  if (inventory.physical.length > 0 && inventory.cudaVisibleDevices !== undefined) {
    return ` (CUDA_VISIBLE_DEVICES="${inventory.cudaVisibleDevices}" hides the ${inventory.physical.length} present)`;
  }
  return inventory.physical.length === 0 ? ' (no nvidia-smi, no /dev/nvidiaN: run with --gpus all on a GPU host)' : '';
}

/** The TF.js native bindings to try, best first, and why a GPU one is left out. */
export interface TfjsBindingChoice {
  /** Package names to import, best first (the caller falls back to wasm/cpu when none loads). */
  readonly packages: readonly ('@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node')[];
  /** Fallbacks from what was asked for: log each as a warning. */
  readonly warnings: readonly string[];
}

/**
 * Chooses the TensorFlow.js native binding: `tfjs-node-gpu` only when a GPU is visible, it is not
 * excluded by `SMKIT_DEVICE=cpu`, and the binding is installed (smkit's GPU image does not ship it:
 * it needs CUDA 11.2 + cuDNN 8, see docs/images.md); otherwise `tfjs-node` on CPU, with a warning when
 * a GPU was asked for explicitly.
 */
export function selectTfjsBinding(req: { requested: readonly string[]; inventory: GpuInventory; gpuBindingInstalled: boolean }): TfjsBindingChoice {
  const first = req.requested.find((d) => d !== 'auto') ?? 'auto';
  const wantsGpu = req.requested[0] !== 'cpu';
  const explicit = first !== 'auto' && first !== 'cpu';
  if (!wantsGpu) return { packages: ['@tensorflow/tfjs-node'], warnings: [] };
  if (req.inventory.visible.length === 0) {
    const warnings = explicit ? [`${first} was asked for (SMKIT_DEVICE) but no GPU is visible${visibilityHint(req.inventory)}; TF.js runs on CPU`] : [];
    return { packages: ['@tensorflow/tfjs-node'], warnings };
  }
  if (!req.gpuBindingInstalled) {
    const warnings = explicit
      ? ['a GPU is visible but @tensorflow/tfjs-node-gpu is not installed (it needs CUDA 11.2 + cuDNN 8; see docs/images.md); TF.js runs on CPU']
      : [];
    return { packages: ['@tensorflow/tfjs-node'], warnings };
  }
  return { packages: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'], warnings: [] };
}
