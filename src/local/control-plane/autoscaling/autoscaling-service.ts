import { randomUUID } from 'node:crypto';
import { withoutNulls } from '../../../aws/shapes/validate.js';
import { AwsServiceError, type AwsService } from '../../../aws/service.js';
import { partitionOf } from '../../../aws/partition.js';
import { SAGEMAKER_NAMESPACE as METRICS_NAMESPACE } from '../cloudwatch/metric-store.js';
import type { Statistic } from '../cloudwatch/statistics.js';
import type { CloudWatchService } from '../cloudwatch/cloudwatch-service.js';
import {
  AUTOSCALING_OPERATIONS,
  limitExceeded,
  objectNotFound,
  unknownOperation,
  validationException,
  Violations,
} from './errors.js';
import { paginate } from './paginate.js';
import { readTargetTrackingConfig, type TargetTrackingConfig } from './target-tracking-config.js';
import { checkTimezone, nextRun, parseSchedule, type Schedule } from './schedule.js';
import { readStepScalingConfig, type StepScalingConfig } from './step-scaling-config.js';
import type { StepCooldownState } from './step-scaling.js';
import type { StepTrigger } from './step-policy-invocation.js';
import { checkIdList, COMPONENT_METRICS, CONCURRENT_REQUESTS_PER_COPY, CONCURRENT_REQUESTS_PER_MODEL, INVOCATIONS_PER_COPY, INVOCATIONS_PER_INSTANCE, isComponent, isInt32, parseResourceId, readTargetKey, SAGEMAKER_NAMESPACE, scalableDimension, VARIANT_INSTANCE_COUNT, VARIANT_METRICS, XML_STRING, XML_STRING_PATTERN, type ScalableRef, type VariantRef } from './resources.js';

/** A registered scalable target (a SageMaker variant's instance count, or an inference component's copy count). */
export interface ScalableTargetRecord {
  readonly resourceId: string;
  /** The variant, or the inference component, the target scales. */
  readonly variant: ScalableRef;
  minCapacity: number;
  maxCapacity: number;
  roleArn: string;
  suspended: { DynamicScalingInSuspended: boolean; DynamicScalingOutSuspended: boolean; ScheduledScalingSuspended: boolean };
  readonly createdAt: number;
  readonly arn: string;
  /** When the scale-out that started the target-tracking scale-out cooldown happened. */
  lastScaleOutAt?: number;
  /** The capacity before that scale-out. */
  scaleOutFrom?: number;
  lastScaleInAt?: number;
  /** The scaling activity whose change SageMaker accepted and is still carrying out. */
  unfulfilled?: { readonly activity: ScalingActivityRecord; readonly desired: number; readonly what: string };
}

interface PolicyRecordBase {
  readonly name: string;
  readonly resourceId: string;
  readonly arn: string;
  readonly createdAt: number;
}

/** A target-tracking scaling policy and the alarms it owns. */
export interface TargetTrackingPolicyRecord extends PolicyRecordBase {
  readonly type: 'TargetTrackingScaling';
  config: TargetTrackingConfig;
  highAlarm: string;
  lowAlarm?: string;
}

/** A step scaling policy: run by the alarms whose actions name its ARN. */
export interface StepScalingPolicyRecord extends PolicyRecordBase {
  readonly type: 'StepScaling';
  config: StepScalingConfig;
  /** When it last scaled its target, for its cooldown. */
  readonly cooldown: StepCooldownState;
  /** The latest alarm invocation not yet applied (the scaler applies it once the endpoint is InService). */
  pending?: StepTrigger;
}

/** A scaling policy of either type run locally. */
export type ScalingPolicyRecord = TargetTrackingPolicyRecord | StepScalingPolicyRecord;

/** One scaling activity, as DescribeScalingActivities reports it. */
export interface ScalingActivityRecord {
  readonly ActivityId: string;
  readonly ResourceId: string;
  readonly Description: string;
  readonly Cause: string;
  readonly StartTime: number;
  EndTime?: number;
  StatusCode: 'InProgress' | 'Successful' | 'Failed';
  StatusMessage?: string;
  /** Why a not-scaled activity did not scale; only those have it (shown with `IncludeNotScaledActivities`). */
  NotScaledReasons?: NotScaledReason[];
  /** Order of start (newest is highest), for pagination. */
  readonly seq: number;
}

/** A scheduled action and when it runs next. */
export interface ScheduledActionRecord {
  readonly name: string;
  readonly resourceId: string;
  readonly arn: string;
  readonly schedule: string;
  readonly timezone?: string;
  readonly parsed: Schedule;
  readonly startTime?: number;
  readonly endTime?: number;
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  readonly createdAt: number;
  /** Where a rate schedule counts its intervals from: StartTime, else when the action was put. */
  readonly origin: number;
  /** Real time of the next run; undefined once there is none. */
  nextRunAt?: number;
}

/** A `NotScaledReason`: the machine-readable reason a policy asked for a change that was not made. */
export interface NotScaledReason {
  readonly Code: 'AlreadyAtMaxCapacity' | 'AlreadyAtMinCapacity';
  readonly MaxCapacity?: number;
  readonly MinCapacity?: number;
  readonly CurrentCapacity: number;
}

/** Options of {@link ApplicationAutoScalingService}. */
export interface ApplicationAutoScalingOptions {
  /** The local SageMaker, called through its public operations only (DescribeEndpoint). */
  readonly sagemaker: AwsService;
  /** The local CloudWatch, where target-tracking policies create their alarms. */
  readonly cloudwatch: CloudWatchService;
  readonly now?: () => number;
  /** @defaultValue `us-east-1` */
  readonly region?: string;
  /** @defaultValue `000000000000` */
  readonly accountId?: string;
  /** Real milliseconds that `apiSeconds` of API time last (a rate schedule's interval). @defaultValue real time */
  readonly durationMs?: (apiSeconds: number) => number;
}

