import { partitionOf } from '../../aws/partition.js';
import type { CompiledMetricDefinition } from './training-metrics.js';
import type { WarmPoolRecord } from './warm-pools.js';
import type { AsyncInferenceConfig, ContainerDefinition, DataCaptureConfig, MetricsConfig, ProductionVariant, VpcConfig } from '../../aws/shapes/sagemaker.js';

/** A `CreateModel` as stored: the request's members plus the service's ARN and time. */
export interface ModelRecord {
  name: string;
  arn: string;
  createdAt: Date;
  /** One container or a serial pipeline (from `PrimaryContainer` or `Containers`). */
  containers: ContainerDefinition[];
  /** Whether the request gave `PrimaryContainer` (Describe answers in the same shape). */
  primary: boolean;
  inferenceExecutionMode?: 'Serial' | 'Direct';
  executionRoleArn?: string;
  enableNetworkIsolation?: boolean;
  /** Recorded and described; the local containers are not put in a VPC. */
  vpcConfig?: VpcConfig;
}

/** A `CreateEndpointConfig` as stored. */
export interface EndpointConfigRecord {
  name: string;
  arn: string;
  createdAt: Date;
  productionVariants: ProductionVariant[];
  shadowProductionVariants?: ProductionVariant[];
  dataCaptureConfig?: DataCaptureConfig;
  /** Set for an asynchronous endpoint: `InvokeEndpointAsync` writes its results where this says. */
  asyncInferenceConfig?: AsyncInferenceConfig;
  kmsKeyId?: string;
  executionRoleArn?: string;
  /** Recorded and described; the local containers are not put in a VPC. */
  vpcConfig?: VpcConfig;
  enableNetworkIsolation?: boolean;
  /** Recorded and described (also by DescribeEndpoint); no enhanced or utilization metrics are published locally. */
  metricsConfig?: MetricsConfig;
}

/** One entry of a training job's `SecondaryStatusTransitions`. */
export interface SecondaryStatusTransition {
  status: string;
  startedAt: Date;
  endedAt?: Date;
  message: string;
}

/** A `CreateTrainingJob` as stored: the request's members, and where the job's run has got to. */
export interface TrainingJobRecord {
  name: string;
  arn: string;
  createdAt: Date;
  lastModified: Date;
  /** The request's members that `DescribeTrainingJob` echoes, as given. */
  request: Record<string, unknown>;
  status: 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';
  secondaryStatus: string;
  transitions: SecondaryStatusTransition[];
  /** `<S3OutputPath>/<job>/output/model.tar.gz`. */
  modelArtifacts: string;
  failureReason?: string;
  trainingStartedAt?: Date;
  trainingEndedAt?: Date;
  /** Its `MetricDefinitions`, compiled once when the job was created. */
  metricDefinitions?: readonly CompiledMetricDefinition[];
  /** The latest value of each of its `MetricDefinitions` (by index) found in its output: `FinalMetricDataList`. */
  finalMetrics?: ReadonlyMap<number, { name: string; value: number; at: number }>;
  /** What a job must share with this one to reuse its warm pool (`warmPoolKey`). */
  warmPoolKey?: string;
  /** Its warm pool, once it has one: the one it reused while it runs, or the one it keeps once ended. */
  warmPool?: WarmPoolRecord;
}

/** The kinds of resource ARNs the local SageMaker makes. */
export type ResourceKind = 'model' | 'endpoint-config' | 'endpoint' | 'training-job';

/**
 * The one store of the local SageMaker's resources. Names are unique per kind; `Describe*` and
 * `List*` read only from here. Endpoint records are owned by the endpoint life cycle.
 */
export class ControlPlaneStore<EndpointRecord = unknown> {
  readonly models = new Map<string, ModelRecord>();
  readonly endpointConfigs = new Map<string, EndpointConfigRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  readonly trainingJobs = new Map<string, TrainingJobRecord>();
  /** Each resource's tags by its ARN, in the order they were first set (`Tags` of `Create*`, `AddTags`). */
  readonly tags = new Map<string, Map<string, string>>();

  constructor(
    /** Region named in ARNs. @defaultValue us-east-1 */
    readonly region = 'us-east-1',
    /** Account id named in ARNs. @defaultValue 000000000000 */
    readonly accountId = '000000000000',
  ) {}

  /**
   * Whether a resource of `kind` already has `name`'s ARN: names that differ only in case share one
   * ARN, so the second is an already existing resource ("The name is case-insensitive in
   * CreateEndpoint", API_CreateEndpoint). Lookups by name stay exact.
   */
  taken(kind: ResourceKind, name: string): boolean {
    const map = kind === 'model' ? this.models : kind === 'endpoint-config' ? this.endpointConfigs : kind === 'training-job' ? this.trainingJobs : this.endpoints;
    const lower = name.toLowerCase();
    for (const key of map.keys()) if (key.toLowerCase() === lower) return true;
    return false;
  }

  /** `arn:<partition>:sagemaker:<region>:<account>:<kind>/<name>`: the service lower-cases names in ARNs. */
  arn(kind: ResourceKind, name: string): string {
    return `arn:${partitionOf(this.region)}:sagemaker:${this.region}:${this.accountId}:${kind}/${name.toLowerCase()}`;
  }
}
