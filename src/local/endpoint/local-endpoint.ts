import type { CaptureWriter } from '../capture/writer.js';
import type { BodyBudget } from '../../server/body-budget.js';
import type { InvocationMetricsSink } from '../control-plane/invocation-metrics.js';
import { NEW_SESSION } from '../../core/sagemaker-headers.js';
import { ContainerFailure, invokeChain, type ChainContainer, type InvokeEndpointRequest, type InvokeEndpointResponse } from './chain.js';
import { compareAnswers } from './compare.js';
import { ModelNotReadyError, TargetModelError } from './multi-model.js';
import { pickWeighted } from './random.js';
import { prefixKey, type PrefixAwareRouting, type PrefixChoice } from './prefix-routing.js';
import { AnswerOverBudgetError, MAX_REALTIME_ANSWER_BYTES } from './read-answer.js';
import { openStream, PipelineStreamingError, type StreamedAnswer, type StreamOptions } from './stream.js';

/** One instance's container chain, lent for one invocation; `release` when the answer is complete. */
export interface InstanceLease {
  /** The instance's id, when the variant has several (stateful sessions stick to it). */
  instance?: string;
  containers: ChainContainer[];
  release(): void;
}

/** The instances of a variant (a fleet): lends one instance per invocation and counts what is in flight. */
export interface InstancePool {
  /** Instances serving now. */
  readonly size: number;
  /** Requests in flight on its instances, when it counts them (a fleet does). */
  readonly inFlight?: number;
  /**
   * Lends an instance: `preferred` (an instance id) when it still serves, else, with a `prefix`,
   * the instance that owns its key while it has fewer than `prefix.threshold` requests in flight,
   * else the least busy, of those equally busy one whose chain `holds` (the invocation's
   * multi-model `TargetModel` is loaded there); a serverless variant's may first start one.
   */
  acquire(preferred?: string, holds?: (chain: readonly ChainContainer[]) => boolean, prefix?: PrefixChoice): InstanceLease | Promise<InstanceLease>;
}

/** Where a stateful session lives: its variant and instance. */
interface SessionPlace {
  variant: string;
  instance: string | undefined;
  /** From the container's `Expires=`; the entry is dropped after it. */
  expiresAt: number;
}

/** A remembered session in the heap of expiries: stale once the map holds another place for `id` (or none). */
interface SessionExpiry {
  id: string;
  place: SessionPlace;
}

function heapPush(heap: SessionExpiry[], entry: SessionExpiry): void {
  let i = heap.push(entry) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.place.expiresAt <= entry.place.expiresAt) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = entry;
}

function heapPop(heap: SessionExpiry[]): void {
  const last = heap.pop()!;
  if (heap.length > 0) siftDown(heap, 0, last);
}

function siftDown(heap: SessionExpiry[], from: number, entry: SessionExpiry): void {
  let i = from;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && heap[child + 1]!.place.expiresAt < heap[child]!.place.expiresAt) child++;
    if (heap[child]!.place.expiresAt >= entry.place.expiresAt) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = entry;
}

function heapify(entries: SessionExpiry[]): SessionExpiry[] {
  for (let i = (entries.length >> 1) - 1; i >= 0; i--) siftDown(entries, i, entries[i]!);
  return entries;
}

/**
 * Most stateful sessions an endpoint remembers. Beyond it the expired ones are forgotten first; only
 * when every one is still open is the oldest forgotten (its later requests then go where the
 * endpoint routes any request, and another instance answers that it does not hold the session).
 */
const MAX_SESSIONS = 100_000;

