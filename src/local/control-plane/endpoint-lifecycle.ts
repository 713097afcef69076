import type { DeploymentConfig, ProductionVariant, ProductionVariantServerlessConfig } from '../../aws/shapes/sagemaker.js';
import { AwsServiceError, type AwsService, validationException as validation } from '../../aws/service.js';
import { firstAlarmFiring } from './rollback-alarms.js';
import { configInstances, DeploymentError, failureReason, initialInstances, startDeployment, type Deployment, type DeploymentContext, type VariantState } from './deployment.js';
import { isServerless } from './serverless/serverless-config.js';
import { checkDeploymentConfig, checkOnePolicy, planTraffic, type TrafficPlan } from './deployment/traffic-plan.js';
import { epochSeconds, listPage, type ListInput } from './listing.js';
import { checkLocalLimit } from './local-limit.js';
import { ManagedEndpoint, type PendingUpdate } from './managed-endpoint.js';
import { ASYNC_SHUTDOWN_WAIT_MS, AsyncFailureWrites } from './async-inference.js';
import type { ControlPlaneStore, EndpointConfigRecord } from './store.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** Options of {@link EndpointLifecycle}. */
export interface LifecycleOptions {
  /** The CloudWatch service asked for alarm states during bake intervals (auto-rollback). */
  alarms?: () => AwsService | undefined;
  /** Application Auto Scaling: deleting an endpoint deregisters the scalable targets on its variants. */
  autoscaling?: () => AwsService | undefined;
  /** Called once an `UpdateEndpoint` swapped endpoint `name` onto its new fleet (its inference components' copies take its routing and are placed again). */
  onUpdated?: (name: string) => void;
  /**
   * Called once an `UpdateEndpointWeightsAndCapacities` change of endpoint `name` has settled (done
   * or rolled back): the copies of its inference components waiting for room are placed on the
   * instances it now has, and ManagedInstanceScaling releases those they do not need. `settled`
   * gives each production variant's instance count then (`DesiredInstanceCount`), and the
   * endpoint's `FailureReason` when the change was rolled back.
   */
  onCapacityChanged?: (name: string, settled: { readonly counts: ReadonlyMap<string, number>; readonly failureReason?: string }) => void;
  /** How often alarms are read while baking. @defaultValue 1000 ms */
  alarmPollMs?: number;
  /** How long shutdown waits for asynchronous results and failures to be written, once the fleets stopped. @defaultValue {@link ASYNC_SHUTDOWN_WAIT_MS} */
  asyncShutdownWaitMs?: number;
  /** Routing between the old and the new fleet during an update. @defaultValue Math.random */
  random?: () => number;
  /**
   * The clock an update's bakes, `TerminationWaitInSeconds` and `MaximumExecutionTimeoutInSeconds`
   * are counted on (tests move it instead of waiting); it is read every `alarmPollMs`. @defaultValue Date.now
   */
  now?: () => number;
}


/**
 * A serverless variant's `DescribeEndpoint` capacity is its `CurrentServerlessConfig` and
 * `DesiredServerlessConfig` (and no instance counts); an instance-based variant's its counts.
 */
function capacity(spec: ProductionVariant, current: number, desired: number, serverless?: VariantState['serverlessConfig']): Output {
  if (serverless) return { CurrentServerlessConfig: { ...serverless.current }, DesiredServerlessConfig: { ...serverless.desired } };
  if (spec.ServerlessConfig) return { CurrentServerlessConfig: spec.ServerlessConfig, DesiredServerlessConfig: spec.ServerlessConfig };
  return { CurrentInstanceCount: current, DesiredInstanceCount: desired };
}

/**
 * What `UpdateEndpoint` refuses around serverless variants: moving an instance-based endpoint to
 * a serverless configuration (not supported, says serverless-endpoints-update.html; the other way
 * is allowed), and a rolling deployment, which excludes serverless endpoints
 * (deployment-guardrails-exclusions.html).
 */
function checkServerlessUpdate(arn: string, from: readonly ProductionVariant[], to: readonly ProductionVariant[], configName: string, deploymentConfig: DeploymentConfig | undefined): void {
  const toServerless = isServerless(to);
  if (toServerless && !isServerless(from)) {
    throw validation(`Cannot update endpoint "${arn}" to serverless endpoint configuration "${configName}": updating an instance-based endpoint to a serverless one is not supported. Create a new endpoint for it.`);
  }
  if ((toServerless || isServerless(from)) && deploymentConfig?.RollingUpdatePolicy !== undefined) {
    throw validation(`A rolling deployment (RollingUpdatePolicy) is not supported for serverless endpoints; use a BlueGreenUpdatePolicy or no DeploymentConfig.`);
  }
}

/**
 * Refuses a rolling deployment of an endpoint with several production variants, before or after
 * the update: rolling deployments exclude "multi-variant inference endpoints"
 * (deployment-guardrails-exclusions.html).
 */
function checkRollingVariants(arn: string, from: readonly ProductionVariant[], to: EndpointConfigRecord, deploymentConfig: DeploymentConfig | undefined): void {
  if (deploymentConfig?.RollingUpdatePolicy === undefined) return;
  const [variants, where] = to.productionVariants.length > 1 ? [to.productionVariants, `endpoint configuration "${to.name}"`] : [from, `endpoint "${arn}"`];
  if (variants.length <= 1) return;
  throw validation(
    `A rolling deployment (RollingUpdatePolicy) is not supported for endpoints with more than one production variant, and ${where} has ${variants.length} (${variants.map((v) => v.VariantName).join(', ')}). Use a BlueGreenUpdatePolicy or no DeploymentConfig.`,
  );
}

/**
 * Throws when an update with a blue/green or rolling update policy changes the production variants'
 * names: "When doing a blue/green or rolling deployment, your new endpoint configuration must have
 * the same variant name as the old endpoint configuration" (deployment-guardrails-exclusions.html).
 * A multi-variant endpoint keeps the same set of names, in any order. An update without an update
 * policy (all at once) may rename them. The service's message is not published: this one is smkit's.
 */
function checkVariantNamesKept(arn: string, from: readonly ProductionVariant[], to: EndpointConfigRecord, deploymentConfig: DeploymentConfig | undefined): void {
  const policy = deploymentConfig?.RollingUpdatePolicy !== undefined ? 'RollingUpdatePolicy' : deploymentConfig?.BlueGreenUpdatePolicy !== undefined ? 'BlueGreenUpdatePolicy' : undefined;
  if (policy === undefined) return;
  const names = (variants: readonly ProductionVariant[]) => variants.map((v) => v.VariantName).sort();
  const [before, after] = [names(from), names(to.productionVariants)];
  if (before.length === after.length && before.every((n, i) => n === after[i])) return;
  throw validation(
    `A blue/green or rolling deployment (DeploymentConfig with a ${policy}) needs the new endpoint configuration to have the same variant names as the old one: endpoint configuration "${to.name}" has [${after.join(', ')}], endpoint "${arn}" has [${before.join(', ')}]. Keep the variant names, or update without an update policy (all at once).`,
  );
}

