import type { InstanceLease, InstancePool } from '../endpoint/local-endpoint.js';
import { ModelNotReadyError } from '../endpoint/multi-model.js';
import type { Fleet } from './fleet.js';
import { secondsText } from '../../core/seconds-text.js';

/**
 * A serverless variant has `MaxConcurrency` requests in flight and another arrives: the service
 * throttles it (the front door answers `ThrottlingException`, HTTP 400).
 */
export class ServerlessThrottlingError extends Error {
  constructor(readonly variant: string, readonly maxConcurrency: number, detail?: string) {
    super(detail ?? `Variant ${variant} is serving its MaxConcurrency of ${maxConcurrency} concurrent invocation(s); the request was throttled. Try your call again.`);
    this.name = 'ServerlessThrottlingError';
  }
}

/**
 * A serverless cold start outlasted the invocation's time: the service answers
 * `ModelNotReadyException` (HTTP 429), "a serverless endpoint variant's resources are still being
 * provisioned ... Wait and try your request again"
 * (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html), and the
 * instance goes on starting for the retry to find.
 */
export class ServerlessNotReadyError extends ModelNotReadyError {
  constructor(variant: string, waitedMs: number) {
    super(`Variant ${variant} is serverless and the instance started for this invocation (a cold start) is still being provisioned after ${secondsText(waitedMs)} s; it goes on starting (up to 3 minutes): retry the request.`);
    this.name = 'ServerlessNotReadyError';
  }
}

/** Options of {@link ServerlessPool}. */
export interface ServerlessPoolOptions {
  /** Most requests in flight at once (`MaxConcurrency`). */
  maxConcurrency: number;
  /** Instances kept warm however idle (`ProvisionedConcurrency`, else 0). */
  provisioned: number;
  /** An instance above `provisioned` with no request for this long stops. */
  idleMs: number;
  /** Whether one more instance fits the local instance limit (`SMKIT_LOCAL_MAX_INSTANCES`). @defaultValue always */
  canStart?: () => boolean;
  /**
   * How long a request waits for a cold start (the invocation timeout) before it is answered
   * {@link ServerlessNotReadyError}, the start going on for a later request. @defaultValue no limit
   */
  readyWithinMs?: number;
  /** Receives each cold start's time from request to `/ping` passing (CloudWatch `ModelSetupTime`). */
  onColdStart?: (ms: number) => void;
}

/**
 * The instances of a serverless variant, on top of its {@link Fleet}: none run (or
 * `ProvisionedConcurrency` stay warm) until requests come. A request takes an idle instance, or
 * starts one and waits for its `/ping` (a cold start), so each instance serves one request at a
 * time, as Serverless Inference counts concurrency in invocations. Beyond `MaxConcurrency`
 * requests in flight a request is throttled. When the local instance limit leaves no room for
 * another instance, requests share the running ones (least busy first) rather than fail; with
 * none running they are throttled. Instances above `provisioned` stop after `idleMs` without a
 * request.
 */
export class ServerlessPool implements InstancePool {
  private active = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Cold starts whose request stopped waiting ({@link ServerlessNotReadyError}), oldest first, for the next requests to take. */
  private readonly unclaimed: Promise<InstanceLease>[] = [];

  private readonly opts: ServerlessPoolOptions;

  constructor(readonly fleet: Fleet, opts: ServerlessPoolOptions) {
    this.opts = { ...opts };
    this.sweeper = setInterval(() => this.fleet.retireIdle(this.opts.idleMs, this.opts.provisioned), Math.max(50, Math.min(1000, opts.idleMs / 4)));
    this.sweeper.unref();
  }

  /** Instances in rotation now. */
  get size(): number {
    return this.fleet.size;
  }

  /** Requests admitted and not yet finished (at most `MaxConcurrency`). */
  get concurrency(): number {
    return this.active;
  }

  async acquire(preferred?: string): Promise<InstanceLease> {
    if (this.active >= this.opts.maxConcurrency) throw new ServerlessThrottlingError(this.fleet.variantName, this.opts.maxConcurrency);
    this.active += 1;
    let lease: InstanceLease;
    try {
      lease = await this.instanceFor(preferred);
    } catch (err) {
      this.active -= 1;
      throw err;
    }
    let released = false;
    return {
      ...lease,
      release: () => {
        if (released) return;
        released = true;
        this.active -= 1;
        lease.release();
      },
    };
  }

  private async instanceFor(preferred: string | undefined): Promise<InstanceLease> {
    const fleet = this.fleet;
    if (fleet.idle > 0 || (preferred !== undefined && fleet.size > 0)) return fleet.acquire(preferred);
    // A cold start an earlier request stopped waiting for is this request's to wait for: not a second instance.
    const unclaimed = this.unclaimed.shift();
    if (unclaimed) return this.claim(unclaimed);
    if (this.opts.canStart?.() ?? true) {
      const started = performance.now();
      const start = fleet.addInstance();
      start.then(
        () => this.opts.onColdStart?.(performance.now() - started),
        () => {},
      );
      return this.claim(start);
    }
    if (fleet.size > 0) return fleet.acquire();
    throw new ServerlessThrottlingError(
      fleet.variantName,
      this.opts.maxConcurrency,
      `Variant ${fleet.variantName} has no instance running and the local instance limit (SMKIT_LOCAL_MAX_INSTANCES) leaves no room to start one; the request was throttled. Try your call again.`,
    );
  }

  /**
   * `start`'s instance for this request, or {@link ServerlessNotReadyError} once `readyWithinMs`
   * has passed first: the start is then left in {@link unclaimed} for the next request, and, if
   * none has claimed it by the time it is up, joins the idle instances.
   */
  private claim(start: Promise<InstanceLease>): Promise<InstanceLease> {
    const limit = this.opts.readyWithinMs;
    if (limit === undefined) return start;
    return new Promise<InstanceLease>((resolve, reject) => {
      let gaveUp = false;
      const timer = setTimeout(() => {
        gaveUp = true;
        this.unclaimed.push(start);
        const drop = (): boolean => {
          const at = this.unclaimed.indexOf(start);
          if (at >= 0) this.unclaimed.splice(at, 1);
          return at >= 0;
        };
        start.then(
          (lease) => {
            if (drop()) lease.release();
          },
          () => void drop(),
        );
        reject(new ServerlessNotReadyError(this.fleet.variantName, limit));
      }, limit);
      start.then(
        (lease) => {
          if (gaveUp) return;
          clearTimeout(timer);
          resolve(lease);
        },
        (err: unknown) => {
          if (gaveUp) return;
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /**
   * Takes a new `MaxConcurrency` and `ProvisionedConcurrency` (`UpdateEndpointWeightsAndCapacities`'
   * `ServerlessUpdateConfig`): the limit applies to the next request, and the instances missing to
   * make `provisioned` warm ones are started; instances above a lowered `provisioned` stop once idle.
   */
  async reconfigure(change: { maxConcurrency: number; provisioned: number }): Promise<void> {
    this.opts.maxConcurrency = change.maxConcurrency;
    this.opts.provisioned = change.provisioned;
    if (this.fleet.size < change.provisioned) await this.fleet.scaleTo(change.provisioned);
  }

  /** Stops the idle sweep and every instance (after their requests finish). */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.fleet.stop();
  }
}