/** A production or shadow variant as the front door routes to it. */
export interface VariantRuntime {
  name: string;
  weight: number;
  /** One container, or a serial inference pipeline in order (the only instance, when `instances` is unset). */
  containers: ChainContainer[];
  /** Several instances of the variant: each invocation goes to the one `acquire` lends. */
  instances?: InstancePool;
  /** `InferenceExecutionConfig.Mode` `Direct`: each invocation runs the one container its `TargetContainerHostname` names. */
  direct?: boolean;
  /**
   * The most a request body and each container's answer may hold, below the real-time 6 MB (a
   * serverless variant's 4 MB): a larger request is refused with {@link OversizeBodyError} before
   * an instance is taken, a larger answer fails as any answer over its limit does. @defaultValue the real-time limits
   */
  maxPayloadBytes?: number;
  /** `RoutingStrategy` `PREFIX_AWARE`: requests sharing a body prefix (and `PrefixAwareId`) go to one instance while it has room. */
  prefixAware?: PrefixAwareRouting;
  /** A serverless variant (`ServerlessConfig`): its invocations are measured without `InvocationsPerInstance`. */
  serverless?: boolean;
}

/**
 * The containers one invocation runs: the whole chain, or the one a Direct-mode request names.
 * `TargetModel` is refused unless a container is multi-model, as the service refuses it
 * ("Endpoint … is not a multi-model endpoint and does not support target model header.",
 * https://github.com/aws/amazon-sagemaker-examples/issues/1026): it is never passed on to a single model.
 */
function containersFor(endpoint: string, variant: VariantRuntime, chain: ChainContainer[], req: InvokeEndpointRequest): ChainContainer[] {
  if (req.targetModel !== undefined && !chain.some((c) => c.multiModel)) {
    throw new TargetModelError(`Endpoint ${endpoint} is not a multi-model endpoint and does not support target model header.`);
  }
  const host = req.targetContainerHostname;
  if (!variant.direct) {
    if (host !== undefined) throw new TargetContainerError(`TargetContainerHostname applies only to a model whose InferenceExecutionConfig Mode is Direct; variant ${variant.name} runs its containers as a serial pipeline.`);
    return chain;
  }
  const hosts = chain.map((c) => c.hostname);
  if (host === undefined) throw new TargetContainerError(`Variant ${variant.name} invokes its containers directly (InferenceExecutionConfig Mode Direct): send TargetContainerHostname, one of ${hosts.join(', ')}.`);
  const found = chain.find((c) => c.hostname === host);
  if (!found) throw new TargetContainerError(`TargetContainerHostname ${host} is not a container of variant ${variant.name}; its containers are ${hosts.join(', ')}.`);
  return [found];
}

/**
 * An instance of `variant` for `req`. A multi-model invocation goes to an instance where its
 * `TargetModel` is loaded, unless another is less busy: the service "continues to route requests for
 * a model to the instance where the model is already loaded" and, for a model with many requests,
 * "routes some requests to another instance" (https://docs.aws.amazon.com/sagemaker/latest/dg/how-multi-mode-endpoints-work.html).
 */
function lease(variant: VariantRuntime, req: InvokeEndpointRequest, preferred?: string): InstanceLease | Promise<InstanceLease> {
  const target = req.targetModel;
  const holds = target === undefined ? undefined : (chain: readonly ChainContainer[]) => chain.some((c) => c.multiModel?.loads.has(target));
  const routing = variant.prefixAware;
  const prefix = routing && variant.instances ? { key: () => prefixKey(req.body, routing.prefixLength, req.prefixAwareId), threshold: routing.concurrencyThreshold } : undefined;
  return variant.instances?.acquire(preferred, holds, prefix) ?? { containers: variant.containers, release: () => {} };
}

/**
 * The session id and expiry in a `NewSessionId` (`<id>; Expires=2026-12-02T03:01:00Z`); an id alone
 * (an engine's session, as AWS's model hosting container standards announce it) has no known
 * expiry: it is routed until it is closed or forgotten for newer ones.
 */
function parseNewSession(value: string): { id: string; expiresAt: number } | undefined {
  const alone = /^\s*([^;\s]+)\s*$/.exec(value);
  if (alone) return { id: alone[1]!, expiresAt: Infinity };
  const m = /^\s*([^;\s]+)\s*;\s*Expires=(\S+)\s*$/i.exec(value);
  if (!m) return undefined;
  const expiresAt = Date.parse(m[2]!);
  return { id: m[1]!, expiresAt: Number.isFinite(expiresAt) ? expiresAt : Date.now() + 3_600_000 };
}

