import type { InvokeEndpointRequest } from '../endpoint/chain.js';
import { nulEnvironmentValue } from '../../aws/container-environment.js';
import { partitionOf } from '../../aws/partition.js';
import { INFERENCE_COMPONENT_INPUTS, type InferenceComponentSpecification, type InferenceComponentStatus } from '../../aws/shapes/inference-components.js';
import type { ProductionVariant } from '../../aws/shapes/sagemaker.js';
import { validateInput } from '../../aws/shapes/validate.js';
import { AwsServiceError, type AwsService, validationException as validation } from '../../aws/service.js';
import type { RoutableEndpoint } from '../front-door/app.js';
import { InferenceComponentRouteError } from '../front-door/inference-component-route.js';
import { DeploymentError, failureReason, startDeployment, type Deployment, type DeploymentContext } from './deployment.js';
import { checkRollingPolicy, ComponentRollbackError, rollOut, rolloutCopies, type ComponentRollingPolicy } from './inference-component-rollout.js';
import { describeCapacity, instanceCapacity, placeBeside, placeFirstFit, type CopyRequirements } from './instance-capacity.js';
import { componentMetricsSink } from './invocation-metrics.js';
import { firstAlarmFiring } from './rollback-alarms.js';
import { epochSeconds, listPage, type ListInput } from './listing.js';
import { checkLocalLimit } from './local-limit.js';
import type { ManagedEndpoint } from './managed-endpoint.js';
import { prefixAwareRouting } from './routing-config.js';
import type { ControlPlaneStore, EndpointConfigRecord, ModelRecord } from './store.js';
import type { VariantState } from './deployment.js';

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** One inference component: its request, status, and the deployment that runs its copies. */
export interface InferenceComponentRecord {
  name: string;
  arn: string;
  endpointName: string;
  variantName: string;
  createdAt: Date;
  lastModified: Date;
  /** Real time (epoch ms) it first went InService: its idle minutes (MetricStore.recordIdleMinute) are those from then on. */
  servingSince?: number;
  status: InferenceComponentStatus;
  failureReason?: string;
  specification: InferenceComponentSpecification;
  desiredCopies: number;
  /** The copies placed on the variant's instances (those started); the rest of `desiredCopies` do not fit. */
  placedCopies: number;
  /** The copies serving now: one fleet whose instances are the copies. */
  serving?: Deployment;
  /** The create, update or copy-count change under way. */
  running: Promise<void>;
  /** A rolling update's new copies, taking invocations beside those of `serving` until it ends. */
  rollingTo?: Deployment;
  /** Turns taken between `serving` and `rollingTo`, which share invocations by their copies. */
  rollTurn?: number;
  /** Cancels the running create or update (DeleteInferenceComponent). */
  task?: AbortController;
  /** The `DeploymentConfig` of the last `UpdateInferenceComponent` that gave one. */
  lastDeploymentConfig?: Record<string, unknown>;
  /** A copy-count change from 0 copies is under way: the component is still at zero until a copy joins. */
  startingFromZero?: boolean;
  /**
   * While `UpdateInferenceComponent` gives a new specification: the old specification's copies, which
   * run beside the new ones (`desiredCopies`) until they have stopped, so both count against the local limit.
   */
  outgoingCopies?: number;
  /**
   * While `UpdateInferenceComponent` rolls a new specification out batch by batch: the copies, old
   * and new together, it holds against the local limit (the old copies not yet stopped and one
   * batch; all the old copies at least, which a rollback may bring back).
   */
  rollingCopies?: number;
}

/** The service's words for an invocation without `InferenceComponentName` on an endpoint that hosts components. */
export const COMPONENT_NAME_REQUIRED =
  'Inference Component Name header is required for endpoints to which you plan to deploy inference components. Please include Inference Component Name header or consider using SageMaker models.';

/**
 * The service's words for an invocation of a component that has no copies (scaled to zero), quoted
 * in AWS's post on scaling inference components down to zero.
 */
export const NO_CAPACITY =
  'Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress (if configured) or try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API.';

/** Whether an endpoint config is for inference components: its production variants name no model. */
export function hostsInferenceComponents(config: EndpointConfigRecord): boolean {
  return config.productionVariants.every((v) => v.ModelName === undefined);
}

/** The members of `CreateEndpointConfig` that decide whether it can host inference components. */
export interface ComponentHostingInput {
  production: readonly ProductionVariant[];
  shadow?: readonly ProductionVariant[];
  executionRoleArn?: string;
  asynchronous: boolean;
  dataCapture: boolean;
}

/**
 * Checks an endpoint config whose production variants leave out `ModelName` (one for inference
 * components): every variant must leave it out and run on instances, and `ExecutionRoleArn` is
 * required, since no model lends the endpoint its role. Returns true for such a config.
 */
export function checkComponentHosting(input: ComponentHostingInput): boolean {
  const without = input.production.filter((v) => v.ModelName === undefined).map((v) => v.VariantName);
  if (without.length === 0) {
    const shadowWithout = input.shadow?.find((v) => v.ModelName === undefined);
    if (shadowWithout) throw validation(`ModelName is required for shadow variant "${shadowWithout.VariantName}": only the production variants of an endpoint for inference components leave it out.`);
    return false;
  }
  if (without.length !== input.production.length) {
    const named = input.production.filter((v) => v.ModelName !== undefined).map((v) => v.VariantName);
    throw validation(`Production variants [${without.join(', ')}] name no model (ModelName) but [${named.join(', ')}] do: an endpoint hosts either models named by its variants, or inference components on variants that name none.`);
  }
  if (input.executionRoleArn === undefined) {
    throw validation('ExecutionRoleArn is required when the production variants name no model (ModelName): an endpoint for inference components needs an execution role of its own.');
  }
  const serverless = input.production.find((v) => v.ServerlessConfig !== undefined);
  if (serverless) throw validation(`Variant "${serverless.VariantName}" is serverless: inference components run on instances, so give InstanceType and InitialInstanceCount instead of ServerlessConfig.`);
  if (input.shadow && input.shadow.length > 0) throw validation('ShadowProductionVariants are not supported on an endpoint for inference components.');
  if (input.asynchronous) throw validation('AsyncInferenceConfig is not supported on an endpoint for inference components: InvokeEndpointAsync has no InferenceComponentName to route a request by.');
  if (input.dataCapture) throw validation('DataCaptureConfig is not supported by the local SageMaker on an endpoint for inference components.');
  return true;
}

/** A local `ModelDataUrl`-style location: the service's s3:// and https://, or a file:// URL or absolute path. */
const ARTIFACT_URL = /^(s3:\/\/[^/]+\/?.*|https:\/\/.+|file:\/\/.+|\/.*)$/;

