import { partitionOf } from '../../../aws/partition.js';
import type { AlarmDefinition, ComparisonOperator } from './alarm-definition.js';
import type { AlarmState } from './alarm-evaluation.js';
import { validationError } from './errors.js';

/**
 * An Auto Scaling policy ARN as alarm actions name it:
 * `arn:<partition>:autoscaling:<region>:<account>:scalingPolicy:<id>:resource/<namespace>/<resource-id>:policyName/<name>`
 * (Application Auto Scaling) or `…:autoScalingGroupName/<group>:policyName/<name>` (EC2 Auto Scaling).
 */
const SCALING_POLICY_ARN = /^arn:aws[\w-]*:autoscaling:([a-z0-9-]+):(\d{12}):scalingPolicy:([0-9a-fA-F-]{36}):(resource\/.+|autoScalingGroupName\/.+):policyName\/(.+)$/;

/** The parts of a scaling policy ARN. */
export interface ScalingPolicyArn {
  readonly region: string;
  readonly accountId: string;
  readonly policyId: string;
  /** `resource/<namespace>/<resource-id>` or `autoScalingGroupName/<group>`. */
  readonly resource: string;
  readonly policyName: string;
}

/** Parses a scaling policy ARN, or returns undefined for any other string. */
export function parseScalingPolicyArn(arn: string): ScalingPolicyArn | undefined {
  const m = SCALING_POLICY_ARN.exec(arn);
  return m ? { region: m[1]!, accountId: m[2]!, policyId: m[3]!, resource: m[4]!, policyName: m[5]! } : undefined;
}

/** True for an action ARN of the autoscaling service (run by the local Application Auto Scaling). */
export const isAutoScalingAction = (arn: string): boolean => /^arn:aws[\w-]*:autoscaling:/.test(arn);

/**
 * Checks the ARNs of `OKActions`, `AlarmActions` and `InsufficientDataActions` as CloudWatch does:
 * each must be an ARN (CloudWatch answers `ValidationError` otherwise), an autoscaling one must
 * name a scaling policy in the valid format, and an action must be in the alarm's own partition
 * and region (`Invalid region ca-central-1 specified. Only us-west-2 is supported.`).
 * Whether the policy exists is not checked: CloudWatch does not validate that its actions exist.
 */
export function checkAlarmActions(def: AlarmDefinition, region: string): void {
  const partition = partitionOf(region);
  for (const [member, list] of [['OKActions', def.OKActions], ['AlarmActions', def.AlarmActions], ['InsufficientDataActions', def.InsufficientDataActions]] as const) {
    for (const arn of list) {
      const parts = /^arn:(aws[\w-]*):([\w-]+):([a-z0-9-]*):/.exec(arn);
      if (!parts) throw validationError(`Invalid ${member} ARN ${JSON.stringify(arn.slice(0, 200))}: an alarm action is an ARN (an SNS topic, a scaling policy, an EC2 action, ...).`);
      if (parts[1] !== partition) throw validationError(`Invalid partition ${parts[1]} specified. Only ${partition} is supported.`);
      if (parts[2] === 'autoscaling') {
        if (!parseScalingPolicyArn(arn)) {
          throw validationError(
            `Invalid ${member} ARN ${JSON.stringify(arn.slice(0, 300))}: a scaling policy is arn:aws:autoscaling:<region>:<account-id>:scalingPolicy:<policy-id>:resource/<namespace>/<resource-id>:policyName/<policy-name>.`,
          );
        }
      }
      if (parts[3] !== '' && parts[3] !== region) throw validationError(`Invalid region ${parts[3]} specified. Only ${region} is supported.`);
    }
  }
}

/** One invocation of a scaling policy by an alarm: what Application Auto Scaling gets from CloudWatch. */
export interface ScalingActionInvocation {
  readonly alarmName: string;
  readonly alarmArn: string;
  /** The state whose action list names the policy. */
  readonly state: AlarmState;
  readonly actionArn: string;
  /** The alarm's most recent datapoints (its last evaluation, or `recentDatapoints` of SetAlarmState's StateReasonData). */
  readonly datapoints: readonly number[];
  readonly threshold: number;
  readonly comparisonOperator: ComparisonOperator;
  /** Whether the state was set by SetAlarmState (and the datapoints come from StateReasonData). */
  readonly forced: boolean;
}

/** What the policy's service answered: nothing on success, else the error the alarm history shows. */
export interface ScalingActionResult {
  readonly error?: string;
}

/** Runs a scaling policy for an alarm (the local Application Auto Scaling). */
export type ScalingActionHandler = (invocation: ScalingActionInvocation) => ScalingActionResult;

/** The actions an alarm runs in `state`. */
export function actionsFor(def: AlarmDefinition, state: AlarmState): readonly string[] {
  return state === 'ALARM' ? def.AlarmActions : state === 'OK' ? def.OKActions : def.InsufficientDataActions;
}

/** `recentDatapoints` of a SetAlarmState `StateReasonData` (JSON already checked), or none. */
export function forcedDatapoints(stateReasonData: string | undefined): number[] {
  if (stateReasonData === undefined) return [];
  const data = JSON.parse(stateReasonData) as { recentDatapoints?: unknown } | null;
  const points = data !== null && typeof data === 'object' ? data.recentDatapoints : undefined;
  return Array.isArray(points) ? points.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)) : [];
}
