import cluster, { type Worker } from 'node:cluster';
import { ToolkitError } from '../errors/catalogue.js';
import { isSpawnFailure, spawnFailureReason } from './worker-spawn.js';

/** What happened to an early worker before its handlers were attached, in order. */
type HeldEvent = { kind: 'message'; message: unknown } | ({ kind: 'exit' } & WorkerEnd);

/**
 * How a worker process ended: its exit code or signal, or `spawnError` when it never started (the
 * system refused the process: Node then reports an error and no exit).
 */
export interface WorkerEnd {
  code: number | null;
  signal: string | null;
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Worker processes forked at the very start of `smkit serve`, before the primary has loaded its
 * logger or prepared the model's code directory: a worker needs about 0.1 s to start Node and load
 * its modules, and that now overlaps the primary's own start instead of following it. Until
 * {@link EarlyWorkers.adopt} attaches the real handler, each worker's messages (its `hello`) and its exit are
 * held, in order, so none is lost.
 */
export class EarlyWorkers {
  readonly #held = new Map<Worker, { events: HeldEvent[]; release: () => void }>();

  /**
   * Forks `count` workers of the script set with `cluster.setupPrimary`. Throws `ERR_WORKER_START`,
   * with those forked already killed, when Node throws a start failure (one it reports as an
   * `'error'` is held, see {@link EarlyWorkers.adopt}).
   */
  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = cluster.fork();
      } catch (err) {
        // The spawn errors Node throws rather than reports as an 'error' (ENOMEM, EPERM, ENOTDIR).
        this.kill();
        throw new ToolkitError('ERR_WORKER_START', `could not start a worker process: ${spawnFailureReason(err as NodeJS.ErrnoException, process.execPath)}`);
      }
      const events: HeldEvent[] = [];
      const onMessage = (message: unknown) => events.push({ kind: 'message', message });
      const onExit = (code: number | null, signal: string | null) => events.push({ kind: 'exit', code, signal });
      // Other errors (a kill that failed) change nothing here; unheard, any would end the primary.
      const onError = (err: NodeJS.ErrnoException) => {
        if (isSpawnFailure(worker)) events.push({ kind: 'exit', code: null, signal: null, spawnError: err });
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.on('error', onError);
      this.#held.set(worker, {
        events,
        release: () => {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
          worker.off('error', onError);
        },
      });
    }
  }

  /** The forked workers, in fork order. */
  get workers(): Worker[] {
    return [...this.#held.keys()];
  }

  /**
   * Attaches `onMessage` to `worker` and replays the messages it sent so far. Returns its exit when
   * it exited (or could not be started) before this call; later exits reach `cluster.on('exit')`
   * listeners as usual, and a later start failure the worker's own `'error'` listeners.
   */
  adopt(worker: Worker, onMessage: (message: unknown, handle?: unknown) => void): WorkerEnd | undefined {
    const held = this.#held.get(worker);
    if (!held) throw new Error('not an early worker');
    this.#held.delete(worker);
    held.release();
    worker.on('message', onMessage);
    let exited: WorkerEnd | undefined;
    for (const event of held.events) {
      if (event.kind === 'message') onMessage(event.message);
      else exited = { code: event.code, signal: event.signal, ...(event.spawnError ? { spawnError: event.spawnError } : {}) };
    }
    return exited;
  }

  /** Start-up failed before the workers were adopted: stop them (they hold no requests yet). */
  kill(): void {
    for (const [worker, held] of this.#held) {
      held.release();
      // A kill that fails is reported as an 'error'.
      worker.on('error', () => undefined);
      // One not started (yet) has no pid: Node 20 would signal pid 0, the whole process group.
      if (worker.process.pid !== undefined) worker.process.kill('SIGKILL');
    }
    this.#held.clear();
  }
}
