import { loadLocalMetricsSettings, type LocalMetricsSettings } from '../../config/local-metrics.js';
import { loadLocalSageMakerSettings, type LocalSageMakerSettings } from '../../config/local-sagemaker.js';
import { loadTrainingSettings } from '../../config/training.js';
import type { LocalSageMakerOptions } from './local-sagemaker.js';

/** What a local SageMaker takes from its options, else from the environment. */
export interface LocalSageMakerEnv {
  settings: LocalSageMakerSettings;
  /** Metric-window settings of CloudWatch and Auto Scaling (undefined when they are off). */
  metricsSettings: LocalMetricsSettings | undefined;
  trainingGraceSeconds: number | undefined;
}

/**
 * Reads the settings a local SageMaker started with `opts` needs (an invalid one throws
 * `ERR_CONFIG_INVALID`). Cheap and free of side effects, so `smkit local` also calls it before it
 * checks its port: a wrong setting is reported as such, not hidden behind a taken port.
 */
export function readLocalSageMakerEnv(opts: Pick<LocalSageMakerOptions, 'settings' | 'alarmsAndScaling' | 'services' | 'metricsSettings' | 'trainingGraceSeconds'>): LocalSageMakerEnv {
  const settings: LocalSageMakerSettings = opts.settings ? { region: 'us-east-1', accountId: '000000000000', maxInstances: 16, healthCheckSeconds: 5, ...opts.settings } : loadLocalSageMakerSettings();
  const withGuard = opts.alarmsAndScaling !== false && opts.services === undefined;
  const metricsSettings = withGuard ? (opts.metricsSettings ?? loadLocalMetricsSettings()) : undefined;
  // Containers do not inherit SMKIT_* variables, so the grace smkit local was started with is passed on.
  const trainingGraceSeconds = opts.trainingGraceSeconds ?? (opts.settings ? undefined : loadTrainingSettings().graceSeconds);
  return { settings, metricsSettings, trainingGraceSeconds };
}
