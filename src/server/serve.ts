import cluster from 'node:cluster';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { invalid, loadSettings, type Settings } from '../config/settings.js';
import { invalidFlag, invalidPath } from '../config/flag-values.js';
import type { ToolkitError } from '../errors/catalogue.js';
import { assertPortFree } from '../net/ports.js';
import { openFilesLimit, tooFewOpenFiles } from './open-files.js';
import { EarlyWorkers } from './early-workers.js';
import { HeldSignals } from './held-signals.js';
import { workerExecArgv, workerHeapGrowingPercent } from './worker-heap.js';
import { defaultTensorFlowGpuMemoryGrowth } from '../config/tensorflow-gpu-memory.js';

/** Options for {@link serve}; CLI flags that override the environment. */
export interface ServeOptions {
  modelDir?: string;
  port?: number;
  /** Address to bind (`--host`, else `SMKIT_BIND_HOST`). */
  host?: string;
  workers?: number;
  /** `--log-format`: `json`, `pretty` or `auto` (pretty on a terminal). */
  logFormat?: string;
}

/**
 * Starts `smkit serve`: a primary process that forks one HTTP worker per
 * `SAGEMAKER_MODEL_SERVER_WORKERS`, replaces crashed workers, and on SIGTERM drains in-flight
 * requests and exits within the grace period (SageMaker sends SIGKILL 30 s after SIGTERM).
 * Resolves when the server has shut down.
 *
 * Invalid settings, and an open files limit too low to serve with, stop it before anything
 * starts. The workers are forked next, before the primary checks the port and loads the rest of
 * its code (logger, code directory, multi-model coordinator): starting Node and loading a worker's
 * modules is most of a cold start, and it now overlaps the primary's own start (see
 * `EarlyWorkers`). A taken port stops the workers and the server with one clear error; a worker
 * binds the port only once the primary has configured it, which is after the check. A SIGTERM or
 * SIGINT from then until the primary supervises its workers is held, and acted on once it does
 * (see `HeldSignals`).
 */
export async function serve(opts: ServeOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const loaded = loadSettings(env, opts);
  const shortOfFiles = tooFewOpenFiles(openFilesLimit(), loaded.workers);
  if (shortOfFiles) throw shortOfFiles;
  if (loaded.sessions) await (await import('../sessions/sessions-folder.js')).prepareSessionsFolder(loaded.sessions.path);
  const modelDir = resolveModelDir(loaded.modelDir, loaded.bakedModelDir);
  // `--model-dir modles/iris-onnx`: a typed folder that is not there is a typo, not a model still to
  // come (as SM_MODEL_DIR's may be on a platform that mounts it later): the server would only answer
  // 503 until restarted. With a baked-in model it is served instead, as for an absent mount.
  if (opts.modelDir !== undefined && !loaded.multiModel && modelDir === loaded.modelDir && !existsSync(modelDir)) {
    throw invalidPath('--model-dir', opts.modelDir, 'the folder that holds the model', 'does not exist');
  }
  const settings: Settings = Object.freeze({
    ...loaded,
    modelDir,
    workerHeapGrowingPercent: workerHeapGrowingPercent(loaded.workerHeapGrowingPercent, process.execArgv, env['NODE_OPTIONS']),
  });
  // Before the first worker is forked: the workers (and their inference threads) inherit it, and
  // tfjs-node-gpu in each takes GPU memory as it needs it, not the whole GPU in the first to load.
  defaultTensorFlowGpuMemoryGrowth();
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./http-worker.js', import.meta.url)),
    execArgv: workerExecArgv({ semiSpaceMb: settings.workerSemiSpaceMb, oldSpaceMb: settings.workerOldSpaceMb }, process.execArgv, env['NODE_OPTIONS']),
    silent: false,
  });
  const held = new HeldSignals();
  let early: EarlyWorkers;
  let primary: typeof import('./primary.js');
  try {
    early = new EarlyWorkers(settings.workers);
  } catch (err) {
    held.release();
    throw err;
  }
  try {
    [primary] = await Promise.all([import('./primary.js'), assertPortFree(loaded.host, loaded.port, '--port (SAGEMAKER_BIND_TO_PORT)')]);
  } catch (err) {
    held.release();
    early.kill();
    throw hostError(err, loaded.host, opts.host !== undefined) ?? err;
  }
  return primary.runPrimary(settings, loaded.modelDir, early, held);
}

/** Why an address cannot be listened on when the host is at fault, not the port. */
const HOST_ERRORS = new Set(['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);

/**
 * A bind failure caused by the host (`--host 10.9.9.9`, a name that does not resolve) as the bad
 * setting it is, `--host` or `SMKIT_BIND_HOST`; undefined for any other failure. It was reported
 * as a port that another process holds, asking for another port.
 */
function hostError(err: unknown, host: string, fromFlag: boolean): ToolkitError | undefined {
  const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined || !HOST_ERRORS.has(code)) return undefined;
  const expected = `an address of this machine to listen on, such as 0.0.0.0 (every interface) or 127.0.0.1 (this machine only); ${host} gave ${code}`;
  return fromFlag ? invalidFlag('--host', host, expected) : invalid('SMKIT_BIND_HOST', host, expected);
}

function hasFiles(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

/**
 * The directory to serve: the model directory when it holds anything (a model SageMaker mounted
 * always wins), else the baked-in model when there is one, else the (empty) model directory.
 */
export function resolveModelDir(modelDir: string, bakedModelDir: string | undefined): string {
  if (hasFiles(modelDir) || !bakedModelDir || !hasFiles(bakedModelDir)) return modelDir;
  return bakedModelDir;
}
