import { getEventListeners, getMaxListeners, setMaxListeners } from 'node:events';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerBackend, RunningContainer } from '../backends/backend.js';
import type { LineSink } from '../backends/line-tap.js';
import { ToolkitError } from '../../errors/catalogue.js';
import { launchReady } from '../backends/launch.js';
import { tailLog } from '../backends/log-tail.js';
import { pingHealthy } from '../backends/wait-ready.js';
import type { ChainContainer } from '../endpoint/chain.js';
import { multiModelHost, type FetchedModel, type MultiModelHost } from '../endpoint/container.js';
import type { FleetInstance, InstanceLauncher } from './fleet.js';
import { secondsText } from '../../core/seconds-text.js';

/** One container of a variant's instances, with its model data already local. */
export interface ContainerTemplate {
  hostname: string;
  image?: string;
  env: Record<string, string>;
  /** Local model directory or archive (for `MultiModel`: the folder of archives). */
  modelSource: string;
  /** Where `modelSource` was downloaded from (`ModelDataUrl`, or a Gzip `S3Object`'s URI), named when its archive cannot be extracted. */
  modelUrl?: string;
  mode: 'SingleModel' | 'MultiModel';
  /** `MultiModelConfig.ModelCacheSetting` of a `MultiModel` container (default `Enabled`). */
  modelCacheSetting?: 'Enabled' | 'Disabled';
  /** Of a `MultiModel` container: fetches a `TargetModel` missing from `modelSource` (see {@link MultiModelHost.fetch}). */
  fetchModel?: (targetModel: string, signal: AbortSignal) => Promise<FetchedModel>;
  /** Memory limit in MB (a serverless variant's `MemorySizeInMB`). */
  memoryMb?: number;
  /** The variant's instance type has NVIDIA GPUs. */
  gpus?: boolean;
  /** The GPUs each container takes (an inference component's `NumberOfAcceleratorDevicesRequired`). */
  gpuCount?: number;
}

/** What extracting a model archive fails with (`extractModelArchive`). */
const ARCHIVE_ERRORS: ReadonlySet<string> = new Set(['ERR_ARCHIVE_UNSAFE', 'ERR_ARCHIVE_INVALID', 'ERR_ARCHIVE_TOO_LARGE']);

/** True for a start that failed extracting the model archive (the user's model data, not the instance). */
export function isModelArchiveFailure(err: unknown): err is ToolkitError {
  return err instanceof ToolkitError && ARCHIVE_ERRORS.has(err.code);
}

/** Where and how a variant's instances start. */
export interface LaunchContext {
  backend: ContainerBackend;
  /** Folder for every instance's `/opt/ml` trees. */
  workDir: string;
  /** Folder for the container logs. */
  logsDir: string;
  /** `/ping` deadline per container. */
  startupTimeoutMs: number;
  /** Stops waiting when the endpoint is deleted during start-up. */
  signal?: AbortSignal;
  progress?: (line: string) => void;
  /** Opens each new instance's log streams (the local CloudWatch Logs); its containers' output lines go there too. */
  instanceLogs?: InstanceLogs;
  /** Told when a stopped instance's folder could not be removed. */
  warn?: (message: string, fields: Record<string, unknown>) => void;
  /** Keep a stopped instance's folder (`--keep`). @defaultValue false */
  keepTrees?: boolean;
}

/** Opens the log streams of one new instance (`index`: its number in the launcher, when it has one): a line sink for each of its containers, by hostname. */
export type InstanceLogs = (hostnames: readonly string[], index?: number) => ReadonlyMap<string, LineSink>;

/** An instance did not start: says which container, why, and its last log lines. */
export class InstanceStartError extends Error {
  constructor(
    readonly hostname: string,
    readonly reason: string,
    readonly logTail: string,
    options?: ErrorOptions,
  ) {
    super(`${hostname}: ${reason}`, options);
    this.name = 'InstanceStartError';
  }
}

/**
 * Adds `onAbort` to `signal`, first raising the signal's listener limit to the listeners it will
 * then have when that passes the limit (Node's default is 10 on Node 20; 0, no limit, from Node 22).
 */
