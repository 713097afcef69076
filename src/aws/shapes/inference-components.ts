import { listByStatusMembers, MODEL_NAME, NAME, TAGS } from './sagemaker.js';
import type { ShapeRule } from './validate.js';

/*
 * The inference-component operations' input shapes, constrained as botocore's
 * `sagemaker/2017-07-24/service-2.json` constrains them.
 */

/** `InferenceComponentContainerSpecification`. */
export interface InferenceComponentContainer {
  Image?: string;
  ArtifactUrl?: string;
  Environment?: Record<string, string>;
  ContainerMetricsConfig?: { MetricsEndpoints?: Array<{ MetricsEndpointPath: string; MetricPublishFrequencyInSeconds?: number }> };
}

/** `InferenceComponentSpecification`, as the local SageMaker reads it. */
export interface InferenceComponentSpecification {
  ModelName?: string;
  Container?: InferenceComponentContainer;
  StartupParameters?: { ModelDataDownloadTimeoutInSeconds?: number; ContainerStartupHealthCheckTimeoutInSeconds?: number };
  ComputeResourceRequirements?: { NumberOfCpuCoresRequired?: number; NumberOfAcceleratorDevicesRequired?: number; MinMemoryRequiredInMb: number; MaxMemoryRequiredInMb?: number };
  BaseInferenceComponentName?: string;
  InstanceType?: string;
  DataCacheConfig?: { EnableCaching: boolean };
  SchedulingConfig?: { PlacementStrategy: string; AvailabilityZoneBalance?: { EnforcementMode: string; MaxImbalance?: number } };
}

/** botocore's `InferenceComponentStatus`. */
export const INFERENCE_COMPONENT_STATUSES = ['InService', 'Creating', 'Updating', 'Failed', 'Deleting'] as const;

/** An inference component's status. */
export type InferenceComponentStatus = (typeof INFERENCE_COMPONENT_STATUSES)[number];

const STARTUP_SECONDS = { kind: 'integer', min: 60, max: 3600 } as const;

const SPECIFICATION: ShapeRule = {
  kind: 'structure',
  members: {
    InstanceType: { kind: 'string', pattern: 'ml\\.[a-z0-9-]+\\.[a-z0-9]+' },
    ModelName: MODEL_NAME,
    Container: {
      kind: 'structure',
      members: {
        Image: { kind: 'string', min: 0, max: 255, pattern: '[\\S]+' },
        // (https|s3):// on the service; the local SageMaker also takes file:// URLs and absolute paths, as for ModelDataUrl.
        ArtifactUrl: { kind: 'string', min: 0, max: 1024 },
        Environment: { kind: 'map', min: 0, max: 100, key: { kind: 'string', min: 0, max: 1024, pattern: '[a-zA-Z_][a-zA-Z0-9_]*' }, value: { kind: 'string', min: 0, max: 1024, pattern: '[\\S\\s]*' } },
        // Checked and echoed by DescribeInferenceComponent, not used: the local SageMaker scrapes no container metrics.
        ContainerMetricsConfig: {
          kind: 'structure',
          members: {
            MetricsEndpoints: {
              kind: 'list',
              min: 0,
              max: 1,
              member: { kind: 'structure', required: ['MetricsEndpointPath'], members: { MetricsEndpointPath: { kind: 'string', min: 0, max: 256, pattern: '/(?!.*\\.\\.)[a-zA-Z0-9/_.\\-]+' }, MetricPublishFrequencyInSeconds: { kind: 'integer' } } },
            },
          },
        },
      },
    },
    StartupParameters: { kind: 'structure', members: { ModelDataDownloadTimeoutInSeconds: STARTUP_SECONDS, ContainerStartupHealthCheckTimeoutInSeconds: STARTUP_SECONDS } },
    ComputeResourceRequirements: {
      kind: 'structure',
      required: ['MinMemoryRequiredInMb'],
      members: {
        NumberOfCpuCoresRequired: { kind: 'float', min: 0.25 },
        NumberOfAcceleratorDevicesRequired: { kind: 'float', min: 1 },
        MinMemoryRequiredInMb: { kind: 'integer', min: 128 },
        MaxMemoryRequiredInMb: { kind: 'integer', min: 128 },
      },
    },
    BaseInferenceComponentName: MODEL_NAME,
    // Checked, not used: the local SageMaker caches no data and places each copy as a process of its own.
    DataCacheConfig: { kind: 'structure', required: ['EnableCaching'], members: { EnableCaching: { kind: 'boolean' } } },
    SchedulingConfig: {
      kind: 'structure',
      required: ['PlacementStrategy'],
      members: {
        PlacementStrategy: { kind: 'string', enum: ['SPREAD', 'BINPACK'] },
        AvailabilityZoneBalance: { kind: 'structure', required: ['EnforcementMode'], members: { EnforcementMode: { kind: 'string', enum: ['PERMISSIVE'] }, MaxImbalance: { kind: 'integer', min: 0, max: 100 } } },
      },
    },
  },
};

