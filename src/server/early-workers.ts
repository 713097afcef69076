import cluster, { type Worker } from 'node:cluster';

/** What happened to an early worker before its handlers were attached, in order. */
type HeldEvent = { kind: 'message'; message: unknown } | { kind: 'exit'; code: number | null; signal: string | null };

/**
 * Worker processes forked at the very start of `smkit serve`, before the primary has loaded its
 * logger or prepared the model's code directory: a worker needs about 0.1 s to start Node and load
 * its modules, and that now overlaps the primary's own start instead of following it. Until
 * {@link EarlyWorkers.adopt} attaches the real handler, each worker's messages (its `hello`) and its exit are
 * held, in order, so none is lost.
 */
export class EarlyWorkers {
  readonly #held = new Map<Worker, { events: HeldEvent[]; release: () => void }>();

  /** Forks `count` workers of the script set with `cluster.setupPrimary`. */
  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = cluster.fork();
      const events: HeldEvent[] = [];
      const onMessage = (message: unknown) => events.push({ kind: 'message', message });
      const onExit = (code: number | null, signal: string | null) => events.push({ kind: 'exit', code, signal });
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      this.#held.set(worker, {
        events,
        release: () => {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
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
   * it exited before this call; later exits reach `cluster.on('exit')` listeners as usual.
   */
  adopt(worker: Worker, onMessage: (message: unknown, handle?: unknown) => void): { code: number | null; signal: string | null } | undefined {
    const held = this.#held.get(worker);
    if (!held) throw new Error('not an early worker');
    this.#held.delete(worker);
    held.release();
    worker.on('message', onMessage);
    let exited: { code: number | null; signal: string | null } | undefined;
    for (const event of held.events) {
      if (event.kind === 'message') onMessage(event.message);
      else exited = { code: event.code, signal: event.signal };
    }
    return exited;
  }

  /** Start-up failed before the workers were adopted: stop them (they hold no requests yet). */
  kill(): void {
    for (const [worker, held] of this.#held) {
      held.release();
      worker.process.kill('SIGKILL');
    }
    this.#held.clear();
  }
}