/** `VariantStatus` message of a variant whose weight or capacity is changing. */
function capacityChangeMessage(v: VariantState): string {
  const desired = v.serverlessConfig?.desired;
  if (desired) return `Changing to weight ${v.desiredWeight}, MaxConcurrency ${desired.MaxConcurrency} and ProvisionedConcurrency ${desired.ProvisionedConcurrency ?? 0}.`;
  return `Changing to weight ${v.desiredWeight} and ${v.desiredInstanceCount} instance(s).`;
}

/** `DesiredWeightAndCapacity.ServerlessUpdateConfig`. */
interface ServerlessUpdate {
  MaxConcurrency?: number;
  ProvisionedConcurrency?: number;
}

/**
 * The `ServerlessConfig` a variant has once `ServerlessUpdateConfig` is applied: the members it
 * names replace the variant's. Throws when the variant is not serverless, the update names
 * nothing, or `ProvisionedConcurrency` would exceed `MaxConcurrency` (the rule `CreateEndpointConfig` applies).
 */
function serverlessAfterUpdate(v: VariantState, update: ServerlessUpdate): ProductionVariantServerlessConfig {
  const name = v.spec.VariantName;
  if (!v.serverlessConfig) {
    throw validation(`Variant "${name}" is not serverless: ServerlessUpdateConfig changes a serverless variant's concurrency. Change an instance-based variant's capacity with DesiredInstanceCount.`);
  }
  if (update.MaxConcurrency === undefined && update.ProvisionedConcurrency === undefined) {
    throw validation(`ServerlessUpdateConfig of variant "${name}" changes nothing: specify MaxConcurrency, ProvisionedConcurrency or both.`);
  }
  const next: ProductionVariantServerlessConfig = {
    ...v.serverlessConfig.desired,
    ...(update.MaxConcurrency === undefined ? {} : { MaxConcurrency: update.MaxConcurrency }),
    ...(update.ProvisionedConcurrency === undefined ? {} : { ProvisionedConcurrency: update.ProvisionedConcurrency }),
  };
  if (next.ProvisionedConcurrency !== undefined && next.ProvisionedConcurrency > next.MaxConcurrency) {
    throw validation(`ProvisionedConcurrency (${next.ProvisionedConcurrency}) of variant "${name}" must be less than or equal to MaxConcurrency (${next.MaxConcurrency}).`);
  }
  return next;
}

/** `fraction` of `n` instances, rounded up to whole ones: at least one, at most `n`. */
function share(n: number, fraction: number): number {
  return Math.min(n, Math.max(1, Math.ceil(n * fraction - 1e-9)));
}

/**
 * A rolling update's instance counts by production variant: `full`, those the new fleet grows to
 * (`retained` ones, else the config's), and `start`, its first batch.
 */
function rollingCounts(config: EndpointConfigRecord, retained: ReadonlyMap<string, number>, plan: TrafficPlan): { full: Map<string, number>; start: Map<string, number> } {
  const full = new Map(config.productionVariants.map((v) => [v.VariantName, retained.get(v.VariantName) ?? v.InitialInstanceCount ?? 1] as const));
  return { full, start: new Map([...full].map(([name, n]) => [name, share(n, plan.steps[0]!.greenShare)] as const)) };
}

/**
 * What a rolling update holds against the local limit while each step's batch runs: step i's
 * entry is the old instances left after step i-1 (before the first, the whole old fleet,
 * `blueTotal`) and the new fleet's batches up to step i, shadow fleets counted whole.
 */
function rollingHolds(blue: Deployment, blueTotal: number, config: EndpointConfigRecord, full: ReadonlyMap<string, number>, plan: TrafficPlan): number[] {
  const blueShadow = blue.shadow ? Math.max(blue.shadow.desiredInstanceCount, blue.shadow.fleet.size) : 0;
  return plan.steps.map((step, i) => {
    const blueLeft = i === 0 ? blueTotal : blue.variants.reduce((n, v) => n + share(v.fleet.size, 1 - plan.steps[i - 1]!.greenShare), blueShadow);
    return blueLeft + configInstances(config, new Map([...full].map(([name, n]) => [name, share(n, step.greenShare)] as const)));
  });
}

