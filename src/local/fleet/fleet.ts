import { ToolkitError } from '../../errors/catalogue.js';
import { RestartBackoff, type BackoffPolicy } from '../../core/restart-backoff.js';
import type { RunningContainer } from '../backends/backend.js';
import type { ChainContainer } from '../endpoint/chain.js';
import { stopModelLoads } from '../endpoint/multi-model.js';
import type { EndpointLog, InstanceLease, InstancePool } from '../endpoint/local-endpoint.js';
import { ownerOf, type PrefixChoice } from '../endpoint/prefix-routing.js';

/** One started instance of a variant: its containers (one, or a serial pipeline) and their chain. */
export interface FleetInstance {
  /** `<endpoint>/<config>/<variant>/i<n>`, for logs and messages. */
  readonly id: string;
  readonly containers: readonly RunningContainer[];
  readonly chain: ChainContainer[];
  /** Removes what the instance keeps on disk (its `/opt/ml` trees, its extracted model); called once its containers have stopped. */
  readonly dispose?: () => Promise<void>;
}

/**
 * Starts one instance of a variant and resolves once every container of it passes `/ping`.
 * `index` numbers the instance (its id and folders); `signal` stops a start that is no longer
 * wanted (the fleet is being stopped or shrunk), and the launcher then stops what it started.
 */
export type InstanceLauncher = (index: number, signal?: AbortSignal) => Promise<FleetInstance>;

interface Member {
  instance: FleetInstance;
  /** The place in the fleet this instance fills: a replacement takes over its predecessor's slot (and its backoff). */
  slot: number;
  inFlight: number;
  drained?: () => void;
  /** Health checks failed in a row. */
  failedChecks: number;
  /** A health check of this instance is under way (checks never overlap). */
  checking: boolean;
  /** When the instance last had no request in flight (joined, or finished its last request). */
  idleSince: number;
}

/** A replacement for a dead instance: waiting out its backoff or starting. */
interface Replacement {
  slot: number;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * How replacements of dead instances are spaced: the first after 1 s, then 2 s, 4 s … up to 60 s
 * while replacements keep dying (or fail to start) within a minute of starting; an instance that
 * served a minute or more before dying is replaced after 1 s again.
 */
export const INSTANCE_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 1_000, maxMs: 60_000, healthyMs: 60_000 });

/** Periodic health checks of the instances in rotation, as SageMaker pings its instances. */
export interface HealthCheck {
  /** Resolves true when every container of the instance answers `/ping` 200 in time. */
  probe(instance: FleetInstance): Promise<boolean>;
  /** Time between checks of an instance. */
  intervalMs: number;
  /** Failed checks in a row after which the instance is replaced. @defaultValue 3 */
  unhealthyAfter?: number;
}

/** Least SIGTERM grace of an instance whose requests outlasted their share of a fleet's stop grace. */
const MIN_STOP_GRACE_MS = 1_000;

/** SIGTERM grace of an instance that failed its health checks: it may well be hung. */
const UNHEALTHY_STOP_GRACE_MS = 5_000;

/** Options of {@link Fleet}. */
export interface FleetOptions {
  /** Grace for each container's SIGTERM drain when an instance stops. @defaultValue 30 000 ms */
  stopGraceMs?: number;
  /** Spacing of replacements for dead instances. @defaultValue {@link INSTANCE_BACKOFF} */
  backoff?: BackoffPolicy;
  /** Receives a line when an instance dies, when its replacement starts, fails or joins. */
  log?: EndpointLog;
  /** Checks the instances in rotation periodically; one that fails `unhealthyAfter` checks in a row is stopped and replaced. @defaultValue no checks */
  health?: HealthCheck;
  /**
   * Most invocations one instance has in flight (`SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE`): past
   * it {@link Fleet.acquire} throws `ERR_INSTANCES_BUSY` instead of lending an instance. @defaultValue unbounded
   */
  maxInFlightPerInstance?: number;
}

/**
 * `ERR_INSTANCES_BUSY`: `which` (`Each of the 2 instance(s) of variant A already has`) `max`
 * invocations in flight, which the front door answers as 400 `ThrottlingException`.
 */
export function instancesBusyError(which: string, max: number): ToolkitError {
  return new ToolkitError(
    'ERR_INSTANCES_BUSY',
    `${which} ${max} invocations in flight (SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE); the request was throttled. Try your call again with backoff, add instances, or raise SMKIT_LOCAL_MAX_INVOCATIONS_PER_INSTANCE.`,
  );
}

