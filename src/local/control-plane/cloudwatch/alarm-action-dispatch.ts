import type { AlarmDefinition } from './alarm-definition.js';
import type { AlarmState } from './alarm-evaluation.js';
import { actionsFor, isAutoScalingAction, type ScalingActionHandler } from './alarm-actions.js';
import type { AlarmHistory } from './alarm-history.js';

/** What the dispatcher reads of an alarm. */
export interface DispatchedAlarm {
  readonly def: AlarmDefinition;
  readonly state: AlarmState;
  readonly stateUpdatedAt: number;
  /** The alarm's most recent datapoints. */
  readonly datapoints: readonly number[];
  /** Whether the state was set by SetAlarmState. */
  readonly forced: boolean;
}

/**
 * Runs the Auto Scaling actions of alarms: the scaling policies listed for the alarm's state, when
 * its actions are enabled. Each run is recorded in the alarm history as an `Action` item
 * ("Successfully executed action <arn>", or the error the policy's service answered). Other
 * actions (SNS topics, EC2 actions, ...) are kept on the alarm but not run locally.
 */
export class ScalingActionDispatcher {
  private handler: ScalingActionHandler | undefined;

  constructor(
    private readonly history: AlarmHistory,
    private readonly alarmArn: (name: string) => string,
  ) {}

  /** Sets the service that runs scaling policies (the local Application Auto Scaling). */
  setHandler(handler: ScalingActionHandler): void {
    this.handler = handler;
  }

  /** Runs every scaling action of `alarm`'s current state; returns how many ran. */
  run(alarm: DispatchedAlarm, now: number): number {
    if (!alarm.def.ActionsEnabled) return 0;
    const arns = actionsFor(alarm.def, alarm.state).filter(isAutoScalingAction);
    for (const arn of arns) {
      const result = this.handler
        ? this.handler({
            alarmName: alarm.def.AlarmName,
            alarmArn: this.alarmArn(alarm.def.AlarmName),
            state: alarm.state,
            actionArn: arn,
            datapoints: alarm.datapoints,
            threshold: alarm.def.Threshold,
            comparisonOperator: alarm.def.ComparisonOperator,
            forced: alarm.forced,
          })
        : { error: 'No Application Auto Scaling answers on this CloudWatch.' };
      const error = result.error;
      this.history.record(alarm.def.AlarmName, 'Action', error === undefined ? `Successfully executed action ${arn}` : `Failed to execute Auto Scaling action: ${error}`, now, {
        actionState: error === undefined ? 'Succeeded' : 'Failed',
        stateUpdateTimestamp: alarm.stateUpdatedAt,
        notificationResource: arn,
        error: error ?? null,
      });
    }
    return arns.length;
  }
}
