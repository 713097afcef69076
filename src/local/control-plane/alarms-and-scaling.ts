import type { ServerResponse } from 'node:http';
import type { AwsService, InternalFailureLog } from '../../aws/service.js';
import type { LocalMetricsSettings } from '../../config/local-metrics.js';
import { ApplicationAutoScalingService } from './autoscaling/autoscaling-service.js';
import { VariantScaler } from './autoscaling/variant-scaler.js';
import { invokeScalingPolicy } from './autoscaling/step-policy-invocation.js';
import { CloudWatchService } from './cloudwatch/cloudwatch-service.js';
import { createMetricClock, type MetricClock } from './cloudwatch/metric-clock.js';
import { MetricStore } from './cloudwatch/metric-store.js';
import { createCloudWatchQueryHandler, type QueryHttpRequest } from './cloudwatch/query-handler.js';

/** Options of {@link createAlarmsAndScaling}. */
export interface AlarmsAndScalingOptions {
  readonly settings: LocalMetricsSettings;
  readonly region: string;
  readonly accountId: string;
  /** Injectable time source (tests). @defaultValue Date.now */
  readonly now?: () => number;
  /** Called when a scaling action fails (the endpoint stays as it was). */
  readonly onScalingError?: (resourceId: string, err: unknown) => void;
  /** Told the cause of each `InternalFailure` the CloudWatch query handler answers (without it, a process warning: `reportInternalFailure`). */
  readonly onInternalFailure?: InternalFailureLog;
}

/** The local SageMaker's CloudWatch and Application Auto Scaling, ready to put on its port. */
export interface AlarmsAndScaling {
  /** The metric store: give it to the runtime as its invocation metrics sink. */
  readonly metrics: MetricStore;
  /** The metric clock (API durations in real time). */
  readonly clock: MetricClock;
  readonly cloudwatch: CloudWatchService;
  /** Builds the services for the port; Application Auto Scaling scales through `sagemaker`. */
  services(ctx: { sagemaker: AwsService }): AwsService[];
  /** The CloudWatch query-protocol handler (AWS CLI, boto3). */
  readonly queryHandler: ((req: QueryHttpRequest, res: ServerResponse) => void) & { readonly xmlns: string };
  /**
   * An `UpdateEndpointWeightsAndCapacities` change of endpoint `endpoint` has settled with these
   * instance counts by variant: the scaling activities waiting for it end (Successful or Failed).
   */
  capacitySettled(endpoint: string, settled: { readonly counts: ReadonlyMap<string, number>; readonly failureReason?: string }): void;
  /** A copy count change of inference component `component` has settled at `copies`: the scaling activities waiting for it end. */
  copiesSettled(component: string, settled: { readonly copies: number; readonly failureReason?: string }): void;
  /** Stops alarm evaluation and scaling. */
  stop(): Promise<void>;
}

/**
 * Builds the local CloudWatch (metric store, alarms) and Application Auto Scaling (targets,
 * policies, and the scaler that really changes variant capacity), with one metric clock whose
 * minute lasts `settings.secondsPerMinute` real seconds. Timers start at once and never keep the
 * process alive.
 */
export function createAlarmsAndScaling(opts: AlarmsAndScalingOptions): AlarmsAndScaling {
  const clock = createMetricClock(opts.settings.secondsPerMinute, opts.now);
  const metrics = new MetricStore(clock);
  const cloudwatch = new CloudWatchService({ metrics, clock, region: opts.region, accountId: opts.accountId });
  cloudwatch.start();
  const handler = createCloudWatchQueryHandler(cloudwatch, opts.onInternalFailure);
  let scaler: VariantScaler | undefined;
  return {
    metrics,
    clock,
    cloudwatch,
    services({ sagemaker }) {
      const autoscaling = new ApplicationAutoScalingService({ sagemaker, cloudwatch, now: clock.now, durationMs: clock.durationMs, region: opts.region, accountId: opts.accountId });
      cloudwatch.setScalingActionHandler((invocation) => invokeScalingPolicy(autoscaling, invocation, clock.now()));
      scaler = new VariantScaler({ autoscaling, cloudwatch, metrics, sagemaker, clock, ...(opts.onScalingError ? { onError: opts.onScalingError } : {}) });
      scaler.start();
      return [cloudwatch, autoscaling];
    },
    queryHandler: handler,
    capacitySettled(endpoint, settled) {
      scaler?.capacitySettled(endpoint, settled);
    },
    copiesSettled(component, settled) {
      scaler?.copiesSettled(component, settled);
    },
    async stop() {
      cloudwatch.stop();
      await scaler?.stop();
    },
  };
}