/** How CloudWatch counts a failed invocation: by the model's status, else as a server error. */
function outcomeOf(err: unknown): 'ok' | '4xx' | '5xx' {
  // The model answered; the front door had no memory to hold the answer (no model error to count).
  if (err instanceof AnswerOverBudgetError) return 'ok';
  if (err instanceof ContainerFailure) return err.kind === 'status' && err.status! < 500 ? '4xx' : '5xx';
  if (err instanceof TargetModelError || err instanceof TargetContainerError || err instanceof ModelNotReadyError) return '4xx';
  return '5xx';
}

/** Running totals of shadow-variant comparisons. */
export interface ShadowStats {
  /** Requests copied to the shadow variant. */
  requests: number;
  /** Requests where both answers arrived and were compared. */
  compared: number;
  /** Compared answers that differed. */
  differing: number;
  /** Requests where the shadow failed (or production failed, so nothing was compared). */
  shadowErrors: number;
  /** Largest absolute difference seen between numeric answers. */
  maxAbsDiff?: number;
}

/** Where an endpoint reports shadow comparisons and capture problems (JSON-lines friendly). */
export type EndpointLog = (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;

/** The caller asked for a `TargetVariant` the endpoint does not have. */
export class UnknownVariantError extends Error {
  constructor(readonly endpoint: string, readonly variant: string, readonly known: readonly string[]) {
    super(`The variant ${variant} does not exist for endpoint ${endpoint}; its production variants are: ${known.join(', ')}.`);
    this.name = 'UnknownVariantError';
  }
}

/**
 * `TargetContainerHostname` does not fit the variant: missing for a Direct-mode pipeline, naming
 * no container of it, or given for a variant that is not Direct.
 */
export class TargetContainerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetContainerError';
  }
}

/** What {@link LocalEndpoint.invoke} knows of an `InvokeEndpointAsync` request. */
export interface AsyncInvocationInfo {
  /** `InferenceId`: the caller's, or the one generated for the request (and returned to the caller). */
  inferenceId: string;
}

/** The request body is larger than its variant takes ({@link VariantRuntime.maxPayloadBytes}: a serverless variant's 4 MB). */
export class OversizeBodyError extends Error {
  constructor(readonly variant: string, readonly bytes: number, readonly maxBytes: number) {
    super(`Variant ${variant} is serverless: a serverless invocation takes at most ${maxBytes} bytes (4 MB), and this request has ${bytes}. Send a smaller payload, or use an instance-based endpoint (6 MB) or an asynchronous one (1 GB from S3).`);
    this.name = 'OversizeBodyError';
  }
}

/** Refuses a request body over its variant's limit. */
function checkBodySize(variant: VariantRuntime, req: InvokeEndpointRequest): void {
  if (variant.maxPayloadBytes !== undefined && req.body.length > variant.maxPayloadBytes) throw new OversizeBodyError(variant.name, req.body.length, variant.maxPayloadBytes);
}

/** Options of {@link LocalEndpoint}. */
export interface LocalEndpointOptions {
  shadow?: VariantRuntime;
  capture?: CaptureWriter;
  /** Source of randomness for weighted routing. @defaultValue Math.random */
  random?: () => number;
  /** Most stateful sessions remembered (see {@link MAX_SESSIONS}; smaller in tests). @defaultValue 100 000 */
  maxSessions?: number;
  /** Per-container invocation timeout. @defaultValue 60 000 ms */
  timeoutMs?: number;
  log?: EndpointLog;
  /** Receives one record per production-variant invocation (CloudWatch's AWS/SageMaker metrics). */
  metrics?: InvocationMetricsSink;
}

/**
 * One local endpoint: routes each invocation to a production variant (by `TargetVariant`, else by
 * weight), runs its container chain, copies the request to the shadow variant and compares the
 * answers, and writes data-capture records.
 */