/** Default scale-in and scale-out cooldown of SageMaker variants, seconds (Application Auto Scaling user guide). */
export const DEFAULT_COOLDOWN_SECONDS = 300;
const MAX_TARGETS = 500;
/** Scaling policies per scalable target, both types (Application Auto Scaling quotas; not adjustable). */
const MAX_POLICIES_PER_TARGET = 50;
const MAX_ACTIVITIES_PER_TARGET = 100;
/** Scheduled actions per scalable target (Application Auto Scaling quotas). */
const MAX_SCHEDULED_ACTIONS_PER_TARGET = 200;
/** 9999-12-31T23:59:59Z: timestamps past it are no dates a schedule can reach. */
const LATEST_TIMESTAMP_SECONDS = 253_402_300_799;
/** The model's `ScheduledActionName`: no leading or trailing space, no control character, no `:`, `/` or `|`. */
const SCHEDULED_ACTION_NAME = /^(?!((^[ ]+.*)|(.*([\u0000-\u001f]|[\u007f-\u009f]|[:/|])+.*)|(.*[ ]+$))).+$/s;
const SCHEDULED_ACTION_NAME_PATTERN = '(?!((^[ ]+.*)|(.*([\\u0000-\\u001f]|[\\u007f-\\u009f]|[:/|])+.*)|(.*[ ]+$))).+';

const NOT_SCALED_PROSE: Record<NotScaledReason['Code'], string> = {
  AlreadyAtMaxCapacity: 'the capacity is already at the maximum capacity',
  AlreadyAtMinCapacity: 'the capacity is already at the minimum capacity',
};

/**
 * One page of a Describe call over policies or scheduled actions: filtered by the optional
 * ResourceId and names list, `MaxResults` between 1 and `maxLimit` (also its default), in
 * creation order.
 */
function describePage<T extends { readonly resourceId: string; readonly name: string; readonly createdAt: number }>(
  operation: 'DescribeScalingPolicies' | 'DescribeScheduledActions',
  records: Iterable<T>,
  input: Record<string, unknown>,
  namesMember: 'PolicyNames' | 'ScheduledActionNames',
  maxLimit: number,
): { page: T[]; next?: string } {
  const { resourceId, dimension } = readTargetKey(input, { resourceRequired: false });
  const names = input[namesMember];
  const v = new Violations();
  checkIdList(v, names, namesMember[0]!.toLowerCase() + namesMember.slice(1));
  const max = input.MaxResults ?? maxLimit;
  v.range(max, 'maxResults', 1, maxLimit);
  v.throwIfAny();
  const all = [...records]
    .filter((r) => resourceId === undefined || r.resourceId === resourceId)
    .filter((r) => dimension === undefined || scalableDimension(r.resourceId) === dimension)
    .filter((r) => names === undefined || (names as string[]).includes(r.name));
  return paginate(operation, all, input.NextToken, max as number, (r) => [r.createdAt, `${r.name}\u0000${r.resourceId}`]);
}

const errorName = (err: unknown): string => (err instanceof AwsServiceError ? err.type : 'Error');

/**
 * The local Application Auto Scaling (`AnyScaleFrontendService`) for SageMaker variants:
 * scalable targets on `sagemaker:variant:DesiredInstanceCount`, target-tracking policies (on
 * `SageMakerVariantInvocationsPerInstance` or one customized metric), each with the two CloudWatch
 * alarms the service creates for it, step policies, run by the alarms whose actions name them
 * (see `invokeScalingPolicy`), and scheduled actions, which set a target's capacity range at their
 * times ({@link ApplicationAutoScalingService.runScheduledActions}). {@link VariantScaler} acts on them.
 */
export class ApplicationAutoScalingService implements AwsService {
  readonly targetPrefix = 'AnyScaleFrontendService';
  readonly signingName = 'application-autoscaling';
  private readonly targets = new Map<string, ScalableTargetRecord>();
  private readonly policies = new Map<string, ScalingPolicyRecord>();
  private readonly activities = new Map<string, ScalingActivityRecord[]>();
  private readonly scheduled = new Map<string, ScheduledActionRecord>();
  private readonly durationMs: (apiSeconds: number) => number;
  private activitySeq = 0;
  private readonly now: () => number;
  private readonly region: string;
  private readonly accountId: string;

  constructor(private readonly opts: ApplicationAutoScalingOptions) {
    this.now = opts.now ?? Date.now;
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
    this.durationMs = opts.durationMs ?? ((apiSeconds) => apiSeconds * 1000);
  }

