import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, DescribeEndpointCommand, SageMakerClient, type ProductionVariant } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { ContainerBackend } from '../../src/local/backends/backend.js';
import { startLocalSageMaker, type LocalSageMakerHandle } from '../../src/local/control-plane/local-sagemaker.js';
import { localClientConfig } from './local-sdk-clients.js';
import { startInTempDir } from './temp-dir.js';
import { until, type UntilOptions } from './until.js';

/** The execution role of the endpoint configs these tests create. */
export const COMPONENT_ROLE = 'arn:aws:iam::123456789012:role/smkit-local';

/**
 * Creates an endpoint for inference components through `sm`: endpoint config `configName` (default
 * `name`, role `role`, default {@link COMPONENT_ROLE}) with one variant AllTraffic of one
 * ml.g5.2xlarge instance (8 vCPUs, 32 GiB, 1 GPU) naming no model, `variant` overriding; then waits
 * until the endpoint is InService.
 */
export async function createComponentEndpoint(sm: SageMakerClient, name: string, poll: UntilOptions, options: { variant?: Partial<ProductionVariant>; configName?: string; role?: string } = {}): Promise<void> {
  const configName = options.configName ?? name;
  await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: configName, ExecutionRoleArn: options.role ?? COMPONENT_ROLE, ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1, ...options.variant }] }));
  await sm.send(new CreateEndpointCommand({ EndpointName: name, EndpointConfigName: configName }));
  await until(`endpoint ${name} InService`, async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus === 'InService', poll);
}

/** A local SageMaker for inference components, a model folder for them, and SDK clients for it. */
export interface ComponentHost {
  /** A temporary folder holding `weights.bin`, for ModelDataUrl or ArtifactUrl. */
  dir: string;
  local: LocalSageMakerHandle;
  sm: SageMakerClient;
  /** SageMaker Runtime client that does not retry (maxAttempts 1). */
  runtime: SageMakerRuntimeClient;
  /** What the local SageMaker logged at level warn, in order. */
  warnings: Array<{ msg: string; fields: Record<string, unknown> }>;
  /**
   * Creates an endpoint for inference components (one variant AllTraffic of ml.g5.2xlarge, 8 vCPUs,
   * 32 GiB, 1 GPU, 1 instance, naming no model; `variant` overrides) and waits until it is InService.
   */
  hostEndpoint(name: string, variant?: Partial<ProductionVariant>, configName?: string): Promise<void>;
  /** Ends the clients and the local SageMaker and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts a local SageMaker (eu-west-1, account 123456789012, Auto Scaling and alarms off) on
 * `backend` with room for `maxInstances` instances; `tmpPrefix` names the model folder (removed
 * again when the start fails).
 */
export async function startComponentHost(options: { backend: ContainerBackend; maxInstances: number; tmpPrefix: string; poll: UntilOptions }): Promise<ComponentHost> {
  const warnings: ComponentHost['warnings'] = [];
  const { dir, started: local } = await startInTempDir(options.tmpPrefix, async (dir) => {
    await writeFile(join(dir, 'weights.bin'), 'w');
    return startLocalSageMaker({
      port: 0,
      backendImpl: options.backend,
      startupTimeoutMs: 5_000,
      alarmsAndScaling: false,
      settings: { region: 'eu-west-1', accountId: '123456789012', maxInstances: options.maxInstances },
      log: (level, msg, fields) => {
        if (level === 'warn') warnings.push({ msg, fields });
      },
    });
  });
  const sm = new SageMakerClient(localClientConfig(local.url, { region: 'eu-west-1' }));
  const runtime = new SageMakerRuntimeClient({ ...localClientConfig(local.url, { region: 'eu-west-1' }), maxAttempts: 1 });
  return {
    dir,
    local,
    sm,
    runtime,
    warnings,
    hostEndpoint: (name, variant = {}, configName = name) => createComponentEndpoint(sm, name, options.poll, { variant, configName }),
    async stop() {
      sm.destroy();
      runtime.destroy();
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