export class LocalEndpoint {
  readonly shadow: VariantRuntime | undefined;
  readonly capture: CaptureWriter | undefined;
  readonly shadowStats: ShadowStats = { requests: 0, compared: 0, differing: 0, shadowErrors: 0 };
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly log: EndpointLog;
  private readonly metrics: InvocationMetricsSink | undefined;
  private readonly pending = new Set<Promise<void>>();
  /** Open stateful sessions by id: where the container that opened each holds it. */
  private readonly sessions = new Map<string, SessionPlace>();
  private readonly maxSessions: number;
  /**
   * The remembered sessions that expire, earliest first (a binary min-heap): a full map finds its
   * expired ones at the top, each taken once, rather than reading the whole map. An entry whose
   * place the map no longer holds (closed, dropped, opened again) is stale, skipped when met.
   */
  private expiries: SessionExpiry[] = [];

  constructor(readonly name: string, readonly variants: readonly VariantRuntime[], opts: LocalEndpointOptions = {}) {
    this.shadow = opts.shadow;
    this.capture = opts.capture;
    this.random = opts.random ?? Math.random;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.log = opts.log ?? (() => {});
    this.metrics = opts.metrics;
    this.maxSessions = opts.maxSessions ?? MAX_SESSIONS;
  }

  /** Picks the production variant: the named one, else one at random by weight among those with instances in service. */
  route(targetVariant?: string): VariantRuntime {
    if (targetVariant !== undefined) {
      const found = this.variants.find((v) => v.name === targetVariant);
      if (!found) throw new UnknownVariantError(this.name, targetVariant, this.variants.map((v) => v.name));
      return found;
    }
    // A variant scaled to zero instances (an asynchronous endpoint's) takes no share while another has instances.
    const withInstances = this.variants.map((v) => (v.instances?.size === 0 ? 0 : v.weight));
    return this.variants[pickWeighted(withInstances.some((w) => w > 0) ? withInstances : this.variants.map((v) => v.weight), this.random)]!;
  }