/** Options of {@link InferenceComponents}. */
export interface InferenceComponentsOptions {
  store: ControlPlaneStore<ManagedEndpoint>;
  /** How copies start: the endpoints' own deployment context (backend, work folder, model data, health checks). */
  deployment: DeploymentContext;
  /** Application Auto Scaling: deleting a component deregisters its scalable target. */
  autoscaling?: () => AwsService | undefined;
  /** CloudWatch, whose alarms a rolling update's `AutoRollbackConfiguration` names. */
  alarms?: () => AwsService | undefined;
  /** How often those alarms are read while a rolling update waits. @defaultValue 1000 ms */
  alarmPollMs?: number;
  /** The clock a rolling update's `WaitIntervalInSeconds` and `MaximumExecutionTimeoutInSeconds` count on (tests move it instead of waiting). @defaultValue Date.now */
  now?: () => number;
  /** Called once a copy count change of component `name` has settled (done or undone), with its `DesiredCopyCount` then and its `FailureReason` when it was undone. */
  onCopiesChanged?: (name: string, settled: { readonly copies: number; readonly failureReason?: string }) => void;
}

/**
 * The inference components of the local SageMaker: `CreateInferenceComponent` (Creating →
 * InService | Failed), `UpdateInferenceComponent` (a new specification: Updating, the new copies
 * start beside the old ones and take over at once, or batch by batch with a `RollingUpdatePolicy`),
 * `UpdateInferenceComponentRuntimeConfig` (copies started or drained and stopped),
 * `DeleteInferenceComponent`, `Describe*` and `List*`. Each copy is an instance started the way an
 * endpoint variant's instances are (one fleet per component, whose instances the invocations are
 * balanced across); the endpoint's own instances run no containers.
 */
export class InferenceComponents {
  private readonly records = new Map<string, InferenceComponentRecord>();
  private readonly store: ControlPlaneStore<ManagedEndpoint>;
  private readonly ctx: DeploymentContext;
  private readonly autoscaling: () => AwsService | undefined;
  private readonly alarms: () => AwsService | undefined;
  private readonly alarmPollMs: number;
  private readonly now: () => number;
  /** Instance types not in the capacity table, already warned of. */
  private readonly unknownTypes = new Set<string>();
  /** The instance count change under way on each host variant, so that changes apply in order. */
  private readonly hostScaling = new WeakMap<VariantState, Promise<void>>();
  /** Set by {@link stopAll}: the copies it stops are those of the components there then, so no copy may start after. */
  private stopping = false;

  /** Told of each copy count change once it has settled. */
  private readonly onCopiesChanged: InferenceComponentsOptions['onCopiesChanged'];

