import type { DeploymentConfig, EndpointStatus } from '../../aws/shapes/sagemaker.js';
import type { InvokeEndpointRequest, InvokeEndpointResponse } from '../endpoint/chain.js';
import type { StreamedAnswer, StreamOptions } from '../endpoint/stream.js';
import type { RoutableEndpoint } from '../front-door/app.js';
import type { AsyncInvocationInfo, EndpointLog } from '../endpoint/local-endpoint.js';
import type { S3Objects } from '../s3/objects.js';
import type { BodyBudget } from '../../server/body-budget.js';
import {
  ASYNC_QUEUE_WAKE_MS,
  AsyncInferenceNotConfiguredError,
  AsyncInvocationQueue,
  type AsyncFailureWrites,
  DEFAULT_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE,
  startAsyncInvocation,
  type AsyncInvocationAccepted,
  type AsyncInvocationRequest,
} from './async-inference.js';
import type { Deployment } from './deployment.js';

/** An update under way: the new config, its fleet once started, and the traffic it takes. */
export interface PendingUpdate {
  configName: string;
  startTime: Date;
  deployment?: Deployment;
  /** Instances the new config asks for (counted against the instance limit). */
  instances: number;
  /**
   * The weights and instance counts of the serving variants the update keeps
   * (`RetainAllVariantProperties`), by variant name: what the new fleet's variants are given in place
   * of their config's `InitialVariantWeight` and `InitialInstanceCount`.
   */
  retained?: { readonly weights: ReadonlyMap<string, number>; readonly counts: ReadonlyMap<string, number> };
  /**
   * While a rolling update (`RollingUpdatePolicy`) runs: the instances, old and new fleet together,
   * it holds against the instance limit in place of both fleets' full sizes (the old instances not
   * yet stopped and the most the batches still to come need beside them; the old fleet's whole size
   * at least, which a rollback brings back).
   */
  rollingInstances?: number;
  /** Fraction of traffic on the new fleet (0 until the first shift). */
  greenShare: number;
  /** `VariantStatus` of the new fleet's variants: Creating, ActivatingTraffic, Baking. */
  variantStatus: 'Creating' | 'Updating' | 'ActivatingTraffic' | 'Baking' | 'Deleting';
  statusMessage: string;
  statusSince: Date;
}

/**
 * One endpoint of the local SageMaker: its record (status, config, times) and its routing. A
 * request goes to the new fleet with the update's current share, else to the serving fleet; once
 * a fleet took a request it finishes there, because fleets stop only after draining.
 */
export class ManagedEndpoint implements RoutableEndpoint {
  status: EndpointStatus = 'Creating';
  failureReason: string | undefined;
  lastModified: Date;
  /** Instances the endpoint's first config asks for, while it is being created. */
  creatingInstances = 0;
  /** The serving deployment (blue), once the endpoint first became InService. */
  serving: Deployment | undefined;
  /**
   * Real time (epoch ms) each served variant first went InService, by variant name: the minutes it
   * publishes as idle (zeros, `LocalSageMakerHandle.publishIdleMinute`) are those from then on, never
   * one before it served. Set by {@link markServing}.
   */
  readonly servingSince = new Map<string, number>();
  pending: PendingUpdate | undefined;
  lastDeploymentConfig: DeploymentConfig | undefined;
  /**
   * Variants whose weight or instance count `UpdateEndpointWeightsAndCapacities` is changing, and
   * since when; `previous`: each changed variant's instance count before the call, which a rollback
   * restores, so held against the local instance limit until the change has settled.
   */
  capacityChange: { variants: ReadonlySet<string>; since: Date; previous?: ReadonlyMap<string, number> } | undefined;
  /** Cancels the running create or update (DeleteEndpoint). */
  task: AbortController | undefined;
  /** Resolves when the running create, update or capacity change has finished. */
  running: Promise<void> = Promise.resolve();
  #asyncQueue: AsyncInvocationQueue | undefined;

  constructor(
    readonly name: string,
    readonly arn: string,
    public configName: string,
    readonly createdAt: Date,
    private readonly random: () => number,
    /**
     * Where asynchronous invocations read input and write results (`s3://`), their log, and the
     * slots, shared by the local SageMaker's endpoints, in which the failures of requests that
     * leave the queue without running are written (each queue has slots of its own without).
     */
    private readonly io?: { s3: () => S3Objects; log?: EndpointLog; failureWrites?: AsyncFailureWrites },
  ) {
    this.lastModified = createdAt;
  }

