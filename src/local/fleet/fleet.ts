import type { RunningContainer } from '../backends/backend.js';
import type { ChainContainer } from '../endpoint/chain.js';
import type { InstanceLease, InstancePool } from '../endpoint/local-endpoint.js';

/** One started instance of a variant: its containers (one, or a serial pipeline) and their chain. */
export interface FleetInstance {
  /** `<endpoint>/<config>/<variant>/i<n>`, for logs and messages. */
  readonly id: string;
  readonly containers: readonly RunningContainer[];
  readonly chain: ChainContainer[];
}

/** Starts one instance of a variant and resolves once every container of it passes `/ping`. */
export type InstanceLauncher = (index: number) => Promise<FleetInstance>;

interface Member {
  instance: FleetInstance;
  inFlight: number;
  drained?: () => void;
}

/** Options of {@link Fleet}. */
export interface FleetOptions {
  /** Grace for each container's SIGTERM drain when an instance stops. @defaultValue 30 000 ms */
  stopGraceMs?: number;
}

/**
 * The instances of one variant of one deployment: lends the least busy instance per invocation
 * (round robin among equals), grows by starting instances that join only after passing `/ping`,
 * and shrinks by taking instances out of rotation first and stopping them only once their
 * in-flight requests have finished, so no request fails because capacity changed.
 */
export class Fleet implements InstancePool {
  private readonly serving: Member[] = [];
  private readonly leaving = new Set<Member>();
  private next = 0;
  private launched = 0;
  private readonly stopGraceMs: number;

  constructor(
    readonly variantName: string,
    private readonly launch: InstanceLauncher,
    opts: FleetOptions = {},
  ) {
    this.stopGraceMs = opts.stopGraceMs ?? 30_000;
  }

  /** Instances in rotation now. */
  get size(): number {
    return this.serving.length;
  }

  /** The first instance's chain (for the variant's shape: how many containers it has). */
  get firstChain(): ChainContainer[] {
    return this.serving[0]?.instance.chain ?? [];
  }

  /** Every container of every instance, in rotation or draining. */
  get containers(): RunningContainer[] {
    return [...this.serving, ...this.leaving].flatMap((m) => [...m.instance.containers]);
  }

  /** Requests in flight on this fleet (in rotation or draining). */
  get inFlight(): number {
    let n = 0;
    for (const m of [...this.serving, ...this.leaving]) n += m.inFlight;
    return n;
  }

  acquire(): InstanceLease {
    if (this.serving.length === 0) throw new Error(`variant ${this.variantName} has no instance in service`);
    let best: Member | undefined;
    for (let i = 0; i < this.serving.length; i++) {
      const m = this.serving[(this.next + i) % this.serving.length]!;
      if (!best || m.inFlight < best.inFlight) best = m;
    }
    this.next = (this.next + 1) % this.serving.length;
    const member = best!;
    member.inFlight += 1;
    let released = false;
    return {
      containers: member.instance.chain,
      release: () => {
        if (released) return;
        released = true;
        member.inFlight -= 1;
        if (member.inFlight === 0) member.drained?.();
      },
    };
  }

  /**
   * Starts or stops instances until `count` are in rotation. New instances start in parallel and
   * join as each passes `/ping`; if any fails, the ones started by this call are stopped and the
   * error is thrown. Removed instances leave rotation at once and stop after draining.
   */
  async scaleTo(count: number): Promise<void> {
    if (count > this.serving.length) {
      const indexes = Array.from({ length: count - this.serving.length }, () => this.launched++);
      const results = await Promise.allSettled(indexes.map((i) => this.launch(i)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      const started = results.filter((r): r is PromiseFulfilledResult<FleetInstance> => r.status === 'fulfilled').map((r) => r.value);
      if (failed) {
        await Promise.all(started.map((inst) => this.stopInstance(inst)));
        throw failed.reason;
      }
      for (const instance of started) this.serving.push({ instance, inFlight: 0 });
      return;
    }
    const leaving = this.serving.splice(count);
    this.next = 0;
    await Promise.all(leaving.map((m) => this.retire(m)));
  }

  /** Takes every instance out of rotation, waits for in-flight requests, and stops them. */
  async stop(): Promise<void> {
    await this.scaleTo(0);
  }

  private async retire(member: Member): Promise<void> {
    this.leaving.add(member);
    if (member.inFlight > 0) await new Promise<void>((done) => (member.drained = done));
    await this.stopInstance(member.instance);
    this.leaving.delete(member);
  }

  private async stopInstance(instance: FleetInstance): Promise<void> {
    await Promise.all(instance.containers.map((c) => c.stop(this.stopGraceMs).catch(() => {})));
  }
}