  constructor(opts: InferenceComponentsOptions) {
    this.onCopiesChanged = opts.onCopiesChanged;
    this.store = opts.store;
    this.ctx = opts.deployment;
    this.autoscaling = opts.autoscaling ?? (() => undefined);
    this.alarms = opts.alarms ?? (() => undefined);
    this.alarmPollMs = opts.alarmPollMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** The operations, each validating its input against the service model first. */
  operations(): Record<string, (input: Input) => Promise<Output> | Output> {
    const ops: Record<string, (input: Input) => Output> = {
      CreateInferenceComponent: (i) => this.create(i),
      DescribeInferenceComponent: (i) => this.describe(String(i.InferenceComponentName)),
      ListInferenceComponents: (i) => this.list(i),
      UpdateInferenceComponent: (i) => this.update(i),
      UpdateInferenceComponentRuntimeConfig: (i) => this.setCopies(this.component(String(i.InferenceComponentName)), (i.DesiredRuntimeConfig as { CopyCount: number }).CopyCount, 'UpdateInferenceComponentRuntimeConfig'),
      DeleteInferenceComponent: (i) => this.delete(String(i.InferenceComponentName)),
    };
    return Object.fromEntries(
      Object.entries(ops).map(([op, run]) => [
        op,
        (i: Input) => {
          validateInput(i, INFERENCE_COMPONENT_INPUTS[op]!);
          return run(i);
        },
      ]),
    );
  }

  /** Whether `arn` names an inference component (for the tagging operations). */
  has(arn: string): boolean {
    return [...this.records.values()].some((r) => r.arn === arn);
  }

  /**
   * The components serving (`InService` or `Updating`) with at least one copy in rotation, with their requests in flight
   * per copy: those whose idle minutes publish zeros (MetricStore.recordIdleMinute).
   */
  inService(): Array<{ name: string; inFlight: number; since: number }> {
    const out: Array<{ name: string; inFlight: number; since: number }> = [];
    for (const r of this.records.values()) {
      const fleet = r.serving?.variants[0]?.fleet;
      // Updating (copies added or removed, a new specification rolling out) it serves on, its idle minutes as well.
      if ((r.status === 'InService' || r.status === 'Updating') && fleet !== undefined && fleet.size > 0) out.push({ name: r.name, inFlight: fleet.inFlight / fleet.size, since: r.servingSince ?? r.createdAt.getTime() });
    }
    return out;
  }

  /** `arn:<partition>:sagemaker:<region>:<account>:inference-component/<name>`, lower-cased as the service does. */
  arnOf(name: string): string {
    return `arn:${partitionOf(this.store.region)}:sagemaker:${this.store.region}:${this.store.accountId}:inference-component/${name.toLowerCase()}`;
  }

  private component(name: string): InferenceComponentRecord {
    const r = this.records.get(name);
    if (!r) throw validation(`Could not find inference component "${this.arnOf(name)}".`);
    return r;
  }

  /** Throws when endpoint `name` still hosts inference components: DeleteEndpoint waits until they are deleted. */
  checkEndpointDelete(name: string): void {
    const left = [...this.records.values()].filter((r) => r.endpointName === name).map((r) => r.name);
    if (left.length > 0) {
      throw validation(`Cannot delete endpoint "${this.store.arn('endpoint', name)}": inference components [${left.join(', ')}] are deployed on it. Delete them first (DeleteInferenceComponent).`);
    }
  }

  /**
   * Throws when `UpdateEndpoint` would move endpoint `name`, which hosts inference components, to a
   * config whose variants name models, that drops a variant they are deployed on, or whose instances
   * (`InitialInstanceCount`, or the count kept by `retainedCounts`) do not hold the copies placed.
   */
  checkEndpointUpdate(name: string, configName: string, retainedCounts = false): void {
    const config = this.store.endpointConfigs.get(configName);
    const on = [...this.records.values()].filter((r) => r.endpointName === name);
    if (!config || on.length === 0) return;
    const arn = this.store.arn('endpoint', name);
    if (!hostsInferenceComponents(config)) {
      throw validation(`Cannot update endpoint "${arn}" to endpoint configuration "${configName}", whose variants name models: inference components [${on.map((r) => r.name).join(', ')}] are deployed on it. Delete them first (DeleteInferenceComponent).`);
    }
    for (const variantName of new Set(on.map((r) => r.variantName))) {
      const names = on.filter((r) => r.variantName === variantName).map((r) => r.name).join(', ');
      const next = config.productionVariants.find((v) => v.VariantName === variantName);
      if (!next) throw validation(`Cannot update endpoint "${arn}" to endpoint configuration "${configName}": it has no variant "${variantName}", on which inference components [${names}] are deployed. Keep the variant, or delete them first (DeleteInferenceComponent).`);
      const capacity = instanceCapacity(next.InstanceType);
      const host = this.host(name, variantName);
      if (!capacity) continue;
      const count = retainedCounts && host ? host.desiredInstanceCount : (next.InitialInstanceCount ?? 1);
      const placed = this.placedBeside({ name: '', endpointName: name, variantName });
      if (placeBeside(capacity, count, placed, { copies: 0, requirements: { MinMemoryRequiredInMb: 0 } }) !== undefined) continue;
      throw validation(
        `Cannot update endpoint "${arn}" to endpoint configuration "${configName}": the copies of inference components [${names}] placed on variant "${variantName}" do not fit on its ${count} ${next.InstanceType} instance(s) of ${describeCapacity(capacity)} each. Give the variant more instances or a larger InstanceType, or lower their copy counts first (UpdateInferenceComponentRuntimeConfig).`,
      );
    }
  }

  /**
   * The front door's view of endpoint `name`: an endpoint for inference components routes each
   * invocation by its `InferenceComponentName`; any other endpoint is itself.
   */
  routable(name: string, endpoint: ManagedEndpoint | undefined): RoutableEndpoint | undefined {
    if (!endpoint?.serving || !hostsInferenceComponents(endpoint.serving.config)) return endpoint;
    return {
      invoke: (...args) => endpoint.invoke(...args),
      stream: (...args) => endpoint.stream(...args),
      inferenceComponent: (component) => this.target(name, component),
    };
  }

  private target(endpointName: string, component: string | undefined): RoutableEndpoint {
    if (component === undefined) throw new InferenceComponentRouteError(COMPONENT_NAME_REQUIRED);
    const r = this.records.get(component);
    if (!r || r.endpointName !== endpointName) throw new InferenceComponentRouteError(`Inference component ${component} is not deployed on endpoint ${endpointName}: name one of its inference components (ListInferenceComponents with EndpointNameEquals).`);
    if (!r.serving || r.status === 'Deleting') {
      throw new InferenceComponentRouteError(`Inference component ${component} is ${r.status} and cannot take invocations${r.status === 'Failed' && r.failureReason ? `: ${r.failureReason}` : '.'}`);
    }
    // A rolling update: the old and new copies share the invocations by their number, but a
    // stateful session's requests go to the copy that opened it, old or new (the share would
    // send them to copies that do not hold it).
    const green = r.rollingTo?.variants[0]!.fleet.size ?? 0;
    if (green > 0) {
      const rolling = r.rollingTo!.endpoint;
      const serving = r.serving.endpoint;
      const pick = (req: InvokeEndpointRequest) => {
        if (rolling.holdsSession(req.sessionId)) return rolling;
        if (serving.holdsSession(req.sessionId)) return serving;
        const blue = r.serving!.variants[0]!.fleet.size;
        r.rollTurn = ((r.rollTurn ?? 0) + 1) % (green + blue);
        return r.rollTurn < green ? rolling : serving;
      };
      return { invoke: (req, ...rest) => pick(req).invoke(req, ...rest), stream: (req, opts) => pick(req).stream(req, opts) };
    }
    // Scaled to zero copies, or on its way back from zero: not copies that died and are being
    // replaced, even while a copy-count change is under way.
    if (r.serving.variants[0]!.fleet.size === 0 && (r.desiredCopies === 0 || r.placedCopies === 0 || r.startingFromZero === true)) {
      this.ctx.metrics?.recordNoCapacity?.(r.name, Date.now());
      throw new InferenceComponentRouteError(NO_CAPACITY);
    }
    return r.serving.endpoint;
  }

  /** Copies all components ask for, against the local instance limit: each copy is a container of its own here. */
  private checkCopies(delta: number): void {
    checkLocalLimit({ name: 'local inference component copies', unit: 'copies', max: this.ctx.maxInstances }, delta, () => this.copiesHeldByAll());
  }

  private copiesHeldByAll(): number {
    let used = 0;
    for (const r of this.records.values()) used += this.copiesHeld(r);
    return used;
  }

  /**
   * The copies `r` runs or is starting, for the local limit: its desired copies (those starting
   * included) or those in rotation if more, and during a new specification's update the old copies
   * beside them (all of them, or during a rolling update those the rollout holds). A Failed
   * component runs none.
   */
  private copiesHeld(r: InferenceComponentRecord): number {
    if (r.status === 'Failed') return 0;
    if (r.rollingCopies !== undefined) return (r.outgoingCopies ?? 0) + Math.max(r.desiredCopies, r.rollingCopies);
    if (r.outgoingCopies !== undefined) return r.outgoingCopies + r.desiredCopies;
    return Math.max(r.desiredCopies, r.serving?.variants[0]?.fleet.size ?? 0);
  }

  /** The most copies `r`'s rolling update may hold now: what it holds and what the local limit has free. */
  private rolloutRoom(r: InferenceComponentRecord): number {
    const max = this.ctx.maxInstances;
    if (max === undefined) return Infinity;
    return max - (this.copiesHeldByAll() - this.copiesHeld(r)) - (r.outgoingCopies ?? 0);
  }

  /** `copies` old copies of an update of `r`'s specification no longer run beside the new ones (they stopped, or the update was undone). */
  private outgoingStopped(r: InferenceComponentRecord, copies: number): void {
    const left = (r.outgoingCopies ?? 0) - copies;
    r.outgoingCopies = left > 0 ? left : undefined;
  }

  /** The host variant (its instances run no containers) that the copies of components on `endpointName`'s `variantName` are placed on. */
  private host(endpointName: string, variantName: string): VariantState | undefined {
    return this.store.endpoints.get(endpointName)?.serving?.variants.find((v) => v.spec.VariantName === variantName);
  }

  /** What the instances of `host` offer each, or undefined (unbounded) for a type not in the table, warned of once. */
  private capacityOf(host: VariantState): ReturnType<typeof instanceCapacity> {
    const type = host.spec.InstanceType;
    const capacity = instanceCapacity(type);
    if (!capacity && type !== undefined && !this.unknownTypes.has(type)) {
      this.unknownTypes.add(type);
      this.ctx.log?.('warn', 'inference component copies are not packed on this instance type: its vCPUs, memory and accelerators are not in smkit\'s table, so every copy is placed', { instanceType: type });
    }
    return capacity;
  }

  /** The copies placed on the same variant as `r` by the other components, oldest component first. */
  private placedBeside(r: Pick<InferenceComponentRecord, 'name' | 'endpointName' | 'variantName'>): Array<{ copies: number; requirements: CopyRequirements }> {
    return [...this.records.values()]
      .filter((o) => o.name !== r.name && o.endpointName === r.endpointName && o.variantName === r.variantName && o.status !== 'Failed')
      .map((o) => ({ copies: o.placedCopies, requirements: o.specification.ComputeResourceRequirements! }));
  }

  /**
   * How many of `want` copies of `r`, each taking `req`, fit first-fit on its variant's instances
   * beside the other components' placed copies, and why the rest do not. With the variant's
   * `ManagedInstanceScaling` ENABLED, instances are added first, up to `MaxInstanceCount` and the
   * local instance limit, until they all fit.
   */
  private place(r: Pick<InferenceComponentRecord, 'name' | 'endpointName' | 'variantName'>, want: number, req: CopyRequirements): { placed: number; reason?: string } {
    const host = this.host(r.endpointName, r.variantName);
    const capacity = host && this.capacityOf(host);
    if (!host || !capacity) return { placed: want };
    const beside = this.placedBeside(r);
    // What r places now if no order of the others' copies is found in which they all fit: it keeps
    // the copies it runs, and adds none.
    const own = this.records.get(r.name);
    const keep = own && JSON.stringify(own.specification.ComputeResourceRequirements) === JSON.stringify(req) ? Math.min(want, own.placedCopies) : 0;
    const fit = (instances: number): number => placeBeside(capacity, instances, beside, { copies: want, requirements: req }) ?? keep;
    let placed = fit(host.desiredInstanceCount);
    const oneFits = placeFirstFit(capacity, 1, [{ copies: 1, requirements: req }])[0] === 1;
    const scaling = host.spec.ManagedInstanceScaling;
    const managed = scaling?.Status === 'ENABLED';
    if (placed < want && managed && oneFits) {
      const ceiling = scaling.MaxInstanceCount ?? host.spec.InitialInstanceCount ?? 1;
      const before = host.desiredInstanceCount;
      while (placed < want && host.desiredInstanceCount < ceiling && (this.ctx.canStartInstance?.() ?? true)) {
        host.desiredInstanceCount++;
        placed = fit(host.desiredInstanceCount);
      }
      if (host.desiredInstanceCount !== before) this.scaleHost(host, r.endpointName);
    }
    if (placed >= want) return { placed: want };
    const need = `${req.NumberOfCpuCoresRequired ?? 0} vCPUs, ${req.MinMemoryRequiredInMb} MB and ${req.NumberOfAcceleratorDevicesRequired ?? 0} accelerators`;
    const type = host.spec.InstanceType!;
    const where = `variant ${r.variantName} runs ${host.desiredInstanceCount} ${type} instance${host.desiredInstanceCount === 1 ? '' : 's'} of ${describeCapacity(capacity)} each`;
    const fix = oneFits
      ? `Lower CopyCount or the ComputeResourceRequirements, or give the variant more instances${managed ? ' (a higher ManagedInstanceScaling MaxInstanceCount, within SMKIT_LOCAL_MAX_INSTANCES)' : ' (or ManagedInstanceScaling with Status ENABLED)'} or a larger InstanceType.`
      : capacity.accelerators === 0 && (req.NumberOfAcceleratorDevicesRequired ?? 0) > 0
        ? `${type} has no accelerators: leave out NumberOfAcceleratorDevicesRequired, or use an InstanceType with GPUs (ml.g5, ml.g4dn, ml.p3).`
        : `One copy needs more than one ${type} instance has: lower the ComputeResourceRequirements or use a larger InstanceType.`;
    return { placed, reason: `smkit local: ${want - placed} of ${want} copies cannot be placed and are not started: each copy needs ${need}; ${where}, with no room left for them beside the copies placed. ${fix}` };
  }

  /**
   * After copies left the variant (or their component failed): the copies of its other components
   * that did not fit are placed and started where there is room now, oldest component first; then
   * the instances no longer needed are released. A component not InService is passed over: it calls
   * this again once it is.
   */
  private copiesLeft(endpointName: string, variantName: string): void {
    for (const r of this.records.values()) {
      if (r.endpointName !== endpointName || r.variantName !== variantName || r.status !== 'InService' || !r.serving || r.placedCopies >= r.desiredCopies) continue;
      const { placed, reason } = this.place(r, r.desiredCopies, r.specification.ComputeResourceRequirements!);
      if (placed <= r.placedCopies) continue;
      const before = r.placedCopies;
      const fleet = r.serving.variants[0]!.fleet;
      r.placedCopies = placed;
      r.failureReason = reason === undefined ? undefined : failureReason(reason);
      // Updating while they start, as for a copy-count change; none placed till now: still at zero until one joins.
      r.startingFromZero = before === 0;
      r.status = 'Updating';
      r.lastModified = new Date();
      this.say(`inference component ${r.name}: ${placed - before} more of its ${r.desiredCopies} copies placed`);
      const previous = r.running;
      r.running = (async () => {
        await previous.catch(() => {});
        let started = true;
        try {
          await fleet.scaleTo(placed);
        } catch (err) {
          started = false;
          r.placedCopies = before;
          r.failureReason = failureReason(`smkit local: ${placed - before} copies placed once there was room did not start: ${(err as Error).message}`);
        }
        r.startingFromZero = undefined;
        if (r.status === 'Deleting') return;
        r.status = 'InService';
        r.lastModified = new Date();
        // Room made while these started; not after a failed start, which would be tried again and again.
        if (started) this.copiesLeft(endpointName, variantName);
      })();
    }
    this.release(endpointName, variantName);
  }

  /** The fewest of `host`'s instances, from `from` up to all it has, that hold the copies placed on it. */
  private fewestHolding(host: VariantState, endpointName: string, variantName: string, from: number): number {
    const capacity = this.capacityOf(host);
    if (!capacity) return from;
    const all = this.placedBeside({ name: '', endpointName, variantName });
    const total = all.reduce((n, d) => n + d.copies, 0);
    const placedOn = (instances: number): number => placeFirstFit(capacity, instances, all).reduce((n, p) => n + p, 0);
    let n = Math.min(from, host.desiredInstanceCount);
    while (n < host.desiredInstanceCount && placedOn(n) < total) n++;
    return n;
  }

  /**
   * With the variant's `ManagedInstanceScaling` ENABLED, releases the instances the placed copies of
   * the components on it no longer need, down to `MinInstanceCount` (0 allowed).
   */
  private release(endpointName: string, variantName: string): void {
    const host = this.host(endpointName, variantName);
    const scaling = host?.spec.ManagedInstanceScaling;
    if (!host || scaling?.Status !== 'ENABLED' || !this.capacityOf(host)) return;
    const n = this.fewestHolding(host, endpointName, variantName, scaling.MinInstanceCount ?? host.spec.InitialInstanceCount ?? 1);
    if (n === host.desiredInstanceCount) return;
    host.desiredInstanceCount = n;
    this.scaleHost(host, endpointName);
  }

  /**
   * Throws when `UpdateEndpointWeightsAndCapacities` would leave a variant of endpoint `endpointName`
   * fewer instances than the copies placed on it take: they would run on instances that are gone.
   */
  checkCapacityUpdate(endpointName: string, desired: ReadonlyArray<{ VariantName?: string; DesiredInstanceCount?: number }>): void {
    const serving = this.store.endpoints.get(endpointName)?.serving;
    if (!serving || !hostsInferenceComponents(serving.config)) return;
    for (const d of desired) {
      if (d.DesiredInstanceCount === undefined || d.VariantName === undefined) continue;
      const host = this.host(endpointName, d.VariantName);
      if (!host || !this.capacityOf(host)) continue;
      const need = this.fewestHolding(host, endpointName, d.VariantName, 0);
      if (d.DesiredInstanceCount >= need) continue;
      const on = [...this.records.values()].filter((r) => r.endpointName === endpointName && r.variantName === d.VariantName && r.placedCopies > 0).map((r) => r.name);
      throw validation(
        `Cannot lower variant "${d.VariantName}" of endpoint "${this.store.arn('endpoint', endpointName)}" to ${d.DesiredInstanceCount} instance(s): the copies of inference components [${on.join(', ')}] placed on it take ${need} ${host.spec.InstanceType} instance(s). Lower their copy counts first (UpdateInferenceComponentRuntimeConfig), or give DesiredInstanceCount ${need} or more.`,
      );
    }
  }

  /**
   * After `UpdateEndpoint` moved endpoint `endpointName` onto a new configuration: the copies of its
   * components route as the new configuration's variants say, and copies waiting for room are
   * placed on the instances it now has.
   */
  endpointUpdated(endpointName: string): void {
    for (const r of this.records.values()) {
      if (r.endpointName !== endpointName) continue;
      this.routeAsHost(r, r.serving);
      this.routeAsHost(r, r.rollingTo);
    }
    this.capacityChanged(endpointName);
  }

  /** After `UpdateEndpointWeightsAndCapacities` or `UpdateEndpoint` on endpoint `endpointName`: copies waiting for room are placed on the instances it now has. */
  capacityChanged(endpointName: string): void {
    const serving = this.store.endpoints.get(endpointName)?.serving;
    // An endpoint whose variants name models keeps the instance count it was given.
    if (!serving || !hostsInferenceComponents(serving.config)) return;
    for (const v of serving.variants) this.copiesLeft(endpointName, v.spec.VariantName);
  }

  /** Brings the host variant's instances to its `desiredInstanceCount`, one change after another. */
  private scaleHost(host: VariantState, endpointName: string): void {
    this.say(`endpoint ${endpointName}: variant ${host.spec.VariantName} to ${host.desiredInstanceCount} instances (ManagedInstanceScaling)`);
    const previous = this.hostScaling.get(host) ?? Promise.resolve();
    this.hostScaling.set(
      host,
      previous.then(() => host.fleet.scaleTo(host.desiredInstanceCount)).catch((err: Error) => this.ctx.log?.('warn', 'scaling the instances of an endpoint for inference components failed', { endpoint: endpointName, error: err.message })),
    );
  }

  /** The model a specification runs: its `ModelName`, or one made of its `Container`. Throws when it names neither, or both. */
  private modelOf(name: string, spec: InferenceComponentSpecification | undefined, specs: unknown): ModelRecord {
    if (specs !== undefined) throw validation('Specifications (one specification per instance type) is not supported by the local SageMaker: give one Specification.');
    if (!spec) throw validation('Specification is required: name the model (ModelName) or its container (Container), and its ComputeResourceRequirements.');
    const base = spec.BaseInferenceComponentName;
    if (base !== undefined) {
      // The base must exist, as the service requires, before the local SageMaker says it runs no adapters.
      if (!this.records.has(base)) throw validation(`Could not find inference component "${this.arnOf(base)}" (BaseInferenceComponentName): an adapter inference component needs an existing base inference component.`);
      throw validation(`Adapter inference components (BaseInferenceComponentName "${base}") are not supported by the local SageMaker: deploy the adapted model as an inference component of its own (ModelName or Container).`);
    }
    if (spec.ComputeResourceRequirements === undefined) throw validation('Specification.ComputeResourceRequirements is required (MinMemoryRequiredInMb at least): it is left out only for an adapter inference component.');
    const req = spec.ComputeResourceRequirements;
    if (req.MaxMemoryRequiredInMb !== undefined && req.MaxMemoryRequiredInMb < req.MinMemoryRequiredInMb) {
      throw validation(`MaxMemoryRequiredInMb (${req.MaxMemoryRequiredInMb}) must be at least MinMemoryRequiredInMb (${req.MinMemoryRequiredInMb}).`);
    }
    if ((spec.ModelName === undefined) === (spec.Container === undefined)) throw validation('Specify either ModelName or Container in Specification, not both and not neither.');
    if (spec.ModelName !== undefined) {
      const model = this.store.models.get(spec.ModelName);
      if (!model) throw validation(`Could not find model "${this.store.arn('model', spec.ModelName)}".`);
      return model;
    }
    const c = spec.Container!;
    const nul = nulEnvironmentValue(c.Environment, 'Specification.Container.Environment');
    if (nul !== undefined) throw validation(nul);
    if (c.ArtifactUrl !== undefined && !ARTIFACT_URL.test(c.ArtifactUrl)) {
      throw validation(`Container.ArtifactUrl "${c.ArtifactUrl}" must be an s3:// URL of a model.tar.gz (or, locally, a file:// URL or an absolute path).`);
    }
    return {
      name,
      arn: this.arnOf(name),
      createdAt: new Date(),
      containers: [{ ...(c.Image === undefined ? {} : { Image: c.Image }), ...(c.ArtifactUrl === undefined ? {} : { ModelDataUrl: c.ArtifactUrl }), ...(c.Environment === undefined ? {} : { Environment: c.Environment }) }],
      primary: true,
    };
  }

  /** `ServiceUnavailable` once the local SageMaker is stopping: copies started then would outlive it. */
  private checkStopping(operation: string): void {
    if (this.stopping) {
      throw new AwsServiceError('ServiceUnavailable', `The local SageMaker is stopping and starts no more inference component copies: send ${operation} again once smkit local has been started again.`, 503);
    }
  }

  private create(input: Input): Output {
    this.checkStopping('CreateInferenceComponent');
    const name = String(input.InferenceComponentName);
    const arn = this.arnOf(name);
    const lower = name.toLowerCase();
    if ([...this.records.keys()].some((k) => k.toLowerCase() === lower)) throw validation(`Cannot create already existing inference component "${arn}".`);
    const endpointName = String(input.EndpointName);
    const endpoint = this.store.endpoints.get(endpointName);
    if (!endpoint) throw validation(`Could not find endpoint "${this.store.arn('endpoint', endpointName)}".`);
    const config = endpoint.serving?.config ?? this.store.endpointConfigs.get(endpoint.configName);
    // The service's words (quoted in hashicorp/terraform-provider-aws#40644) for an endpoint whose variants name a model.
    if (!config || !hostsInferenceComponents(config)) throw validation('Inference Components are not supported in this Endpoint. Please make sure this endpoint can deploy inference components.');
    if (endpoint.status !== 'InService') throw validation(`Cannot create inference component "${arn}" on endpoint "${endpoint.arn}" while it is ${endpoint.status}: wait until it is InService.`);
    const variants = config.productionVariants.map((v) => v.VariantName);
    const variantName = input.VariantName === undefined ? (variants.length === 1 ? variants[0]! : undefined) : String(input.VariantName);
    if (variantName === undefined) throw validation(`VariantName is required: endpoint "${endpoint.arn}" has variants [${variants.join(', ')}].`);
    if (!variants.includes(variantName)) throw validation(`The variant "${variantName}" is not present in the endpoint "${endpoint.arn}".`);
    const spec = input.Specification as InferenceComponentSpecification | undefined;
    const model = this.modelOf(name, spec, input.Specifications);
    const runtime = input.RuntimeConfig as { CopyCount: number } | undefined;
    if (!runtime) throw validation('RuntimeConfig is required: give CopyCount, the number of copies of the model to run.');
    this.checkCopies(runtime.CopyCount);
    const { placed, reason } = this.place({ name, endpointName, variantName }, runtime.CopyCount, spec!.ComputeResourceRequirements!);
    const now = new Date();
    const record: InferenceComponentRecord = {
      name,
      arn,
      endpointName,
      variantName,
      createdAt: now,
      lastModified: now,
      status: 'Creating',
      specification: spec!,
      desiredCopies: runtime.CopyCount,
      placedCopies: placed,
      ...(reason === undefined ? {} : { failureReason: failureReason(reason) }),
      running: Promise.resolve(),
    };
    this.records.set(name, record);
    const task = new AbortController();
    record.task = task;
    this.say(`creating inference component ${name} on endpoint ${endpointName} (${runtime.CopyCount} copies)`);
    record.running = (async () => {
      try {
        record.serving = await this.start(record, model, spec!, record.placedCopies, task.signal);
        record.status = 'InService';
        record.servingSince = Date.now();
        this.say(`inference component ${name} is InService`);
        // Room made while it was Creating (copiesLeft passes over a component not InService).
        this.copiesLeft(record.endpointName, record.variantName);
      } catch (err) {
        if (task.signal.aborted) return;
        record.status = 'Failed';
        record.placedCopies = 0;
        this.copiesLeft(record.endpointName, record.variantName);
        record.failureReason = err instanceof DeploymentError ? failureReason(err.reason) : failureReason(`Inference component creation failed: ${(err as Error).message}`);
        this.say(`inference component ${name} Failed: ${record.failureReason}`);
      } finally {
        record.lastModified = new Date();
        if (record.task === task) record.task = undefined;
      }
    })();
    return { InferenceComponentArn: arn };
  }

  /** Starts `copies` copies of `model` for `record`, as one variant's instances; stops them again if the start is cancelled. */
  private async start(record: InferenceComponentRecord, model: ModelRecord, spec: InferenceComponentSpecification, copies: number, signal: AbortSignal): Promise<Deployment> {
    const health = spec.StartupParameters?.ContainerStartupHealthCheckTimeoutInSeconds;
    const download = spec.StartupParameters?.ModelDataDownloadTimeoutInSeconds;
    // The copies run on the host variant's instances: a GPU InstanceType gives their containers the GPUs.
    const instanceType = this.host(record.endpointName, record.variantName)?.spec.InstanceType;
    const config: EndpointConfigRecord = {
      name: record.name,
      arn: record.arn,
      createdAt: new Date(),
      productionVariants: [
        {
          VariantName: record.variantName,
          ModelName: model.name,
          InitialInstanceCount: copies,
          ...(instanceType === undefined ? {} : { InstanceType: instanceType }),
          ...(health === undefined ? {} : { ContainerStartupHealthCheckTimeoutInSeconds: health }),
          ...(download === undefined ? {} : { ModelDataDownloadTimeoutInSeconds: download }),
        },
      ],
    };
    // Its invocations are measured as the component's too (CloudWatch's InferenceComponentName
    // dimension), and as its variant's, whose InvocationsPerInstance counts the endpoint's instances.
    const hostInstances = (): number => this.store.endpoints.get(record.endpointName)?.serving?.variants.find((v) => v.spec.VariantName === record.variantName)?.fleet.size ?? 0;
    const ctx: DeploymentContext = this.ctx.metrics ? { ...this.ctx, metrics: componentMetricsSink(this.ctx.metrics, record.name, hostInstances) } : this.ctx;
    // Each copy's containers are held to MaxMemoryRequiredInMb (docker run --memory), as the service caps a copy's memory.
    const memoryMb = spec.ComputeResourceRequirements?.MaxMemoryRequiredInMb;
    // And each copy takes the accelerators it asks for (whole devices) to itself, as on SageMaker, not every GPU.
    const accelerators = spec.ComputeResourceRequirements?.NumberOfAcceleratorDevicesRequired;
    const gpuCount = accelerators !== undefined && accelerators >= 1 ? Math.ceil(accelerators) : undefined;
    const deployment = await startDeployment(ctx, record.endpointName, config, { signal, model, counts: new Map([[record.variantName, copies]]), ...(memoryMb === undefined ? {} : { memoryMb }), ...(gpuCount === undefined ? {} : { gpuCount }) });
    if (signal.aborted) {
      await deployment.stop();
      throw signal.reason;
    }
    // Read once the copies have started, not before: an UpdateEndpoint may have changed the host's RoutingConfig meanwhile.
    this.routeAsHost(record, deployment);
    return deployment;
  }

  /**
   * Gives the copies of `deployment` (one of `record`'s) the routing of their host variant: with
   * `RoutingStrategy` `PREFIX_AWARE`, an invocation goes to the copy that owns its prefix as an
   * instance of such a variant does; with any other strategy, to the least busy copy.
   */
  private routeAsHost(record: InferenceComponentRecord, deployment: Deployment | undefined): void {
    const runtime = deployment?.variants[0]?.runtime;
    if (!runtime) return;
    const host = this.host(record.endpointName, record.variantName);
    const { prefixAware } = host ? prefixAwareRouting(host.spec) : {};
    if (prefixAware) runtime.prefixAware = prefixAware;
    else delete runtime.prefixAware;
  }

  private describe(name: string): Output {
    const r = this.component(name);
    const s = r.specification;
    const c = s.Container;
    return {
      InferenceComponentName: r.name,
      InferenceComponentArn: r.arn,
      EndpointName: r.endpointName,
      EndpointArn: this.store.arn('endpoint', r.endpointName),
      VariantName: r.variantName,
      ...(r.failureReason === undefined ? {} : { FailureReason: r.failureReason }),
      Specification: {
        ...(s.InstanceType === undefined ? {} : { InstanceType: s.InstanceType }),
        ...(s.ModelName === undefined ? {} : { ModelName: s.ModelName }),
        ...(c
          ? {
              Container: {
                ...(c.Image === undefined ? {} : { DeployedImage: { SpecifiedImage: c.Image, ResolvedImage: c.Image, ResolutionTime: epochSeconds(r.createdAt) } }),
                ...(c.ArtifactUrl === undefined ? {} : { ArtifactUrl: c.ArtifactUrl }),
                ...(c.Environment === undefined ? {} : { Environment: c.Environment }),
                ...(c.ContainerMetricsConfig === undefined ? {} : { ContainerMetricsConfig: c.ContainerMetricsConfig }),
              },
            }
          : {}),
        ...(s.StartupParameters === undefined ? {} : { StartupParameters: s.StartupParameters }),
        ...(s.ComputeResourceRequirements === undefined ? {} : { ComputeResourceRequirements: s.ComputeResourceRequirements }),
        ...(s.BaseInferenceComponentName === undefined ? {} : { BaseInferenceComponentName: s.BaseInferenceComponentName }),
        ...(s.DataCacheConfig === undefined ? {} : { DataCacheConfig: s.DataCacheConfig }),
        ...(s.SchedulingConfig === undefined ? {} : { SchedulingConfig: s.SchedulingConfig }),
      },
      RuntimeConfig: { DesiredCopyCount: r.desiredCopies, CurrentCopyCount: (r.serving?.variants[0]?.fleet.size ?? 0) + (r.rollingTo?.variants[0]?.fleet.size ?? 0) },
      CreationTime: epochSeconds(r.createdAt),
      LastModifiedTime: epochSeconds(r.lastModified),
      InferenceComponentStatus: r.status,
      ...(r.lastDeploymentConfig === undefined ? {} : { LastDeploymentConfig: r.lastDeploymentConfig }),
    };
  }

  private list(input: Input): Output {
    const endpoint = input.EndpointNameEquals as string | undefined;
    const variant = input.VariantNameEquals as string | undefined;
    const all = [...this.records.values()].filter((r) => (endpoint === undefined || r.endpointName === endpoint) && (variant === undefined || r.variantName === variant));
    const page = listPage('ListInferenceComponents', all, input as ListInput, (r) => ({ name: r.name, createdAt: r.createdAt, lastModified: r.lastModified, status: r.status }));
    return {
      InferenceComponents: page.items.map((r) => ({
        CreationTime: epochSeconds(r.createdAt),
        InferenceComponentArn: r.arn,
        InferenceComponentName: r.name,
        EndpointArn: this.store.arn('endpoint', r.endpointName),
        EndpointName: r.endpointName,
        VariantName: r.variantName,
        InferenceComponentStatus: r.status,
        LastModifiedTime: epochSeconds(r.lastModified),
      })),
      ...(page.nextToken ? { NextToken: page.nextToken } : {}),
    };
  }

  /** Throws unless the component is InService (or, when `failedToo`, Failed: a new specification may mend it). */
  private requireInService(r: InferenceComponentRecord, failedToo = false): void {
    if (r.status === 'InService' || (failedToo && r.status === 'Failed')) return;
    if (r.status === 'Failed') throw validation(`Cannot change the copy count of inference component "${r.arn}": it is Failed (see its FailureReason). Give it a new Specification (UpdateInferenceComponent), or delete it.`);
    throw validation(`Cannot update in-progress inference component "${r.arn}": it is ${r.status}.`);
  }

  /** `UpdateInferenceComponentRuntimeConfig`, and an `UpdateInferenceComponent` that changes only `RuntimeConfig`. */
  private setCopies(r: InferenceComponentRecord, copies: number, operation: string): Output {
    this.checkStopping(operation);
    this.requireInService(r);
    const fleet = r.serving!.variants[0]!.fleet;
    this.checkCopies(copies - Math.max(r.desiredCopies, fleet.size));
    const before = r.desiredCopies;
    const placedBefore = r.placedCopies;
    const { placed, reason } = this.place(r, copies, r.specification.ComputeResourceRequirements!);
    r.desiredCopies = copies;
    r.placedCopies = placed;
    r.startingFromZero = before === 0;
    r.status = 'Updating';
    r.failureReason = reason === undefined ? undefined : failureReason(reason);
    r.lastModified = new Date();
    this.say(`inference component ${r.name}: from ${fleet.size} to ${copies} copies${placed < copies ? ` (${placed} placed)` : ''}`);
    r.running = (async () => {
      let failed = false;
      try {
        await fleet.scaleTo(placed);
      } catch (err) {
        failed = true;
        r.desiredCopies = before;
        r.placedCopies = placedBefore;
        r.failureReason = failureReason(`The copy count update failed: ${copies} copies could not start: ${(err as Error).message}`);
      }
      r.startingFromZero = undefined;
      if (r.status === 'Deleting') return;
      r.status = 'InService';
      r.lastModified = new Date();
      this.onCopiesChanged?.(r.name, { copies: r.desiredCopies, ...(failed && r.failureReason !== undefined ? { failureReason: r.failureReason } : {}) });
      // Once InService, so that its own copies still waiting are placed too if room was made meanwhile.
      this.copiesLeft(r.endpointName, r.variantName);
    })();
    return { InferenceComponentArn: r.arn };
  }

  private update(input: Input): Output {
    const r = this.component(String(input.InferenceComponentName));
    const spec = input.Specification as InferenceComponentSpecification | undefined;
    const runtime = input.RuntimeConfig as { CopyCount: number } | undefined;
    if (spec === undefined && input.Specifications === undefined) {
      if (!runtime) throw validation('UpdateInferenceComponent changes nothing: give Specification, RuntimeConfig or both.');
      return this.setCopies(r, runtime.CopyCount, 'UpdateInferenceComponent');
    }
    this.checkStopping('UpdateInferenceComponent');
    this.requireInService(r, true);
    const model = this.modelOf(r.name, spec, input.Specifications);
    const rolling = (input.DeploymentConfig as { RollingUpdatePolicy?: ComponentRollingPolicy } | undefined)?.RollingUpdatePolicy;
    if (rolling) checkRollingPolicy(rolling);
    const copies = runtime?.CopyCount ?? r.desiredCopies;
    const blue = r.serving;
    const outgoing = blue && r.status !== 'Failed' ? Math.max(r.desiredCopies, blue.variants[0]!.fleet.size) : 0;
    // Rolled out batch by batch when there are old copies to roll from: those and one batch are held, not all the new copies beside them.
    const rollingCopies = rolling && blue ? rolloutCopies(rolling, outgoing, copies) : undefined;
    const earlier = r.outgoingCopies ?? 0;
    // The new copies start beside the old ones, and are placed in their stead.
    this.checkCopies((rollingCopies === undefined ? earlier + outgoing + copies : earlier + Math.max(copies, rollingCopies)) - this.copiesHeld(r));
    const { placed, reason: unplaced } = this.place(r, copies, spec!.ComputeResourceRequirements!);
    if (input.DeploymentConfig !== undefined) r.lastDeploymentConfig = input.DeploymentConfig as Record<string, unknown>;
    const copiesBefore = r.desiredCopies;
    // DesiredCopyCount is the count asked for from now on; the old copies count against the limit until they stop.
    // Summed, not set: the old copies of an update before this one may still be stopping.
    if (rollingCopies === undefined) r.outgoingCopies = earlier + outgoing;
    r.rollingCopies = rollingCopies;
    r.desiredCopies = copies;
    r.status = 'Updating';
    r.failureReason = undefined;
    r.lastModified = new Date();
    const task = new AbortController();
    r.task = task;
    this.say(`updating inference component ${r.name} (${copies} copies)`);
    const previous = r.running;
    r.running = (async () => {
      await previous.catch(() => {});
      try {
        const alarms = ((input.DeploymentConfig as { AutoRollbackConfiguration?: { Alarms?: Array<{ AlarmName?: string }> } } | undefined)?.AutoRollbackConfiguration?.Alarms ?? []).flatMap((a) => (a.AlarmName === undefined ? [] : [a.AlarmName]));
        const green =
          rolling && blue && placed > 0
            ? await rollOut({
                name: r.name,
                blue,
                copies: placed,
                policy: rolling,
                start: (copies) => this.start(r, model, spec!, copies, task.signal),
                serveBeside: (next) => (r.rollingTo = next),
                holding: (n) => (r.rollingCopies = n),
                room: () => this.rolloutRoom(r),
                alarmFiring: () => this.alarmFiring(alarms),
                alarmPollMs: this.alarmPollMs,
                now: this.now,
                signal: task.signal,
              })
            : await this.start(r, model, spec!, placed, task.signal);
        r.serving = green;
        r.rollingTo = undefined;
        r.specification = spec!;
        r.placedCopies = placed;
        if (unplaced !== undefined) r.failureReason = failureReason(unplaced);
        // The old copies a rollout left (none, unless no new copy was placed) count as an update's until they stop.
        const left = rollingCopies === undefined ? outgoing : blue!.variants[0]!.fleet.size;
        if (rollingCopies !== undefined) {
          r.rollingCopies = undefined;
          if (left > 0) r.outgoingCopies = (r.outgoingCopies ?? 0) + left;
        }
        r.status = 'InService';
        this.say(`inference component ${r.name} is InService on its new specification`);
        await blue?.stop({ waitForRequests: true });
        this.outgoingStopped(r, left);
        this.copiesLeft(r.endpointName, r.variantName);
      } catch (err) {
        if (task.signal.aborted) return;
        // The new copies have stopped (rollOut and start stop what they started before throwing).
        r.desiredCopies = copiesBefore;
        if (rollingCopies === undefined) this.outgoingStopped(r, outgoing);
        else r.rollingCopies = undefined;
        const reason = err instanceof DeploymentError ? err.reason : (err as Error).message;
        // A Failed component has no old copies to go back to.
        r.failureReason = failureReason(err instanceof ComponentRollbackError || !blue ? reason : `The update failed and was rolled back: ${reason}`);
        r.status = blue ? 'InService' : 'Failed';
        this.copiesLeft(r.endpointName, r.variantName);
        this.say(`inference component ${r.name}: update failed: ${r.failureReason}`);
      } finally {
        r.lastModified = new Date();
        if (r.task === task) r.task = undefined;
      }
    })();
    return { InferenceComponentArn: r.arn };
  }

  private delete(name: string): Output {
    const r = this.component(name);
    if (r.status === 'Deleting') return {};
    r.status = 'Deleting';
    r.lastModified = new Date();
    r.task?.abort(new Error(`inference component ${name} is being deleted`));
    this.say(`deleting inference component ${name}`);
    const previous = r.running;
    const scaling = this.deregisterScaling(name);
    r.running = (async () => {
      // Stopped while the change under way runs, as at the local SageMaker's stop (stopAll).
      const serving = r.serving;
      await Promise.all([previous.catch(() => {}), serving?.stop(), scaling]);
      if (r.serving !== serving) await r.serving?.stop();
      r.serving = undefined;
      r.placedCopies = 0;
      if (this.records.get(name) === r) {
        this.records.delete(name);
        this.copiesLeft(r.endpointName, r.variantName);
        // Its tags go with it, not at DeleteInferenceComponent, as an endpoint's do.
        this.store.tags.delete(r.arn);
      }
      this.say(`inference component ${name} deleted`);
    })();
    return {};
  }

  /** The first of the alarms `names` in ALARM, if any (CloudWatch unreachable: none). */
  private alarmFiring(names: readonly string[]): Promise<string | undefined> {
    return firstAlarmFiring(names.length === 0 ? undefined : this.alarms(), names, this.ctx.log);
  }

  /**
   * Deregisters the scalable target on component `name` (which deletes its scaling policies and
   * scheduled actions), through Application Auto Scaling's own operations, as deleting an endpoint
   * deregisters its variants' targets: a target left behind would name a component that is gone,
   * and one of the same name created later would inherit its policies.
   */
  private async deregisterScaling(name: string): Promise<void> {
    const autoscaling = this.autoscaling();
    if (!autoscaling) return;
    const resourceId = `inference-component/${name}`;
    try {
      const page = (await autoscaling.call('DescribeScalableTargets', { ServiceNamespace: 'sagemaker', ResourceIds: [resourceId] })) as { ScalableTargets?: Array<{ ResourceId: string; ScalableDimension: string }> };
      for (const t of page.ScalableTargets ?? []) await autoscaling.call('DeregisterScalableTarget', { ServiceNamespace: 'sagemaker', ResourceId: t.ResourceId, ScalableDimension: t.ScalableDimension });
    } catch (err) {
      this.ctx.log?.('warn', 'deregistering the scalable target of a deleted inference component failed', { inferenceComponent: name, error: (err as Error).message });
    }
  }

  /** Stops every component's copies (server shutdown); calls that would start copies are refused from then on. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const all = [...this.records.values()];
    for (const r of all) r.task?.abort(new Error('the local SageMaker is stopping'));
    await Promise.all(
      all.map(async (r) => {
        // Stopped while its change runs, not after: a copy-count change ends only once the copies it
        // starts pass /ping or time out, unless their fleet's stop cuts those starts short.
        const serving = r.serving;
        await Promise.all([r.running.catch(() => {}), serving?.stop()]);
        // A new specification's copies that started before its task was aborted.
        if (r.serving !== serving) await r.serving?.stop();
      }),
    );
  }

  private say(line: string): void {
    this.ctx.progress?.(`smkit local: ${line}`);
  }
}
