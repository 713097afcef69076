import { formatValue } from '../cloudwatch/alarm-evaluation.js';
import type { AlarmState } from '../cloudwatch/alarm-evaluation.js';
import type { ScalingActionInvocation, ScalingActionResult } from '../cloudwatch/alarm-actions.js';
import type { ApplicationAutoScalingService } from './autoscaling-service.js';
import type { StepAdjustment } from './step-scaling-config.js';
import { aggregateMetric, breachSide, findStep } from './step-scaling.js';

/** An alarm's invocation of a step policy, accepted and waiting for the scaler. */
export interface StepTrigger {
  readonly alarmName: string;
  readonly state: AlarmState;
  /** The alarm's datapoints aggregated per the policy. */
  readonly metricValue: number;
  readonly step: StepAdjustment;
  /** Real time of the invocation. */
  readonly at: number;
}

/**
 * Answers an alarm that invokes a scaling policy, as Application Auto Scaling does: the alarm's
 * datapoints are aggregated per the policy's `MetricAggregationType`, the breach (that value minus
 * the alarm threshold) picks the step adjustment, and the policy is queued for the scaler, which
 * applies it to the variant's capacity. An invocation that picks no step fails with the error
 * CloudWatch records in the alarm history. A target-tracking policy's alarms are accepted as they
 * are: its scaler reads their states.
 */
export function invokeScalingPolicy(autoscaling: ApplicationAutoScalingService, invocation: ScalingActionInvocation, now: number): ScalingActionResult {
  const policy = autoscaling.policyByArn(invocation.actionArn);
  if (!policy) return { error: `No scaling policy found for ARN ${invocation.actionArn}` };
  if (policy.type === 'TargetTrackingScaling') return {};
  if (invocation.datapoints.length === 0) {
    return {
      error: invocation.forced
        ? 'The alarm state carries no datapoints: SetAlarmState must give recentDatapoints in StateReasonData for a step scaling policy to pick a step adjustment.'
        : `The alarm has no datapoints in state ${invocation.state} to pick a step adjustment with.`,
    };
  }
  const metricValue = aggregateMetric(invocation.datapoints, policy.config.MetricAggregationType);
  const breach = metricValue - invocation.threshold;
  const step = findStep(policy.config.StepAdjustments, breach, breachSide(breach, invocation.comparisonOperator.startsWith('LessThan')));
  if (!step) {
    return { error: `No step adjustment found for metric value [${invocation.datapoints.map(formatValue).join(', ')}] and breach threshold ${formatValue(invocation.threshold)}` };
  }
  policy.pending = { alarmName: invocation.alarmName, state: invocation.state, metricValue, step, at: now };
  return {};
}
