/**
 * The CloudWatch alarms an update's AutoRollbackConfiguration names, read between its steps
 * (UpdateEndpoint and UpdateInferenceComponent alike).
 */
import type { AwsService } from '../../aws/service.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';

/**
 * The first of the alarms `names` in ALARM, if any. No CloudWatch, or a failed read (logged as a
 * warning), counts as none firing: an update is never rolled back for an alarm nobody could read.
 */
export async function firstAlarmFiring(cloudwatch: AwsService | undefined, names: readonly string[], log?: EndpointLog): Promise<string | undefined> {
  if (names.length === 0 || !cloudwatch) return undefined;
  try {
    const out = (await cloudwatch.call('DescribeAlarms', { AlarmNames: [...names] })) as { MetricAlarms?: Array<{ AlarmName?: string; StateValue?: string }> };
    return out.MetricAlarms?.find((a) => a.StateValue === 'ALARM')?.AlarmName;
  } catch (err) {
    log?.('warn', 'reading alarm states failed', { alarms: names, error: (err as Error).message });
    return undefined;
  }
}