  /**
   * The production variants an asynchronous request may go to: those that take traffic (weight
   * above 0, instances in service), as {@link route} picks them; all of them when none does (route
   * then falls back on the weights alone).
   */
  #trafficVariants(): readonly VariantRuntime[] {
    const taking = this.variants.filter((v) => v.weight > 0 && (v.instances?.size ?? 1) > 0);
    return taking.length > 0 ? taking : this.variants;
  }

  /**
   * Instances in service of the production variants that take traffic: with
   * `MaxConcurrentInvocationsPerInstance` each, what an asynchronous endpoint runs at once. A
   * variant of weight 0 gets no request, so its instances add no room.
   */
  get trafficInstances(): number {
    return this.#trafficVariants().reduce((n, v) => n + (v.instances?.size ?? 1), 0);
  }

  /**
   * A production variant for an asynchronous request, at random by weight among those that take
   * traffic and whose instances have fewer than `perInstance` requests in flight in all
   * (`MaxConcurrentInvocationsPerInstance`: the least busy instance, which the fleet lends, has room
   * then); undefined when none has room ({@link route} picks then).
   */
  routeWithRoom(perInstance: number): string | undefined {
    const room = this.#trafficVariants().filter((v) => v.instances === undefined || v.instances.inFlight === undefined || v.instances.inFlight < perInstance * v.instances.size);
    if (room.length === 0) return undefined;
    return room[pickWeighted(room.map((v) => v.weight), this.random)]!.name;
  }

  /**
   * Invokes the endpoint. Resolves with the answering variant's name and response; rejects with a
   * `ContainerFailure` (from the chain), {@link UnknownVariantError} or {@link OversizeBodyError}. `timeoutMs` (each
   * container's limit) replaces the endpoint's for this invocation (asynchronous invocations may run 15 minutes);
   * `maxAnswerBytes`, the most each container may answer, is the real-time response limit unless given
   * (never more than the variant's `maxPayloadBytes`).
   * With a `budget` (the front door's `SMKIT_LOCAL_BODY_MEMORY_MB`), the containers' answers, the
   * shadow variant's included, take from it as they arrive (an answer that does not fit rejects with
   * `AnswerOverBudgetError`, a shadow's fails only the shadow copy); the caller gives back the
   * resolved `response.body.length` bytes once it is done with the body. With `asyncInvocation`
   * (an `InvokeEndpointAsync` request, which fails an answer without `Content-Length`), such an
   * answer is not data-captured, as failed invocations are not, and the capture record carries the
   * invocation's `InferenceId`, the caller's or the one generated for it.
   */
  async invoke(req: InvokeEndpointRequest, timeoutMs = this.timeoutMs, maxAnswerBytes = MAX_REALTIME_ANSWER_BYTES, budget?: BodyBudget, asyncInvocation?: AsyncInvocationInfo): Promise<{ variant: string; response: InvokeEndpointResponse }> {
    const place = this.sessionPlace(req.sessionId);
    const variant = place ? this.route(place.variant) : this.route(req.targetVariant);
    checkBodySize(variant, req);
    if (variant.maxPayloadBytes !== undefined) maxAnswerBytes = Math.min(maxAnswerBytes, variant.maxPayloadBytes);
    const at = new Date();
    const started = performance.now();
    // A serverless cold start counts in OverheadLatency, as CloudWatch reports it for serverless endpoints.
    const instance = await lease(variant, req, place?.instance);
    // Not among an asynchronous endpoint's metrics (async-inference-monitor.html), whose queue, not its instances, holds the load.
    if (!asyncInvocation) this.measureConcurrency(variant);
    const sampled = this.capture?.sample() ?? false;
    const shadowRun = this.shadow ? this.startShadow(this.shadow, req, at, sampled, budget) : undefined;
    let response: InvokeEndpointResponse;
    let modelMs = 0;
    try {
      const modelStart = performance.now();
      response = await invokeChain(containersFor(this.name, variant, instance.containers, req), req, { timeoutMs, maxAnswerBytes, ...(budget ? { budget } : {}) });
      modelMs = performance.now() - modelStart;
    } catch (err) {
      instance.release();
      shadowRun?.resolveProduction(undefined);
      this.measure(variant, at, outcomeOf(err), performance.now() - started, undefined, asyncInvocation !== undefined, err instanceof ContainerFailure);
      throw err;
    }
    instance.release();
    this.noteSessions(response, variant.name, instance.instance);
    shadowRun?.resolveProduction(response);
    if (sampled && !(asyncInvocation && response.unsizedBy !== undefined)) this.record(variant.name, req, response, at, asyncInvocation?.inferenceId ?? req.inferenceId);
    this.measure(variant, at, 'ok', performance.now() - started, modelMs, asyncInvocation !== undefined);
    return { variant: variant.name, response };
  }

  /**
   * Opens a streamed invocation (`InvokeEndpointWithResponseStream`) on one single-container
   * variant; the instance counts as busy until the stream has been read to its end (or its reader
   * stopped). `opts.timeoutMs` defaults to the endpoint's invocation timeout; `opts.signal` aborted
   * (the caller went away) stops the container's answer.
   */
  async stream(req: InvokeEndpointRequest, opts: StreamOptions = {}): Promise<{ variant: string; answer: StreamedAnswer }> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const place = this.sessionPlace(req.sessionId);
    const variant = place ? this.route(place.variant) : this.route(req.targetVariant);
    // A serverless variant with no instance running yet has no chain to look at (and is never a pipeline).
    if (variant.containers.length > 1 && !variant.direct) throw new PipelineStreamingError(variant.name, variant.containers.length);
    checkBodySize(variant, req);
    const at = new Date();
    const started = performance.now();
    const instance = await lease(variant, req, place?.instance);
    this.measureConcurrency(variant);
    let answer: StreamedAnswer;
    try {
      answer = await openStream(containersFor(this.name, variant, instance.containers, req)[0]!, req, timeoutMs, opts.signal);
    } catch (err) {
      instance.release();
      // A caller that went away before the model answered got no error from it: Invocation5XXErrors
      // counts the requests "where the model returned a 5xx", and alarms (auto-rollback, scaling) watch it.
      this.measure(variant, at, opts.signal?.aborted && err === opts.signal.reason ? 'ok' : outcomeOf(err), performance.now() - started, undefined, false, err instanceof ContainerFailure);
      throw err;
    }
    this.measure(variant, at, 'ok', performance.now() - started, performance.now() - started);
    // A session the container opened (a body {"requestType": "NEW_SESSION"}) sticks to this instance,
    // and one it closed is forgotten, as after InvokeEndpoint: its id no longer routes.
    this.noteSessions(answer, variant.name, instance.instance);
    const chunks = answer.chunks;
    const released = (async function* () {
      try {
        yield* chunks;
      } finally {
        instance.release();
      }
    })();
    return { variant: variant.name, answer: { ...answer, chunks: released } };
  }

  /** Whether a container of this endpoint opened stateful session `id`, and it has neither expired nor been closed. */
  holdsSession(id: string | undefined): boolean {
    return this.sessionPlace(id) !== undefined;
  }

  /** Where the session `id` lives, when this endpoint saw a container open it (and it has not expired). */
  private sessionPlace(id: string | undefined): SessionPlace | undefined {
    if (id === undefined || id === NEW_SESSION) return undefined;
    const place = this.sessions.get(id);
    if (place && place.expiresAt <= Date.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return place && this.variants.some((v) => v.name === place.variant) ? place : undefined;
  }

  /** Remembers a session the container opened (and where), forgets one it closed. */
  private noteSessions(response: { newSessionId?: string; closedSessionId?: string }, variant: string, instance: string | undefined): void {
    const opened = response.newSessionId === undefined ? undefined : parseNewSession(response.newSessionId);
    if (opened) {
      if (this.sessions.size >= this.maxSessions && !this.sessions.has(opened.id)) this.makeRoomForSession();
      const place: SessionPlace = { variant, instance, expiresAt: opened.expiresAt };
      this.sessions.set(opened.id, place);
      if (Number.isFinite(place.expiresAt)) {
        // Stale entries (sessions closed or dropped on use) are cleared once they are half the heap:
        // each rebuild reads as many entries as were added since the last, O(1) a session amortised.
        if (this.expiries.length >= 2 * this.sessions.size + 64) this.expiries = heapify(this.expiries.filter((e) => this.sessions.get(e.id) === e.place));
        heapPush(this.expiries, { id: opened.id, place });
      }
    }
    if (response.closedSessionId !== undefined) this.sessions.delete(response.closedSessionId);
  }

  /**
   * Frees a place in the full session map: the expired sessions go (they were only dropped when
   * used, so a full map mostly held sessions nobody would use again while the oldest open one, still
   * in use, was forgotten and its requests went to an instance that did not hold it); when none has
   * expired, the oldest open one. The expired ones are the top of {@link expiries}, each taken
   * once: a full map is never read whole (sessions expiring one by one as new ones open would
   * otherwise have it read on every open).
   */
  private makeRoomForSession(): void {
    const now = Date.now();
    const heap = this.expiries;
    while (heap.length > 0) {
      const top = heap[0]!;
      const current = this.sessions.get(top.id) === top.place;
      if (current && top.place.expiresAt > now) break;
      heapPop(heap);
      if (current) this.sessions.delete(top.id);
    }
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
  }

  /**
   * Once a request has an instance (a throttled one never reaches a model, so it is not counted):
   * the requests in flight on the variant's instances, this one included, per instance.
   */
  private measureConcurrency(variant: VariantRuntime): void {
    const pool = variant.instances;
    if (!this.metrics?.recordConcurrency || pool?.inFlight === undefined || pool.size === 0) return;
    this.metrics.recordConcurrency({ endpoint: this.name, variant: variant.name }, pool.inFlight / pool.size, Date.now());
  }

  /** `modelError`: the failure was a container's (its answer, or none), for `InvocationModelErrors`. */
  private measure(variant: VariantRuntime, at: Date, outcome: 'ok' | '4xx' | '5xx', totalMs: number, modelMs?: number, asynchronous = false, modelError = false): void {
    if (!this.metrics) return;
    this.metrics.record({
      ...(asynchronous ? { asynchronous } : {}),
      endpoint: this.name,
      variant: variant.name,
      at: at.getTime(),
      outcome,
      ...(modelError ? { modelError } : {}),
      ...(modelMs === undefined ? {} : { modelLatencyMicros: Math.round(modelMs * 1000), overheadLatencyMicros: Math.max(0, Math.round((totalMs - modelMs) * 1000)) }),
      instanceCount: variant.instances?.size ?? 1,
      ...(variant.serverless ? { serverless: true } : {}),
    });
  }

  /** Resolves when shadow requests and capture writes started so far have finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await this.capture?.flush();
  }

  private record(variant: string, req: InvokeEndpointRequest, response: InvokeEndpointResponse, at: Date, inferenceId: string | undefined): void {
    this.capture?.capture(variant, {
      at,
      input: { body: req.body, contentType: req.contentType },
      output: { body: response.body, contentType: response.contentType },
      inferenceId,
      customAttributes: req.customAttributes,
    });
  }

  private startShadow(shadow: VariantRuntime, req: InvokeEndpointRequest, at: Date, sampled: boolean, budget: BodyBudget | undefined): { resolveProduction(r: InvokeEndpointResponse | undefined): void } {
    this.shadowStats.requests += 1;
    let resolveProduction!: (r: InvokeEndpointResponse | undefined) => void;
    const production = new Promise<InvokeEndpointResponse | undefined>((r) => (resolveProduction = r));
    // The shadow never sees the caller's TargetVariant: it gets a copy of production traffic.
    const shadowReq: InvokeEndpointRequest = { ...req, targetVariant: undefined };
    let shadowInstance: InstanceLease;
    try {
      const got = lease(shadow, shadowReq);
      // Shadow variants run instances of their own (a serverless variant has no shadow).
      if (got instanceof Promise) throw new Error(`shadow variant ${shadow.name} cannot start instances on demand`);
      shadowInstance = got;
    } catch (err) {
      // A shadow with no instance in service (they died and are being replaced) skips this copy; production goes on.
      this.shadowStats.shadowErrors += 1;
      this.log('warn', 'shadow variant failed', { endpoint: this.name, shadow: shadow.name, error: (err as Error).message, ...this.statsFields() });
      return { resolveProduction: () => {} };
    }
    const task = (async () => {
      const [prod, shadowResult] = await Promise.all([
        production,
        invokeChain(shadowInstance.containers, shadowReq, { timeoutMs: this.timeoutMs, ...(budget ? { budget } : {}) }).then(
          (r) => ({ ok: true as const, r }),
          (err: Error) => ({ ok: false as const, err }),
        ).finally(() => shadowInstance.release()),
      ]);
      if (!shadowResult.ok) {
        this.shadowStats.shadowErrors += 1;
        this.log('warn', 'shadow variant failed', { endpoint: this.name, shadow: shadow.name, error: shadowResult.err.message, ...this.statsFields() });
        return;
      }
      // The shadow's answer held its bytes of the budget until production's arrived; nothing below awaits.
      budget?.give(shadowResult.r.body.length);
      if (sampled) this.record(shadow.name, req, shadowResult.r, at, req.inferenceId);
      if (!prod) {
        this.shadowStats.shadowErrors += 1;
        return;
      }
      const cmp = compareAnswers(prod, shadowResult.r);
      this.shadowStats.compared += 1;
      if (!cmp.same) this.shadowStats.differing += 1;
      if (cmp.maxAbsDiff !== undefined) this.shadowStats.maxAbsDiff = Math.max(this.shadowStats.maxAbsDiff ?? 0, cmp.maxAbsDiff);
      this.log('info', cmp.same ? 'shadow answer matches' : 'shadow answer differs', {
        endpoint: this.name,
        shadow: shadow.name,
        same: cmp.same,
        ...(cmp.maxAbsDiff === undefined ? {} : { maxAbsDiff: cmp.maxAbsDiff }),
        ...this.statsFields(),
      });
    })();
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
    return { resolveProduction };
  }

  private statsFields(): Record<string, unknown> {
    const s = this.shadowStats;
    return { shadowRequests: s.requests, compared: s.compared, differing: s.differing, shadowErrors: s.shadowErrors, ...(s.maxAbsDiff === undefined ? {} : { maxAbsDiffSeen: s.maxAbsDiff }) };
  }
}