function listen(signal: AbortSignal, onAbort: () => void): void {
  const max = getMaxListeners(signal);
  const needed = getEventListeners(signal, 'abort').length + 1;
  if (max !== 0 && needed > max) setMaxListeners(needed, signal);
  signal.addEventListener('abort', onAbort, { once: true });
}

/**
 * A signal that aborts when either `a` or `b` does; `dispose` drops the listeners once the start is over.
 * `a` and `b` are shared by every start of a deployment and of a fleet, and a serverless variant's
 * concurrent cold starts or a scale-out of more than ten instances listen to them at once, which
 * Node 20 would print as a possible leak (MaxListenersExceededWarning) past its default of 10: a
 * start raises the limit of each to the listeners it then has.
 */
function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): { signal: AbortSignal | undefined; dispose(): void } {
  if (!a || !b) return { signal: a ?? b, dispose: () => {} };
  const both = new AbortController();
  const onAbort = (): void => both.abort();
  for (const s of [a, b]) {
    if (s.aborted) both.abort();
    else listen(s, onAbort);
  }
  return { signal: both.signal, dispose: () => [a, b].forEach((s) => s.removeEventListener('abort', onAbort)) };
}

/** Launchers made so far in this process: numbers each one's instance folders apart. */
let launchers = 0;

/**
 * Makes the launcher of one variant's instances: each instance gets fresh `/opt/ml` trees, one
 * container per template (a serial pipeline when several), started through the backend, and is
 * handed over once every container passes `/ping`. On failure the instance's containers are
 * stopped and an {@link InstanceStartError} carries the failing container's last log lines. The
 * same launcher starts replacements of dead instances, so they get the same model data, environment
 * and instance-id check.
 */
