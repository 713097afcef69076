import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inheritedChildEnv } from '../../config/local-endpoint.js';
import type { ContainerBackend, ContainerSpec, RunningContainer } from './backend.js';
import { tapLines } from './line-tap.js';
import type { CONTAINER_LOG_CAP, LogCap } from './capped-log.js';
import { openChildLog, pipeChildOutput } from './child-log.js';
import { runningContainer, trackExit } from './child-exit.js';
import { trackChildProcess } from './orphan-reaper.js';
import { formatPortRange } from './safe-port-range.js';

/** Path of `bin/smkit.js` in this checkout or installed package (dist/src/local/backends → root). */
export const SMKIT_BIN = fileURLToPath(new URL('../../../../bin/smkit.js', import.meta.url));

/**
 * Builds the environment of a `smkit serve` child: the inherited environment (minus container
 * variables), the container's own variables, then the tree and port (and safe port range) the
 * local endpoint assigns.
 * One worker by default: a pipeline of several containers shares this machine's cores. Stateful
 * sessions live in the instance's own tree.
 * `instanceId` becomes `SMKIT_INSTANCE_ID`, which the child echoes in its `/ping` answers.
 */
export function processChildEnv(spec: ContainerSpec, inherited: Record<string, string> = inheritedChildEnv(), instanceId?: string): Record<string, string> {
  return {
    ...inherited,
    SAGEMAKER_MODEL_SERVER_WORKERS: '1',
    ...spec.env,
    ...(spec.multiModel ? { SAGEMAKER_MULTI_MODEL: 'true' } : {}),
    SAGEMAKER_BASE_DIR: spec.optMlDir,
    // Each instance has its own /dev/shm on SageMaker: processes on one machine get a folder each,
    // so a stateful session is found only on the instance that opened it.
    SAGEMAKER_SESSIONS_PATH: path.join(spec.optMlDir, 'sagemaker_sessions'),
    ...(spec.modelDir === undefined ? {} : { SM_MODEL_DIR: spec.modelDir }),
    SAGEMAKER_BIND_TO_PORT: String(spec.port),
    ...(spec.safePortRange ? { SAGEMAKER_SAFE_PORT_RANGE: formatPortRange(spec.safePortRange) } : {}),
    SMKIT_BIND_HOST: '127.0.0.1',
    ...(instanceId === undefined ? {} : { SMKIT_INSTANCE_ID: instanceId }),
  };
}

/** Options of {@link ProcessBackend}. */
export interface ProcessBackendOptions {
  /**
   * Start each child in its own process group, so that killing it (or its crash) also ends its
   * workers: no hung worker outlives an instance. The owner must then stop the children itself on
   * SIGINT/SIGTERM (a terminal's Ctrl-C no longer reaches them), as `smkit local` does.
   * @defaultValue false
   */
  processGroup?: boolean;
  /** How much of each container's output its log file keeps. @defaultValue {@link CONTAINER_LOG_CAP} */
  logCap?: LogCap;
}

/** Runs each container as `node bin/smkit.js serve` on this machine (no container engine needed). */
export class ProcessBackend implements ContainerBackend {
  readonly name = 'process' as const;
  private readonly processGroup: boolean;
  private readonly logCap: LogCap | undefined;

  constructor(
    private readonly bin: string = SMKIT_BIN,
    opts: ProcessBackendOptions = {},
  ) {
    this.processGroup = opts.processGroup === true;
    this.logCap = opts.logCap;
  }

  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const log = await openChildLog(spec.logFile, this.logCap ? { cap: this.logCap } : {});
    // The port was free when probed, but another process may bind it before this child does:
    // waitForPing accepts only /ping answers that carry this id.
    const instanceId = randomUUID();
    const child = spawn(process.execPath, [this.bin, 'serve'], {
      cwd: spec.optMlDir,
      env: processChildEnv(spec, inheritedChildEnv(), instanceId),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.processGroup,
    });
    const endLog = pipeChildOutput([child.stdout, child.stderr], log);
    if (spec.logLines) {
      tapLines(child.stdout, spec.logLines);
      tapLines(child.stderr, spec.logLines);
    }
    // Should this process end without stopping the child (SIGKILL, a crash), the reaper stops it.
    const release = child.pid === undefined ? () => {} : trackChildProcess(child.pid, this.processGroup);
    const tracked = trackExit(
      child,
      () => {
        release();
        endLog();
      },
      undefined,
      { processGroup: this.processGroup },
    );
    return runningContainer(spec, tracked, { instanceId });
  }
}
