/**
 * `SIGTERM` and `SIGINT` that arrive while `smkit serve` starts, before its primary supervises the
 * workers: held, for the primary to act on once it does. With no listener Node takes the signal's
 * default action, which for PID 1 of a container (smkit in an image whose `ENTRYPOINT` runs `node`
 * itself; smkit's own images run it under tini, which is PID 1 instead) is none: the signal was
 * lost, and the server went on to start and serve until SageMaker's `SIGKILL` 30 s later (measured
 * as PID 1 of a PID namespace: a `SIGTERM` 0.1 s after the start; during a `code/package.json`
 * install, for the whole install). The install is not waited for: {@link HeldSignals.stopping} ends it.
 */
export class HeldSignals {
  #signal: NodeJS.Signals | undefined;
  readonly #stop = new AbortController();
  readonly #hold = (signal: NodeJS.Signals): void => {
    this.#signal ??= signal;
    this.#stop.abort(signal);
  };

  /** Aborted at the first signal held: for work the start waits on that can be cut short (a `code/package.json` install). */
  get stopping(): AbortSignal {
    return this.#stop.signal;
  }

  constructor() {
    process.on('SIGTERM', this.#hold);
    process.on('SIGINT', this.#hold);
  }

  /** Stops holding (call once the primary's own listeners are on); returns the first signal held, if any. */
  release(): NodeJS.Signals | undefined {
    process.off('SIGTERM', this.#hold);
    process.off('SIGINT', this.#hold);
    return this.#signal;
  }
}