  /** Runs one Application Auto Scaling operation; throws `AwsServiceError` with the service's exception names. */
  async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    // In the AWS JSON protocols a null member means "not set" (as the SageMaker and Logs services read it):
    // a required member sent as null is then missing ('Member must not be null'), an optional one absent.
    input = withoutNulls(input);
    switch (operation as (typeof AUTOSCALING_OPERATIONS)[number]) {
      case 'RegisterScalableTarget':
        return this.registerScalableTarget(input);
      case 'DescribeScalableTargets':
        return this.describeScalableTargets(input);
      case 'DeregisterScalableTarget':
        return this.deregisterScalableTarget(input);
      case 'PutScalingPolicy':
        return this.putScalingPolicy(input);
      case 'DescribeScalingPolicies':
        return this.describeScalingPolicies(input);
      case 'DeleteScalingPolicy':
        return this.deleteScalingPolicy(input);
      case 'DescribeScalingActivities':
        return this.describeScalingActivities(input);
      case 'PutScheduledAction':
        return this.putScheduledAction(input);
      case 'DescribeScheduledActions':
        return this.describeScheduledActions(input);
      case 'DeleteScheduledAction':
        return this.deleteScheduledAction(input);
      default:
        throw unknownOperation(operation);
    }
  }

  /** Every registered target with the policies attached to it (for the scaler). */
  scalingState(): Array<{ target: ScalableTargetRecord; policies: ScalingPolicyRecord[] }> {
    return [...this.targets.values()].map((target) => ({ target, policies: [...this.policies.values()].filter((p) => p.resourceId === target.resourceId) }));
  }

  /** Records the start of a scaling activity; returns it so the caller can complete it. */
  startActivity(resourceId: string, description: string, cause: string): ScalingActivityRecord {
    const activity: ScalingActivityRecord = { ActivityId: randomUUID(), ResourceId: resourceId, Description: description, Cause: cause, StartTime: this.now(), StatusCode: 'InProgress', seq: ++this.activitySeq };
    const list = this.activities.get(resourceId) ?? [];
    list.unshift(activity);
    list.length = Math.min(list.length, MAX_ACTIVITIES_PER_TARGET);
    this.activities.set(resourceId, list);
    return activity;
  }

  /**
   * Records a not-scaled activity: a policy asked for a change that the target's capacity already
   * ruled out. A reason the target's newest activity already records is not recorded again, so a
   * policy that keeps asking while the target stays at its limit leaves one activity.
   */
  recordNotScaled(resourceId: string, description: string, cause: string, reason: NotScaledReason): void {
    const newest = this.activities.get(resourceId)?.[0];
    const same = newest?.NotScaledReasons?.length === 1 && JSON.stringify(newest.NotScaledReasons[0]) === JSON.stringify(reason) && newest.Cause === cause;
    if (same) return;
    const activity = this.startActivity(resourceId, description, cause);
    activity.StatusCode = 'Failed';
    activity.StatusMessage = `Not scaled: ${NOT_SCALED_PROSE[reason.Code]} (${reason.CurrentCapacity} ${isComponent(parseResourceId(resourceId)) ? 'copies' : 'instances'}).`;
    activity.NotScaledReasons = [reason];
    activity.EndTime = activity.StartTime;
  }

  private notFound(resourceId: string): AwsServiceError {
    return objectNotFound(`No scalable target registered for service namespace: ${SAGEMAKER_NAMESPACE}, resource ID: ${resourceId}, scalable dimension: ${scalableDimension(resourceId)}`);
  }

  private async registerScalableTarget(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    const v = new Violations();
    for (const [key, member] of [['MinCapacity', 'minCapacity'], ['MaxCapacity', 'maxCapacity']] as const) {
      const value = input[key];
      if (value !== undefined && !isInt32(value)) v.add(value, member, 'be an integer from -2147483648 to 2147483647');
    }
    if (input.RoleARN !== undefined && v.length(input.RoleARN, 'roleARN', 1, 1600) && !XML_STRING.test(input.RoleARN as string)) v.add(input.RoleARN, 'roleARN', `satisfy regular expression pattern: ${XML_STRING_PATTERN}`);
    const suspended = input.SuspendedState as Record<string, unknown> | undefined;
    if (suspended !== undefined && (typeof suspended !== 'object' || suspended === null || Array.isArray(suspended) || Object.values(suspended).some((x) => typeof x !== 'boolean'))) {
      v.add(suspended, 'suspendedState', 'hold boolean members');
    }
    v.throwIfAny();
    const existing = this.targets.get(resourceId!);
    const min = (input.MinCapacity as number | undefined) ?? existing?.minCapacity;
    const max = (input.MaxCapacity as number | undefined) ?? existing?.maxCapacity;
    if (min === undefined || max === undefined) throw validationException('MinCapacity and MaxCapacity are required to register a new scalable target.');
    const variant = parseResourceId(resourceId!);
    if (min < 0) throw validationException(`MinCapacity ${min} is not valid for a SageMaker ${isComponent(variant) ? 'inference component: the copy count' : 'variant: the instance count'} is at least 0.`);
    if (min > max) throw validationException(`Minimum capacity (${min}) cannot be greater than maximum capacity (${max}).`);
    // An inference component may scale to zero copies; a variant only on an asynchronous endpoint.
    const { asynchronous } = isComponent(variant) ? await this.requireComponent(variant.componentName) : await this.requireVariant(variant);
    // Only asynchronous endpoints scale to zero (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html);
    // a real-time variant's minimum is at least 1 (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html).
    if (min < 1 && !asynchronous && !isComponent(variant)) {
      throw validationException(`MinCapacity ${min} is not valid for variant ${variant.variantName} of the real-time endpoint ${variant.endpointName}: its instance count is at least 1. Only an asynchronous endpoint (AsyncInferenceConfig) scales to 0 instances.`);
    }
    const state = {
      DynamicScalingInSuspended: (suspended?.DynamicScalingInSuspended as boolean | undefined) ?? existing?.suspended.DynamicScalingInSuspended ?? false,
      DynamicScalingOutSuspended: (suspended?.DynamicScalingOutSuspended as boolean | undefined) ?? existing?.suspended.DynamicScalingOutSuspended ?? false,
      ScheduledScalingSuspended: (suspended?.ScheduledScalingSuspended as boolean | undefined) ?? existing?.suspended.ScheduledScalingSuspended ?? false,
    };
    const roleArn = (input.RoleARN as string | undefined) ?? existing?.roleArn ?? `arn:${partitionOf(this.region)}:iam::${this.accountId}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint`;
    if (existing) {
      Object.assign(existing, { minCapacity: min, maxCapacity: max, roleArn, suspended: state });
      return { ScalableTargetARN: existing.arn };
    }
    if (this.targets.size >= MAX_TARGETS) throw limitExceeded(`The local Application Auto Scaling holds at most ${MAX_TARGETS} scalable targets.`);
    const arn = `arn:${partitionOf(this.region)}:application-autoscaling:${this.region}:${this.accountId}:scalable-target/${randomUUID().replace(/-/g, '')}`;
    this.targets.set(resourceId!, { resourceId: resourceId!, variant, minCapacity: min, maxCapacity: max, roleArn, suspended: state, createdAt: this.now(), arn });
    return { ScalableTargetARN: arn };
  }

  /** A target can only be registered on an inference component that exists (checked with SageMaker's DescribeInferenceComponent). */
  private async requireComponent(name: string): Promise<{ asynchronous: false }> {
    try {
      await this.opts.sagemaker.call('DescribeInferenceComponent', { InferenceComponentName: name });
    } catch (err) {
      throw validationException(`The inference component ${name} cannot be scaled: SageMaker DescribeInferenceComponent failed (${errorName(err)}: ${(err as Error).message}).`);
    }
    return { asynchronous: false };
  }

  /** A target can only be registered on a variant that exists (the service checks with SageMaker); says whether its endpoint is asynchronous. */
  private async requireVariant(variant: VariantRef): Promise<{ asynchronous: boolean }> {
    let description: Record<string, unknown>;
    try {
      description = await this.opts.sagemaker.call('DescribeEndpoint', { EndpointName: variant.endpointName });
    } catch (err) {
      throw validationException(`The endpoint ${variant.endpointName} cannot be scaled: SageMaker DescribeEndpoint failed (${errorName(err)}: ${(err as Error).message}).`);
    }
    const variants = (description.ProductionVariants as Array<{ VariantName?: string; CurrentServerlessConfig?: unknown }> | undefined) ?? [];
    const found = variants.find((x) => x.VariantName === variant.variantName);
    if (!found) {
      throw validationException(`The endpoint ${variant.endpointName} has no production variant ${variant.variantName} (it has ${variants.map((x) => x.VariantName).join(', ') || 'none'}).`);
    }
    // A serverless variant has no instances to count: SageMaker scales its provisioned concurrency
    // (sagemaker:variant:DesiredProvisionedConcurrency, serverless-endpoints-autoscaling.html), which
    // is not scaled locally; a target on its instance count would only fail each scaling it tried.
    if (found.CurrentServerlessConfig !== undefined) {
      throw validationException(
        `Variant ${variant.variantName} of endpoint ${variant.endpointName} is serverless: it has no instance count (${VARIANT_INSTANCE_COUNT}) to scale, and the provisioned concurrency SageMaker scales on a serverless variant (sagemaker:variant:DesiredProvisionedConcurrency) is not scaled locally. Change its concurrency with UpdateEndpointWeightsAndCapacities (ServerlessUpdateConfig), or scale a variant with InstanceType and InitialInstanceCount.`,
      );
    }
    return { asynchronous: description.AsyncInferenceConfig !== undefined };
  }

  private describeScalableTargets(input: Record<string, unknown>): Record<string, unknown> {
    const { dimension } = readTargetKey(input, { resourceRequired: false });
    const ids = input.ResourceIds;
    const v = new Violations();
    checkIdList(v, ids, 'resourceIds');
    const max = input.MaxResults ?? 50;
    v.range(max, 'maxResults', 1, 50);
    v.throwIfAny();
    const all = [...this.targets.values()]
      .filter((t) => ids === undefined || (ids as string[]).includes(t.resourceId))
      .filter((t) => dimension === undefined || scalableDimension(t.resourceId) === dimension);
    const { page, next } = paginate('DescribeScalableTargets', all, input.NextToken, max as number, (t) => [t.createdAt, t.resourceId]);
    return {
      ScalableTargets: page.map((t) => ({
        ServiceNamespace: SAGEMAKER_NAMESPACE,
        ResourceId: t.resourceId,
        ScalableDimension: scalableDimension(t.resourceId),
        MinCapacity: t.minCapacity,
        MaxCapacity: t.maxCapacity,
        RoleARN: t.roleArn,
        CreationTime: t.createdAt / 1000,
        SuspendedState: { ...t.suspended },
        ScalableTargetARN: t.arn,
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  private async deregisterScalableTarget(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    if (!this.targets.has(resourceId!)) throw this.notFound(resourceId!);
    // Deregistering a target deletes its scaling policies and their alarms.
    for (const p of [...this.policies.values()].filter((x) => x.resourceId === resourceId)) await this.removePolicy(p);
    this.targets.delete(resourceId!);
    this.activities.delete(resourceId!);
    // "Any scheduled actions that were specified for the scalable target are deleted" (PutScheduledAction reference).
    for (const [k, a] of this.scheduled) if (a.resourceId === resourceId) this.scheduled.delete(k);
    return {};
  }

  private async putScalingPolicy(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    const v = new Violations();
    const name = input.PolicyName;
    if (name === undefined) v.add(undefined, 'policyName', 'not be null');
    else if (v.length(name, 'policyName', 1, 256) && !/^[\x20-\x7e]+$/.test(name as string)) v.add(name, 'policyName', 'satisfy regular expression pattern: \\p{Print}+');
    // PolicyType is needed to create a policy (API reference); left out, an update keeps the
    // policy's type and a new policy is StepScaling, the type the API began with.
    const type = input.PolicyType ?? (typeof name === 'string' ? this.policies.get(`${resourceId}\u0000${name}`)?.type : undefined) ?? 'StepScaling';
    if (!['StepScaling', 'TargetTrackingScaling', 'PredictiveScaling'].includes(type as string)) v.add(type, 'policyType', 'satisfy enum value set: [StepScaling, TargetTrackingScaling, PredictiveScaling]');
    v.throwIfAny();
    if (type === 'PredictiveScaling') {
      throw validationException(`PolicyType ${type as string} is not scaled locally: the local Application Auto Scaling runs TargetTrackingScaling policies (on ${INVOCATIONS_PER_INSTANCE}, ${CONCURRENT_REQUESTS_PER_MODEL}, ${INVOCATIONS_PER_COPY}, ${CONCURRENT_REQUESTS_PER_COPY} or one customized CloudWatch metric) and StepScaling policies.`);
    }
    const stepConfig = type === 'StepScaling' ? readStepScalingConfig(input.StepScalingPolicyConfiguration) : undefined;
    const config = type === 'TargetTrackingScaling' ? readTargetTrackingConfig(input.TargetTrackingScalingPolicyConfiguration) : undefined;
    const target = this.targets.get(resourceId!);
    if (!target) throw this.notFound(resourceId!);
    const predefined = config?.PredefinedMetricSpecification?.PredefinedMetricType;
    if (predefined !== undefined && VARIANT_METRICS.includes(predefined) && isComponent(target.variant)) {
      throw validationException(`PredefinedMetricType ${predefined} tracks a variant's instances, not inference component ${target.variant.componentName}: track its copies with ${INVOCATIONS_PER_COPY}.`);
    }
    if (predefined !== undefined && COMPONENT_METRICS.includes(predefined) && !isComponent(target.variant)) {
      throw validationException(`PredefinedMetricType ${predefined} tracks an inference component's copies, not variant ${target.variant.variantName} of endpoint ${target.variant.endpointName}: track its instances with ${INVOCATIONS_PER_INSTANCE}.`);
    }
    const key = `${resourceId}\u0000${name as string}`;
    const existing = this.policies.get(key);
    if (!existing && [...this.policies.values()].filter((p) => p.resourceId === resourceId).length >= MAX_POLICIES_PER_TARGET) {
      throw limitExceeded(`A scalable target can have at most ${MAX_POLICIES_PER_TARGET} scaling policies; ${resourceId} has ${MAX_POLICIES_PER_TARGET}.`);
    }
    if (!existing && this.policies.size >= MAX_TARGETS * 2) throw limitExceeded('The local Application Auto Scaling holds at most 1000 scaling policies.');
    const uuid = randomUUID();
    const arn = existing?.arn ?? `arn:${partitionOf(this.region)}:autoscaling:${this.region}:${this.accountId}:scalingPolicy:${uuid}:resource/${SAGEMAKER_NAMESPACE}/${resourceId}:policyName/${name as string}`;
    if (stepConfig) {
      if (existing?.type === 'TargetTrackingScaling') await this.deleteAlarms(existing);
      // The alarms that name the policy keep running it; an update keeps its cooldown.
      const policy: StepScalingPolicyRecord = {
        type: 'StepScaling',
        name: name as string,
        resourceId: resourceId!,
        arn,
        createdAt: existing?.createdAt ?? this.now(),
        config: stepConfig,
        cooldown: existing?.type === 'StepScaling' ? existing.cooldown : {},
      };
      this.policies.set(key, policy);
      return { PolicyARN: arn };
    }
    const tracking = config!;
    const policy: TargetTrackingPolicyRecord = {
      type: 'TargetTrackingScaling',
      name: name as string,
      resourceId: resourceId!,
      arn,
      createdAt: existing?.createdAt ?? this.now(),
      config: tracking,
      highAlarm: `TargetTracking-${resourceId}-AlarmHigh-${randomUUID()}`,
      ...(tracking.DisableScaleIn ? {} : { lowAlarm: `TargetTracking-${resourceId}-AlarmLow-${randomUUID()}` }),
    };
    // The new alarms first: a policy whose alarms CloudWatch refuses stays as it was.
    await this.createAlarms(policy, target);
    if (existing?.type === 'TargetTrackingScaling') await this.deleteAlarms(existing);
    this.policies.set(key, policy);
    return { PolicyARN: arn, Alarms: this.alarmsOf(policy) };
  }

  /** The scaling policy of that ARN, if any (for the alarms that invoke it). */
  policyByArn(arn: string): ScalingPolicyRecord | undefined {
    return [...this.policies.values()].find((p) => p.arn === arn);
  }

  /** A target-tracking policy's own two alarms; for a step policy, the alarms whose actions name it. */
  private alarmsOf(p: ScalingPolicyRecord): Array<{ AlarmName: string; AlarmARN: string }> {
    if (p.type === 'StepScaling') return this.opts.cloudwatch.alarmsWithAction(p.arn);
    return [p.highAlarm, ...(p.lowAlarm ? [p.lowAlarm] : [])].map((n) => ({ AlarmName: n, AlarmARN: `arn:${partitionOf(this.region)}:cloudwatch:${this.region}:${this.accountId}:alarm:${n}` }));
  }

  /**
   * The alarms Application Auto Scaling creates for a target-tracking policy: high (above target
   * for 3 one-minute periods; 3 ten-second periods on a high-resolution metric, which "emit data
   * every 10 seconds" so that a policy scales out faster but in at the standard speed,
   * endpoint-auto-scaling-add-code-define.html) and low (below 90 % of target for 15 one-minute
   * periods), on the policy's metric (see {@link trackedMetric}). When CloudWatch refuses one, neither is left and
   * its error is raised as this service's (`LimitExceededException` or `ValidationException`).
   */
  private async createAlarms(p: TargetTrackingPolicyRecord, target: ScalableTargetRecord): Promise<void> {
    const metric = trackedMetric(p.config, target);
    const common = {
      Namespace: metric.namespace,
      MetricName: metric.metricName,
      Dimensions: metric.dimensions,
      Statistic: metric.statistic,
      ...(metric.unit === undefined ? {} : { Unit: metric.unit }),
      Period: 60,
      AlarmDescription: `DO NOT EDIT OR DELETE. For TargetTrackingScaling policy ${p.arn}.`,
      AlarmActions: [p.arn],
    };
    try {
      await this.opts.cloudwatch.call('PutMetricAlarm', { ...common, ...(metric.highResolution ? { Period: 10 } : {}), AlarmName: p.highAlarm, EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: p.config.TargetValue, ComparisonOperator: 'GreaterThanThreshold' });
      if (p.lowAlarm) {
        await this.opts.cloudwatch.call('PutMetricAlarm', { ...common, AlarmName: p.lowAlarm, EvaluationPeriods: 15, DatapointsToAlarm: 15, Threshold: Number((p.config.TargetValue * 0.9).toPrecision(12)), ComparisonOperator: 'LessThanThreshold' });
      }
    } catch (err) {
      await this.deleteAlarms(p);
      if (!(err instanceof AwsServiceError)) throw err;
      throw err.type === 'LimitExceededFault' ? limitExceeded(err.message) : validationException(err.message);
    }
  }

  private async deleteAlarms(p: TargetTrackingPolicyRecord): Promise<void> {
    const names = [p.highAlarm, ...(p.lowAlarm ? [p.lowAlarm] : [])].filter((n) => this.opts.cloudwatch.alarmState(n) !== undefined);
    if (names.length > 0) await this.opts.cloudwatch.call('DeleteAlarms', { AlarmNames: names });
  }

  /**
   * Deletes a policy: a target-tracking policy with its alarms; a step policy's ARN leaves the
   * actions of the alarms that name it, and the alarms stay (DeleteScalingPolicy reference).
   */
  private async removePolicy(p: ScalingPolicyRecord): Promise<void> {
    if (p.type === 'StepScaling') this.opts.cloudwatch.removeAction(p.arn);
    else await this.deleteAlarms(p);
    this.policies.delete(`${p.resourceId}\u0000${p.name}`);
  }

  private describeScalingPolicies(input: Record<string, unknown>): Record<string, unknown> {
    const { page, next } = describePage('DescribeScalingPolicies', this.policies.values(), input, 'PolicyNames', 10);
    return {
      ScalingPolicies: page.map((p) => ({
        PolicyARN: p.arn,
        PolicyName: p.name,
        ServiceNamespace: SAGEMAKER_NAMESPACE,
        ResourceId: p.resourceId,
        ScalableDimension: scalableDimension(p.resourceId),
        PolicyType: p.type,
        ...(p.type === 'StepScaling' ? { StepScalingPolicyConfiguration: structuredClone(p.config) } : { TargetTrackingScalingPolicyConfiguration: structuredClone(p.config) }),
        Alarms: this.alarmsOf(p),
        CreationTime: p.createdAt / 1000,
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  private async deleteScalingPolicy(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    const name = input.PolicyName;
    const v = new Violations();
    if (name === undefined) v.add(name, 'policyName', 'not be null');
    else if (v.length(name, 'policyName', 1, 1600) && !XML_STRING.test(name as string)) v.add(name, 'policyName', `satisfy regular expression pattern: ${XML_STRING_PATTERN}`);
    v.throwIfAny();
    const policy = this.policies.get(`${resourceId}\u0000${name as string}`);
    if (!policy) {
      throw objectNotFound(`No scaling policy found for service namespace: ${SAGEMAKER_NAMESPACE}, resource ID: ${resourceId}, scalable dimension: ${scalableDimension(resourceId!)}, policy name: ${name as string}`);
    }
    await this.removePolicy(policy);
    return {};
  }

  /**
   * Runs the scheduled actions whose time has come: each sets its target's MinCapacity and
   * MaxCapacity (the scaler then brings the capacity into the new range) and is recorded as a
   * scaling activity; runs missed while nothing ran are not made up. `ScheduledScalingSuspended`
   * skips runs. Returns how many ran.
   */
  runScheduledActions(now: number): number {
    let ran = 0;
    for (const action of this.scheduled.values()) {
      if (action.nextRunAt === undefined || action.nextRunAt > now) continue;
      const target = this.targets.get(action.resourceId);
      if (target && !target.suspended.ScheduledScalingSuspended) {
        this.runScheduledAction(action, target);
        ran++;
      }
      this.scheduleNext(action, now);
    }
    return ran;
  }

  private runScheduledAction(action: ScheduledActionRecord, target: ScalableTargetRecord): void {
    const min = action.minCapacity ?? target.minCapacity;
    const max = action.maxCapacity ?? target.maxCapacity;
    const activity = this.startActivity(target.resourceId, `Setting min capacity to ${min} and max capacity to ${max}`, `scheduled action name ${action.name} was triggered`);
    activity.EndTime = activity.StartTime;
    if (min > max) {
      activity.StatusCode = 'Failed';
      activity.StatusMessage = `Failed to set min capacity to ${min} and max capacity to ${max}: the minimum capacity would be greater than the maximum capacity. Give the scheduled action both capacities.`;
      return;
    }
    target.minCapacity = min;
    target.maxCapacity = max;
    activity.StatusCode = 'Successful';
    activity.StatusMessage = `Successfully set min capacity to ${min} and max capacity to ${max}`;
  }

  /** Sets when `action` runs next, after `after` and within its StartTime and EndTime. */
  private scheduleNext(action: ScheduledActionRecord, after: number): void {
    const from = action.startTime === undefined ? after : Math.max(after, action.startTime - 1);
    const next = nextRun(action.parsed, from, action.origin, this.durationMs(action.parsed.kind === 'rate' ? action.parsed.seconds : 0));
    action.nextRunAt = next !== undefined && (action.endTime === undefined || next <= action.endTime) ? next : undefined;
  }

  private async putScheduledAction(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    const v = new Violations();
    const name = input.ScheduledActionName;
    if (name === undefined) v.add(undefined, 'scheduledActionName', 'not be null');
    else if (v.length(name, 'scheduledActionName', 1, 256) && !SCHEDULED_ACTION_NAME.test(name as string)) v.add(name, 'scheduledActionName', `satisfy regular expression pattern: ${SCHEDULED_ACTION_NAME_PATTERN}`);
    for (const [key, member] of [['Schedule', 'schedule'], ['Timezone', 'timezone']] as const) {
      const value = input[key];
      if (value !== undefined && v.length(value, member, 1, 1600) && !XML_STRING.test(value as string)) v.add(value, member, `satisfy regular expression pattern: ${XML_STRING_PATTERN}`);
    }
    for (const [key, member] of [['StartTime', 'startTime'], ['EndTime', 'endTime']] as const) {
      const value = input[key];
      if (value !== undefined && (typeof value !== 'number' || !(value >= 0 && value <= LATEST_TIMESTAMP_SECONDS))) v.add(value, member, 'be a timestamp from 1970 to 9999');
    }
    const action = input.ScalableTargetAction;
    if (action !== undefined && (action === null || typeof action !== 'object' || Array.isArray(action))) v.add(action, 'scalableTargetAction', 'be a structure of MinCapacity and MaxCapacity');
    const capacities = (action ?? {}) as Record<string, unknown>;
    for (const [key, member] of [['MinCapacity', 'scalableTargetAction.minCapacity'], ['MaxCapacity', 'scalableTargetAction.maxCapacity']] as const) {
      const value = capacities[key];
      if (value !== undefined && !isInt32(value)) v.add(value, member, 'be an integer from -2147483648 to 2147483647');
    }
    v.throwIfAny();
    const target = this.targets.get(resourceId!);
    if (!target) throw this.notFound(resourceId!);
    const key = `${resourceId}\u0000${name as string}`;
    const existing = this.scheduled.get(key);
    // An update changes what it names; StartTime and EndTime left out are cleared (PutScheduledAction reference).
    const schedule = (input.Schedule as string | undefined) ?? existing?.schedule;
    if (schedule === undefined) throw validationException('Schedule is required to create a scheduled action: at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(Minutes Hours Day-of-month Month Day-of-week Year).');
    const timezone = (input.Timezone as string | undefined) ?? existing?.timezone;
    if (timezone !== undefined) checkTimezone(timezone);
    const parsed = parseSchedule(schedule, timezone ?? 'UTC');
    const startTime = input.StartTime === undefined ? undefined : (input.StartTime as number) * 1000;
    const endTime = input.EndTime === undefined ? undefined : (input.EndTime as number) * 1000;
    if (startTime !== undefined && endTime !== undefined && endTime < startTime) throw validationException('EndTime cannot be before StartTime.');
    const min = action === undefined ? existing?.minCapacity : (capacities.MinCapacity as number | undefined);
    const max = action === undefined ? existing?.maxCapacity : (capacities.MaxCapacity as number | undefined);
    if (min === undefined && max === undefined) throw validationException('ScalableTargetAction needs MinCapacity, MaxCapacity or both: they are what the scheduled action sets.');
    if (min !== undefined && max !== undefined && min > max) throw validationException(`Minimum capacity (${min}) cannot be greater than maximum capacity (${max}).`);
    const ref = target.variant;
    if (min !== undefined && min < 0) throw validationException(`MinCapacity ${min} is not valid for a SageMaker ${isComponent(ref) ? 'inference component: the copy count' : 'variant: the instance count'} is at least 0.`);
    if (min !== undefined && min < 1 && !isComponent(ref) && !(await this.requireVariant(ref)).asynchronous) {
      throw validationException(`MinCapacity ${min} is not valid for variant ${ref.variantName} of the real-time endpoint ${ref.endpointName}: its instance count is at least 1. Only an asynchronous endpoint (AsyncInferenceConfig) scales to 0 instances.`);
    }
    if (!existing && [...this.scheduled.values()].filter((a) => a.resourceId === resourceId).length >= MAX_SCHEDULED_ACTIONS_PER_TARGET) {
      throw limitExceeded(`A scalable target can have at most ${MAX_SCHEDULED_ACTIONS_PER_TARGET} scheduled actions; ${resourceId} has ${MAX_SCHEDULED_ACTIONS_PER_TARGET}.`);
    }
    const now = this.now();
    const record: ScheduledActionRecord = {
      name: name as string,
      resourceId: resourceId!,
      arn: existing?.arn ?? `arn:${partitionOf(this.region)}:autoscaling:${this.region}:${this.accountId}:scheduledAction:${randomUUID()}:resource/${SAGEMAKER_NAMESPACE}/${resourceId}:scheduledActionName/${name as string}`,
      schedule,
      ...(timezone !== undefined ? { timezone } : {}),
      parsed,
      ...(startTime !== undefined ? { startTime } : {}),
      ...(endTime !== undefined ? { endTime } : {}),
      ...(min !== undefined ? { minCapacity: min } : {}),
      ...(max !== undefined ? { maxCapacity: max } : {}),
      createdAt: existing?.createdAt ?? now,
      origin: startTime ?? now,
    };
    this.scheduleNext(record, now);
    this.scheduled.set(key, record);
    return {};
  }

  private describeScheduledActions(input: Record<string, unknown>): Record<string, unknown> {
    const { page, next } = describePage('DescribeScheduledActions', this.scheduled.values(), input, 'ScheduledActionNames', 50);
    return {
      ScheduledActions: page.map((a) => ({
        ScheduledActionName: a.name,
        ScheduledActionARN: a.arn,
        ServiceNamespace: SAGEMAKER_NAMESPACE,
        Schedule: a.schedule,
        ...(a.timezone !== undefined ? { Timezone: a.timezone } : {}),
        ResourceId: a.resourceId,
        ScalableDimension: scalableDimension(a.resourceId),
        ...(a.startTime !== undefined ? { StartTime: a.startTime / 1000 } : {}),
        ...(a.endTime !== undefined ? { EndTime: a.endTime / 1000 } : {}),
        ScalableTargetAction: { ...(a.minCapacity !== undefined ? { MinCapacity: a.minCapacity } : {}), ...(a.maxCapacity !== undefined ? { MaxCapacity: a.maxCapacity } : {}) },
        CreationTime: a.createdAt / 1000,
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  private deleteScheduledAction(input: Record<string, unknown>): Record<string, unknown> {
    const { resourceId } = readTargetKey(input, { resourceRequired: true });
    const name = input.ScheduledActionName;
    const v = new Violations();
    if (name === undefined) v.add(name, 'scheduledActionName', 'not be null');
    else if (v.length(name, 'scheduledActionName', 1, 1600) && !XML_STRING.test(name as string)) v.add(name, 'scheduledActionName', `satisfy regular expression pattern: ${XML_STRING_PATTERN}`);
    v.throwIfAny();
    const key = `${resourceId}\u0000${name as string}`;
    if (!this.scheduled.has(key)) {
      throw objectNotFound(`No scheduled action found for service namespace: ${SAGEMAKER_NAMESPACE}, resource ID: ${resourceId}, scalable dimension: ${scalableDimension(resourceId!)}, scheduled action name: ${name as string}`);
    }
    this.scheduled.delete(key);
    return {};
  }

  private describeScalingActivities(input: Record<string, unknown>): Record<string, unknown> {
    const { resourceId, dimension } = readTargetKey(input, { resourceRequired: false });
    const max = input.MaxResults ?? 50;
    const v = new Violations();
    v.range(max, 'maxResults', 1, 50);
    if (input.IncludeNotScaledActivities !== undefined && typeof input.IncludeNotScaledActivities !== 'boolean') v.add(input.IncludeNotScaledActivities, 'includeNotScaledActivities', 'be a boolean');
    v.throwIfAny();
    const withNotScaled = input.IncludeNotScaledActivities === true;
    const all = [...this.activities.entries()]
      .filter(([rid]) => resourceId === undefined || rid === resourceId)
      .filter(([rid]) => dimension === undefined || scalableDimension(rid) === dimension)
      .flatMap(([, list]) => list)
      .filter((a) => withNotScaled || a.NotScaledReasons === undefined);
    const { page, next } = paginate('DescribeScalingActivities', all, input.NextToken, max as number, (a) => [-a.seq, a.ActivityId]);
    return {
      ScalingActivities: page.map((a) => ({
        ActivityId: a.ActivityId,
        ServiceNamespace: SAGEMAKER_NAMESPACE,
        ResourceId: a.ResourceId,
        ScalableDimension: scalableDimension(a.ResourceId),
        Description: a.Description,
        Cause: a.Cause,
        StartTime: a.StartTime / 1000,
        ...(a.EndTime !== undefined ? { EndTime: a.EndTime / 1000 } : {}),
        StatusCode: a.StatusCode,
        ...(a.StatusMessage !== undefined ? { StatusMessage: a.StatusMessage } : {}),
        ...(a.NotScaledReasons !== undefined ? { NotScaledReasons: a.NotScaledReasons.map((r) => ({ ...r })) } : {}),
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }
}

/** The CloudWatch metric a target-tracking policy holds at its target, and the statistic it tracks. */
export interface TrackedMetric {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Array<{ Name: string; Value: string }>;
  readonly statistic: Statistic;
  readonly unit?: string;
  /** Published every 10 seconds (a `…HighResolution` predefined metric): the high alarm's periods are 10 seconds. */
  readonly highResolution?: boolean;
}

/**
 * The metric of a target-tracking policy: `SageMakerVariantInvocationsPerInstance` is the variant's
 * `InvocationsPerInstance` Sum per minute, `SageMakerInferenceComponentInvocationsPerCopy` the
 * component's `InvocationsPerCopy` (dimension `InferenceComponentName`) Sum per minute,
 * `SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution` its
 * `ConcurrentRequestsPerCopy` Maximum and `SageMakerVariantConcurrentRequestsPerModelHighResolution`
 * the variant's `ConcurrentRequestsPerModel` Maximum (the statistic is this emulator's choice); a
 * `CustomizedMetricSpecification` names its own (for an asynchronous endpoint,
 * `ApproximateBacklogSizePerInstance` by `EndpointName`, Average).
 */
export function trackedMetric(config: TargetTrackingConfig, target: ScalableTargetRecord): TrackedMetric {
  const custom = config.CustomizedMetricSpecification;
  if (custom) {
    return { namespace: custom.Namespace, metricName: custom.MetricName, dimensions: custom.Dimensions ?? [], statistic: custom.Statistic, ...(custom.Unit === undefined ? {} : { unit: custom.Unit }) };
  }
  const ref = target.variant;
  if (isComponent(ref)) {
    const dimensions = [{ Name: 'InferenceComponentName', Value: ref.componentName }];
    if (config.PredefinedMetricSpecification?.PredefinedMetricType === CONCURRENT_REQUESTS_PER_COPY) {
      return { namespace: METRICS_NAMESPACE, metricName: 'ConcurrentRequestsPerCopy', dimensions, statistic: 'Maximum', highResolution: true };
    }
    return { namespace: METRICS_NAMESPACE, metricName: 'InvocationsPerCopy', dimensions, statistic: 'Sum' };
  }
  const dimensions = [
    { Name: 'EndpointName', Value: ref.endpointName },
    { Name: 'VariantName', Value: ref.variantName },
  ];
  if (config.PredefinedMetricSpecification?.PredefinedMetricType === CONCURRENT_REQUESTS_PER_MODEL) {
    return { namespace: METRICS_NAMESPACE, metricName: 'ConcurrentRequestsPerModel', dimensions, statistic: 'Maximum', highResolution: true };
  }
  return { namespace: METRICS_NAMESPACE, metricName: 'InvocationsPerInstance', dimensions, statistic: 'Sum' };
}
