import { join } from 'node:path';
import type { ContainerDefinition, ProductionVariant } from '../../aws/shapes/sagemaker.js';
import type { ContainerBackend } from '../backends/backend.js';
import { gpusOf } from '../backends/gpu.js';
import { asyncInferenceConfigOf, routingConfigOf, type EndpointFileConfig, type VariantConfig } from '../../endpoint-file/schema.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import type { LocalEndpointsHandle } from '../endpoint/start.js';
import { Fleet } from '../fleet/fleet.js';
import { instanceHealthy, instanceLauncher, type InstanceLogs } from '../fleet/instance-launcher.js';
import type { S3Objects } from '../s3/objects.js';
import type { FleetPolicy, LocalSageMakerCore } from './local-sagemaker.js';
import { Deployment, type VariantState } from './deployment.js';
import { ManagedEndpoint } from './managed-endpoint.js';
import type { AsyncFailureWrites } from './async-inference.js';
import type { ControlPlaneStore, EndpointConfigRecord, ModelRecord } from './store.js';

/** The model name an endpoint-file variant is listed under: `<endpoint>-<variant>`, cut to 63 characters. */
export function adoptedModelName(endpoint: string, variant: string): string {
  return `${endpoint}-${variant}`.slice(0, 63).replace(/-+$/, '');
}

/** How adopted endpoints start more instances: the backend the file's containers run on. */
export interface AdoptOptions {
  backend: ContainerBackend;
  /** Folder for the new instances' `/opt/ml` trees and logs (the local SageMaker's work folder). */
  workDir: string;
  /** `/ping` deadline of each new container. */
  startupTimeoutMs: number;
  progress?: (line: string) => void;
  /** Receives the fleets' lines about dead instances and their replacements. */
  log?: EndpointLog;
  /** How the fleets check and replace instances: the local SageMaker's {@link LocalSageMakerCore.fleetPolicy}. */
  policy?: FleetPolicy;
  /** S3 for asynchronous invocations once an endpoint is updated to an asynchronous config. */
  s3?: () => S3Objects;
  /** Where the failures of asynchronous requests that leave a queue without running are written: the local SageMaker's `EndpointLifecycle.failureWrites`, so that the file's endpoints share them with created ones. */
  failureWrites?: AsyncFailureWrites;
  /** Opens the log streams of a variant's new instance (the local CloudWatch Logs). */
  instanceLogs?: (endpointName: string, variantName: string) => InstanceLogs;
  /** Keep each stopped new instance's `/opt/ml` tree (`--keep`), as the local SageMaker's own instances keep theirs. @defaultValue false: removed once its containers have stopped */
  keepTrees?: boolean;
}

/**
 * Puts the endpoints an endpoint file started into the store, so `ListEndpoints`,
 * `DescribeEndpoint`, `DescribeEndpointConfig` and `DescribeModel` show them like created ones:
 * a model per variant (`<endpoint>-<variant>`), an endpoint config named after the endpoint, and
 * an InService endpoint whose first instance per variant is the containers already running. Each
 * variant then grows to its `instanceCount` (more instances start like the first, from the file's
 * settings), and can be scaled or updated to a created endpoint config like any other endpoint.
 * Resolves once every variant has its instances.
 */