/** Resolves true after `ms`, or false at once when `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((done) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      done(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      done(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The instances of one variant of one deployment: lends the least busy instance per invocation
 * (round robin among equals), grows by starting instances that join only after passing `/ping`,
 * and shrinks by taking instances out of rotation first and stopping them only once their
 * in-flight requests have finished, so no request fails because capacity changed.
 *
 * An instance whose container exits on its own (a crash, an OOM kill, `docker kill`), or that
 * fails its periodic health checks (`health`), leaves rotation at once and a replacement starts
 * the same way, after a backoff that grows while replacements keep dying; it joins once its
 * `/ping` answers 200. Stopping or shrinking the fleet cancels replacements that are no longer
 * wanted and stops whatever they started.
 */
export class Fleet implements InstancePool {
  private readonly serving: Member[] = [];
  private readonly leaving = new Set<Member>();
  private readonly replacing = new Set<Replacement>();
  /** Stops of dead instances' remaining containers (a pipeline's other containers). */
  private readonly cleanups = new Set<Promise<void>>();
  private next = 0;
  /** Instances {@link Fleet.addInstance} is starting. */
  private adding = 0;
  private launched = 0;
  private slots = 0;
  private closed = false;
  /** Set by {@link Fleet.stop}: the drains of retiring instances end with the stop grace. */
  private boundedDrain = false;
  /** Aborted by {@link Fleet.stop}: cuts short the starts of {@link Fleet.scaleTo} and {@link Fleet.addInstance}. */
  private readonly closing = new AbortController();
  /** Those starts, until what they started has joined or stopped: stop() waits for them. */
  private readonly starts = new Set<Promise<void>>();
  private readonly stopGraceMs: number;
  private readonly backoff: RestartBackoff;
  private readonly log: EndpointLog;
  private readonly health: HealthCheck | undefined;
  private readonly maxInFlight: number;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly variantName: string,
    private readonly launch: InstanceLauncher,
    opts: FleetOptions = {},
  ) {
    this.stopGraceMs = opts.stopGraceMs ?? 30_000;
    this.backoff = new RestartBackoff(opts.backoff ?? INSTANCE_BACKOFF);
    this.log = opts.log ?? (() => {});
    this.health = opts.health;
    this.maxInFlight = opts.maxInFlightPerInstance ?? Infinity;
    if (this.health) {
      this.healthTimer = setInterval(() => this.checkHealth(), this.health.intervalMs);
      this.healthTimer.unref();
    }
  }

  /** Instances in rotation now. */
  get size(): number {
    return this.serving.length;
  }

  /** Instances {@link Fleet.addInstance} is starting now. */
  get starting(): number {
    return this.adding;
  }

  /** Instances in rotation with no request in flight. */
  get idle(): number {
    return this.serving.filter((m) => m.inFlight === 0).length;
  }

  /** Replacements of dead instances waiting out their backoff or starting. */
  get replacements(): number {
    return this.replacing.size;
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

  /**
   * Lends the least busy instance in rotation (of those equally busy, one whose chain `holds`);
   * with a `prefix` (a `PREFIX_AWARE` variant), the instance that owns the request's prefix key
   * unless it already has the variant's `ConcurrencyThreshold` requests in flight (or
   * `maxInFlightPerInstance`), in which case the least busy one (the owner is taken whatever
   * `holds` says of it). With none (every instance died and replacements
   * are starting, or the fleet is stopped) it throws `ERR_NO_INSTANCE_IN_SERVICE`, which the
   * front door answers as the service does when it has no capacity: 503 `ServiceUnavailable`.
   * When the instance it would lend already has `maxInFlightPerInstance` requests in flight (so
   * every instance has, or the one holding the session has), it throws `ERR_INSTANCES_BUSY`, which
   * the front door answers as the service throttles: 400 `ThrottlingException`. Nothing is queued:
   * as on SageMaker, a request goes to its container at once or is refused at once.
   */
  acquire(preferred?: string, holds?: (chain: readonly ChainContainer[]) => boolean, prefix?: PrefixChoice): InstanceLease {
    if (this.serving.length === 0) {
      const starting = this.replacing.size > 0 ? `; ${this.replacing.size} replacement instance${this.replacing.size === 1 ? ' is' : 's are'} starting` : '';
      throw new ToolkitError('ERR_NO_INSTANCE_IN_SERVICE', `Variant ${this.variantName} has no healthy instance in service${starting}. Try your call again.`);
    }
    // A stateful session goes back to the instance that holds it, while that instance serves.
    let best: Member | undefined = preferred === undefined ? undefined : this.serving.find((m) => m.instance.id === preferred);
    if (!best && prefix) {
      const owner = ownerOf(prefix.key(), this.serving, (m) => m.slot);
      // Below this machine's per-instance cap too: an owner at the cap would throttle the request
      // while other instances have room.
      if (owner.inFlight < Math.min(prefix.threshold, this.maxInFlight)) best = owner;
    }
    if (!best) {
      for (let i = 0; i < this.serving.length; i++) {
        const m = this.serving[(this.next + i) % this.serving.length]!;
        if (!best || m.inFlight < best.inFlight || (m.inFlight === best.inFlight && holds?.(m.instance.chain) === true && !holds(best.instance.chain))) best = m;
      }
      this.next = (this.next + 1) % this.serving.length;
    }
    const member = best!;
    if (member.inFlight >= this.maxInFlight) {
      const which = member.instance.id === preferred ? `Instance ${member.instance.id}, which holds the request's session, already has` : `Each of the ${this.serving.length} instance(s) of variant ${this.variantName} already has`;
      throw instancesBusyError(which, this.maxInFlight);
    }
    member.inFlight += 1;
    let released = false;
    return {
      instance: member.instance.id,
      containers: member.instance.chain,
      release: () => {
        if (released) return;
        released = true;
        member.inFlight -= 1;
        if (member.inFlight === 0) {
          member.idleSince = Date.now();
          member.drained?.();
        }
      },
    };
  }

  /**
   * Starts or stops instances until `count` are in rotation. Replacements of dead instances count
   * toward `count` (those beyond it are cancelled). New instances start in parallel and join as
   * each passes `/ping`; if any fails, the ones started by this call are stopped and the error is
   * thrown. Removed instances leave rotation at once and stop after draining.
   */
  async scaleTo(count: number): Promise<void> {
    const stopped = (): Error => new Error(`variant ${this.variantName}: the fleet is stopped and cannot grow`);
    if (this.closed && count > 0) throw stopped();
    const excess = Math.min(this.replacing.size, this.serving.length + this.replacing.size - count);
    if (excess > 0) await this.cancelReplacements(excess);
    const wanted = count - this.serving.length - this.replacing.size;
    if (wanted > 0) {
      const indexes = Array.from({ length: wanted }, () => this.launched++);
      const started = await this.whileOpen(async (signal) => {
        const results = await Promise.allSettled(indexes.map((i) => this.launch(i, signal)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        const up = results.filter((r): r is PromiseFulfilledResult<FleetInstance> => r.status === 'fulfilled').map((r) => r.value);
        if (failed || this.closed) {
          await Promise.all(up.map((inst) => this.stopInstance(inst)));
          if (this.closed) throw stopped();
          throw failed!.reason;
        }
        return up;
      });
      for (const instance of started) this.join(instance, this.slots++);
      return;
    }
    if (count >= this.serving.length) return;
    const leaving = this.serving.splice(count);
    this.next = 0;
    await Promise.all(leaving.map((m) => this.retire(m)));
  }

  /**
   * Starts one more instance, puts it in rotation once it passes `/ping` and lends it to the
   * caller in the same step, so no other request takes it first (a serverless variant's cold
   * start); concurrent calls start one instance each. Throws when it does not start, and
   * `ERR_NO_INSTANCE_IN_SERVICE` (503) when the fleet is stopping.
   */
  async addInstance(): Promise<InstanceLease> {
    const stopped = (): ToolkitError => new ToolkitError('ERR_NO_INSTANCE_IN_SERVICE', `Variant ${this.variantName} is stopping (its endpoint is being updated or deleted). Try your call again.`);
    if (this.closed) throw stopped();
    this.adding += 1;
    try {
      const instance = await this.whileOpen(async (signal) => {
        let launched: FleetInstance;
        try {
          launched = await this.launch(this.launched++, signal);
        } catch (err) {
          throw this.closed ? stopped() : err;
        }
        if (this.closed) {
          await this.stopInstance(launched);
          throw stopped();
        }
        return launched;
      });
      this.join(instance, this.slots++);
      return this.acquire(instance.id);
    } finally {
      this.adding -= 1;
    }
  }

  /**
   * Stops the instances that have had no request in flight for `idleMs` or more, keeping at
   * least `keep` in rotation; returns how many left rotation.
   */
  retireIdle(idleMs: number, keep: number): number {
    const now = Date.now();
    let retired = 0;
    for (const m of [...this.serving]) {
      if (this.serving.length <= keep) break;
      if (m.inFlight > 0 || now - m.idleSince < idleMs) continue;
      this.serving.splice(this.serving.indexOf(m), 1);
      this.next = 0;
      retired += 1;
      // One of the cleanups, so stop() waits until it has stopped.
      void this.retire(m);
    }
    return retired;
  }

  /**
   * Takes every instance out of rotation, waits for in-flight requests (those of instances a
   * scale-in is draining too) up to the stop grace — for as long as they run with
   * `waitForRequests` (an update retiring its old fleet: no invocation fails because of it) — and
   * stops them; cancels replacements (stopping what they started). The fleet cannot grow again afterwards.
   */
  async stop(opts: { waitForRequests?: boolean } = {}): Promise<void> {
    this.boundedDrain = opts.waitForRequests !== true;
    this.closed = true;
    this.closing.abort();
    clearInterval(this.healthTimer);
    await this.scaleTo(0);
    // A start under way (a serverless cold start, a scale-out) stops what it started once cut short.
    while (this.cleanups.size > 0 || this.starts.size > 0) await Promise.all([...this.cleanups, ...this.starts]);
  }

  /**
   * Runs `start` (which launches with `signal` and stops what it launched when the fleet has
   * closed meanwhile) as one of the starts {@link Fleet.stop} cuts short and waits for.
   */
  private whileOpen<T>(start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const run = start(this.closing.signal);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.starts.add(settled);
    void settled.then(() => this.starts.delete(settled));
    return run;
  }

  /** Puts an instance in rotation and watches its containers for an exit of their own. */
  private join(instance: FleetInstance, slot: number): void {
    const member: Member = { instance, slot, inFlight: 0, failedChecks: 0, checking: false, idleSince: Date.now() };
    this.serving.push(member);
    this.backoff.started(slot);
    for (const container of instance.containers) void container.exitPromise.then(() => this.lost(member, container));
  }

  /** A container of `member` exited: out of rotation at once, the rest of the instance stopped, a replacement on its way. */
  private lost(member: Member, container: RunningContainer): void {
    const exit = container.exited;
    this.evict(member, 'instance died; out of rotation, replacing it', this.stopGraceMs, {
      container: container.spec.hostname,
      exit: exit?.signal ? `signal ${exit.signal}` : `code ${exit?.code ?? 'unknown'}`,
      log: container.spec.logFile,
    });
  }

  /** Checks every instance in rotation that is not being checked already. */
  private checkHealth(): void {
    const health = this.health!;
    for (const member of this.serving) {
      if (member.checking) continue;
      member.checking = true;
      void health
        .probe(member.instance)
        .catch(() => false)
        .then((healthy) => {
          member.checking = false;
          member.failedChecks = healthy ? 0 : member.failedChecks + 1;
          if (member.failedChecks < (health.unhealthyAfter ?? 3)) return;
          this.evict(member, 'instance failed its health checks; out of rotation, replacing it', Math.min(this.stopGraceMs, UNHEALTHY_STOP_GRACE_MS), {
            failedChecks: member.failedChecks,
            log: member.instance.containers.map((c) => c.spec.logFile).join(', '),
          });
        });
    }
  }

  /** Takes `member` out of rotation at once, stops what is left of it, and starts its replacement. */
  private evict(member: Member, msg: string, graceMs: number, fields: Record<string, unknown>): void {
    const at = this.serving.indexOf(member);
    // Retiring instances exit because they were stopped; an instance already evicted is handled.
    if (at < 0) return;
    this.serving.splice(at, 1);
    this.next = 0;
    this.log('warn', msg, { variant: this.variantName, instance: member.instance.id, ...fields, inService: this.serving.length });
    const cleanup = this.stopInstance(member.instance, graceMs).finally(() => this.cleanups.delete(cleanup));
    this.cleanups.add(cleanup);
    if (!this.closed) this.replace(member.slot, member.instance.id);
  }

  private replace(slot: number, predecessor: string): void {
    const replacement: Replacement = { slot, abort: new AbortController(), done: Promise.resolve() };
    this.replacing.add(replacement);
    replacement.done = this.runReplacement(replacement, predecessor).finally(() => this.replacing.delete(replacement));
  }

  private async runReplacement(replacement: Replacement, predecessor: string): Promise<void> {
    const { slot } = replacement;
    const signal = replacement.abort.signal;
    let delay = this.backoff.delayAfterCrash(slot);
    for (;;) {
      if (!(await pause(delay, signal))) return;
      const index = this.launched++;
      this.backoff.started(slot);
      this.log('info', 'starting a replacement instance', { variant: this.variantName, replaces: predecessor, index });
      try {
        const instance = await this.launch(index, signal);
        if (signal.aborted) {
          await this.stopInstance(instance);
          return;
        }
        // Leaves `replacing` and joins `serving` in one step, so scaleTo never counts it twice.
        this.replacing.delete(replacement);
        this.join(instance, slot);
        this.log('info', 'replacement instance in service', { variant: this.variantName, instance: instance.id, replaces: predecessor, inService: this.serving.length });
        return;
      } catch (err) {
        if (signal.aborted) return;
        delay = this.backoff.delayAfterCrash(slot);
        this.log('warn', 'replacement instance did not start; trying again', { variant: this.variantName, replaces: predecessor, error: (err as Error).message, retryInMs: delay });
      }
    }
  }

  /** Cancels the `n` most recent replacements and waits until whatever they started is stopped. */
  private async cancelReplacements(n: number): Promise<void> {
    const cancelled = [...this.replacing].slice(-n);
    for (const r of cancelled) {
      this.replacing.delete(r);
      r.abort.abort();
    }
    await Promise.all(cancelled.map((r) => r.done));
  }

  /** Takes `member` (out of rotation) through its drain and stop, as one of the cleanups {@link Fleet.stop} waits for. */
  private retire(member: Member): Promise<void> {
    this.leaving.add(member);
    const cleanup = (async () => {
      const graceMs = member.inFlight > 0 ? await this.drain(member) : this.stopGraceMs;
      await this.stopInstance(member.instance, graceMs);
      this.leaving.delete(member);
    })().finally(() => this.cleanups.delete(cleanup));
    this.cleanups.add(cleanup);
    return cleanup;
  }

  /**
   * Waits for `member`'s requests in flight to finish, and answers the SIGTERM grace its containers
   * have left. A scale-in waits for them however long they run; once the fleet stops (server
   * shutdown, DeleteEndpoint) they have {@link stopGraceMs} in all, drain and SIGTERM together, as
   * an asynchronous invocation may run for an hour (InvocationTimeoutSeconds): past it the instance
   * stops under them, they fail, and their leases' later release changes nothing.
   */
  private drain(member: Member): Promise<number> {
    return new Promise<number>((resolve) => {
      const signal = this.closing.signal;
      let stoppingSince: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      const onStop = (): void => {
        stoppingSince = Date.now();
        timer = setTimeout(done, this.stopGraceMs);
      };
      const done = (): void => {
        if (member.drained !== done) return;
        member.drained = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const left = stoppingSince === undefined ? this.stopGraceMs : this.stopGraceMs - (Date.now() - stoppingSince);
        resolve(Math.max(Math.min(MIN_STOP_GRACE_MS, this.stopGraceMs), left));
      };
      const onAbort = (): void => {
        if (this.boundedDrain) onStop();
      };
      member.drained = done;
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops the instance's containers and cuts short its multi-model loads, which would otherwise go on writing after the stop. */
  private async stopInstance(instance: FleetInstance, graceMs = this.stopGraceMs): Promise<void> {
    await Promise.all([
      ...instance.containers.map((c) => c.stop(graceMs).catch(() => {})),
      ...instance.chain.flatMap((c) => (c.multiModel ? [stopModelLoads(c.multiModel)] : [])),
    ]);
    // A container that did not stop may still read its tree: that one is left where it is.
    if (instance.containers.every((c) => c.exited !== undefined)) await instance.dispose?.();
  }
}