/** The update was rolled back; `reason` becomes the endpoint's `FailureReason`. */
class RollbackError extends Error {}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal.aborted) return fail(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      done();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      fail(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The endpoint life cycle, in one place: `CreateEndpoint` (Creating → InService | Failed),
 * `UpdateEndpoint` (Updating: the new fleet starts beside the old one, traffic shifts by the
 * deployment config's steps while the named alarms are watched; → InService on the new config,
 * or, rolled back while still Updating, InService on the old one with a `FailureReason`),
 * `UpdateEndpointWeightsAndCapacities` (weights at
 * once, instances started or drained and stopped) and `DeleteEndpoint` (Deleting → gone).
 */
/**
 * What a variant's summary in `DescribeEndpoint` repeats from its endpoint config: its
 * `ManagedInstanceScaling` and `RoutingConfig`, as given (`ProductionVariantSummary` and
 * `PendingProductionVariantSummary`,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantSummary.html).
 */
function configuredBehaviour(v: ProductionVariant): Output {
  return {
    ...(v.ManagedInstanceScaling === undefined ? {} : { ManagedInstanceScaling: v.ManagedInstanceScaling }),
    ...(v.RoutingConfig === undefined ? {} : { RoutingConfig: v.RoutingConfig }),
  };
}

export class EndpointLifecycle {
  private readonly alarmPollMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** Deleted endpoints whose asynchronous queues are still writing failures: shutdown waits for them too. */
  private readonly emptying = new Set<ManagedEndpoint>();
  /**
   * The failure writes of requests that leave an endpoint's queue without running, bounded over every
   * endpoint: the ones it creates and those adopted from an endpoint file.
   */
  readonly failureWrites = new AsyncFailureWrites();
  /** Set by {@link stopAll}: the fleets it stops are those of the endpoints there then, so no endpoint may start instances after. */
  private stopping = false;

  constructor(
    private readonly store: ControlPlaneStore<ManagedEndpoint>,
    private readonly ctx: DeploymentContext,
    private readonly opts: LifecycleOptions = {},
  ) {
    this.alarmPollMs = opts.alarmPollMs ?? 1000;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    // Serverless variants start instances on demand, within the same local instance limit.
    ctx.canStartInstance ??= () => ctx.maxInstances === undefined || this.utilisation() < ctx.maxInstances;
  }

  /** The endpoint serving `name` now, for the runtime front door. */
  routable(name: string): ManagedEndpoint | undefined {
    const e = this.store.endpoints.get(name);
    return e?.routable ? e : undefined;
  }

  private endpoint(name: string): ManagedEndpoint {
    const e = this.store.endpoints.get(name);
    if (!e) throw validation(`Could not find endpoint "${this.store.arn('endpoint', name)}".`);
    return e;
  }

  private config(name: string): EndpointConfigRecord {
    const c = this.store.endpointConfigs.get(name);
    if (!c) throw validation(`Could not find endpoint configuration "${this.store.arn('endpoint-config', name)}".`);
    return c;
  }

  private say(line: string): void {
    this.ctx.progress?.(`smkit local: ${line}`);
  }

  /** Instances all endpoints run or are starting now, blue and green fleets counted (a rolling update: what it holds). */
  private utilisation(): number {
    let n = 0;
    for (const e of this.store.endpoints.values()) n += this.held(e);
    return n;
  }

  /** Instances endpoint `e` runs or is starting now, for the local limit. */
  private held(e: ManagedEndpoint): number {
    if (e.pending?.rollingInstances !== undefined) return e.pending.rollingInstances;
    const serving = e.serving ? e.serving.desiredInstances + this.heldForRollback(e) : e.status === 'Creating' ? e.creatingInstances : 0;
    return serving + (e.pending ? e.pending.instances : 0);
  }

  /**
   * While an `UpdateEndpointWeightsAndCapacities` change runs, the instances a rollback would start
   * again: a variant scaled in gives its room back only once the change has settled, or another
   * endpoint could take it and the rollback would pass the local limit.
   */
  private heldForRollback(e: ManagedEndpoint): number {
    const previous = e.capacityChange?.previous;
    if (!previous || !e.serving) return 0;
    let n = 0;
    for (const v of e.serving.variants) {
      const before = previous.get(v.spec.VariantName);
      if (before !== undefined) n += Math.max(0, before - Math.max(v.desiredInstanceCount, v.fleet.size + v.fleet.starting));
    }
    return n;
  }

  /** Throws `ResourceLimitExceeded` when `delta` more instances would pass the local limit. */
  private checkLimit(delta: number): void {
    checkLocalLimit({ name: 'local instances for endpoint usage', unit: 'Instances', max: this.ctx.maxInstances }, delta, () => this.utilisation());
  }

  /** `ServiceUnavailable` once the local SageMaker is stopping: instances started then would outlive it. */
  private checkStopping(operation: string): void {
    if (this.stopping) {
      throw new AwsServiceError('ServiceUnavailable', `The local SageMaker is stopping and starts no more endpoint instances: send ${operation} again once smkit local has been started again.`, 503);
    }
  }

  create(input: Input): Output {
    this.checkStopping('CreateEndpoint');
    const name = String(input.EndpointName);
    const arn = this.store.arn('endpoint', name);
    if (this.store.taken('endpoint', name)) throw validation(`Cannot create already existing endpoint "${arn}".`);
    const config = this.config(String(input.EndpointConfigName));
    for (const v of [...config.productionVariants, ...(config.shadowProductionVariants ?? [])]) {
      // A variant without ModelName hosts inference components (CreateEndpointConfig checked it).
      if (v.ModelName !== undefined && !this.store.models.has(v.ModelName)) throw validation(`Could not find model "${this.store.arn('model', v.ModelName)}".`);
    }
    this.checkLimit(configInstances(config));
    const endpoint = new ManagedEndpoint(name, arn, config.name, new Date(), this.random, { s3: this.ctx.s3, failureWrites: this.failureWrites, ...(this.ctx.log ? { log: this.ctx.log } : {}) });
    endpoint.creatingInstances = configInstances(config);
    if (input.DeploymentConfig !== undefined) endpoint.lastDeploymentConfig = input.DeploymentConfig as DeploymentConfig;
    this.store.endpoints.set(name, endpoint);
    const task = new AbortController();
    endpoint.task = task;
    this.say(`creating endpoint ${name} from endpoint config ${config.name}`);
    endpoint.running = (async () => {
      try {
        endpoint.serving = await startDeployment(this.ctx, name, config, { signal: task.signal });
        if (task.signal.aborted) {
          await endpoint.serving.stop();
          endpoint.serving = undefined;
          return;
        }
        endpoint.status = 'InService';
        endpoint.markServing();
        this.say(`endpoint ${name} is InService`);
      } catch (err) {
        if (task.signal.aborted) return;
        endpoint.status = 'Failed';
        endpoint.failureReason = err instanceof DeploymentError ? failureReason(err.reason) : failureReason(`Endpoint creation failed: ${(err as Error).message}`);
        this.say(`endpoint ${name} Failed: ${endpoint.failureReason}`);
      } finally {
        endpoint.lastModified = new Date();
        if (endpoint.task === task) endpoint.task = undefined;
      }
    })();
    return { EndpointArn: arn };
  }

  /** A `ProductionVariantSummary`, or for `pending` a `PendingProductionVariantSummary` (which also names the instance type). */
  private describeVariant(v: VariantState, status?: { Status: string; StatusMessage: string; StartTime: Date }, pending = false): Output {
    return {
      VariantName: v.spec.VariantName,
      ...(v.images.length > 0 ? { DeployedImages: v.images } : {}),
      CurrentWeight: v.runtime.weight,
      DesiredWeight: v.desiredWeight,
      ...capacity(v.spec, v.fleet.size, v.desiredInstanceCount, v.serverlessConfig),
      ...(pending && v.spec.InstanceType ? { InstanceType: v.spec.InstanceType } : {}),
      ...(pending && v.spec.AcceleratorType ? { AcceleratorType: v.spec.AcceleratorType } : {}),
      ...(status ? { VariantStatus: [{ Status: status.Status, StatusMessage: status.StatusMessage, StartTime: epochSeconds(status.StartTime) }] } : {}),
      ...configuredBehaviour(v.spec),
    };
  }

  /** A variant not started yet; `retained` gives the weight and instance count an update keeps (RetainAllVariantProperties). */
  private describePlanned(v: ProductionVariant, status: string | undefined, since: Date, retained?: PendingUpdate['retained']): Output {
    return {
      VariantName: v.VariantName,
      CurrentWeight: 0,
      DesiredWeight: retained?.weights.get(v.VariantName) ?? v.InitialVariantWeight ?? 1,
      ...capacity(v, 0, initialInstances(v, retained?.counts.get(v.VariantName))),
      // PendingProductionVariantSummary has the variant's AcceleratorType (ProductionVariantSummary does not).
      ...(v.AcceleratorType ? { AcceleratorType: v.AcceleratorType } : {}),
      ...(status ? { VariantStatus: [{ Status: status, StartTime: epochSeconds(since) }] } : {}),
      ...configuredBehaviour(v),
    };
  }

  describe(name: string): Output {
    const e = this.endpoint(name);
    const blue = e.serving;
    const config = blue?.config ?? this.store.endpointConfigs.get(e.configName);
    const out: Output = {
      EndpointName: e.name,
      EndpointArn: e.arn,
      EndpointConfigName: blue?.configName ?? e.configName,
      EndpointStatus: e.status,
      ...(e.failureReason === undefined ? {} : { FailureReason: e.failureReason }),
      CreationTime: epochSeconds(e.createdAt),
      LastModifiedTime: epochSeconds(e.lastModified),
      ...(e.lastDeploymentConfig ? { LastDeploymentConfig: e.lastDeploymentConfig } : {}),
    };
    if (blue) {
      const change = e.capacityChange;
      out.ProductionVariants = blue.variants.map((v) =>
        this.describeVariant(
          v,
          change?.variants.has(v.spec.VariantName)
            ? { Status: 'Updating', StatusMessage: capacityChangeMessage(v), StartTime: change.since }
            : undefined,
        ),
      );
      if (blue.shadow) out.ShadowProductionVariants = [this.describeVariant(blue.shadow)];
    } else if (config) {
      const status = e.status === 'Creating' ? 'Creating' : e.status === 'Deleting' ? 'Deleting' : undefined;
      out.ProductionVariants = config.productionVariants.map((v) => this.describePlanned(v, status, e.createdAt));
      if (config.shadowProductionVariants) out.ShadowProductionVariants = config.shadowProductionVariants.map((v) => this.describePlanned(v, status, e.createdAt));
    }
    if (config?.asyncInferenceConfig) out.AsyncInferenceConfig = config.asyncInferenceConfig;
    if (config?.metricsConfig) out.MetricsConfig = config.metricsConfig;
    const dc = config?.dataCaptureConfig;
    if (dc) {
      out.DataCaptureConfig = {
        EnableCapture: dc.EnableCapture !== false,
        CaptureStatus: dc.EnableCapture !== false && e.status !== 'Failed' ? 'Started' : 'Stopped',
        CurrentSamplingPercentage: dc.InitialSamplingPercentage,
        DestinationS3Uri: dc.DestinationS3Uri,
        ...(dc.KmsKeyId ? { KmsKeyId: dc.KmsKeyId } : {}),
      };
    }
    const p = e.pending;
    if (!p && e.status === 'Creating' && config) {
      // "Only returned when the endpoint is creating or updating with a new endpoint configuration" (DescribeEndpoint).
      const planned = (v: ProductionVariant): Output => ({
        ...this.describePlanned(v, undefined, e.createdAt),
        ...(v.InstanceType ? { InstanceType: v.InstanceType } : {}),
        VariantStatus: [{ Status: 'Creating', StatusMessage: 'Starting the fleet.', StartTime: epochSeconds(e.createdAt) }],
      });
      out.PendingDeploymentSummary = {
        EndpointConfigName: e.configName,
        StartTime: epochSeconds(e.createdAt),
        ProductionVariants: config.productionVariants.map(planned),
        ...(config.shadowProductionVariants ? { ShadowProductionVariants: config.shadowProductionVariants.map(planned) } : {}),
      };
    }
    if (p) {
      const pendingConfig = p.deployment?.config ?? this.store.endpointConfigs.get(p.configName);
      const status = { Status: p.variantStatus, StatusMessage: p.statusMessage, StartTime: p.statusSince };
      out.PendingDeploymentSummary = {
        EndpointConfigName: p.configName,
        StartTime: epochSeconds(p.startTime),
        ...(p.deployment
          ? {
              ProductionVariants: p.deployment.variants.map((v) => this.describeVariant(v, status, true)),
              ...(p.deployment.shadow ? { ShadowProductionVariants: [this.describeVariant(p.deployment.shadow, status, true)] } : {}),
            }
          : pendingConfig
            ? (() => {
                // The new fleet is not started yet: its variants as the update will start them, the weights and counts it keeps included, and its shadow variant.
                const planned = (v: ProductionVariant): Output => ({
                  ...this.describePlanned(v, p.variantStatus, p.statusSince, p.retained),
                  ...(v.InstanceType ? { InstanceType: v.InstanceType } : {}),
                  VariantStatus: [{ Status: p.variantStatus, StatusMessage: p.statusMessage, StartTime: epochSeconds(p.statusSince) }],
                });
                return {
                  ProductionVariants: pendingConfig.productionVariants.map(planned),
                  ...(pendingConfig.shadowProductionVariants ? { ShadowProductionVariants: pendingConfig.shadowProductionVariants.map(planned) } : {}),
                };
              })()
            : {}),
      };
    }
    return out;
  }

  list(input: ListInput): Output {
    const page = listPage('ListEndpoints', [...this.store.endpoints.values()], input, (e) => ({ name: e.name, createdAt: e.createdAt, lastModified: e.lastModified, status: e.status }));
    return {
      Endpoints: page.items.map((e) => ({
        EndpointName: e.name,
        EndpointArn: e.arn,
        CreationTime: epochSeconds(e.createdAt),
        LastModifiedTime: epochSeconds(e.lastModified),
        EndpointStatus: e.status,
      })),
      ...(page.nextToken ? { NextToken: page.nextToken } : {}),
    };
  }

  delete(name: string): Output {
    const e = this.endpoint(name);
    if (e.status === 'Deleting') return {};
    e.status = 'Deleting';
    e.lastModified = new Date();
    e.task?.abort(new Error(`endpoint ${name} is being deleted`));
    e.closeAsyncQueue('deleted');
    this.emptying.add(e);
    void e.asyncQueue.idle().then(() => this.emptying.delete(e));
    this.say(`deleting endpoint ${name}`);
    const previous = e.running;
    const scaling = this.deregisterScaling(name);
    e.running = (async () => {
      // Stopped while the change under way runs, as at the local SageMaker's stop (stopAll).
      await Promise.all([previous.catch(() => {}), e.serving?.stop()]);
      await Promise.all([e.pending?.deployment?.stop(), e.serving?.stop(), scaling]);
      e.pending = undefined;
      e.serving = undefined;
      if (this.store.endpoints.get(name) === e) {
        this.store.endpoints.delete(name);
        // Its tags go with it, not at DeleteEndpoint: it keeps them while Deleting, and AddTags meanwhile must not reach an endpoint created later under the name.
        this.store.tags.delete(e.arn);
      }
      this.say(`endpoint ${name} deleted`);
    })();
    return {};
  }

  /**
   * Deregisters the scalable targets on the variants of endpoint `name` (which deletes their scaling
   * policies), through Application Auto Scaling's own operations: "If you delete an endpoint,
   * Application Auto Scaling checks to see whether any of the models on that endpoint are targets
   * for auto scaling. If any are and you have permission to deregister the model, Application
   * Auto Scaling deregisters those models as scalable targets" (endpoint-delete-with-scaling.html).
   */
  private async deregisterScaling(name: string): Promise<void> {
    const autoscaling = this.opts.autoscaling?.();
    if (!autoscaling) return;
    const prefix = `endpoint/${name}/variant/`;
    try {
      const targets: Array<{ ResourceId: string; ScalableDimension: string }> = [];
      let token: string | undefined;
      do {
        const page = (await autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ...(token === undefined ? {} : { NextToken: token }) })) as {
          ScalableTargets?: Array<{ ResourceId: string; ScalableDimension: string }>;
          NextToken?: string;
        };
        targets.push(...(page.ScalableTargets ?? []).filter((t) => t.ResourceId.startsWith(prefix)));
        token = page.NextToken;
      } while (token !== undefined);
      for (const t of targets) await autoscaling.call('DeregisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: t.ResourceId, ScalableDimension: t.ScalableDimension });
    } catch (err) {
      this.ctx.log?.('warn', 'deregistering the scalable targets of a deleted endpoint failed', { endpoint: name, error: (err as Error).message });
    }
  }

  private requireInService(e: ManagedEndpoint): void {
    if (e.status === 'UpdateRollbackFailed') {
      throw validation(`Cannot update endpoint "${e.arn}": it is UpdateRollbackFailed (a rolling deployment and its rollback both failed; see its FailureReason). Delete the endpoint (DeleteEndpoint) and create it again.`);
    }
    // The service's words for a Failed endpoint start "Cannot update failed endpoint" (scripts match
    // them to delete and create it again; terraform-provider-aws skips its update test for it).
    if (e.status === 'Failed') throw validation(`Cannot update failed endpoint "${e.arn}". Delete the endpoint (DeleteEndpoint) and create it again.`);
    if (e.status !== 'InService') throw validation(`Cannot update in-progress endpoint "${e.arn}".`);
  }

  /**
   * Throws when the update would change the instance type of a variant that is an Application Auto
   * Scaling target: "If the update would change the instance type for any model that is a target
   * for auto scaling, the update fails" (endpoint-scaling-update.html). A changed model is allowed.
   */
  private async checkAutoscaledInstanceTypes(e: ManagedEndpoint, config: EndpointConfigRecord): Promise<void> {
    const autoscaling = this.opts.autoscaling?.();
    const blue = e.serving;
    if (!autoscaling || !blue) return;
    const ids = blue.variants.map((v) => `endpoint/${e.name}/variant/${v.spec.VariantName}`);
    let targets: Array<{ ResourceId: string }>;
    try {
      const out = (await autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: ids })) as { ScalableTargets?: Array<{ ResourceId: string }> };
      targets = out.ScalableTargets ?? [];
    } catch (err) {
      this.ctx.log?.('warn', 'reading the scalable targets of an endpoint failed', { endpoint: e.name, error: (err as Error).message });
      return;
    }
    for (const t of targets) {
      const variantName = t.ResourceId.slice(t.ResourceId.lastIndexOf('/') + 1);
      const before = blue.variants.find((v) => v.spec.VariantName === variantName)?.spec.InstanceType;
      const after = config.productionVariants.find((v) => v.VariantName === variantName)?.InstanceType;
      if (after !== undefined && after !== before) {
        throw validation(
          `Endpoint configuration "${config.name}" changes the instance type of variant "${variantName}" (${before ?? 'none'} to ${after}), which is registered with Application Auto Scaling as scalable target ${t.ResourceId}. Deregister the scalable target (DeregisterScalableTarget) before updating the endpoint, and register it again after.`,
        );
      }
    }
  }

  async update(input: Input): Promise<Output> {
    this.checkStopping('UpdateEndpoint');
    const e = this.endpoint(String(input.EndpointName));
    this.requireInService(e);
    const config = this.config(String(input.EndpointConfigName));
    // "To update an endpoint, you must create a new EndpointConfig" (UpdateEndpoint, API reference):
    // the service refuses the one the endpoint runs, which would otherwise start a second fleet of it.
    if (config.name.toLowerCase() === (e.serving?.configName ?? e.configName).toLowerCase()) {
      throw validation(
        `Cannot update endpoint "${e.arn}" to endpoint configuration "${config.name}": the endpoint already runs it. To update an endpoint, create a new endpoint configuration (CreateEndpointConfig) and name that one.`,
      );
    }
    // The service needs the configuration the endpoint runs as well as the new one: once it has been
    // deleted (DeleteEndpointConfig allows it), UpdateEndpoint is refused naming it
    // (terraform-provider-aws #40048, #42843, #49020).
    this.config(e.configName);
    await this.checkAutoscaledInstanceTypes(e, config);
    // The endpoint may have changed, or the local SageMaker begun to stop, while Application Auto Scaling answered.
    this.checkStopping('UpdateEndpoint');
    this.requireInService(e);
    for (const v of [...config.productionVariants, ...(config.shadowProductionVariants ?? [])]) {
      // A variant without ModelName hosts inference components (CreateEndpointConfig checked it).
      if (v.ModelName !== undefined && !this.store.models.has(v.ModelName)) throw validation(`Could not find model "${this.store.arn('model', v.ModelName)}".`);
    }
    const deploymentConfig = (input.DeploymentConfig as DeploymentConfig | undefined) ?? (input.RetainDeploymentConfig === true ? e.lastDeploymentConfig : undefined);
    const blue = e.serving!;
    if (blue.config.asyncInferenceConfig !== undefined && config.asyncInferenceConfig === undefined) {
      // The service's words up to "To change the e…" (the traceback in aws/sagemaker-python-sdk#3124); the rest is smkit's.
      throw validation(
        `The AsyncInferenceConfig parameter cannot be removed from this endpoint ${e.name}. To change the endpoint to a real-time one, create a new endpoint with endpoint configuration "${config.name}", or update this one to an endpoint configuration with an AsyncInferenceConfig.`,
      );
    }
    // Before the checks that read one policy: a serverless or multi-variant endpoint given both would be told to use the BlueGreenUpdatePolicy it was given.
    checkOnePolicy(deploymentConfig);
    checkServerlessUpdate(e.arn, blue.config.productionVariants, config.productionVariants, config.name, deploymentConfig);
    checkRollingVariants(e.arn, blue.config.productionVariants, config, deploymentConfig);
    checkVariantNamesKept(e.arn, blue.config.productionVariants, config, deploymentConfig);
    // Keep the serving variants' weights and instance counts when asked to (RetainAllVariantProperties).
    const weights = new Map<string, number>();
    const counts = new Map<string, number>();
    if (input.RetainAllVariantProperties === true) {
      const excluded = new Set(((input.ExcludeRetainedVariantProperties as Array<{ VariantPropertyType: string }> | undefined) ?? []).map((p) => p.VariantPropertyType));
      for (const v of blue.variants) {
        if (!excluded.has('DesiredWeight')) weights.set(v.spec.VariantName, v.desiredWeight);
        // A serverless variant has no instance count to keep.
        if (!excluded.has('DesiredInstanceCount') && !v.serverless) counts.set(v.spec.VariantName, v.desiredInstanceCount);
      }
    }
    const variantInstances = config.productionVariants.map((v) => initialInstances(v, counts.get(v.VariantName)));
    const greenInstances = variantInstances.reduce((n, c) => n + c, 0);
    checkDeploymentConfig(deploymentConfig, greenInstances, variantInstances);
    // An endpoint on Inf1 instances "cannot use deployment guardrails" and "will fall back to using a
    // blue/green deployment with all at once traffic shifting and no final baking period"
    // (deployment-guardrails-exclusions.html): no steps, bakes, alarms or time limit. So does an
    // Amazon Elastic Inference endpoint (a variant with an AcceleratorType): earlier versions of that
    // page listed it beside Inf1; the current one no longer names the discontinued service.
    const excluded = [...blue.config.productionVariants, ...config.productionVariants].some((v) => v.InstanceType?.startsWith('ml.inf1.') === true || v.AcceleratorType !== undefined);
    const guardrails = excluded ? undefined : deploymentConfig;
    const plan = planTraffic(guardrails, greenInstances, variantInstances);
    const instances = configInstances(config, counts);
    // A rolling update holds the old fleet and one batch, as SageMaker provisions one batch beside
    // the old fleet at a time; every other update starts the whole new fleet beside it. Its most,
    // checked and held up front: a new fleet larger than the old one needs more room at each later
    // step, which another endpoint must not take meanwhile.
    const holds = plan.type === 'ROLLING' ? rollingHolds(blue, blue.desiredInstances, config, rollingCounts(config, counts, plan).full, plan) : undefined;
    const rollingInstances = holds === undefined ? undefined : Math.max(blue.desiredInstances, ...holds);
    this.checkLimit(rollingInstances === undefined ? instances : rollingInstances - blue.desiredInstances);
    const now = new Date();
    e.status = 'Updating';
    e.failureReason = undefined;
    e.lastModified = now;
    if (deploymentConfig) e.lastDeploymentConfig = deploymentConfig;
    e.pending = { configName: config.name, startTime: now, instances, retained: { weights, counts }, ...(rollingInstances === undefined ? {} : { rollingInstances }), greenShare: 0, variantStatus: 'Creating', statusMessage: 'Starting the new fleet.', statusSince: now };
    const task = new AbortController();
    e.task = task;
    this.say(`updating endpoint ${e.name} to endpoint config ${config.name} (${plan.type})`);
    const previous = e.running;
    e.running = (async () => {
      await previous.catch(() => {});
      await this.runUpdate(e, config, plan, guardrails, { weights, counts }, holds ?? [], task.signal);
      if (e.task === task) e.task = undefined;
    })();
    return { EndpointArn: e.arn };
  }

  private setPending(e: ManagedEndpoint, status: 'Creating' | 'Updating' | 'ActivatingTraffic' | 'Baking' | 'Deleting', message: string): void {
    if (!e.pending) return;
    e.pending.variantStatus = status;
    e.pending.statusMessage = message;
    e.pending.statusSince = new Date();
  }

  /** Reads the named alarms; returns the first in ALARM, if any. */
  private alarmFiring(names: readonly string[]): Promise<string | undefined> {
    return firstAlarmFiring(names.length === 0 ? undefined : this.opts.alarms?.(), names, this.ctx.log);
  }

  /** Throws {@link RollbackError} when one of `alarms` is in ALARM or the update ran past its `deadline`. */
  private async checkGuards(alarms: readonly string[], deadline: number | undefined, configName: string, during: string): Promise<void> {
    const firing = await this.alarmFiring(alarms);
    if (firing !== undefined) throw new RollbackError(`CloudWatch alarm "${firing}" was in ALARM state ${during}; the update was rolled back.`);
    if (deadline !== undefined && this.now() > deadline) throw new RollbackError(`The update to endpoint configuration "${configName}" did not finish within MaximumExecutionTimeoutInSeconds; the update was rolled back.`);
  }

  /** Waits until the clock reaches `end`, reading it every `alarmPollMs`; `each` runs before every reading. */
  private async waitFor(end: number, signal: AbortSignal, each?: () => Promise<void>): Promise<void> {
    for (;;) {
      await each?.();
      const left = end - this.now();
      if (left <= 0) return;
      await sleep(Math.min(left, this.alarmPollMs), signal);
    }
  }

  /** Bakes for `seconds`, reading the alarms throughout; throws {@link RollbackError} when one fires or time runs out. */
  private bake(seconds: number, alarms: readonly string[], deadline: number | undefined, signal: AbortSignal, configName: string): Promise<void> {
    const during = `while the new endpoint configuration "${configName}" was baking`;
    return this.waitFor(this.now() + seconds * 1000, signal, () => this.checkGuards(alarms, deadline, configName, during));
  }

  /**
   * Before a rolling update's rollback starts the old fleet's retired instances again: holds them
   * beside the new fleet's, and where the local limit has no room for both, first stops as many new
   * instances as it lacks (their traffic goes back to the old fleet). The update always holds room
   * for the whole old fleet, so the old fleet fits once the new one has stopped.
   */
  private async makeRoomForRollback(e: ManagedEndpoint, blueTotal: number, green: Deployment | undefined): Promise<void> {
    const p = e.pending;
    if (!p || p.rollingInstances === undefined || !green) return;
    const variant = green.variants[0]!;
    const shadow = green.shadow ? green.shadow.fleet.size + green.shadow.fleet.starting : 0;
    const greenNow = variant.fleet.size + variant.fleet.starting + shadow;
    const max = this.ctx.maxInstances;
    const room = max === undefined ? Infinity : max - (this.utilisation() - p.rollingInstances);
    const production = greenNow - shadow;
    const keep = Math.min(production, Math.max(0, room - blueTotal - shadow));
    // Held before any new instance stops, not after: room freed while they drain would otherwise be
    // free for another endpoint as well as for the old fleet. The room is at least what the update
    // holds, so this never holds fewer than the instances still running.
    p.rollingInstances = Math.max(blueTotal, blueTotal + keep + shadow);
    if (keep < production) {
      const blueServing = e.serving?.instanceCount ?? 0;
      // Traffic first, so no request is sent to an instance on its way out.
      p.greenShare = keep === 0 ? 0 : keep / (keep + blueServing);
      await variant.fleet.scaleTo(keep);
    }
  }

  private async runUpdate(
    e: ManagedEndpoint,
    config: EndpointConfigRecord,
    plan: TrafficPlan,
    deploymentConfig: DeploymentConfig | undefined,
    retained: { weights: Map<string, number>; counts: Map<string, number> },
    holds: readonly number[],
    signal: AbortSignal,
  ): Promise<void> {
    const alarms = (deploymentConfig?.AutoRollbackConfiguration?.Alarms ?? []).map((a) => a.AlarmName).filter((n): n is string => typeof n === 'string');
    const deadline = plan.maximumExecutionSeconds === undefined ? undefined : this.now() + plan.maximumExecutionSeconds * 1000;
    const blue = e.serving!;
    // A rolling update terminates a batch of the old fleet after each bake (RollingUpdatePolicy's
    // MaximumBatchSize). Blue/green keeps it until the end, linear too: a step only deactivates
    // part of it (BlueGreenUpdatePolicy: "creates a new fleet ... while maintaining the old fleet",
    // terminated after TerminationWaitInSeconds), so a blue/green rollback only moves traffic back.
    const rolling = plan.type === 'ROLLING';
    // A rolling update starts with its first batch and grows; blue shrinks batch by batch behind it.
    const { full: fullCounts, start: rollingStart } = rollingCounts(config, retained.counts, plan);
    const startCounts = rolling ? rollingStart : retained.counts;
    const blueCounts = new Map(blue.variants.map((v) => [v, v.fleet.size] as const));
    // What a rolling update holds against the local limit: the old instances until they have
    // stopped and the new fleet's batches (the room a retired batch frees goes to the next one,
    // held through the bake) at the most any later step needs, never fewer than the old fleet's
    // size, which a rollback brings back.
    const blueTotal = blue.desiredInstances;
    const capacityShare = (green: Deployment): number => {
      const g = green.instanceCount;
      return g / Math.max(1, g + blue.instanceCount);
    };
    let green: Deployment | undefined;
    try {
      try {
        green = await startDeployment(this.ctx, e.name, config, { signal, weights: retained.weights, counts: startCounts });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new RollbackError(`The new fleet for endpoint configuration "${config.name}" did not start; the update was rolled back. ${err instanceof DeploymentError ? err.reason : (err as Error).message}`);
      }
      if (rolling) for (const v of green.variants) v.desiredInstanceCount = fullCounts.get(v.spec.VariantName) ?? v.desiredInstanceCount;
      e.pending!.deployment = green;
      const g = green;
      for (const [i, step] of plan.steps.entries()) {
        signal.throwIfAborted();
        if (rolling && i > 0) {
          this.setPending(e, 'Creating', `Starting the next batch of the new fleet (step ${i + 1} of ${plan.steps.length}).`);
          try {
            await Promise.all(g.variants.map((v) => v.fleet.scaleTo(share(v.desiredInstanceCount, step.greenShare))));
          } catch (err) {
            throw new RollbackError(`A batch of the new fleet for endpoint configuration "${config.name}" did not start; the update was rolled back. ${(err as Error).message}`);
          }
        }
        // An alarm already in ALARM (before the first step too) rolls back before any more traffic moves.
        await this.checkGuards(alarms, deadline, config.name, `before ${i === 0 ? 'any' : 'more'} traffic moved to the new endpoint configuration "${config.name}"`);
        const greenShare = rolling ? capacityShare(g) : step.greenShare;
        this.setPending(e, 'ActivatingTraffic', `Shifting ${Math.round(greenShare * 100)}% of traffic to the new fleet (step ${i + 1} of ${plan.steps.length}).`);
        e.pending!.greenShare = greenShare;
        this.say(`endpoint ${e.name}: ${Math.round(greenShare * 100)}% of traffic on ${config.name}`);
        this.setPending(e, 'Baking', `Baking for ${step.bakeSeconds} s with ${Math.round(greenShare * 100)}% of traffic on the new fleet (step ${i + 1} of ${plan.steps.length}).`);
        await this.bake(step.bakeSeconds, alarms, deadline, signal, config.name);
        if (rolling && i < plan.steps.length - 1) {
          // Retire as much of the old fleet as the new one took over, keeping traffic proportional to capacity.
          const blueLeft = blue.variants.map((v) => [v, share(blueCounts.get(v)!, 1 - step.greenShare)] as const);
          await Promise.all(blueLeft.map(([v, n]) => v.fleet.scaleTo(n)));
          e.pending!.greenShare = capacityShare(g);
          e.pending!.rollingInstances = Math.max(blueTotal, ...holds.slice(i + 1));
        }
      }
      if (plan.terminationWaitSeconds > 0) {
        this.setPending(e, 'Baking', `Waiting ${plan.terminationWaitSeconds} s (TerminationWaitInSeconds) before stopping the old fleet.`);
        await this.waitFor(this.now() + plan.terminationWaitSeconds * 1000, signal);
      }
      // Swap: the new fleet serves alone; the old one stops once its in-flight requests finish.
      e.serving = green;
      e.configName = config.name;
      e.pending = undefined;
      e.status = 'InService';
      e.markServing();
      e.lastModified = new Date();
      this.say(`endpoint ${e.name} is InService on ${config.name}`);
      this.opts.onUpdated?.(e.name);
      await blue.stop({ waitForRequests: true });
    } catch (err) {
      if (signal.aborted) {
        // DeleteEndpoint stops both fleets.
        if (green && e.pending) e.pending.deployment = green;
        return;
      }
      const reason = err instanceof RollbackError ? err.message : `The update to endpoint configuration "${config.name}" failed and was rolled back: ${(err as Error).message}`;
      // The endpoint stays Updating while UpdateEndpoint rolls back: the API reference gives
      // RollingBack only to an UpdateEndpointWeightsAndCapacities change being undone.
      e.lastModified = new Date();
      this.say(`endpoint ${e.name}: rolling back: ${reason}`);
      if (rolling) {
        // Bring the old fleet back to its size before it takes all traffic again.
        this.setPending(e, 'Deleting', 'Rolling back: restoring the previous fleet.');
        try {
          await this.makeRoomForRollback(e, blueTotal, green);
          await Promise.all(blue.variants.map((v) => v.fleet.scaleTo(blueCounts.get(v)!)));
        } catch (restoreErr) {
          this.ctx.log?.('warn', 'restoring the previous fleet failed', { endpoint: e.name, error: (restoreErr as Error).message });
          if (green && e.pending && !signal.aborted) {
            // "Both the rolling deployment and auto-rollback failed. Your endpoint is in service with
            // a mix of the old and new endpoint configurations" (EndpointStatus, API reference): both
            // fleets keep serving, each by its capacity, until the endpoint is deleted.
            e.pending.greenShare = capacityShare(green);
            this.setPending(e, 'Updating', 'The rollback failed: this fleet serves beside the previous one.');
            e.failureReason = failureReason(
              `${reason} Restoring the previous fleet failed as well (${(restoreErr as Error).message}); the endpoint serves a mix of endpoint configurations "${blue.configName}" and "${config.name}". Delete the endpoint (DeleteEndpoint) and create it again.`,
            );
            e.status = 'UpdateRollbackFailed';
            e.lastModified = new Date();
            this.say(`endpoint ${e.name} is UpdateRollbackFailed: ${e.failureReason}`);
            return;
          }
        }
      }
      if (e.pending) {
        e.pending.greenShare = 0;
        this.setPending(e, 'Deleting', 'Rolling back: all traffic returned to the previous fleet.');
      }
      await green?.stop();
      e.pending = undefined;
      // DeleteEndpoint came during the rollback: the endpoint stays Deleting until it is gone.
      if (signal.aborted) return;
      e.failureReason = failureReason(reason);
      e.status = 'InService';
      e.lastModified = new Date();
      this.say(`endpoint ${e.name} is InService on ${blue.configName} after the rollback`);
    }
  }

  updateWeightsAndCapacities(input: Input): Output {
    this.checkStopping('UpdateEndpointWeightsAndCapacities');
    const e = this.endpoint(String(input.EndpointName));
    this.requireInService(e);
    const blue = e.serving!;
    const desired = input.DesiredWeightsAndCapacities as Array<{ VariantName: string; DesiredWeight?: number; DesiredInstanceCount?: number; ServerlessUpdateConfig?: ServerlessUpdate }>;
    // One pass with a set: the list has no maximum, and a search of it per entry held the event loop for seconds.
    const named = new Set<string>();
    const repeated = new Set<string>();
    for (const d of desired) (named.has(d.VariantName) ? repeated : named).add(d.VariantName);
    if (repeated.size > 0) throw validation(`The variant(s) "[${[...repeated].join(', ')}]" appear more than once in DesiredWeightsAndCapacities; name each variant once.`);
    const missing = desired.filter((d) => !blue.variants.some((v) => v.spec.VariantName === d.VariantName)).map((d) => d.VariantName);
    if (missing.length > 0) throw validation(`The variant(s) "[${missing.join(', ')}]" is/are not present in the endpoint "${e.arn}".`);
    const serverlessNext = new Map<string, ProductionVariantServerlessConfig>();
    for (const d of desired) {
      if (d.DesiredWeight === undefined && d.DesiredInstanceCount === undefined && d.ServerlessUpdateConfig === undefined) {
        throw validation(`Specify DesiredWeight, DesiredInstanceCount or ServerlessUpdateConfig for variant "${d.VariantName}".`);
      }
      const variant = blue.variants.find((v) => v.spec.VariantName === d.VariantName)!;
      if (d.DesiredInstanceCount !== undefined && variant.serverless) {
        throw validation(`Variant "${d.VariantName}" is serverless: it has no instance count to change. Change its MaxConcurrency or ProvisionedConcurrency with ServerlessUpdateConfig, or update the endpoint to an endpoint configuration with another ServerlessConfig.`);
      }
      if (d.ServerlessUpdateConfig !== undefined) serverlessNext.set(d.VariantName, serverlessAfterUpdate(variant, d.ServerlessUpdateConfig));
      // Only asynchronous endpoints scale to zero (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html).
      if (d.DesiredInstanceCount === 0 && !blue.config.asyncInferenceConfig) {
        throw validation(`DesiredInstanceCount for variant "${d.VariantName}" must be at least 1: only an asynchronous endpoint (AsyncInferenceConfig) can scale to 0 instances.`);
      }
    }
    const after = blue.variants.map((v) => desired.find((d) => d.VariantName === v.spec.VariantName)?.DesiredWeight ?? v.desiredWeight);
    this.checkLimit(
      desired.reduce((n, d) => {
        const v = blue.variants.find((x) => x.spec.VariantName === d.VariantName)!;
        const provisioned = serverlessNext.get(d.VariantName)?.ProvisionedConcurrency ?? 0;
        return n + (d.DesiredInstanceCount === undefined ? 0 : d.DesiredInstanceCount - Math.max(v.desiredInstanceCount, v.fleet.size)) + Math.max(0, provisioned - v.fleet.size);
      }, 0),
    );
    if (!after.some((w) => w > 0)) throw validation('At least one production variant must keep a weight above 0.');
    e.status = 'Updating';
    e.failureReason = undefined;
    e.lastModified = new Date();
    const countsBefore = new Map(desired.map((d) => [d.VariantName, blue.variants.find((v) => v.spec.VariantName === d.VariantName)!.desiredInstanceCount] as const));
    e.capacityChange = { variants: new Set(desired.map((d) => d.VariantName)), since: e.lastModified, previous: countsBefore };
    // The desired values show at once (DescribeEndpoint's DesiredWeight/DesiredInstanceCount); the current ones follow.
    const changes = desired.map((d) => {
      const v = blue.variants.find((x) => x.spec.VariantName === d.VariantName)!;
      const before = v.desiredInstanceCount;
      const weightBefore = v.desiredWeight;
      const previousServerless = v.serverlessConfig ? { ...v.serverlessConfig.current } : undefined;
      if (d.DesiredWeight !== undefined) v.desiredWeight = d.DesiredWeight;
      if (d.DesiredInstanceCount !== undefined) v.desiredInstanceCount = d.DesiredInstanceCount;
      const serverless = serverlessNext.get(d.VariantName);
      if (serverless && v.serverlessConfig) {
        v.serverlessConfig.desired = serverless;
        // A serverless variant holds its provisioned instances (and those serving on demand) against the local limit.
        v.desiredInstanceCount = serverless.ProvisionedConcurrency ?? 0;
      }
      return { d, v, before, weightBefore, previousServerless, serverless, applied: { count: false, serverless: false } };
    });
    const previous = e.running;
    e.running = (async () => {
      await previous.catch(() => {});
      const failures: string[] = [];
      await Promise.all(
        changes.map(async ({ d, v, before, serverless, applied }) => {
          if (d.DesiredWeight !== undefined) v.runtime.weight = d.DesiredWeight;
          if (serverless && v.serverless && v.serverlessConfig) {
            this.say(`endpoint ${e.name}: variant ${v.spec.VariantName} to MaxConcurrency ${serverless.MaxConcurrency}, ProvisionedConcurrency ${serverless.ProvisionedConcurrency ?? 0}`);
            try {
              await v.serverless.reconfigure({ maxConcurrency: serverless.MaxConcurrency, provisioned: serverless.ProvisionedConcurrency ?? 0 });
              v.serverlessConfig.current = serverless;
              applied.serverless = true;
            } catch (err) {
              v.serverless.reconfigure({ maxConcurrency: v.serverlessConfig.current.MaxConcurrency, provisioned: v.serverlessConfig.current.ProvisionedConcurrency ?? 0 }).catch(() => {});
              v.serverlessConfig.desired = v.serverlessConfig.current;
              v.desiredInstanceCount = before;
              failures.push(`variant ${v.spec.VariantName} could not warm ${serverless.ProvisionedConcurrency} provisioned instance(s): ${(err as Error).message}`);
            }
          }
          if (d.DesiredInstanceCount !== undefined && d.DesiredInstanceCount !== v.fleet.size) {
            this.say(`endpoint ${e.name}: variant ${v.spec.VariantName} from ${v.fleet.size} to ${d.DesiredInstanceCount} instance(s)`);
            try {
              await v.fleet.scaleTo(d.DesiredInstanceCount);
              applied.count = true;
            } catch (err) {
              v.desiredInstanceCount = before;
              failures.push(`variant ${v.spec.VariantName} could not reach ${d.DesiredInstanceCount} instances: ${(err as Error).message}`);
            }
          }
        }),
      );
      if (failures.length > 0 && e.status !== 'Deleting') {
        // "RollingBack: Endpoint fails to scale up or down or change its variant weight and is in the
        // process of rolling back to its previous configuration" (DescribeEndpoint, EndpointStatus):
        // the whole call is undone, its weights and the changes that did take, not only the one that failed.
        e.status = 'RollingBack';
        e.lastModified = new Date();
        this.say(`endpoint ${e.name}: rolling back the capacity update: ${failures.join('; ')}`);
        await Promise.all(
          changes.map(async ({ d, v, before, weightBefore, previousServerless, applied }) => {
            if (d.DesiredWeight !== undefined) {
              v.desiredWeight = weightBefore;
              v.runtime.weight = weightBefore;
            }
            try {
              if (applied.serverless && v.serverless && v.serverlessConfig && previousServerless) {
                const previous = previousServerless;
                v.serverlessConfig.desired = previous;
                v.desiredInstanceCount = before;
                await v.serverless.reconfigure({ maxConcurrency: previous.MaxConcurrency, provisioned: previous.ProvisionedConcurrency ?? 0 });
                v.serverlessConfig.current = previous;
              }
              if (applied.count) {
                v.desiredInstanceCount = before;
                await v.fleet.scaleTo(before);
              }
            } catch (err) {
              failures.push(`variant ${v.spec.VariantName} could not be restored: ${(err as Error).message}`);
            }
          }),
        );
      }
      e.capacityChange = undefined;
      if (e.status === 'Deleting') return;
      if (failures.length > 0) e.failureReason = failureReason(`The capacity update failed and was rolled back: ${failures.join('; ')}`);
      e.status = 'InService';
      e.lastModified = new Date();
      this.opts.onCapacityChanged?.(e.name, {
        counts: new Map(blue.variants.map((v) => [v.spec.VariantName, v.desiredInstanceCount] as const)),
        ...(failures.length > 0 && e.failureReason !== undefined ? { failureReason: e.failureReason } : {}),
      });
    })();
    return { EndpointArn: e.arn };
  }

  /**
   * Stops every endpoint's fleets (server shutdown); calls that would start instances are refused from then on. The asynchronous requests still waiting fail
   * as it begins; it then waits, up to `asyncShutdownWaitMs` past the fleets' stop, for theirs and
   * the running requests' results and failures to be written.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const all = [...new Set([...this.store.endpoints.values(), ...this.emptying])];
    for (const e of all) {
      e.task?.abort(new Error('the local SageMaker is stopping'));
      e.closeAsyncQueue('stopping');
    }
    await Promise.all(
      all.map(async (e) => {
        // Stopped while its change runs, not after: a capacity change ends only once the instances it
        // starts pass /ping or time out, unless their fleet's stop cuts those starts short.
        await Promise.all([e.running.catch(() => {}), e.serving?.stop()]);
        await Promise.all([e.pending?.deployment?.stop(), e.serving?.stop()]);
        await e.settleAsyncQueue(this.opts.asyncShutdownWaitMs ?? ASYNC_SHUTDOWN_WAIT_MS);
      }),
    );
  }
}
