import { AwsServiceError, type AwsService } from '../../src/aws/service.js';

/**
 * A stand-in for the SageMaker control plane with the two operations the autoscaling scaler uses
 * (`DescribeEndpoint`, `UpdateEndpointWeightsAndCapacities`) on one endpoint `ep` with one variant `v1`.
 */
export class FakeVariantSageMaker implements AwsService {
  readonly targetPrefix = 'SageMaker';
  readonly signingName = 'sagemaker';
  status = 'InService';
  count = 1;
  /** DescribeEndpoint shows an AsyncInferenceConfig (the endpoint may scale to 0). */
  asynchronous = false;
  /** The endpoint's variants (all at {@link count} instances). */
  variantNames = ['v1'];
  readonly updates: number[] = [];
  async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (input.EndpointName !== 'ep') throw new AwsServiceError('ValidationException', `Could not find endpoint "${String(input.EndpointName)}".`);
    if (operation === 'DescribeEndpoint') {
      return {
        EndpointName: 'ep',
        EndpointStatus: this.status,
        ProductionVariants: this.variantNames.map((VariantName) => ({ VariantName, CurrentInstanceCount: this.count, DesiredInstanceCount: this.count })),
        ...(this.asynchronous ? { AsyncInferenceConfig: { OutputConfig: { S3OutputPath: 's3://out/' } } } : {}),
      };
    }
    if (operation === 'UpdateEndpointWeightsAndCapacities') {
      const [change] = input.DesiredWeightsAndCapacities as Array<{ VariantName: string; DesiredInstanceCount: number }>;
      this.updates.push(change!.DesiredInstanceCount);
      this.count = change!.DesiredInstanceCount;
      this.status = 'Updating';
      return { EndpointArn: 'arn' };
    }
    throw new Error(`unexpected ${operation}`);
  }
}