  /**
   * Records that the serving deployment's variants are in service from `now` on: a variant already
   * served keeps its time (an update that keeps its name does not restart its metrics), one new to the
   * endpoint (added by UpdateEndpoint) starts at `now`, and one no longer served is forgotten.
   */
  markServing(now = Date.now()): void {
    const names = new Set((this.serving?.variants ?? []).map((v) => v.spec.VariantName));
    for (const name of [...this.servingSince.keys()]) if (!names.has(name)) this.servingSince.delete(name);
    for (const name of names) if (!this.servingSince.has(name)) this.servingSince.set(name, now);
  }

  /** True while the endpoint can take invocations. */
  get routable(): boolean {
    return this.serving !== undefined && this.status !== 'Deleting';
  }

  private pick(targetVariant?: string, sessionId?: string): Deployment {
    const blue = this.serving;
    // Only an asynchronous request, which reads its input before it invokes, can get here after
    // DeleteEndpoint has stopped the fleet: its failure must say so.
    if (!blue) throw new Error(`Endpoint ${this.name} was deleted before this request could be sent to it.`);
    const green = this.pending?.deployment;
    if (!green || this.pending!.greenShare <= 0) return blue;
    // A stateful session's requests go to the instance that opened it (API_runtime_InvokeEndpoint,
    // SessionId), whichever fleet it belongs to: drawn by the traffic share, they reached the other
    // fleet's instances, which answered that the session was not open there.
    if (sessionId !== undefined) {
      if (green.endpoint.holdsSession(sessionId)) return green;
      if (blue.endpoint.holdsSession(sessionId)) return blue;
    }
    if (targetVariant !== undefined) {
      const inBlue = blue.variants.some((v) => v.spec.VariantName === targetVariant);
      const inGreen = green.variants.some((v) => v.spec.VariantName === targetVariant);
      if (inGreen && !inBlue) return green;
      if (inBlue && !inGreen) return blue;
    }
    return this.random() < this.pending!.greenShare ? green : blue;
  }

  invoke(req: InvokeEndpointRequest, timeoutMs?: number, maxAnswerBytes?: number, budget?: BodyBudget, asyncInvocation?: AsyncInvocationInfo): Promise<{ variant: string; response: InvokeEndpointResponse }> {
    return this.pick(req.targetVariant, req.sessionId).endpoint.invoke(req, timeoutMs, maxAnswerBytes, budget, asyncInvocation);
  }

  stream(req: InvokeEndpointRequest, opts?: StreamOptions): Promise<{ variant: string; answer: StreamedAnswer }> {
    return this.pick(req.targetVariant, req.sessionId).endpoint.stream(req, opts);
  }

  /** True while the serving endpoint config is asynchronous (has an `AsyncInferenceConfig`). */
  get asynchronous(): boolean {
    return this.serving?.config.asyncInferenceConfig !== undefined;
  }