const RUNTIME_CONFIG: ShapeRule = { kind: 'structure', required: ['CopyCount'], members: { CopyCount: { kind: 'integer', min: 0 } } };

const CAPACITY: ShapeRule = { kind: 'structure', required: ['Type', 'Value'], members: { Type: { kind: 'string', enum: ['COPY_COUNT', 'CAPACITY_PERCENT'] }, Value: { kind: 'integer', min: 1 } } };

const DEPLOYMENT_CONFIG: ShapeRule = {
  kind: 'structure',
  required: ['RollingUpdatePolicy'],
  members: {
    RollingUpdatePolicy: {
      kind: 'structure',
      required: ['MaximumBatchSize', 'WaitIntervalInSeconds'],
      members: { MaximumBatchSize: CAPACITY, WaitIntervalInSeconds: { kind: 'integer', min: 0, max: 3600 }, MaximumExecutionTimeoutInSeconds: { kind: 'integer', min: 600, max: 28800 }, RollbackMaximumBatchSize: CAPACITY },
    },
    AutoRollbackConfiguration: {
      kind: 'structure',
      members: { Alarms: { kind: 'list', min: 1, max: 10, member: { kind: 'structure', members: { AlarmName: { kind: 'string', min: 1, max: 255, pattern: '(?!\\s*$).+' } } } } },
    },
  },
};

const NAME_ONLY = { kind: 'structure', required: ['InferenceComponentName'], members: { InferenceComponentName: MODEL_NAME } } as const;

/** Input shapes of the inference-component operations. */
export const INFERENCE_COMPONENT_INPUTS: Readonly<Record<string, ShapeRule & { kind: 'structure' }>> = {
  CreateInferenceComponent: {
    kind: 'structure',
    required: ['InferenceComponentName', 'EndpointName'],
    members: {
      InferenceComponentName: MODEL_NAME,
      EndpointName: NAME,
      VariantName: NAME,
      Specification: SPECIFICATION,
      Specifications: { kind: 'list', min: 1, max: 5, member: SPECIFICATION },
      RuntimeConfig: RUNTIME_CONFIG,
      Tags: TAGS,
    },
  },
  DescribeInferenceComponent: NAME_ONLY,
  DeleteInferenceComponent: NAME_ONLY,
  ListInferenceComponents: {
    kind: 'structure',
    members: {
      ...listByStatusMembers('[a-zA-Z0-9-]+', INFERENCE_COMPONENT_STATUSES),
      EndpointNameEquals: NAME,
      VariantNameEquals: NAME,
    },
  },
  UpdateInferenceComponent: {
    kind: 'structure',
    required: ['InferenceComponentName'],
    members: {
      InferenceComponentName: MODEL_NAME,
      Specification: SPECIFICATION,
      Specifications: { kind: 'list', min: 1, max: 5, member: SPECIFICATION },
      RuntimeConfig: RUNTIME_CONFIG,
      DeploymentConfig: DEPLOYMENT_CONFIG,
    },
  },
  UpdateInferenceComponentRuntimeConfig: {
    kind: 'structure',
    required: ['InferenceComponentName', 'DesiredRuntimeConfig'],
    members: { InferenceComponentName: MODEL_NAME, DesiredRuntimeConfig: RUNTIME_CONFIG },
  },
};
