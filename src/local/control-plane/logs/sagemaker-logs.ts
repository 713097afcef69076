import { randomBytes } from 'node:crypto';
import type { LineSink } from '../../backends/line-tap.js';
import type { InstanceLogs } from '../../fleet/instance-launcher.js';
import type { LogStore } from './log-store.js';

/** The log group of every training job (SageMaker developer guide, "CloudWatch Logs for Amazon SageMaker AI"). */
export const TRAINING_JOBS_LOG_GROUP = '/aws/sagemaker/TrainingJobs';
/** The log group of every transform job. */
export const TRANSFORM_JOBS_LOG_GROUP = '/aws/sagemaker/TransformJobs';

/** An endpoint's log group: `/aws/sagemaker/Endpoints/<EndpointName>`. */
export function endpointLogGroup(endpointName: string): string {
  return `/aws/sagemaker/Endpoints/${endpointName}`;
}

/** An instance id in EC2's form (`i-` and 17 hex digits), naming a local instance in its log stream. */
function instanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** Seconds since the epoch, as stream names carry them. */
function epochSeconds(now: number): number {
  return Math.floor(now / 1000);
}

/** The stream of a training job's one instance: `<job>/algo-1-<epoch seconds>` in {@link TRAINING_JOBS_LOG_GROUP}. */
export function trainingJobLogs(store: LogStore, jobName: string, now = Date.now()): LineSink {
  return store.sink(TRAINING_JOBS_LOG_GROUP, `${jobName}/algo-1-${epochSeconds(now)}`);
}

/**
 * The streams of an endpoint variant's instances: `<variant>/<instance id>`, or
 * `<variant>/<instance id>/<container hostname>` for each container of an inference pipeline.
 */
export function endpointInstanceLogs(store: LogStore, endpointName: string, variantName: string): InstanceLogs {
  return (hostnames) => {
    const id = instanceId();
    const group = endpointLogGroup(endpointName);
    return new Map(hostnames.map((h) => [h, store.sink(group, hostnames.length > 1 ? `${variantName}/${id}/${h}` : `${variantName}/${id}`)]));
  };
}

/**
 * The streams of a transform job's instance: `<job>/<instance id>-<epoch seconds>`, or
 * `<job>/<instance id>-<epoch seconds>/<container hostname>` for each container of a pipeline.
 * `dataLogs` gets each instance's `<job>/<instance id>-<epoch seconds>/data-log` stream by the
 * instance's index, made when the instance starts: where SageMaker writes what the transform job
 * itself reports (its parameters, the records that failed), apart from the containers' output.
 */
export function transformJobInstanceLogs(store: LogStore, jobName: string, dataLogs?: Map<number, LineSink>): InstanceLogs {
  return (hostnames, index) => {
    const stream = `${jobName}/${instanceId()}-${epochSeconds(Date.now())}`;
    if (index !== undefined) dataLogs?.set(index, store.sink(TRANSFORM_JOBS_LOG_GROUP, `${stream}/data-log`));
    return new Map(hostnames.map((h) => [h, store.sink(TRANSFORM_JOBS_LOG_GROUP, hostnames.length > 1 ? `${stream}/${h}` : stream)]));
  };
}