export async function adoptEndpointFile(store: ControlPlaneStore<ManagedEndpoint>, config: EndpointFileConfig, handle: LocalEndpointsHandle, random: () => number, opts: AdoptOptions): Promise<void> {
  const now = new Date();
  const growing: Array<Promise<void>> = [];
  for (const file of config.endpoints) {
    const local = handle.endpoints.get(file.name);
    if (!local) continue;
    const states: VariantState[] = [];
    const variantSpec = (v: VariantConfig): ProductionVariant => {
      const modelName = adoptedModelName(file.name, v.name);
      const containers: ContainerDefinition[] = v.containers.map((c) => ({
        ContainerHostname: c.hostname,
        ...((c.image ?? config.image) === undefined ? {} : { Image: c.image ?? config.image }),
        ModelDataUrl: c.model,
        Environment: c.env,
        Mode: c.mode ?? 'SingleModel',
      }));
      const model: ModelRecord = { name: modelName, arn: store.arn('model', modelName), createdAt: now, containers, primary: containers.length === 1, ...(containers.length > 1 ? { inferenceExecutionMode: 'Serial' as const } : {}) };
      store.models.set(modelName, model);
      return { VariantName: v.name, ModelName: modelName, InitialInstanceCount: v.instanceCount, InitialVariantWeight: v.weight, ...(v.routing ? { RoutingConfig: routingConfigOf(v.routing) } : {}) };
    };
    const adopt = (v: VariantConfig, runtime: VariantState['runtime']): VariantState => {
      const running = v.containers.map((c) => handle.containers.find((r) => r.spec.id === `${file.name}/${v.name}/${c.hostname}`)!);
      const id = `${file.name}/${v.name}/i0`;
      const more = instanceLauncher(
        {
          backend: opts.backend,
          workDir: join(opts.workDir, 'instances'),
          logsDir: join(opts.workDir, 'logs'),
          startupTimeoutMs: opts.startupTimeoutMs,
          ...(opts.progress ? { progress: opts.progress } : {}),
          ...(opts.instanceLogs ? { instanceLogs: opts.instanceLogs(file.name, v.name) } : {}),
          ...(opts.log ? { warn: (msg: string, fields: Record<string, unknown>) => opts.log!('warn', msg, { endpoint: file.name, ...fields }) } : {}),
          ...(opts.keepTrees ? { keepTrees: true } : {}),
        },
        `${file.name}/${v.name}`,
        v.containers.map((c) => ({
          hostname: c.hostname,
          ...((c.image ?? config.image) === undefined ? {} : { image: (c.image ?? config.image)! }),
          env: c.env,
          modelSource: c.model,
          mode: c.mode ?? 'SingleModel',
          // As the file's first instance got them (startLocalEndpoints): the added ones and replacements too.
          ...gpusOf(v.instanceType),
        })),
      );
      const fleet = new Fleet(
        v.name,
        async (index, signal) => (index === 0 ? { id, containers: running, chain: runtime.containers } : more(index, signal)),
        {
          ...(opts.policy?.replacementBackoff ? { backoff: opts.policy.replacementBackoff } : {}),
          ...(opts.policy?.healthCheckMs ? { health: { probe: instanceHealthy, intervalMs: opts.policy.healthCheckMs } } : {}),
          ...(opts.log ? { log: (level, msg, fields) => opts.log!(level, msg, { endpoint: file.name, ...fields }) } : {}),
          ...(opts.policy?.maxInvocationsPerInstance === undefined || file.asyncInference ? {} : { maxInFlightPerInstance: opts.policy.maxInvocationsPerInstance }),
        },
      );
      runtime.instances = fleet;
      growing.push(fleet.scaleTo(v.instanceCount));
      const images = v.containers.map((c) => c.image ?? config.image).filter((i): i is string => i !== undefined);
      return { spec: variantSpec(v), fleet, runtime, desiredWeight: runtime.weight, desiredInstanceCount: v.instanceCount, images: images.map((i) => ({ SpecifiedImage: i, ResolvedImage: i, ResolutionTime: now.getTime() / 1000 })) };
    };
    for (const [i, v] of file.variants.entries()) states.push(adopt(v, local.variants[i]!));
    const shadow = file.shadow && local.shadow ? adopt(file.shadow, local.shadow) : undefined;
    const record: EndpointConfigRecord = {
      name: file.name,
      arn: store.arn('endpoint-config', file.name),
      createdAt: now,
      productionVariants: states.map((s) => s.spec),
      ...(shadow ? { shadowProductionVariants: [shadow.spec] } : {}),
      ...(file.dataCapture
        ? {
            dataCaptureConfig: {
              EnableCapture: true,
              InitialSamplingPercentage: file.dataCapture.samplingPercentage,
              DestinationS3Uri: file.dataCapture.destination,
              CaptureOptions: [...(file.dataCapture.captureInput ? [{ CaptureMode: 'Input' as const }] : []), ...(file.dataCapture.captureOutput ? [{ CaptureMode: 'Output' as const }] : [])],
              ...(file.dataCapture.csvContentTypes.length > 0 || file.dataCapture.jsonContentTypes.length > 0
                ? {
                    CaptureContentTypeHeader: {
                      ...(file.dataCapture.csvContentTypes.length > 0 ? { CsvContentTypes: [...file.dataCapture.csvContentTypes] } : {}),
                      ...(file.dataCapture.jsonContentTypes.length > 0 ? { JsonContentTypes: [...file.dataCapture.jsonContentTypes] } : {}),
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(file.asyncInference ? { asyncInferenceConfig: asyncInferenceConfigOf(file.asyncInference) } : {}),
    };
    store.endpointConfigs.set(file.name, record);
    const endpoint = new ManagedEndpoint(file.name, store.arn('endpoint', file.name), file.name, now, random, opts.s3 ? { s3: opts.s3, ...(opts.failureWrites ? { failureWrites: opts.failureWrites } : {}), ...(opts.log ? { log: opts.log } : {}) } : undefined);
    endpoint.serving = new Deployment(file.name, record, states, shadow, local);
    endpoint.status = 'InService';
    endpoint.markServing();
    store.endpoints.set(file.name, endpoint);
  }
  await Promise.all(growing);
}
