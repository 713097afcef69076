import type { ShapeRule } from './validate.js';
import { CONCURRENCY_THRESHOLD_RANGE, PREFIX_LENGTH_RANGE, ROUTING_STRATEGIES } from '../routing-config.js';

/*
 * The SageMaker control-plane shapes smkit's local SageMaker serves, named and constrained as the
 * service model (botocore `sagemaker/2017-07-24/service-2.json`) names and constrains them.
 * Only the members used locally are listed; others are accepted and ignored, as the service ignores
 * unknown members.
 */

/** `ContainerDefinition`. */
export interface ContainerDefinition {
  ContainerHostname?: string;
  Image?: string;
  Mode?: 'SingleModel' | 'MultiModel';
  ModelDataUrl?: string;
  Environment?: Record<string, string>;
  /** `Disabled`: the local multi-model endpoint unloads and deletes each model after its invocation. */
  MultiModelConfig?: { ModelCacheSetting?: 'Enabled' | 'Disabled' };
  /** Where the image is pulled from: `Vpc` is a private Docker registry (recorded; the local backend pulls as it does). */
  ImageConfig?: { RepositoryAccessMode: 'Platform' | 'Vpc'; RepositoryAuthConfig?: { RepositoryCredentialsProviderArn: string } };
  /** Model data as S3 objects, possibly uncompressed (in place of `ModelDataUrl`). */
  ModelDataSource?: { S3DataSource?: { S3Uri: string; S3DataType: 'S3Prefix' | 'S3Object'; CompressionType: 'None' | 'Gzip'; ModelAccessConfig?: { AcceptEula: boolean } } };
}

/** `ProductionVariant` (also used for `ShadowProductionVariants`). */
export interface ProductionVariant {
  VariantName: string;
  ModelName?: string;
  InitialInstanceCount?: number;
  InstanceType?: string;
  InitialVariantWeight?: number;
  /** An Amazon Elastic Inference accelerator (`ml.eia*`): kept as given; such an endpoint cannot use deployment guardrails. */
  AcceleratorType?: string;
  /** How long each instance's containers have to pass `/ping` (instead of the local `--startup-timeout`). */
  ContainerStartupHealthCheckTimeoutInSeconds?: number;
  /** How long the variant's model data has to download (each container's, in turn). */
  ModelDataDownloadTimeoutInSeconds?: number;
  /** A serverless variant: no instances of its own; instances start on demand, up to `MaxConcurrency` requests at once. */
  ServerlessConfig?: ProductionVariantServerlessConfig;
  /** `ProductionVariantManagedInstanceScaling`: on an endpoint for inference components, instances added or released to place their copies. */
  ManagedInstanceScaling?: { Status?: 'ENABLED' | 'DISABLED'; MinInstanceCount?: number; MaxInstanceCount?: number };
  /** `ProductionVariantRoutingConfig`: how requests are spread over the variant's instances. */
  RoutingConfig?: ProductionVariantRoutingConfig;
}

/** `ProductionVariantRoutingConfig`. */
export interface ProductionVariantRoutingConfig {
  RoutingStrategy: (typeof ROUTING_STRATEGIES)[number];
  /** Only with `PREFIX_AWARE`, which needs both of its members. */
  PrefixAwareRoutingConfig?: PrefixAwareRoutingConfig;
}

/** `PrefixAwareRoutingConfig`. */
export interface PrefixAwareRoutingConfig {
  /** Bytes from the start of the request body that choose the instance (1024 to 65536). */
  PrefixLength?: number;
  /** Requests in flight on the chosen instance at which another, less busy, takes the request (1 to 1024). */
  ConcurrencyThreshold?: number;
}

/** `ProductionVariantServerlessConfig`. */
export interface ProductionVariantServerlessConfig {
  /** 1024 to 6144 MB, in 1 GB steps. */
  MemorySizeInMB: number;
  /** Most invocations the variant serves at once (1 to 200). */
  MaxConcurrency: number;
  /** Invocations kept warm (1 to 200, at most `MaxConcurrency`). */
  ProvisionedConcurrency?: number;
}

/** `Tag`. */
export interface Tag {
  Key: string;
  Value: string;
}

/** `DataCaptureConfig`. */
export interface DataCaptureConfig {
  EnableCapture?: boolean;
  InitialSamplingPercentage: number;
  DestinationS3Uri: string;
  KmsKeyId?: string;
  CaptureOptions: Array<{ CaptureMode: 'Input' | 'Output' | 'InputAndOutput' }>;
  CaptureContentTypeHeader?: { CsvContentTypes?: string[]; JsonContentTypes?: string[] };
}

