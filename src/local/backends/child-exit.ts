import type { ChildProcess } from 'node:child_process';
import type { ContainerSpec, RunningContainer } from './backend.js';

/** Exit tracking shared by the backends: exit status, a promise, and SIGTERM-then-SIGKILL stop. */
export interface TrackedChild {
  readonly exited: { code: number | null; signal: string | null } | undefined;
  readonly exitPromise: Promise<void>;
  /** The child's process id (undefined when it could not be spawned). */
  readonly pid: number | undefined;
  stop(graceMs: number): Promise<void>;
}

/** Options of {@link trackExit}. */
export interface TrackOptions {
  /**
   * The child leads its own process group (spawned with `detached: true`): SIGKILL goes to the
   * whole group, and once the child has exited whatever is left of its group (its workers) is
   * killed, so a crashed or killed `smkit serve` never leaves a hung worker behind.
   */
  processGroup?: boolean;
}

/** SIGKILL to the child, or to its whole process group; no error when nothing is left. */
function kill(child: ChildProcess, group: boolean): void {
  if (group && child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
      return;
    } catch {
      // The group is gone (ESRCH): fall through for the child itself.
    }
  }
  child.kill('SIGKILL');
}

/**
 * Watches `child` until it exits; `onExit` runs once after. `stop` sends SIGTERM (or runs
 * `terminate`, for example `docker stop`), then SIGKILL if the child is still there after `graceMs`.
 */
export function trackExit(child: ChildProcess, onExit: () => void, terminate?: () => void, opts: TrackOptions = {}): TrackedChild {
  let exited: TrackedChild['exited'];
  const group = opts.processGroup === true;
  const exitPromise = new Promise<void>((resolveExit) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exited) return;
      exited = { code, signal };
      // Right at the exit, before the group id can be taken again: workers the child left are ended.
      if (group && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Nothing left in the group: the usual case.
        }
      }
      onExit();
      resolveExit();
    };
    child.once('exit', done);
    child.once('error', () => done(null, null));
  });
  return {
    get exited() {
      return exited;
    },
    exitPromise,
    pid: child.pid,
    async stop(graceMs: number) {
      if (exited) return;
      if (terminate) terminate();
      else child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolveKill) => {
        timer = setTimeout(() => {
          if (!exited) kill(child, group);
          resolveKill();
        }, graceMs);
      });
      await Promise.race([exitPromise, killed]);
      clearTimeout(timer);
      await exitPromise;
    },
  };
}

/** Options of {@link runningContainer}. */
export interface RunningContainerOptions {
  /** How the container stops. @defaultValue the tracked child's own {@link TrackedChild.stop} */
  stop?: (graceMs: number) => Promise<void>;
  /** {@link RunningContainer.instanceId}. */
  instanceId?: string;
  /** Reads {@link RunningContainer.exitHint} (what the backend has seen so far) each time it is asked. */
  exitHint?: () => string | undefined;
}

/** A {@link RunningContainer} for a tracked child listening on `127.0.0.1:<spec.port>`. */
export function runningContainer(spec: ContainerSpec, tracked: TrackedChild, opts: RunningContainerOptions = {}): RunningContainer {
  const { stop = (g) => tracked.stop(g), instanceId, exitHint } = opts;
  return {
    spec,
    url: `http://127.0.0.1:${spec.port}`,
    ...(instanceId === undefined ? {} : { instanceId }),
    ...(tracked.pid === undefined ? {} : { pid: tracked.pid }),
    get exited() {
      return tracked.exited;
    },
    get exitHint() {
      return exitHint?.();
    },
    exitPromise: tracked.exitPromise,
    stop: (graceMs = 30_000) => stop(graceMs),
  };
}