  /**
   * The asynchronous requests waiting or running: at most `MaxConcurrentInvocationsPerInstance` per
   * production instance in service run at once (created on the first `InvokeEndpointAsync`). With
   * no instance in service (scaled to zero) they wait until the endpoint scales out again.
   */
  get asyncQueue(): AsyncInvocationQueue {
    return (this.#asyncQueue ??= new AsyncInvocationQueue(this.name, () => {
      const serving = this.serving;
      if (!serving || this.status === 'Deleting') return 0;
      // The instances of variants that get no traffic (weight 0) run none of them.
      return this.#asyncTargets().reduce((n, d) => n + this.#asyncPerInstance(d) * d.endpoint.trafficInstances, 0);
    }, Date.now, ASYNC_QUEUE_WAKE_MS, this.io?.failureWrites));
  }

  /**
   * The fleets asynchronous requests go to now: the serving one, and during an update the new one
   * once traffic has shifted to it (it alone once all of it has).
   */
  #asyncTargets(): Deployment[] {
    const blue = this.serving;
    if (!blue) return [];
    const green = this.pending?.deployment;
    const share = this.pending?.greenShare ?? 0;
    if (!green || share <= 0) return [blue];
    return share >= 1 ? [green] : [blue, green];
  }

  /** `MaxConcurrentInvocationsPerInstance` of `deployment`'s endpoint config, or the local default. */
  #asyncPerInstance(deployment: Deployment): number {
    return deployment.config.asyncInferenceConfig?.ClientConfig?.MaxConcurrentInvocationsPerInstance ?? DEFAULT_MAX_CONCURRENT_INVOCATIONS_PER_INSTANCE;
  }

  /**
   * Fails the asynchronous requests still waiting, at `DeleteEndpoint` (`deleted`) or as the local
   * SageMaker stops (`stopping`): each failure is written and notified with a message that says
   * which, so that none vanishes unseen. Running ones finish.
   */
  closeAsyncQueue(why: 'deleted' | 'stopping'): void {
    // Created if need be: one created later, by a request that comes after, would take it and never close.
    this.asyncQueue.close(
      why === 'deleted'
        ? `Endpoint ${this.name} was deleted while this request waited in its queue, so it was not run: send it again to an endpoint that is InService.`
        : `The local SageMaker stopped while this request waited in the queue of endpoint ${this.name}, so it was not run: send it again once the local SageMaker runs and the endpoint is InService.`,
    );
  }

  /**
   * Resolves once the asynchronous requests still running or ending have ended, their results and
   * failures written; after `withinMs` it gives up on them instead (their S3 reads and writes are
   * closed out) and logs how many there were.
   */
  async settleAsyncQueue(withinMs: number): Promise<void> {
    const queue = this.#asyncQueue;
    if (!queue) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<false>((resolve) => (timer = setTimeout(resolve, withinMs, false)));
    const settled = await Promise.race([queue.idle().then(() => true), waited]);
    clearTimeout(timer);
    if (settled) return;
    const seconds = +(withinMs / 1000).toFixed(3);
    const left = queue.abandon(`the local SageMaker stopped without waiting longer than ${seconds} s for this request`);
    this.io?.log?.('warn', 'asynchronous requests left unfinished at shutdown', {
      endpoint: this.name,
      requests: left,
      message: `${left} asynchronous requests of endpoint ${this.name} had not ended ${seconds} s after its instances stopped: the local SageMaker stopped without them, and their results or failures that were not written yet never will be (each 'asynchronous invocation failed' line names its failure location). Check that S3 (AWS_ENDPOINT_URL_S3) answers, or delete the endpoint and let its queue empty before stopping.`,
    });
  }

  /**
   * An asynchronous endpoint's queue as CloudWatch reports it: requests waiting or running, the
   * production instances in service, and the oldest request's wait; undefined for a real-time endpoint.
   */
  get asyncBacklog(): { backlog: number; instances: number; oldestWaitSeconds: number } | undefined {
    const serving = this.serving;
    if (!serving?.config.asyncInferenceConfig) return undefined;
    const queue = this.#asyncQueue;
    return {
      backlog: queue ? queue.waiting + queue.running : 0,
      instances: serving.instanceCount,
      oldestWaitSeconds: queue?.oldestWaitSeconds() ?? 0,
    };
  }

  /**
   * Queues an `InvokeEndpointAsync` request and says where its result will be; throws
   * {@link AsyncInferenceNotConfiguredError} unless the serving config is asynchronous,
   * `AsyncQueueFullError` when the queue is full, `AsyncQueueClosedError` once it is closed, `AsyncOutputOutsideFolderError` when
   * `S3OutputPathExtension` would leave a local output folder, `AsyncOutputNameTooLongError` when a
   * segment of it is too long for one, and `AsyncOutputKeyTooLongError` when the result's or the
   * failure's S3 key would be over 1024 bytes.
   */
  invokeAsync(req: AsyncInvocationRequest): AsyncInvocationAccepted {
    const config = this.serving?.config.asyncInferenceConfig;
    if (!config || !this.io) throw new AsyncInferenceNotConfiguredError(this.name);
    return startAsyncInvocation({ endpoint: this.name, config, queue: this.asyncQueue, s3: this.io.s3, invoke: (r, timeoutMs, maxAnswerBytes, inferenceId, budget) => {
        // To a variant with room on its instances, of the fleet drawn by traffic share, else of the
        // other one: the queue's slots count the instances of both, but a fleet or variant drawn by
        // share or weight alone could get more than MaxConcurrentInvocationsPerInstance on each.
        const drawn = this.pick();
        for (const deployment of [drawn, ...this.#asyncTargets().filter((d) => d !== drawn)]) {
          const variant = deployment.endpoint.routeWithRoom(this.#asyncPerInstance(deployment));
          if (variant !== undefined) return deployment.endpoint.invoke({ ...r, targetVariant: variant }, timeoutMs, maxAnswerBytes, budget, { inferenceId });
        }
        return drawn.endpoint.invoke(r, timeoutMs, maxAnswerBytes, budget, { inferenceId });
      }, region: this.arn.split(':')[3] ?? 'us-east-1', ...(this.io.log ? { log: this.io.log } : {}) }, req);
  }
}
