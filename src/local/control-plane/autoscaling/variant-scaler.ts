import { AwsServiceError, type AwsService } from '../../../aws/service.js';
import type { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import type { MetricClock } from '../cloudwatch/metric-clock.js';
import type { MetricStore } from '../cloudwatch/metric-store.js';
import { statisticValue } from '../cloudwatch/statistics.js';
import {
  DEFAULT_COOLDOWN_SECONDS,
  trackedMetric,
  type ApplicationAutoScalingService,
  type NotScaledReason,
  type ScalableTargetRecord,
  type ScalingPolicyRecord,
  type StepScalingPolicyRecord,
  type TargetTrackingPolicyRecord,
  type TrackedMetric,
} from './autoscaling-service.js';
import { decideScaling, type ScalingDecision } from './target-tracking.js';
import { decideStep } from './step-scaling.js';
import { isComponent } from './resources.js';

/** How a scaling activity's cause names each predefined metric's value. */
const METRIC_LABELS: Readonly<Record<string, string>> = {
  InvocationsPerInstance: 'invocations per instance per minute',
  ConcurrentRequestsPerModel: 'concurrent requests per model (Maximum)',
  InvocationsPerCopy: 'invocations per copy per minute',
  ConcurrentRequestsPerCopy: 'concurrent requests per copy (Maximum)',
};

/** Options of {@link VariantScaler}. */
export interface VariantScalerOptions {
  readonly autoscaling: ApplicationAutoScalingService;
  readonly cloudwatch: CloudWatchService;
  readonly metrics: MetricStore;
  /** The local SageMaker: read with DescribeEndpoint, scaled with UpdateEndpointWeightsAndCapacities. */
  readonly sagemaker: AwsService;
  readonly clock: MetricClock;
  /** Called with each scaling failure (the CLI logs it). */
  readonly onError?: (resourceId: string, err: unknown) => void;
}

interface VariantDescription {
  status: string;
  current: number;
  failureReason?: string;
}

/** A policy's proposed change, and what the scaler does once it is applied. */
interface Candidate {
  readonly decision: ScalingDecision | undefined;
  readonly cause: (decision: ScalingDecision) => string;
  readonly applied: (decision: ScalingDecision, now: number) => void;
  /** Which way the policy's alarm asks to scale (whether or not there is a decision). */
  readonly asked?: 'out' | 'in';
  /** The cause of a not-scaled activity for what it asked. */
  readonly askedCause?: () => string;
}

/**
 * Really scales local variants: on each tick, for every registered target it reads the variant
 * through SageMaker's DescribeEndpoint, decides with {@link decideScaling} from the
 * target-tracking policies' alarm states and the latest value of their metric, and with
 * {@link decideStep} for the step policies their alarms invoked, and changes the instance count
 * through SageMaker's public `UpdateEndpointWeightsAndCapacities`. An endpoint that is not
 * `InService` is left alone; a step policy's invocation waits for it.
 */
export class VariantScaler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /**
   * The change SageMaker last refused, per target (its resource ID): when, and to what capacity. A
   * refused change starts no cooldown, so without this every pass (every 2 s) would ask again, each
   * a Failed activity and a warning, while a limit holds; it is asked again a minute later, as an
   * alarm in ALARM invokes its scaling action again once a minute. Kept by the target's record, not
   * its resource ID: a target deregistered (and registered anew) starts afresh, and its record goes.
   */
  private readonly refused = new WeakMap<ScalableTargetRecord, { at: number; desired: number }>();
  /**
   * The targets whose change the scaler is asking SageMaker for (its call not returned yet), with how
   * that change settled if it settled meanwhile (see {@link changeSettled}).
   */
  private readonly asking = new WeakMap<ScalableTargetRecord, { variant: VariantDescription | undefined } | undefined>();

  constructor(private readonly opts: VariantScalerOptions) {}

  /** Starts the scaling loop (unref'd). */
  start(): void {
    if (this.timer) return;
    const tick = Math.min(2000, Math.max(100, this.opts.clock.durationMs(10)));
    this.timer = setInterval(() => void this.tick(), tick);
    this.timer.unref();
  }

  /** Stops the loop and waits for a tick in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs one scaling pass over every target (ticks never overlap). */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      this.opts.autoscaling.runScheduledActions(this.opts.clock.now());
      for (const { target, policies } of this.opts.autoscaling.scalingState()) {
        try {
          await this.scaleTarget(target, policies);
        } catch (err) {
          this.opts.onError?.(target.resourceId, err);
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async describe(target: ScalableTargetRecord): Promise<VariantDescription | undefined> {
    const ref = target.variant;
    if (isComponent(ref)) return this.describeComponent(ref.componentName);
    let out: Record<string, unknown>;
    try {
      out = await this.opts.sagemaker.call('DescribeEndpoint', { EndpointName: ref.endpointName });
    } catch (err) {
      // No endpoint (yet, or any more: deleting one deregisters its targets): nothing to scale.
      if (err instanceof AwsServiceError) return undefined;
      throw err;
    }
    const variant = ((out.ProductionVariants as Array<Record<string, unknown>> | undefined) ?? []).find((v) => v.VariantName === ref.variantName);
    if (!variant) return undefined;
    const current = (variant.DesiredInstanceCount ?? variant.CurrentInstanceCount) as number | undefined;
    if (typeof current !== 'number') return undefined;
    return { status: String(out.EndpointStatus), current, ...(typeof out.FailureReason === 'string' ? { failureReason: out.FailureReason } : {}) };
  }

  /** An inference component's status and desired copy count, through SageMaker's DescribeInferenceComponent. */
  private async describeComponent(name: string): Promise<VariantDescription | undefined> {
    let out: Record<string, unknown>;
    try {
      out = await this.opts.sagemaker.call('DescribeInferenceComponent', { InferenceComponentName: name });
    } catch (err) {
      // No component (yet, or any more): nothing to scale.
      if (err instanceof AwsServiceError) return undefined;
      throw err;
    }
    const copies = (out.RuntimeConfig as { DesiredCopyCount?: unknown } | undefined)?.DesiredCopyCount;
    if (typeof copies !== 'number') return undefined;
    return { status: String(out.InferenceComponentStatus), current: copies, ...(typeof out.FailureReason === 'string' ? { failureReason: out.FailureReason } : {}) };
  }

  /**
   * Ends the activities of the changes SageMaker was carrying out on the variants of endpoint
   * `endpoint` once that change has settled, with the variants' instance counts then. Waiting for
   * the next pass to read them could let an `UpdateEndpoint` started meanwhile replace the fleet,
   * and a change SageMaker did carry out would read as one it did not.
   */
  capacitySettled(endpoint: string, settled: { readonly counts: ReadonlyMap<string, number>; readonly failureReason?: string }): void {
    for (const { target } of this.opts.autoscaling.scalingState()) {
      const ref = target.variant;
      if (isComponent(ref) || ref.endpointName !== endpoint) continue;
      const current = settled.counts.get(ref.variantName);
      this.changeSettled(target, current === undefined ? undefined : { status: 'InService', current, ...(settled.failureReason === undefined ? {} : { failureReason: settled.failureReason }) });
    }
  }

  /** As {@link capacitySettled}, for a copy count change of inference component `component`. */
  copiesSettled(component: string, settled: { readonly copies: number; readonly failureReason?: string }): void {
    for (const { target } of this.opts.autoscaling.scalingState()) {
      const ref = target.variant;
      if (!isComponent(ref) || ref.componentName !== component) continue;
      this.changeSettled(target, { status: 'InService', current: settled.copies, ...(settled.failureReason === undefined ? {} : { failureReason: settled.failureReason }) });
    }
  }

  /**
   * A change of the target's resource has settled as `variant` says. A change the scaler is still
   * asking for (its call not returned yet) can settle before the call returns, when it has nothing
   * to start (copies waiting for room): kept until the call returns, it ends that change's activity
   * then, and a later change (another caller's) cannot end it with its own count.
   */
  private changeSettled(target: ScalableTargetRecord, variant: VariantDescription | undefined): void {
    if (target.unfulfilled) this.settle(target, variant);
    else if (this.asking.has(target)) this.asking.set(target, { variant });
  }

  /** The policy's metric, as its statistic over the latest complete one-minute period (0 without data). */
  private latestValue(metric: TrackedMetric, now: number): number {
    const current = this.opts.metrics.periodIndex(now, 60);
    const [latest] = this.opts.metrics.periods({ namespace: metric.namespace, metricName: metric.metricName, dimensions: metric.dimensions }, current - 1, current, 60);
    return latest && latest.aggregate.count > 0 ? statisticValue(latest.aggregate, metric.statistic) : 0;
  }

  /**
   * Several policies on one target combine as in Application Auto Scaling: the largest scale-out
   * wins; the target scales in only when every target-tracking policy would, by the smallest step,
   * or when a step policy's alarm asks for it (the largest resulting capacity wins).
   */
  private async scaleTarget(target: ScalableTargetRecord, policies: readonly ScalingPolicyRecord[]): Promise<void> {
    const variant = await this.describe(target);
    if (target.unfulfilled) {
      // The activity of the last change is InProgress until SageMaker has carried it out (or undone it).
      if (variant && variant.status !== 'InService' && variant.status !== 'Failed') return;
      this.settle(target, variant);
    }
    if (!variant || variant.status !== 'InService') return;
    const now = this.opts.clock.now();
    const tracking = policies.filter((p): p is TargetTrackingPolicyRecord => p.type === 'TargetTrackingScaling');
    const invoked = policies.filter((p): p is StepScalingPolicyRecord => p.type === 'StepScaling' && p.pending !== undefined);
    const trackingCandidates = (tracking.length > 0 ? tracking : [undefined]).map((policy) => this.trackingCandidate(target, policy, variant.current, now));
    const stepCandidates = invoked.map((policy) => this.stepCandidate(target, policy, variant.current, now));
    for (const p of invoked) p.pending = undefined;
    const largest = (list: Candidate[]) => list.reduce((a, b) => (b.decision!.desired > a.decision!.desired ? b : a));
    const outs = [...trackingCandidates, ...stepCandidates].filter((c) => c.decision?.direction === 'out');
    const trackingIns = trackingCandidates.filter((c) => c.decision?.direction === 'in');
    const ins = [...(trackingIns.length === trackingCandidates.length ? trackingIns : []), ...stepCandidates.filter((c) => c.decision?.direction === 'in')];
    const chosen = outs.length > 0 ? largest(outs) : ins.length > 0 ? largest(ins) : undefined;
    if (!chosen) {
      this.recordNotScaled(target, [...trackingCandidates, ...stepCandidates], variant.current);
      return;
    }
    const refused = this.refused.get(target);
    if (refused && refused.desired === chosen.decision!.desired && now - refused.at < this.opts.clock.durationMs(60)) return;
    await this.apply(target, chosen, now, () => {
      // A scale-out by any policy ends the scale-in cooldowns, the step policies' (user guide, "Cooldown
      // period") and target tracking's (ScaleInCooldown reference: it "stops and doesn't complete"):
      // once it is taken, not when SageMaker refused it and no instance was added.
      if (chosen.decision!.direction === 'out') {
        delete target.lastScaleInAt;
        for (const p of policies) if (p.type === 'StepScaling') delete p.cooldown.scaleInAt;
      }
    });
  }

  /**
   * Records a not-scaled activity for the first policy whose alarm asks to scale past the target's
   * limit: out at the maximum capacity, in at the minimum (Scaling activities for Application Auto
   * Scaling). A policy held back only by a cooldown or a suspension records none.
   */
  private recordNotScaled(target: ScalableTargetRecord, candidates: readonly Candidate[], current: number): void {
    for (const c of candidates) {
      if (c.decision !== undefined || c.asked === undefined || c.askedCause === undefined) continue;
      const reason: NotScaledReason | undefined =
        c.asked === 'out' && current >= target.maxCapacity
          ? { Code: 'AlreadyAtMaxCapacity', MaxCapacity: target.maxCapacity, CurrentCapacity: current }
          : c.asked === 'in' && current <= target.minCapacity
            ? { Code: 'AlreadyAtMinCapacity', MinCapacity: target.minCapacity, CurrentCapacity: current }
            : undefined;
      if (!reason) continue;
      const description = `Attempting to scale-${c.asked} SageMaker ${isComponent(target.variant) ? 'inference component' : 'endpoint variant'} ${target.resourceId}`;
      this.opts.autoscaling.recordNotScaled(target.resourceId, description, c.askedCause(), reason);
      return;
    }
  }

  private trackingCandidate(target: ScalableTargetRecord, policy: TargetTrackingPolicyRecord | undefined, current: number, now: number): Candidate {
    const high = policy ? this.opts.cloudwatch.alarmState(policy.highAlarm) : undefined;
    const low = policy?.lowAlarm && !policy.config.DisableScaleIn ? this.opts.cloudwatch.alarmState(policy.lowAlarm) : undefined;
    const asked = high === 'ALARM' ? 'out' : low === 'ALARM' ? 'in' : undefined;
    return {
      ...(policy && asked ? { asked, askedCause: () => `monitor alarm ${asked === 'out' ? policy.highAlarm : policy.lowAlarm!} in state ALARM triggered policy ${policy.name}` } : {}),
      decision: this.decide(target, policy, current, now),
      cause: (decision) =>
        policy ? `monitor alarm ${decision.direction === 'out' ? policy.highAlarm : policy.lowAlarm ?? policy.highAlarm} in state ALARM triggered policy ${policy.name}: ${decision.cause}` : decision.cause,
      applied: (decision, at) => {
        if (decision.direction === 'in') {
          target.lastScaleInAt = at;
          return;
        }
        // A larger scale-out during the cooldown leaves the cooldown and its starting capacity as they were.
        const cooling = policy !== undefined && target.lastScaleOutAt !== undefined && at - target.lastScaleOutAt < this.opts.clock.durationMs(policy.config.ScaleOutCooldown ?? DEFAULT_COOLDOWN_SECONDS);
        if (!cooling) {
          target.lastScaleOutAt = at;
          target.scaleOutFrom = current;
        }
      },
    };
  }

  /**
   * A step policy's change for its latest alarm invocation. Its cooldown is its own: a scale-out
   * starts it (unless one is running) and a scale-in blocks further scale-ins.
   */
  private stepCandidate(target: ScalableTargetRecord, policy: StepScalingPolicyRecord, current: number, now: number): Candidate {
    const trigger = policy.pending!;
    const step = decideStep({
      current,
      minCapacity: target.minCapacity,
      maxCapacity: target.maxCapacity,
      config: policy.config,
      step: trigger.step,
      cooldownMs: this.opts.clock.durationMs(policy.config.Cooldown ?? DEFAULT_COOLDOWN_SECONDS),
      state: policy.cooldown,
      scaleOutSuspended: target.suspended.DynamicScalingOutSuspended,
      scaleInSuspended: target.suspended.DynamicScalingInSuspended,
      now,
    });
    const change = policy.config.AdjustmentType === 'ExactCapacity' ? trigger.step.ScalingAdjustment - current : trigger.step.ScalingAdjustment;
    const asked = change > 0 ? 'out' : change < 0 ? 'in' : undefined;
    const cause = () => `monitor alarm ${trigger.alarmName} in state ${trigger.state} triggered policy ${policy.name}`;
    return {
      ...(asked ? { asked, askedCause: cause } : {}),
      decision: step && { desired: step.desired, direction: step.direction, cause: '' },
      cause,
      applied: (decision, at) => {
        if (decision.direction === 'in') {
          policy.cooldown.scaleInAt = at;
          return;
        }
        const running = policy.cooldown.scaleOut !== undefined && at - policy.cooldown.scaleOut.at < this.opts.clock.durationMs(policy.config.Cooldown ?? DEFAULT_COOLDOWN_SECONDS);
        if (!running) policy.cooldown.scaleOut = { at, from: step!.base };
      },
    };
  }

  private decide(target: ScalableTargetRecord, policy: TargetTrackingPolicyRecord | undefined, current: number, now: number) {
    const { clock, cloudwatch } = this.opts;
    return decideScaling({
      current,
      minCapacity: target.minCapacity,
      maxCapacity: target.maxCapacity,
      ...(policy
        ? {
            policy: {
              targetValue: policy.config.TargetValue,
              highAlarm: cloudwatch.alarmState(policy.highAlarm),
              lowAlarm: policy.lowAlarm ? cloudwatch.alarmState(policy.lowAlarm) : undefined,
              metricValue: this.latestValue(trackedMetric(policy.config, target), now),
              ...(policy.config.CustomizedMetricSpecification
                ? { metricLabel: `${policy.config.CustomizedMetricSpecification.MetricName} (${policy.config.CustomizedMetricSpecification.Statistic})` }
                : { metricLabel: METRIC_LABELS[trackedMetric(policy.config, target).metricName] ?? 'invocations per instance per minute' }),
              scaleOutCooldownMs: clock.durationMs(policy.config.ScaleOutCooldown ?? DEFAULT_COOLDOWN_SECONDS),
              scaleInCooldownMs: clock.durationMs(policy.config.ScaleInCooldown ?? DEFAULT_COOLDOWN_SECONDS),
              disableScaleIn: policy.config.DisableScaleIn ?? false,
            },
          }
        : {}),
      ...(target.lastScaleOutAt !== undefined ? { lastScaleOutAt: target.lastScaleOutAt } : {}),
      ...(target.scaleOutFrom !== undefined ? { scaleOutFrom: target.scaleOutFrom } : {}),
      ...(target.lastScaleInAt !== undefined ? { lastScaleInAt: target.lastScaleInAt } : {}),
      scaleOutSuspended: target.suspended.DynamicScalingOutSuspended,
      scaleInSuspended: target.suspended.DynamicScalingInSuspended,
      now,
    });
  }

  /**
   * Ends the activity of the change SageMaker was carrying out: Successful once the variant (or
   * component) has the count it was given, Failed when the change was undone (a capacity update
   * that rolled back) or its resource went away.
   */
  private settle(target: ScalableTargetRecord, variant: VariantDescription | undefined): void {
    const { activity, desired, what } = target.unfulfilled!;
    target.unfulfilled = undefined;
    activity.EndTime = this.opts.clock.now();
    if (variant && variant.current === desired) {
      activity.StatusCode = 'Successful';
      activity.StatusMessage = `Successfully set desired ${what} to ${desired}. Change successfully fulfilled by sagemaker.`;
      return;
    }
    activity.StatusCode = 'Failed';
    const why = !variant ? `${isComponent(target.variant) ? 'The inference component' : 'The endpoint variant'} no longer exists` : `SageMaker did not carry out the change (the desired ${what} is ${variant.current})${variant.failureReason ? `: ${variant.failureReason}` : ''}`;
    activity.StatusMessage = `Failed to set desired ${what} to ${desired}. Reason: ${why}.`;
  }

  private async apply(target: ScalableTargetRecord, chosen: Candidate, now: number, taken: () => void): Promise<void> {
    const decision = chosen.decision!;
    const ref = target.variant;
    const what = isComponent(ref) ? 'copy count' : 'instance count';
    const activity = this.opts.autoscaling.startActivity(target.resourceId, `Setting desired ${what} to ${decision.desired}.`, chosen.cause(decision));
    this.asking.set(target, undefined);
    try {
      if (isComponent(ref)) {
        await this.opts.sagemaker.call('UpdateInferenceComponentRuntimeConfig', { InferenceComponentName: ref.componentName, DesiredRuntimeConfig: { CopyCount: decision.desired } });
      } else {
        await this.opts.sagemaker.call('UpdateEndpointWeightsAndCapacities', {
          EndpointName: ref.endpointName,
          DesiredWeightsAndCapacities: [{ VariantName: ref.variantName, DesiredInstanceCount: decision.desired }],
        });
      }
    } catch (err) {
      this.asking.delete(target);
      activity.StatusCode = 'Failed';
      // SageMaker's own example (endpoint-scaling-query-history.html, blocked scaling activities): "Failed to set desired instance count to 110. Reason: The account-level service limit …".
      activity.StatusMessage = `Failed to set desired ${what} to ${decision.desired}. Reason: ${(err as Error).message}`;
      activity.EndTime = this.opts.clock.now();
      this.refused.set(target, { at: now, desired: decision.desired });
      throw err;
    }
    this.refused.delete(target);
    // Only a change SageMaker took starts a cooldown: after a refused one (a limit reached, the
    // endpoint not InService) it may be asked again a minute later (see `refused`), as no capacity
    // was added or taken.
    taken();
    chosen.applied(decision, now);
    // As Application Auto Scaling words it while the target's service carries the change out; the
    // endpoint's change settling ends the activity (capacitySettled), else the next tick that finds
    // the endpoint (or component) settled.
    activity.StatusMessage = `Successfully set desired ${what} to ${decision.desired}. Waiting for change to be fulfilled by sagemaker.`;
    target.unfulfilled = { activity, desired: decision.desired, what };
    const settledMeanwhile = this.asking.get(target);
    this.asking.delete(target);
    if (settledMeanwhile) this.settle(target, settledMeanwhile.variant);
  }
}
