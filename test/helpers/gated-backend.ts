import type { ContainerSpec, RunningContainer } from '../../src/local/backends/backend.js';
import { FakeBackend } from './fake-backend.js';

/** A FakeBackend whose containers start only once the test opens the gate: a copy held starting, without a timer. */
export class GatedBackend extends FakeBackend {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  /** Containers asked for, held or not. */
  asked = 0;

  /** Holds the containers asked for from now on until {@link open}. Closing a closed gate keeps it: a new one would strand the starts already held. */
  close(): void {
    this.#gate ??= new Promise<void>((r) => (this.#open = r));
  }

  /** Starts the containers held, and those asked for from now on at once. */
  open(): void {
    this.#open?.();
    this.#open = undefined;
    this.#gate = undefined;
  }

  override async start(spec: ContainerSpec): Promise<RunningContainer> {
    this.asked++;
    await this.#gate;
    return super.start(spec);
  }
}