export function instanceLauncher(ctx: LaunchContext, idPrefix: string, templates: readonly ContainerTemplate[]): InstanceLauncher {
  const fileSafe = idPrefix.replace(/[^a-zA-Z0-9_.-]+/g, '.');
  // Two launchers may have one id prefix at once (an inference component's old and new copies, an
  // update to the endpoint config already serving), each numbering from i0: each instance folder is
  // the launcher's own, so one stopping never removes (nor a start extracts into) another's tree.
  const launcher = ++launchers;
  return async (index, stopSignal) => {
    const id = `${idPrefix}/i${index}`;
    // Its /opt/ml trees hold a copy of the model (extracted): removed once its containers have stopped.
    const root = join(ctx.workDir, fileSafe, `i${index}.${launcher}`);
    const dispose = async (): Promise<void> => {
      if (ctx.keepTrees) return;
      await rm(root, { recursive: true, force: true }).catch((err: Error) => ctx.warn?.('could not remove the folder of a stopped instance', { instance: id, folder: root, error: err.message }));
      // The variant's folder of instance folders goes with its last one: kept, each endpoint (or
      // config, or inference component) deleted left an empty folder until smkit local stopped.
      // An instance starting meanwhile makes it again (its folders are made with `recursive`).
      await rmdir(dirname(root)).catch(() => {});
    };
    const started = new Set<RunningContainer>();
    const { signal, dispose: disposeSignal } = eitherSignal(ctx.signal, stopSignal);
    try {
      await mkdir(ctx.logsDir, { recursive: true });
      signal?.throwIfAborted();
      const logs = ctx.instanceLogs?.(templates.map((t) => t.hostname), index);
      // The first container of a pipeline to fail fails the instance: the others' starts and /ping
      // waits are cut short (with its error as the reason), not waited for up to their deadline.
      const firstFailed = new AbortController();
      const { signal: startSignal, dispose: disposeStartSignal } = eitherSignal(signal, firstFailed.signal);
      let firstFailure: { reason: unknown } | undefined;
      const failFast = <T>(starting: Promise<T>): Promise<T> =>
        starting.catch((err: unknown) => {
          firstFailure ??= { reason: err };
          firstFailed.abort(err);
          throw err;
        });
      // Every container of the instance starts at once; each is handed over once its own /ping passes.
      const ready = await Promise.allSettled(
        templates.map((t) => failFast((async (): Promise<{ running: RunningContainer; link: ChainContainer }> => {
          const logFile = join(ctx.logsDir, `${fileSafe}.i${index}.${t.hostname}.log`);
          let current: RunningContainer | undefined;
          try {
            const { container: running, modelsDir } = await launchReady(
              ctx.backend,
              {
                id: `${id}/${t.hostname}`,
                hostname: t.hostname,
                root: join(root, t.hostname),
                model: t.modelSource,
                mode: t.mode,
                env: t.env,
                logFile,
                ...(logs?.has(t.hostname) ? { logLines: logs.get(t.hostname)! } : {}),
                ...(t.image ? { image: t.image } : {}),
                ...(t.memoryMb === undefined ? {} : { memoryMb: t.memoryMb }),
                ...(t.gpus ? { gpus: true } : {}),
                ...(t.gpus && t.gpuCount !== undefined ? { gpuCount: t.gpuCount } : {}),
                ...(templates.length > 1 ? { multiContainer: true } : {}),
              },
              {
                timeoutMs: ctx.startupTimeoutMs,
                ...(startSignal ? { signal: startSignal } : {}),
                onStarted: ({ container, port }) => {
                  if (current) started.delete(current);
                  current = container;
                  started.add(container);
                  ctx.progress?.(`smkit local: started ${id}/${t.hostname} (${ctx.backend.name}, port ${port}, log ${logFile})`);
                },
              },
            );
            const link: ChainContainer = {
              hostname: t.hostname,
              url: running.url,
              logFile,
              ...(modelsDir ? { multiModel: multiModelHost({ source: t.modelSource, hostDir: modelsDir.host, containerDir: modelsDir.container, ...(t.fetchModel ? { fetch: t.fetchModel } : {}) }, t.modelCacheSetting !== 'Disabled') } : {}),
            };
            return { running, link };
          } catch (err) {
            if (!signal?.aborted && t.modelUrl !== undefined && err instanceof ToolkitError && ARCHIVE_ERRORS.has(err.code)) {
              // In the service's words for an archive it cannot extract, naming the URL given, not the local copy (nor in the reason).
              throw new ToolkitError(err.code, `Failed to extract model data archive from URL "${t.modelUrl}". Please ensure that the object located at the URL is a valid tar.gz archive: ${err.message.split(t.modelSource).join('the archive')}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
            }
            if (signal?.aborted || !(err instanceof ToolkitError && err.code === 'ERR_CONTAINER_START')) throw err;
            const detail = (key: string): string | undefined => (typeof err.details?.[key] === 'string' ? (err.details[key] as string) : undefined);
            // Worded to follow "it" (the deployment says "did not pass the ping health check: it <reason>"):
            // a load failure is the container's own /ping message ("model failed to load: …").
            const loadFailure = detail('reason');
            const reason = loadFailure !== undefined ? `answered /ping with 503: ${loadFailure}` : detail('exit') ?? `did not answer /ping with 200 within ${secondsText(ctx.startupTimeoutMs)} s`;
            throw new InstanceStartError(t.hostname, reason, await tailLog(logFile, 20), { cause: err });
          }
        })())),
      );
      disposeStartSignal();
      if (firstFailure) throw firstFailure.reason;
      const ok = ready as Array<PromiseFulfilledResult<{ running: RunningContainer; link: ChainContainer }>>;
      ctx.progress?.(`smkit local: ${id} is healthy`);
      const instance: FleetInstance = { id, containers: ok.map((r) => r.value.running), chain: ok.map((r) => r.value.link), dispose };
      return instance;
    } catch (err) {
      await Promise.all([...started].map((c) => c.stop(5_000).catch(() => {})));
      if ([...started].every((c) => c.exited !== undefined)) await dispose();
      throw err;
    } finally {
      disposeSignal();
    }
  };
}

/** One health check of an instance: every container of it answers `/ping` 200 within 2 s. */
export async function instanceHealthy(instance: FleetInstance): Promise<boolean> {
  const answers = await Promise.all(instance.containers.map((c) => pingHealthy(c)));
  return answers.every(Boolean);
}
