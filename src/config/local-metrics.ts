import { readNumber } from './settings.js';

/**
 * Settings of the local SageMaker's CloudWatch metrics, alarms and autoscaling. Read once here;
 * the control plane receives the frozen value.
 */
export interface LocalMetricsSettings {
  /**
   * `SMKIT_LOCAL_SECONDS_PER_MINUTE`: how many real seconds one CloudWatch minute lasts locally.
   * Every duration the APIs give in seconds (alarm `Period`, scaling cooldowns) is scaled by
   * `secondsPerMinute / 60`, so a 60-second period with the value `1` takes one real second.
   * Timestamps stay real. @defaultValue 60 (real time)
   */
  readonly secondsPerMinute: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and freezes {@link LocalMetricsSettings}; throws `ERR_CONFIG_INVALID` naming the variable. */
export function loadLocalMetricsSettings(env: Env = process.env): Readonly<LocalMetricsSettings> {
  return Object.freeze({ secondsPerMinute: readNumber(env, 'SMKIT_LOCAL_SECONDS_PER_MINUTE', 60, 0.1, 60) });
}
