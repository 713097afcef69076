import { AwsServiceError } from '../../aws/service.js';

/** A local stand-in for an account-level service quota, capped by `SMKIT_LOCAL_MAX_INSTANCES`. */
export interface LocalLimit {
  /** The quota's name as the error quotes it: `local instances for endpoint usage`. */
  name: string;
  /** What it counts, as the error words it: `Instances`, `copies`. */
  unit: string;
  /** The most there may be; `undefined` is no limit. */
  max: number | undefined;
}

/**
 * Throws `ResourceLimitExceeded`, worded as the service words a quota it would pass, when `delta`
 * more would take what is in use past `limit.max`. Nothing is checked (and `used` is not called)
 * without a limit or for a `delta` that does not grow the use.
 *
 * @param used What is in use now, asked only when there is something to check.
 */
export function checkLocalLimit(limit: LocalLimit, delta: number, used: () => number): void {
  const { name, unit, max } = limit;
  if (max === undefined || delta <= 0) return;
  const now = used();
  if (now + delta > max) {
    throw new AwsServiceError(
      'ResourceLimitExceeded',
      `The account-level service limit '${name}' is ${max} ${unit}, with current utilization of ${now} ${unit} and a request delta of ${delta} ${unit}. Raise SMKIT_LOCAL_MAX_INSTANCES to allow more.`,
      400,
    );
  }
}
