import type { DeployClients } from './clients.js';
import type { DesiredEndpoint } from './desired.js';
import { describeAlarms } from './inspect.js';

/**
 * Why an update was rolled back, for `ERR_DEPLOY_ROLLED_BACK`: the endpoint's `FailureReason`;
 * when the next change has cleared it (an autoscaling capacity update right after the rollback
 * does), the update's rollback alarms that are in ALARM now, with their reasons; when none is, or
 * they cannot be read, which config the endpoint serves instead.
 */
export async function rolledBackReason(
  clients: Pick<DeployClients, 'cloudwatch'>,
  desired: Pick<DesiredEndpoint, 'deploymentConfig'> & { readonly config: Pick<DesiredEndpoint['config'], 'name'> },
  outcome: { readonly reason: string | undefined; readonly serving: string | undefined },
): Promise<string> {
  if (outcome.reason !== undefined) return outcome.reason;
  const fallback = `the endpoint is InService on ${outcome.serving}, not ${desired.config.name}`;
  const names = desired.deploymentConfig?.AutoRollbackConfiguration?.Alarms?.flatMap((a) => (a.AlarmName ? [a.AlarmName] : [])) ?? [];
  if (names.length === 0) return fallback;
  try {
    const firing = [...(await describeAlarms(clients, names)).values()].filter((a) => a.StateValue === 'ALARM');
    if (firing.length === 0) return fallback;
    return `rollback alarm(s) in ALARM: ${firing.map((a) => `${a.AlarmName}${a.StateReason ? ` (${a.StateReason.replace(/\.+$/, '')})` : ''}`).join('; ')}`;
  } catch {
    return fallback;
  }
}