/** `AsyncInferenceConfig` (the members the local SageMaker uses). */
export interface AsyncInferenceConfig {
  ClientConfig?: { MaxConcurrentInvocationsPerInstance?: number };
  OutputConfig: {
    S3OutputPath?: string;
    S3FailurePath?: string;
    KmsKeyId?: string;
    NotificationConfig?: { SuccessTopic?: string; ErrorTopic?: string; IncludeInferenceResponseIn?: string[] };
  };
}

/** `MetricsConfig` of `CreateEndpointConfig`. */
export interface MetricsConfig {
  EnableEnhancedMetrics?: boolean;
  MetricPublishFrequencyInSeconds?: number;
}

/** `VpcConfig` (of `CreateModel` and `CreateEndpointConfig`). */
export interface VpcConfig {
  SecurityGroupIds: string[];
  Subnets: string[];
}

/** `CapacitySize`. */
export interface CapacitySize {
  Type: 'INSTANCE_COUNT' | 'CAPACITY_PERCENT';
  Value: number;
}

/** `TrafficRoutingConfig`. */
export interface TrafficRoutingConfig {
  Type: 'ALL_AT_ONCE' | 'CANARY' | 'LINEAR';
  WaitIntervalInSeconds: number;
  CanarySize?: CapacitySize;
  LinearStepSize?: CapacitySize;
}

/** `DeploymentConfig`. */
export interface DeploymentConfig {
  BlueGreenUpdatePolicy?: {
    TrafficRoutingConfiguration: TrafficRoutingConfig;
    TerminationWaitInSeconds?: number;
    MaximumExecutionTimeoutInSeconds?: number;
  };
  RollingUpdatePolicy?: {
    MaximumBatchSize: CapacitySize;
    WaitIntervalInSeconds: number;
    MaximumExecutionTimeoutInSeconds?: number;
    RollbackMaximumBatchSize?: CapacitySize;
  };
  AutoRollbackConfiguration?: { Alarms?: Array<{ AlarmName?: string }> };
}

/** Status values of `EndpointStatus`. */
export type EndpointStatus = 'OutOfService' | 'Creating' | 'Updating' | 'SystemUpdating' | 'RollingBack' | 'InService' | 'Deleting' | 'Failed' | 'UpdateRollbackFailed';

