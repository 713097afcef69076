import { DeleteEndpointCommand, DescribeEndpointCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { until, type UntilOptions } from './until.js';

/**
 * Deletes endpoint `name` and waits until DescribeEndpoint no longer finds it (a
 * `ValidationException`), polling with `poll`.
 */
export async function deleteEndpointAndWait(sagemaker: SageMakerClient, name: string, poll: UntilOptions): Promise<void> {
  await sagemaker.send(new DeleteEndpointCommand({ EndpointName: name }));
  await until(`${name} deleted`, async () => {
    try {
      await sagemaker.send(new DescribeEndpointCommand({ EndpointName: name }));
      return undefined;
    } catch (err) {
      return (err as Error).name === 'ValidationException' ? true : undefined;
    }
  }, poll);
}
