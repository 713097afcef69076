import { DescribeScalingActivitiesCommand, type ApplicationAutoScalingClient, type ScalingActivity } from '@aws-sdk/client-application-auto-scaling';
import { until, type UntilOptions } from './until.js';

/**
 * The scaling activities of SageMaker resource `resourceId` (newest first) once none is
 * `InProgress`: an activity stays so until the scaler's next pass finds SageMaker has carried its
 * change out, a moment after the endpoint (or component) is `InService` at the new count.
 */
export function settledActivities(client: ApplicationAutoScalingClient, resourceId: string, poll: UntilOptions = { timeoutMs: 60_000, intervalMs: 100 }): Promise<ScalingActivity[]> {
  return until(`the scaling activities of ${resourceId} settled`, async () => {
    const activities = (await client.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId }))).ScalingActivities ?? [];
    return activities.some((a) => a.StatusCode === 'InProgress') ? undefined : activities;
  }, poll);
}