/** botocore's `EndpointName`/`VariantName`/`EndpointConfigName`. */
export const NAME = { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}' } as const;
/** botocore's `ModelName` (also `InferenceComponentName`). */
export const MODEL_NAME = { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?' } as const;
const ROLE_ARN = { kind: 'string', min: 20, max: 2048, pattern: 'arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+' } as const;
/** botocore's `TagKey`/`TagValue` pattern: letters, spaces, digits and `_.:/=+-@`. */
const TAG_PATTERN = '([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)';
/** botocore's `CsvContentType`/`JsonContentType`: a `type/subtype` MIME type. */
const CAPTURE_CONTENT_TYPE = { kind: 'string', min: 1, max: 256, pattern: '[a-zA-Z0-9](-*[a-zA-Z0-9])*\\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*' } as const;
const TAG_KEY = { kind: 'string', min: 1, max: 128, pattern: TAG_PATTERN } as const;
/** botocore's `TagList`. */
export const TAGS: ShapeRule = {
  kind: 'list',
  min: 0,
  max: 50,
  member: { kind: 'structure', required: ['Key', 'Value'], members: { Key: TAG_KEY, Value: { kind: 'string', min: 0, max: 256, pattern: TAG_PATTERN } } },
};
/** botocore's `ResourceArn` of the tagging operations. */
const RESOURCE_ARN = { kind: 'string', min: 0, max: 256, pattern: 'arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+' } as const;
/** botocore's `VpcConfig`: `VpcSecurityGroupIds` (1–5) and `Subnets` (1–16) of `SecurityGroupId`/`SubnetId`. */
const VPC_CONFIG: ShapeRule = {
  kind: 'structure',
  required: ['SecurityGroupIds', 'Subnets'],
  members: {
    SecurityGroupIds: { kind: 'list', min: 1, max: 5, member: { kind: 'string', min: 0, max: 32, pattern: '[-0-9a-zA-Z]+' } },
    Subnets: { kind: 'list', min: 1, max: 16, member: { kind: 'string', min: 0, max: 32, pattern: '[-0-9a-zA-Z]+' } },
  },
};
const CAPACITY_SIZE: ShapeRule = {
  kind: 'structure',
  required: ['Type', 'Value'],
  members: { Type: { kind: 'string', enum: ['INSTANCE_COUNT', 'CAPACITY_PERCENT'] }, Value: { kind: 'integer', min: 1 } },
};
const CONTAINER: ShapeRule = {
  kind: 'structure',
  members: {
    ContainerHostname: NAME,
    Image: { kind: 'string', min: 0, max: 255, pattern: '[\\S]+' },
    ImageConfig: {
      kind: 'structure',
      required: ['RepositoryAccessMode'],
      members: {
        RepositoryAccessMode: { kind: 'string', enum: ['Platform', 'Vpc'] },
        RepositoryAuthConfig: { kind: 'structure', required: ['RepositoryCredentialsProviderArn'], members: { RepositoryCredentialsProviderArn: { kind: 'string', min: 1, max: 2048, pattern: '.*' } } },
      },
    },
    Mode: { kind: 'string', enum: ['SingleModel', 'MultiModel'] },
    MultiModelConfig: { kind: 'structure', members: { ModelCacheSetting: { kind: 'string', enum: ['Enabled', 'Disabled'] } } },
    // The service takes https:// and s3:// URLs; the local SageMaker also takes file:// URLs and paths.
    ModelDataUrl: { kind: 'string', min: 0, max: 1024 },
    ModelDataSource: {
      kind: 'structure',
      members: {
        S3DataSource: {
          kind: 'structure',
          required: ['S3Uri', 'S3DataType', 'CompressionType'],
          members: {
            S3Uri: { kind: 'string', min: 0, max: 1024, pattern: '(https|s3)://([^/]+)/?(.*)' },
            S3DataType: { kind: 'string', enum: ['S3Prefix', 'S3Object'] },
            CompressionType: { kind: 'string', enum: ['None', 'Gzip'] },
            ModelAccessConfig: { kind: 'structure', required: ['AcceptEula'], members: { AcceptEula: { kind: 'boolean' } } },
            ManifestS3Uri: { kind: 'string', min: 0, max: 1024, pattern: '(https|s3)://([^/]+)/?(.*)' },
          },
        },
      },
    },
    // "The maximum length of each key and value in the Environment map is 1024 bytes" (ContainerDefinition in the API reference).
    Environment: {
      kind: 'map',
      min: 0,
      max: 100,
      key: { kind: 'string', min: 0, max: 1024, bytes: true, pattern: '[a-zA-Z_][a-zA-Z0-9_]*' },
      value: { kind: 'string', min: 0, max: 1024, bytes: true, pattern: '[\\S\\s]*' },
    },
  },
};
const VARIANT: ShapeRule = {
  kind: 'structure',
  required: ['VariantName'],
  members: {
    VariantName: NAME,
    ModelName: MODEL_NAME,
    InitialInstanceCount: { kind: 'integer', min: 1 },
    InstanceType: { kind: 'string', pattern: 'ml\\.[a-z0-9-]+\\.[a-z0-9]+' },
    InitialVariantWeight: { kind: 'float', min: 0 },
    // Recorded and described (DescribeEndpointConfig); checked as the service model states them.
    AcceleratorType: { kind: 'string', enum: ['ml.eia1.medium', 'ml.eia1.large', 'ml.eia1.xlarge', 'ml.eia2.medium', 'ml.eia2.large', 'ml.eia2.xlarge'] },
    VolumeSizeInGB: { kind: 'integer', min: 1, max: 512 },
    ModelDataDownloadTimeoutInSeconds: { kind: 'integer', min: 60, max: 3600 },
    ContainerStartupHealthCheckTimeoutInSeconds: { kind: 'integer', min: 60, max: 3600 },
    VariantInstanceProvisionTimeoutInSeconds: { kind: 'integer', min: 300, max: 3600 },
    EnableSSMAccess: { kind: 'boolean' },
    // ProductionVariantInferenceAmiVersion, InstancePoolList (1 to 5 InstancePool), ProductionVariantCapacityReservationConfig
    // (botocore sagemaker-2017-07-24): recorded and described; none of them changes how the local endpoint runs.
    InferenceAmiVersion: {
      kind: 'string',
      enum: ['al2-ami-sagemaker-inference-gpu-2', 'al2-ami-sagemaker-inference-gpu-2-1', 'al2-ami-sagemaker-inference-gpu-3-1', 'al2-ami-sagemaker-inference-neuron-2', 'al2023-ami-sagemaker-inference-gpu-4-1'],
    },
    InstancePools: {
      kind: 'list',
      min: 1,
      max: 5,
      member: {
        kind: 'structure',
        required: ['InstanceType', 'Priority'],
        members: { InstanceType: { kind: 'string', pattern: 'ml\\.[a-z0-9-]+\\.[a-z0-9]+' }, ModelNameOverride: MODEL_NAME, Priority: { kind: 'integer', min: 1, max: 5 } },
      },
    },
    CapacityReservationConfig: {
      kind: 'structure',
      members: {
        CapacityReservationPreference: { kind: 'string', enum: ['capacity-reservations-only'] },
        MlReservationArn: { kind: 'string', min: 20, max: 258, pattern: 'arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:[a-z0-9\\-]{1,14}/.*' },
      },
    },
    // ProductionVariantRoutingConfig and PrefixAwareRoutingConfig (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PrefixAwareRoutingConfig.html);
    // which members PREFIX_AWARE needs is checked by checkRoutingConfig.
    RoutingConfig: {
      kind: 'structure',
      required: ['RoutingStrategy'],
      members: {
        RoutingStrategy: { kind: 'string', enum: ROUTING_STRATEGIES },
        PrefixAwareRoutingConfig: {
          kind: 'structure',
          members: { PrefixLength: { kind: 'integer', ...PREFIX_LENGTH_RANGE }, ConcurrencyThreshold: { kind: 'integer', ...CONCURRENCY_THRESHOLD_RANGE } },
        },
      },
    },
    ManagedInstanceScaling: {
      kind: 'structure',
      members: {
        Status: { kind: 'string', enum: ['ENABLED', 'DISABLED'] },
        MinInstanceCount: { kind: 'integer', min: 0 },
        MaxInstanceCount: { kind: 'integer', min: 1 },
        ScaleInPolicy: {
          kind: 'structure',
          required: ['Strategy'],
          members: { Strategy: { kind: 'string', enum: ['IDLE_RELEASE', 'CONSOLIDATION'] }, MaximumStepSize: { kind: 'integer', min: 1, max: 100 }, CooldownInMinutes: { kind: 'integer', min: 5, max: 1440 } },
        },
      },
    },
    CoreDumpConfig: {
      kind: 'structure',
      required: ['DestinationS3Uri'],
      members: { DestinationS3Uri: { kind: 'string', min: 0, max: 512, pattern: '(https|s3)://([^/])/?(.*)' }, KmsKeyId: { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' } },
    },
    // ServerlessMemorySizeInMB, ServerlessMaxConcurrency, ServerlessProvisionedConcurrency (botocore sagemaker-2017-07-24).
    ServerlessConfig: {
      kind: 'structure',
      required: ['MemorySizeInMB', 'MaxConcurrency'],
      members: {
        MemorySizeInMB: { kind: 'integer', min: 1024, max: 6144 },
        MaxConcurrency: { kind: 'integer', min: 1, max: 200 },
        ProvisionedConcurrency: { kind: 'integer', min: 1, max: 200 },
      },
    },
  },
};
const DATA_CAPTURE: ShapeRule = {
  kind: 'structure',
  required: ['InitialSamplingPercentage', 'DestinationS3Uri', 'CaptureOptions'],
  members: {
    EnableCapture: { kind: 'boolean' },
    InitialSamplingPercentage: { kind: 'integer', min: 0, max: 100 },
    // Pattern (https|s3)://([^/])/?(.*) on the service; the local SageMaker also writes to a local
    // folder, so CreateEndpointConfig checks it (a URL outside the pattern gets the service's words).
    DestinationS3Uri: { kind: 'string', min: 0, max: 512 },
    KmsKeyId: { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' },
    CaptureOptions: { kind: 'list', min: 1, max: 32, member: { kind: 'structure', required: ['CaptureMode'], members: { CaptureMode: { kind: 'string', enum: ['Input', 'Output', 'InputAndOutput'] } } } },
    CaptureContentTypeHeader: {
      kind: 'structure',
      members: {
        CsvContentTypes: { kind: 'list', min: 1, max: 10, member: CAPTURE_CONTENT_TYPE },
        JsonContentTypes: { kind: 'list', min: 1, max: 10, member: CAPTURE_CONTENT_TYPE },
      },
    },
  },
};
/** botocore's `SnsTopicArn` (`AsyncInferenceNotificationConfig.SuccessTopic` and `ErrorTopic`). */
const SNS_TOPIC_ARN = { kind: 'string', min: 0, max: 2048, pattern: 'arn:aws[a-z\\-]*:sns:[a-z0-9\\-]*:[0-9]{12}:[a-zA-Z0-9_.-]+' } as const;
const ASYNC_INFERENCE: ShapeRule = {
  kind: 'structure',
  required: ['OutputConfig'],
  members: {
    ClientConfig: { kind: 'structure', members: { MaxConcurrentInvocationsPerInstance: { kind: 'integer', min: 1, max: 1000 } } },
    OutputConfig: {
      kind: 'structure',
      members: {
        KmsKeyId: { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' },
        // s3:// or https:// on the service; the local SageMaker also writes to a local folder, as for data capture.
        S3OutputPath: { kind: 'string', min: 0, max: 512 },
        S3FailurePath: { kind: 'string', min: 0, max: 512 },
        // Recorded and checked as the service checks it; with no local SNS, each notification is logged instead.
        NotificationConfig: {
          kind: 'structure',
          members: {
            SuccessTopic: SNS_TOPIC_ARN,
            ErrorTopic: SNS_TOPIC_ARN,
            IncludeInferenceResponseIn: { kind: 'list', min: 0, max: 2, member: { kind: 'string', enum: ['SUCCESS_NOTIFICATION_TOPIC', 'ERROR_NOTIFICATION_TOPIC'] } },
          },
        },
      },
    },
  },
};
const DEPLOYMENT_CONFIG: ShapeRule = {
  kind: 'structure',
  members: {
    BlueGreenUpdatePolicy: {
      kind: 'structure',
      required: ['TrafficRoutingConfiguration'],
      members: {
        TrafficRoutingConfiguration: {
          kind: 'structure',
          required: ['Type', 'WaitIntervalInSeconds'],
          members: {
            Type: { kind: 'string', enum: ['ALL_AT_ONCE', 'CANARY', 'LINEAR'] },
            WaitIntervalInSeconds: { kind: 'integer', min: 0, max: 3600 },
            CanarySize: CAPACITY_SIZE,
            LinearStepSize: CAPACITY_SIZE,
          },
        },
        TerminationWaitInSeconds: { kind: 'integer', min: 0, max: 3600 },
        MaximumExecutionTimeoutInSeconds: { kind: 'integer', min: 600, max: 28800 },
      },
    },
    RollingUpdatePolicy: {
      kind: 'structure',
      required: ['MaximumBatchSize', 'WaitIntervalInSeconds'],
      members: {
        MaximumBatchSize: CAPACITY_SIZE,
        WaitIntervalInSeconds: { kind: 'integer', min: 0, max: 3600 },
        MaximumExecutionTimeoutInSeconds: { kind: 'integer', min: 600, max: 28800 },
        RollbackMaximumBatchSize: CAPACITY_SIZE,
      },
    },
    AutoRollbackConfiguration: {
      kind: 'structure',
      members: { Alarms: { kind: 'list', min: 1, max: 10, member: { kind: 'structure', members: { AlarmName: { kind: 'string', min: 1, max: 255, pattern: '(?!\\s*$).+' } } } } },
    },
  },
};
/** botocore's `S3Uri`: where training data is read and its output written. */
const S3_URI = { kind: 'string', min: 0, max: 1024, pattern: '(https|s3)://([^/]+)/?(.*)' } as const;
const TRAINING_INPUT_MODE = { kind: 'string', enum: ['Pipe', 'File', 'FastFile'] } as const;
/** botocore's `TrainingJobStatus`. */
export const TRAINING_JOB_STATUSES = ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped', 'Deleting'] as const;
/** botocore's `TrainingJobName`. */
const TRAINING_JOB_NAME = { kind: 'string', min: 1, max: 63, pattern: '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}' } as const;
const TRAINING_CHANNEL: ShapeRule = {
  kind: 'structure',
  required: ['ChannelName', 'DataSource'],
  members: {
    ChannelName: { kind: 'string', min: 1, max: 64, pattern: '[A-Za-z0-9\\.\\-_]+' },
    DataSource: {
      kind: 'structure',
      members: {
        S3DataSource: {
          kind: 'structure',
          required: ['S3DataType', 'S3Uri'],
          members: {
            S3DataType: { kind: 'string', enum: ['ManifestFile', 'S3Prefix', 'AugmentedManifestFile', 'Converse'] },
            S3Uri: S3_URI,
            S3DataDistributionType: { kind: 'string', enum: ['FullyReplicated', 'ShardedByS3Key'] },
          },
        },
      },
    },
    ContentType: { kind: 'string', min: 0, max: 256, pattern: '.*' },
    CompressionType: { kind: 'string', enum: ['None', 'Gzip'] },
    RecordWrapperType: { kind: 'string', enum: ['None', 'RecordIO'] },
    InputMode: TRAINING_INPUT_MODE,
  },
};

/** The members the `List*` operations share. */
const LIST_COMMON = {
  SortOrder: { kind: 'string', enum: ['Ascending', 'Descending'] },
  NextToken: { kind: 'string', min: 0, max: 8192 },
  MaxResults: { kind: 'integer', min: 1, max: 100 },
  CreationTimeBefore: { kind: 'timestamp' },
  CreationTimeAfter: { kind: 'timestamp' },
} as const satisfies Record<string, ShapeRule>;

/**
 * The members of the `List*` operations that also sort by status and filter by name, last
 * modification and status (`ListEndpoints`, `ListTrainingJobs`, `ListInferenceComponents`), in the
 * service model's order (violations are reported in member order).
 *
 * @param nameContainsPattern `NameContains`'s pattern as botocore spells it for the operation
 *   (the spellings differ, and a violation quotes it).
 * @param statuses The values `StatusEquals` accepts.
 */
export function listByStatusMembers<S extends readonly string[]>(nameContainsPattern: string, statuses: S) {
  return {
    ...LIST_COMMON,
    SortBy: { kind: 'string', enum: ['Name', 'CreationTime', 'Status'] },
    NameContains: { kind: 'string', min: 0, max: 63, pattern: nameContainsPattern },
    LastModifiedTimeBefore: { kind: 'timestamp' },
    LastModifiedTimeAfter: { kind: 'timestamp' },
    StatusEquals: { kind: 'string', enum: statuses },
  } as const satisfies Record<string, ShapeRule>;
}

/** Input shapes of the operations the local SageMaker serves. */
export const SAGEMAKER_INPUTS: Readonly<Record<string, ShapeRule & { kind: 'structure' }>> = {
  CreateModel: {
    kind: 'structure',
    required: ['ModelName'],
    members: {
      ModelName: MODEL_NAME,
      PrimaryContainer: CONTAINER,
      Containers: { kind: 'list', min: 0, max: 15, member: CONTAINER },
      InferenceExecutionConfig: { kind: 'structure', required: ['Mode'], members: { Mode: { kind: 'string', enum: ['Serial', 'Direct'] } } },
      ExecutionRoleArn: ROLE_ARN,
      Tags: TAGS,
      VpcConfig: VPC_CONFIG,
      EnableNetworkIsolation: { kind: 'boolean' },
    },
  },
  DescribeModel: { kind: 'structure', required: ['ModelName'], members: { ModelName: MODEL_NAME } },
  DeleteModel: { kind: 'structure', required: ['ModelName'], members: { ModelName: MODEL_NAME } },
  ListModels: {
    kind: 'structure',
    members: { ...LIST_COMMON, SortBy: { kind: 'string', enum: ['Name', 'CreationTime'] }, NameContains: { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9-]+' } },
  },
  CreateEndpointConfig: {
    kind: 'structure',
    required: ['EndpointConfigName', 'ProductionVariants'],
    members: {
      EndpointConfigName: NAME,
      ProductionVariants: { kind: 'list', min: 1, max: 10, member: VARIANT },
      ShadowProductionVariants: { kind: 'list', min: 1, max: 10, member: VARIANT },
      DataCaptureConfig: DATA_CAPTURE,
      AsyncInferenceConfig: ASYNC_INFERENCE,
      Tags: TAGS,
      KmsKeyId: { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' },
      ExecutionRoleArn: ROLE_ARN,
      VpcConfig: VPC_CONFIG,
      EnableNetworkIsolation: { kind: 'boolean' },
      MetricsConfig: { kind: 'structure', members: { EnableEnhancedMetrics: { kind: 'boolean' }, MetricPublishFrequencyInSeconds: { kind: 'integer' } } },
    },
  },
  DescribeEndpointConfig: { kind: 'structure', required: ['EndpointConfigName'], members: { EndpointConfigName: NAME } },
  DeleteEndpointConfig: { kind: 'structure', required: ['EndpointConfigName'], members: { EndpointConfigName: NAME } },
  ListEndpointConfigs: {
    kind: 'structure',
    members: { ...LIST_COMMON, SortBy: { kind: 'string', enum: ['Name', 'CreationTime'] }, NameContains: { kind: 'string', min: 0, max: 63, pattern: '[a-zA-Z0-9-]+' } },
  },
  CreateEndpoint: {
    kind: 'structure',
    required: ['EndpointName', 'EndpointConfigName'],
    members: { EndpointName: NAME, EndpointConfigName: NAME, DeploymentConfig: DEPLOYMENT_CONFIG, Tags: TAGS },
  },
  DescribeEndpoint: { kind: 'structure', required: ['EndpointName'], members: { EndpointName: NAME } },
  DeleteEndpoint: { kind: 'structure', required: ['EndpointName'], members: { EndpointName: NAME } },
  ListEndpoints: {
    kind: 'structure',
    members: {
      ...listByStatusMembers('[a-zA-Z0-9-]+', ['OutOfService', 'Creating', 'Updating', 'SystemUpdating', 'RollingBack', 'InService', 'Deleting', 'Failed', 'UpdateRollbackFailed']),
    },
  },
  UpdateEndpoint: {
    kind: 'structure',
    required: ['EndpointName', 'EndpointConfigName'],
    members: {
      EndpointName: NAME,
      EndpointConfigName: NAME,
      RetainAllVariantProperties: { kind: 'boolean' },
      ExcludeRetainedVariantProperties: {
        kind: 'list',
        min: 0,
        max: 3,
        member: { kind: 'structure', required: ['VariantPropertyType'], members: { VariantPropertyType: { kind: 'string', enum: ['DesiredInstanceCount', 'DesiredWeight', 'DataCaptureConfig'] } } },
      },
      DeploymentConfig: DEPLOYMENT_CONFIG,
      RetainDeploymentConfig: { kind: 'boolean' },
    },
  },
  AddTags: { kind: 'structure', required: ['ResourceArn', 'Tags'], members: { ResourceArn: RESOURCE_ARN, Tags: TAGS } },
  ListTags: { kind: 'structure', required: ['ResourceArn'], members: { ResourceArn: RESOURCE_ARN, NextToken: { kind: 'string', min: 0, max: 8192 }, MaxResults: { kind: 'integer', min: 50 } } },
  DeleteTags: { kind: 'structure', required: ['ResourceArn', 'TagKeys'], members: { ResourceArn: RESOURCE_ARN, TagKeys: { kind: 'list', min: 1, max: 50, member: TAG_KEY } } },
  CreateTrainingJob: {
    kind: 'structure',
    required: ['TrainingJobName', 'RoleArn', 'OutputDataConfig'],
    members: {
      TrainingJobName: TRAINING_JOB_NAME,
      HyperParameters: { kind: 'map', min: 0, max: 100, key: { kind: 'string', min: 0, max: 256, pattern: '.*' }, value: { kind: 'string', min: 0, max: 2500, pattern: '.*' } },
      AlgorithmSpecification: {
        kind: 'structure',
        required: ['TrainingInputMode'],
        members: {
          TrainingImage: { kind: 'string', min: 0, max: 255, pattern: '.*' },
          AlgorithmName: { kind: 'string', min: 1, max: 170 },
          TrainingInputMode: TRAINING_INPUT_MODE,
          MetricDefinitions: {
            kind: 'list',
            min: 0,
            max: 40,
            member: { kind: 'structure', required: ['Name', 'Regex'], members: { Name: { kind: 'string', min: 1, max: 255, pattern: '.+' }, Regex: { kind: 'string', min: 1, max: 500, pattern: '.+' } } },
          },
          EnableSageMakerMetricsTimeSeries: { kind: 'boolean' },
          // TrainingContainerEntrypointString and TrainingContainerArgument have no minimum length: an empty argument is one.
          ContainerEntrypoint: { kind: 'list', min: 1, max: 100, member: { kind: 'string', max: 256, pattern: '.*' } },
          ContainerArguments: { kind: 'list', min: 1, max: 100, member: { kind: 'string', max: 256, pattern: '.*' } },
        },
      },
      RoleArn: ROLE_ARN,
      InputDataConfig: { kind: 'list', min: 1, max: 20, member: TRAINING_CHANNEL },
      OutputDataConfig: {
        kind: 'structure',
        required: ['S3OutputPath'],
        members: { KmsKeyId: { kind: 'string', min: 0, max: 2048, pattern: '[a-zA-Z0-9:/_-]*' }, S3OutputPath: S3_URI, CompressionType: { kind: 'string', enum: ['GZIP', 'NONE'] } },
      },
      ResourceConfig: {
        kind: 'structure',
        members: { InstanceType: { kind: 'string', pattern: 'ml\\.[a-z0-9-]+\\.[a-z0-9]+' }, InstanceCount: { kind: 'integer', min: 0 }, VolumeSizeInGB: { kind: 'integer', min: 0 }, KeepAlivePeriodInSeconds: { kind: 'integer', min: 0, max: 21600 } },
      },
      StoppingCondition: {
        kind: 'structure',
        members: { MaxRuntimeInSeconds: { kind: 'integer', min: 1 }, MaxWaitTimeInSeconds: { kind: 'integer', min: 1 }, MaxPendingTimeInSeconds: { kind: 'integer', min: 7200, max: 2419200 } },
      },
      Tags: TAGS,
      EnableNetworkIsolation: { kind: 'boolean' },
      EnableInterContainerTrafficEncryption: { kind: 'boolean' },
      EnableManagedSpotTraining: { kind: 'boolean' },
      Environment: { kind: 'map', min: 0, max: 100, key: { kind: 'string', min: 0, max: 512, pattern: '[a-zA-Z_][a-zA-Z0-9_]*' }, value: { kind: 'string', min: 0, max: 512, pattern: '[\\S\\s]*' } },
      CheckpointConfig: { kind: 'structure', required: ['S3Uri'], members: { S3Uri: S3_URI, LocalPath: { kind: 'string', min: 0, max: 4096, pattern: '.*' } } },
      // Accepted, ignored and described as sent: checked as the service model states it.
      MlflowConfig: {
        kind: 'structure',
        required: ['MlflowResourceArn'],
        members: {
          MlflowResourceArn: { kind: 'string', min: 0, max: 2048, pattern: 'arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:mlflow-[a-zA-Z-]*/.*' },
          MlflowExperimentName: { kind: 'string', min: 1, max: 256, pattern: '.*' },
          MlflowRunName: { kind: 'string', min: 1, max: 256, pattern: '.*' },
        },
      },
    },
  },
  DescribeTrainingJob: { kind: 'structure', required: ['TrainingJobName'], members: { TrainingJobName: TRAINING_JOB_NAME } },
  StopTrainingJob: { kind: 'structure', required: ['TrainingJobName'], members: { TrainingJobName: TRAINING_JOB_NAME } },
  DeleteTrainingJob: { kind: 'structure', required: ['TrainingJobName'], members: { TrainingJobName: TRAINING_JOB_NAME } },
  UpdateTrainingJob: {
    kind: 'structure',
    required: ['TrainingJobName'],
    members: {
      TrainingJobName: TRAINING_JOB_NAME,
      ProfilerConfig: {
        kind: 'structure',
        members: {
          S3OutputPath: S3_URI,
          // botocore's long: an integer of any size JSON carries.
          ProfilingIntervalInMilliseconds: { kind: 'integer', long: true },
          ProfilingParameters: { kind: 'map', min: 0, max: 20, key: { kind: 'string', min: 1, max: 256, pattern: '.*' }, value: { kind: 'string', min: 0, max: 256, pattern: '.*' } },
          DisableProfiler: { kind: 'boolean' },
        },
      },
      ProfilerRuleConfigurations: {
        kind: 'list',
        min: 0,
        max: 20,
        member: {
          kind: 'structure',
          required: ['RuleConfigurationName', 'RuleEvaluatorImage'],
          members: {
            RuleConfigurationName: { kind: 'string', min: 1, max: 256, pattern: '.*' },
            LocalPath: { kind: 'string', min: 0, max: 4096, pattern: '.*' },
            S3OutputPath: S3_URI,
            RuleEvaluatorImage: { kind: 'string', min: 0, max: 255, pattern: '.*' },
            VolumeSizeInGB: { kind: 'integer', min: 0 },
            RuleParameters: { kind: 'map', min: 0, max: 100, key: { kind: 'string', min: 1, max: 256, pattern: '.*' }, value: { kind: 'string', min: 0, max: 256, pattern: '.*' } },
          },
        },
      },
      ResourceConfig: { kind: 'structure', required: ['KeepAlivePeriodInSeconds'], members: { KeepAlivePeriodInSeconds: { kind: 'integer', min: 0, max: 21600 } } },
      RemoteDebugConfig: { kind: 'structure', members: { EnableRemoteDebug: { kind: 'boolean' } } },
    },
  },
  ListTrainingJobs: {
    kind: 'structure',
    members: {
      ...listByStatusMembers('[a-zA-Z0-9\\-]+', TRAINING_JOB_STATUSES),
      WarmPoolStatusEquals: { kind: 'string', enum: ['Available', 'Terminated', 'Reused', 'InUse'] },
      TrainingPlanArnEquals: { kind: 'string', min: 50, max: 2048, pattern: 'arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:training-plan/.*' },
    },
  },
  UpdateEndpointWeightsAndCapacities: {
    kind: 'structure',
    required: ['EndpointName', 'DesiredWeightsAndCapacities'],
    members: {
      EndpointName: NAME,
      DesiredWeightsAndCapacities: {
        kind: 'list',
        min: 1,
        member: {
          kind: 'structure',
          required: ['VariantName'],
          members: {
            VariantName: NAME,
            DesiredWeight: { kind: 'float', min: 0 },
            DesiredInstanceCount: { kind: 'integer', min: 0 },
            // ProductionVariantServerlessUpdateConfig: ServerlessMaxConcurrency, ServerlessProvisionedConcurrency.
            ServerlessUpdateConfig: { kind: 'structure', members: { MaxConcurrency: { kind: 'integer', min: 1, max: 200 }, ProvisionedConcurrency: { kind: 'integer', min: 1, max: 200 } } },
          },
        },
      },
    },
  },
};
