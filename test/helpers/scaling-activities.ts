import { DescribeScalingActivitiesCommand, type ApplicationAutoScalingClient, type ScalingActivity } from '@aws-sdk/client-application-auto-scaling';
import { until, type UntilOptions } from './until.js';

/**
 * The scaling activities of SageMaker resource `resourceId` (newest first) once none is
 * `InProgress`: an activity stays so until the scaler's next pass finds SageMaker has carried its
 * change out, a moment after the endpoint (or component) is `InService` at the new count. A
 * timeout names the activities still `InProgress`.
 */
export function settledActivities(client: ApplicationAutoScalingClient, resourceId: string, poll: UntilOptions = { timeoutMs: 60_000, intervalMs: 100 }): Promise<ScalingActivity[]> {
  let last: ScalingActivity[] = [];
  const pending = () => last.filter((a) => a.StatusCode === 'InProgress');
  return until(`the scaling activities of ${resourceId} settled`, async () => {
    last = (await client.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: 'sagemaker', ResourceId: resourceId }))).ScalingActivities ?? [];
    return pending().length > 0 ? undefined : last;
  }, {
    ...poll,
    detail: () => `still InProgress: ${JSON.stringify(pending().map((a) => ({ Description: a.Description, Cause: a.Cause, StatusMessage: a.StatusMessage, StartTime: a.StartTime })))}`,
  });
}
